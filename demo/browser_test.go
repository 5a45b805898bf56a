package demo_test

// End-to-end tests of the cookie mode in a real headless Chromium (see
// internal/browsertest), driven by chromedp through the demo page's own
// buttons, against a real HTTP server on 127.0.0.1 (the account routes of
// jwtauth.Routes in cookie mode on adapters/nethttp, as `jwtauth serve
// --cookie-mode --demo` mounts them) whose clock the test moves: the
// access token expires when the test says so, never after a sleep.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/adapters/nethttp"
	"github.com/jwtauth/jwtauth/demo"
	"github.com/jwtauth/jwtauth/internal/browsertest"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/account/credential"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/dpop"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

// accessTTL is the server's access-token lifetime; the test moves its
// clock past it (and the verifier's leeway) to make the page refresh.
const accessTTL = time.Minute

// hit is one request the server answered.
type hit struct {
	Method, Path, Origin, FetchSite string
	CSRF                            bool   // the CSRF header was sent
	Cookie                          bool   // a refresh cookie was sent
	DPoP                            bool   // a DPoP proof was sent
	Scheme, Token                   string // of the Authorization header, if any
	Status                          int
}

// recorder notes every request the server answers.
type recorder struct {
	mu   sync.Mutex
	hits []hit
	hold func(*http.Request) // when set, called before each request is served
}

// setHold makes the server call f before serving each request.
func (rec *recorder) setHold(f func(*http.Request)) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.hold = f
}

func (rec *recorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		hold := rec.hold
		rec.mu.Unlock()
		if hold != nil {
			hold(r)
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		_, err := r.Cookie(jwtauth.RefreshCookieName)
		scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		rec.mu.Lock()
		defer rec.mu.Unlock()
		rec.hits = append(rec.hits, hit{Method: r.Method, Path: r.URL.Path, Origin: r.Header.Get("Origin"),
			FetchSite: r.Header.Get("Sec-Fetch-Site"), CSRF: r.Header.Get(authn.CSRFHeader) != "", Cookie: err == nil,
			DPoP: r.Header.Get("DPoP") != "", Scheme: scheme, Token: tok, Status: sw.status})
	})
}

// since returns the hits after the first n, and the new count.
func (rec *recorder) since(n int) ([]hit, int) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.hits[n:]), len(rec.hits)
}

// wait polls until the hits after the first mark hold at least n requests
// to each of paths (10 s at most), and returns them and the new count.
func (rec *recorder) wait(t *testing.T, mark int, n int, paths ...string) ([]hit, int) {
	t.Helper()
	require.Eventually(t, func() bool {
		hits, _ := rec.since(mark)
		for _, p := range paths {
			if len(hitsOf(hits, p)) < n {
				return false
			}
		}
		return true
	}, 10*time.Second, 10*time.Millisecond, "waiting for %d requests to each of %v", n, paths)
	return rec.since(mark)
}

// callProtected clicks the page's call button and waits for a 200 from the
// protected route (the page clears the result first).
func callProtected(t *testing.T, tab context.Context, what string) {
	t.Helper()
	require.NoError(t, chromedp.Do(tab, chromedp.Evaluate[chromedp.Void](`document.getElementById("result").textContent = ""`)))
	browsertest.Click(t, tab, "call")
	browsertest.WaitFor(t, tab, what, `/^\d{3} /.test(document.getElementById("result").textContent)`)
	assert.Regexp(t, `^200 `, browsertest.Text(t, tab, "result"), what)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) { w.status = s; w.ResponseWriter.WriteHeader(s) }

// server is the auth server under test.
type server struct {
	URL   string
	clock *keystest.Clock
	rec   *recorder
}

// newServer starts the reference server's routes in cookie mode with
// /protected and the demo page at /demo/, on 127.0.0.1.
func newServer(t *testing.T) *server {
	t.Helper()
	return newServerWith(t, dpop.Config{})
}

// newServerWith is newServer with proofs configuring the DPoP proof
// verifier that /login, /refresh and /protected share.
func newServerWith(t *testing.T, proofs dpop.Config) *server {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	clk := keystest.NewClock(time.Now())
	quiet := slog.New(slog.DiscardHandler)
	store := memory.New()
	m, err := keys.Open(t.Context(), keys.Config{Store: store, Generate: keystest.Generator(t), Logger: quiet})
	require.NoError(t, err)
	iss, err := token.NewIssuer(token.IssuerConfig{Keys: m, Issuer: base, Audience: []string{base}, TTL: accessTTL, Now: clk.Now})
	require.NoError(t, err)
	ver, err := token.NewVerifier(token.VerifierConfig{Keys: m, Issuer: base, Audience: []string{base}, RequiredClaims: []string{"sub"}, Now: clk.Now})
	require.NoError(t, err)
	acc, err := account.New(account.Config{Users: store, RefreshTokens: store, Issuer: iss, Now: clk.Now, Logger: quiet,
		Argon2: credential.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}})
	require.NoError(t, err)
	disc, err := jwtauth.NewDiscoveryHandler(base)
	require.NoError(t, err)
	// DPoP allowed, as serve's default: the proofs' htu is the issuer +
	// the endpoint, and base + the path at the protected route. The
	// proofs' clock is the real one, as the browser's iat is.
	pv, err := dpop.NewVerifier(proofs)
	require.NoError(t, err)
	routes := jwtauth.Routes(jwtauth.RoutesConfig{Accounts: acc, JWKS: jwtauth.NewJWKSHandler(m, 5*time.Minute), Discovery: disc,
		Cookies: jwtauth.CookieMode{Enabled: true, Origin: base}, DPoP: &jwtauth.DPoPIssuing{Verifier: pv, Issuer: base}})
	api := nethttp.Handler(routes, &authn.Authenticator{Verifier: ver, DPoP: &authn.DPoPConfig{Verifier: pv, PublicURL: base}})
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
// a same-origin page would send but its key: with a DPoP proof by key when
// key is not nil.
func postRefresh(t *testing.T, srv *server, cookie string, key *ecdsa.PrivateKey) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/refresh", nil)
	require.NoError(t, err)
	req.Header.Set("Cookie", jwtauth.RefreshCookieName+"="+cookie)
	req.Header.Set(authn.CSRFHeader, "1")
	req.Header.Set("Origin", srv.URL)
	if key != nil {
		req.Header.Set("DPoP", newProof(t, key, srv.URL+"/refresh"))
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

// postJSON posts body to url with a DPoP proof by key when key is not nil,
// as an API client (no cookie, so no CSRF check), and returns the answer's
// status, body and refresh cookie.
func postJSON(t *testing.T, url, body string, key *ecdsa.PrivateKey) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if key != nil {
		req.Header.Set("DPoP", newProof(t, key, url))
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	var rt string
	for _, c := range res.Cookies() {
		if c.Name == jwtauth.RefreshCookieName {
			rt = c.Value
		}
	}
	return res.StatusCode, string(b), rt
}

// getProtected calls /protected outside the browser with the given
// Authorization header, and returns the status and body.
func getProtected(t *testing.T, srv *server, authorization string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/protected", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", authorization)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

// newKey is a DPoP key of the attacker's (or of another client's).
func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return k
}

