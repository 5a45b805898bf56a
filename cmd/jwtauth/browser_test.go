package main

import (
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/internal/browsertest"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
)

// TestCookieModeSettings: --cookie-mode and --demo are boolean flags with
// JWTAUTH_COOKIE_MODE and JWTAUTH_DEMO; the flag wins; off by default; the
// demo needs the cookie mode; a value that is not a boolean is refused.
func TestCookieModeSettings(t *testing.T) {
	tests := []struct {
		name             string
		args             []string
		env              map[string]string
		cookieMode, demo bool
	}{
		{"off by default", nil, nil, false, false},
		{"bare flags", []string{"--cookie-mode", "--demo"}, nil, true, true},
		{"env", nil, map[string]string{"JWTAUTH_COOKIE_MODE": "1", "JWTAUTH_DEMO": "true"}, true, true},
		{"flag wins over env", []string{"--cookie-mode=false"}, map[string]string{"JWTAUTH_COOKIE_MODE": "true"}, false, false},
		{"flag before other flags", []string{"--cookie-mode", "--store", "memory:"}, nil, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseServeConfig(tt.args, tt.env)
			require.NoError(t, err)
			assert.Equal(t, tt.cookieMode, c.CookieMode)
			assert.Equal(t, tt.demo, c.Demo)
		})
	}
	for _, bad := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--demo"}, nil, "--demo (JWTAUTH_DEMO) needs --cookie-mode"},
		{nil, map[string]string{"JWTAUTH_DEMO": "1"}, "needs --cookie-mode"},
		{nil, map[string]string{"JWTAUTH_COOKIE_MODE": "yes"}, `JWTAUTH_COOKIE_MODE: "yes" is not a boolean`},
		{[]string{"--cookie-mode=on"}, nil, `--cookie-mode: "on" is not a boolean`},
	} {
		_, err := parseServeConfig(bad.args, bad.env)
		require.Error(t, err, "%v %v", bad.args, bad.env)
		assert.Equal(t, 2, exitCode(err))
		assert.Contains(t, err.Error(), bad.want)
	}
}

// TestServeCookieModeDemo runs the real binary with --cookie-mode --demo:
// the page at /demo/ with its security headers, and the cookie flow over
// HTTP (the browser tests in package demo drive the page itself).
func TestServeCookieModeDemo(t *testing.T) {
	bin := buildBinary(t)
	addr := freeAddr(t)
	srv := startServer(t, bin, addr, "--store", "memory:", "--cookie-mode", "--demo")
	base := srv.base
	// The log is copied from the process's pipe: poll for the line.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(srv.stderr.String(), "jwtauth listening") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.Contains(t, srv.stderr.String(), "cookie_mode=true")
	assert.Contains(t, srv.stderr.String(), "demo="+base+"/demo/")

	res, err := http.Get(base + "/demo/")
	require.NoError(t, err)
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
	assert.Contains(t, res.Header.Get("Content-Security-Policy"), "script-src 'self'")
	assert.Contains(t, string(page), `data-auth=".."`)
	res, err = http.Get(base + "/demo/app.js")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "text/javascript; charset=utf-8", res.Header.Get("Content-Type"))
	r, body := call(t, http.MethodGet, base+"/demo/nothing", nil, nil)
	assert.Equal(t, http.StatusNotFound, r.StatusCode)
	assert.Equal(t, "not_found", body["error"])

	creds := map[string]string{"username": "alice", "password": "correct horse battery"}
	r, _ = call(t, http.MethodPost, base+"/register", creds, nil)
	require.Equal(t, http.StatusCreated, r.StatusCode)
	r, body = call(t, http.MethodPost, base+"/login", creds, nil)
	require.Equal(t, http.StatusOK, r.StatusCode)
	assert.NotContains(t, body, "refresh_token", "cookie mode: no refresh token in the body")
	assert.NotEmpty(t, body["access_token"])
	refresh := refreshCookie(t, r)

	page2 := map[string]string{authn.CSRFHeader: "1", "Origin": base, "Cookie": jwtauth.RefreshCookieName + "=" + refresh}
	forged := map[string]string{"Cookie": jwtauth.RefreshCookieName + "=" + refresh}
	r, body = call(t, http.MethodPost, base+"/refresh", map[string]string{}, forged)
	assert.Equal(t, http.StatusForbidden, r.StatusCode)
	assert.Equal(t, "csrf_check_failed", body["error"])
	r, body = call(t, http.MethodPost, base+"/refresh", map[string]string{}, page2)
	require.Equal(t, http.StatusOK, r.StatusCode, "%v", body)
	next := refreshCookie(t, r)
	assert.NotEqual(t, refresh, next)

	page2["Cookie"] = jwtauth.RefreshCookieName + "=" + next
	r, _ = call(t, http.MethodPost, base+"/logout", nil, page2)
	assert.Equal(t, http.StatusNoContent, r.StatusCode)
	assert.Contains(t, strings.Join(r.Header.Values("Set-Cookie"), "\n"), "Max-Age=0")
	r, body = call(t, http.MethodPost, base+"/refresh", nil, page2)
	assert.Equal(t, http.StatusUnauthorized, r.StatusCode)
	assert.Equal(t, "invalid_grant", body["error"])
	assert.Equal(t, 0, srv.stop(t))
}

