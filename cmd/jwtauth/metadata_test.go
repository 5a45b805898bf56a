package main

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

// TestServeMetadataLocations: serve answers the discovery document and the
// RFC 8414 metadata (the same bytes) at the well-known paths under its
// root, which a reverse proxy publishes under the issuer's path; for an
// issuer with a path it also answers at the RFC 8414 §3.1 location, the
// well-known suffix + that path, which the proxy forwards as it is.
func TestServeMetadataLocations(t *testing.T) {
	for _, tc := range []struct {
		issuer string
		root   string // the §3.1 path; "" when it is the one under the root
	}{
		{"http://127.0.0.1:8080/auth", "/.well-known/oauth-authorization-server/auth"},
		{"http://127.0.0.1:8080", ""},
	} {
		cfg := config{Issuer: tc.issuer, Audience: tc.issuer, AccessTTL: 15 * time.Minute,
			RefreshTTL: time.Hour, JWKSMaxAge: 5 * time.Minute}
		sc := serviceConfig(cfg, memory.New(), slog.New(slog.DiscardHandler))
		sc.GenerateKey = keystest.Generator(t)
		svc, err := jwtauth.New(t.Context(), sc)
		require.NoError(t, err)
		t.Cleanup(svc.Close)
		h := serveHandler(svc, false)
		get := func(path string) *httptest.ResponseRecorder {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
			return w
		}
		oidc := get("/.well-known/openid-configuration")
		require.Equal(t, http.StatusOK, oidc.Code, tc.issuer)
		assert.Contains(t, oidc.Body.String(), `"issuer":"`+tc.issuer+`"`)
		paths := []string{"/.well-known/oauth-authorization-server"}
		if tc.root != "" {
			paths = append(paths, tc.root)
		} else {
			assert.Equal(t, http.StatusNotFound, get("/.well-known/oauth-authorization-server/auth").Code, tc.issuer)
		}
		for _, p := range paths {
			w := get(p)
			require.Equal(t, http.StatusOK, w.Code, "%s %s", tc.issuer, p)
			assert.Equal(t, oidc.Body.String(), w.Body.String(), "%s %s", tc.issuer, p)
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
		}
	}
}