// newProof is a DPoP proof by key for POST url.
func newProof(t *testing.T, key *ecdsa.PrivateKey, url string) string {
	t.Helper()
	p, err := dpop.NewProof(key, http.MethodPost, url, dpop.ProofOptions{})
	require.NoError(t, err)
	return p
}

// pageKey is what a script of the page's origin finds of the DPoP key in
// IndexedDB: the public JWK's coordinates, and whether the private key
// is extractable and what exporting it (JWK, PKCS #8) throws.
type pageKey struct {
	Found                  bool
	Crv, X, Y              string
	Algorithm              string
	Extractable            bool
	ExportJWK, ExportPKCS8 string
	PublicExtractable      bool
	PrivateUsages          []string
}

// readPageKey reads the page's DPoP key from IndexedDB in tab, as any
// script of its origin could, and returns it with its RFC 7638 thumbprint
// computed here from the public coordinates.
func readPageKey(t *testing.T, tab context.Context) (pageKey, string) {
	t.Helper()
	k, err := chromedp.Run(tab, chromedp.Evaluate[pageKey](`new Promise((resolve, reject) => {
  const open = indexedDB.open("jwtauth-demo");
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const db = open.result;
    if (!db.objectStoreNames.contains("dpop")) { db.close(); resolve(null); return; }
    const req = db.transaction("dpop").objectStore("dpop").get("key");
    req.onsuccess = () => { db.close(); resolve(req.result); };
    req.onerror = () => reject(req.error);
  };
}).then(async (keys) => {
  if (!keys) return {Found: false};
  const pub = await crypto.subtle.exportKey("jwk", keys.publicKey);
  const tryExport = (format) => crypto.subtle.exportKey(format, keys.privateKey).then(() => "exported", (e) => e.name);
  return {Found: true, Crv: pub.crv, X: pub.x, Y: pub.y, Algorithm: keys.privateKey.algorithm.name,
    Extractable: keys.privateKey.extractable, PublicExtractable: keys.publicKey.extractable,
    ExportJWK: await tryExport("jwk"), ExportPKCS8: await tryExport("pkcs8"), PrivateUsages: keys.privateKey.usages};
})`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	if !k.Found {
		return k, ""
	}
	x, err := base64.RawURLEncoding.DecodeString(k.X)
	require.NoError(t, err)
	y, err := base64.RawURLEncoding.DecodeString(k.Y)
	require.NoError(t, err)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	require.NoError(t, err)
	jkt, err := dpop.Thumbprint(pub)
	require.NoError(t, err)
	return k, jkt
}

// jktOf returns the cnf.jkt claim of an access token the server issued.
func jktOf(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var c struct {
		Cnf struct {
			JKT string `json:"jkt"`
		} `json:"cnf"`
	}
	require.NoError(t, json.Unmarshal(b, &c))
	return c.Cnf.JKT
}

// putCookie sets the refresh cookies of srv in the browser to value, as
// the server would (a way to present an old token from the page).
func putCookie(t *testing.T, tab context.Context, srv *server, value string) {
	t.Helper()
	for _, ep := range []string{"/refresh", "/logout"} {
		_, err := chromedp.Run(tab, chromedp.Action[cdp.Empty](func(ctx context.Context, tg *chromedp.Target) (cdp.Empty, error) {
			return cdp.Call(ctx, tg, network.SetCookie, network.SetCookieParams{Name: jwtauth.RefreshCookieName, Value: value,
				URL: srv.URL + ep, Path: ep, HTTPOnly: new(true), SameSite: network.CookieSameSiteStrict})
		}))
		require.NoError(t, err)
	}
}

// TestBrowserFlow drives the demo page through the whole cookie-mode flow:
// register, log in, call the protected route, a silent refresh after the
// access token expired, a reload that restores the session from the
// cookie, logout; and checks that the refresh cookie is HttpOnly (not in
// document.cookie) and scoped to /refresh and /logout, and that the old
// cookie is refused after logout. DPoP (RFC 9449): the page holds a
// non-extractable P-256 key in IndexedDB (exportKey refuses it) that
// survives the reload; login, refresh and the API call carry its proofs;
// the access token is bound to its thumbprint (cnf.jkt) and goes with the
// DPoP scheme, and a copy of it sent as Bearer is refused.
func TestBrowserFlow(t *testing.T) {
	tab := browsertest.Start(t, 45*time.Second)
	srv := newServer(t)
	browsertest.ScreenshotOnFailure(t, tab, "flow")
	page := srv.URL + "/demo/"

	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(srv.URL+"/demo")), "the path without its slash redirects")
	browsertest.WaitFor(t, tab, "the page to start logged out", browsertest.StatusIs("logged out"))
	loc, err := chromedp.Run(tab, chromedp.Location())
	require.NoError(t, err)
	assert.Equal(t, page, loc)

	browsertest.RegisterAndLogin(t, tab, "alice", "correct horse battery")

	// The refresh token is in two HttpOnly cookies, one per endpoint
	// path, and no script can read it.
	docCookie, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.cookie`))
	require.NoError(t, err)
	assert.NotContains(t, docCookie, jwtauth.RefreshCookieName, "document.cookie must not show the refresh cookie")
	for _, ep := range []string{"/refresh", "/logout"} {
		cs := browsertest.RefreshCookies(t, tab, srv.URL+ep)
		require.Len(t, cs, 1, "one refresh cookie for %s", ep)
		assert.Equal(t, ep, cs[0].Path)
		assert.True(t, cs[0].HTTPOnly)
		assert.Equal(t, network.CookieSameSiteStrict, cs[0].SameSite)
		assert.False(t, cs[0].Secure, "plain http on 127.0.0.1 is the documented exception")
	}
	assert.Empty(t, browsertest.RefreshCookies(t, tab, srv.URL+"/protected"), "the refresh cookie never goes to other routes")
	assert.Empty(t, browsertest.RefreshCookies(t, tab, srv.URL+"/login"))
	first := browsertest.RefreshCookies(t, tab, srv.URL+"/refresh")[0].Value

	// The page's DPoP key: in IndexedDB, the private half non-extractable.
	key, jkt := readPageKey(t, tab)
	require.True(t, key.Found, "the page keeps its DPoP key in IndexedDB")
	assert.Equal(t, "P-256", key.Crv)
	assert.Equal(t, "ECDSA", key.Algorithm)
	assert.False(t, key.Extractable, "the private key is non-extractable")
	assert.Equal(t, "InvalidAccessError", key.ExportJWK, "exportKey refuses the private key")
	assert.Equal(t, "InvalidAccessError", key.ExportPKCS8)
	assert.Equal(t, []string{"sign"}, key.PrivateUsages)
	assert.True(t, key.PublicExtractable, "only the public half is exported, for the proofs' jwk")
	assert.Equal(t, jkt, browsertest.Text(t, tab, "dpop"), "the page shows the key's RFC 7638 thumbprint")
	assert.True(t, chromedpBool(t, tab, browsertest.LogHas("logged in: DPoP access token for alice (bound to this page's key)")),
		"login answered token_type DPoP")
	logins, _ := srv.rec.since(0)
	for _, h := range logins {
		if h.Path == "/login" {
			assert.True(t, h.DPoP, "the login carried a DPoP proof")
		}
	}
	// The access token lives in a JavaScript variable, not in storage.
	stored, err := chromedp.Run(tab, chromedp.Evaluate[string](`JSON.stringify(localStorage) + JSON.stringify(sessionStorage)`))
	require.NoError(t, err)
	assert.NotContains(t, stored, "eyJ", "no JWT in web storage")

	_, mark := srv.rec.since(0)
	callProtected(t, tab, "the protected route")
	assert.Contains(t, browsertest.Text(t, tab, "result"), `"sub": "alice"`)
	assert.Equal(t, "0", browsertest.Text(t, tab, "refreshes"))
	hits, _ := srv.rec.wait(t, mark, 1, "/protected")
	var access string
	for _, h := range hits {
		if h.Path == "/protected" {
			assert.Equal(t, "DPoP", h.Scheme, "the API call uses the DPoP scheme")
			assert.True(t, h.DPoP, "with a proof")
			access = h.Token
		}
	}
	assert.Equal(t, jkt, jktOf(t, access), "the access token is bound to the page's key (cnf.jkt)")
	// A copy of the access token is useless without the key.
	for _, authz := range []string{"Bearer " + access, "DPoP " + access} {
		status, body := getProtected(t, srv, authz)
		assert.Equal(t, http.StatusUnauthorized, status, "%s…: %s", authz[:5], body)
		assert.NotContains(t, body, "alice")
	}

	// The access token expires (TTL plus the verifier's leeway): the next
	// call gets 401, refreshes from the cookie and retries, unseen.
	srv.clock.Advance(accessTTL + token.DefaultLeeway + time.Second)
	_, mark = srv.rec.since(mark)
	callProtected(t, tab, "the retried call")
	assert.Equal(t, "1", browsertest.Text(t, tab, "refreshes"), "one silent refresh")
	hits, mark = srv.rec.wait(t, mark, 2, "/protected") // and the refresh between them
	var seq []string
	for _, h := range hits {
		if h.Path != "/protected" && h.Path != "/refresh" {
			continue
		}
		seq = append(seq, fmt.Sprintf("%s %s %d", h.Method, h.Path, h.Status))
		if h.Path == "/refresh" {
			assert.True(t, h.DPoP, "the page sends a DPoP proof")
			assert.True(t, h.CSRF, "the page sends the CSRF header")
			assert.True(t, h.Cookie, "the browser sends the refresh cookie")
			assert.Equal(t, srv.URL, h.Origin)
			assert.Equal(t, "same-origin", h.FetchSite)
		}
	}
	assert.Equal(t, []string{"GET /protected 401", "POST /refresh 200", "GET /protected 200"}, seq)
	second := browsertest.RefreshCookies(t, tab, srv.URL+"/refresh")[0].Value
	assert.NotEqual(t, first, second, "the refresh rotated the cookie")
	assert.Equal(t, second, browsertest.RefreshCookies(t, tab, srv.URL+"/logout")[0].Value, "both cookies carry the new token")

	// A reload forgets the access token; the cookie restores the session.
	require.NoError(t, chromedp.Do(tab, chromedp.Reload()))
	hits, mark = srv.rec.wait(t, mark, 1, "/refresh")
	assert.Equal(t, []string{"POST 200"}, hitsOf(hits, "/refresh"), "the reloaded page refreshed from the cookie")
	browsertest.WaitFor(t, tab, "the session restored after a reload", browsertest.StatusIs("logged in as alice"))
	_, again := readPageKey(t, tab)
	assert.Equal(t, jkt, again, "the key survived the reload")
	callProtected(t, tab, "a call after the reload")
	hits, mark = srv.rec.wait(t, mark, 1, "/protected")
	for _, h := range hits {
		if h.Path == "/protected" {
			assert.Equal(t, jkt, jktOf(t, h.Token), "bound to the same key after the reload")
		}
	}
	beforeLogout := browsertest.RefreshCookies(t, tab, srv.URL+"/refresh")[0].Value

	browsertest.Click(t, tab, "logout")
	browsertest.WaitFor(t, tab, "logout", browsertest.StatusIs("logged out"))
	hits, _ = srv.rec.wait(t, mark, 1, "/logout")
	assert.Equal(t, []string{"POST 204"}, hitsOf(hits, "/logout"))
	assert.Empty(t, browsertest.RefreshCookies(t, tab, srv.URL+"/refresh"), "logout cleared the cookie")
	assert.Empty(t, browsertest.RefreshCookies(t, tab, srv.URL+"/logout"))

	// The old cookies, replayed from outside the browser with everything
	// the page would send but its key, are refused before their state is
	// even looked at: the family is bound to the page's key.
	for _, old := range []string{beforeLogout, second, first} {
		status, body := postRefresh(t, srv, old, nil)
		assert.Equal(t, http.StatusBadRequest, status, "body %s", body)
		assert.Contains(t, body, `"invalid_dpop_proof"`)
	}
	// In the page, a refresh now has no cookie to send.
	browsertest.Click(t, tab, "refresh")
	browsertest.WaitFor(t, tab, "the refused refresh", browsertest.LogHas("refresh refused"))
	assert.Equal(t, "logged out", browsertest.Text(t, tab, "status"))
	// The old cookie put back, the page's own proof cannot revive it:
	// logout revoked the family.
	putCookie(t, tab, srv, beforeLogout)
	_, mark = srv.rec.since(0)
	browsertest.Click(t, tab, "refresh")
	browsertest.WaitFor(t, tab, "the revoked token refused", browsertest.LogHas("refresh refused: 401 invalid_grant"))
	hits, _ = srv.rec.wait(t, mark, 1, "/refresh")
	assert.Equal(t, []string{"POST 401"}, hitsOf(hits, "/refresh"))
	assert.Empty(t, browsertest.RefreshCookies(t, tab, srv.URL+"/refresh"), "the refused cookie was cleared")
}

// chromedpBool evaluates the JavaScript condition cond in tab.
func chromedpBool(t *testing.T, tab context.Context, cond string) bool {
	t.Helper()
	b, err := chromedp.Run(tab, chromedp.Evaluate[bool](cond))
	require.NoError(t, err)
	return b
}

// attackPage is served by the attacker's server, at an origin other than
// the victim's. It tries every request a page can make to the victim's
// server without CORS permission, then makes its own server the requests
// the victim's cookies are scoped to (/refresh, /logout, /login): a
// browser sends a host's cookies to every port of that host (RFC 6265
// §8.5), so an attacker's server on the victim's host would receive them
// there. It writes the outcomes into #out.
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
  // The attacker's own server, at the paths of the victim's cookies.
  for (const p of ["/refresh", "/logout", "/login"]) {
    out.push(await attempt("own " + p, () => fetch(p, {method: "POST", credentials: "include"})));
  }
  document.getElementById("out").textContent = out.join("\n");
})();
</script>
</body></html>`

// ownPage is attackPage without the forgeries: served by another port of
// the victim's host, it only asks its own server for the paths of the
// victim's cookies, as any page of that server may, and lists the
// IndexedDB databases of its origin (where a DPoP key would be).
const ownPage = `<!doctype html>
<html><body><pre id="out"></pre>
<script>
(async () => {
  const out = [];
  for (const p of ["/refresh", "/logout", "/login"]) out.push(p + ": " + (await fetch(p, {method: "POST"})).status);
  out.push("IndexedDB databases: " + JSON.stringify((await indexedDB.databases()).map(d => d.name)));
  document.getElementById("out").textContent = out.join("\n");
})();
</script>
</body></html>`

// attacker is the attacker's web server: it serves page at / and answers
// every other request with answer (default 204), recording the cookies
// each request brought.
type attacker struct {
	URL string // http://host:port as the browser is sent to it
	mu  sync.Mutex
	got map[string]map[string]string // request path → cookie name → value
}

// newAttacker starts the attacker's server on 127.0.0.1 and returns it
// with its URL at host (127.0.0.1, or a name Chromium resolves to it).
func newAttacker(t *testing.T, host, page string, answer http.HandlerFunc) *attacker {
	t.Helper()
	a := &attacker{got: map[string]map[string]string{}}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" && r.Method == http.MethodGet {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = io.WriteString(w, page)
			return
		}
		a.mu.Lock()
		cs := a.got[r.URL.Path]
		if cs == nil {
			cs = map[string]string{}
			a.got[r.URL.Path] = cs
		}
		for _, c := range r.Cookies() {
			cs[c.Name] = c.Value
		}
		a.mu.Unlock()
		if answer != nil {
			answer(w, r)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(ts.Close)
	a.URL = strings.Replace(ts.URL, "127.0.0.1", host, 1)
	return a
}

// cookies returns the cookies the attacker's server received at path,
// and whether a request for path reached it at all.
func (a *attacker) cookies(path string) (map[string]string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cs, ok := a.got[path]
	return maps.Clone(cs), ok
}

// openAttacker opens url in a new tab of the victim's browser and waits
// until its page has written #out, which it returns.
func openAttacker(t *testing.T, tab context.Context, url string) string {
	t.Helper()
	tb, cancel := chromedp.NewContext(tab)
	t.Cleanup(cancel)
	browsertest.ScreenshotOnFailure(t, tb, "attacker")
	require.NoError(t, chromedp.Do(tb, chromedp.Navigate(url)))
	browsertest.WaitFor(t, tb, "the attacker's page to finish", `document.getElementById("out").textContent !== ""`)
	out := browsertest.Text(t, tb, "out")
	t.Logf("the attacker's page saw:\n%s", out)
	return out
}

// loginVictim opens the demo page of srv, registers and logs in user, and
// returns its refresh cookie's value.
func loginVictim(t *testing.T, tab context.Context, srv *server, user string) string {
	t.Helper()
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(srv.URL+"/demo/")))
	browsertest.WaitFor(t, tab, "the page", browsertest.StatusIs("logged out"))
	browsertest.RegisterAndLogin(t, tab, user, "correct horse battery")
	cs := browsertest.RefreshCookies(t, tab, srv.URL+"/refresh")
	require.Len(t, cs, 1)
	return cs[0].Value
}

