package remote_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/remote"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clock is a settable clock that is safe to read from the key set's goroutines.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock        { c := &clock{}; c.ns.Store(t.UnixNano()); return c }
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// origin is a JWKS endpoint that counts requests. It serves real, unless
// override is set.
type origin struct {
	srv         *httptest.Server
	real        http.Handler
	override    atomic.Pointer[http.HandlerFunc]
	requests    atomic.Int64
	conditional atomic.Int64 // requests with If-None-Match
	notModified atomic.Int64 // 304 answers
	mu          sync.Mutex
	lastINM     string
}

func newOrigin(t testing.TB, real http.Handler) *origin {
	o := &origin{real: real}
	o.srv = httptest.NewServer(http.HandlerFunc(o.serve))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *origin) serve(w http.ResponseWriter, r *http.Request) {
	o.requests.Add(1)
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		o.conditional.Add(1)
		o.mu.Lock()
		o.lastINM = inm
		o.mu.Unlock()
	}
	h := o.real
	if f := o.override.Load(); f != nil {
		h = *f
	}
	rec := &statusRecorder{ResponseWriter: w}
	h.ServeHTTP(rec, r)
	if rec.status == http.StatusNotModified {
		o.notModified.Add(1)
	}
}

func (o *origin) set(f http.HandlerFunc) { o.override.Store(&f) }
func (o *origin) restore()               { o.override.Store(nil) }
func (o *origin) inm() string            { o.mu.Lock(); defer o.mu.Unlock(); return o.lastINM }

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

