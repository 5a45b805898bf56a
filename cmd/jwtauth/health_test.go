package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHealthzReportsAKeySetThatDoesNotDecode: an instance without the
// key-encryption key its peers use answers /healthz with 503 once they add
// a key it cannot read, so a load balancer drains it.
func TestHealthzReportsAKeySetThatDoesNotDecode(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	quiet := slog.New(slog.DiscardHandler)
	gen := keystest.Generator(t)
	cfg := config{Issuer: "http://127.0.0.1:8080", Audience: "http://127.0.0.1:8080", AccessTTL: 15 * time.Minute,
		RefreshTTL: time.Hour, JWKSMaxAge: 5 * time.Minute}
	sc := serviceConfig(cfg, store, quiet)
	sc.GenerateKey = gen
	svc, err := jwtauth.New(ctx, sc)
	require.NoError(t, err)
	defer svc.Close()
	plain := svc.Keys()
	h := serveHandler(svc, false)
	health := func() int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		return w.Code
	}
	require.Equal(t, http.StatusOK, health())

	sealed, err := keys.Open(ctx, keys.Config{Store: store, Generate: gen, Logger: quiet, KeyEncryptionKey: bytes.Repeat([]byte{1}, 32)})
	require.NoError(t, err)
	_, err = sealed.Rotate(ctx, true) // a new next key, sealed
	require.NoError(t, err)
	_, err = plain.Refresh(ctx)
	require.ErrorIs(t, err, keys.ErrKeyEncryptionKey)
	assert.Equal(t, http.StatusServiceUnavailable, health())
}