// forge logs a victim in on srv's demo page, opens attackPage from the
// attacker's server at host in another tab of the same browser, and
// returns the attacker's server, what its page saw, the requests of the
// forgeries that reached srv (/refresh and /logout), and the victim's
// refresh cookie of before the attack.
func forge(t *testing.T, tab context.Context, srv *server, host string) (*attacker, string, []hit, string) {
	t.Helper()
	evil := newAttacker(t, host, fmt.Sprintf(attackPage, browsertest.JS(srv.URL)), nil)
	require.NotEqual(t, srv.URL, evil.URL)
	cookie := loginVictim(t, tab, srv, "victim")
	_, mark := srv.rec.since(0)
	out := openAttacker(t, tab, evil.URL+"/")
	assert.Contains(t, out, "cors with header /refresh: blocked", "the preflight is refused, so the request is never sent")
	assert.Contains(t, out, "cors with header /logout: blocked")
	// The form post's frame may load before the server's record is made.
	srv.rec.wait(t, mark, 3, "/refresh")           // 2 no-cors fetches and a preflight
	hits, _ := srv.rec.wait(t, mark, 4, "/logout") // the same, and the form post
	hits = slices.DeleteFunc(hits, func(h hit) bool { return h.Path != "/refresh" && h.Path != "/logout" })
	var reached []string
	for _, h := range hits {
		reached = append(reached, fmt.Sprintf("%s %s %d", h.Method, h.Path, h.Status))
		assert.Equal(t, evil.URL, h.Origin, "only the attacker's requests reached the server")
		if h.Method != http.MethodPost {
			assert.Equal(t, http.MethodOptions, h.Method)
			assert.GreaterOrEqual(t, h.Status, 400, "no CORS preflight is granted: %+v", h)
		}
	}
	t.Logf("requests of the attacker's page that reached the server: %v", reached)
	assert.Len(t, slices.DeleteFunc(slices.Clone(reached), func(s string) bool { return !strings.HasPrefix(s, "POST") }), 5,
		"two no-cors fetches per endpoint and the form post reached the server")
	return evil, out, hits, cookie
}

