package adaptertest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/account/credential"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/token"
)

// NewHandlerFunc mounts routes on an adapter's framework, with auth in front
// of the Protected ones, and returns the result as an http.Handler. It must
// answer an unknown path with 404 and a known path with the wrong method with
// 405 and an Allow header, both with a JSON error body
// ({"error":"not_found"|"method_not_allowed","error_description":…}).
type NewHandlerFunc = func(t *testing.T, routes []jwtauth.Route, auth *authn.Authenticator) http.Handler

// Run checks an adapter against SPEC §2. For each subtest it builds a fresh
// [Fixture], calls newHandler with its routes and authenticator, and drives
// the handler with httptest: the account flow, refresh-token rotation and
// reuse detection, request validation, every way a bearer token can be bad,
// the JWKS and discovery documents, health, a store outage (503 with
// Retry-After, never a 500), 404 and 405. No response may ever be a 500.
// Subtests run in parallel.
//
// Every request the table sends and every answer it gets is checked against
// openapi.yaml, the module's OpenAPI 3.1 description, with kin-openapi's
// openapi3filter (the handler itself is wrapped, so no row can go around
// it): an answer with a status, header or body the description does not
// give, a path it lacks answered with anything but 404 not_found, or a
// request it refuses answered with anything but a 4xx, fails the row that
// sent it. Run logs how many requests and answers it checked.
func Run(t *testing.T, newHandler NewHandlerFunc) {
	t.Helper()
	var checked traffic
	t.Cleanup(func() {
		t.Logf("openapi.yaml: the behaviour table checked %s", &checked)
		if checked.requests.Load() == 0 || checked.refused.Load() == 0 || checked.unrouted.Load() == 0 {
			t.Errorf("openapi.yaml: the behaviour table checked too little: %s", &checked)
		}
	})
	tests := []struct {
		name string
		fn   func(t *testing.T, f *Fixture, c *client)
	}{
		{"Flow", testFlow},
		{"RefreshRotation", testRefreshRotation},
		{"Logout", testLogout},
		{"DeleteAccount", testDeleteAccount},
		{"RegisterDuplicate", testRegisterDuplicate},
		{"BadRequests", testBadRequests},
		{"LoginFailuresIdentical", testLoginFailures},
		{"LoginThrottled", testLoginThrottled},
		{"DeviceTokenBeatsLockout", testDeviceTokenBeatsLockout},
		{"DeviceTokenSharedHash", testDeviceTokenSharedHash},
		{"DeviceTokenPasswordChange", testDeviceTokenPasswordChange},
		{"DeviceTokenChargesAddress", testDeviceTokenChargesAddress},
		{"ChangePassword", testChangePassword},
		{"ChangePasswordBadInput", testChangePasswordBadInput},
		{"ChangePasswordThrottled", testChangePasswordThrottled},
		{"ChangePasswordStoreDown", testChangePasswordStoreDown},
		{"ProtectedNoToken", testNoToken},
		{"ProtectedInvalidToken", testInvalidTokens},
		{"RevokedKey", testRevokedKey},
		{"Concurrent", testConcurrent},
		{"JWKS", testJWKS},
		{"Discovery", testDiscovery},
		{"Health", testHealth},
		{"StoreDown", testStoreDown},
		{"NotFound", testNotFound},
		{"MethodNotAllowed", testMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := NewFixture(t)
			h := newHandler(t, f.Routes, f.Auth)
			require.NotNil(t, h, "newHandler returned nil")
			tt.fn(t, f, &client{t: t, h: validated(t, h, endpoints, "", &checked)})
		})
	}
}

// client sends requests to the handler under test and refuses any 5xx
// status, but a 503 once the row took the store down.
type client struct {
	t *testing.T
	h http.Handler
	// storeDown lets 503 temporarily_unavailable through.
	storeDown bool
	// reached counts the requests that reached the protected handler
	// (RunAuthorization's clients only).
	reached *atomic.Int64
}

// on returns c reporting to t, a subtest's.
func (c *client) on(t *testing.T) *client {
	cc := *c
	cc.t = t
	return &cc
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// do sends method target with body (JSON Content-Type when body is not
// empty) and the header pairs, which replace the defaults; a pair with an
// empty value deletes the header.
func (c *client) do(method, target, body string, header ...string) *response {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Add(header[i], header[i+1])
		}
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, withRow(req, c.t))
	res := rec.Result()
	b, err := io.ReadAll(res.Body)
	require.NoError(c.t, err)
	if !(c.storeDown && res.StatusCode == http.StatusServiceUnavailable) {
		require.Less(c.t, res.StatusCode, 500, "%s %s answered %d: %s", method, target, res.StatusCode, b)
	}
	return &response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// post sends a JSON body.
func (c *client) post(path string, body any, header ...string) *response {
	c.t.Helper()
	s, ok := body.(string)
	if !ok {
		b, err := json.Marshal(body)
		require.NoError(c.t, err)
		s = string(b)
	}
	return c.do(http.MethodPost, path, s, header...)
}

// jsonBody checks the JSON Content-Type and decodes the body as an object.
func jsonBody(t *testing.T, r *response) map[string]any {
	t.Helper()
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.Equal(t, "nosniff", r.Header.Get("X-Content-Type-Options"), "no content sniffing of a JSON answer")
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), "body %q", r.Body)
	return m
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// assertError checks status and an error body of exactly
// {"error":code,"error_description":<non-empty text>}, and returns the description.
func assertError(t *testing.T, r *response, status int, code string) string {
	t.Helper()
	assert.Equal(t, status, r.Status, "body %s", r.Body)
	m := jsonBody(t, r)
	assert.Equal(t, []string{"error", "error_description"}, keysOf(m), "body %s", r.Body)
	assert.Equal(t, code, m["error"], "body %s", r.Body)
	desc, _ := m["error_description"].(string)
	assert.NotEmpty(t, desc, "body %s", r.Body)
	return desc
}

