package jwtauth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
)

const aliceNewPW = "a brand new passphrase"

func bearerOf(access string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+access) }
}

func pwChange(current, next string) map[string]string {
	return map[string]string{"current_password": current, "new_password": next}
}

// deviceOf returns the device token res sets in its DeviceCookieName cookie.
func deviceOf(t testing.TB, res response) (token, path string) {
	t.Helper()
	for _, c := range (&http.Response{Header: res.Header}).Cookies() {
		if c.Name == jwtauth.DeviceCookieName {
			return c.Value, c.Path
		}
	}
	t.Fatalf("no %s cookie in %q", jwtauth.DeviceCookieName, res.Header.Values("Set-Cookie"))
	return "", ""
}

// TestChangePassword: POST /password with alice's access token and her
// current password answers a new session shaped as a login's, revokes every
// other refresh family of hers (not bob's), makes the old password fail and
// the new one work, and reports the change to the audit hook and the trace.
func TestChangePassword(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) account.Store) {
		var mu sync.Mutex
		var events []account.AuditEvent
		ops := map[string]int{}
		s := newServer(t, open(t), options{accounts: func(c *account.Config) {
			c.Audit = func(_ context.Context, e account.AuditEvent) { mu.Lock(); events = append(events, e); mu.Unlock() }
			c.Trace = &account.Trace{Operation: func(op, result string) { mu.Lock(); ops[op+" "+result]++; mu.Unlock() }}
		}})
		s.register("alice", alicePW)
		s.register("bob", "bob's long password")
		a1, a2 := s.login("alice", alicePW), s.login("alice", alicePW)
		b := s.login("bob", "bob's long password")

		res := s.do("POST", "/password", pwChange(alicePW, aliceNewPW), bearerOf(a1.str("access_token")), from("198.51.100.7:1234"))
		require.Equal(t, http.StatusOK, res.Code, res.Raw)
		assert.ElementsMatch(t, []string{"access_token", "token", "token_type", "expires_in", "refresh_token"}, memberNames(res.Body))
		assert.Equal(t, "Bearer", res.str("token_type"))
		assert.Equal(t, res.str("access_token"), res.str("token"))
		assert.Equal(t, "alice", s.subject(res.str("access_token")))
		assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
		_, devicePath := deviceOf(t, res)
		assert.Equal(t, "/login", devicePath, "the device cookie goes to the login endpoint beside /password")

		for i, old := range []response{a1, a2} {
			assertInvalidGrant(t, s.refresh(old.str("refresh_token")), "alice's family %d, from before the change", i+1)
		}
		assert.Equal(t, http.StatusOK, s.refresh(b.str("refresh_token")).Code, "bob's session is not touched")
		assert.Equal(t, http.StatusOK, s.refresh(res.str("refresh_token")).Code, "the new session refreshes")
		assert.Equal(t, http.StatusUnauthorized, s.do("POST", "/login", creds("alice", alicePW)).Code, "the old password")
		s.login("alice", aliceNewPW)

		mu.Lock()
		defer mu.Unlock()
		var changes []account.AuditEvent
		for _, e := range events {
			if strings.HasPrefix(e.Kind, "password_change") {
				changes = append(changes, e)
			}
		}
		require.Len(t, changes, 1)
		assert.Equal(t, account.AuditPasswordChange, changes[0].Kind)
		assert.Equal(t, "alice", changes[0].Username)
		assert.Equal(t, "198.51.100.7", changes[0].Client.String())
		assert.NotEmpty(t, changes[0].FamilyID)
		assert.Equal(t, 1, ops["change_password ok"])
	})
}