// victimUnharmed checks that the victim's refresh cookie is still cookie
// and still refreshes in the demo page.
func victimUnharmed(t *testing.T, tab context.Context, srv *server, cookie string) {
	t.Helper()
	assert.Equal(t, cookie, browsertest.RefreshCookies(t, tab, srv.URL+"/refresh")[0].Value)
	assert.Equal(t, cookie, browsertest.RefreshCookies(t, tab, srv.URL+"/logout")[0].Value)
	browsertest.Click(t, tab, "refresh")
	browsertest.WaitFor(t, tab, "the victim's refresh", browsertest.LogHas("refreshed"))
	assert.Equal(t, "logged in as victim", browsertest.Text(t, tab, "status"))
	assert.NotEqual(t, cookie, browsertest.RefreshCookies(t, tab, srv.URL+"/refresh")[0].Value, "the victim's refresh rotated the cookie")
}

// TestBrowserCrossSite logs a victim in on the demo page at 127.0.0.1,
// then opens in the same browser a page of another site: localhost, which
// Chromium resolves to the same loopback address but which is another
// host, and so another site, to its cookies. The page's forged refreshes
// and logouts reach the server without the victim's cookie (SameSite=
// Strict) and are refused, the preflighted one never reaches it; the
// attacker's own server, asked for /refresh, /logout and /login, receives
// none of the victim's cookies (it would, on another port of 127.0.0.1:
// see TestBrowserOtherPortCannotRedeemRefreshCookie); and the victim's session
// (cookie unchanged) still refreshes afterwards.
func TestBrowserCrossSite(t *testing.T) {
	tab := browsertest.Start(t, 45*time.Second)
	srv := newServer(t)
	browsertest.ScreenshotOnFailure(t, tab, "victim")
	evil, out, hits, cookie := forge(t, tab, srv, "localhost")

	for _, h := range hits {
		assert.Equal(t, "cross-site", h.FetchSite, "%+v", h)
		assert.False(t, h.Cookie, "SameSite=Strict: the browser did not send the victim's cookie cross-site: %+v", h)
		assert.False(t, h.CSRF, "no request with the CSRF header got through: %+v", h)
		assert.True(t, h.Status >= 400 && h.Status < 500, "refused: %+v", h)
	}
	for _, p := range []string{"/refresh", "/logout", "/login"} {
		assert.Contains(t, out, "own "+p+": 204", "the attacker's page reached its own server")
		got, ok := evil.cookies(p)
		require.True(t, ok, "a request for %s reached the attacker's server", p)
		assert.Empty(t, got, "the attacker's server at %s received no cookie of the victim's", p)
	}
	victimUnharmed(t, tab, srv, cookie)
}

