package jwtauthtest_test

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/remote"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/jwtauthtest"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// remoteVerifier returns the verifier another service would build from the
// server's issuer URL: discovery, then the JWKS, with the server's clock.
func remoteVerifier(t *testing.T, srv *jwtauthtest.Server) (*token.Verifier, *remote.KeySet) {
	t.Helper()
	v, ks, err := remote.NewVerifier(context.Background(),
		remote.Config{Issuer: srv.URL, Logger: slog.New(slog.DiscardHandler)},
		token.VerifierConfig{Audience: []string{srv.URL}, Now: srv.Now})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ks.Close() })
	return v, ks
}

// header decodes the JWS header of raw.
func header(t *testing.T, raw string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	require.NoError(t, err)
	var h map[string]any
	require.NoError(t, json.Unmarshal(b, &h))
	return h
}

// Every Mint variant, verified by the real verifiers, local and remote,
// with the sentinel error the variant is for.
func TestMintVariantsVerify(t *testing.T) {
	srv := jwtauthtest.NewServer(t)
	srv.SetNow(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	now := srv.Now()
	rv, _ := remoteVerifier(t, srv)
	verifiers := map[string]*token.Verifier{"local": srv.Verifier(), "remote": rv}

	tests := []struct {
		name  string
		tok   jwtauthtest.Token
		err   error
		check func(t *testing.T, c *token.Claims)
	}{
		{name: "zero token", check: func(t *testing.T, c *token.Claims) {
			assert.Equal(t, "user", c.Subject)
			assert.Equal(t, srv.URL, c.Issuer)
			assert.Equal(t, []string{srv.URL}, c.Audience)
			assert.Equal(t, now.Unix(), c.IssuedAt.Unix())
			assert.Equal(t, now.Unix(), c.NotBefore.Unix())
			assert.Equal(t, now.Add(token.DefaultAccessTTL).Unix(), c.ExpiresAt.Unix())
			assert.Len(t, c.ID, 22)
			assert.Nil(t, c.Roles())
		}},
		{name: "DPoP-bound", tok: jwtauthtest.Token{JKT: "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"}, check: func(t *testing.T, c *token.Claims) {
			assert.Equal(t, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", c.JKT())
			assert.True(t, c.Bound())
		}},
		{name: "malformed cnf", tok: jwtauthtest.Token{JKT: "not-a-thumbprint"}, err: token.ErrTokenMalformed},
		{name: "roles groups scopes and private claims", tok: jwtauthtest.Token{
			Subject: "alice", Roles: []string{"admin", "ops"}, Groups: []string{"eng"}, Scopes: []string{"orders:read", "orders:write"},
			Claims: map[string]any{"tenant": map[string]int{"id": 7}, "entitlements": []string{"beta"}},
		}, check: func(t *testing.T, c *token.Claims) {
			assert.Equal(t, "alice", c.Subject)
			assert.Equal(t, []string{"admin", "ops"}, c.Roles())
			assert.Equal(t, []string{"eng"}, c.Groups())
			assert.Equal(t, []string{"orders:read", "orders:write"}, c.Scopes())
			assert.Equal(t, []string{"beta"}, c.Entitlements())
			var tenant struct{ ID int }
			require.NoError(t, c.Decode("tenant", &tenant))
			assert.Equal(t, 7, tenant.ID)
		}},
		{name: "empty roles", tok: jwtauthtest.Token{Roles: []string{}}, check: func(t *testing.T, c *token.Claims) {
			assert.Equal(t, []string{}, c.Roles())
		}},
		{name: "ill-typed roles grant nothing", tok: jwtauthtest.Token{Claims: map[string]any{"roles": "admin"}},
			check: func(t *testing.T, c *token.Claims) { assert.Nil(t, c.Roles()) }},
		{name: "Claims wins over Roles", tok: jwtauthtest.Token{Roles: []string{"a"}, Claims: map[string]any{"roles": []string{"b"}}},
			check: func(t *testing.T, c *token.Claims) { assert.Equal(t, []string{"b"}, c.Roles()) }},
		{name: "no sub", tok: jwtauthtest.Token{Claims: map[string]any{"sub": nil}},
			check: func(t *testing.T, c *token.Claims) { assert.Empty(t, c.Subject) }},
		{name: "several audiences, ours among them", tok: jwtauthtest.Token{Audience: []string{"https://other.example", srv.URL}},
			check: func(t *testing.T, c *token.Claims) {
				assert.Equal(t, []string{"https://other.example", srv.URL}, c.Audience)
			}},
		{name: "expired within the leeway", tok: jwtauthtest.Token{ExpiresAt: now.Add(-20 * time.Second)},
			check: func(t *testing.T, c *token.Claims) {
				assert.Equal(t, now.Add(-20*time.Second).Unix(), c.ExpiresAt.Unix())
			}},
		{name: "expired", tok: jwtauthtest.Token{ExpiresAt: now.Add(-time.Minute)}, err: token.ErrTokenExpired},
		{name: "not yet valid", tok: jwtauthtest.Token{NotBefore: now.Add(time.Minute)}, err: token.ErrTokenNotYetValid},
		{name: "issued in the future", tok: jwtauthtest.Token{IssuedAt: now.Add(time.Hour)}, err: token.ErrTokenNotYetValid},
		{name: "wrong audience", tok: jwtauthtest.Token{Audience: []string{"https://other.example"}}, err: token.ErrInvalidAudience},
		{name: "wrong issuer", tok: jwtauthtest.Token{Issuer: "https://evil.example"}, err: token.ErrInvalidIssuer},
		{name: "unpublished key", tok: jwtauthtest.Token{Unpublished: true}, err: token.ErrUnknownKey},
		{name: "unpublished key under the active kid", tok: jwtauthtest.Token{Unpublished: true, KID: srv.KID()}, err: token.ErrInvalidSignature},
		{name: "unknown kid", tok: jwtauthtest.Token{KID: "no-such-key"}, err: token.ErrUnknownKey},
		{name: "no exp", tok: jwtauthtest.Token{Claims: map[string]any{"exp": nil}}, err: token.ErrMissingClaim},
		{name: "ill-typed exp", tok: jwtauthtest.Token{Claims: map[string]any{"exp": "soon"}}, err: token.ErrTokenMalformed},
		{name: "too large", tok: jwtauthtest.Token{Claims: map[string]any{"pad": strings.Repeat("a", token.MaxTokenSize)}}, err: token.ErrTokenTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := srv.Mint(tt.tok)
			for name, v := range verifiers {
				c, err := v.Verify(context.Background(), raw)
				if tt.err != nil {
					assert.ErrorIs(t, err, tt.err, name)
					assert.Nil(t, c, name)
					continue
				}
				require.NoError(t, err, name)
				tt.check(t, c)
			}
		})
	}
}

// The header and the claims' order and encoding are token.Issuer's,
// byte for byte: the kit cannot drift from the tokens `jwtauth serve` issues.
func TestMintMatchesIssuer(t *testing.T) {
	srv := jwtauthtest.NewServer(t)
	for _, aud := range [][]string{{srv.URL}, {srv.URL, "https://api.example"}} {
		iss, err := token.NewIssuer(token.IssuerConfig{Keys: activeKey{srv, keystest.Keys(t)}, Issuer: srv.URL, Audience: aud, Now: srv.Now})
		require.NoError(t, err)
		want, err := iss.IssueWith(context.Background(), "alice", map[string]any{"roles": []string{"admin"}, "scope": "a b", "tenant": 7})
		require.NoError(t, err)
		got := srv.Mint(jwtauthtest.Token{Subject: "alice", Audience: aud, Roles: []string{"admin"}, Scopes: []string{"a", "b"},
			Claims: map[string]any{"tenant": 7, "jti": want.Claims.ID}})
		assert.Equal(t, want.Raw, got)
	}
}

// activeKey is a token.SigningKeySource for the server's active key:
// the one of the fixed keys (the embedded ones are among them) whose kid
// is the server's KID.
type activeKey struct {
	srv   *jwtauthtest.Server
	fixed []*rsa.PrivateKey
}

func (a activeKey) SigningKey() (*keys.Key, error) {
	kid := a.srv.KID()
	for _, priv := range a.fixed {
		if k, err := keys.NewKey(priv, keys.StateActive, time.Time{}); err == nil && k.KID == kid {
			return k, nil
		}
	}
	return nil, keys.ErrNoActiveKey
}

func TestJWKSAndDiscovery(t *testing.T) {
	srv := jwtauthtest.NewServer(t)
	get := func(path string, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		if len(hdr) == 2 {
			req.Header.Set(hdr[0], hdr[1])
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res, b
	}

	res, body := get("/.well-known/openid-configuration")
	require.Equal(t, http.StatusOK, res.StatusCode)
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
		Algs    []string
	}
	require.NoError(t, json.Unmarshal(body, &disc))
	assert.Equal(t, srv.URL, disc.Issuer)
	assert.Equal(t, srv.URL+"/.well-known/jwks.json", disc.JWKSURI)

	res, body = get("/.well-known/jwks.json")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "public, max-age=300", res.Header.Get("Cache-Control"))
	var set struct {
		Keys []struct{ Kid, Kty, Alg, Use, D string }
	}
	require.NoError(t, json.Unmarshal(body, &set))
	require.Len(t, set.Keys, 2, "the active and the next key")
	kids := []string{set.Keys[0].Kid, set.Keys[1].Kid}
	assert.Contains(t, kids, srv.KID())
	assert.NotContains(t, kids, srv.OutsiderKID())
	for _, k := range set.Keys {
		assert.Equal(t, "RSA", k.Kty)
		assert.Equal(t, "RS256", k.Alg)
		assert.Equal(t, "sig", k.Use)
		assert.Empty(t, k.D, "no private member")
	}
	res, _ = get("/.well-known/jwks.json", "If-None-Match", res.Header.Get("ETag"))
	assert.Equal(t, http.StatusNotModified, res.StatusCode)

	res, body = get("/login")
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
	assert.JSONEq(t, `{"error":"not_found","error_description":"no such endpoint"}`, string(body))
}

