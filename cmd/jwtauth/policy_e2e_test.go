package main

import (
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Issue 22.3: the rotation policy (rotation period, pre-publication lead,
// retention) is stored with the key set. A second server started with
// other settings no longer replaces it silently, and the keys verbs follow
// it, retention included.

// serveRefused runs bin serve with args on a free address and returns its
// stderr and exit status once it exits. A server that comes up healthy
// instead, so went on with a policy of its own, fails the test at once.
func serveRefused(t *testing.T, bin string, env []string, args ...string) (stderr string, code int) {
	t.Helper()
	addr := freeAddr(t)
	errOut := &syncBuffer{}
	cmd := exec.Command(bin, append([]string{"serve", "--addr", addr}, args...)...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stdout, cmd.Stderr = errOut, errOut
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case <-done:
			return errOut.String(), cmd.ProcessState.ExitCode()
		case <-time.After(50 * time.Millisecond):
		}
		if resp, err := client.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("serve %s started on the store instead of refusing:\n%s", strings.Join(args, " "), errOut.String())
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("serve %s neither refused nor started within a minute:\n%s", strings.Join(args, " "), errOut.String())
		}
	}
}

// keyRows returns the rows of "keys list" by state: each row's fields.
func keyRows(t *testing.T, bin, store string) map[string][][]string {
	t.Helper()
	out, errOut, code := runBin(t, bin, "keys", "list", "--store", store)
	require.Equal(t, 0, code, errOut)
	rows := map[string][][]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Fields(line)
		require.Len(t, f, 9, line)
		rows[f[1]] = append(rows[f[1]], f)
	}
	return rows
}

// rfc3339 parses a "keys list" time column.
func rfc3339(t *testing.T, v string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339, strings.TrimPrefix(v, "due "))
	require.NoError(t, err, v)
	return ts
}

