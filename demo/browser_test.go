package demo_test

// End-to-end tests of the cookie mode in a real headless Chromium, driven
// by chromedp through the demo page's own buttons, against a real HTTP
// server on 127.0.0.1 (the account routes of jwtauth.Routes in cookie mode
// on adapters/nethttp, as `jwtauth serve --cookie-mode --demo` mounts
// them) whose clock the test moves: the access token expires when the test
// says so, never after a sleep.
//
// Chromium is found on PATH (chromium, chromium-browser, google-chrome) or
// at $JWTAUTH_CHROMIUM. Without it the tests skip, unless
// JWTAUTH_REQUIRE_CHROMIUM=1 (set by .ci/run), where a skip is a failure.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/adapters/nethttp"
	"github.com/jwtauth/jwtauth/demo"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

// accessTTL is the server's access-token lifetime; the test moves its
// clock past it (and the verifier's leeway) to make the page refresh.
const accessTTL = time.Minute

// clock is the server's injected clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// hit is one request the server answered.
type hit struct {
	Method, Path, Origin, FetchSite string
	CSRF                            bool // the CSRF header was sent
	Cookie                          bool // a refresh cookie was sent
	Status                          int
}

// recorder notes every request the server answers.
type recorder struct {
	mu   sync.Mutex
	hits []hit
}

func (rec *recorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		_, err := r.Cookie(jwtauth.RefreshCookieName)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		rec.hits = append(rec.hits, hit{Method: r.Method, Path: r.URL.Path, Origin: r.Header.Get("Origin"),
			FetchSite: r.Header.Get("Sec-Fetch-Site"), CSRF: r.Header.Get(jwtauth.CSRFHeader) != "", Cookie: err == nil, Status: sw.status})
	})
}

// since returns the hits after the first n, and the new count.
func (rec *recorder) since(n int) ([]hit, int) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.hits[n:]), len(rec.hits)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) { w.status = s; w.ResponseWriter.WriteHeader(s) }

// server is the auth server under test.
type server struct {
	URL   string
	clock *clock
	rec   *recorder
}

// newServer starts the reference server's routes in cookie mode with
// /protected and the demo page at /demo/, on 127.0.0.1.
func newServer(t *testing.T) *server {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	clk := &clock{t: time.Now()}
	quiet := slog.New(slog.DiscardHandler)
	store := memory.New()
	m, err := keys.Open(t.Context(), keys.Config{Store: store, Generate: keystest.Generator(t), Logger: quiet})
	require.NoError(t, err)
	iss, err := jwtauth.NewIssuer(jwtauth.IssuerConfig{Keys: m, Issuer: base, Audience: []string{base}, TTL: accessTTL, Now: clk.Now})
	require.NoError(t, err)
	ver, err := jwtauth.NewVerifier(jwtauth.VerifierConfig{Keys: m, Issuer: base, Audience: []string{base}, RequiredClaims: []string{"sub"}, Now: clk.Now})
	require.NoError(t, err)
	acc, err := jwtauth.NewAccounts(jwtauth.AccountsConfig{Users: store, RefreshTokens: store, Issuer: iss, Now: clk.Now, Logger: quiet,
		Argon2: jwtauth.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}})
	require.NoError(t, err)
	disc, err := jwtauth.NewDiscoveryHandler(base)
	require.NoError(t, err)
	routes := jwtauth.Routes(jwtauth.RoutesConfig{Accounts: acc, JWKS: jwtauth.NewJWKSHandler(m, 5*time.Minute), Discovery: disc,
		Cookies: jwtauth.CookieMode{Enabled: true, Origin: base}})
	api := nethttp.Handler(routes, &jwtauth.Authenticator{Verifier: ver})
	page := demo.Handler(demo.Config{AuthPath: "..", Protected: "../protected"}) // as serve mounts it
	rec := &recorder{}
	ts.Config.Handler = rec.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/demo") {
			page.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	}))
	ts.Start()
	t.Cleanup(ts.Close)
	return &server{URL: base, clock: clk, rec: rec}
}

