package authn_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/dpop"
	"github.com/jwtauth/jwtauth/jwtauth/token"
)

type failingReplay struct{}

func (failingReplay) Seen(context.Context, string, time.Time, time.Time) (bool, error) {
	return false, errors.New("replay store down")
}

// blockingReplay waits for its context, as a store behind a held lock does.
type blockingReplay struct{}

func (blockingReplay) Seen(ctx context.Context, _ string, _, _ time.Time) (bool, error) {
	<-ctx.Done()
	return false, ctx.Err()
}

// TestDPoPPublicURLNonceAndStore: htu is PublicURL plus the request's path
// (behind a prefix-stripping proxy), a server nonce is asked for with
// use_dpop_nonce and DPoP-Nonce (RFC 9449 §9), and a failing replay cache
// is the server's 503, not the client's 401.
func TestDPoPPublicURLNonceAndStore(t *testing.T) {
	f := newFixture(t)
	clock := func() time.Time { return f.Now }
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	jkt, err := dpop.Thumbprint(key.Public())
	require.NoError(t, err)
	tok, err := f.Issuer.IssueWith(context.Background(), "alice", map[string]any{"cnf": map[string]string{"jkt": jkt}})
	require.NoError(t, err)
	serve := func(cfg dpop.Config, publicURL, htu string, nonce string) *httptest.ResponseRecorder {
		cfg.Now = clock
		pv, err := dpop.NewVerifier(cfg)
		require.NoError(t, err)
		a := &authn.Authenticator{Verifier: f.Verifier, DPoP: &authn.DPoPConfig{Verifier: pv, PublicURL: publicURL}}
		proof, err := dpop.NewProof(key, "GET", htu, dpop.ProofOptions{AccessToken: tok.Raw, Now: f.Now, Nonce: nonce})
		require.NoError(t, err)
		r := httptest.NewRequest("GET", "/orders/7?x=1", nil)
		r.Header.Set("Authorization", "DPoP "+tok.Raw)
		r.Header.Set("DPoP", proof)
		w := httptest.NewRecorder()
		a.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })).ServeHTTP(w, r)
		return w
	}
	assert.Equal(t, http.StatusNoContent, serve(dpop.Config{}, "https://api.example.com/svc/", "https://api.example.com/svc/orders/7", "").Code)
	w := serve(dpop.Config{}, "https://api.example.com/svc", "http://example.com/orders/7", "")
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Equal(t, `DPoP error="invalid_dpop_proof", algs="ES256 EdDSA"`, w.Header().Get("WWW-Authenticate"))
	assert.JSONEq(t, `{"error":"invalid_dpop_proof","error_description":"the DPoP proof is not valid: `+
		`htu does not match the request URL, expected https://api.example.com/svc/orders/7"}`, w.Body.String(), "the client is told the URL to name")
	assert.Equal(t, http.StatusNoContent, serve(dpop.Config{}, "", "http://example.com/orders/7", "").Code)

	nonces, err := dpop.NewRotatingNonces(make([]byte, 32), time.Minute, clock)
	require.NoError(t, err)
	w = serve(dpop.Config{Nonce: nonces}, "", "http://example.com/orders/7", "")
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Equal(t, `DPoP error="use_dpop_nonce", algs="ES256 EdDSA"`, w.Header().Get("WWW-Authenticate"))
	n := w.Header().Get("DPoP-Nonce")
	require.NotEmpty(t, n)
	assert.JSONEq(t, `{"error":"use_dpop_nonce","error_description":"the DPoP proof is not valid: `+
		`nonce required"}`, w.Body.String())
	assert.Equal(t, http.StatusNoContent, serve(dpop.Config{Nonce: nonces}, "", "http://example.com/orders/7", n).Code)

	w = serve(dpop.Config{Replay: failingReplay{}}, "", "http://example.com/orders/7", "")
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.NotContains(t, w.Body.String(), "replay store down")
	// A replay cache past its ReplayTimeout is the DPoP check's failure, not the signing keys'.
	w = serve(dpop.Config{Replay: blockingReplay{}, ReplayTimeout: time.Millisecond}, "", "http://example.com/orders/7", "")
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.JSONEq(t, `{"error":"temporarily_unavailable","error_description":"DPoP proofs cannot be checked right now; try again later"}`, w.Body.String())
}

