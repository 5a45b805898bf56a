package demo_test

import (
	"net/http"
	"net/http/httptest"
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