func memberNames(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestChangePasswordRefusals: a wrong current password (401
// invalid_credentials, the body of a failed login), a new password outside
// the policy (400), no token (401), a token of another user (whose sub
// alone decides: bob cannot change alice's password with hers), and each
// kind of bad body get a clear 4xx; afterwards alice's password and her
// session are exactly as before: nothing was half done.
func TestChangePasswordRefusals(t *testing.T) {
	s := newServer(t, memory.New(), options{})
	s.register("alice", alicePW)
	s.register("bob", "bob's long password")
	a := s.login("alice", alicePW)
	b := s.login("bob", "bob's long password")
	alice, bob := bearerOf(a.str("access_token")), bearerOf(b.str("access_token"))

	wrongLogin := s.do("POST", "/login", creds("alice", "wrong password"))
	res := s.do("POST", "/password", pwChange("wrong password", aliceNewPW), alice)
	assert.Equal(t, http.StatusUnauthorized, res.Code)
	assert.Equal(t, "invalid_credentials", res.str("error"))
	assert.Equal(t, wrongLogin.Raw, res.Raw, "the answer of a failed login")

	res = s.do("POST", "/password", pwChange(alicePW, "short"), alice)
	assert.Equal(t, http.StatusBadRequest, res.Code)
	assert.Equal(t, "invalid_request", res.str("error"))
	assert.Contains(t, res.str("error_description"), "password must be 8 to 1024 characters")

	res = s.do("POST", "/password", pwChange(alicePW, aliceNewPW))
	assert.Equal(t, http.StatusUnauthorized, res.Code)
	assert.Equal(t, "unauthorized", res.str("error"))

	// bob's token names bob: alice's password is not bob's, so this is a
	// wrong current password of bob, and alice's account is not looked at.
	res = s.do("POST", "/password", pwChange(alicePW, aliceNewPW), bob)
	assert.Equal(t, http.StatusUnauthorized, res.Code)
	assert.Equal(t, "invalid_credentials", res.str("error"))

	big := `{"current_password":"` + alicePW + `","new_password":"` + strings.Repeat("a", jwtauth.MaxBodySize) + `"}`
	for _, tc := range []struct {
		name   string
		body   string
		edit   func(*http.Request)
		status int
	}{
		{"malformed JSON", `{"current_password":"` + alicePW + `",`, nil, 400},
		{"missing new_password", `{"current_password":"` + alicePW + `"}`, nil, 400},
		{"missing current_password", `{"new_password":"` + aliceNewPW + `"}`, nil, 400},
		{"empty current_password", `{"current_password":"","new_password":"` + aliceNewPW + `"}`, nil, 400},
		{"numeric new_password", `{"current_password":"` + alicePW + `","new_password":12345678}`, nil, 400},
		{"duplicate member", `{"current_password":"` + alicePW + `","new_password":"` + aliceNewPW + `","new_password":"x"}`, nil, 400},
		{"the login's members", `{"username":"alice","password":"` + alicePW + `"}`, nil, 400},
		{"text/plain", `{"current_password":"` + alicePW + `","new_password":"` + aliceNewPW + `"}`,
			func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }, 415},
		{"no Content-Type", `{"current_password":"` + alicePW + `","new_password":"` + aliceNewPW + `"}`,
			func(r *http.Request) { r.Header.Del("Content-Type") }, 415},
		{"body over 1 MiB", big, nil, 413},
	} {
		edits := []func(*http.Request){alice}
		if tc.edit != nil {
			edits = append(edits, tc.edit)
		}
		res := s.do("POST", "/password", tc.body, edits...)
		assert.Equal(t, tc.status, res.Code, "%s: %s", tc.name, res.Raw)
		assert.Equal(t, "invalid_request", res.str("error"), tc.name)
	}

	// Nothing changed: both passwords and both sessions are as they were.
	assert.Equal(t, http.StatusOK, s.refresh(a.str("refresh_token")).Code, "alice's session survives every refusal")
	assert.Equal(t, http.StatusOK, s.refresh(b.str("refresh_token")).Code)
	s.login("alice", alicePW)
	s.login("bob", "bob's long password")
	assert.Equal(t, http.StatusUnauthorized, s.do("POST", "/login", creds("alice", aliceNewPW)).Code)
}

// TestChangePasswordThrottled: wrong current passwords are charged to the
// login throttle's username bucket: after ten failures within a minute the
// change answers 429 with Retry-After even with the right password, and so
// does a login; failed logins likewise block a change.
func TestChangePasswordThrottled(t *testing.T) {
	s := newServer(t, memory.New(), options{})
	s.register("alice", alicePW)
	alice := bearerOf(s.login("alice", alicePW).str("access_token"))
	for i := range 10 {
		res := s.do("POST", "/password", pwChange(fmt.Sprintf("wrong %d!", i), aliceNewPW), alice)
		require.Equal(t, http.StatusUnauthorized, res.Code, "failure %d: %s", i+1, res.Raw)
		s.clock.Advance(time.Second)
	}
	res := s.do("POST", "/password", pwChange(alicePW, aliceNewPW), alice)
	require.Equal(t, http.StatusTooManyRequests, res.Code, res.Raw)
	assert.Equal(t, "too_many_requests", res.str("error"))
	assert.Equal(t, "50", res.Header.Get("Retry-After"), "one token a minute; 10 s of it have passed since the first failure")
	assert.Equal(t, http.StatusTooManyRequests, s.do("POST", "/login", creds("alice", alicePW)).Code, "the login shares the bucket")

	// A minute later the right password changes it; then failed logins
	// lock the change out again.
	s.clock.Advance(time.Minute)
	require.Equal(t, http.StatusOK, s.do("POST", "/password", pwChange(alicePW, aliceNewPW), alice).Code)
	for s.do("POST", "/login", creds("alice", "wrong password")).Code == http.StatusUnauthorized {
	}
	res = s.do("POST", "/password", pwChange(aliceNewPW, alicePW), alice)
	assert.Equal(t, http.StatusTooManyRequests, res.Code, res.Raw)
	assert.NotEmpty(t, res.Header.Get("Retry-After"))
}

// TestChangePasswordEndsDeviceTokens: a device token lifts a lockout of its
// username until the password is changed through POST /password; after
// that only the device token the change answered does.
func TestChangePasswordEndsDeviceTokens(t *testing.T) {
	s := newServer(t, memory.New(), options{})
	s.register("alice", alicePW)
	first := s.login("alice", alicePW)
	oldDevice, _ := deviceOf(t, first)
	const attacker = "203.0.113.9:4000"
	lock := func(pw string) {
		t.Helper()
		for s.do("POST", "/login", creds("alice", "wrong password"), from(attacker)).Code == http.StatusUnauthorized {
		}
		require.Equal(t, http.StatusTooManyRequests, s.do("POST", "/login", creds("alice", pw)).Code, "locked")
	}
	withDevice := func(pw, device string) int {
		return s.do("POST", "/login", map[string]string{"username": "alice", "password": pw, "device_token": device}).Code
	}
	lock(alicePW)
	require.Equal(t, http.StatusOK, withDevice(alicePW, oldDevice), "the device token lifts the lock before the change")

	s.clock.Advance(time.Minute) // one token back in the username's bucket
	res := s.do("POST", "/password", pwChange(alicePW, aliceNewPW), bearerOf(first.str("access_token")))
	require.Equal(t, http.StatusOK, res.Code, res.Raw)
	newDevice, _ := deviceOf(t, res)

	lock(aliceNewPW)
	assert.Equal(t, http.StatusTooManyRequests, withDevice(aliceNewPW, oldDevice), "the old device token no longer lifts the lock")
	assert.Equal(t, http.StatusOK, withDevice(aliceNewPW, newDevice), "the device token of the change does")
}

// TestChangePasswordRacesRefresh: a refresh of alice's token racing her
// password change never leaves a family alive besides the change's: if the
// refresh won, its successor is refused afterwards.
func TestChangePasswordRacesRefresh(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) account.Store) {
		s := newServer(t, open(t), options{accounts: func(c *account.Config) {
			c.Throttle = account.LoginThrottle{IPFailures: -1, UserFailures: -1}
		}})
		s.register("alice", alicePW)
		pw := alicePW
		won := 0
		const rounds = 30
		for round := range rounds {
			l := s.login("alice", pw)
			next := fmt.Sprintf("password of round %d", round)
			var ref, chg response
			start := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() { <-start; ref = s.refresh(l.str("refresh_token")) })
			wg.Go(func() {
				<-start
				chg = s.do("POST", "/password", pwChange(pw, next), bearerOf(l.str("access_token")))
			})
			close(start)
			wg.Wait()
			require.Equal(t, http.StatusOK, chg.Code, "round %d: %s", round, chg.Raw)
			pw = next
			if ref.Code == http.StatusOK {
				won++
				assertInvalidGrant(t, s.refresh(ref.str("refresh_token")), "round %d: the successor of a refresh that raced the change", round)
			} else {
				assertInvalidGrant(t, ref, "round %d: a refresh that lost to the change", round)
			}
			require.Equal(t, http.StatusOK, s.refresh(chg.str("refresh_token")).Code, "round %d: the change's session", round)
		}
		t.Logf("%d rounds, the refresh won %d", rounds, won)
	})
}