const password = "correct horse battery"

func register(t *testing.T, c *client, user, pass string) {
	t.Helper()
	r := c.post("/register", map[string]string{"username": user, "password": pass})
	require.Equal(t, http.StatusCreated, r.Status, "register %s: %s", user, r.Body)
	assert.Equal(t, map[string]any{"message": "user registered"}, jsonBody(t, r))
}

type tokens struct{ access, refresh string }

// assertTokenResponse checks a /login or /refresh answer of SPEC §2.
func assertTokenResponse(t *testing.T, r *response) tokens {
	t.Helper()
	require.Equal(t, http.StatusOK, r.Status, "body %s", r.Body)
	assert.Equal(t, "no-store", r.Header.Get("Cache-Control"))
	assert.Equal(t, "no-cache", r.Header.Get("Pragma"), "RFC 6749 §5.1")
	m := jsonBody(t, r)
	assert.Equal(t, []string{"access_token", "expires_in", "refresh_token", "token", "token_type"}, keysOf(m))
	access, _ := m["access_token"].(string)
	refresh, _ := m["refresh_token"].(string)
	require.NotEmpty(t, access)
	require.NotEmpty(t, refresh)
	assert.Equal(t, access, m["token"], "token repeats access_token")
	assert.Equal(t, "Bearer", m["token_type"])
	assert.Equal(t, float64(AccessTTL/time.Second), m["expires_in"])
	assert.Len(t, strings.Split(access, "."), 3)
	return tokens{access, refresh}
}

func login(t *testing.T, c *client, user, pass string) tokens {
	t.Helper()
	return assertTokenResponse(t, c.post("/login", map[string]string{"username": user, "password": pass}))
}

// assertProtectedOK checks a 200 from /protected for sub.
func assertProtectedOK(t *testing.T, r *response, sub string) {
	t.Helper()
	require.Equal(t, http.StatusOK, r.Status, "body %s", r.Body)
	m := jsonBody(t, r)
	assert.Equal(t, []string{"message", "sub"}, keysOf(m))
	assert.Equal(t, sub, m["sub"])
	assert.Contains(t, m["message"], sub)
}