// A rotation keeps tokens of the previous key valid (it stays published,
// retired) and the new active key was published before it signs, so a
// remote verifier needs no new fetch for its tokens.
func TestRotate(t *testing.T) {
	srv := jwtauthtest.NewServer(t)
	rv, ks := remoteVerifier(t, srv)
	oldKID := srv.KID()
	old := srv.Mint(jwtauthtest.Token{})
	fetches := srv.JWKSRequests()

	newKID := srv.Rotate()
	require.NotEqual(t, oldKID, newKID)
	assert.Equal(t, newKID, srv.KID())
	tok := srv.Mint(jwtauthtest.Token{})
	assert.Equal(t, newKID, header(t, tok)["kid"])

	for _, raw := range []string{old, tok} {
		_, err := rv.Verify(context.Background(), raw)
		require.NoError(t, err)
		_, err = srv.Verifier().Verify(context.Background(), raw)
		require.NoError(t, err)
	}
	assert.Equal(t, fetches, srv.JWKSRequests(), "the new active key was pre-published: no fetch")

	require.NoError(t, ks.Refresh(context.Background()))
	assert.Len(t, ks.KIDs(), 3, "retired, active and a new next key")
	assert.Contains(t, ks.KIDs(), oldKID)
	_, err := rv.Verify(context.Background(), old)
	assert.NoError(t, err)
}