// chromium returns the path of a Chromium binary, or skips the test (fails
// it under JWTAUTH_REQUIRE_CHROMIUM=1).
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("JWTAUTH_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("JWTAUTH_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("JWTAUTH_REQUIRE_CHROMIUM=1 but no Chromium was found: apt-get install -y chromium, or set JWTAUTH_CHROMIUM")
	}
	t.Skip("no Chromium on PATH (apt-get install -y chromium, or set JWTAUTH_CHROMIUM): the browser tests are skipped")
	return ""
}

// browser starts a headless Chromium with a fresh profile and returns the
// context of its first tab. The whole test must finish within limit.
func browser(t *testing.T, limit time.Duration) context.Context {
	t.Helper()
	exe := chromium(t)
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	t.Cleanup(cancel)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // Chromium runs as root in CI containers
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1000, 900),
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	require.NoError(t, chromedp.Do(bctx), "start Chromium at %s", exe)
	return bctx
}

// screenshotOnFailure saves a screenshot of the tab, and logs its text, when
// the test has failed. The directory is the test's temp dir, or
// $JWTAUTH_SCREENSHOT_DIR to keep the files.
func screenshotOnFailure(t *testing.T, tab context.Context, name string) {
	dir := os.Getenv("JWTAUTH_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(tab), 5*time.Second)
		defer cancel()
		if text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`)); err == nil {
			t.Logf("%s page text at failure:\n%s", name, text)
		}
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Logf("screenshot of %s: %v", name, err)
			return
		}
		p := filepath.Join(dir, name+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Logf("screenshot of %s: %v", name, err)
			return
		}
		t.Logf("screenshot of %s at failure: %s", name, p)
	})
}

// waitFor polls the page until the JavaScript condition holds (10 s at most).
func waitFor(t *testing.T, tab context.Context, what, cond string) {
	t.Helper()
	err := chromedp.Do(tab, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(10*time.Second), chromedp.WithPollingInterval(20*time.Millisecond)))
	require.NoError(t, err, "waiting for %s (%s)", what, cond)
}

func text(t *testing.T, tab context.Context, id string) string {
	t.Helper()
	s, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById(`+jsString(id)+`).textContent`))
	require.NoError(t, err)
	return s
}

