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
)

type failingReplay struct{}

func (failingReplay) Seen(context.Context, string, time.Time, time.Time) (bool, error) {
	return false, errors.New("replay store down")
}

// TestDPoPPublicURLNonceAndStore: htu is PublicURL plus the request's path
// (behind a prefix-stripping proxy), a server nonce is asked for with
// use_dpop_nonce and DPoP-Nonce (RFC 9449 §9), and a failing replay cache
// is the server's 503, not the client's 401.
func TestDPoPPublicURLNonceAndStore(t *testing.T) {
	f := newFixture(t)
	clock := func() time.Time { return f.now }
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	jkt, err := dpop.Thumbprint(key.Public())
	require.NoError(t, err)
	tok, err := f.issuer.IssueWith(context.Background(), "alice", map[string]any{"cnf": map[string]string{"jkt": jkt}})
	require.NoError(t, err)
	serve := func(cfg dpop.Config, publicURL, htu string, nonce string) *httptest.ResponseRecorder {
		cfg.Now = clock
		pv, err := dpop.NewVerifier(cfg)
		require.NoError(t, err)
		a := &authn.Authenticator{Verifier: f.verifier, DPoP: &authn.DPoPConfig{Verifier: pv, PublicURL: publicURL}}
		proof, err := dpop.NewProof(key, "GET", htu, dpop.ProofOptions{AccessToken: tok.Raw, Now: f.now, Nonce: nonce})
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
}