// assertInvalidToken checks the RFC 6750 §3.1 invalid_token answer: 401, a
// challenge naming the realm, error="invalid_token" and the body's
// description, and the JSON body.
func assertInvalidToken(t *testing.T, r *response) {
	t.Helper()
	desc := assertError(t, r, http.StatusUnauthorized, "invalid_token")
	assert.Equal(t, `Bearer realm="`+Realm+`", error="invalid_token", error_description="`+desc+`"`, r.Header.Get("WWW-Authenticate"))
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

func testFlow(t *testing.T, _ *Fixture, c *client) {
	register(t, c, "alice", password)
	tk := login(t, c, "alice", password)
	assertProtectedOK(t, c.do(http.MethodGet, "/protected", "", bearer(tk.access)...), "alice")
	assertProtectedOK(t, c.do(http.MethodGet, "/protected", "", "x-access-token", tk.access), "alice")
	assertProtectedOK(t, c.do(http.MethodGet, "/protected", "", "Authorization", "bearer "+tk.access), "alice")
	// The same token in both headers is one token, not two.
	assertProtectedOK(t, c.do(http.MethodGet, "/protected", "", "Authorization", "Bearer "+tk.access, "x-access-token", tk.access), "alice")
	// The username is normalized (RFC 8265): ALICE logs in as alice.
	assertProtectedOK(t, c.do(http.MethodGet, "/protected", "", bearer(login(t, c, "ALICE", password).access)...), "alice")
	// A charset parameter on the JSON Content-Type is fine.
	r := c.post("/register", `{"username":"bob","password":"`+password+`"}`, "Content-Type", "", "Content-Type", "application/json; charset=utf-8")
	assert.Equal(t, http.StatusCreated, r.Status, "body %s", r.Body)
	// Unknown members are ignored.
	r = c.post("/register", `{"username":"carol","password":"`+password+`","extra":{"x":[1,2]}}`)
	assert.Equal(t, http.StatusCreated, r.Status, "body %s", r.Body)
}

func testRefreshRotation(t *testing.T, _ *Fixture, c *client) {
	register(t, c, "alice", password)
	first := login(t, c, "alice", password)
	other := login(t, c, "alice", password) // a second family

	second := assertTokenResponse(t, c.post("/refresh", map[string]string{"refresh_token": first.refresh}))
	assert.NotEqual(t, first.refresh, second.refresh, "refresh must rotate the refresh token")
	assert.NotEqual(t, first.access, second.access)
	assertProtectedOK(t, c.do(http.MethodGet, "/protected", "", bearer(second.access)...), "alice")

	// The old refresh token stopped working; presenting it is reuse, which
	// revokes the whole family, the new token included.
	assertError(t, c.post("/refresh", map[string]string{"refresh_token": first.refresh}), http.StatusUnauthorized, "invalid_grant")
	assertError(t, c.post("/refresh", map[string]string{"refresh_token": second.refresh}), http.StatusUnauthorized, "invalid_grant")
	// Another family of the same user is untouched.
	third := assertTokenResponse(t, c.post("/refresh", map[string]string{"refresh_token": other.refresh}))
	assert.NotEqual(t, other.refresh, third.refresh)

	// Unknown, malformed and wrongly typed refresh tokens.
	assertError(t, c.post("/refresh", map[string]string{"refresh_token": strings.Repeat("A", 43)}), http.StatusUnauthorized, "invalid_grant")
	assertError(t, c.post("/refresh", map[string]string{"refresh_token": "garbage"}), http.StatusUnauthorized, "invalid_grant")
	assertError(t, c.post("/refresh", map[string]string{"refresh_token": third.access}), http.StatusUnauthorized, "invalid_grant")
	assertError(t, c.post("/refresh", `{"refresh_token":42}`), http.StatusBadRequest, "invalid_request")
	assertError(t, c.post("/refresh", `{}`), http.StatusBadRequest, "invalid_request")
}

func testLogout(t *testing.T, _ *Fixture, c *client) {
	register(t, c, "alice", password)
	first := login(t, c, "alice", password)
	second := assertTokenResponse(t, c.post("/refresh", map[string]string{"refresh_token": first.refresh}))

	r := c.post("/logout", map[string]string{"refresh_token": second.refresh})
	assert.Equal(t, http.StatusNoContent, r.Status, "body %s", r.Body)
	assert.Empty(t, r.Body)
	assertError(t, c.post("/refresh", map[string]string{"refresh_token": second.refresh}), http.StatusUnauthorized, "invalid_grant")
	assertError(t, c.post("/refresh", map[string]string{"refresh_token": first.refresh}), http.StatusUnauthorized, "invalid_grant")

	// Logging out twice, or with an unknown well-formed token, is not an error (RFC 7009 §2.2).
	assert.Equal(t, http.StatusNoContent, c.post("/logout", map[string]string{"refresh_token": second.refresh}).Status)
	assert.Equal(t, http.StatusNoContent, c.post("/logout", map[string]string{"refresh_token": strings.Repeat("A", 43)}).Status)
	assertError(t, c.post("/logout", map[string]string{"refresh_token": "garbage"}), http.StatusBadRequest, "invalid_request")
	assertError(t, c.post("/logout", `{}`), http.StatusBadRequest, "invalid_request")
	assertError(t, c.post("/logout", `not json`), http.StatusBadRequest, "invalid_request")
}

func testRegisterDuplicate(t *testing.T, _ *Fixture, c *client) {
	register(t, c, "alice", password)
	for _, name := range []string{"alice", "Alice", "ALICE"} {
		assertError(t, c.post("/register", map[string]string{"username": name, "password": "another password"}), http.StatusConflict, "user_exists")
	}
	// The original password still works; the rejected one does not.
	login(t, c, "Alice", password)
	assertError(t, c.post("/login", map[string]string{"username": "alice", "password": "another password"}), http.StatusUnauthorized, "invalid_credentials")
}

func testBadRequests(t *testing.T, _ *Fixture, c *client) {
	big := `{"username":"bob","password":"` + strings.Repeat("a", jwtauth.MaxBodySize) + `"}`
	// A valid request padded with 100 ignored members: refused, since the
	// member count bounds the work of the duplicate check.
	var many strings.Builder
	many.WriteString(`{"username":"bob","password":"` + password + `"`)
	for i := range 100 {
		fmt.Fprintf(&many, `,"m%d":0`, i)
	}
	many.WriteString("}")
	manyMembers := many.String()
	cases := []struct {
		name   string
		body   string
		header []string
		status int
		// registerOnly cases are policy checks; /login answers them with
		// invalid_credentials like any other failed login.
		registerOnly bool
	}{
		{"malformed JSON", `{"username":"bob",`, nil, 400, false},
		{"not JSON", `username=bob&password=x`, nil, 400, false},
		{"empty body", ``, []string{"Content-Type", "application/json"}, 400, false},
		{"JSON null", `null`, nil, 400, false},
		{"JSON array", `[{"username":"bob","password":"` + password + `"}]`, nil, 400, false},
		{"trailing data", `{"username":"bob","password":"` + password + `"} {}`, nil, 400, false},
		{"missing password", `{"username":"bob"}`, nil, 400, false},
		{"missing username", `{"password":"` + password + `"}`, nil, 400, false},
		{"empty username", `{"username":"","password":"` + password + `"}`, nil, 400, false},
		{"empty password", `{"username":"bob","password":""}`, nil, 400, false},
		{"numeric password", `{"username":"bob","password":12345678}`, nil, 400, false},
		{"array username", `{"username":["bob"],"password":"` + password + `"}`, nil, 400, false},
		{"null username", `{"username":null,"password":"` + password + `"}`, nil, 400, false},
		{"object password", `{"username":"bob","password":{"p":"` + password + `"}}`, nil, 400, false},
		{"duplicate member", `{"username":"bob","username":"eve","password":"` + password + `"}`, nil, 400, false},
		{"username with space", `{"username":"bob smith","password":"` + password + `"}`, nil, 400, true},
		{"password of 7 characters", `{"username":"bob","password":"1234567"}`, nil, 400, true},
		{"password of 7 two-byte characters", `{"username":"bob","password":"ééééééé"}`, nil, 400, true},
		{"text/plain", `{"username":"bob","password":"` + password + `"}`, []string{"Content-Type", "", "Content-Type", "text/plain"}, 415, false},
		{"form Content-Type", `username=bob`, []string{"Content-Type", "", "Content-Type", "application/x-www-form-urlencoded"}, 415, false},
		{"no Content-Type", `{"username":"bob","password":"` + password + `"}`, []string{"Content-Type", ""}, 415, false},
		{"too many members", manyMembers, nil, 400, false},
		{"unparsable Content-Type", `{"username":"bob","password":"` + password + `"}`, []string{"Content-Type", "", "Content-Type", "application/json; ="}, 415, false},
		{"body over 1 MiB", big, nil, 413, false},
	}
	for _, path := range []string{"/register", "/login"} {
		for _, tc := range cases {
			if tc.registerOnly && path != "/register" {
				continue
			}
			t.Run(strings.TrimPrefix(path, "/")+"/"+tc.name, func(t *testing.T) {
				c := &client{t: t, h: c.h}
				r := c.do(http.MethodPost, path, tc.body, tc.header...)
				assertError(t, r, tc.status, "invalid_request")
			})
		}
	}
	// None of them created bob; the minimum password length is allowed.
	register(t, c, "bob", "12345678")
}

func testLoginFailures(t *testing.T, _ *Fixture, c *client) {
	register(t, c, "alice", password)
	unknown := c.post("/login", map[string]string{"username": "mallory", "password": password})
	wrong := c.post("/login", map[string]string{"username": "alice", "password": "wrong password"})
	invalidName := c.post("/login", map[string]string{"username": "not a name", "password": password})
	assertError(t, unknown, http.StatusUnauthorized, "invalid_credentials")
	for _, r := range []*response{wrong, invalidName} {
		assert.Equal(t, unknown.Status, r.Status)
		assert.Equal(t, string(unknown.Body), string(r.Body), "unknown user and wrong password must be indistinguishable")
		assert.Equal(t, unknown.Header, r.Header)
	}
}

func testLoginThrottled(t *testing.T, _ *Fixture, c *client) {
	register(t, c, "alice", password)
	wrong := map[string]string{"username": "alice", "password": "wrong password"}
	var r *response
	failures := 0
	for ; failures < 200; failures++ {
		if r = c.post("/login", wrong); r.Status != http.StatusUnauthorized {
			break
		}
	}
	require.Equal(t, 10, failures, "the 11th failed login for one username within a minute is throttled")
	assertError(t, r, http.StatusTooManyRequests, "too_many_requests")
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", r.Header.Get("Retry-After"))
	assert.Positive(t, secs)
	// Throttled means throttled: the right password does not get through,
	// and the answer does not reveal that it was right.
	assertError(t, c.post("/login", map[string]string{"username": "alice", "password": password}), http.StatusTooManyRequests, "too_many_requests")
	// Other users are not affected.
	register(t, c, "bob", password)
	login(t, c, "bob", password)
}

// testDeviceTokenBeatsLockout: a login sets the device cookie, and a login
// presenting it is not refused while the username is locked by failures
// (OWASP device cookies).
func testDeviceTokenBeatsLockout(t *testing.T, _ *Fixture, c *client) {
	register(t, c, "alice", password)
	r := c.post("/login", map[string]string{"username": "alice", "password": password})
	assertTokenResponse(t, r)
	var device *http.Cookie
	for _, ck := range (&http.Response{Header: r.Header}).Cookies() {
		if ck.Name == jwtauth.DeviceCookieName {
			device = ck
		}
	}
	require.NotNil(t, device, "Set-Cookie %q", r.Header.Values("Set-Cookie"))
	assert.Equal(t, "/login", device.Path)
	assert.True(t, device.HttpOnly)
	assert.True(t, device.Secure)
	assert.Equal(t, http.SameSiteStrictMode, device.SameSite)
	for range 10 {
		assertError(t, c.post("/login", map[string]string{"username": "alice", "password": "wrong password"}), http.StatusUnauthorized, "invalid_credentials")
	}
	right := map[string]string{"username": "alice", "password": password}
	assertError(t, c.post("/login", right), http.StatusTooManyRequests, "too_many_requests")
	assertTokenResponse(t, c.post("/login", right, "Cookie", device.Name+"="+device.Value))
}

// loginDevice logs user in and returns the Cookie header value of the
// device token the answer sets.
func loginDevice(t *testing.T, c *client, user, pass string) string {
	t.Helper()
	r := c.post("/login", map[string]string{"username": user, "password": pass})
	assertTokenResponse(t, r)
	for _, ck := range (&http.Response{Header: r.Header}).Cookies() {
		if ck.Name == jwtauth.DeviceCookieName {
			return ck.Name + "=" + ck.Value
		}
	}
	t.Fatalf("no device cookie: Set-Cookie %q", r.Header.Values("Set-Cookie"))
	return ""
}

// lockName fails ten logins of user, so that its right password pass is
// refused without a device token.
func lockName(t *testing.T, c *client, user, pass string) {
	t.Helper()
	for range 10 {
		assertError(t, c.post("/login", map[string]string{"username": user, "password": "wrong password"}), http.StatusUnauthorized, "invalid_credentials")
	}
	assertError(t, c.post("/login", map[string]string{"username": user, "password": pass}), http.StatusTooManyRequests, "too_many_requests")
}

// testDeviceTokenSharedHash: two accounts with the same stored hash (set
// through the store, as an import would) share the device-token key, but
// alice's device cookie does not lift the lock on bob's name: the token is
// bound to its username.
func testDeviceTokenSharedHash(t *testing.T, f *Fixture, c *client) {
	ctx := context.Background()
	register(t, c, "alice", password)
	alice, err := f.store.UserByName(ctx, "alice")
	require.NoError(t, err)
	require.NoError(t, f.store.CreateUser(ctx, account.User{Username: "bob", PasswordHash: alice.PasswordHash, CreatedAt: time.Now()}))
	aliceDevice := loginDevice(t, c, "alice", password)
	bobDevice := loginDevice(t, c, "bob", password)
	lockName(t, c, "bob", password)
	bob := map[string]string{"username": "bob", "password": password}
	assertError(t, c.post("/login", bob, "Cookie", aliceDevice), http.StatusTooManyRequests, "too_many_requests")
	assertTokenResponse(t, c.post("/login", bob, "Cookie", bobDevice))
}

// testDeviceTokenPasswordChange: a device cookie issued before the stored
// hash changed (a password change, made through the store) no longer lifts
// the lock on the name; one issued after it does.
func testDeviceTokenPasswordChange(t *testing.T, f *Fixture, c *client) {
	register(t, c, "alice", password)
	old := loginDevice(t, c, "alice", password)
	const newPassword = "a new and longer password"
	h, err := credential.HashPassword(newPassword, fastArgon2)
	require.NoError(t, err)
	require.NoError(t, f.store.UpdatePasswordHash(context.Background(), "alice", h))
	fresh := loginDevice(t, c, "alice", newPassword)
	lockName(t, c, "alice", newPassword)
	right := map[string]string{"username": "alice", "password": newPassword}
	assertError(t, c.post("/login", right, "Cookie", old), http.StatusTooManyRequests, "too_many_requests")
	assertTokenResponse(t, c.post("/login", right, "Cookie", fresh))
}

// testDeviceTokenChargesAddress: logins with a valid device cookie still
// spend the client address's budget (account.DefaultIPFailures): after that
// many failed or refused ones from the address, even another user's right
// password is refused there.
func testDeviceTokenChargesAddress(t *testing.T, _ *Fixture, c *client) {
	register(t, c, "alice", password)
	register(t, c, "bob", password)
	device := loginDevice(t, c, "alice", password)
	wrong := map[string]string{"username": "alice", "password": "wrong password"}
	codes := map[int]int{}
	for range account.DefaultIPFailures {
		codes[c.post("/login", wrong, "Cookie", device).Status]++
	}
	assert.Equal(t, map[int]int{http.StatusUnauthorized: account.DefaultUserFailures, http.StatusTooManyRequests: account.DefaultIPFailures - account.DefaultUserFailures}, codes)
	assertError(t, c.post("/login", map[string]string{"username": "bob", "password": password}), http.StatusTooManyRequests, "too_many_requests")
}

func testNoToken(t *testing.T, _ *Fixture, c *client) {
	for _, h := range [][]string{
		nil,
		{"Authorization", "Bearer"},
		{"Authorization", "Bearer   "},
		{"Authorization", "Basic YWxpY2U6c2VjcmV0"},
		{"x-access-token", ""},
	} {
		r := c.do(http.MethodGet, "/protected", "", h...)
		assert.Equal(t, http.StatusUnauthorized, r.Status, "headers %q", h)
		challenge := r.Header.Get("WWW-Authenticate")
		assert.Equal(t, `Bearer realm="`+Realm+`"`, challenge, "headers %q: RFC 6750 §3.1: no error attribute without a token", h)
		assert.NotContains(t, challenge, "error=")
		assertError(t, r, http.StatusUnauthorized, "unauthorized")
	}
}

func testInvalidTokens(t *testing.T, f *Fixture, c *client) {
	now := time.Now()
	active := f.ActiveKey(t)
	kid := active.KID
	valid := f.Token(t, "alice")
	parts := strings.Split(valid, ".")
	other := strings.Split(f.Token(t, "bob"), ".")
	pkix, pkcs1 := publicPEMs(t, active.Public())
	outsiderKID := thumbprint(t, &f.Outsider.PublicKey)
	outsiderJWK := map[string]any{
		"kty": "RSA", "kid": outsiderKID,
		"n": b64(f.Outsider.N.Bytes()), "e": b64(big.NewInt(int64(f.Outsider.E)).Bytes()),
	}
	claims := func(edit func(map[string]any)) map[string]any {
		m := goodClaims(now, "alice")
		edit(m)
		return m
	}
	issued := func(edit func(*token.IssuerConfig)) string {
		tok, err := f.issuerWith(t, edit).Issue(context.Background(), "alice")
		require.NoError(t, err)
		return tok.Raw
	}
	hdr := func(extra map[string]any) map[string]any {
		h := rsHeader(kid)
		for k, v := range extra {
			h[k] = v
		}
		return h
	}

	// Positive controls: the forging helpers make tokens the server accepts,
	// so each rejection below is the server's doing, not a helper bug.
	assertProtectedOK(t, c.do(http.MethodGet, "/protected", "", bearer(valid)...), "alice")
	assertProtectedOK(t, c.do(http.MethodGet, "/protected", "", bearer(signRSA(t, active.Private, crypto.SHA256, rsHeader(kid), goodClaims(now, "alice")))...), "alice")

	cases := []struct {
		name  string
		token string
	}{
		{"garbage", "garbage"},
		{"two segments", parts[0] + "." + parts[1]},
		{"four segments", valid + "." + parts[2]},
		{"empty segments", ".."},
		{"alg none", seg(t, map[string]any{"alg": "none", "typ": "JWT", "kid": kid}) + "." + parts[1] + "."},
		{"alg none with signature", seg(t, map[string]any{"alg": "none", "typ": "JWT", "kid": kid}) + "." + parts[1] + "." + parts[2]},
		{"HS256 keyed with the PKIX public key PEM", signHS256(t, pkix, map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}, goodClaims(now, "alice"))},
		{"HS256 keyed with the PKCS1 public key PEM", signHS256(t, pkcs1, map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}, goodClaims(now, "alice"))},
		{"RS512 not accepted", signRSA(t, active.Private, crypto.SHA512, hdr(map[string]any{"alg": "RS512"}), goodClaims(now, "alice"))},
		{"tampered payload", parts[0] + "." + seg(t, goodClaims(now, "admin")) + "." + parts[2]},
		{"signature of another token", parts[0] + "." + parts[1] + "." + other[2]},
		{"empty signature", parts[0] + "." + parts[1] + "."},
		{"non-canonical base64url", parts[0] + "." + parts[1] + "." + base64.URLEncoding.EncodeToString(mustB64(t, parts[2]))},
		{"unknown kid", signRSA(t, f.Outsider, crypto.SHA256, rsHeader(outsiderKID), goodClaims(now, "alice"))},
		{"no kid", signRSA(t, active.Private, crypto.SHA256, map[string]any{"alg": "RS256", "typ": "JWT"}, goodClaims(now, "alice"))},
		{"known kid, other key", signRSA(t, f.Outsider, crypto.SHA256, rsHeader(kid), goodClaims(now, "alice"))},
		{"embedded jwk header", signRSA(t, f.Outsider, crypto.SHA256, map[string]any{"alg": "RS256", "typ": "JWT", "kid": outsiderKID, "jwk": outsiderJWK}, goodClaims(now, "alice"))},
		{"jku header", signRSA(t, f.Outsider, crypto.SHA256, map[string]any{"alg": "RS256", "typ": "JWT", "kid": outsiderKID, "jku": "https://evil.example.test/jwks.json"}, goodClaims(now, "alice"))},
		{"unknown crit", signRSA(t, active.Private, crypto.SHA256, hdr(map[string]any{"crit": []string{"exp"}, "exp": now.Unix()}), goodClaims(now, "alice"))},
		{"expired", issued(func(c *token.IssuerConfig) { c.Now = func() time.Time { return now.Add(-time.Hour) } })},
		{"not yet valid", issued(func(c *token.IssuerConfig) { c.Now = func() time.Time { return now.Add(time.Hour) } })},
		{"wrong iss", issued(func(c *token.IssuerConfig) { c.Issuer = "https://evil.example.test" })},
		{"wrong aud", issued(func(c *token.IssuerConfig) { c.Audience = []string{"https://other.example.test"} })},
		{"no exp", signRSA(t, active.Private, crypto.SHA256, rsHeader(kid), claims(func(m map[string]any) { delete(m, "exp") }))},
		{"exp as a string", signRSA(t, active.Private, crypto.SHA256, rsHeader(kid), claims(func(m map[string]any) { m["exp"] = strconv.FormatInt(now.Add(time.Hour).Unix(), 10) }))},
		{"exp as RFC 3339 text", signRSA(t, active.Private, crypto.SHA256, rsHeader(kid), claims(func(m map[string]any) { m["exp"] = now.Add(time.Hour).Format(time.RFC3339) }))},
		{"duplicate sub", signRSA(t, active.Private, crypto.SHA256, rsHeader(kid),
			fmt.Sprintf(`{"iss":%q,"sub":"alice","aud":%q,"exp":%d,"sub":"admin"}`, Issuer, Audience, now.Add(time.Hour).Unix()))},
		{"over 8 KiB", signRSA(t, active.Private, crypto.SHA256, rsHeader(kid), claims(func(m map[string]any) { m["pad"] = strings.Repeat("a", token.MaxTokenSize) }))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &client{t: t, h: c.h}
			assertInvalidToken(t, c.do(http.MethodGet, "/protected", "", bearer(tc.token)...))
			assertInvalidToken(t, c.do(http.MethodGet, "/protected", "", "x-access-token", tc.token))
		})
	}
	t.Run("two different tokens", func(t *testing.T) {
		c := &client{t: t, h: c.h}
		bob := strings.Join(other, ".")
		assertInvalidToken(t, c.do(http.MethodGet, "/protected", "", "Authorization", "Bearer "+valid, "x-access-token", bob))
	})
	t.Run("two Authorization headers", func(t *testing.T) {
		c := &client{t: t, h: c.h}
		assertInvalidToken(t, c.do(http.MethodGet, "/protected", "", "Authorization", "Bearer "+valid, "Authorization", "Bearer "+valid))
	})
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	require.NoError(t, err)
	return b
}

