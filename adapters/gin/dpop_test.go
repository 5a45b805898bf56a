package gin_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	jwtgin "github.com/jwtauth/jwtauth/adapters/gin"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/remote"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/jwtauthtest"
)

// TestDPoPRemoteKeySet: a gin service that verifies the issuer's tokens
// through its JWKS (remote.NewVerifier, as another service does) accepts a
// DPoP-bound token with a proof by its key, across a key rotation, and
// refuses it as Bearer, with a replayed proof or with another key's; a
// route with RequireDPoP refuses an unbound bearer token.
func TestDPoPRemoteKeySet(t *testing.T) {
	gin.SetMode(gin.TestMode)
	srv := jwtauthtest.NewServer(t)
	v, ks, err := remote.NewVerifier(context.Background(),
		remote.Config{Issuer: srv.URL, Logger: slog.New(slog.DiscardHandler)},
		token.VerifierConfig{Audience: []string{srv.URL}, Now: srv.Now})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ks.Close() })
	auth := &authn.Authenticator{Verifier: v, DPoP: &authn.DPoPConfig{Verifier: srv.DPoPVerifier()}}
	r := gin.New()
	handler := func(c *gin.Context) {
		claims, _ := jwtgin.ClaimsFromContext(c)
		c.String(http.StatusOK, claims.Subject+" "+claims.JKT())
	}
	r.GET("/orders", jwtgin.Middleware(auth), handler)
	r.POST("/payments", jwtgin.Middleware(auth, authn.RequireDPoP()), handler)
	serve := func(req *http.Request) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		return w
	}
	key, other := srv.NewDPoPKey(), srv.NewDPoPKey()
	request := func(method, path, tok string, k *jwtauthtest.DPoPKey) *http.Request {
		req := httptest.NewRequest(method, path, nil)
		if k != nil {
			k.Authorize(req, tok)
		} else {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		return req
	}

	tok := srv.MintBound(jwtauthtest.Token{Subject: "alice"}, key)
	req := request(http.MethodGet, "/orders", tok, key)
	w := serve(req)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "alice "+key.JKT(), w.Body.String())
	w = serve(req)
	assert.Equal(t, http.StatusUnauthorized, w.Code, "replayed proof")
	assert.Equal(t, `DPoP error="invalid_dpop_proof", algs="ES256 EdDSA"`, w.Header().Get("WWW-Authenticate"))
	assert.Equal(t, http.StatusUnauthorized, serve(request(http.MethodGet, "/orders", tok, other)).Code, "another key's proof")
	w = serve(request(http.MethodGet, "/orders", tok, nil))
	assert.Equal(t, http.StatusUnauthorized, w.Code, "bound token as Bearer")
	assert.Contains(t, w.Header().Get("WWW-Authenticate"), `DPoP error="invalid_token"`)
	assert.Equal(t, http.StatusOK, serve(request(http.MethodPost, "/payments", tok, key)).Code)

	kid := srv.Rotate()
	tok = srv.MintBound(jwtauthtest.Token{Subject: "bob"}, key)
	require.Equal(t, kid, header(t, tok)["kid"])
	w = serve(request(http.MethodGet, "/orders", tok, key))
	assert.Equal(t, http.StatusOK, w.Code, "a token of the rotated key: %s", w.Body.String())
	assert.Equal(t, "bob "+key.JKT(), w.Body.String())

	bearer := srv.Mint(jwtauthtest.Token{Subject: "carol"})
	assert.Equal(t, http.StatusOK, serve(request(http.MethodGet, "/orders", bearer, nil)).Code, "unbound bearer, DPoP allowed")
	w = serve(request(http.MethodPost, "/payments", bearer, nil))
	assert.Equal(t, http.StatusUnauthorized, w.Code, "unbound bearer on a RequireDPoP route")
	assert.Contains(t, w.Header().Get("WWW-Authenticate"), "DPoP ")
}

// header decodes the JWS header of raw.
func header(t *testing.T, raw string) map[string]any {
	t.Helper()
	seg, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	require.NoError(t, err)
	var h map[string]any
	require.NoError(t, json.Unmarshal(b, &h))
	return h
}
