// Package browsertest runs a headless Chromium for the browser tests of
// the cookie mode (package demo, cmd/jwtauth) through chromedp, and holds
// the helpers they share to drive the demo page.
//
// Chromium is found on PATH (chromium, chromium-browser, google-chrome) or
// at $JWTAUTH_CHROMIUM. Without it the tests skip, unless
// JWTAUTH_REQUIRE_CHROMIUM=1 (set by .ci/run), where a missing Chromium is a
// failure. Chromium runs headless with --no-sandbox (CI runs as root), a
// fresh profile, and no background networking.
package browsertest

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth"
)

// Chromium returns the path of a Chromium binary, or skips the test (fails
// it under JWTAUTH_REQUIRE_CHROMIUM=1).
func Chromium(t *testing.T) string {
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

// Start starts a headless Chromium with a fresh profile and returns the
// context of its first tab. The whole test must finish within limit.
func Start(t *testing.T, limit time.Duration) context.Context {
	t.Helper()
	exe := Chromium(t)
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

// ScreenshotOnFailure saves a screenshot of the tab, and logs its text, when
// the test has failed. The directory is the test's temp dir, or
// $JWTAUTH_SCREENSHOT_DIR to keep the files.
func ScreenshotOnFailure(t *testing.T, tab context.Context, name string) {
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

// WaitFor polls the page until the JavaScript condition holds (10 s at most).
func WaitFor(t *testing.T, tab context.Context, what, cond string) {
	t.Helper()
	err := chromedp.Do(tab, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(10*time.Second), chromedp.WithPollingInterval(20*time.Millisecond)))
	require.NoError(t, err, "waiting for %s (%s)", what, cond)
}

// Text returns the textContent of the element with id.
func Text(t *testing.T, tab context.Context, id string) string {
	t.Helper()
	s, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById(`+JS(id)+`).textContent`))
	require.NoError(t, err)
	return s
}

// Click clicks the element with id.
func Click(t *testing.T, tab context.Context, id string) {
	t.Helper()
	require.NoError(t, chromedp.Do(tab, chromedp.Click(chromedp.ID(id))), "click #%s", id)
}

// RegisterAndLogin fills in the demo page's form with user and password,
// clicks Register, waits for its log line, clicks Log in and waits until
// the page says it is logged in as user.
func RegisterAndLogin(t *testing.T, tab context.Context, user, password string) {
	t.Helper()
	require.NoError(t, chromedp.Do(tab,
		chromedp.SetValue(chromedp.ID("username"), user),
		chromedp.SetValue(chromedp.ID("password"), password)))
	Click(t, tab, "register")
	WaitFor(t, tab, "registration", LogHas("registered "+user))
	Click(t, tab, "login")
	WaitFor(t, tab, "login", StatusIs("logged in as "+user))
}

// JS is s as a JavaScript string literal.
func JS(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// StatusIs is the condition that the page's status line reads s.
func StatusIs(s string) string {
	return `document.getElementById("status").textContent === ` + JS(s)
}

// LogHas is the condition that the page's event log has a line containing s.
func LogHas(s string) string {
	return `[...document.querySelectorAll("#log li")].some(li => li.textContent.includes(` + JS(s) + `))`
}

// RefreshCookies returns the browser's jwtauth_refresh cookies for url.
func RefreshCookies(t *testing.T, tab context.Context, url string) []*network.Cookie {
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
