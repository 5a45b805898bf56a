package main

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	root "github.com/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

// TestOpenAPIOnServeDemoPaths: openapi.yaml says every path it lacks is
// answered 404 and nothing is a redirect; `serve --cookie-mode --demo`
// answers the demo page's paths otherwise. Each of them must be named in
// the description's introduction (the part it says it does not describe),
// with its status, and be absent from its paths; any other path is 404,
// with or without --demo.
func TestOpenAPIOnServeDemoPaths(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(root.OpenAPI())
	require.NoError(t, err)
	intro := doc.Info.Description

	cfg := config{Issuer: "http://127.0.0.1:8080", Audience: "http://127.0.0.1:8080", AccessTTL: 15 * time.Minute,
		RefreshTTL: time.Hour, JWKSMaxAge: 5 * time.Minute, CookieMode: true}
	sc := serviceConfig(cfg, memory.New(), slog.New(slog.DiscardHandler))
	sc.GenerateKey = keystest.Generator(t)
	svc, err := jwtauth.New(t.Context(), sc)
	require.NoError(t, err)
	t.Cleanup(svc.Close)
	get := func(h http.Handler, path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w
	}
	withDemo, api := serveHandler(svc, true), serveHandler(svc, false)

	for path, status := range map[string]int{
		"/demo":            http.StatusMovedPermanently,
		"/demo/":           http.StatusOK,
		"/demo/index.html": http.StatusOK,
		"/demo/app.js":     http.StatusOK,
		"/demo/app.css":    http.StatusOK,
	} {
		w := get(withDemo, path)
		assert.Equal(t, status, w.Code, path)
		assert.Nil(t, doc.Paths.Value(path), "%s is not an API path", path)
		assert.True(t, strings.Contains(intro, "`"+path+"`"), "the description does not name %s, which serve --demo answers %d", path, status)
		assert.Equal(t, http.StatusNotFound, get(api, path).Code, "%s without --demo", path)
	}
	assert.Equal(t, "demo/", get(withDemo, "/demo").Header().Get("Location"))
	assert.True(t, strings.Contains(intro, "`301` with `Location: demo/`"), "the description gives the redirect")
	w := httptest.NewRecorder()
	withDemo.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/demo/app.js", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
	assert.True(t, strings.Contains(intro, "(other methods `405`)"), "the description gives the 405")
	for _, path := range []string{"/demo/nothing", "/demo/app.js/", "/nothing", "/login/"} {
		w := get(withDemo, path)
		assert.Equal(t, http.StatusNotFound, w.Code, path)
		assert.True(t, strings.Contains(w.Body.String(), `"not_found"`), "%s: %s", path, w.Body.String())
	}
}