func testRevokedKey(t *testing.T, f *Fixture, c *client) {
	register(t, c, "alice", password)
	old := login(t, c, "alice", password)
	oldKID := f.ActiveKey(t).KID
	assertProtectedOK(t, c.do(http.MethodGet, "/protected", "", bearer(old.access)...), "alice")
	etag := c.do(http.MethodGet, "/.well-known/jwks.json", "").Header.Get("ETag")

	require.NoError(t, f.Keys.Revoke(context.Background(), oldKID))
	assertInvalidToken(t, c.do(http.MethodGet, "/protected", "", bearer(old.access)...))
	r := c.do(http.MethodGet, "/.well-known/jwks.json", "")
	assert.Equal(t, http.StatusOK, r.Status)
	assert.NotContains(t, jwksKIDs(t, r), oldKID, "a revoked key leaves the JWKS at once")
	assert.NotEqual(t, etag, r.Header.Get("ETag"))
	// Signing goes on with the promoted key: no failed login.
	assertProtectedOK(t, c.do(http.MethodGet, "/protected", "", bearer(login(t, c, "alice", password).access)...), "alice")
}

func testConcurrent(t *testing.T, f *Fixture, c *client) {
	toks := []string{f.Token(t, "alice"), f.Token(t, "bob")}
	var wg sync.WaitGroup
	type result struct {
		status int
		body   []byte
		want   string
	}
	results := make(chan result, 64)
	for i := range 16 {
		wg.Go(func() {
			for j := range 4 {
				tok := toks[(i+j)%2]
				req := httptest.NewRequest(http.MethodGet, "/protected", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				rec := httptest.NewRecorder()
				c.h.ServeHTTP(rec, req)
				results <- result{rec.Code, rec.Body.Bytes(), []string{"alice", "bob"}[(i+j)%2]}
			}
		})
	}
	wg.Wait()
	close(results)
	for r := range results {
		require.Equal(t, http.StatusOK, r.status, "body %s", r.body)
		var m map[string]any
		require.NoError(t, json.Unmarshal(r.body, &m))
		assert.Equal(t, r.want, m["sub"], "claims leaked between concurrent requests")
	}
}

var strongETag = regexp.MustCompile(`^"[\x21\x23-\x7e]+"$`)

func jwksKIDs(t *testing.T, r *response) []string {
	t.Helper()
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(r.Body, &doc), "body %s", r.Body)
	var kids []string
	for _, k := range doc.Keys {
		kid, _ := k["kid"].(string)
		kids = append(kids, kid)
	}
	return kids
}

