package jwtauthtest_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/nethttp"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/dpop"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/jwtauthtest"
)

// A DPoPKey's proofs verify for its method, URL and token, carry its
// thumbprint, and take iat from the clock it was made with: the server's
// for Server.NewDPoPKey (so DPoPVerifier accepts them after Advance), the
// real one for NewDPoPKey.
func TestDPoPKeyProofs(t *testing.T) {
	srv := jwtauthtest.NewServer(t)
	key := srv.NewDPoPKey()
	jkt, err := dpop.Thumbprint(key.Signer().Public())
	require.NoError(t, err)
	assert.Equal(t, jkt, key.JKT())
	assert.Len(t, key.JKT(), 43)
	assert.NotEqual(t, key.JKT(), srv.NewDPoPKey().JKT(), "every key is fresh")

	srv.Advance(time.Hour)
	const url = "https://api.example.com/orders"
	p, err := srv.DPoPVerifier().Verify(context.Background(), dpop.ProofRequest{
		Header: []string{key.Proof("PATCH", url+"?page=2", "tok")}, Method: "PATCH", URL: url, AccessToken: "tok", JKT: key.JKT()})
	require.NoError(t, err)
	assert.Equal(t, srv.Now(), p.IAT, "iat is the server's clock")
	assert.Equal(t, dpop.ATH("tok"), p.ATH)
	assert.Equal(t, url, p.HTU, "no query in htu")
	assert.Equal(t, dpop.ES256, p.Alg)
	assert.NotEmpty(t, p.JTI)

	// ProofWith: a nonce, a chosen jti and iat.
	iat := srv.Now().Add(-30 * time.Second)
	p, err = srv.DPoPVerifier().Verify(context.Background(), dpop.ProofRequest{
		Header: []string{key.ProofWith("POST", url, dpop.ProofOptions{Nonce: "n1", JTI: "j1", Now: iat})}, Method: "POST", URL: url})
	require.NoError(t, err)
	assert.Equal(t, []any{"n1", "j1", iat, ""}, []any{p.Nonce, p.JTI, p.IAT, p.ATH})

	// The server's key's proofs are an hour ahead of the real clock; a
	// NewDPoPKey's are not.
	real, err := dpop.NewVerifier(dpop.Config{})
	require.NoError(t, err)
	_, err = real.Verify(context.Background(), dpop.ProofRequest{Header: []string{key.Proof("GET", url, "")}, Method: "GET", URL: url})
	assert.ErrorContains(t, err, "iat in the future")
	plain := jwtauthtest.NewDPoPKey(t)
	_, err = real.Verify(context.Background(), dpop.ProofRequest{Header: []string{plain.Proof("GET", url, "")}, Method: "GET", URL: url})
	assert.NoError(t, err)
	_, err = srv.DPoPVerifier().Verify(context.Background(), dpop.ProofRequest{Header: []string{plain.Proof("GET", url, "")}, Method: "GET", URL: url})
	assert.ErrorContains(t, err, "iat too old")
}

// Authorize sets Authorization: DPoP and a proof for the request's method
// and URL (absolute, or http(s)://Host/path as httptest leaves it), or
// only the proof without a token; MintBound binds the token to the key.
func TestDPoPKeyAuthorize(t *testing.T) {
	srv := jwtauthtest.NewServer(t)
	key := srv.NewDPoPKey()
	tok := srv.MintBound(jwtauthtest.Token{Subject: "alice", Roles: []string{"admin"}}, key)
	c, err := srv.Verifier().Verify(context.Background(), tok)
	require.NoError(t, err)
	assert.Equal(t, key.JKT(), c.JKT())
	assert.Equal(t, []string{"admin"}, c.Roles())

	verify := func(req *http.Request, url, accessToken string) error {
		t.Helper()
		_, err := srv.DPoPVerifier().Verify(context.Background(), dpop.ProofRequest{
			Header: req.Header.Values("DPoP"), Method: req.Method, URL: url, AccessToken: accessToken, JKT: key.JKT()})
		return err
	}
	req := httptest.NewRequest(http.MethodDelete, "/orders/7?force=1", nil)
	key.Authorize(req, tok)
	assert.Equal(t, "DPoP "+tok, req.Header.Get("Authorization"))
	assert.NoError(t, verify(req, "http://example.com/orders/7", tok))

	req = httptest.NewRequest(http.MethodGet, "/a%2Fb", nil)
	req.TLS = &tls.ConnectionState{}
	req.Host = "api.example.com:8443"
	key.Authorize(req, tok)
	assert.NoError(t, verify(req, "https://api.example.com:8443/a%2Fb", tok))

	req, err = http.NewRequest(http.MethodPost, srv.URL+"/login", nil)
	require.NoError(t, err)
	key.Authorize(req, "")
	assert.Empty(t, req.Header.Values("Authorization"), "a token endpoint's request: the proof only")
	assert.NoError(t, verify(req, srv.URL+"/login", ""))
}