// A revoked key leaves the JWKS at once: the local verifier refuses its
// tokens at once, a remote one after its next fetch. Revoking the active
// key promotes the next one, whose tokens every verifier accepts.
func TestRevoke(t *testing.T) {
	srv := jwtauthtest.NewServer(t)
	rv, ks := remoteVerifier(t, srv)
	revoked := srv.KID()
	tok := srv.Mint(jwtauthtest.Token{})
	_, err := rv.Verify(context.Background(), tok)
	require.NoError(t, err)

	srv.Revoke(revoked)
	assert.NotEqual(t, revoked, srv.KID())
	_, err = srv.Verifier().Verify(context.Background(), tok)
	assert.ErrorIs(t, err, token.ErrUnknownKey)
	_, err = rv.Verify(context.Background(), tok)
	assert.NoError(t, err, "the remote verifier still holds the JWKS it fetched before the revocation")

	require.NoError(t, ks.Refresh(context.Background()))
	assert.NotContains(t, ks.KIDs(), revoked)
	_, err = rv.Verify(context.Background(), tok)
	assert.ErrorIs(t, err, token.ErrUnknownKey)

	_, err = rv.Verify(context.Background(), srv.Mint(jwtauthtest.Token{}))
	assert.NoError(t, err, "the promoted key signs")

	// A retired key can be revoked too.
	retired := srv.KID()
	old := srv.Mint(jwtauthtest.Token{})
	srv.Rotate()
	srv.Revoke(retired)
	require.NoError(t, ks.Refresh(context.Background()))
	_, err = rv.Verify(context.Background(), old)
	assert.ErrorIs(t, err, token.ErrUnknownKey)
}