// handJWK is the JWK of pub that SPEC §2 and RFC 7517/7518/7638 call for,
// computed without jwtauth or jwx: {"alg":"RS256","e","kid","kty":"RSA",
// "n","use":"sig"}, kid = base64url(SHA-256 of
// {"e":"…","kty":"RSA","n":"…"}).
func handJWK(pub *rsa.PublicKey) map[string]any {
	b64 := base64.RawURLEncoding.EncodeToString
	e := big.NewInt(int64(pub.E)).Bytes()
	n, ee := b64(pub.N.Bytes()), b64(e)
	sum := sha256.Sum256([]byte(`{"e":"` + ee + `","kty":"RSA","n":"` + n + `"}`))
	return map[string]any{"alg": "RS256", "e": ee, "kid": b64(sum[:]), "kty": "RSA", "n": n, "use": "sig"}
}

func testJWKS(t *testing.T, f *Fixture, c *client) {
	const path = "/.well-known/jwks.json"
	r := c.do(http.MethodGet, path, "")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.Equal(t, "public, max-age="+strconv.Itoa(int(JWKSMaxAge/time.Second)), r.Header.Get("Cache-Control"))
	assert.Equal(t, "nosniff", r.Header.Get("X-Content-Type-Options"))
	etag := r.Header.Get("ETag")
	assert.Regexp(t, strongETag, etag, "a strong ETag (RFC 9110 §8.8.3)")

	var doc map[string][]map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &doc), "body %s", r.Body)
	assert.Equal(t, []string{"keys"}, func() []string {
		var out []string
		for k := range doc {
			out = append(out, k)
		}
		return out
	}())
	// The expected JWKS is computed here from the private keys the fixture
	// handed to the key manager (the first active key and the first next
	// key), with no jwtauth or keys code: n and e are the big-endian bytes
	// of the modulus and exponent in unpadded base64url (RFC 7518 §6.3.1),
	// the kid is the RFC 7638 thumbprint.
	gen := f.generatedKeys()
	require.Len(t, gen, 2, "the fixture's key manager created an active and a next key")
	var want []map[string]any
	for _, priv := range gen {
		want = append(want, handJWK(&priv.PublicKey))
	}
	assert.ElementsMatch(t, want, doc["keys"], "the JWKS publishes exactly the active and the next key")
	assert.Equal(t, want[0]["kid"], f.ActiveKey(t).KID, "the first key created signs")
	for _, k := range doc["keys"] {
		assert.Equal(t, []string{"alg", "e", "kid", "kty", "n", "use"}, keysOf(k), "public members only, never d/p/q/dp/dq/qi")
	}

	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		r := c.do(http.MethodGet, path, "", "If-None-Match", inm)
		assert.Equal(t, http.StatusNotModified, r.Status, "If-None-Match: %s", inm)
		assert.Empty(t, r.Body)
		assert.Equal(t, etag, r.Header.Get("ETag"))
	}
	r = c.do(http.MethodGet, path, "", "If-None-Match", `"stale"`)
	assert.Equal(t, http.StatusOK, r.Status)
	assert.True(t, bytes.Contains(r.Body, []byte(`"keys"`)))

	r = c.do(http.MethodHead, path, "")
	assert.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, etag, r.Header.Get("ETag"))
}