// The documented wiring: an Authenticator over Verifier and DPoPVerifier
// admits a bound token with a fresh proof, before and after Advance, and
// refuses it with a reused proof, as Bearer or with another key's proof;
// expiry still follows the clock.
func TestDPoPMiddleware(t *testing.T) {
	srv := jwtauthtest.NewServer(t)
	auth := &authn.Authenticator{Verifier: srv.Verifier(), DPoP: &authn.DPoPConfig{Verifier: srv.DPoPVerifier()}}
	called := 0
	h := nethttp.Middleware(auth)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called++
		c, _ := token.ClaimsFromContext(r.Context())
		_, _ = w.Write([]byte(c.Subject))
	}))
	serve := func(req *http.Request) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	key, other := srv.NewDPoPKey(), srv.NewDPoPKey()
	tok := srv.MintBound(jwtauthtest.Token{Subject: "alice"}, key)
	get := func(k *jwtauthtest.DPoPKey) *http.Request {
		req := httptest.NewRequest(http.MethodGet, "/orders", nil)
		k.Authorize(req, tok)
		return req
	}

	req := get(key)
	w := serve(req)
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "alice", w.Body.String())
	w = serve(req)
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Equal(t, `DPoP error="invalid_dpop_proof", algs="ES256 EdDSA"`, w.Header().Get("WWW-Authenticate"))
	assert.Equal(t, http.StatusUnauthorized, serve(get(other)).Code)

	srv.Advance(14 * time.Minute)
	assert.Equal(t, http.StatusOK, serve(get(key)).Code, "proofs follow the server's clock")
	srv.Advance(2 * time.Minute)
	w = serve(get(key))
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Contains(t, w.Body.String(), "the token has expired")
	assert.Equal(t, 2, called)
}

// Without a testing.TB a proof for a relative URL panics; with one it
// fails the test.
func TestDPoPKeyErrors(t *testing.T) {
	assert.PanicsWithValue(t, "jwtauthtest: DPoP proof: dpop: htu is not an absolute URL", func() {
		jwtauthtest.NewDPoPKey(nil).Proof("GET", "/orders", "")
	})
	tb := &fakeTB{TB: t}
	key := jwtauthtest.NewDPoPKey(tb)
	assert.Equal(t, "jwtauthtest: DPoP proof: dpop: htu is not an absolute URL", tb.run(func() { key.Proof("GET", "/orders", "") }))
	assert.Contains(t, tb.run(func() { key.ProofWith("GET", "https://x.test/", dpop.ProofOptions{Alg: dpop.RS256}) }), "does not fit")
}

// DPoPVerifier is one verifier per server (one replay cache), whoever asks.
func TestDPoPVerifierShared(t *testing.T) {
	srv := jwtauthtest.NewServer(t)
	assert.Same(t, srv.DPoPVerifier(), srv.DPoPVerifier())
	assert.NotSame(t, srv.DPoPVerifier(), jwtauthtest.NewServer(t).DPoPVerifier())
	key := srv.NewDPoPKey()
	p := key.Proof("GET", "https://x.test/", "")
	req := dpop.ProofRequest{Header: []string{p}, Method: "GET", URL: "https://x.test/"}
	_, err := srv.DPoPVerifier().Verify(context.Background(), req)
	require.NoError(t, err)
	_, err = srv.DPoPVerifier().Verify(context.Background(), req)
	assert.ErrorContains(t, err, "jti already used (replay)")
}