// TestBrowserSameSiteForgery is TestBrowserCrossSite with the attacker's
// page on another origin of the same site, where SameSite does not stop
// the browser sending the victim's cookie with the forgeries and the CSRF
// check must: each is refused 403 before anything is spent. The origin is
// another port of 127.0.0.1, standing in for a sibling subdomain (which
// the test cannot make without DNS); unlike a sibling, that origin need not
// forge anything: its own server receives the victim's cookies, as this
// test checks and TestBrowserOtherPortCannotRedeemRefreshCookie tries to exploit.
func TestBrowserSameSiteForgery(t *testing.T) {
	tab := browsertest.Start(t, 45*time.Second)
	srv := newServer(t)
	browsertest.ScreenshotOnFailure(t, tab, "victim")
	evil, _, hits, cookie := forge(t, tab, srv, "127.0.0.1")

	for _, h := range hits {
		assert.Equal(t, "same-site", h.FetchSite, "%+v", h)
		if h.Method == http.MethodPost {
			assert.Equal(t, http.StatusForbidden, h.Status, "%+v", h)
			assert.False(t, h.CSRF, "no POST with the CSRF header got through: %+v", h)
			assert.True(t, h.Cookie, "the browser did send the victim's cookie (same site): the CSRF check stopped it")
		}
	}
	// Known limit (SECURITY.md, guarantee 9): cookies do not separate ports.
	got, _ := evil.cookies("/refresh")
	assert.Equal(t, cookie, got[jwtauth.RefreshCookieName], "the other port's own server received the victim's refresh cookie")
	victimUnharmed(t, tab, srv, cookie)
}

// TestBrowserOtherPortCannotRedeemRefreshCookie: a browser sends a host's
// cookies to every port of that host (RFC 6265 §8.5), so a web server on
// another port of the victim's host still receives the victim's HttpOnly
// refresh and device cookies when its own page fetches /refresh, /logout
// and /login from it (SECURITY.md, guarantee 9). But the victim's page
// logged in with a DPoP proof by its non-extractable key, which lives in
// the IndexedDB of the page's origin (the attacker's page, another origin,
// finds none in its own), so the family is bound to that key: the stolen
// token redeemed as a JSON body without a proof, with a proof by the
// attacker's own key, or as a cookie with such a proof, is refused 400
// invalid_dpop_proof, and nothing is spent: the victim's page refreshes
// afterwards and the protected route answers as the victim.
func TestBrowserOtherPortCannotRedeemRefreshCookie(t *testing.T) {
	tab := browsertest.Start(t, 45*time.Second)
	srv := newServer(t)
	browsertest.ScreenshotOnFailure(t, tab, "victim")
	evil := newAttacker(t, "127.0.0.1", ownPage, nil)
	cookie := loginVictim(t, tab, srv, "victim")
	out := openAttacker(t, tab, evil.URL+"/")
	assert.Equal(t, "/refresh: 204\n/logout: 204\n/login: 204\nIndexedDB databases: []", out,
		"the attacker's origin has no DPoP key of the victim's page")

	// The known part: the other port's server reads the cookies.
	for _, p := range []string{"/refresh", "/logout"} {
		got, _ := evil.cookies(p)
		assert.Equal(t, cookie, got[jwtauth.RefreshCookieName], "the other port's server read the victim's HttpOnly refresh cookie at %s", p)
	}
	got, _ := evil.cookies("/login")
	assert.NotEmpty(t, got[jwtauth.DeviceCookieName], "and the victim's device cookie at /login")

	// What the attacker's server tries with it.
	own := newKey(t)
	body := `{"refresh_token":` + browsertest.JS(cookie) + `}`
	for name, key := range map[string]*ecdsa.PrivateKey{"without a proof": nil, "with a proof by the attacker's key": own} {
		status, answer, next := postJSON(t, srv.URL+"/refresh", body, key)
		assert.Equal(t, http.StatusBadRequest, status, "JSON redemption %s: %s", name, answer)
		assert.Contains(t, answer, `"invalid_dpop_proof"`, name)
		assert.Empty(t, next, "%s: no refresh token issued", name)
		status, answer = postRefresh(t, srv, cookie, key)
		assert.Equal(t, http.StatusBadRequest, status, "cookie redemption %s: %s", name, answer)
		assert.Contains(t, answer, `"invalid_dpop_proof"`, name)
	}

	// Nothing was spent: the victim's page refreshes and calls as before.
	victimUnharmed(t, tab, srv, cookie)
	callProtected(t, tab, "the victim's call after the attack")
	assert.Contains(t, browsertest.Text(t, tab, "result"), `"sub": "victim"`)
}