// refreshCookie returns the value of r's refresh cookies, checking that
// there is one per endpoint path and that they agree.
func refreshCookie(t *testing.T, r *http.Response) string {
	t.Helper()
	var vals, paths []string
	for _, c := range r.Cookies() {
		if c.Name == jwtauth.RefreshCookieName {
			vals, paths = append(vals, c.Value), append(paths, c.Path)
			assert.True(t, c.HttpOnly)
			assert.False(t, c.Secure, "plain http on 127.0.0.1")
			assert.Equal(t, http.SameSiteStrictMode, c.SameSite)
		}
	}
	require.Len(t, vals, 2, "Set-Cookie: %v", r.Header.Values("Set-Cookie"))
	assert.Equal(t, vals[0], vals[1])
	assert.ElementsMatch(t, []string{"/refresh", "/logout"}, paths)
	return vals[0]
}

// TestServeDemoInBrowser is the "done when": the real binary runs
// `serve --cookie-mode --demo` and a headless Chromium does the whole flow
// on http://<addr>/demo/ through the page's buttons. The access token is
// made to fail without waiting for it to expire: another process revokes
// the key that signed it (`jwtauth keys revoke`), so the next call gets a
// 401 and the page refreshes silently, getting a token of the new key.
// The page's tokens are DPoP-bound (serve's default --dpop allowed): its
// proofs' htu agree with what serve expects at the root.
func TestServeDemoInBrowser(t *testing.T) {
	tab := browsertest.Start(t, 50*time.Second)
	browsertest.ScreenshotOnFailure(t, tab, "serve-demo")
	bin := buildBinary(t)
	addr := freeAddr(t)
	store := "sqlite:" + filepath.Join(t.TempDir(), "jwtauth.db")
	srv := startServer(t, bin, addr, "--store", store, "--cookie-mode", "--demo")
	base := srv.base

	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(base+"/demo/")))
	browsertest.WaitFor(t, tab, "the page", browsertest.StatusIs("logged out"))
	browsertest.RegisterAndLogin(t, tab, "alice", "correct horse battery")
	// serve's default --dpop allowed: the page's proofs name the URLs the
	// server expects (htu), so its session is bound to the page's key.
	browsertest.WaitFor(t, tab, "a DPoP-bound login", browsertest.LogHas("logged in: DPoP access token for alice"))
	docCookie, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.cookie`))
	require.NoError(t, err)
	assert.NotContains(t, docCookie, jwtauth.RefreshCookieName)
	require.Len(t, browsertest.RefreshCookies(t, tab, base+"/refresh"), 1)

	callPage := func(what string) string {
		t.Helper()
		require.NoError(t, chromedp.Do(tab, chromedp.Evaluate[chromedp.Void](`document.getElementById("result").textContent = ""`)))
		browsertest.Click(t, tab, "call")
		browsertest.WaitFor(t, tab, what, `/^\d{3} /.test(document.getElementById("result").textContent)`)
		return browsertest.Text(t, tab, "result")
	}
	assert.Regexp(t, `^200 [\s\S]*"sub": "alice"`, callPage("the protected route"))
	assert.Equal(t, "0", browsertest.Text(t, tab, "refreshes"))

	// The kid that signs the page's token: the same active key signs a
	// token obtained beside it.
	r, body := call(t, http.MethodPost, base+"/login", map[string]string{"username": "alice", "password": "correct horse battery"}, nil)
	require.Equal(t, http.StatusOK, r.StatusCode)
	kid := headerKID(t, body["access_token"].(string))
	out, errOut, code := runBin(t, bin, "keys", "revoke", "--store", store, "--", kid)
	require.Equal(t, 0, code, "keys revoke: %s%s", out, errOut)
	waitFor(t, 20*time.Second, "the server drops the revoked key", func() bool {
		return !slices.Contains(jwksKIDs(t, base), kid)
	})

	assert.Regexp(t, `^200 [\s\S]*"sub": "alice"`, callPage("the call after the silent refresh"))
	assert.Equal(t, "1", browsertest.Text(t, tab, "refreshes"), "the 401 was answered by one silent refresh")
	browsertest.WaitFor(t, tab, "a DPoP-bound refresh", browsertest.LogHas("refreshed: DPoP access token for alice"))
	old := browsertest.RefreshCookies(t, tab, base+"/logout")[0].Value

	browsertest.Click(t, tab, "logout")
	browsertest.WaitFor(t, tab, "logout", browsertest.StatusIs("logged out"))
	assert.Empty(t, browsertest.RefreshCookies(t, tab, base+"/refresh"))
	r, body = call(t, http.MethodPost, base+"/refresh", nil, map[string]string{
		authn.CSRFHeader: "1", "Origin": base, "Cookie": jwtauth.RefreshCookieName + "=" + old})
	assert.Equal(t, http.StatusBadRequest, r.StatusCode, "the old cookie after logout, without the page's key")
	assert.Equal(t, "invalid_dpop_proof", body["error"])
	assert.Equal(t, 0, srv.stop(t))
}

// TestCookieModeWarning: serve warns at start when cookie mode meets a
// plain-http issuer on a host other than loopback: the cookies are Secure
// there, which browsers drop when set over http, so no session would last.
func TestCookieModeWarning(t *testing.T) {
	for _, tc := range []struct {
		args []string
		warn bool
	}{
		{[]string{"--cookie-mode", "--issuer", "http://192.168.1.5:8080"}, true},
		{[]string{"--cookie-mode", "--addr", "0.0.0.0:8080"}, true},
		{[]string{"--cookie-mode", "--issuer", "http://auth.example.com/auth"}, true},
		{[]string{"--cookie-mode"}, false}, // http://127.0.0.1:8080
		{[]string{"--cookie-mode", "--issuer", "http://localhost:8080"}, false},
		{[]string{"--cookie-mode", "--issuer", "http://[::1]:8080"}, false},
		{[]string{"--cookie-mode", "--issuer", "https://auth.example.com"}, false},
		{[]string{"--issuer", "http://192.168.1.5:8080"}, false}, // no cookies
	} {
		c, err := parseServeConfig(tc.args, nil)
		require.NoError(t, err, "%v", tc.args)
		w := c.cookieModeWarning()
		if !tc.warn {
			assert.Empty(t, w, "%v", tc.args)
			continue
		}
		assert.Contains(t, w, "Secure", "%v", tc.args)
		assert.Contains(t, w, "https", "%v", tc.args)
	}
}

// TestLoopbackCookieWarning: serve warns at start when cookie mode runs on
// a loopback issuer, the development default, whose cookies every other
// web server on the machine receives (cookies do not separate ports).
func TestLoopbackCookieWarning(t *testing.T) {
	for _, tc := range []struct {
		args []string
		host string // "" for no warning
	}{
		{[]string{"--cookie-mode"}, "127.0.0.1"}, // http://127.0.0.1:8080
		{[]string{"--cookie-mode", "--demo"}, "127.0.0.1"},
		{[]string{"--cookie-mode", "--issuer", "http://localhost:8080"}, "localhost"},
		{[]string{"--cookie-mode", "--issuer", "http://[::1]:8080"}, "::1"},
		{[]string{"--cookie-mode", "--issuer", "https://127.0.0.2:8443"}, "127.0.0.2"},
		{[]string{"--cookie-mode", "--issuer", "https://auth.example.com"}, ""},
		{[]string{"--cookie-mode", "--issuer", "http://192.168.1.5:8080"}, ""}, // cookieModeWarning's case
		{nil, ""}, // no cookies
	} {
		c, err := parseServeConfig(tc.args, nil)
		require.NoError(t, err, "%v", tc.args)
		w := c.loopbackCookieWarning()
		if tc.host == "" {
			assert.Empty(t, w, "%v", tc.args)
			continue
		}
		assert.Contains(t, w, "every port of "+tc.host, "%v", tc.args)
		assert.Contains(t, w, "any other web server on this machine", "%v", tc.args)
	}
}