// remoteFixture is a key manager and issuer (the issuing service), its JWKS
// endpoint, and a verifier with a remote.KeySet on that endpoint (the
// resource service).
type remoteFixture struct {
	*fixture
	clk    *clock
	origin *origin
	ks     *remote.KeySet
	v      *token.Verifier
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newRemoteFixture(t *testing.T, mod func(*remote.Config)) *remoteFixture {
	t.Helper()
	rf := &remoteFixture{fixture: newFixture(t), logs: &syncBuffer{}}
	rf.clk = newClock(rf.Now)
	rf.origin = newOrigin(t, jwtauth.NewJWKSHandler(rf.Mgr, 5*time.Minute))
	cfg := remote.Config{
		JWKSURL: rf.origin.srv.URL, Now: rf.clk.Now,
		Logger: slog.New(slog.NewTextHandler(rf.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg)
	}
	var err error
	rf.v, rf.ks, err = remote.NewVerifier(t.Context(), cfg, token.VerifierConfig{
		Issuer: testIssuer, Audience: []string{testAudience}, Now: rf.clk.Now})
	require.NoError(t, err)
	t.Cleanup(func() { _ = rf.ks.Close() })
	return rf
}

func (rf *remoteFixture) issue(t *testing.T) string {
	t.Helper()
	tok, err := rf.Issuer.Issue(context.Background(), "alice")
	require.NoError(t, err)
	return tok.Raw
}

// jwkJSON is the public JWK of pub with kid and extra members.
func jwkJSON(t testing.TB, pub any, kid string, extra map[string]any) json.RawMessage {
	t.Helper()
	k, err := jwk.Import(pub)
	require.NoError(t, err)
	if kid != "" {
		require.NoError(t, k.Set(jwk.KeyIDKey, kid))
	}
	for n, v := range extra {
		require.NoError(t, k.Set(n, v))
	}
	b, err := json.Marshal(k)
	require.NoError(t, err)
	return b
}

func jwksJSON(ks ...json.RawMessage) []byte {
	if ks == nil {
		ks = []json.RawMessage{}
	}
	b, _ := json.Marshal(map[string]any{"keys": ks})
	return b
}

func serveBody(ct string, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(body)
	}
}

func TestRemoteKeySetVerifiesAndRevalidatesWith304(t *testing.T) {
	rf := newRemoteFixture(t, nil)
	ctx := t.Context()
	tok := rf.issue(t)

	c, err := rf.v.Verify(ctx, tok)
	require.NoError(t, err)
	assert.Equal(t, "alice", c.Subject)
	assert.EqualValues(t, 1, rf.origin.requests.Load(), "the first fetch happens in NewKeySet, the cached path fetches nothing")
	assert.EqualValues(t, 0, rf.origin.conditional.Load(), "the first fetch has no ETag to send")

	_, etag, err := jwtauth.NewJWKSHandler(rf.Mgr, 0).Document()
	require.NoError(t, err)
	for range 3 {
		require.NoError(t, rf.ks.Refresh(ctx))
	}
	assert.EqualValues(t, 4, rf.origin.requests.Load())
	assert.EqualValues(t, 3, rf.origin.conditional.Load(), "every refresh is conditional")
	assert.EqualValues(t, 3, rf.origin.notModified.Load())
	assert.Equal(t, etag, rf.origin.inm(), "If-None-Match carries the last ETag")

	// 304 is "still fresh": it resets the staleness clock.
	rf.clk.Advance(23 * time.Hour)
	require.NoError(t, rf.ks.Refresh(ctx))
	rf.clk.Advance(23 * time.Hour)
	_, err = rf.v.Verify(ctx, tok)
	require.ErrorIs(t, err, token.ErrTokenExpired, "the key is still usable 46 h after the first fetch: only the token's exp stops it")
	assert.NoError(t, rf.ks.LastError())
}

func TestRemoteKeySetKeepsLastGoodSet(t *testing.T) {
	big := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"keys":[`)
		chunk := bytes.Repeat([]byte(" "), 64<<10)
		for range 160 { // 10 MiB
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		_, _ = io.WriteString(w, `]}`)
	}
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	cases := []struct {
		name    string
		handler func(rf *remoteFixture) http.HandlerFunc // nil: the server is down
		want    string
	}{
		{"down", nil, "connect"},
		{"slow beyond the timeout", func(*remoteFixture) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-release:
				}
			}
		}, "deadline exceeded"},
		{"500", func(*remoteFixture) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }
		}, "HTTP status 500"},
		{"HTML", func(*remoteFixture) http.HandlerFunc {
			return serveBody("text/html; charset=utf-8", []byte("<html><body>maintenance</body></html>"))
		}, "HTML"},
		{"HTML without a Content-Type", func(*remoteFixture) http.HandlerFunc {
			return serveBody("", []byte("<html><body>maintenance</body></html>"))
		}, "not a JSON JWK Set"},
		{"no keys member", func(*remoteFixture) http.HandlerFunc {
			return serveBody("application/json", []byte(`{"issuer":"x"}`))
		}, `no "keys" array`},
		{"unparsable", func(*remoteFixture) http.HandlerFunc {
			return serveBody("application/json", []byte(`{"keys":[{"kty":"RSA",`))
		}, "not a JSON JWK Set"},
		{"private key member", func(rf *remoteFixture) http.HandlerFunc {
			pub := jwkJSON(t, &rf.Priv.PublicKey, rf.KID, nil)
			priv := jwkJSON(t, rf.Outsider(t), "leak", nil)
			return serveBody("application/json", jwksJSON(pub, priv))
		}, `private member "d"`},
		{"secret oct key", func(rf *remoteFixture) http.HandlerFunc {
			pub := jwkJSON(t, &rf.Priv.PublicKey, rf.KID, nil)
			return serveBody("application/json", jwksJSON(pub, json.RawMessage(`{"kty":"oct","kid":"h","k":"c2VjcmV0"}`)))
		}, `private member "k"`},
		{"10 MiB body", func(*remoteFixture) http.HandlerFunc { return big }, "byte limit"},
		{"10 MiB body with Content-Length", func(*remoteFixture) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", fmt.Sprint(10<<20+11))
				big(w, r)
			}
		}, "byte limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Only the slow origin meets the fetch timeout; the others get
			// one no loaded -race run reaches, so a 10 MiB body is refused
			// for its size, never for its time.
			timeout := 30 * time.Second
			if tc.want == "deadline exceeded" {
				timeout = 200 * time.Millisecond
			}
			rf := newRemoteFixture(t, func(c *remote.Config) { c.Timeout = timeout })
			ctx := t.Context()
			tok := rf.issue(t)
			if tc.handler == nil {
				rf.origin.srv.Close()
			} else {
				rf.origin.set(tc.handler(rf))
			}

			err := rf.ks.Refresh(ctx)
			require.ErrorIs(t, err, remote.ErrJWKSFetch)
			assert.ErrorContains(t, err, tc.want)
			assert.Equal(t, err, rf.ks.LastError(), "the failure is reported")
			assert.Contains(t, rf.logs.String(), "remote jwks fetch failed", "the failure is logged")
			assert.ElementsMatch(t, rf.ks.KIDs(), []string{rf.KID, rf.Mgr.Current().Next().KID}, "the set is unchanged")

			_, err = rf.v.Verify(ctx, tok)
			require.NoError(t, err, "the last good set is still used")

			// An unknown kid after the interval tries again; it fails the
			// same way and the last good set stays.
			rf.clk.Advance(remote.DefaultUnknownKIDInterval)
			_, err = rf.v.Verify(ctx, forge(t, rf.Outsider(t), `{"alg":"RS256","kid":"other"}`, rf.Claims(nil)))
			require.ErrorIs(t, err, token.ErrUnknownKey)
			_, err = rf.v.Verify(ctx, tok)
			require.NoError(t, err)

			// Up to MaxStale, not beyond: then every token fails closed.
			rf.clk.Advance(remote.DefaultMaxStale)
			_, err = rf.v.Verify(ctx, tok)
			require.ErrorIs(t, err, token.ErrUnknownKey)
			require.ErrorIs(t, err, remote.ErrKeySetUnavailable)
			assert.ErrorContains(t, err, "MaxStale")
		})
	}
}

func TestRemoteKeySetColdFailsClosed(t *testing.T) {
	f := newFixture(t)
	o := newOrigin(t, jwtauth.NewJWKSHandler(f.Mgr, 0))
	o.set(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
	clk := newClock(f.Now)
	cfg := remote.Config{JWKSURL: o.srv.URL, Now: clk.Now, Logger: quiet}
	vcfg := token.VerifierConfig{Issuer: testIssuer, Audience: []string{testAudience}, Now: clk.Now}
	tok, err := f.Issuer.Issue(t.Context(), "alice")
	require.NoError(t, err)

	// By default construction fetches, and fails without a usable set.
	_, _, err = remote.NewVerifier(t.Context(), cfg, vcfg)
	require.ErrorIs(t, err, remote.ErrJWKSFetch)
	assert.ErrorContains(t, err, "HTTP status 503")

	// A lazy key set starts cold and rejects every token until a fetch succeeds.
	cfg.Lazy = true
	v, ks, err := remote.NewVerifier(t.Context(), cfg, vcfg)
	require.NoError(t, err)
	defer ks.Close()
	_, err = v.Verify(t.Context(), tok.Raw)
	require.ErrorIs(t, err, token.ErrUnknownKey)
	require.ErrorIs(t, err, remote.ErrKeySetUnavailable)
	assert.ErrorContains(t, err, "503")

	o.restore()
	clk.Advance(remote.DefaultUnknownKIDInterval)
	_, err = v.Verify(t.Context(), tok.Raw)
	require.NoError(t, err, "the first lookup after the interval fetches the set")
}

func TestRemoteKeySetUnknownKIDFlood(t *testing.T) {
	rf := newRemoteFixture(t, nil)
	ctx := t.Context()
	require.EqualValues(t, 1, rf.origin.requests.Load())
	// Tokens with random kids; the signature is never reached.
	tokens := make([]string, 10_000)
	for i := range tokens {
		var kid [16]byte
		_, _ = rand.Read(kid[:])
		tokens[i] = b64(fmt.Sprintf(`{"alg":"RS256","kid":"%x"}`, kid)) + "." + b64(rf.Claims(nil)) + ".c2ln"
	}
	flood := func() {
		var wg sync.WaitGroup
		var unknown atomic.Int64
		for g := range 100 {
			wg.Go(func() {
				for _, tok := range tokens[g*100 : (g+1)*100] {
					if _, err := rf.v.Verify(ctx, tok); errors.Is(err, token.ErrUnknownKey) {
						unknown.Add(1)
					}
				}
			})
		}
		wg.Wait()
		require.EqualValues(t, len(tokens), unknown.Load())
	}

	flood() // within the interval of the first fetch
	assert.EqualValues(t, 1, rf.origin.requests.Load(), "no fetch within the interval of the last one")

	rf.clk.Advance(remote.DefaultUnknownKIDInterval)
	flood()
	assert.EqualValues(t, 2, rf.origin.requests.Load(), "10,000 concurrent misses after the interval: one fetch")

	rf.clk.Advance(remote.DefaultUnknownKIDInterval - time.Millisecond)
	flood()
	assert.EqualValues(t, 2, rf.origin.requests.Load())

	rf.clk.Advance(time.Millisecond)
	flood()
	assert.EqualValues(t, 3, rf.origin.requests.Load())
	t.Logf("JWKS fetches for 40,000 unknown-kid tokens over 3 intervals: %d (1 of them initial)", rf.origin.requests.Load())
}

func TestRemoteKeySetRotationRevocationAndRemoval(t *testing.T) {
	rf := newRemoteFixture(t, nil)
	ctx := t.Context()
	tokA := rf.issue(t) // by the first active key
	kidA := rf.KID
	_, err := rf.v.Verify(ctx, tokA)
	require.NoError(t, err)

	// Rotation: the next key was published before it signs, so the remote
	// set already holds it.
	_, err = rf.Mgr.Rotate(ctx, true)
	require.NoError(t, err)
	tokB := rf.issue(t)
	require.NotEqual(t, kidA, rf.Mgr.Current().Active().KID)
	_, err = rf.v.Verify(ctx, tokB)
	require.NoError(t, err)
	_, err = rf.v.Verify(ctx, tokA)
	require.NoError(t, err, "the retired key is still published")
	assert.EqualValues(t, 1, rf.origin.requests.Load(), "no fetch was needed")

	// A second rotation promotes a key this verifier has never seen: the
	// unknown kid fetches the set (once the interval has passed).
	_, err = rf.Mgr.Rotate(ctx, true)
	require.NoError(t, err)
	tokC := rf.issue(t)
	_, err = rf.v.Verify(ctx, tokC)
	require.ErrorIs(t, err, token.ErrUnknownKey, "within the unknown-kid interval of the first fetch")
	rf.clk.Advance(remote.DefaultUnknownKIDInterval)
	_, err = rf.v.Verify(ctx, tokC)
	require.NoError(t, err)
	assert.EqualValues(t, 2, rf.origin.requests.Load())

	// Revocation removes the key from the JWKS: its tokens verify until the
	// next refresh and never after.
	require.NoError(t, rf.Mgr.Revoke(ctx, kidA))
	_, err = rf.v.Verify(ctx, tokA)
	require.NoError(t, err, "not refreshed yet")
	require.NoError(t, rf.ks.Refresh(ctx))
	_, err = rf.v.Verify(ctx, tokA)
	require.ErrorIs(t, err, token.ErrUnknownKey)
	rf.clk.Advance(time.Minute)
	_, err = rf.v.Verify(ctx, tokA)
	require.ErrorIs(t, err, token.ErrUnknownKey, "refetching on the unknown kid does not bring it back")
	for _, tok := range []string{tokB, tokC} {
		_, err = rf.v.Verify(ctx, tok)
		require.NoError(t, err)
	}

	// Plain removal: a set without the active key stops it at once.
	rf.origin.set(serveBody("application/json", jwksJSON(jwkJSON(t, rf.Mgr.Current().Next().Public(), rf.Mgr.Current().Next().KID, nil))))
	require.NoError(t, rf.ks.Refresh(ctx))
	_, err = rf.v.Verify(ctx, tokC)
	require.ErrorIs(t, err, token.ErrUnknownKey)
	assert.Equal(t, []string{rf.Mgr.Current().Next().KID}, rf.ks.KIDs())
}

// TestRemoteKeySetDropsRevokedKeyAtFirstTokenAfterRevoke is issue 22 item 1
// for this library's own remote verifier: an emergency revoke makes a key
// this verifier has never seen sign, so the first token after the revoke
// refetches the JWKS, which no longer holds the revoked key: from then on
// the revoked key's tokens fail, without waiting for the background refresh
// (the JWKS max-age, 5 min here). Before, the revoke promoted the cached
// next key, no fetch happened, and the revoked key verified until then.
func TestRemoteKeySetDropsRevokedKeyAtFirstTokenAfterRevoke(t *testing.T) {
	rf := newRemoteFixture(t, nil)
	ctx := t.Context()
	leaked := rf.issue(t)
	leakedKID, next := rf.KID, rf.Mgr.Current().Next().KID
	_, err := rf.v.Verify(ctx, leaked)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{leakedKID, next}, rf.ks.KIDs())

	require.NoError(t, rf.Mgr.Revoke(ctx, leakedKID))
	_, err = rf.v.Verify(ctx, leaked)
	require.NoError(t, err, "no fetch yet: the revoked key is still cached")

	// The first token of the fresh key, within UnknownKIDInterval of the
	// last fetch, is refused (the price of the flood protection); once
	// the interval has passed, it fetches the JWKS.
	fresh := rf.issue(t)
	_, err = rf.v.Verify(ctx, fresh)
	require.ErrorIs(t, err, token.ErrUnknownKey, "within the unknown-kid interval of the last fetch")
	assert.EqualValues(t, 1, rf.origin.requests.Load())
	rf.clk.Advance(remote.DefaultUnknownKIDInterval)
	_, err = rf.v.Verify(ctx, fresh)
	require.NoError(t, err)
	assert.EqualValues(t, 2, rf.origin.requests.Load(), "the unknown kid fetched the JWKS")
	assert.NotContains(t, rf.ks.KIDs(), leakedKID, "the refetched JWKS lacks the revoked key")
	assert.Contains(t, rf.ks.KIDs(), next, "the pre-published next key stays")
	_, err = rf.v.Verify(ctx, leaked)
	require.ErrorIs(t, err, token.ErrUnknownKey, "the revoked key's token fails from the first new token on")
}

func TestRemoteKeySetSkipsUnusableKeys(t *testing.T) {
	rf := newRemoteFixture(t, nil)
	ctx := t.Context()
	ks := keystest.Keys(t)
	var others []*rsa.PrivateKey
	for _, k := range ks {
		if k.N.Cmp(rf.Priv.N) != 0 {
			others = append(others, k)
		}
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	weak := keystest.Weak(t)
	weakJWK := fmt.Sprintf(`{"kty":"RSA","kid":"weak","n":%q,"e":"AQAB"}`, b64(string(weak.N.Bytes())))
	set := jwksJSON(
		jwkJSON(t, &rf.Priv.PublicKey, rf.KID, map[string]any{"use": "sig", "alg": "RS256"}),
		jwkJSON(t, &others[0].PublicKey, "enc", map[string]any{"use": "enc"}),
		jwkJSON(t, &others[1].PublicKey, "rs384", map[string]any{"alg": "RS384"}),
		jwkJSON(t, &others[2].PublicKey, "ops", map[string]any{"key_ops": []string{"encrypt"}}),
		jwkJSON(t, &others[3].PublicKey, "", nil),
		jwkJSON(t, &ec.PublicKey, "ec", nil),
		json.RawMessage(weakJWK),
		json.RawMessage(`{"kty":"AKP","kid":"pq","alg":"ML-DSA-44","pub":"AAAA"}`),
		jwkJSON(t, &others[4].PublicKey, rf.KID, nil), // duplicate kid: the first one wins
	)
	rf.origin.set(serveBody("application/json", set))
	require.NoError(t, rf.ks.Refresh(ctx))
	assert.Equal(t, []string{rf.KID}, rf.ks.KIDs())

	_, err = rf.v.Verify(ctx, rf.issue(t))
	require.NoError(t, err)
	for kid, priv := range map[string]*rsa.PrivateKey{"enc": others[0], "rs384": others[1], "ops": others[2], "weak": weak, rf.KID: others[4]} {
		tok := forge(t, priv, fmt.Sprintf(`{"alg":"RS256","kid":%q}`, kid), rf.Claims(nil))
		_, err := rf.v.Verify(ctx, tok)
		assert.Error(t, err, kid)
	}
	assert.Contains(t, rf.logs.String(), "key skipped")
}

func TestRemoteKeySetDiscovery(t *testing.T) {
	f := newFixture(t)
	var docIssuer atomic.Pointer[string]
	mux := http.NewServeMux()
	mux.Handle("GET /.well-known/jwks.json", jwtauth.NewJWKSHandler(f.Mgr, 0))
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		d, err := jwtauth.NewDiscoveryHandler(*docIssuer.Load())
		require.NoError(t, err)
		d.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	docIssuer.Store(&srv.URL)

	ks, err := remote.NewKeySet(t.Context(), remote.Config{Issuer: srv.URL, Logger: quiet})
	require.NoError(t, err)
	defer ks.Close()
	pub, err := ks.VerificationKey(t.Context(), f.KID)
	require.NoError(t, err)
	assert.True(t, pub.Equal(&f.Priv.PublicKey))

	for name, tc := range map[string]struct{ configured, served, want string }{
		"other issuer":   {srv.URL, "https://evil.example", "does not match"},
		"trailing slash": {srv.URL + "/", srv.URL, "does not match"},
		"no discovery":   {srv.URL + "/tenant", srv.URL + "/tenant", "HTTP status 404"},
	} {
		t.Run(name, func(t *testing.T) {
			docIssuer.Store(&tc.served)
			_, err := remote.NewKeySet(t.Context(), remote.Config{Issuer: tc.configured, Logger: quiet})
			require.ErrorIs(t, err, remote.ErrJWKSFetch)
			assert.ErrorContains(t, err, tc.want)
		})
	}

	_, err = remote.NewKeySet(t.Context(), remote.Config{})
	assert.ErrorContains(t, err, "JWKSURL or Issuer")
	_, err = remote.NewKeySet(t.Context(), remote.Config{JWKSURL: "file:///etc/passwd"})
	assert.ErrorContains(t, err, "is not an absolute URL: give the scheme and host")
	_, _, err = remote.NewVerifier(t.Context(), remote.Config{JWKSURL: srv.URL}, token.VerifierConfig{Issuer: testIssuer, Algorithms: []string{"HS256"}, Audience: []string{"a"}})
	assert.ErrorContains(t, err, "cannot verify with RSA keys")
}

// handlerTransport serves requests in-process, so that a synctest bubble
// holds no network goroutines.
type handlerTransport struct{ h http.Handler }

func (ht handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	ht.h.ServeHTTP(rec, r)
	res := rec.Result()
	res.Request = r
	return res, nil
}

func TestRemoteKeySetBackgroundRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		mgr, err := keys.Open(ctx, keys.Config{Store: memory.New(), Generate: keystest.Generator(t), Logger: quiet})
		require.NoError(t, err)
		iss, err := token.NewIssuer(token.IssuerConfig{Keys: mgr, Issuer: testIssuer, Audience: []string{testAudience}})
		require.NoError(t, err)
		var requests, notModified atomic.Int64
		var down atomic.Bool
		var maxAge atomic.Value
		maxAge.Store("max-age=300")
		jwks := jwtauth.NewJWKSHandler(mgr, 5*time.Minute)
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			if down.Load() {
				http.Error(w, "down", http.StatusBadGateway)
				return
			}
			rec := httptest.NewRecorder()
			jwks.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.Header().Set("Cache-Control", maxAge.Load().(string))
			if rec.Code == http.StatusNotModified {
				notModified.Add(1)
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
		})
		v, ks, err := remote.NewVerifier(ctx, remote.Config{
			JWKSURL: "https://auth.example.com/.well-known/jwks.json", HTTPClient: &http.Client{Transport: handlerTransport{h}}, Logger: quiet,
		}, token.VerifierConfig{Issuer: testIssuer, Audience: []string{testAudience}})
		require.NoError(t, err)
		tok, err := iss.Issue(ctx, "alice")
		require.NoError(t, err)

		time.Sleep(5*time.Minute - time.Second)
		synctest.Wait()
		assert.EqualValues(t, 1, requests.Load())
		time.Sleep(2 * time.Second)
		synctest.Wait()
		assert.EqualValues(t, 2, requests.Load(), "refreshed when max-age ran out")
		assert.EqualValues(t, 1, notModified.Load())

		// Revoke the signing key: the next background refresh drops it.
		require.NoError(t, mgr.Revoke(ctx, tok.KID))
		_, err = v.Verify(ctx, tok.Raw)
		require.NoError(t, err)
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		assert.EqualValues(t, 3, requests.Load())
		_, err = v.Verify(ctx, tok.Raw)
		require.ErrorIs(t, err, token.ErrUnknownKey)

		// max-age below MinRefresh (1 min) and above MaxRefresh (1 h) are clamped.
		maxAge.Store("max-age=1")
		require.NoError(t, ks.Refresh(ctx)) // 4
		time.Sleep(59 * time.Second)
		synctest.Wait()
		assert.EqualValues(t, 4, requests.Load())
		time.Sleep(2 * time.Second)
		synctest.Wait()
		assert.EqualValues(t, 5, requests.Load())
		maxAge.Store("public, max-age=86400")
		time.Sleep(time.Minute) // 6, which says one day
		synctest.Wait()
		require.EqualValues(t, 6, requests.Load())
		time.Sleep(time.Hour - 2*time.Second)
		synctest.Wait()
		assert.EqualValues(t, 6, requests.Load())
		time.Sleep(2 * time.Second)
		synctest.Wait()
		assert.EqualValues(t, 7, requests.Load())

		// A failed refresh is retried after MinRefresh; meanwhile the last
		// good set verifies.
		down.Store(true)
		time.Sleep(time.Hour)
		synctest.Wait()
		assert.EqualValues(t, 8, requests.Load())
		tok2, err := iss.Issue(ctx, "alice")
		require.NoError(t, err)
		require.ErrorIs(t, ks.LastError(), remote.ErrJWKSFetch)
		_, err = v.Verify(ctx, tok2.Raw)
		require.NoError(t, err)
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.EqualValues(t, 9, requests.Load())
		down.Store(false)
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.EqualValues(t, 10, requests.Load())
		require.NoError(t, ks.LastError())

		require.NoError(t, ks.Close())
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		assert.EqualValues(t, 10, requests.Load(), "no fetch after Close")
	})
}

func TestRemoteConfigRejectsBadBounds(t *testing.T) {
	_, err := remote.NewKeySet(t.Context(), remote.Config{JWKSURL: "https://a.example/jwks", MinRefresh: time.Hour, MaxRefresh: time.Minute})
	assert.ErrorContains(t, err, "MaxRefresh")
	_, _, err = remote.NewVerifier(t.Context(), remote.Config{JWKSURL: "https://a.example/jwks"}, token.VerifierConfig{Keys: &keys.Set{}})
	assert.ErrorContains(t, err, "Keys must be nil")
	assert.True(t, strings.HasPrefix(remote.ErrKeySetUnavailable.Error(), "jwtauth: "))
}

// fakeModulus is the base64url of a random odd modulus of exactly bits
// bits: not an RSA key (nobody can sign with it), which a size check that
// runs before any use of the key cannot tell.
func fakeModulus(t testing.TB, bits int) string {
	t.Helper()
	b := make([]byte, (bits+7)/8)
	_, err := rand.Read(b)
	require.NoError(t, err)
	if r := bits % 8; r != 0 {
		b[0] &= byte(1<<r - 1)
		b[0] |= byte(1 << (r - 1))
	} else {
		b[0] |= 0x80
	}
	b[len(b)-1] |= 1
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestRemoteKeySetKeySizeBounds: the remote JWKS keeps RSA keys of 2048 to
// 8192 bits, and our bounds (not jwx's own 2048-bit floor) are what refuse
// the others: each refusal is logged with our reason.
func TestRemoteKeySetKeySizeBounds(t *testing.T) {
	rf := newRemoteFixture(t, nil)
	ctx := t.Context()
	weak := keystest.Weak(t)
	require.Equal(t, 1024, weak.N.BitLen())
	require.Equal(t, 2048, rf.Priv.N.BitLen())
	fake := func(kid string, bits int) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"kty":"RSA","kid":%q,"n":%q,"e":"AQAB"}`, kid, fakeModulus(t, bits)))
	}
	rf.origin.set(serveBody("application/json", jwksJSON(
		jwkJSON(t, &rf.Priv.PublicKey, rf.KID, nil),
		json.RawMessage(fmt.Sprintf(`{"kty":"RSA","kid":"rsa1024","n":%q,"e":"AQAB"}`, b64(string(weak.N.Bytes())))),
		fake("rsa2047", 2047),
		fake("rsa8192", 8192),
		fake("rsa8193", 8193),
		fake("rsa16384", 16384),
	)))
	require.NoError(t, rf.ks.Refresh(ctx))
	assert.ElementsMatch(t, []string{rf.KID, "rsa8192"}, rf.ks.KIDs(), "2048 and 8192 bits are in bounds")
	logs := rf.logs.String()
	for kid, bits := range map[string]int{"rsa1024": 1024, "rsa2047": 2047, "rsa8193": 8193, "rsa16384": 16384} {
		assert.Contains(t, logs, fmt.Sprintf(`kid \"%s\"): RSA modulus of %d bits (want 2048 to 8192)`, kid, bits))
	}

	_, err := rf.v.Verify(ctx, rf.issue(t))
	require.NoError(t, err, "the 2048-bit key verifies")
	_, err = rf.v.Verify(ctx, forge(t, weak, `{"alg":"RS256","kid":"rsa1024"}`, rf.Claims(nil)))
	require.ErrorIs(t, err, token.ErrUnknownKey, "the 1024-bit key is not in the set")
}

