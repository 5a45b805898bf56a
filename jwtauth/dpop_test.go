package jwtauth_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/dpop"
)

const dpopIssuer = "https://app.example.test/auth"

// dpopService is a Service in mode with its routes on a mux under /auth,
// the protected ones behind the Service's Authenticator, and alice
// registered (by this Service or, on a shared store, another).
func dpopService(t *testing.T, cfg jwtauth.Config) (*jwtauth.Service, http.Handler) {
	t.Helper()
	cfg.Issuer, cfg.ServeProtected = dpopIssuer, true
	svc, _ := newTestService(t, cfg)
	mux := http.NewServeMux()
	for _, rt := range svc.Routes() {
		h := rt.Handler
		if rt.Protected {
			h = svc.Authenticator().Middleware()(h)
		}
		mux.Handle(rt.Method+" /auth"+rt.Path, h)
	}
	if err := svc.Accounts().Register(t.Context(), "alice", "correct horse battery"); !errors.Is(err, account.ErrUserExists) {
		require.NoError(t, err)
	}
	return svc, mux
}

func newP256(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return k
}

func proofFor(t *testing.T, key crypto.Signer, method, url string, opts dpop.ProofOptions) string {
	t.Helper()
	p, err := dpop.NewProof(key, method, url, opts)
	require.NoError(t, err)
	return p
}

func thumb(t *testing.T, key crypto.Signer) string {
	t.Helper()
	jkt, err := dpop.Thumbprint(key.Public())
	require.NoError(t, err)
	return jkt
}

// postJSON posts body to path (under https://app.example.test) with the
// given DPoP header values.
func postJSON(t *testing.T, h http.Handler, path string, body any, proofs ...string) *httptest.ResponseRecorder {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	r := httptest.NewRequest(http.MethodPost, "https://app.example.test"+path, bytes.NewReader(b))
	r.Header.Set("Content-Type", "application/json")
	for _, p := range proofs {
		r.Header.Add("DPoP", p)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

type tokenBody struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

func decodeBody(t *testing.T, w *httptest.ResponseRecorder) tokenBody {
	t.Helper()
	var b tokenBody
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &b), w.Body.String())
	return b
}

