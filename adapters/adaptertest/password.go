package adaptertest

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
)

const newPassword = "a new and longer password"

func passwordBody(current, next string) map[string]string {
	return map[string]string{"current_password": current, "new_password": next}
}

// testChangePassword: POST /password with the access token answers a new
// session shaped as a login's, with a new device cookie; every earlier
// refresh family of the user is revoked, another user's is not; the old
// password fails afterwards and the new one works.
func testChangePassword(t *testing.T, _ *Fixture, c *client) {
	register(t, c, "alice", password)
	register(t, c, "bob", password)
	first, second := login(t, c, "alice", password), login(t, c, "alice", password)
	bob := login(t, c, "bob", password)

	r := c.post("/password", passwordBody(password, newPassword), bearer(first.access)...)
	next := assertTokenResponse(t, r)
	device := setCookies(r, jwtauth.DeviceCookieName)
	require.Len(t, device, 1, "Set-Cookie %q", r.Header.Values("Set-Cookie"))
	assert.Equal(t, "/login", device[0].Path)
	assertProtectedOK(t, c.do(http.MethodGet, "/protected", "", bearer(next.access)...), "alice")

	for _, old := range []tokens{first, second} {
		assertError(t, c.post("/refresh", map[string]string{"refresh_token": old.refresh}), http.StatusUnauthorized, "invalid_grant")
	}
	assertTokenResponse(t, c.post("/refresh", map[string]string{"refresh_token": next.refresh}))
	assertTokenResponse(t, c.post("/refresh", map[string]string{"refresh_token": bob.refresh}))
	assertError(t, c.post("/login", map[string]string{"username": "alice", "password": password}), http.StatusUnauthorized, "invalid_credentials")
	login(t, c, "alice", newPassword)
}