// TestRemoteKeySetHonoursWithdrawnKeys: a 200 with a well-formed JWK Set
// that holds no usable key is the issuer withdrawing every key: it replaces
// the set at once (it used to count as a failed fetch, and the last set was
// trusted for up to MaxStale). Invalid JSON and a 5xx still keep the last
// good set.
func TestRemoteKeySetHonoursWithdrawnKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(rf *remoteFixture) []byte
	}{
		{"empty set", func(*remoteFixture) []byte { return jwksJSON() }},
		{"only unusable keys", func(rf *remoteFixture) []byte {
			return jwksJSON(jwkJSON(t, &rf.Priv.PublicKey, rf.KID, map[string]any{"use": "enc"}))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rf := newRemoteFixture(t, nil)
			ctx := t.Context()
			tok := rf.issue(t)
			_, err := rf.v.Verify(ctx, tok)
			require.NoError(t, err)

			// A 5xx and invalid JSON do not touch the set.
			rf.origin.set(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusBadGateway) })
			require.ErrorIs(t, rf.ks.Refresh(ctx), remote.ErrJWKSFetch)
			rf.origin.set(serveBody("application/json", []byte(`{"keys":[`)))
			require.ErrorIs(t, rf.ks.Refresh(ctx), remote.ErrJWKSFetch)
			_, err = rf.v.Verify(ctx, tok)
			require.NoError(t, err, "the last good set is kept")

			rf.origin.set(serveBody("application/json", tc.set(rf)))
			require.NoError(t, rf.ks.Refresh(ctx), "a well-formed set is a successful fetch")
			require.NoError(t, rf.ks.LastError())
			assert.Empty(t, rf.ks.KIDs())
			_, err = rf.v.Verify(ctx, tok)
			require.ErrorIs(t, err, token.ErrUnknownKey, "the withdrawn key no longer verifies")
			assert.NotErrorIs(t, err, remote.ErrKeySetUnavailable)
			assert.Contains(t, rf.logs.String(), "remote jwks holds no usable key; every token is rejected")

			// The issuer publishes keys again: they verify after the next fetch.
			rf.origin.restore()
			rf.clk.Advance(remote.DefaultUnknownKIDInterval)
			_, err = rf.v.Verify(ctx, tok)
			require.NoError(t, err)
		})
	}
}