// getProtected calls GET /auth/protected with scheme ("Bearer" or "DPoP")
// and tok, and the proof when not empty.
func getProtected(t *testing.T, h http.Handler, scheme, tok, proof string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "https://app.example.test/auth/protected", nil)
	r.Header.Set("Authorization", scheme+" "+tok)
	if proof != "" {
		r.Header.Set("DPoP", proof)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

const (
	loginURL   = dpopIssuer + "/login"
	refreshURL = dpopIssuer + "/refresh"
)

var aliceCreds = map[string]string{"username": "alice", "password": "correct horse battery"}

// TestDPoPIssuingAllowed: in the default mode, /login with a valid proof
// answers token_type DPoP with cnf.jkt the proof key's thumbprint; the
// token works at /protected with a proof by that key and not as Bearer; a
// refresh without a proof or by another key is 400 invalid_dpop_proof with
// the DPoP challenge and spends nothing (the token then works with the
// right key); a replayed proof, a proof for another URL and a proof with a
// wrong password are 400 invalid_dpop_proof (the proof is checked before
// the password); the issuer URL, not the Host header, is the htu; a login
// without a proof is Bearer as before; the metadata advertises the algs.
func TestDPoPIssuingAllowed(t *testing.T) {
	svc, h := dpopService(t, jwtauth.Config{})
	ctx := t.Context()
	keyA, keyB := newP256(t), newP256(t)

	proof := proofFor(t, keyA, http.MethodPost, loginURL, dpop.ProofOptions{})
	w := postJSON(t, h, "/auth/login", aliceCreds, proof)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	login := decodeBody(t, w)
	assert.Equal(t, "DPoP", login.TokenType)
	c, err := svc.Verifier().Verify(ctx, login.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, thumb(t, keyA), c.JKT())

	// The bound token at /protected: with a proof by its key, not as Bearer.
	pr := proofFor(t, keyA, http.MethodGet, dpopIssuer+"/protected", dpop.ProofOptions{AccessToken: login.AccessToken})
	assert.Equal(t, http.StatusOK, getProtected(t, h, "DPoP", login.AccessToken, pr).Code)
	assert.Equal(t, http.StatusUnauthorized, getProtected(t, h, "Bearer", login.AccessToken, "").Code)

	// A replayed proof, a proof for another URL, a proof by keyB for
	// /refresh sent to /login: refused before the password is looked at.
	for name, tc := range map[string]struct {
		proof string
		body  map[string]string
	}{
		"replayed":       {proof, aliceCreds},
		"other URL":      {proofFor(t, keyA, http.MethodPost, "https://evil.example/auth/login", dpop.ProofOptions{}), aliceCreds},
		"other method":   {proofFor(t, keyA, http.MethodGet, loginURL, dpop.ProofOptions{}), aliceCreds},
		"wrong password": {"x" + proofFor(t, keyA, http.MethodPost, loginURL, dpop.ProofOptions{}), map[string]string{"username": "alice", "password": "wrong horse battery"}},
	} {
		w := postJSON(t, h, "/auth/login", tc.body, tc.proof)
		assert.Equal(t, http.StatusBadRequest, w.Code, name)
		assert.Equal(t, "invalid_dpop_proof", decodeBody(t, w).Error, name)
		assert.Equal(t, `DPoP error="invalid_dpop_proof", algs="ES256 EdDSA"`, w.Header().Get("WWW-Authenticate"), name)
	}
	w = postJSON(t, h, "/auth/login", aliceCreds, proofFor(t, keyA, http.MethodPost, loginURL, dpop.ProofOptions{}), proofFor(t, keyA, http.MethodPost, loginURL, dpop.ProofOptions{}))
	assert.Equal(t, http.StatusBadRequest, w.Code, "two DPoP headers")

	// The issuer URL decides htu: a request that reached us under another
	// Host is accepted with a proof for the issuer's URL.
	r := httptest.NewRequest(http.MethodPost, "http://10.0.0.7:8080/auth/login", bytes.NewReader([]byte(`{"username":"alice","password":"correct horse battery"}`)))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("DPoP", proofFor(t, keyA, http.MethodPost, loginURL, dpop.ProofOptions{}))
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assert.Equal(t, http.StatusOK, w.Code, w.Body.String())

	// Refresh of the bound family: without a proof and by another key, 400
	// with nothing spent.
	rt := map[string]string{"refresh_token": login.RefreshToken}
	for name, proofs := range map[string][]string{
		"no proof":    nil,
		"another key": {proofFor(t, keyB, http.MethodPost, refreshURL, dpop.ProofOptions{})},
	} {
		w := postJSON(t, h, "/auth/refresh", rt, proofs...)
		assert.Equal(t, http.StatusBadRequest, w.Code, name)
		assert.Equal(t, "invalid_dpop_proof", decodeBody(t, w).Error, name)
		assert.Equal(t, `DPoP error="invalid_dpop_proof", algs="ES256 EdDSA"`, w.Header().Get("WWW-Authenticate"), name)
	}
	w = postJSON(t, h, "/auth/refresh", rt, proofFor(t, keyA, http.MethodPost, loginURL, dpop.ProofOptions{}))
	assert.Equal(t, "invalid_dpop_proof", decodeBody(t, w).Error, "a proof for /login at /refresh")
	w = postJSON(t, h, "/auth/refresh", rt, proofFor(t, keyA, http.MethodPost, refreshURL, dpop.ProofOptions{}))
	require.Equal(t, http.StatusOK, w.Code, "the refused attempts spent nothing: %s", w.Body.String())
	next := decodeBody(t, w)
	assert.Equal(t, "DPoP", next.TokenType)
	c, err = svc.Verifier().Verify(ctx, next.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, thumb(t, keyA), c.JKT())
	w = postJSON(t, h, "/auth/refresh", map[string]string{"refresh_token": next.RefreshToken}, proofFor(t, keyA, http.MethodPost, refreshURL, dpop.ProofOptions{}))
	assert.Equal(t, http.StatusOK, w.Code, "the successor is bound to the same key")

	// Without a proof: a bearer token, as before.
	w = postJSON(t, h, "/auth/login", aliceCreds)
	require.Equal(t, http.StatusOK, w.Code)
	plain := decodeBody(t, w)
	assert.Equal(t, "Bearer", plain.TokenType)
	assert.Equal(t, http.StatusOK, getProtected(t, h, "Bearer", plain.AccessToken, "").Code)

	for _, p := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		w = httptest.NewRecorder()
		route(t, svc, p).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/auth"+p, nil))
		var doc map[string]any
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &doc))
		assert.Equal(t, []any{"ES256", "EdDSA"}, doc["dpop_signing_alg_values_supported"], p)
	}
}