// testDiscovery: the OpenID Connect discovery document and the RFC 8414
// metadata (the same bytes) name the issuer and its JWKS and nothing untrue.
func testDiscovery(t *testing.T, _ *Fixture, c *client) {
	r := c.do(http.MethodGet, "/.well-known/openid-configuration", "")
	require.Equal(t, http.StatusOK, r.Status)
	m := jsonBody(t, r)
	assert.Equal(t, Issuer, m["issuer"])
	assert.Equal(t, Issuer+"/.well-known/jwks.json", m["jwks_uri"])
	assert.Equal(t, []any{"RS256"}, m["id_token_signing_alg_values_supported"])
	assert.Equal(t, []any{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}, m["claims_supported"], "no claims hook declared")
	// Only what is true: /login and /refresh are not RFC 6749 token
	// endpoints and there is no authorization endpoint, so no endpoints and
	// no grant or response types (left out, grant_types_supported would
	// mean authorization_code and implicit, RFC 8414 §2).
	assert.Equal(t, []string{"claims_supported", "grant_types_supported", "id_token_signing_alg_values_supported",
		"issuer", "jwks_uri", "response_types_supported", "subject_types_supported"}, keysOf(m))
	assert.Equal(t, []any{}, m["grant_types_supported"])
	assert.Equal(t, []any{}, m["response_types_supported"])
	assert.Regexp(t, strongETag, r.Header.Get("ETag"))

	meta := c.do(http.MethodGet, "/.well-known/oauth-authorization-server", "")
	require.Equal(t, http.StatusOK, meta.Status)
	assert.Equal(t, string(r.Body), string(meta.Body), "RFC 8414 metadata: the same document")
	assert.Equal(t, r.Header.Get("ETag"), meta.Header.Get("ETag"))
	assert.Equal(t, http.StatusOK, c.do(http.MethodHead, "/.well-known/oauth-authorization-server", "").Status)
}