// TestRemoteKeySetUnknownKIDWaitIsBounded: with an origin that accepts the
// request and never answers (black-holed), a lookup of an unknown kid waits
// for the fetch at most UnknownKIDWait, or its ctx's deadline when that is
// sooner, and fails as an unknown key; a known kid never waits. Before, each
// unknown kid waited the whole fetch Timeout (10 s), one after another.
func TestRemoteKeySetUnknownKIDWaitIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		mgr, err := keys.Open(ctx, keys.Config{Store: memory.New(), Generate: keystest.Generator(t), Logger: quiet})
		require.NoError(t, err)
		iss, err := token.NewIssuer(token.IssuerConfig{Keys: mgr, Issuer: testIssuer, Audience: []string{testAudience}})
		require.NoError(t, err)
		jwks := jwtauth.NewJWKSHandler(mgr, 5*time.Minute)
		var blackHole atomic.Bool
		var requests atomic.Int64
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			if blackHole.Load() {
				<-r.Context().Done() // never answers; the client's timeout ends it
				return
			}
			jwks.ServeHTTP(w, r)
		})
		v, _, err := remote.NewVerifier(ctx, remote.Config{
			JWKSURL: "https://auth.example.com/.well-known/jwks.json", HTTPClient: &http.Client{Transport: handlerTransport{h}}, Logger: quiet,
		}, token.VerifierConfig{Issuer: testIssuer, Audience: []string{testAudience}})
		require.NoError(t, err)
		known, err := iss.Issue(ctx, "alice")
		require.NoError(t, err)
		outsider := keystest.Keys(t)[len(keystest.Keys(t))-1]
		unknown := func(i int) string {
			claims := fmt.Sprintf(`{"iss":%q,"aud":%q,"sub":"x","exp":%d}`, testIssuer, testAudience, time.Now().Add(time.Hour).Unix())
			return forge(t, outsider, fmt.Sprintf(`{"alg":"RS256","kid":"forged-%d"}`, i), claims)
		}
		timed := func(ctx context.Context, tok string) (time.Duration, error) {
			synctest.Wait() // a fetch that ended at this instant has finished
			start := time.Now()
			_, err := v.Verify(ctx, tok)
			return time.Since(start), err
		}

		blackHole.Store(true)
		time.Sleep(remote.DefaultUnknownKIDInterval)
		// 30 unknown kids one after another span three fetch timeouts (10 s
		// each): each waits UnknownKIDWait, whether it started the fetch or
		// joined it.
		for i := range 30 {
			d, err := timed(ctx, unknown(i))
			require.ErrorIs(t, err, token.ErrUnknownKey)
			require.Equal(t, remote.DefaultUnknownKIDWait, d, "unknown kid #%d", i)
		}
		assert.EqualValues(t, 4, requests.Load(), "the first fetch, then one fetch per Timeout")

		// While a fetch hangs, a known kid is answered at once, and a caller
		// whose deadline is sooner than UnknownKIDWait waits until it.
		d, err := timed(ctx, unknown(99))
		require.ErrorIs(t, err, token.ErrUnknownKey)
		require.Equal(t, remote.DefaultUnknownKIDWait, d)
		d, err = timed(ctx, known.Raw)
		require.NoError(t, err)
		assert.Zero(t, d, "a known kid does not wait for the fetch in flight")
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		d, err = timed(short, unknown(100))
		require.ErrorIs(t, err, token.ErrUnknownKey)
		assert.Equal(t, 300*time.Millisecond, d)

		// When the origin answers again, the next fetch brings the new key.
		blackHole.Store(false)
		_, err = mgr.Rotate(ctx, true)
		require.NoError(t, err)
		_, err = mgr.Rotate(ctx, true)
		require.NoError(t, err)
		tok, err := iss.Issue(ctx, "bob")
		require.NoError(t, err)
		time.Sleep(remote.DefaultFetchTimeout + remote.DefaultUnknownKIDInterval)
		d, err = timed(ctx, tok.Raw)
		require.NoError(t, err)
		assert.Less(t, d, remote.DefaultUnknownKIDWait, "a fetch that answers is awaited")
	})
}