// TestBrowserOtherPortCannotSwitchSession: a server on another port of
// the victim's host can still set its own jwtauth_refresh cookie over the
// victim's (same name, host and paths): a session of mallory's, the
// attacker's account. The victim's page refreshes with a proof by its own
// key, so it is refused whichever session mallory planted: one bound to
// her key (a proof by another key, account.Refresh) or an unbound one
// (the cookie mode's sender check: a cookie refresh with a proof needs a
// family bound to that key). The page ends logged out with the refusal
// in its log, never as mallory; logging in again restores the victim's
// own session.
func TestBrowserOtherPortCannotSwitchSession(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  bool // mallory's family is bound to her key
		why  string
	}{
		{"mallory's family bound to her key", true, "this refresh token is bound to a DPoP key"},
		{"mallory's family unbound", false, "the session is not bound to this key; log in again"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := browsertest.Start(t, 45*time.Second)
			srv := newServer(t)
			browsertest.ScreenshotOnFailure(t, tab, "victim")

			// Mallory's own session, from the victim's server, as any client gets it.
			var key *ecdsa.PrivateKey
			if tc.key {
				key = newKey(t)
			}
			creds := `{"username":"mallory","password":"mallory's password"}`
			status, answer, _ := postJSON(t, srv.URL+"/register", creds, nil)
			require.Equal(t, http.StatusCreated, status, answer)
			status, answer, mallory := postJSON(t, srv.URL+"/login", creds, key)
			require.Equal(t, http.StatusOK, status, answer)
			require.NotEmpty(t, mallory)
			wantType := map[bool]string{true: "DPoP", false: "Bearer"}[tc.key]
			assert.Contains(t, answer, `"token_type":"`+wantType+`"`)

			evil := newAttacker(t, "127.0.0.1", ownPage, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/refresh" || r.URL.Path == "/logout" { // the victim's cookie's paths
					http.SetCookie(w, &http.Cookie{Name: jwtauth.RefreshCookieName, Value: mallory, Path: r.URL.Path, MaxAge: 3600,
						HttpOnly: true, SameSite: http.SameSiteStrictMode})
				}
				w.WriteHeader(http.StatusNoContent)
			})
			victim := loginVictim(t, tab, srv, "victim")
			openAttacker(t, tab, evil.URL+"/")

			// The known part: the planted cookie replaced the victim's.
			for _, ep := range []string{"/refresh", "/logout"} {
				cs := browsertest.RefreshCookies(t, tab, srv.URL+ep)
				require.Len(t, cs, 1, "one refresh cookie for %s: the attacker's replaced the victim's", ep)
				assert.Equal(t, mallory, cs[0].Value, "the cookie the victim's page sends to %s is mallory's", ep)
				assert.NotEqual(t, victim, cs[0].Value)
			}
			_, mark := srv.rec.since(0)
			browsertest.Click(t, tab, "refresh")
			browsertest.WaitFor(t, tab, "the refused refresh", browsertest.LogHas("refresh refused: 400 invalid_dpop_proof: "+tc.why))
			assert.Equal(t, "logged out", browsertest.Text(t, tab, "status"), "never logged in as mallory")
			hits, _ := srv.rec.wait(t, mark, 1, "/refresh")
			assert.Equal(t, []string{"POST 400"}, hitsOf(hits, "/refresh"), "the page's own refresh, CSRF check passed, refused")
			for _, h := range hits {
				assert.True(t, h.DPoP && h.Cookie, "the refresh carried the page's proof and mallory's cookie: %+v", h)
			}
			require.NoError(t, chromedp.Do(tab, chromedp.Evaluate[chromedp.Void](`document.getElementById("result").textContent = ""`)))
			browsertest.Click(t, tab, "call")
			browsertest.WaitFor(t, tab, "the call", `/^\d{3} /.test(document.getElementById("result").textContent)`)
			assert.Regexp(t, `^401 `, browsertest.Text(t, tab, "result"), "no session: nothing answers as mallory")
			assert.NotContains(t, browsertest.Text(t, tab, "log"), "logged in as mallory")
			assert.NotContains(t, browsertest.Text(t, tab, "log"), "for mallory")

			// Mallory's token was not spent by the refusal either; the
			// victim logs in again and has her own session back.
			require.NoError(t, chromedp.Do(tab, chromedp.SetValue(chromedp.ID("password"), "correct horse battery")))
			browsertest.Click(t, tab, "login")
			browsertest.WaitFor(t, tab, "the victim's new login", browsertest.StatusIs("logged in as victim"))
			assert.NotEqual(t, mallory, browsertest.RefreshCookies(t, tab, srv.URL+"/refresh")[0].Value)
			callProtected(t, tab, "the victim's call")
			assert.Contains(t, browsertest.Text(t, tab, "result"), `"sub": "victim"`)
		})
	}
}

