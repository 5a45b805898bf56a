package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/adapters/nethttp"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

// TestClient runs the client against a jwtauth Service as `serve` mounts it
// (DPoP allowed, /protected on): both tokens are bound (token_type DPoP),
// both calls answer alice's claims; and another key cannot refresh the
// client's session.
func TestClient(t *testing.T) {
	ts := httptest.NewUnstartedServer(nil)
	issuer := "http://" + ts.Listener.Addr().String()
	svc, err := jwtauth.New(t.Context(), jwtauth.Config{Store: memory.New(), Issuer: issuer, ServeProtected: true,
		GenerateKey: keystest.Generator(t), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(svc.Close)
	mux := http.NewServeMux()
	nethttp.MountService(mux, svc)
	ts.Config.Handler = mux
	ts.Start()
	t.Cleanup(ts.Close)
	res, err := http.Post(issuer+"/register", "application/json", strings.NewReader(`{"username":"alice","password":"correct horse battery staple"}`))
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusCreated, res.StatusCode)

	newClient := func() *client {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return &client{issuer: issuer, key: key, http: ts.Client()}
	}
	lines, err := run(newClient(), "alice", "correct horse battery staple")
	require.NoError(t, err)
	require.Len(t, lines, 4)
	assert.Equal(t, "login: token_type DPoP", lines[0])
	assert.Contains(t, lines[1], `/protected: 200 {"message":"Welcome alice!`)
	assert.Equal(t, "refresh: token_type DPoP", lines[2])
	assert.Contains(t, lines[3], `/protected: 200 {"message":"Welcome alice!`)

	c := newClient()
	tok, err := c.post("/login", map[string]string{"username": "alice", "password": "correct horse battery staple"})
	require.NoError(t, err)
	thief := newClient()
	_, err = thief.post("/refresh", map[string]string{"refresh_token": tok.RefreshToken})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "400 Bad Request")
	assert.Contains(t, err.Error(), "invalid_dpop_proof")
	status, _, err := thief.get(tok, issuer+"/protected")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, status, "the token with another key's proof")
	_, err = c.post("/refresh", map[string]string{"refresh_token": tok.RefreshToken})
	assert.NoError(t, err, "the refused refresh spent nothing")
}