// TestRemoteKeySetRefusesRedirectToAnotherOrigin is the attack of issue 16
// part 3: an https JWKS URL answering 302 to a plain http server that serves
// an attacker's key made the attacker's token verify as sub=admin. A
// redirect that changes the scheme or the host is now a failed fetch, the
// last good set stays, and the attacker's token is rejected.
func TestRemoteKeySetRefusesRedirectToAnotherOrigin(t *testing.T) {
	f := newFixture(t)
	attacker := f.Outsider(t)
	evilJWKS := serveBody("application/json", jwksJSON(jwkJSON(t, &attacker.PublicKey, "evil", nil)))
	evilHTTP := httptest.NewServer(evilJWKS) // plain http, loopback
	defer evilHTTP.Close()
	evilTLS := httptest.NewTLSServer(evilJWKS) // https, another port
	defer evilTLS.Close()
	forged := forge(t, attacker, `{"alg":"RS256","kid":"evil"}`, f.Claims(func(m map[string]any) { m["sub"] = "admin" }))

	real := jwtauth.NewJWKSHandler(f.Mgr, 5*time.Minute)
	var redirectTo atomic.Pointer[string]
	origin := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch to := redirectTo.Load(); {
		case r.URL.Path == "/old":
			http.Redirect(w, r, "/jwks.json", http.StatusMovedPermanently)
		case to != nil:
			http.Redirect(w, r, *to, http.StatusFound)
		default:
			real.ServeHTTP(w, r)
		}
	}))
	defer origin.Close()
	client := origin.Client() // trusts the test certificate of every httptest TLS server
	newVerifier := func(url string) (*token.Verifier, *remote.KeySet, error) {
		return remote.NewVerifier(t.Context(), remote.Config{JWKSURL: url, HTTPClient: client, Logger: quiet},
			token.VerifierConfig{Issuer: testIssuer, Audience: []string{testAudience}, Now: func() time.Time { return f.Now }})
	}

	// A redirect within the origin is followed.
	v, ks, err := newVerifier(origin.URL + "/old")
	require.NoError(t, err)
	defer ks.Close()
	_, err = v.Verify(t.Context(), forge(t, f.Priv, f.Header(), f.Claims(nil)))
	require.NoError(t, err)
	assert.Nil(t, client.CheckRedirect, "the caller's client is not modified")

	for name, to := range map[string]string{
		"https to http":         evilHTTP.URL + "/jwks.json",
		"https to another host": evilTLS.URL + "/jwks.json",
	} {
		t.Run(name, func(t *testing.T) {
			redirectTo.Store(&to)
			defer redirectTo.Store(nil)
			err := ks.Refresh(t.Context())
			require.ErrorIs(t, err, remote.ErrJWKSFetch)
			assert.ErrorContains(t, err, "redirect refused")
			assert.ErrorContains(t, err, "changes the scheme or host")
			_, err = v.Verify(t.Context(), forged)
			require.ErrorIs(t, err, token.ErrUnknownKey, "the attacker's key is not trusted")
			_, err = v.Verify(t.Context(), forge(t, f.Priv, f.Header(), f.Claims(nil)))
			require.NoError(t, err, "the last good set stays")

			_, _, err = newVerifier(origin.URL + "/jwks.json")
			require.ErrorIs(t, err, remote.ErrJWKSFetch, "a new key set refuses it too")
			assert.ErrorContains(t, err, "redirect refused")
		})
	}

	// The caller's own redirect policy still applies after ours.
	strict := *client
	strict.CheckRedirect = func(*http.Request, []*http.Request) error { return errors.New("no redirects here") }
	_, err = remote.NewKeySet(t.Context(), remote.Config{JWKSURL: origin.URL + "/old", HTTPClient: &strict, Logger: quiet})
	require.ErrorIs(t, err, remote.ErrJWKSFetch)
	assert.ErrorContains(t, err, "no redirects here")
}