// TestBrowserTabsRefreshTogether: two tabs of the page that load at once
// (a browser restoring its session) both refresh from the one refresh
// cookie they share. The server holds the first refresh until the second
// arrives (or 3 s pass), so that unserialized refreshes overlap: then one
// of them would present a token the other just rotated, which is reuse
// and revokes the family, logging the user out everywhere. The page
// serializes its refreshes across tabs (Web Locks), so the second one
// sends the cookie the first one set: both tabs end logged in, and the
// session lives on. Both use the one DPoP key of the origin (its family
// is bound to it): the key's get-or-create takes a Web Lock too.
func TestBrowserTabsRefreshTogether(t *testing.T) {
	tab := browsertest.Start(t, 45*time.Second)
	srv := newServer(t)
	browsertest.ScreenshotOnFailure(t, tab, "tabs")
	page := srv.URL + "/demo/"
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(page)))
	browsertest.WaitFor(t, tab, "the page to start logged out", browsertest.StatusIs("logged out"))
	browsertest.RegisterAndLogin(t, tab, "alice", "correct horse battery")

	second := make(chan struct{})
	var once sync.Once
	var n sync.Mutex
	count := 0
	srv.rec.setHold(func(r *http.Request) {
		if r.URL.Path != "/refresh" {
			return
		}
		n.Lock()
		count++
		c := count
		n.Unlock()
		if c == 1 {
			select { // overlap with the second tab's refresh, if it comes
			case <-second:
			case <-time.After(3 * time.Second):
			}
			return
		}
		once.Do(func() { close(second) })
	})
	_, mark := srv.rec.since(0)
	tabB, cancelB := chromedp.NewContext(tab)
	defer cancelB()
	tabC, cancelC := chromedp.NewContext(tab)
	defer cancelC()
	var wg sync.WaitGroup
	for _, tb := range []context.Context{tabB, tabC} {
		wg.Go(func() { assert.NoError(t, chromedp.Do(tb, chromedp.Navigate(page))) })
	}
	wg.Wait()
	hits, _ := srv.rec.wait(t, mark, 2, "/refresh")
	assert.Equal(t, []string{"POST 200", "POST 200"}, hitsOf(hits, "/refresh"), "each tab refreshed with the cookie the other set")
	_, jkt := readPageKey(t, tab)
	require.NotEmpty(t, jkt)
	for name, tb := range map[string]context.Context{"tab B": tabB, "tab C": tabC} {
		browsertest.WaitFor(t, tb, name+" restored from the cookie", browsertest.StatusIs("logged in as alice"))
		assert.Equal(t, jkt, browsertest.Text(t, tb, "dpop"), "%s uses the one key of the origin", name)
	}
	srv.rec.setHold(nil)
	callProtected(t, tab, "the first tab, after both refreshed")
}

// TestBrowserMountedService: the other layout the page supports, as
// examples/gin has it: a jwtauth.Service whose issuer is
// http://<addr>/auth, mounted under /auth (nethttp.MountService), the
// application's own /api/me behind svc.Authenticator(), and the page at
// /demo/ with AuthPath svc.MountPath(). The page's proofs name the URLs it
// fetches, which are the ones the Service expects (the issuer + /login or
// /refresh; the issuer's origin + /api/me): it logs in, calls /api/me with
// its bound token, and restores the session after a reload, all with
// DPoP (Config.DPoP's default, allowed).
func TestBrowserMountedService(t *testing.T) {
	tab := browsertest.Start(t, 45*time.Second)
	browsertest.ScreenshotOnFailure(t, tab, "mounted")
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	svc, err := jwtauth.New(t.Context(), jwtauth.Config{Store: memory.New(), Issuer: base + "/auth", GenerateKey: keystest.Generator(t),
		Logger: slog.New(slog.DiscardHandler), Cookies: jwtauth.CookieMode{Enabled: true}})
	require.NoError(t, err)
	t.Cleanup(svc.Close)
	mux := http.NewServeMux()
	nethttp.MountService(mux, svc)
	mux.Handle("GET /api/me", nethttp.Middleware(svc.Authenticator())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := token.ClaimsFromContext(r.Context())
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"sub": c.Subject, "jkt": c.JKT()})
	})))
	mux.Handle("/demo/", demo.Handler(demo.Config{AuthPath: svc.MountPath(), Protected: "/api/me"}))
	rec := &recorder{}
	ts.Config.Handler = rec.wrap(mux)
	ts.Start()
	t.Cleanup(ts.Close)

	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(base+"/demo/")))
	browsertest.WaitFor(t, tab, "the page", browsertest.StatusIs("logged out"))
	browsertest.RegisterAndLogin(t, tab, "alice", "correct horse battery")
	browsertest.WaitFor(t, tab, "a bound login", browsertest.LogHas("logged in: DPoP access token for alice"))
	_, jkt := readPageKey(t, tab)
	callProtected(t, tab, "/api/me with the bound token")
	assert.Contains(t, browsertest.Text(t, tab, "result"), `"jkt": "`+jkt+`"`, "the token the middleware accepted is bound to the page's key")

	_, mark := rec.since(0)
	require.NoError(t, chromedp.Do(tab, chromedp.Reload()))
	browsertest.WaitFor(t, tab, "the session restored after a reload", browsertest.StatusIs("logged in as alice"))
	hits, _ := rec.wait(t, mark, 1, "/auth/refresh")
	assert.Equal(t, []string{"POST 200"}, hitsOf(hits, "/auth/refresh"))
	for _, h := range hits {
		if h.Path == "/auth/refresh" {
			assert.True(t, h.DPoP && h.Cookie, "refreshed from the cookie with a proof: %+v", h)
		}
	}
	callProtected(t, tab, "/api/me after the reload")
	assert.Contains(t, browsertest.Text(t, tab, "result"), `"jkt": "`+jkt+`"`)
}

