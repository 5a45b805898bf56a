package jwtauth_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

// TestCookieModeRefused: an invalid cookie mode fails New before anything
// is stored, and makes Routes panic.
func TestCookieModeRefused(t *testing.T) {
	for name, mode := range map[string]jwtauth.CookieMode{
		"SameSite None":                       {Enabled: true, SameSite: http.SameSiteNoneMode},
		"origin not a URL":                    {Enabled: true, Origin: "app.example.test"},
		"access cookie clashes":               {Enabled: true, AccessCookie: jwtauth.RefreshCookieName},
		"access cookie name with a space":     {Enabled: true, AccessCookie: "my session"},
		"access cookie name with a separator": {Enabled: true, AccessCookie: "a;b"},
		"relative path":                       {Enabled: true, Path: "auth"},
		"path with a dot-dot":                 {Enabled: true, Path: "/auth/../x"},
		"path with a semicolon":               {Enabled: true, Path: "/auth;x"},
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
		TokenSources: []authn.TokenSource{authn.HeaderSource("Authorization"), authn.CookieSource("session")},
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
		r.Header.Set(authn.CSRFHeader, "1")
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

// FuzzCookieRequests sends /refresh and /logout requests in cookie mode
// with fuzzed Cookie, CSRF, Origin and Sec-Fetch-Site headers and bodies,
// none of which holds the real session's token. Oracle: never 5xx; /refresh
// never 2xx; a request carrying a refresh cookie without the CSRF
// protection (blank header, a Sec-Fetch-Site other than same-origin, an
// Origin of another host) is 403; a body escaping an unpaired UTF-16
// surrogate is never 2xx; and after every request the real session still
// refreshes from its cookie.
func FuzzCookieRequests(f *testing.F) {
	store := memory.New()
	m, err := keys.Open(context.Background(), keys.Config{Store: store, Generate: keystest.Generator(f), Logger: quiet})
	if err != nil {
		f.Fatal(err)
	}
	iss, err := token.NewIssuer(token.IssuerConfig{Keys: m, Issuer: testIssuer, Audience: []string{testAudience}})
	if err != nil {
		f.Fatal(err)
	}
	acc, err := account.New(account.Config{Users: store, RefreshTokens: store, Issuer: iss, Argon2: fastArgon, Logger: quiet})
	if err != nil {
		f.Fatal(err)
	}
	disc, err := jwtauth.NewDiscoveryHandler(testIssuer)
	if err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, rt := range jwtauth.Routes(jwtauth.RoutesConfig{Accounts: acc, JWKS: jwtauth.NewJWKSHandler(m, time.Minute), Discovery: disc,
		Cookies: jwtauth.CookieMode{Enabled: true, Origin: testIssuer}}) {
		mux.Handle(rt.Method+" "+rt.Path, rt.Handler)
	}
	if err := acc.Register(context.Background(), "holder", "correct horse battery"); err != nil {
		f.Fatal(err)
	}
	login, err := acc.Login(context.Background(), "holder", "correct horse battery")
	if err != nil {
		f.Fatal(err)
	}
	session := login.RefreshToken
	const host = "auth.example.com"
	send := func(path, cookie, csrf, origin, site string, body []byte) *http.Response {
		req := httptest.NewRequest(http.MethodPost, "https://"+host+path, bytes.NewReader(body))
		for _, h := range [][2]string{{"Cookie", cookie}, {authn.CSRFHeader, csrf}, {"Origin", origin}, {"Sec-Fetch-Site", site}} {
			if h[1] != "" {
				req.Header.Set(h[0], h[1])
			}
		}
		if len(body) > 0 {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec.Result()
	}
	rc := jwtauth.RefreshCookieName + "="
	for _, s := range []struct {
		logout                     bool
		cookie, csrf, origin, site string
		body                       string
	}{
		{false, rc + "garbage", "1", testIssuer, "same-origin", ""},
		{true, rc + strings.Repeat("A", 43), "1", "", "", ""},
		{false, rc + "a; " + rc + "b", "1", "", "", ""},
		{false, rc + strings.Repeat("B", 43), "", testIssuer, "same-origin", ""},
		{true, rc + strings.Repeat("C", 43), "1", "https://evil.example", "cross-site", ""},
		{false, rc + strings.Repeat("D", 43), "1", "null", "", `{"refresh_token":"x"}`},
		{true, rc + "x", "1", "HTTPS://AUTH.EXAMPLE.COM:443", "same-origin", `{}`},
		{false, "", "", "", "", `{"refresh_token":"` + strings.Repeat("E", 43) + `"}`},
		{true, "", "", "", "", `{"refresh_token":"` + strings.Repeat("Q", 43) + `","x":"\ud800"}`},
		{true, rc + strings.Repeat("g", 43), "1", testIssuer, "same-origin", `{"x":"\udfff\udc00"}`},
	} {
		f.Add(s.logout, s.cookie, s.csrf, s.origin, s.site, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, logout bool, cookie, csrf, origin, site string, body []byte) {
		if strings.Contains(cookie, session) || bytes.Contains(body, []byte(session)) {
			t.Skip("the fuzzer found the session's token")
		}
		path := "/refresh"
		if logout {
			path = "/logout"
		}
		res := send(path, cookie, csrf, origin, site, body)
		if res.StatusCode >= 500 {
			t.Fatalf("%s answered %d", path, res.StatusCode)
		}
		if !logout && res.StatusCode < 300 {
			t.Fatalf("/refresh answered %d without the session's token", res.StatusCode)
		}
		if res.StatusCode < 300 && unpairedSurrogate(body) {
			t.Fatalf("%s answered %d to a body escaping an unpaired surrogate: %q", path, res.StatusCode, body)
		}
		probe := &http.Request{Header: http.Header{"Cookie": {cookie}}}
		hasCookie := false
		for _, c := range probe.CookiesNamed(jwtauth.RefreshCookieName) {
			hasCookie = hasCookie || strings.TrimSpace(c.Value) != ""
		}
		o, oerr := url.Parse(origin)
		unprotected := strings.TrimSpace(csrf) == "" ||
			site != "" && !strings.EqualFold(site, "same-origin") ||
			origin != "" && (oerr != nil || !strings.EqualFold(o.Hostname(), host))
		if hasCookie && unprotected && res.StatusCode != http.StatusForbidden {
			t.Fatalf("%s with a refresh cookie and no CSRF protection (header %q, Origin %q, Sec-Fetch-Site %q) answered %d, want 403",
				path, csrf, origin, site, res.StatusCode)
		}
		// The real session is untouched.
		res = send("/refresh", rc+session, "1", testIssuer, "same-origin", nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("the session no longer refreshes after %s: %d", path, res.StatusCode)
		}
		for _, c := range res.Cookies() {
			if c.Name == jwtauth.RefreshCookieName {
				session = c.Value
			}
		}
	})
}

// TestCookiesSecureBehindLoopbackProxy: a TLS-terminating reverse proxy
// that forwards to 127.0.0.1 without rewriting Host (nginx's default
// proxy_pass sends Host: 127.0.0.1:8080) and strips the issuer's path must
// still get Secure cookies for an https issuer, and a device cookie at the
// path the browser sees (/auth/login), in cookie mode and without it.
func TestCookiesSecureBehindLoopbackProxy(t *testing.T) {
	for name, mode := range map[string]jwtauth.CookieMode{"cookie mode": {Enabled: true}, "JSON mode": {}} {
		t.Run(name, func(t *testing.T) {
			svc, _ := newTestService(t, jwtauth.Config{Issuer: "https://app.example.test/auth", Cookies: mode})
			require.NoError(t, svc.Accounts().Register(t.Context(), "alice", "correct horse battery"))
			var login http.Handler
			for _, rt := range svc.Routes() {
				if rt.Path == "/login" {
					login = rt.Handler
				}
			}
			req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080/login", strings.NewReader(`{"username":"alice","password":"correct horse battery"}`))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			login.ServeHTTP(rec, req)
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			cookies := rec.Result().Cookies()
			require.NotEmpty(t, cookies)
			for _, c := range cookies {
				assert.True(t, c.Secure, "%s at %s: an https issuer's cookie must be Secure", c.Name, c.Path)
				if c.Name == jwtauth.DeviceCookieName {
					assert.Equal(t, "/auth/login", c.Path, "the path the browser sees")
				}
			}
		})
	}
}

// TestServiceCSRFOriginFollowsCookieMode: the application's routes accept
// the pages of CookieMode.Origin, as /refresh and /logout do, not only the
// issuer's origin.
func TestServiceCSRFOriginFollowsCookieMode(t *testing.T) {
	svc, _ := newTestService(t, jwtauth.Config{
		Cookies:      jwtauth.CookieMode{Enabled: true, Origin: "https://WWW.example.test:443"},
		TokenSources: []authn.TokenSource{authn.CookieSource("session")},
	})
	assert.Equal(t, "https://www.example.test", svc.Authenticator().CSRFOrigin)
}

// TestCookieWebSocketHandshakeOrigin: a WebSocket handshake (RFC 6455
// §4.1: GET with Upgrade: websocket) authenticated by a cookie is checked
// for its Origin and Sec-Fetch-Site as a state-changing request is, since
// a page of any site may open one and the browser sends the cookie
// (cross-site WebSocket hijacking). It needs no CSRFHeader, which a
// browser's WebSocket cannot send. Other GETs and tokens from a header are
// not affected.
func TestCookieWebSocketHandshakeOrigin(t *testing.T) {
	f := newFixture(t)
	auth := &authn.Authenticator{Verifier: f.Verifier, CSRFOrigin: "https://app.example.test",
		Sources: []authn.TokenSource{authn.CookieSource("session"), authn.HeaderSource("Authorization")}}
	tok, err := f.Issuer.Issue(t.Context(), "alice")
	require.NoError(t, err)
	upgrade := []string{"Upgrade", "websocket", "Connection", "Upgrade", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}
	with := func(h ...string) []string { return append(slices.Clone(upgrade), h...) }
	for _, tc := range []struct {
		name   string
		method string
		cookie bool
		header []string
		want   int
	}{
		{"foreign Origin", http.MethodGet, true, with("Origin", "https://evil.example"), http.StatusForbidden},
		{"foreign Origin, mixed case", http.MethodGet, true, []string{"Upgrade", "WebSocket", "Connection", "keep-alive, upgrade", "Origin", "https://evil.example"}, http.StatusForbidden},
		{"Upgrade without Connection", http.MethodGet, true, []string{"Upgrade", "websocket", "Origin", "https://evil.example"}, http.StatusForbidden},
		{"Origin null", http.MethodGet, true, with("Origin", "null"), http.StatusForbidden},
		{"Sec-Fetch-Site cross-site", http.MethodGet, true, with("Sec-Fetch-Site", "cross-site"), http.StatusForbidden},
		{"Sec-Fetch-Site same-site", http.MethodGet, true, with("Origin", "https://app.example.test", "Sec-Fetch-Site", "same-site"), http.StatusForbidden},
		{"HEAD, foreign Origin", http.MethodHead, true, with("Origin", "https://evil.example"), http.StatusForbidden},
		{"the page's origin, no CSRF header", http.MethodGet, true, with("Origin", "https://app.example.test", "Sec-Fetch-Site", "same-origin"), http.StatusOK},
		{"the request's own origin", http.MethodGet, true, with("Origin", "https://api.example.test"), http.StatusOK},
		{"no Origin (not a browser)", http.MethodGet, true, upgrade, http.StatusOK},
		{"no upgrade, foreign Origin", http.MethodGet, true, []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}, http.StatusOK},
		{"token in a header, foreign Origin", http.MethodGet, false, with("Origin", "https://evil.example"), http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "https://api.example.test/ws", nil)
			if tc.cookie {
				r.AddCookie(&http.Cookie{Name: "session", Value: tok.Raw})
			} else {
				r.Header.Set("Authorization", "Bearer "+tok.Raw)
			}
			for i := 0; i+1 < len(tc.header); i += 2 {
				r.Header.Add(tc.header[i], tc.header[i+1])
			}
			w := httptest.NewRecorder()
			_, c, ok := auth.Authorize(w, r)
			if tc.want == http.StatusOK {
				require.True(t, ok, w.Body.String())
				assert.Equal(t, "alice", c.Subject)
				return
			}
			assert.False(t, ok)
			assert.Equal(t, tc.want, w.Code)
			assert.Contains(t, w.Body.String(), `"csrf_check_failed"`)
		})
	}
}