// TestRemoteConfigRequiresHTTPS: JWKS, issuer and discovered jwks_uri URLs
// must be https; plain http only for a loopback host or with
// InsecureAllowHTTP.
func TestRemoteConfigRequiresHTTPS(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  remote.Config
		want string // "" when accepted
	}{
		{"http JWKS URL", remote.Config{JWKSURL: "http://auth.example.com/.well-known/jwks.json"},
			`jwtauth: remote.Config.JWKSURL: "http://auth.example.com/.well-known/jwks.json" is plain http: use https (http is accepted only for a loopback host, 127.0.0.0/8, ::1 or localhost, or with InsecureAllowHTTP)`},
		{"http issuer", remote.Config{Issuer: "http://auth.example.com"}, `remote.Config.Issuer: "http://auth.example.com" is plain http`},
		{"http issuer beside an https JWKS URL", remote.Config{JWKSURL: "https://auth.example.com/jwks", Issuer: "http://auth.example.com"}, "is plain http"},
		{"loopback-looking name", remote.Config{JWKSURL: "http://127.0.0.1.example.com/jwks"}, "is plain http"},
		{"localhost subdomain", remote.Config{JWKSURL: "http://localhost.example.com/jwks"}, "is plain http"},
		{"unspecified address", remote.Config{JWKSURL: "http://0.0.0.0:8080/jwks"}, "is plain http"},
		{"private address", remote.Config{JWKSURL: "http://10.0.0.1/jwks"}, "is plain http"},
		{"not http", remote.Config{JWKSURL: "ftp://auth.example.com/jwks"}, "is not an absolute URL: give the scheme and host"},
		{"issuer without a scheme", remote.Config{Issuer: "127.0.0.1:8080/auth"}, `remote.Config.Issuer: "127.0.0.1:8080/auth" is not an absolute URL: give the scheme and host, https://host/… (http only for a loopback host)`},
		{"https", remote.Config{JWKSURL: "https://auth.example.com/jwks", Issuer: "https://auth.example.com"}, ""},
		{"127.0.0.1", remote.Config{JWKSURL: "http://127.0.0.1:8080/jwks"}, ""},
		{"127.8.9.10", remote.Config{Issuer: "http://127.8.9.10"}, ""},
		{"::1", remote.Config{JWKSURL: "http://[::1]:8080/jwks"}, ""},
		{"IPv4-mapped loopback", remote.Config{JWKSURL: "http://[::ffff:127.0.0.1]/jwks"}, ""},
		{"localhost", remote.Config{JWKSURL: "http://LocalHost:8080/jwks"}, ""},
		{"InsecureAllowHTTP", remote.Config{JWKSURL: "http://auth.internal/jwks", Issuer: "http://auth.internal", InsecureAllowHTTP: true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Lazy = true // no fetch: the URLs are checked at construction
			cfg.Logger = quiet
			ks, err := remote.NewKeySet(t.Context(), cfg)
			if tc.want == "" {
				require.NoError(t, err)
				require.NoError(t, ks.Close())
				return
			}
			require.Error(t, err)
			assert.NotErrorIs(t, err, remote.ErrJWKSFetch, "a configuration error, found before any request")
			assert.ErrorContains(t, err, tc.want)
		})
	}

	// A discovered jwks_uri follows the same rule.
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux) // http on 127.0.0.1: allowed
	defer srv.Close()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":"http://auth.example.com/.well-known/jwks.json"}`, srv.URL)
	})
	_, err := remote.NewKeySet(t.Context(), remote.Config{Issuer: srv.URL, Logger: quiet})
	require.ErrorIs(t, err, remote.ErrJWKSFetch)
	assert.ErrorContains(t, err, `jwks_uri: "http://auth.example.com/.well-known/jwks.json" is plain http`)
}

