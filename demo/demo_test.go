package demo_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/demo"
)

// TestPageNeverPutsThePasswordInAURL: were the script not to run (blocked,
// slow, or a submit before it loaded) and the Content-Security-Policy lost
// on the way (a proxy that strips headers), the login form would still be
// submitted by the browser itself: as a POST (answered 405), never as a GET
// that puts the username and password in the URL, where history and access
// logs keep them. The policy blocks any form submission and inline script.
func TestPageNeverPutsThePasswordInAURL(t *testing.T) {
	h := demo.Handler(demo.Config{AuthPath: ".."})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/demo/", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	csp := rec.Header().Get("Content-Security-Policy")
	assert.Contains(t, csp, "form-action 'none'")
	assert.Contains(t, csp, "frame-ancestors 'none'")
	assert.NotContains(t, csp, "unsafe-inline")
	assert.Contains(t, rec.Body.String(), `<form id="credentials" method="post">`)

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/demo/", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
}

// TestRedirectStaysUnderTheProxyPrefix: the path without its slash is
// redirected relative to itself, so that behind a reverse proxy that
// publishes the page under a prefix and strips it (jwtauth serve under
// https://host/auth), /auth/demo leads to /auth/demo/, not to /demo/ outside
// the prefix (a 301 the browser would then keep).
func TestRedirectStaysUnderTheProxyPrefix(t *testing.T) {
	for _, p := range []string{"/demo/", "/x/y/"} {
		h := demo.Handler(demo.Config{Path: p})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, strings.TrimSuffix(p, "/"), nil))
		require.Equal(t, http.StatusMovedPermanently, rec.Code)
		loc, err := url.Parse(rec.Header().Get("Location"))
		require.NoError(t, err)
		seen, err := url.Parse("https://app.example.com/auth" + strings.TrimSuffix(p, "/")) // as the browser asked
		require.NoError(t, err)
		assert.Equal(t, "https://app.example.com/auth"+p, seen.ResolveReference(loc).String())
	}
}
