package adaptertest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
)

// deleteAccount sends DELETE /account with body and the header pairs.
func deleteAccount(c *client, body string, header ...string) *response {
	c.t.Helper()
	return c.do(http.MethodDelete, "/account", body, header...)
}

// testDeleteAccount checks DELETE /account (SPEC §2): the refusals of bad
// input and of a wrong password change nothing; a success deletes the
// user and its sessions and keeps the name reserved; a repeated delete and
// another user's token are refused or untouched.
func testDeleteAccount(t *testing.T, _ *Fixture, c *client) {
	register(t, c, "alice", password)
	register(t, c, "bob", password)
	alice := login(t, c, "alice", password)
	bob := login(t, c, "bob", password)
	pw := `{"password":"` + password + `"}`

	assertError(t, deleteAccount(c, pw), http.StatusUnauthorized, "unauthorized")
	assertInvalidToken(t, deleteAccount(c, pw, bearer(alice.access+"x")...))
	assertError(t, deleteAccount(c, `{"password":"not the password"}`, bearer(alice.access)...), http.StatusUnauthorized, "invalid_credentials")
	for _, tc := range []struct {
		name   string
		body   string
		header []string
		status int
	}{
		{"bad JSON", `{"password":`, nil, http.StatusBadRequest},
		{"not an object", `["` + password + `"]`, nil, http.StatusBadRequest},
		{"missing password", `{}`, nil, http.StatusBadRequest},
		{"empty password", `{"password":""}`, nil, http.StatusBadRequest},
		{"non-string password", `{"password":42}`, nil, http.StatusBadRequest},
		{"wrong content type", pw, []string{"Content-Type", "", "Content-Type", "text/plain"}, http.StatusUnsupportedMediaType},
		{"no body", "", nil, http.StatusUnsupportedMediaType},
		{"oversized", `{"password":"` + strings.Repeat("a", jwtauth.MaxBodySize) + `"}`, nil, http.StatusRequestEntityTooLarge},
	} {
		r := deleteAccount(c, tc.body, append(bearer(alice.access), tc.header...)...)
		assertError(t, r, tc.status, "invalid_request")
	}
	// Nothing was deleted: the session still refreshes.
	alice.refresh = assertTokenResponse(t, c.post("/refresh", map[string]string{"refresh_token": alice.refresh})).refresh

	// Bob's token deletes bob, never alice, whatever the password.
	assertError(t, deleteAccount(c, pw, bearer(alice.access)[0], "Bearer "+bob.access, "x-access-token", alice.access), http.StatusUnauthorized, "invalid_token")

	r := deleteAccount(c, pw, bearer(alice.access)...)
	require.Equal(t, http.StatusNoContent, r.Status, "body %s", r.Body)
	assert.Empty(t, r.Body)
	assert.Equal(t, "no-store", r.Header.Get("Cache-Control"))

	assertError(t, c.post("/refresh", map[string]string{"refresh_token": alice.refresh}), http.StatusUnauthorized, "invalid_grant")
	assertError(t, c.post("/login", map[string]string{"username": "alice", "password": password}), http.StatusUnauthorized, "invalid_credentials")
	assertError(t, c.post("/register", map[string]string{"username": "alice", "password": password}), http.StatusConflict, "user_exists")
	assertError(t, deleteAccount(c, pw, bearer(alice.access)...), http.StatusUnauthorized, "invalid_credentials")
	// The access token lives to its exp: it is checked by signature alone.
	assertProtectedOK(t, c.do(http.MethodGet, "/protected", "", bearer(alice.access)...), "alice")
	assertTokenResponse(t, c.post("/refresh", map[string]string{"refresh_token": bob.refresh}))
}

// testCookieDeleteAccount checks DELETE /account in cookie mode with an
// access cookie: the CSRF check refuses a request the cookie authenticates
// without it (nothing deleted), and a success clears the session cookies.
func testCookieDeleteAccount(t *testing.T, c *client) {
	register(t, c, "alice", password)
	s := cookieLogin(t, c, "alice", http.SameSiteStrictMode)
	pw := `{"password":"` + password + `"}`
	assertError(t, deleteAccount(c, pw, withCookie(AccessCookie, s.access)...), http.StatusForbidden, "csrf_check_failed")
	assertError(t, deleteAccount(c, pw, withCookie(AccessCookie, s.access, authn.CSRFHeader, "1", "Origin", "https://evil.example")...),
		http.StatusForbidden, "csrf_check_failed")
	s = cookieRefresh(t, c, s) // nothing was deleted

	r := deleteAccount(c, pw, withCookie(AccessCookie, s.access, fromPage...)...)
	require.Equal(t, http.StatusNoContent, r.Status, "body %s", r.Body)
	assertCleared(t, r)
	ac := setCookies(r, AccessCookie)
	require.Len(t, ac, 1, "the access cookie is cleared too")
	assert.Equal(t, -1, ac[0].MaxAge)
	assertError(t, c.do(http.MethodPost, "/refresh", "", withCookie(jwtauth.RefreshCookieName, s.refresh, fromPage...)...), http.StatusUnauthorized, "invalid_grant")
}