// TestRemoteErrorTextCarriesThePrefixOnce: a chain of this package's errors
// names the package once (it read "jwtauth: unknown signing key: kid …:
// jwtauth: remote key set unavailable: no good key set yet: jwtauth: jwks
// fetch failed: …"), and errors.Is still finds each sentinel.
func TestRemoteErrorTextCarriesThePrefixOnce(t *testing.T) {
	f := newFixture(t)
	o := newOrigin(t, jwtauth.NewJWKSHandler(f.Mgr, 0))
	o.set(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
	v, ks, err := remote.NewVerifier(t.Context(), remote.Config{JWKSURL: o.srv.URL + "/jwks.json", Lazy: true, Logger: quiet},
		token.VerifierConfig{Issuer: testIssuer, Audience: []string{testAudience}, Now: func() time.Time { return f.Now }})
	require.NoError(t, err)
	defer ks.Close()

	_, err = v.Verify(t.Context(), forge(t, f.Priv, f.Header(), f.Claims(nil)))
	require.Error(t, err)
	assert.Equal(t, `jwtauth: unknown signing key: kid "`+f.KID+`": remote key set unavailable: no good key set yet: jwks fetch failed: `+o.srv.URL+`/jwks.json: HTTP status 503`, err.Error())
	assert.ErrorIs(t, err, token.ErrUnknownKey)
	assert.ErrorIs(t, err, remote.ErrKeySetUnavailable)
	assert.ErrorIs(t, err, remote.ErrJWKSFetch)
	assert.Equal(t, 1, strings.Count(err.Error(), "jwtauth: "))
}

// TestCacheRemoteKeySetRefreshWhileCached: a remote verifier's cached
// token follows each refresh of the key set at once: a replaced key refuses
// it, the original key (a new value) accepts it again, revocation refuses it.
func TestCacheRemoteKeySetRefreshWhileCached(t *testing.T) {
	rf := newRemoteFixture(t, nil)
	ctx := t.Context()
	var hit bool // of the last cache lookup
	v, err := token.NewVerifier(token.VerifierConfig{Keys: rf.ks, Issuer: testIssuer, Audience: []string{testAudience}, Now: rf.clk.Now,
		Trace: &token.VerifierTrace{CacheLookup: func(h bool) { hit = h }}})
	require.NoError(t, err)
	tok := rf.issue(t)
	verify := func() error { _, err := v.Verify(ctx, tok); return err }
	require.NoError(t, verify())
	require.False(t, hit)
	require.NoError(t, verify())
	require.True(t, hit, "cached")

	rf.origin.set(serveBody("application/json", jwksJSON(jwkJSON(t, &rf.Outsider(t).PublicKey, rf.KID, nil))))
	require.NoError(t, rf.ks.Refresh(ctx))
	assert.ErrorIs(t, verify(), token.ErrInvalidSignature, "the kid names another key now")
	assert.False(t, hit, "the cached verification does not answer for another key")

	rf.origin.restore()
	require.NoError(t, rf.ks.Refresh(ctx))
	require.NoError(t, verify())
	require.NoError(t, verify())
	require.True(t, hit, "cached again")

	require.NoError(t, rf.Mgr.Revoke(ctx, rf.KID))
	require.NoError(t, verify(), "not refreshed yet")
	require.NoError(t, rf.ks.Refresh(ctx))
	assert.ErrorIs(t, verify(), token.ErrUnknownKey)
}
