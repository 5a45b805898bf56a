// Package demo is a small browser page for jwtauth's cookie mode
// (jwtauth.CookieMode): one static HTML page and one script, embedded in
// the binary, with no build step and no framework. It registers, logs in,
// calls a protected route, refreshes silently when the access token has
// expired (a 401 is answered by POST /refresh and one retry) and logs out.
// The access token stays in a JavaScript variable; the refresh token stays
// in the HttpOnly cookie jwtauth.RefreshCookieName, which the script cannot
// read; refresh and logout send the authn.CSRFHeader.
//
// DPoP (RFC 9449, docs/dpop.md "The browser"): the page makes one
// non-extractable ECDSA P-256 key per origin with WebCrypto, keeps it in
// IndexedDB (scoped by origin, port included) and sends a proof signed by
// it on /login, /refresh and the protected call (Authorization: DPoP, with
// ath), retrying once with the server's DPoP-Nonce on use_dpop_nonce. Its
// htu is the URL it fetches: the issuer + /login or /refresh, and, for the
// protected route, the URL the authenticator's DPoPConfig.PublicURL
// (jwtauth.Config.DPoPPublicURL) + path must name, as both layouts below
// have it. Without WebCrypto or IndexedDB it says so in its log and uses
// bearer tokens.
//
// `jwtauth serve --cookie-mode --demo` serves it at /demo/ (AuthPath
// ".."); an application that mounts a jwtauth.Service under the issuer's
// path serves it with AuthPath svc.MountPath() (examples/gin). The page
// must come from the auth server's own origin: the account endpoints
// answer no CORS preflight.
package demo

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"path"
	"strings"

	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
)

//go:embed static
var static embed.FS

// Config says where the page finds the endpoints on its own origin: URL
// paths, absolute or relative to the page's (Path).
type Config struct {
	// AuthPath is the path the account endpoints are under: "" when /login
	// is at the root, "/auth" when it is /auth/login
	// (jwtauth.Service.MountPath), ".." for the parent of the page's path.
	AuthPath string
	// Protected is the path of a GET route behind the authentication
	// middleware that answers JSON: "/protected" for jwtauth serve,
	// "/api/me" for the example apps. Default "/protected".
	Protected string
	// Path is where the page is served, ending in a slash; default "/demo/".
	Path string
}

// contentSecurityPolicy allows the page its own script, style and fetches
// only: no inline script, no framing, no form posts, no other origin.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the page at cfg.Path (mount it there, e.g.
// mux.Handle("/demo/", demo.Handler(cfg))), its script and style beside it,
// and a redirect to cfg.Path for the path without its slash (relative, so
// that it stays under a prefix a reverse proxy strips). Anything
// else is 404 with a JSON error body.
func Handler(cfg Config) http.Handler {
	if cfg.Protected == "" {
		cfg.Protected = "/protected"
	}
	if cfg.Path == "" {
		cfg.Path = "/demo/"
	}
	if !strings.HasPrefix(cfg.Path, "/") || !strings.HasSuffix(cfg.Path, "/") {
		panic("demo: Config.Path must begin and end with a slash, e.g. /demo/")
	}
	tmpl := template.Must(template.ParseFS(static, "static/index.html"))
	var page bytes.Buffer
	err := tmpl.Execute(&page, map[string]string{
		"Auth": strings.TrimSuffix(cfg.AuthPath, "/"), "Protected": cfg.Protected, "CSRFHeader": authn.CSRFHeader,
	})
	if err != nil {
		panic("demo: " + err.Error()) // the embedded template is fixed
	}
	files := map[string]struct {
		body []byte
		ct   string
	}{
		"":        {page.Bytes(), "text/html; charset=utf-8"},
		"app.js":  {mustRead("static/app.js"), "text/javascript; charset=utf-8"},
		"app.css": {mustRead("static/app.css"), "text/css; charset=utf-8"},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == strings.TrimSuffix(cfg.Path, "/") {
			// Relative to the request ("demo/" for /demo), not "/demo/":
			// behind a proxy that strips a prefix the browser asked for
			// /auth/demo and must land on /auth/demo/. http.Redirect would
			// make it absolute.
			w.Header().Set("Location", path.Base(r.URL.Path)+"/")
			w.WriteHeader(http.StatusMovedPermanently)
			return
		}
		name, ok := strings.CutPrefix(r.URL.Path, cfg.Path)
		if name == "index.html" {
			name = ""
		}
		f, found := files[name]
		if !ok || !found {
			jwtauth.WriteError(w, &authn.Error{Status: http.StatusNotFound, Code: "not_found", Description: "no such file"})
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			jwtauth.WriteError(w, &authn.Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Description: "the method is not allowed for this endpoint"})
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.ct)
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(f.body)
		}
	})
}

func mustRead(name string) []byte {
	b, err := static.ReadFile(name)
	if err != nil {
		panic("demo: " + err.Error())
	}
	return b
}
