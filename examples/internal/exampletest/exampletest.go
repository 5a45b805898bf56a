// Package exampletest drives the example apps under examples/ through the
// flow their package docs promise, so that `go test ./...` builds and
// exercises what users copy.
package exampletest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

// Run builds an example app with newApp on a service with the example's
// claims hook, mounted under /auth of a loopback server, and checks the
// flow: register and log in under /auth, discovery (naming the hook's
// "roles"), the RFC 8414 metadata (under /auth and at its §3.1 location)
// and JWKS under /auth,
// the app's own /healthz, /api/me for any valid token with the roles the
// hook granted, and /api/admin for role admin only (EXAMPLE_ADMINS).
func Run(t *testing.T, claims func(context.Context, string) (map[string]any, error), newApp func(*jwtauth.Service) http.Handler) {
	t.Setenv("EXAMPLE_ADMINS", "root,alice")
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	defer srv.Close()
	store := memory.New()
	svc, err := jwtauth.New(t.Context(), jwtauth.Config{Store: store, Issuer: srv.URL + "/auth", Claims: claims, ClaimNames: []string{"roles"},
		GenerateKey: keystest.Generator(t)})
	require.NoError(t, err)
	defer svc.Close()
	h = newApp(svc)

	call := func(method, path, token string, body any) (int, map[string]any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, err := json.Marshal(body)
			require.NoError(t, err)
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequest(method, srv.URL+path, rd)
		require.NoError(t, err)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		var out map[string]any
		raw, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		if len(raw) > 0 {
			require.NoError(t, json.Unmarshal(raw, &out), "%s %s: %s", method, path, raw)
		}
		return res.StatusCode, out
	}
	login := func(user string) string {
		t.Helper()
		code, _ := call("POST", "/auth/register", "", map[string]string{"username": user, "password": "correct horse battery staple"})
		require.Equal(t, http.StatusCreated, code)
		code, body := call("POST", "/auth/login", "", map[string]string{"username": user, "password": "correct horse battery staple"})
		require.Equal(t, http.StatusOK, code)
		return body["access_token"].(string)
	}

	code, body := call("GET", "/healthz", "", nil)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok", body["status"], "the app's own /healthz")
	code, body = call("GET", "/auth/.well-known/openid-configuration", "", nil)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, srv.URL+"/auth", body["issuer"])
	assert.Equal(t, srv.URL+"/auth/.well-known/jwks.json", body["jwks_uri"])
	assert.Contains(t, body["claims_supported"], "roles", "the hook's declared claim")
	for _, p := range []string{"/auth/.well-known/oauth-authorization-server", "/.well-known/oauth-authorization-server/auth"} {
		code, meta := call("GET", p, "", nil)
		require.Equal(t, http.StatusOK, code, p)
		assert.Equal(t, body, meta, "RFC 8414 metadata at %s", p)
	}
	code, body = call("GET", "/auth/.well-known/jwks.json", "", nil)
	require.Equal(t, http.StatusOK, code)
	assert.NotEmpty(t, body["keys"])

	alice, bob := login("alice"), login("bob")
	code, body = call("GET", "/api/me", alice, nil)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, map[string]any{"sub": "alice", "roles": []any{"user", "admin"}}, body)
	code, body = call("GET", "/api/me", bob, nil)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, map[string]any{"sub": "bob", "roles": []any{"user"}}, body)

	code, _ = call("GET", "/api/admin", alice, nil)
	assert.Equal(t, http.StatusOK, code, "alice is in EXAMPLE_ADMINS")
	code, body = call("GET", "/api/admin", bob, nil)
	assert.Equal(t, http.StatusForbidden, code)
	assert.Equal(t, "insufficient_scope", body["error"])
	code, body = call("GET", "/api/me", "", nil)
	assert.Equal(t, http.StatusUnauthorized, code)
	assert.Equal(t, "unauthorized", body["error"])
	code, _ = call("GET", "/api/me", strings.Repeat("x", 20), nil)
	assert.Equal(t, http.StatusUnauthorized, code)
}