func click(t *testing.T, tab context.Context, id string) {
	t.Helper()
	require.NoError(t, chromedp.Do(tab, chromedp.Click(chromedp.ID(id))), "click #%s", id)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// statusIs is the condition that the page's status line reads s.
func statusIs(s string) string {
	return `document.getElementById("status").textContent === ` + jsString(s)
}

// logHas is the condition that the page's event log has a line containing s.
func logHas(s string) string {
	return `[...document.querySelectorAll("#log li")].some(li => li.textContent.includes(` + jsString(s) + `))`
}

// refreshCookies returns the browser's jwtauth_refresh cookies for url.
func refreshCookies(t *testing.T, tab context.Context, url string) []*network.Cookie {
	t.Helper()
	res, err := chromedp.Run(tab, chromedp.Action[*network.GetCookiesResult](func(ctx context.Context, tg *chromedp.Target) (*network.GetCookiesResult, error) {
		r, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
		return &r, err
	}))
	require.NoError(t, err)
	var out []*network.Cookie
	for _, c := range res.Cookies {
		if c.Name == jwtauth.RefreshCookieName {
			out = append(out, c)
		}
	}
	return out
}

// hitsOf returns the hits to path, as "METHOD status".
func hitsOf(hits []hit, path string) []string {
	var out []string
	for _, h := range hits {
		if h.Path == path {
			out = append(out, fmt.Sprintf("%s %d", h.Method, h.Status))
		}
	}
	return out
}

// postRefresh replays a refresh cookie outside the browser, with everything
// a same-origin page would send.
func postRefresh(t *testing.T, srv *server, cookie string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/refresh", nil)
	require.NoError(t, err)
	req.Header.Set("Cookie", jwtauth.RefreshCookieName+"="+cookie)
	req.Header.Set(jwtauth.CSRFHeader, "1")
	req.Header.Set("Origin", srv.URL)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

// TestBrowserFlow drives the demo page through the whole cookie-mode flow:
// register, log in, call the protected route, a silent refresh after the
// access token expired, a reload that restores the session from the
// cookie, logout; and checks that the refresh cookie is HttpOnly (not in
// document.cookie) and scoped to /refresh and /logout, and that the old
// cookie is refused after logout.
func TestBrowserFlow(t *testing.T) {
	tab := browser(t, 45*time.Second)
	srv := newServer(t)
	screenshotOnFailure(t, tab, "flow")
	page := srv.URL + "/demo/"

	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(srv.URL+"/demo")), "the path without its slash redirects")
	waitFor(t, tab, "the page to start logged out", statusIs("logged out"))
	loc, err := chromedp.Run(tab, chromedp.Location())
	require.NoError(t, err)
	assert.Equal(t, page, loc)

	require.NoError(t, chromedp.Do(tab,
		chromedp.SetValue(chromedp.ID("username"), "alice"),
		chromedp.SetValue(chromedp.ID("password"), "correct horse battery")))
	click(t, tab, "register")
	waitFor(t, tab, "registration", logHas("registered alice"))
	click(t, tab, "login")
	waitFor(t, tab, "login", statusIs("logged in as alice"))

	// The refresh token is in two HttpOnly cookies, one per endpoint
	// path, and no script can read it.
	docCookie, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.cookie`))
	require.NoError(t, err)
	assert.NotContains(t, docCookie, jwtauth.RefreshCookieName, "document.cookie must not show the refresh cookie")
	for _, ep := range []string{"/refresh", "/logout"} {
		cs := refreshCookies(t, tab, srv.URL+ep)
		require.Len(t, cs, 1, "one refresh cookie for %s", ep)
		assert.Equal(t, ep, cs[0].Path)
		assert.True(t, cs[0].HTTPOnly)
		assert.Equal(t, network.CookieSameSiteStrict, cs[0].SameSite)
		assert.False(t, cs[0].Secure, "plain http on 127.0.0.1 is the documented exception")
	}
	assert.Empty(t, refreshCookies(t, tab, srv.URL+"/protected"), "the refresh cookie never goes to other routes")
	assert.Empty(t, refreshCookies(t, tab, srv.URL+"/login"))
	first := refreshCookies(t, tab, srv.URL+"/refresh")[0].Value
	// The access token lives in a JavaScript variable, not in storage.
	stored, err := chromedp.Run(tab, chromedp.Evaluate[string](`JSON.stringify(localStorage) + JSON.stringify(sessionStorage)`))
	require.NoError(t, err)
	assert.NotContains(t, stored, "eyJ", "no JWT in web storage")

	_, mark := srv.rec.since(0)
	click(t, tab, "call")
	waitFor(t, tab, "the protected route", `document.getElementById("result").textContent.startsWith("200 ")`)
	assert.Contains(t, text(t, tab, "result"), `"sub": "alice"`)
	assert.Equal(t, "0", text(t, tab, "refreshes"))

	// The access token expires (TTL plus the verifier's leeway): the next
	// call gets 401, refreshes from the cookie and retries, unseen.
	srv.clock.Advance(accessTTL + jwtauth.DefaultLeeway + time.Second)
	_, mark = srv.rec.since(mark)
	click(t, tab, "call")
	waitFor(t, tab, "the silent refresh", `document.getElementById("refreshes").textContent === "1"`)
	waitFor(t, tab, "the retried call", `document.getElementById("result").textContent.startsWith("200 ")`)
	hits, mark := srv.rec.since(mark)
	var seq []string
	for _, h := range hits {
		seq = append(seq, fmt.Sprintf("%s %s %d", h.Method, h.Path, h.Status))
		if h.Path == "/refresh" {
			assert.True(t, h.CSRF, "the page sends the CSRF header")
			assert.True(t, h.Cookie, "the browser sends the refresh cookie")
			assert.Equal(t, srv.URL, h.Origin)
			assert.Equal(t, "same-origin", h.FetchSite)
		}
	}
	assert.Equal(t, []string{"GET /protected 401", "POST /refresh 200", "GET /protected 200"}, seq)
	second := refreshCookies(t, tab, srv.URL+"/refresh")[0].Value
	assert.NotEqual(t, first, second, "the refresh rotated the cookie")
	assert.Equal(t, second, refreshCookies(t, tab, srv.URL+"/logout")[0].Value, "both cookies carry the new token")

	// A reload forgets the access token; the cookie restores the session.
	require.NoError(t, chromedp.Do(tab, chromedp.Reload()))
	waitFor(t, tab, "the session restored after a reload", statusIs("logged in as alice"))
	click(t, tab, "call")
	waitFor(t, tab, "a call after the reload", `document.getElementById("result").textContent.startsWith("200 ")`)
	beforeLogout := refreshCookies(t, tab, srv.URL+"/refresh")[0].Value

	click(t, tab, "logout")
	waitFor(t, tab, "logout", statusIs("logged out"))
	hits, _ = srv.rec.since(mark)
	assert.Contains(t, hitsOf(hits, "/logout"), "POST 204")
	assert.Empty(t, refreshCookies(t, tab, srv.URL+"/refresh"), "logout cleared the cookie")
	assert.Empty(t, refreshCookies(t, tab, srv.URL+"/logout"))

	// The old cookie is refused, replayed from outside the browser with
	// everything the page would send; so is every earlier one.
	for _, old := range []string{beforeLogout, second, first} {
		status, body := postRefresh(t, srv, old)
		assert.Equal(t, http.StatusUnauthorized, status, "body %s", body)
		assert.Contains(t, body, `"invalid_grant"`)
	}
	// In the page, a refresh now has no cookie to send.
	click(t, tab, "refresh")
	waitFor(t, tab, "the refused refresh", logHas("refresh refused"))
	assert.Equal(t, "logged out", text(t, tab, "status"))
}

// attackPage is served by a second origin (another port of 127.0.0.1, the
// same site: SameSite=Strict does not stop the browser sending the cookie,
// so the CSRF check must). It tries every request a page can make without
// CORS permission, then writes the outcomes into #out.
const attackPage = `<!doctype html>
<html><body>
<iframe name="sink"></iframe>
<form id="f" method="POST" target="sink" enctype="text/plain"><input name='{"a":"' value='"}'></form>
<pre id="out"></pre>
<script>
const victim = %s;
async function attempt(name, fn) {
  try { const r = await fn(); return name + ": " + (r.type === "opaque" ? "opaque" : r.status); }
  catch (e) { return name + ": blocked (" + e.name + ")"; }
}
(async () => {
  const out = [];
  for (const ep of ["/refresh", "/logout"]) {
    out.push(await attempt("no-cors " + ep, () => fetch(victim + ep, {method: "POST", mode: "no-cors", credentials: "include"})));
    out.push(await attempt("no-cors json " + ep, () => fetch(victim + ep, {method: "POST", mode: "no-cors", credentials: "include",
      headers: {"Content-Type": "text/plain"}, body: "{}"})));
    out.push(await attempt("cors with header " + ep, () => fetch(victim + ep, {method: "POST", credentials: "include",
      headers: {"X-CSRF-Protection": "1"}})));
  }
  // A classic cross-site form post, into the hidden frame.
  const loaded = new Promise(resolve => document.querySelector("iframe").addEventListener("load", resolve, {once: true}));
  const f = document.getElementById("f");
  f.action = victim + "/logout";
  f.submit();
  await loaded;
  out.push("form /logout: submitted");
  document.getElementById("out").textContent = out.join("\n");
})();
</script>
</body></html>`

// TestBrowserCrossSite logs a victim in on the demo page, then opens a page
// of another origin (127.0.0.1 on another port) in the same browser that
// tries to refresh and log out with the victim's cookie: every attempt
// that reaches the server is refused with 403 before anything is spent,
// the preflighted one never reaches it, and the victim's session (cookie
// unchanged) still refreshes afterwards.
func TestBrowserCrossSite(t *testing.T) {
	tab := browser(t, 45*time.Second)
	srv := newServer(t)
	screenshotOnFailure(t, tab, "victim")
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, attackPage, jsString(srv.URL))
	}))
	t.Cleanup(evil.Close)
	require.NotEqual(t, srv.URL, evil.URL)

	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(srv.URL+"/demo/")))
	waitFor(t, tab, "the page", statusIs("logged out"))
	require.NoError(t, chromedp.Do(tab,
		chromedp.SetValue(chromedp.ID("username"), "victim"),
		chromedp.SetValue(chromedp.ID("password"), "correct horse battery")))
	click(t, tab, "register")
	waitFor(t, tab, "registration", logHas("registered victim"))
	click(t, tab, "login")
	waitFor(t, tab, "login", statusIs("logged in as victim"))
	cookie := refreshCookies(t, tab, srv.URL+"/refresh")[0].Value
	_, mark := srv.rec.since(0)

	// The attacker's page, in another tab of the same browser.
	attacker, cancel := chromedp.NewContext(tab)
	defer cancel()
	screenshotOnFailure(t, attacker, "attacker")
	require.NoError(t, chromedp.Do(attacker, chromedp.Navigate(evil.URL)))
	waitFor(t, attacker, "the attack to finish", `document.getElementById("out").textContent !== ""`)
	out := text(t, attacker, "out")
	t.Logf("the attacker page saw:\n%s", out)
	assert.Contains(t, out, "cors with header /refresh: blocked", "the preflight is refused, so the request is never sent")
	assert.Contains(t, out, "cors with header /logout: blocked")

	hits, _ := srv.rec.since(mark)
	var reached []string
	for _, h := range hits {
		if h.Path != "/refresh" && h.Path != "/logout" {
			continue
		}
		reached = append(reached, fmt.Sprintf("%s %s %d", h.Method, h.Path, h.Status))
		assert.Equal(t, evil.URL, h.Origin, "only the attacker's requests reached the server")
		if h.Method == http.MethodPost {
			assert.Equal(t, http.StatusForbidden, h.Status, "%+v", h)
			assert.False(t, h.CSRF, "no POST with the CSRF header got through: %+v", h)
			assert.True(t, h.Cookie, "the browser did send the victim's cookie (same site): the CSRF check stopped it")
		} else {
			assert.Equal(t, http.MethodOptions, h.Method)
			assert.GreaterOrEqual(t, h.Status, 400, "no CORS preflight is granted: %+v", h)
		}
	}
	t.Logf("requests of the attacker page that reached the server: %v", reached)
	assert.Len(t, slices.DeleteFunc(slices.Clone(reached), func(s string) bool { return !strings.HasPrefix(s, "POST") }), 5,
		"two no-cors fetches per endpoint and the form post reached the server, and were refused")

	// Nothing was spent: the cookie is unchanged and still refreshes.
	assert.Equal(t, cookie, refreshCookies(t, tab, srv.URL+"/refresh")[0].Value)
	assert.Equal(t, cookie, refreshCookies(t, tab, srv.URL+"/logout")[0].Value)
	click(t, tab, "refresh")
	waitFor(t, tab, "the victim's refresh", logHas("refreshed"))
	assert.Equal(t, "logged in as victim", text(t, tab, "status"))
	assert.NotEqual(t, cookie, refreshCookies(t, tab, srv.URL+"/refresh")[0].Value, "the victim's refresh rotated the cookie")
}