// serveAuthenticated serves r on svc's route for path behind the service's
// Authenticator, as the adapters mount a Protected route.
func serveAuthenticated(t *testing.T, svc *jwtauth.Service, path string, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	r2, _, err := svc.Authenticator().Authenticate(r)
	if err != nil {
		svc.Authenticator().Challenge(w, err)
		return w
	}
	route(t, svc, path).ServeHTTP(w, r2)
	return w
}

// TestChangePasswordCookieMode: in cookie mode POST /password must pass
// the CSRF check even with a Bearer token (403 csrf_check_failed before
// anything is read, counted as csrf_refused), and a change replaces the
// refresh cookie: the body has no refresh_token, the old cookie is
// refused afterwards, the new one refreshes. The metrics count the
// operation by result.
func TestChangePasswordCookieMode(t *testing.T) {
	const page = "https://app.example.test"
	svc, reg := metricsService(t, jwtauth.Config{Cookies: jwtauth.CookieMode{Enabled: true}})
	require.NoError(t, svc.Accounts().Register(t.Context(), "alice", alicePW))
	w := do(t, svc, "POST", "/login", credentials("alice", alicePW))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var login account.TokenResponse
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &login))
	oldCookie := refreshCookie(t, w)

	change := func(header ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/auth/password", strings.NewReader(`{"current_password":"`+alicePW+`","new_password":"`+aliceNewPW+`"}`))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+login.AccessToken)
		for i := 0; i < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		return serveAuthenticated(t, svc, "/password", r)
	}
	for _, h := range [][]string{nil, {"Origin", "https://evil.example"}, {authn.CSRFHeader, "1", "Origin", "https://evil.example"}, {authn.CSRFHeader, "1", "Sec-Fetch-Site", "cross-site"}} {
		w = change(h...)
		assert.Equal(t, http.StatusForbidden, w.Code, "headers %q: %s", h, w.Body.String())
		assert.Contains(t, w.Body.String(), `"error":"csrf_check_failed"`)
		assert.Empty(t, w.Header().Values("Set-Cookie"))
	}
	w = change(authn.CSRFHeader, "1", "Origin", page, "Sec-Fetch-Site", "same-origin")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.NotContains(t, w.Body.String(), "refresh_token")
	newCookie := refreshCookie(t, w)
	assert.NotEqual(t, oldCookie, newCookie)
	var device *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == jwtauth.DeviceCookieName {
			device = c
		}
	}
	require.NotNil(t, device)
	assert.Equal(t, "/auth/login", device.Path, "the issuer's path")

	refresh := func(tok string) int {
		r := httptest.NewRequest(http.MethodPost, "/auth/refresh", nil)
		r.Header.Set("Cookie", jwtauth.RefreshCookieName+"="+tok)
		r.Header.Set(authn.CSRFHeader, "1")
		w := httptest.NewRecorder()
		route(t, svc, "/refresh").ServeHTTP(w, r)
		return w.Code
	}
	assert.Equal(t, http.StatusUnauthorized, refresh(oldCookie), "the replaced cookie")
	assert.Equal(t, http.StatusOK, refresh(newCookie), "the new cookie")

	// A wrong current password, with the CSRF header.
	r := httptest.NewRequest(http.MethodPost, "/auth/password", strings.NewReader(`{"current_password":"wrong password","new_password":"`+aliceNewPW+`"}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+login.AccessToken)
	r.Header.Set(authn.CSRFHeader, "1")
	assert.Equal(t, http.StatusUnauthorized, serveAuthenticated(t, svc, "/password", r).Code)

	fams, _ := scrape(t, reg)
	assert.Equal(t, 4.0, series(t, fams, "jwtauth_account_operations_total", "operation", "change_password", "result", "csrf_refused"))
	assert.Equal(t, 1.0, series(t, fams, "jwtauth_account_operations_total", "operation", "change_password", "result", "ok"))
	assert.Equal(t, 1.0, series(t, fams, "jwtauth_account_operations_total", "operation", "change_password", "result", "invalid_credentials"))
}

// refreshCookie returns the value of the refresh cookies w sets (both the
// same).
func refreshCookie(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var vals []string
	for _, c := range w.Result().Cookies() {
		if c.Name == jwtauth.RefreshCookieName {
			vals = append(vals, c.Value)
		}
	}
	require.Len(t, vals, 2, "Set-Cookie %q", w.Header().Values("Set-Cookie"))
	require.Equal(t, vals[0], vals[1])
	require.Len(t, vals[0], 43)
	return vals[0]
}
