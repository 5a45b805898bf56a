package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/sqlite"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

// The key lifecycle of issue 3 driven through the real binary: "jwtauth keys
// rotate|revoke" and "jwtauth token verify" run as processes of their own
// against a running "jwtauth serve" (or, for concurrent rotations, against
// its SQLite file alone).

// pickUp bounds how long a running server may take to notice a key-set
// change made by another process: serve polls the store every keyPoll (2 s).
const pickUp = 15 * time.Second

const lifecycleUser, lifecyclePass = "alice", "correct horse battery staple"

// runBin runs the binary with args to completion, at most a minute, and
// returns its stdout, stderr and exit status.
func runBin(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = cleanEnv()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("jwtauth %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// waitFor polls cond every 50 ms until it holds, failing the test with what
// when it still does not after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// outputFields parses "name: value" lines, as "keys rotate" prints them.
func outputFields(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// registerUser registers lifecycleUser on the server at base.
func registerUser(t *testing.T, base string) {
	t.Helper()
	resp, body := call(t, http.MethodPost, base+"/register", map[string]string{"username": lifecycleUser, "password": lifecyclePass}, nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
}

// loginToken logs lifecycleUser in and returns the access token.
func loginToken(t *testing.T, base string) string {
	t.Helper()
	resp, body := call(t, http.MethodPost, base+"/login", map[string]string{"username": lifecycleUser, "password": lifecyclePass}, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	tok, _ := body["access_token"].(string)
	require.NotEmpty(t, tok)
	return tok
}

// tryLogin is loginToken for goroutines other than the test's: it reports
// instead of failing.
func tryLogin(client *http.Client, base string) (token string, err error) {
	b, _ := json.Marshal(map[string]string{"username": lifecycleUser, "password": lifecyclePass})
	resp, err := client.Post(base+"/login", "application/json", bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("login: %d %s", resp.StatusCode, raw)
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(raw, &body); err != nil || body.AccessToken == "" {
		return "", fmt.Errorf("login: 200 without an access token: %s", raw)
	}
	return body.AccessToken, nil
}

// protected presents token at /protected and returns the status and the
// body's error code.
func protected(t *testing.T, base, token string) (int, string) {
	t.Helper()
	resp, body := call(t, http.MethodGet, base+"/protected", nil, map[string]string{"Authorization": "Bearer " + token})
	code, _ := body["error"].(string)
	if resp.StatusCode == http.StatusUnauthorized {
		assert.Contains(t, resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`)
	}
	return resp.StatusCode, code
}

// otherKID returns the one kid of kids that is not kid.
func otherKID(t *testing.T, kids []string, kid string) string {
	t.Helper()
	require.Len(t, kids, 2, "the active and the next key are published")
	require.Contains(t, kids, kid)
	if kids[0] == kid {
		return kids[1]
	}
	return kids[0]
}

// TestLifecycleRotateRevokeLive runs "keys rotate --now" and "keys revoke
// KID" as separate processes on the SQLite file of a running server: the
// server publishes each change within seconds, a token of the revoked key is
// refused, and logins running throughout the revocation never fail.
func TestLifecycleRotateRevokeLive(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	store := "sqlite:" + filepath.Join(t.TempDir(), "jwtauth.db")
	srv := startServer(t, bin, freeAddr(t), "--store", store)
	base := srv.base
	registerUser(t, base)

	tok0 := loginToken(t, base)
	k0 := headerKID(t, tok0)
	n0 := otherKID(t, jwksKIDs(t, base), k0)

	// Forced rotation by another process: n0 signs, k0 is retired but stays
	// published, a new next key n1 appears.
	out, errOut, code := runBin(t, bin, "keys", "rotate", "--now", "--store", store)
	require.Equal(t, 0, code, "keys rotate --now: %s%s", out, errOut)
	rot := outputFields(out)
	assert.Equal(t, n0, rot["active"], out)
	assert.Equal(t, k0, rot["retired"], out)
	n1 := rot["next"]
	require.NotEmpty(t, n1, out)
	assert.Contains(t, errOut, "forced rotation")
	waitFor(t, pickUp, "the server's JWKS lists the new next key "+n1, func() bool {
		return slices.Contains(jwksKIDs(t, base), n1)
	})
	assert.ElementsMatch(t, []string{k0, n0, n1}, jwksKIDs(t, base), "the retired key stays published")
	tok1 := loginToken(t, base)
	assert.Equal(t, n0, headerKID(t, tok1), "the promoted key signs")
	status, _ := protected(t, base, tok0)
	assert.Equal(t, http.StatusOK, status, "a token of the retired key still verifies")

	// Logins run back to back while another process revokes the active key.
	var (
		mu       sync.Mutex
		ok       int
		failures []error
		byKID    = map[string]int{}
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		client := &http.Client{Timeout: 30 * time.Second}
		for {
			select {
			case <-stop:
				return
			default:
			}
			tok, err := tryLogin(client, base)
			mu.Lock()
			if err != nil {
				failures = append(failures, err)
			} else {
				ok++
				if kid, err := parseKID(tok); err == nil {
					byKID[kid]++
				} else {
					failures = append(failures, err)
				}
			}
			mu.Unlock()
		}
	})
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	logins := func(kid string) int {
		mu.Lock()
		defer mu.Unlock()
		return byKID[kid]
	}
	waitFor(t, pickUp, "logins are running", func() bool { return logins(n0) > 0 })

	out, errOut, code = runBin(t, bin, "keys", "revoke", "--store", store, "--", n0)
	require.Equal(t, 0, code, "keys revoke: %s%s", out, errOut)
	rev := outputFields(out)
	assert.Equal(t, n0, rev["revoked"], out)
	fresh, note, _ := strings.Cut(rev["active"], " ")
	assert.NotContains(t, []string{k0, n0, n1}, fresh, "a key no verifier has cached takes over")
	assert.True(t, strings.HasPrefix(note, "(fresh:"), out)
	assert.Equal(t, n1, rev["next"], out, "the pre-published next key stays next")
	waitFor(t, pickUp, "the server's JWKS drops the revoked key "+n0, func() bool {
		return !slices.Contains(jwksKIDs(t, base), n0)
	})
	assert.ElementsMatch(t, []string{k0, fresh, n1}, jwksKIDs(t, base))
	// The same reload rebuilt the verifier: the revoked key's token is
	// refused at once, the retired key's is not.
	status, errCode := protected(t, base, tok1)
	assert.Equal(t, http.StatusUnauthorized, status, "a token of the revoked key")
	assert.Equal(t, "invalid_token", errCode)
	status, _ = protected(t, base, tok0)
	assert.Equal(t, http.StatusOK, status, "a token of the retired key")

	waitFor(t, pickUp, "logins sign with "+fresh, func() bool { return logins(fresh) >= 3 })
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d logins during the revocation: %v", ok, byKID)
	assert.Empty(t, failures, "no login may fail while the active key is revoked")
	assert.Subset(t, []string{n0, fresh}, keysOf(byKID), "only the revoked key before and its successor after signed")

	tok2 := loginToken(t, base)
	assert.Equal(t, fresh, headerKID(t, tok2))
	status, _ = protected(t, base, tok2)
	assert.Equal(t, http.StatusOK, status)
	require.Equal(t, 0, srv.stop(t), srv.stderr.String())
}

// parseKID is headerKID for goroutines other than the test's.
func parseKID(token string) (string, error) {
	h64, _, ok := strings.Cut(token, ".")
	if !ok {
		return "", fmt.Errorf("not a compact JWS: %q", token)
	}
	var h struct {
		KID string `json:"kid"`
	}
	raw, err := base64.RawURLEncoding.DecodeString(h64)
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(raw, &h); err != nil || h.KID == "" {
		return "", fmt.Errorf("header without kid: %s", raw)
	}
	return h.KID, nil
}

func keysOf(m map[string]int) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// TestLifecycleConcurrentRotate starts two "keys rotate" processes (without
// --now) at the same moment on one SQLite file whose next key has been
// published for longer than --prepublish: exactly one promotes it; the
// other then finds the fresh next key, published a moment ago, not
// pre-published long enough and exits 1 saying so. The key set ends with one
// active, one retired and one next key.
func TestLifecycleConcurrentRotate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	db := filepath.Join(t.TempDir(), "jwtauth.db")
	store := "sqlite:" + db

	// The key set was created two hours ago, so its next key has been
	// public for twice the default --prepublish of 1h.
	ctx := t.Context()
	st, err := sqlite.Open(ctx, db)
	require.NoError(t, err)
	created := time.Now().Add(-2 * time.Hour)
	mgr, err := keys.Open(ctx, keys.Config{
		Store: st, Generate: keystest.Generator(t), Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return created },
	})
	require.NoError(t, err)
	set := mgr.Current()
	a0, n0 := set.Active().KID, set.Next().KID
	require.NoError(t, st.Close())

	type result struct {
		stdout, stderr string
		code           int
	}
	results := make([]result, 2)
	cmds := make([]*exec.Cmd, 2)
	outs := make([]*bytes.Buffer, 2)
	errOuts := make([]*bytes.Buffer, 2)
	for i := range cmds {
		cmds[i] = exec.Command(bin, "keys", "rotate", "--store", store)
		cmds[i].Env = cleanEnv()
		outs[i], errOuts[i] = &bytes.Buffer{}, &bytes.Buffer{}
		cmds[i].Stdout, cmds[i].Stderr = outs[i], errOuts[i]
	}
	for _, c := range cmds { // back to back: both open the store at once
		require.NoError(t, c.Start())
	}
	for i, c := range cmds {
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		select {
		case err := <-done:
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatalf("keys rotate %d: %v", i, err)
			}
		case <-time.After(time.Minute):
			_ = c.Process.Kill()
			t.Fatalf("keys rotate %d did not finish within a minute", i)
		}
		results[i] = result{outs[i].String(), errOuts[i].String(), c.ProcessState.ExitCode()}
	}

	// Both succeed: one rotates, the other finds the new next key just
	// published and records a promotion request for when it may sign.
	require.Equal(t, []int{0, 0}, []int{results[0].code, results[1].code}, "%+v", results)
	won, lost := results[0], results[1]
	if !strings.HasPrefix(won.stdout, "active: ") {
		won, lost = lost, won
	}
	require.True(t, strings.HasPrefix(won.stdout, "active: "), "exactly one rotation: %+v", results)
	rot := outputFields(won.stdout)
	assert.Equal(t, n0, rot["active"], won.stdout)
	assert.Equal(t, a0, rot["retired"], won.stdout)
	n1 := rot["next"]
	require.NotEmpty(t, n1, won.stdout)
	assert.NotContains(t, won.stderr, "forced rotation")
	assert.True(t, strings.HasPrefix(lost.stdout, "next: "+n1+"\npromotion scheduled: "), lost.stdout)
	assert.Contains(t, lost.stdout, "--now promotes it at once")

	out, errOut, code := runBin(t, bin, "keys", "list", "--store", store)
	require.Equal(t, 0, code, errOut)
	states := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Fields(line)
		require.GreaterOrEqual(t, len(f), 2, line)
		states[f[0]] = f[1]
	}
	assert.Equal(t, map[string]string{n0: "active", a0: "retired", n1: "next"}, states, out)
}

// TestLifecycleTokenVerifyProcess verifies tokens of a running server with
// "jwtauth token verify --issuer", a fresh process (so a fresh JWKS fetch)
// each time: before a rotation, after it, and after the revocation of the
// formerly active key, whose token is then rejected naming the key.
func TestLifecycleTokenVerifyProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	store := "sqlite:" + filepath.Join(t.TempDir(), "jwtauth.db")
	srv := startServer(t, bin, freeAddr(t), "--store", store)
	base := srv.base
	registerUser(t, base)

	verify := func(token string) (claims map[string]any, stderr string, code int) {
		t.Helper()
		out, errOut, code := runBin(t, bin, "token", "verify", "--issuer", base, "--audience", base, token)
		if code != 0 {
			return nil, errOut, code
		}
		var doc struct {
			Header map[string]any `json:"header"`
			Claims map[string]any `json:"claims"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &doc), out)
		assert.Equal(t, headerKID(t, token), doc.Header["kid"])
		return doc.Claims, errOut, code
	}

	tok0 := loginToken(t, base)
	k0 := headerKID(t, tok0)
	claims, errOut, code := verify(tok0)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, lifecycleUser, claims["sub"])
	assert.Equal(t, base, claims["iss"])
	assert.Equal(t, base, claims["aud"])

	out, errOut, code := runBin(t, bin, "keys", "rotate", "--now", "--store", store)
	require.Equal(t, 0, code, "keys rotate --now: %s%s", out, errOut)
	n0 := outputFields(out)["active"]
	var tok1 string
	waitFor(t, pickUp, "the server signs with the promoted key "+n0, func() bool {
		tok1 = loginToken(t, base)
		return headerKID(t, tok1) == n0
	})
	claims, errOut, code = verify(tok1)
	require.Equal(t, 0, code, "a token of the promoted key: %s", errOut)
	assert.Equal(t, lifecycleUser, claims["sub"])
	_, errOut, code = verify(tok0)
	assert.Equal(t, 0, code, "a token of the retired key still verifies: %s", errOut)

	out, errOut, code = runBin(t, bin, "keys", "revoke", "--store", store, "--", k0)
	require.Equal(t, 0, code, "keys revoke: %s%s", out, errOut)
	waitFor(t, pickUp, "the server's JWKS drops the revoked key "+k0, func() bool {
		return !slices.Contains(jwksKIDs(t, base), k0)
	})
	_, errOut, code = verify(tok0)
	assert.Equal(t, 1, code, "a token of the revoked key")
	assert.Contains(t, errOut, "INVALID")
	assert.Contains(t, errOut, k0, "the reason names the key")
	_, errOut, code = verify(tok1)
	assert.Equal(t, 0, code, "the active key's token is unaffected: %s", errOut)
	require.Equal(t, 0, srv.stop(t), srv.stderr.String())
}