func testHealth(t *testing.T, _ *Fixture, c *client) {
	r := c.do(http.MethodGet, "/healthz", "")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, map[string]any{"status": "ok"}, jsonBody(t, r))
	assert.Equal(t, http.StatusOK, c.do(http.MethodHead, "/healthz", "").Status)
}

// testStoreDown: with the store unreachable, every answer that needs it is
// 503 temporarily_unavailable with Retry-After (never a 500), /healthz says
// so, and what needs only the key set in memory goes on: verifying access
// tokens and serving the JWKS.
func testStoreDown(t *testing.T, f *Fixture, c *client) {
	register(t, c, "alice", password)
	tk := login(t, c, "alice", password)
	require.NoError(t, f.store.Close())
	c.storeDown = true

	unavailable := func(r *response) {
		t.Helper()
		assertError(t, r, http.StatusServiceUnavailable, "temporarily_unavailable")
		secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
		require.NoError(t, err, "Retry-After %q", r.Header.Get("Retry-After"))
		assert.Positive(t, secs)
	}
	unavailable(c.do(http.MethodGet, "/healthz", ""))
	unavailable(c.post("/register", map[string]string{"username": "bob", "password": password}))
	unavailable(c.post("/login", map[string]string{"username": "alice", "password": password}))
	unavailable(c.post("/refresh", map[string]string{"refresh_token": tk.refresh}))
	unavailable(c.post("/logout", map[string]string{"refresh_token": tk.refresh}))
	r := c.do(http.MethodHead, "/healthz", "")
	assert.Equal(t, http.StatusServiceUnavailable, r.Status)
	assert.NotEmpty(t, r.Header.Get("Retry-After"))

	assertProtectedOK(t, c.do(http.MethodGet, "/protected", "", bearer(tk.access)...), "alice")
	assert.Equal(t, http.StatusOK, c.do(http.MethodGet, "/.well-known/jwks.json", "").Status)
}