// TestDPoPIssuingRequired: /login and /refresh without a proof are 400
// invalid_dpop_proof (before the password is checked), a bearer token is
// refused at /protected, and a login with a proof works as in the default
// mode.
func TestDPoPIssuingRequired(t *testing.T) {
	svc, h := dpopService(t, jwtauth.Config{DPoP: jwtauth.DPoPRequired})
	key := newP256(t)
	w := postJSON(t, h, "/auth/login", map[string]string{"username": "alice", "password": "wrong horse battery"})
	assert.Equal(t, http.StatusBadRequest, w.Code)
	assert.Equal(t, "invalid_dpop_proof", decodeBody(t, w).Error)

	bearer, err := svc.Accounts().Login(t.Context(), "alice", "correct horse battery") // no proof: a bearer token
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, getProtected(t, h, "Bearer", bearer.AccessToken, "").Code)
	w = postJSON(t, h, "/auth/refresh", map[string]string{"refresh_token": bearer.RefreshToken})
	assert.Equal(t, "invalid_dpop_proof", decodeBody(t, w).Error)

	w = postJSON(t, h, "/auth/login", aliceCreds, proofFor(t, key, http.MethodPost, loginURL, dpop.ProofOptions{}))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	login := decodeBody(t, w)
	assert.Equal(t, "DPoP", login.TokenType)
	pr := proofFor(t, key, http.MethodGet, dpopIssuer+"/protected", dpop.ProofOptions{AccessToken: login.AccessToken})
	assert.Equal(t, http.StatusOK, getProtected(t, h, "DPoP", login.AccessToken, pr).Code)
}

// TestDPoPIssuingOff: the DPoP header is not read (a proof still gets a
// bearer token), and the metadata advertises no DPoP algorithms.
func TestDPoPIssuingOff(t *testing.T) {
	svc, h := dpopService(t, jwtauth.Config{DPoP: jwtauth.DPoPOff})
	w := postJSON(t, h, "/auth/login", aliceCreds, proofFor(t, newP256(t), http.MethodPost, loginURL, dpop.ProofOptions{}))
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "Bearer", decodeBody(t, w).TokenType)
	w = httptest.NewRecorder()
	route(t, svc, "/.well-known/openid-configuration").ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/auth/.well-known/openid-configuration", nil))
	assert.NotContains(t, w.Body.String(), "dpop_signing_alg_values_supported")
}

// TestDPoPIssuingNonce: with server nonces (dpop.Config.Nonce), a login
// proof without the nonce is 400 use_dpop_nonce with the DPoP-Nonce header
// (RFC 9449 §8); the retry carrying it gets a bound token.
func TestDPoPIssuingNonce(t *testing.T) {
	nonces, err := dpop.NewRotatingNonces(bytes.Repeat([]byte{7}, 32), time.Hour, nil)
	require.NoError(t, err)
	_, h := dpopService(t, jwtauth.Config{DPoPProofs: dpop.Config{Nonce: nonces}})
	key := newP256(t)
	w := postJSON(t, h, "/auth/login", aliceCreds, proofFor(t, key, http.MethodPost, loginURL, dpop.ProofOptions{}))
	assert.Equal(t, http.StatusBadRequest, w.Code)
	assert.Equal(t, "use_dpop_nonce", decodeBody(t, w).Error)
	assert.Equal(t, `DPoP error="use_dpop_nonce", algs="ES256 EdDSA"`, w.Header().Get("WWW-Authenticate"))
	nonce := w.Header().Get("DPoP-Nonce")
	require.NotEmpty(t, nonce)
	w = postJSON(t, h, "/auth/login", aliceCreds, proofFor(t, key, http.MethodPost, loginURL, dpop.ProofOptions{Nonce: nonce}))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "DPoP", decodeBody(t, w).TokenType)
}

