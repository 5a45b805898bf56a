package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/keys/keystest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestThrottleSettings: the login and registration budgets of
// account.LoginThrottle are serve settings (flag, JWTAUTH_THROTTLE_*
// variable, flag wins); their defaults are the library's, and "off" turns a
// budget off (-1 in LoginThrottle).
func TestThrottleSettings(t *testing.T) {
	c, err := parseServeConfig(nil, nil)
	require.NoError(t, err)
	assert.Equal(t, account.LoginThrottle{
		UserFailures: account.DefaultUserFailures, UserInterval: account.DefaultUserInterval,
		IPFailures: account.DefaultIPFailures, IPInterval: account.DefaultIPInterval,
		Registrations: account.DefaultRegistrations, RegisterInterval: account.DefaultRegisterInterval,
	}, c.Throttle, "the defaults are today's")

	c, err = parseServeConfig(
		[]string{"--throttle-ip-failures", "500", "--throttle-registrations=200", "--throttle-register-interval", "18s", "--throttle-user-failures", "off"},
		map[string]string{
			"JWTAUTH_THROTTLE_IP_FAILURES": "7", "JWTAUTH_THROTTLE_REGISTRATIONS": "8", // the flags win
			"JWTAUTH_THROTTLE_IP_INTERVAL": "1s", "JWTAUTH_THROTTLE_USER_INTERVAL": "2m30s", // used: no flag
		})
	require.NoError(t, err)
	assert.Equal(t, account.LoginThrottle{
		UserFailures: -1, UserInterval: 150 * time.Second,
		IPFailures: 500, IPInterval: time.Second,
		Registrations: 200, RegisterInterval: 18 * time.Second,
	}, c.Throttle)

	c, err = parseServeConfig([]string{"--throttle-ip-failures", "OFF"}, map[string]string{"JWTAUTH_THROTTLE_REGISTRATIONS": "off"})
	require.NoError(t, err)
	assert.Equal(t, -1, c.Throttle.IPFailures)
	assert.Equal(t, -1, c.Throttle.Registrations)

	for _, tc := range []struct {
		args []string
		env  map[string]string
		want []string
	}{
		{[]string{"--throttle-ip-failures", "0"}, nil, []string{"--throttle-ip-failures", `"0" is not a number of attempts from 1 to 100000, or off`}},
		{[]string{"--throttle-user-failures", "-1"}, nil, []string{"--throttle-user-failures", `"-1"`, "or off"}},
		{nil, map[string]string{"JWTAUTH_THROTTLE_REGISTRATIONS": "many"}, []string{"JWTAUTH_THROTTLE_REGISTRATIONS", `"many"`}},
		{[]string{"--throttle-registrations", "100001"}, nil, []string{"--throttle-registrations", "from 1 to 100000"}},
		{[]string{"--throttle-ip-interval", "6"}, nil, []string{"--throttle-ip-interval", `"6" is not a duration`}},
		{nil, map[string]string{"JWTAUTH_THROTTLE_USER_INTERVAL": "0s"}, []string{"JWTAUTH_THROTTLE_USER_INTERVAL", "from 1ms to 24h"}},
		{[]string{"--throttle-register-interval", "25h"}, nil, []string{"--throttle-register-interval", "from 1ms to 24h", "got 25h"}},
		{[]string{"--throttle-register-interval", "off"}, nil, []string{"--throttle-register-interval", `"off" is not a duration`}},
	} {
		_, err := parseServeConfig(tc.args, tc.env)
		require.Error(t, err, "%v %v", tc.args, tc.env)
		var ue *usageError
		assert.True(t, errors.As(err, &ue), "want a usage error (exit 2), got %T", err)
		for _, w := range tc.want {
			assert.Contains(t, err.Error(), w)
		}
	}

	out, _, code := runCLI(t, nil, "", "serve", "-h")
	assert.Equal(t, 0, code)
	for _, w := range []string{"-throttle-user-failures", "JWTAUTH_THROTTLE_USER_FAILURES", "-throttle-user-interval", "-throttle-ip-failures",
		"-throttle-ip-interval", "-throttle-registrations", "-throttle-register-interval", "JWTAUTH_THROTTLE_REGISTER_INTERVAL"} {
		assert.Contains(t, out, w)
	}
	_, errOut, code := runCLI(t, nil, "", "serve", "--throttle-ip-failures", "0")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "--throttle-ip-failures")
	_, errOut, code = runCLI(t, nil, "", "keys", "list", "--throttle-ip-failures", "5")
	assert.Equal(t, 2, code, "a serve-only setting")
	assert.Contains(t, errOut, "flag provided but not defined: -throttle-ip-failures")
}

// TestThrottleFlagsReachServe: the budgets given to serve are the ones its
// /login and /register count: --throttle-ip-failures 3 answers the 4th
// failed login from one address with 429, --throttle-registrations 2 the
// 3rd registration.
func TestThrottleFlagsReachServe(t *testing.T) {
	cfg, err := parseServeConfig([]string{"--store", "memory:", "--throttle-ip-failures", "3", "--throttle-registrations", "2"}, nil)
	require.NoError(t, err)
	sc := serviceConfig(cfg, memory.New(), slog.New(slog.DiscardHandler))
	sc.GenerateKey = keystest.Generator(t)
	svc, err := jwtauth.New(t.Context(), sc)
	require.NoError(t, err)
	defer svc.Close()
	h := serveHandler(svc, false)
	post := func(path, user, remote string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{"username":"`+user+`","password":"correct horse battery staple"}`))
		r.Header.Set("Content-Type", "application/json")
		r.RemoteAddr = remote
		h.ServeHTTP(w, r)
		return w
	}
	for i := range 3 {
		w := post("/login", fmt.Sprintf("nobody%d", i), "192.0.2.1:1000")
		require.Equal(t, http.StatusUnauthorized, w.Code, "failure %d: %s", i+1, w.Body)
	}
	w := post("/login", "nobody3", "192.0.2.1:1001")
	assert.Equal(t, http.StatusTooManyRequests, w.Code, w.Body.String())
	assert.Contains(t, w.Body.String(), `"too_many_requests"`)
	// Real clock: the wait counts down from the interval while the test runs.
	assertRetryAfter(t, w, 1, 6, "one attempt back every --throttle-ip-interval (default 6s)")
	assert.Equal(t, http.StatusUnauthorized, post("/login", "nobody3", "192.0.2.2:1000").Code, "another address has its own budget")

	for i := range 2 {
		require.Equal(t, http.StatusCreated, post("/register", fmt.Sprintf("user%d", i), "198.51.100.1:1000").Code)
	}
	w = post("/register", "user2", "198.51.100.1:1000")
	assert.Equal(t, http.StatusTooManyRequests, w.Code, w.Body.String())
	assertRetryAfter(t, w, 120, 180, "one registration back every --throttle-register-interval (default 3m)")
}

// assertRetryAfter checks that w's Retry-After is whole seconds within
// [lo, hi]: the remaining wait of an interval of hi seconds, measured on the
// real clock.
func assertRetryAfter(t *testing.T, w *httptest.ResponseRecorder, lo, hi int, msg string) {
	t.Helper()
	got, err := strconv.Atoi(w.Header().Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q: %s", w.Header().Get("Retry-After"), msg)
	assert.True(t, got >= lo && got <= hi, "Retry-After %d not in [%d, %d]: %s", got, lo, hi, msg)
}