// A request authenticated with the DPoP scheme that a requirement refuses
// gets 403 insufficient_scope with the DPoP challenge (RFC 9449 §7.1, RFC
// 6750 §3.1), from Authorize and from Requirement.Middleware, with the
// verifier's algs; a bearer request keeps the Bearer challenge.
func TestDPoPInsufficientScope(t *testing.T) {
	f := newFixture(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	jkt, err := dpop.Thumbprint(key.Public())
	require.NoError(t, err)
	bound, err := f.Issuer.IssueWith(context.Background(), "alice", map[string]any{
		"cnf": map[string]string{"jkt": jkt}, "scope": "orders:read", "roles": []string{"viewer"}})
	require.NoError(t, err)
	plain, err := f.Issuer.IssueWith(context.Background(), "bob", map[string]any{"scope": "orders:read"})
	require.NoError(t, err)
	pv, err := dpop.NewVerifier(dpop.Config{Algs: []string{dpop.EdDSA, dpop.ES256}, Now: func() time.Time { return f.Now }})
	require.NoError(t, err)
	a := &authn.Authenticator{Verifier: f.Verifier, Realm: "shop", DPoP: &authn.DPoPConfig{Verifier: pv}}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	serve := func(h http.Handler, dpopScheme bool) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/orders", nil)
		if dpopScheme {
			proof, err := dpop.NewProof(key, "GET", "http://example.com/orders", dpop.ProofOptions{AccessToken: bound.Raw, Now: f.Now})
			require.NoError(t, err)
			r.Header.Set("Authorization", "DPoP "+bound.Raw)
			r.Header.Set("DPoP", proof)
		} else {
			r.Header.Set("Authorization", "Bearer "+plain.Raw)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	const algs = `algs="EdDSA ES256"`
	for _, tt := range []struct {
		name       string
		req        authn.Requirement
		dpop, bear string
	}{
		{"scopes", authn.RequireScopes("orders:write"),
			`DPoP error="insufficient_scope", ` + algs + `, error_description="the token lacks a required scope", scope="orders:write"`,
			`Bearer realm="shop", error="insufficient_scope", error_description="the token lacks a required scope", scope="orders:write"`},
		{"any scope", authn.RequireAnyScope("orders:write", "admin"),
			`DPoP error="insufficient_scope", ` + algs + `, error_description="the token has none of the accepted scopes", scope="orders:write admin"`,
			`Bearer realm="shop", error="insufficient_scope", error_description="the token has none of the accepted scopes", scope="orders:write admin"`},
		{"roles", authn.RequireRoles("admin"),
			`DPoP error="insufficient_scope", ` + algs + `, error_description="the token lacks a required role"`,
			`Bearer realm="shop", error="insufficient_scope", error_description="the token lacks a required role"`},
		{"predicate", authn.Require(func(*token.Claims) bool { return false }),
			`DPoP error="insufficient_scope", ` + algs + `, error_description="the token does not grant access to this resource"`,
			`Bearer realm="shop", error="insufficient_scope", error_description="the token does not grant access to this resource"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for name, h := range map[string]http.Handler{
				"Authorize":              a.Middleware(tt.req)(ok),
				"Requirement.Middleware": a.Middleware()(tt.req.Middleware(ok)),
			} {
				w := serve(h, true)
				assert.Equal(t, http.StatusForbidden, w.Code, name)
				assert.Equal(t, []string{tt.dpop}, w.Header().Values("WWW-Authenticate"), name)
				assert.Contains(t, w.Body.String(), `"error":"insufficient_scope"`, name)
				w = serve(h, false)
				assert.Equal(t, http.StatusForbidden, w.Code, name)
				if name == "Authorize" {
					assert.Equal(t, []string{tt.bear}, w.Header().Values("WWW-Authenticate"), name)
				} else {
					// Requirement.Middleware knows no realm of an authenticated request.
					assert.Contains(t, w.Header().Get("WWW-Authenticate"), `Bearer realm="jwtauth", error="insufficient_scope"`, name)
				}
			}
		})
	}
	assert.Equal(t, http.StatusNoContent, serve(a.Middleware(authn.RequireScopes("orders:read"))(ok), true).Code)
}

// A malformed request whose credentials used the DPoP scheme (two tokens,
// two Authorization headers) gets the DPoP challenge; the same with Bearer
// keeps the Bearer one, and without DPoP the scheme is not read.
func TestDPoPSchemeMalformed(t *testing.T) {
	f := newFixture(t)
	pv, err := dpop.NewVerifier(dpop.Config{})
	require.NoError(t, err)
	const dpopCh = `DPoP error="invalid_token", algs="ES256 EdDSA", error_description="the token is malformed"`
	const bearerCh = `Bearer realm="jwtauth", error="invalid_token", error_description="the token is malformed"`
	cookie := []authn.TokenSource{authn.HeaderSource("Authorization"), authn.CookieSource("at")}
	for _, tt := range []struct {
		name    string
		sources []authn.TokenSource
		dpopOff bool
		header  []string
		want    string
	}{
		{"two tokens", nil, false, []string{"Authorization", "DPoP a.b.c", "X-Access-Token", "d.e.f"}, dpopCh},
		{"two Authorization headers", nil, false, []string{"Authorization", "Bearer a.b.c", "Authorization", "DPoP a.b.c"}, dpopCh},
		{"two x-access-token headers", nil, false, []string{"Authorization", "DPoP a.b.c", "X-Access-Token", "a.b.c", "X-Access-Token", "d.e.f"}, dpopCh},
		{"sources: two tokens", cookie, false, []string{"Authorization", "DPoP a.b.c", "Cookie", "at=d.e.f"}, dpopCh},
		{"sources: two Authorization headers", cookie, false, []string{"Authorization", "DPoP a.b.c", "Authorization", "Bearer a.b.c"}, dpopCh},
		{"bearer: two tokens", nil, false, []string{"Authorization", "Bearer a.b.c", "X-Access-Token", "d.e.f"}, bearerCh},
		{"sources, bearer: two tokens", cookie, false, []string{"Authorization", "Bearer a.b.c", "Cookie", "at=d.e.f"}, bearerCh},
		{"DPoP off: two Authorization headers", nil, true, []string{"Authorization", "Bearer a.b.c", "Authorization", "DPoP a.b.c"}, bearerCh},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := &authn.Authenticator{Verifier: f.Verifier, Sources: tt.sources, DPoP: &authn.DPoPConfig{Verifier: pv}}
			if tt.dpopOff {
				a.DPoP = nil
			}
			r := httptest.NewRequest("GET", "/orders", nil)
			for i := 0; i < len(tt.header); i += 2 {
				r.Header.Add(tt.header[i], tt.header[i+1])
			}
			w := httptest.NewRecorder()
			a.Middleware()(http.NotFoundHandler()).ServeHTTP(w, r)
			assert.Equal(t, http.StatusUnauthorized, w.Code)
			assert.Equal(t, []string{tt.want}, w.Header().Values("WWW-Authenticate"))
			assert.JSONEq(t, `{"error":"invalid_token","error_description":"the token is malformed"}`, w.Body.String())
		})
	}
}

// TestDPoPMissingTokenNamesTheScheme: a request without a token is told
// which credentials the route takes, in its challenges and its
// error_description: Bearer sources alone without DPoP, Bearer sources or
// the DPoP scheme when DPoP is allowed, and the DPoP scheme alone when it
// is required, by the Authenticator or by the route (RequireDPoP).
func TestDPoPMissingTokenNamesTheScheme(t *testing.T) {
	f := newFixture(t)
	pv, err := dpop.NewVerifier(dpop.Config{})
	require.NoError(t, err)
	const dpopText = "Authorization: DPoP <token> with a DPoP proof"
	const sources = "Authorization: Bearer <token> or x-access-token"
	for _, c := range []struct {
		name       string
		cfg        *authn.DPoPConfig
		reqs       []authn.Requirement
		challenges []string
		desc       string
	}{
		{"no DPoP", nil, nil, []string{`Bearer realm="jwtauth"`}, "an access token is required (" + sources + ")"},
		{"allowed", &authn.DPoPConfig{Verifier: pv}, nil,
			[]string{`Bearer realm="jwtauth"`, `DPoP algs="ES256 EdDSA"`}, "an access token is required (" + sources + ", or " + dpopText + ")"},
		{"required", &authn.DPoPConfig{Verifier: pv, Mode: authn.DPoPRequired}, nil,
			[]string{`DPoP algs="ES256 EdDSA"`}, "a DPoP-bound access token is required (" + dpopText + ")"},
		{"allowed, route RequireDPoP", &authn.DPoPConfig{Verifier: pv}, []authn.Requirement{authn.RequireDPoP()},
			[]string{`DPoP algs="ES256 EdDSA"`}, "a DPoP-bound access token is required (" + dpopText + ")"},
		{"no DPoP, route RequireDPoP", nil, []authn.Requirement{authn.RequireDPoP()},
			[]string{`Bearer realm="jwtauth"`}, "an access token is required (" + sources + ")"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := &authn.Authenticator{Verifier: f.Verifier, DPoP: c.cfg}
			w := httptest.NewRecorder()
			reached := false
			a.Middleware(c.reqs...)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true })).
				ServeHTTP(w, httptest.NewRequest("GET", "/orders", nil))
			assert.False(t, reached)
			assert.Equal(t, http.StatusUnauthorized, w.Code)
			assert.Equal(t, c.challenges, w.Header().Values("WWW-Authenticate"))
			assert.JSONEq(t, `{"error":"unauthorized","error_description":"`+c.desc+`"}`, w.Body.String())
		})
	}
}