// The clock sets iat, nbf and exp and, given as VerifierConfig.Now, moves
// expiry.
func TestClock(t *testing.T) {
	srv := jwtauthtest.NewServer(t)
	start := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	srv.SetNow(start)
	assert.Equal(t, start, srv.Now())
	rv, _ := remoteVerifier(t, srv)
	tok := srv.Mint(jwtauthtest.Token{})
	c, err := rv.Verify(context.Background(), tok)
	require.NoError(t, err)
	assert.Equal(t, start.Unix(), c.IssuedAt.Unix())
	assert.Equal(t, start.Add(15*time.Minute).Unix(), c.ExpiresAt.Unix())

	for _, step := range []struct {
		advance time.Duration
		err     error
	}{
		{15 * time.Minute, nil},                 // at exp
		{29 * time.Second, nil},                 // within the 30 s leeway
		{time.Second, token.ErrTokenExpired},    // at exp + leeway
		{-time.Hour, token.ErrTokenNotYetValid}, // before iat - leeway
		{44*time.Minute + 30*time.Second, nil},  // back at the start
	} {
		srv.Advance(step.advance)
		for name, v := range map[string]*token.Verifier{"local": srv.Verifier(), "remote": rv} {
			_, err := v.Verify(context.Background(), tok)
			if step.err == nil {
				assert.NoError(t, err, "%s at %s", name, srv.Now())
			} else {
				assert.ErrorIs(t, err, step.err, "%s at %s", name, srv.Now())
			}
		}
	}
	assert.Equal(t, start, srv.Now())
	later := start.Add(48 * time.Hour)
	srv.SetNow(later)
	c, err = srv.Verifier().Verify(context.Background(), srv.Mint(jwtauthtest.Token{}))
	require.NoError(t, err)
	assert.Equal(t, later.Unix(), c.IssuedAt.Unix())
}

