package jwtauth_test

import (
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

// TestCookieModeRefused: an invalid cookie mode fails New before anything
// is stored, and makes Routes panic.
func TestCookieModeRefused(t *testing.T) {
	for name, mode := range map[string]jwtauth.CookieMode{
		"SameSite None":         {Enabled: true, SameSite: http.SameSiteNoneMode},
		"origin not a URL":      {Enabled: true, Origin: "app.example.test"},
		"access cookie clashes": {Enabled: true, AccessCookie: jwtauth.RefreshCookieName},
		"relative path":         {Enabled: true, Path: "auth"},
		"path with a dot-dot":   {Enabled: true, Path: "/auth/../x"},
		"path with a semicolon": {Enabled: true, Path: "/auth;x"},
	} {
		t.Run(name, func(t *testing.T) {
			store := memory.New()
			_, err := jwtauth.New(t.Context(), jwtauth.Config{Store: store, Issuer: "https://app.example.test/auth",
				GenerateKey: keystest.Generator(t), Cookies: mode})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "CookieMode")
			recs, _, err := store.LoadKeys(t.Context())
			require.NoError(t, err)
			assert.Empty(t, recs, "nothing created")
			assert.Panics(t, func() { jwtauth.Routes(jwtauth.RoutesConfig{Cookies: mode}) })
		})
	}
}

// TestServiceCookieMode: New takes the cookies' path from the issuer (right
// even when a proxy stripped it from the request), the access cookie from
// the first CookieSource, and the CSRF origin from the issuer.
func TestServiceCookieMode(t *testing.T) {
	svc, _ := newTestService(t, jwtauth.Config{
		Cookies:      jwtauth.CookieMode{Enabled: true},
		TokenSources: []jwtauth.TokenSource{jwtauth.HeaderSource("Authorization"), jwtauth.CookieSource("session")},
	})
	require.NoError(t, svc.Accounts().Register(t.Context(), "alice", "correct horse battery"))
	routes := map[string]http.Handler{}
	for _, rt := range svc.Routes() {
		routes[rt.Path] = rt.Handler
	}
	// As a reverse proxy publishing the service under /auth forwards it.
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(`{"username":"alice","password":"correct horse battery"}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	routes["/login"].ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.NotContains(t, rec.Body.String(), "refresh_token")
	var paths []string
	var access *http.Cookie
	for _, c := range rec.Result().Cookies() {
		switch c.Name {
		case jwtauth.RefreshCookieName:
			paths = append(paths, c.Path)
		case "session":
			access = c
		}
	}
	assert.ElementsMatch(t, []string{"/auth/refresh", "/auth/logout"}, paths)
	require.NotNil(t, access, "the access token in the CookieSource's cookie")
	assert.Equal(t, "/", access.Path)
	assert.True(t, access.HttpOnly)

	auth := svc.Authenticator()
	assert.Equal(t, "https://app.example.test", auth.CSRFOrigin)
	for _, tc := range []struct {
		origin string
		want   int
	}{{"https://app.example.test", http.StatusOK}, {"http://app.example.test", http.StatusForbidden}, {"https://evil.example", http.StatusForbidden}} {
		r := httptest.NewRequest(http.MethodPost, "https://app.example.test/orders", nil)
		r.AddCookie(access)
		r.Header.Set(jwtauth.CSRFHeader, "1")
		r.Header.Set("Origin", tc.origin)
		w := httptest.NewRecorder()
		_, _, ok := auth.Authorize(w, r)
		if tc.want == http.StatusOK {
			assert.True(t, ok, "%s: %s", tc.origin, w.Body.String())
			continue
		}
		assert.False(t, ok)
		assert.Equal(t, tc.want, w.Code, tc.origin)
		assert.Contains(t, w.Body.String(), `"csrf_check_failed"`)
	}
}
