package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth/dpop"
)

// TestServeDPoPReplayShared runs two `jwtauth serve` processes on one
// SQLite file, as two instances behind a load balancer: a login proof
// accepted by A is refused by B (400 invalid_dpop_proof), with no flag:
// serve's issuing endpoints use the store's replay cache by default.
func TestServeDPoPReplayShared(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	const issuer = "https://auth.example.test"
	args := []string{"--store", "sqlite:" + filepath.Join(t.TempDir(), "jwtauth.db"), "--issuer", issuer}
	a := startServer(t, bin, freeAddr(t), args...)
	b := startServer(t, bin, freeAddr(t), args...)
	creds := map[string]string{"username": "alice", "password": "correct horse battery staple"}
	resp, body := call(t, http.MethodPost, a.base+"/register", creds, nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	proof, err := dpop.NewProof(key, http.MethodPost, issuer+"/login", dpop.ProofOptions{})
	require.NoError(t, err)
	resp, body = call(t, http.MethodPost, a.base+"/login", creds, map[string]string{"DPoP": proof})
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Equal(t, "DPoP", body["token_type"])
	resp, body = call(t, http.MethodPost, b.base+"/login", creds, map[string]string{"DPoP": proof})
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "the proof replayed at B: %v", body["error"])
	assert.Equal(t, "invalid_dpop_proof", body["error"])
	require.Equal(t, 0, a.stop(t), a.stderr.String())
	require.Equal(t, 0, b.stop(t), b.stderr.String())
}