// testChangePasswordBadInput: each bad request to POST /password gets a
// clear 4xx (no or a bad token 401 with the challenge, a wrong current
// password 401 invalid_credentials, a new password outside the policy or a
// malformed body 400, 413, 415, a token of another user is that user's
// wrong password, GET 405), and none changes anything: both passwords and
// both sessions work afterwards.
func testChangePasswordBadInput(t *testing.T, f *Fixture, c *client) {
	register(t, c, "alice", password)
	register(t, c, "bob", "bob's own password")
	alice := login(t, c, "alice", password)
	bob := login(t, c, "bob", "bob's own password")
	good := `{"current_password":"` + password + `","new_password":"` + newPassword + `"}`
	big := `{"current_password":"` + password + `","new_password":"` + strings.Repeat("a", jwtauth.MaxBodySize) + `"}`

	r := c.do(http.MethodPost, "/password", good)
	assertError(t, r, http.StatusUnauthorized, "unauthorized")
	assert.Equal(t, `Bearer realm="`+Realm+`"`, r.Header.Get("WWW-Authenticate"))
	assertInvalidToken(t, c.do(http.MethodPost, "/password", good, bearer(alice.access+"x")...))
	assertError(t, c.post("/password", passwordBody("wrong password", newPassword), bearer(alice.access)...), http.StatusUnauthorized, "invalid_credentials")
	// bob's token names bob: alice's password is a wrong password of bob's.
	assertError(t, c.post("/password", passwordBody(password, newPassword), bearer(bob.access)...), http.StatusUnauthorized, "invalid_credentials")
	// A token for a subject without an account.
	assertError(t, c.post("/password", passwordBody(password, newPassword), bearer(f.Token(t, "mallory"))...), http.StatusUnauthorized, "invalid_credentials")

	for _, tc := range []struct {
		name   string
		body   string
		header []string
		status int
	}{
		{"new password of 7 characters", `{"current_password":"` + password + `","new_password":"1234567"}`, nil, 400},
		{"malformed JSON", `{"current_password":"` + password + `",`, nil, 400},
		{"JSON array", `[` + good + `]`, nil, 400},
		{"missing new_password", `{"current_password":"` + password + `"}`, nil, 400},
		{"missing current_password", `{"new_password":"` + newPassword + `"}`, nil, 400},
		{"empty current_password", `{"current_password":"","new_password":"` + newPassword + `"}`, nil, 400},
		{"numeric new_password", `{"current_password":"` + password + `","new_password":12345678}`, nil, 400},
		{"duplicate member", `{"current_password":"` + password + `","new_password":"` + newPassword + `","new_password":"x"}`, nil, 400},
		{"a login body", `{"username":"alice","password":"` + password + `"}`, nil, 400},
		{"text/plain", good, []string{"Content-Type", "", "Content-Type", "text/plain"}, 415},
		{"no Content-Type", good, []string{"Content-Type", ""}, 415},
		{"body over 1 MiB", big, nil, 413},
	} {
		r := c.do(http.MethodPost, "/password", tc.body, append(bearer(alice.access), tc.header...)...)
		assertError(t, r, tc.status, "invalid_request")
		assert.Empty(t, r.Header.Values("Set-Cookie"), tc.name)
	}
	r = c.do(http.MethodGet, "/password", "", bearer(alice.access)...)
	assertError(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
	assert.Contains(t, r.Header.Get("Allow"), http.MethodPost)

	// Nothing was half done.
	assertTokenResponse(t, c.post("/refresh", map[string]string{"refresh_token": alice.refresh}))
	assertTokenResponse(t, c.post("/refresh", map[string]string{"refresh_token": bob.refresh}))
	login(t, c, "alice", password)
	login(t, c, "bob", "bob's own password")
}

// testChangePasswordThrottled: wrong current passwords count as failed
// logins of the username: the 11th within a minute is 429 with
// Retry-After, for the change and for a login alike.
func testChangePasswordThrottled(t *testing.T, _ *Fixture, c *client) {
	register(t, c, "alice", password)
	tk := login(t, c, "alice", password)
	for i := range 10 {
		r := c.post("/password", passwordBody("wrong password", newPassword), bearer(tk.access)...)
		require.Equal(t, http.StatusUnauthorized, r.Status, "failure %d: %s", i+1, r.Body)
	}
	r := c.post("/password", passwordBody(password, newPassword), bearer(tk.access)...)
	assertError(t, r, http.StatusTooManyRequests, "too_many_requests")
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", r.Header.Get("Retry-After"))
	assert.Positive(t, secs)
	assertError(t, c.post("/login", map[string]string{"username": "alice", "password": password}), http.StatusTooManyRequests, "too_many_requests")
}

// testChangePasswordStoreDown: with the store gone, POST /password answers
// 503 with Retry-After, never a 500.
func testChangePasswordStoreDown(t *testing.T, f *Fixture, c *client) {
	register(t, c, "alice", password)
	tk := login(t, c, "alice", password)
	require.NoError(t, f.store.Close())
	c.storeDown = true
	r := c.post("/password", passwordBody(password, newPassword), bearer(tk.access)...)
	assertError(t, r, http.StatusServiceUnavailable, "temporarily_unavailable")
	assert.NotEmpty(t, r.Header.Get("Retry-After"))
}

// testCookiePasswordChange: in cookie mode POST /password must pass the
// CSRF check, whichever way the access token came (403, nothing changed,
// no cookie set), and a change replaces the refresh cookie: the old one is
// refused afterwards, the new one refreshes.
func testCookiePasswordChange(t *testing.T, c *client) {
	register(t, c, "alice", password)
	s := cookieLogin(t, c, "alice", http.SameSiteStrictMode)
	body := passwordBody(password, newPassword)
	for _, h := range [][]string{
		nil,
		{authn.CSRFHeader, "1", "Origin", "https://evil.example"},
		{authn.CSRFHeader, "1", "Sec-Fetch-Site", "cross-site"},
	} {
		r := c.post("/password", body, append(bearer(s.access), h...)...)
		assertError(t, r, http.StatusForbidden, "csrf_check_failed")
		assert.Empty(t, r.Header.Values("Set-Cookie"), "headers %q", h)
	}
	s = cookieRefresh(t, c, s) // nothing was changed or spent
	r := c.post("/password", body, append(bearer(s.access), fromPage...)...)
	next := assertCookieResponse(t, r, http.SameSiteStrictMode)
	assert.NotEqual(t, s.refresh, next.refresh)
	r = c.do(http.MethodPost, "/refresh", "", withCookie(jwtauth.RefreshCookieName, s.refresh, fromPage...)...)
	assertError(t, r, http.StatusUnauthorized, "invalid_grant")
	cookieRefresh(t, c, next)
}