// TestSecondServerKeepsTheStoredPolicy is the two-process trial: a
// server runs with --prepublish 5s; a second `serve` on its store started
// with other settings refuses (exit 2, naming both values) instead of
// replacing the policy; one started without rotation settings adopts the
// stored one; `keys rotate` then schedules the promotion 5 s after the next
// key's publication and the JWKS moves on; --replace-policy replaces it.
func TestSecondServerKeepsTheStoredPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	store := "sqlite:" + filepath.Join(t.TempDir(), "jwtauth.db")
	// Retention: 15m access TTL + 30s leeway + 1s max-age = 15m31s.
	first := startServer(t, bin, freeAddr(t), "--store", store, "--prepublish", "5s", "--jwks-max-age", "1s")

	// All defaults: --prepublish 1h would have replaced the 5s before; now
	// the server adopts the stored policy and fits its defaulted settings to
	// it: JWKS max-age 5s (the stored lead), access TTL 14m56s (what the
	// stored 15m31s of retention covers).
	debug := startServer(t, bin, freeAddr(t), "--store", store)
	assert.Contains(t, debug.stderr.String(), `msg="adopted the key set's stored rotation policy" rotate_every=24h0m0s prepublish=5s retain=15m31s access_ttl=14m56s jwks_max_age=5s`)
	assert.Equal(t, 0, debug.stop(t), "a graceful stop")

	// Explicit settings that differ: refused, naming both values.
	errOut, code := serveRefused(t, bin, nil, "--store", store, "--prepublish", "1h", "--jwks-max-age", "1s")
	assert.Equal(t, 2, code, errOut)
	assert.Contains(t, errOut, "serve: --prepublish 1h0m0s differs from the key set's stored policy (5s); pass --replace-policy to replace it")
	errOut, code = serveRefused(t, bin, []string{"JWTAUTH_ROTATE_EVERY=1h"}, "--store", store, "--jwks-max-age", "1s")
	assert.Equal(t, 2, code, errOut)
	assert.Contains(t, errOut, "serve: JWTAUTH_ROTATE_EVERY 1h0m0s differs from the key set's stored policy (24h0m0s); pass --replace-policy to replace it")
	// The scale trial's settings: another retention.
	errOut, code = serveRefused(t, bin, nil, "--store", store, "--access-ttl", "1m", "--jwks-max-age", "1s", "--prepublish", "5s")
	assert.Equal(t, 2, code, errOut)
	assert.Contains(t, errOut, "serve: retention of 1m31s (--access-ttl 1m0s + 30s leeway + --jwks-max-age 1s) differs from the key set's stored policy (15m31s); pass --replace-policy to replace it")

	// Without rotation settings (the max-age is the first server's): the
	// stored policy is adopted and said so.
	second := startServer(t, bin, freeAddr(t), "--store", store, "--jwks-max-age", "1s")
	assert.Contains(t, second.stderr.String(), `msg="adopted the key set's stored rotation policy" rotate_every=24h0m0s prepublish=5s retain=15m31s`)
	assert.Contains(t, second.stderr.String(), "--prepublish 5s is shorter than --jwks-max-age 1s plus 1m0s", "warned of with the adopted lead")

	// keys rotate follows the stored 5s, not its own default of 1h.
	rows := keyRows(t, bin, store)
	require.Len(t, rows["next"], 1)
	next := rows["next"][0]
	out, errOut, code := runBin(t, bin, "keys", "rotate", "--store", store)
	require.Equal(t, 0, code, errOut)
	f := outputFields(out)
	require.Equal(t, next[0], f["next"], out)
	due, _, _ := strings.Cut(f["promotion scheduled"], " ")
	assert.Equal(t, rfc3339(t, next[4]).Add(5*time.Second), rfc3339(t, due), "promotion 5s after the next key's publication: %s", out)
	assert.Contains(t, out, "the servers' --prepublish 5s")
	// Both servers then sign with it (the JWKS moved on).
	registerUser(t, first.base)
	for _, srv := range []*server{first, second} {
		waitFor(t, pickUp, "the next key signs on "+srv.base, func() bool {
			tok, err := tryLogin(&http.Client{Timeout: 5 * time.Second}, srv.base)
			return err == nil && headerKIDOf(tok) == next[0]
		})
	}
	assert.Equal(t, 0, second.stop(t))

	// --replace-policy replaces it, and says so.
	third := startServer(t, bin, freeAddr(t), "--store", store, "--prepublish", "1h", "--jwks-max-age", "1s", "--replace-policy")
	assert.Contains(t, third.stderr.String(), `msg="replaced the key set's stored rotation policy" rotate_every=24h0m0s prepublish=1h0m0s retain=15m31s stored_rotate_every=24h0m0s stored_prepublish=5s stored_retain=15m31s`)
	rows = keyRows(t, bin, store)
	require.Len(t, rows["next"], 1)
	next = rows["next"][0]
	out, errOut, code = runBin(t, bin, "keys", "rotate", "--store", store)
	require.Equal(t, 0, code, errOut)
	due, _, _ = strings.Cut(outputFields(out)["promotion scheduled"], " ")
	assert.Equal(t, rfc3339(t, next[4]).Add(time.Hour), rfc3339(t, due), out)
	assert.Equal(t, 0, third.stop(t))
	assert.Equal(t, 0, first.stop(t))
}

// TestKeysRotateRetainsByTheStoredPolicy is the scale trial: a server runs
// with --access-ttl 1m --jwks-max-age 1m --prepublish 2m (retention 2m30s);
// a key `keys rotate --now` retires, run with the CLI's defaults, is to
// leave the JWKS 2m30s after it retired, not 20m30s.
func TestKeysRotateRetainsByTheStoredPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	store := "sqlite:" + filepath.Join(t.TempDir(), "jwtauth.db")
	srv := startServer(t, bin, freeAddr(t), "--store", store, "--access-ttl", "1m", "--jwks-max-age", "1m", "--prepublish", "2m")
	for range 3 {
		_, errOut, code := runBin(t, bin, "keys", "rotate", "--now", "--store", store)
		require.Equal(t, 0, code, errOut)
	}
	rows := keyRows(t, bin, store)
	require.Len(t, rows["retired"], 3)
	for _, r := range rows["retired"] {
		assert.Equal(t, 2*time.Minute+30*time.Second, rfc3339(t, r[7]).Sub(rfc3339(t, r[6])), "REMOVE-AT − RETIRED of %s", r[0])
	}
	assert.Equal(t, 0, srv.stop(t))
}