// TestBrowserDPoPNonce: with server nonces (dpop.Config.Nonce, RFC 9449
// §8, §9) the page's first proof lacks one: /login answers 400
// use_dpop_nonce with DPoP-Nonce and the page retries once with it, then
// uses it on the API call. When the nonce has rotated out (the nonces'
// own clock moved on), the protected route answers 401 use_dpop_nonce and
// the page retries with the new one, with no refresh; the refresh then
// carries the current nonce.
func TestBrowserDPoPNonce(t *testing.T) {
	tab := browsertest.Start(t, 45*time.Second)
	nclk := keystest.NewClock(time.Now())
	nonces, err := dpop.NewRotatingNonces([]byte(strings.Repeat("n", 32)), time.Minute, nclk.Now)
	require.NoError(t, err)
	srv := newServerWith(t, dpop.Config{Nonce: nonces})
	browsertest.ScreenshotOnFailure(t, tab, "nonce")
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(srv.URL+"/demo/")))
	browsertest.WaitFor(t, tab, "the page", browsertest.StatusIs("logged out"))
	_, mark := srv.rec.since(0)
	browsertest.RegisterAndLogin(t, tab, "alice", "correct horse battery")
	hits, mark := srv.rec.wait(t, mark, 2, "/login")
	assert.Equal(t, []string{"POST 400", "POST 200"}, hitsOf(hits, "/login"), "the first proof lacked the nonce; the retry had it")
	assert.True(t, chromedpBool(t, tab, browsertest.LogHas("POST ../login: the server asks for its DPoP nonce; retrying")))

	callProtected(t, tab, "a call with the nonce")
	hits, mark = srv.rec.wait(t, mark, 1, "/protected")
	assert.Equal(t, []string{"GET 200"}, hitsOf(hits, "/protected"))

	nclk.Advance(3 * time.Minute) // the page's nonce is no longer accepted
	callProtected(t, tab, "a call after the nonce rotated")
	hits, mark = srv.rec.wait(t, mark, 2, "/protected")
	assert.Equal(t, []string{"GET 401", "GET 200"}, hitsOf(hits, "/protected"))
	assert.Empty(t, hitsOf(hits, "/refresh"), "a nonce retry, not a refresh")
	assert.Equal(t, "0", browsertest.Text(t, tab, "refreshes"))

	browsertest.Click(t, tab, "refresh")
	hits, _ = srv.rec.wait(t, mark, 1, "/refresh")
	assert.Equal(t, []string{"POST 200"}, hitsOf(hits, "/refresh"), "the refresh carried the current nonce")
	browsertest.WaitFor(t, tab, "the refresh", browsertest.LogHas("refreshed: DPoP access token for alice"))
}

// TestBrowserWithoutDPoPKey: where the browser gives the page no
// IndexedDB (here removed before the page's script runs), the page says
// in its log that it has no DPoP key and works as before DPoP: the login
// sends no proof and gets a bearer token, the API call uses the Bearer
// scheme, and a refresh from the cookie (an unbound family, no proof)
// succeeds.
func TestBrowserWithoutDPoPKey(t *testing.T) {
	tab := browsertest.Start(t, 45*time.Second)
	srv := newServer(t)
	browsertest.ScreenshotOnFailure(t, tab, "nokey")
	_, err := chromedp.Run(tab, chromedp.Action[*page.AddScriptToEvaluateOnNewDocumentResult](
		func(ctx context.Context, tg *chromedp.Target) (*page.AddScriptToEvaluateOnNewDocumentResult, error) {
			r, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
				Source: `Object.defineProperty(window, "indexedDB", {value: undefined})`})
			return &r, err
		}))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(srv.URL+"/demo/")))
	browsertest.WaitFor(t, tab, "the page", browsertest.StatusIs("logged out"))
	browsertest.WaitFor(t, tab, "the warning", browsertest.LogHas("no DPoP key (Error: this browser has no WebCrypto or IndexedDB here): bearer tokens only"))
	assert.Equal(t, "none", browsertest.Text(t, tab, "dpop"))
	_, mark := srv.rec.since(0)
	browsertest.RegisterAndLogin(t, tab, "alice", "correct horse battery")
	assert.True(t, chromedpBool(t, tab, browsertest.LogHas("logged in: Bearer access token for alice")))
	callProtected(t, tab, "a bearer call")
	browsertest.Click(t, tab, "refresh")
	browsertest.WaitFor(t, tab, "the refresh", browsertest.LogHas("refreshed: Bearer access token for alice"))
	hits, _ := srv.rec.wait(t, mark, 1, "/refresh")
	var seq []string
	for _, h := range hits {
		switch h.Path {
		case "/login", "/protected", "/refresh":
			assert.False(t, h.DPoP, "no proof without a key: %+v", h)
			seq = append(seq, fmt.Sprintf("%s %s %d %s", h.Method, h.Path, h.Status, h.Scheme))
		}
	}
	assert.Equal(t, []string{"POST /login 200 ", "GET /protected 200 Bearer", "POST /refresh 200 "}, seq)
}

// TestBrowserTabsShareOneKey: tabs of a fresh browser that load the page
// at once, before the origin has a DPoP key, all end up with the same
// key: the page's get-or-create of the key runs under a Web Lock, so the
// first tab makes and stores it and the others read it. (Without the lock
// each tab would make its own, the last stored would win, and the others'
// sessions would be bound to keys no longer in IndexedDB after a reload.)
func TestBrowserTabsShareOneKey(t *testing.T) {
	t.Run("with Web Locks", func(t *testing.T) { tabsShareOneKey(t, false) })
	// A browser without Web Locks: the page stores its key with add, and a
	// tab that finds one stored meanwhile uses that one.
	t.Run("without Web Locks", func(t *testing.T) { tabsShareOneKey(t, true) })
}

func tabsShareOneKey(t *testing.T, noLocks bool) {
	tab := browsertest.Start(t, 45*time.Second)
	srv := newServer(t)
	browsertest.ScreenshotOnFailure(t, tab, "tabs")
	tabs := []context.Context{tab}
	for i := range 4 {
		tb := tab
		if i > 0 {
			var cancel context.CancelFunc
			tb, cancel = chromedp.NewContext(tab)
			t.Cleanup(cancel)
			tabs = append(tabs, tb)
		}
		require.NoError(t, chromedp.Do(tb)) // open the tab first, so that the loads overlap
		if noLocks {
			_, err := chromedp.Run(tb, chromedp.Action[*page.AddScriptToEvaluateOnNewDocumentResult](
				func(ctx context.Context, tg *chromedp.Target) (*page.AddScriptToEvaluateOnNewDocumentResult, error) {
					r, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
						Source: `delete Navigator.prototype.locks`})
					return &r, err
				}))
			require.NoError(t, err)
		}
	}
	var wg sync.WaitGroup
	for _, tb := range tabs {
		wg.Go(func() { assert.NoError(t, chromedp.Do(tb, chromedp.Navigate(srv.URL+"/demo/"))) })
	}
	wg.Wait()
	for _, tb := range tabs {
		browsertest.WaitFor(t, tb, "the tab's key", `document.getElementById("dpop").textContent.length === 43`)
		if noLocks {
			browsertest.WaitFor(t, tb, "a page without Web Locks", `navigator.locks === undefined`)
		}
	}
	_, jkt := readPageKey(t, tab) // stored before any tab shows its key
	require.NotEmpty(t, jkt)
	for i, tb := range tabs {
		assert.Equal(t, jkt, browsertest.Text(t, tb, "dpop"), "tab %d uses the key stored in IndexedDB", i)
	}
}