// TestDPoPOffBoundFamily: a server with DPoP off, on a store holding a
// family bound at another instance (or before the switch), refuses its
// refresh saying that no proof will help here, rather than asking for a
// proof it never reads; the token stays unspent.
func TestDPoPOffBoundFamily(t *testing.T) {
	st := memory.New()
	on := dpopInstance(t, jwtauth.Config{Store: st})
	off := dpopInstance(t, jwtauth.Config{Store: st, DPoP: jwtauth.DPoPOff})
	key := newP256(t)
	w := postJSON(t, on, "/auth/login", aliceCreds, proofFor(t, key, http.MethodPost, loginURL, dpop.ProofOptions{}))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	login := decodeBody(t, w)

	w = postJSON(t, off, "/auth/refresh", map[string]string{"refresh_token": login.RefreshToken},
		proofFor(t, key, http.MethodPost, refreshURL, dpop.ProofOptions{}))
	assert.Equal(t, http.StatusBadRequest, w.Code)
	body := decodeBody(t, w)
	assert.Equal(t, "invalid_dpop_proof", body.Error)
	assert.Equal(t, "this refresh token is bound to a DPoP key, and this server does not accept DPoP proofs: log in again", body.Description)

	w = postJSON(t, on, "/auth/refresh", map[string]string{"refresh_token": login.RefreshToken},
		proofFor(t, key, http.MethodPost, refreshURL, dpop.ProofOptions{}))
	assert.Equal(t, http.StatusOK, w.Code, "unspent: %s", w.Body.String())
}

// TestDPoPOffBoundFamilyCookie: in cookie mode, that refusal clears the
// refresh cookie, which can never work on this server (a reloaded page
// would otherwise retry it forever).
func TestDPoPOffBoundFamilyCookie(t *testing.T) {
	st := memory.New()
	cookies := jwtauth.CookieMode{Enabled: true}
	on := dpopInstance(t, jwtauth.Config{Store: st, Cookies: cookies})
	off := dpopInstance(t, jwtauth.Config{Store: st, Cookies: cookies, DPoP: jwtauth.DPoPOff})
	const page = "https://app.example.test"
	r := httptest.NewRequest(http.MethodPost, page+"/auth/login", strings.NewReader(`{"username":"alice","password":"correct horse battery"}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("DPoP", proofFor(t, newP256(t), http.MethodPost, loginURL, dpop.ProofOptions{}))
	w := httptest.NewRecorder()
	on.ServeHTTP(w, r)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var cookie string
	for _, c := range w.Result().Cookies() {
		if c.Name == jwtauth.RefreshCookieName {
			cookie = c.Value
		}
	}
	require.NotEmpty(t, cookie)

	r = httptest.NewRequest(http.MethodPost, page+"/auth/refresh", nil)
	r.AddCookie(&http.Cookie{Name: jwtauth.RefreshCookieName, Value: cookie})
	r.Header.Set(authn.CSRFHeader, "1")
	r.Header.Set("Origin", page)
	w = httptest.NewRecorder()
	off.ServeHTTP(w, r)
	assert.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
	cleared := false
	for _, c := range w.Result().Cookies() {
		if c.Name == jwtauth.RefreshCookieName {
			cleared = c.MaxAge < 0 && c.Value == ""
		}
	}
	assert.True(t, cleared, "the dead refresh cookie is cleared: %v", w.Result().Header["Set-Cookie"])
}

// TestDPoPLoginFloodSparesResourceCache: proofs at /login cost nothing to
// make (a fresh key each, no account), so they get a replay cache of their
// own, even when the store offers none: a flood of them never fills the
// Authenticator's cache, whose full state would refuse fresh proofs.
func TestDPoPLoginFloodSparesResourceCache(t *testing.T) {
	st := struct{ account.Store }{memory.New()} // a store without a replay cache
	_, h := dpopService(t, jwtauth.Config{Store: st, DPoPProofs: dpop.Config{ReplayCacheSize: 50}})
	victim := newP256(t)
	w := postJSON(t, h, "/auth/login", aliceCreds, proofFor(t, victim, http.MethodPost, loginURL, dpop.ProofOptions{}))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	tok := decodeBody(t, w).AccessToken
	call := func() int {
		return getProtected(t, h, "DPoP", tok, proofFor(t, victim, http.MethodGet, dpopIssuer+"/protected", dpop.ProofOptions{AccessToken: tok})).Code
	}
	require.Equal(t, http.StatusOK, call())
	for range 200 {
		w := postJSON(t, h, "/auth/login", map[string]string{"username": "nobody", "password": "wrong password here"},
			proofFor(t, newP256(t), http.MethodPost, loginURL, dpop.ProofOptions{}))
		// 401, 429, or 400 once the login cache, full within an instant,
		// cannot tell fresh proofs from replays any more.
		require.Contains(t, []int{http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusBadRequest}, w.Code, w.Body.String())
	}
	assert.Equal(t, http.StatusOK, call(), "the victim's fresh proof after 200 login proofs")
}