// Mint, Claims, Rotate and the clock from many goroutines at once (run
// with -race): every token verifies and has a jti of its own.
func TestConcurrent(t *testing.T) {
	srv := jwtauthtest.NewServer(t)
	const workers, each = 8, 10
	var (
		mu   sync.Mutex
		jtis = map[string]bool{}
		wg   sync.WaitGroup
		errs = make(chan error, workers*each+workers)
	)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				raw := srv.Mint(jwtauthtest.Token{Subject: fmt.Sprintf("u%d-%d", w, i), Roles: []string{"r"}})
				c, err := srv.Verifier().Verify(context.Background(), raw)
				if err != nil {
					errs <- err
					continue
				}
				if c.Subject != fmt.Sprintf("u%d-%d", w, i) || !slices.Equal(c.Roles(), []string{"r"}) {
					errs <- fmt.Errorf("claims of another token: %s %v", c.Subject, c.Roles())
				}
				if got := srv.Claims(jwtauthtest.Token{Groups: []string{"g"}}).Groups(); !slices.Equal(got, []string{"g"}) {
					errs <- fmt.Errorf("Claims: groups %v", got)
				}
				mu.Lock()
				jtis[c.ID] = true
				mu.Unlock()
			}
		})
	}
	wg.Go(func() {
		for range 3 {
			srv.Rotate()
			srv.Advance(time.Second)
			_ = srv.KID()
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.Len(t, jtis, workers*each)
}

// Claims gives the verified claims of a token, private claims included,
// each call its own.
func TestClaims(t *testing.T) {
	srv := jwtauthtest.NewServer(t)
	c := srv.Claims(jwtauthtest.Token{Subject: "alice", Roles: []string{"admin"}, Issuer: "https://other.example",
		Audience: []string{"https://api.example"}, Claims: map[string]any{"tenant": "acme"}})
	assert.Equal(t, "alice", c.Subject)
	assert.Equal(t, "https://other.example", c.Issuer, "any iss: an application may trust several issuers")
	assert.Equal(t, []string{"https://api.example"}, c.Audience)
	assert.Equal(t, []string{"admin"}, c.Roles())
	var tenant string
	require.NoError(t, c.Decode("tenant", &tenant))
	assert.Equal(t, "acme", tenant)

	ctx := token.ContextWithClaims(context.Background(), c)
	got, ok := token.ClaimsFromContext(ctx)
	require.True(t, ok)
	assert.Equal(t, []string{"admin"}, got.Roles())
	c.Subject = "changed"
	assert.Equal(t, "alice", srv.Claims(jwtauthtest.Token{Subject: "alice"}).Subject, "each call its own claims")
}

// fakeTB records Fatalf and ends the goroutine, as testing.T does.
type fakeTB struct {
	testing.TB
	mu    sync.Mutex
	fatal []string
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Cleanup(fn func()) { f.TB.Cleanup(fn) }
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = append(f.fatal, fmt.Sprintf(format, args...))
	f.mu.Unlock()
	runtime.Goexit()
}

// run calls fn in a goroutine of its own, which Fatalf ends, and returns
// the Fatalf message ("" when there was none).
func (f *fakeTB) run(fn func()) string {
	f.mu.Lock()
	f.fatal = nil
	f.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.fatal, "\n")
}

// A kit error fails the test through tb.Fatalf, with a message naming it.
func TestErrorsFailTheTest(t *testing.T) {
	tb := &fakeTB{TB: t}
	srv := jwtauthtest.NewServer(tb)
	tests := []struct {
		name string
		fn   func()
		want string
	}{
		{"revoke an unknown kid", func() { srv.Revoke("no-such-key") }, `jwtauthtest: revoke: keys: unknown key: "no-such-key"`},
		{"unencodable claim", func() { srv.Mint(jwtauthtest.Token{Claims: map[string]any{"f": func() {}}}) }, `jwtauthtest: mint: claim "f": json: unsupported type: func()`},
		{"Claims of an expired token", func() { srv.Claims(jwtauthtest.Token{ExpiresAt: srv.Now().Add(-time.Hour)}) },
			"jwtauthtest: Claims: the token does not verify, so no handler sees its claims: jwtauth: token expired"},
		{"Claims of an unpublished key's token", func() { srv.Claims(jwtauthtest.Token{Unpublished: true}) }, "jwtauth: unknown signing key"},
	}
	for _, tt := range tests {
		got := tb.run(tt.fn)
		assert.Contains(t, got, tt.want, tt.name)
	}
	kid := srv.KID()
	srv.Revoke(kid)
	assert.Contains(t, tb.run(func() { srv.Revoke(kid) }), "keys: invalid key state transition", "revoked twice")
}

// Without a testing.TB (an Example), errors panic and Close stops the
// server; Close is idempotent.
func TestNilTB(t *testing.T) {
	srv := jwtauthtest.NewServer(nil)
	assert.PanicsWithValue(t, `jwtauthtest: revoke: keys: unknown key: "nope"`, func() { srv.Revoke("nope") })
	srv.Close()
	srv.Close()
	_, _, err := remote.NewVerifier(context.Background(),
		remote.Config{Issuer: srv.URL, Logger: slog.New(slog.DiscardHandler)}, token.VerifierConfig{Audience: []string{srv.URL}})
	assert.ErrorIs(t, err, remote.ErrJWKSFetch, "a closed issuer is unreachable")
}

// tb.Cleanup closes the server when the test ends.
func TestCleanupCloses(t *testing.T) {
	var url string
	t.Run("inner", func(t *testing.T) {
		url = jwtauthtest.NewServer(t).URL
		res, err := http.Get(url + "/.well-known/jwks.json")
		require.NoError(t, err)
		res.Body.Close()
	})
	_, err := http.Get(url + "/.well-known/jwks.json")
	assert.Error(t, err)
}

// Servers differ in their keys, and the key Unpublished signs with is never
// one the server publishes. Once the fixed keys are used up, keys are
// generated.
func TestKeys(t *testing.T) {
	a, b := jwtauthtest.NewServer(t), jwtauthtest.NewServer(t)
	assert.NotEqual(t, a.KID(), b.KID())

	var generated int
	more := keystest.Keys(t)[jwtauthtest.PoolSize:] // not among the embedded keys
	extra := more[0]
	a.SetGenerate(func(bits int) (*rsa.PrivateKey, error) {
		generated++
		if generated > len(more) {
			return nil, errors.New("out of keys")
		}
		assert.Equal(t, 2048, bits)
		return more[generated-1], nil
	})
	seen := map[string]bool{a.KID(): true}
	// NewServer took two keys (active, next) and keeps one back: each
	// rotation takes one more.
	for range jwtauthtest.PoolSize - 3 {
		kid := a.Rotate()
		assert.False(t, seen[kid], "a kid repeats")
		seen[kid] = true
		assert.NotEqual(t, a.OutsiderKID(), kid)
	}
	assert.Zero(t, generated, "the fixed keys last for PoolSize-3 rotations")
	a.Rotate()
	assert.Equal(t, 1, generated)
	extraKID, err := keys.Thumbprint(&extra.PublicKey)
	require.NoError(t, err)
	a.Rotate()
	assert.Equal(t, extraKID, a.KID(), "the generated key became next, then active")
	_, err = a.Verifier().Verify(context.Background(), a.Mint(jwtauthtest.Token{}))
	assert.NoError(t, err)
}

// TestNewServerRefusesOutsideTests builds testdata/notatest, an ordinary
// program that calls NewServer(nil) as production code importing the
// package would, and runs it: NewServer must panic with ErrNotATest (the
// program turns that into exit status 3) instead of serving tokens signed
// with the published keys. The Examples of this package, which call
// NewServer(nil) under go test, show the other side.
func TestNewServerRefusesOutsideTests(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "notatest")
	out, err := exec.Command("go", "build", "-o", bin, "./testdata/notatest").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	out, err = exec.Command(bin).CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the program ran to the end: %s", out)
	assert.Equal(t, 3, exit.ExitCode(), "%s", out)
	assert.Equal(t, "refused: "+jwtauthtest.ErrNotATest.Error()+"\n", string(out))
}
