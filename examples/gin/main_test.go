package main

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/examples/internal/exampletest"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

func TestExample(t *testing.T) {
	gin.SetMode(gin.TestMode)
	exampletest.Run(t, roles, func(svc *jwtauth.Service) http.Handler { return newApp(svc, false) })
}

// TestExampleDemo: with --demo the app serves the demo page, pointed at
// its /auth endpoints and /api/me.
func TestExampleDemo(t *testing.T) {
	gin.SetMode(gin.TestMode)
	svc, err := jwtauth.New(t.Context(), jwtauth.Config{Store: memory.New(), Issuer: "http://127.0.0.1:8080/auth",
		GenerateKey: keystest.Generator(t), Logger: slog.New(slog.DiscardHandler), Cookies: jwtauth.CookieMode{Enabled: true}})
	require.NoError(t, err)
	t.Cleanup(svc.Close)
	app := newApp(svc, true)
	for path, want := range map[string]string{"/demo/": `data-auth="/auth" data-protected="/api/me"`, "/demo/app.js": `"/refresh"`} {
		rec := httptest.NewRecorder()
		app.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		assert.Equal(t, http.StatusOK, rec.Code, path)
		assert.Contains(t, rec.Body.String(), want, path)
	}
	rec := httptest.NewRecorder()
	newApp(svc, false).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/demo/", nil))
	assert.Equal(t, http.StatusNotFound, rec.Code, "no page without --demo")
}