func testNotFound(t *testing.T, f *Fixture, c *client) {
	tok := f.Token(t, "alice")
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/nope"},
		{http.MethodPost, "/nope"},
		{http.MethodGet, "/protected/extra"},
		{http.MethodGet, "/.well-known/other"},
		{http.MethodGet, "/healthz/"},
		{http.MethodPost, "/login/"},
		{http.MethodPost, "//login"},                // not canonical: no redirect, a JSON 404
		{http.MethodGet, "//protected"},             // likewise
		{http.MethodGet, "/.well-known/../healthz"}, // likewise
	} {
		r := c.do(tc.method, tc.path, "", bearer(tok)...)
		assertError(t, r, http.StatusNotFound, "not_found")
	}
}

func testMethodNotAllowed(t *testing.T, f *Fixture, c *client) {
	for _, tc := range []struct {
		method, path, allow string
	}{
		{http.MethodGet, "/login", http.MethodPost},
		{http.MethodDelete, "/register", http.MethodPost},
		{http.MethodPut, "/refresh", http.MethodPost},
		{http.MethodGet, "/logout", http.MethodPost},
		{http.MethodPost, "/protected", http.MethodGet},
		{http.MethodDelete, "/.well-known/jwks.json", http.MethodGet},
		{http.MethodPost, "/.well-known/openid-configuration", http.MethodGet},
		{http.MethodPut, "/.well-known/oauth-authorization-server", http.MethodGet},
		{http.MethodPost, "/healthz", http.MethodGet},
	} {
		// A token makes no difference: routing comes before authentication.
		r := c.do(tc.method, tc.path, "", bearer(f.Token(t, "alice"))...)
		assertError(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
		var allow []string
		for _, a := range strings.Split(r.Header.Get("Allow"), ",") {
			allow = append(allow, strings.TrimSpace(a))
		}
		assert.Contains(t, allow, tc.allow, "%s %s: Allow %q", tc.method, tc.path, r.Header.Get("Allow"))
		assert.NotContains(t, allow, tc.method)
	}
}
