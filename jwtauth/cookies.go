package jwtauth

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
)

// RefreshCookieName is the cookie that carries the refresh token in cookie
// mode (CookieMode). Login and refresh set it twice with the same value,
// once with Path set to the refresh endpoint and once to the logout
// endpoint (a cookie has one Path, RFC 6265 §5.1.4), so the browser sends
// it to those two endpoints only: never to /login, /register or the
// application's routes.
const RefreshCookieName = "jwtauth_refresh"

// CookieMode configures the account endpoints for browser pages, which
// should not keep a refresh token where an injected script can read it
// (OWASP, "Token storage on client side"). It is off by default, and then
// nothing changes for JSON clients. When Enabled:
//
//   - /login and /refresh set the refresh token in the RefreshCookieName
//     cookie: HttpOnly, Secure (except over plain http to a loopback host
//     such as 127.0.0.1 or localhost, for local development, unless the
//     issuer or Origin is https), SameSite
//     Strict (or Lax), Path limited to the refresh and logout endpoints,
//     Max-Age the refresh token's remaining life. Their JSON body carries the
//     access token but no refresh_token.
//   - /refresh and /logout take the refresh token from that cookie when the
//     body has none (the body may then be empty, or {}). A request carrying
//     the cookie must pass the CSRF check (authn.CSRFHeader, Origin,
//     Sec-Fetch-Site), else it is answered 403 csrf_check_failed before
//     the token is looked at; two cookies with different values, or a
//     cookie and a different refresh_token in the body, are answered 400
//     invalid_request; in each case nothing is spent or revoked.
//   - /logout revokes the family and clears the cookies (Max-Age=0); a
//     refresh refused with invalid_grant (a used, revoked or expired token)
//     clears them too. A reused token revokes its family, as in JSON mode.
//
// The page keeps the access token in memory and sends it as
// Authorization: Bearer, or, when it holds a DPoP key (RFC 9449; the demo
// page's non-extractable WebCrypto key), as Authorization: DPoP with a
// proof on every login, refresh and API call. With DPoP on
// (RoutesConfig.DPoP), a refresh from the cookie with a proof is refused
// unless the session is bound to the proof's key (400 invalid_dpop_proof):
// another port of the host, which can read and set the cookie, can then
// neither redeem a page's session nor switch the page to another one (see
// cookieMode.authorizeRedemption). See README, "Browser apps", and
// docs/dpop.md, "The browser".
type CookieMode struct {
	// Enabled turns cookie mode on.
	Enabled bool
	// SameSite is the cookies' SameSite attribute (RFC 6265bis §4.1.2.7):
	// http.SameSiteStrictMode (the default, also for 0 and
	// http.SameSiteDefaultMode) or http.SameSiteLaxMode.
	// http.SameSiteNoneMode is refused: New returns an error and Routes
	// panics.
	SameSite http.SameSite
	// Origin is the origin (RFC 6454 §6.2: scheme://host[:port]) of the
	// pages that may send cookie-authenticated requests; a request whose
	// Origin header is neither this nor the request's own origin (its Host,
	// https when it came over TLS, else http) is refused. New sets it to the
	// issuer's origin when it is empty.
	Origin string
	// AccessCookie, when set, is a cookie into which /login and /refresh
	// also put the access token (Path /, Max-Age expires_in, the other
	// attributes as the refresh cookie's), and which /logout clears. New sets
	// it to the first authn.CookieSource of Config.TokenSources, so that the
	// middleware reads the token from it; then the application's
	// state-changing routes require the CSRF check too (see authn.CSRFHeader).
	AccessCookie string
	// Path is the path the browser sees the account endpoints under, such
	// as "/auth" for https://host/auth/refresh: the refresh cookies get
	// Path + "/refresh" and Path + "/logout". New sets it to the issuer's
	// path, which stays right behind a reverse proxy that strips it. Empty:
	// the path of the request (before a mount stripped a prefix) without its
	// last segment.
	Path string
}

// cookieMode is a checked CookieMode; nil means off.
type cookieMode struct {
	sameSite http.SameSite
	origin   string // canonical, "" for none
	access   string
	path     string // "" for the request's
	secure   bool   // Secure whatever the request's Host (an https origin)
}

// cookieSite is what Routes knows of where the browser sees the account
// endpoints when a Service built them from its issuer: the path ("" when
// unknown: the request's) and whether the issuer is https, so that cookies
// are Secure even when a TLS-terminating proxy forwards Host: 127.0.0.1.
type cookieSite struct {
	path   string
	secure bool
}

// resolve checks m and returns its runtime form, nil when off.
func (m CookieMode) resolve() (*cookieMode, error) {
	if !m.Enabled {
		return nil, nil
	}
	cm := &cookieMode{sameSite: http.SameSiteStrictMode, access: m.AccessCookie, path: m.Path}
	if m.Path != "" && (m.Path[0] != '/' || path.Clean(m.Path) != m.Path || strings.ContainsAny(m.Path, ";,\x00\r\n")) {
		return nil, fmt.Errorf("jwtauth: CookieMode.Path %q is not a clean absolute path such as /auth", m.Path)
	}
	switch m.SameSite {
	case 0, http.SameSiteDefaultMode, http.SameSiteStrictMode:
	case http.SameSiteLaxMode:
		cm.sameSite = http.SameSiteLaxMode
	default:
		return nil, errors.New("jwtauth: CookieMode.SameSite must be Strict or Lax: SameSite=None would send the refresh cookie with cross-site requests")
	}
	if m.Origin != "" {
		o, ok := authn.CanonicalOrigin(m.Origin)
		if !ok {
			return nil, fmt.Errorf("jwtauth: CookieMode.Origin %q is not an origin such as https://app.example.com", m.Origin)
		}
		cm.origin = o
		cm.secure = strings.HasPrefix(o, "https://")
	}
	if m.AccessCookie == RefreshCookieName || m.AccessCookie == DeviceCookieName {
		return nil, fmt.Errorf("jwtauth: CookieMode.AccessCookie must not be %q, a cookie jwtauth sets itself", m.AccessCookie)
	}
	if m.AccessCookie != "" && (&http.Cookie{Name: m.AccessCookie, Value: "x"}).Valid() != nil {
		// http.SetCookie would drop it silently: the access token would
		// never reach the browser, and every request would be refused.
		return nil, fmt.Errorf("jwtauth: CookieMode.AccessCookie %q is not a cookie name (RFC 6265 §4.1.1: a token, no spaces or separators)", m.AccessCookie)
	}
	return cm, nil
}

// cookieValues returns the distinct non-empty values of r's cookies named name.
func cookieValues(r *http.Request, name string) []string {
	var vals []string
	for _, c := range r.CookiesNamed(name) {
		if v := strings.TrimSpace(c.Value); v != "" && !slices.Contains(vals, v) {
			vals = append(vals, v)
		}
	}
	return vals
}

// requestPath is r's path as the client sent it, before a mount stripped
// a prefix (http.StripPrefix, a router group).
func requestPath(r *http.Request) string {
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil && u.Path != "" {
		return u.Path
	}
	return r.URL.Path
}

// secureCookie reports whether cookies set in answer to r need the Secure
// attribute: always but over plain http to a loopback host, where browsers
// accept it for local development. Callers also set it when the site is
// known to be https (cookieSite, an https CookieMode.Origin): a
// TLS-terminating proxy may forward to 127.0.0.1 without rewriting Host.
func secureCookie(r *http.Request) bool {
	return r.TLS != nil || !loopbackHost(r.Host)
}

// setSession sets the session cookies of resp in answer to r, an account
// request (…/login, …/refresh or …/logout): the refresh cookies at
// cm.path (or r's directory) + /refresh and /logout, with Max-Age the
// refresh token's remaining life at now, and the access cookie, if any,
// with Max-Age expires_in. A nil resp clears them all (Max-Age=0).
func (cm *cookieMode) setSession(w http.ResponseWriter, r *http.Request, resp *account.TokenResponse, now time.Time) {
	dir := cm.path
	if dir == "" {
		dir = path.Dir(requestPath(r))
	}
	secure := cm.secure || secureCookie(r)
	set := func(name, value, p string, maxAge int) {
		if maxAge <= 0 {
			value, maxAge = "", -1 // Max-Age=0
		}
		http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: p, MaxAge: maxAge,
			HttpOnly: true, Secure: secure, SameSite: cm.sameSite})
	}
	refreshAge, accessAge, refresh, access := 0, 0, "", ""
	if resp != nil {
		refresh, access = resp.RefreshToken, resp.AccessToken
		if refresh != "" {
			refreshAge = max(int((resp.RefreshExpiresAt().Sub(now)+time.Second-1)/time.Second), 1) // rounded up
		}
		accessAge = int(resp.ExpiresIn)
	}
	if resp == nil || refresh != "" {
		for _, ep := range []string{"refresh", "logout"} {
			set(RefreshCookieName, refresh, path.Join(dir, ep), refreshAge)
		}
	}
	if cm.access != "" {
		set(cm.access, access, "/", accessAge)
	}
}

// refreshFromCookie returns the refresh token of r's RefreshCookieName
// cookie, "" for none, after the CSRF check; an *Error (403 or 400) when the
// check fails or r has two different such cookies.
func (cm *cookieMode) refreshFromCookie(r *http.Request) (string, *authn.Error) {
	vals := cookieValues(r, RefreshCookieName)
	if len(vals) == 0 {
		return "", nil
	}
	if err := authn.CheckCSRF(r, cm.origin); err != nil {
		return "", authn.CSRFRefusal(err)
	}
	if len(vals) > 1 {
		return "", badRequest("more than one " + RefreshCookieName + " cookie with different values; log in again")
	}
	return vals[0], nil
}

// authorizeRedemption is the one place where cookie mode decides which
// refresh-token families r may redeem at /refresh and /logout, before
// anything is spent: fromCookie says the token came from the
// RefreshCookieName cookie (after the CSRF check) rather than the body's
// refresh_token, and jkt is the thumbprint of r's valid DPoP proof, ""
// for none (/logout reads no proof). It returns r, with
// account.ContextRequiringBoundFamily when the rule below applies; the
// account flow enforces it with the token's record it reads anyway.
//
// The rule: a token from the cookie that comes with a valid proof must be
// of a family bound to that proof's key. A browser sends a host's cookies
// to every port of that host and lets each port set them (RFC 6265
// §8.5, SECURITY.md guarantee 9), so the cookie is not the page's own: a
// server on another port can read it, and can overwrite it with a
// session of its own. A page holding a DPoP key logs in with a proof, so
// its family is bound to the key (RFC 9449 §5): a stolen cookie redeemed
// elsewhere is refused without a proof by that key (account.Refresh,
// ErrInvalidDPoPProof, from the body as from the cookie); a planted
// session bound to another key is refused the same way; and a planted
// unbound session, which account.Refresh would otherwise refresh for any
// proof, is refused here (400 invalid_dpop_proof, account.ErrUnboundFamily:
// "the session is not bound to this key; log in again"), so that the page
// never switches to another account. Nothing is spent in each case.
//
// Not refused: a cookie without a proof of an unbound family (a page
// without WebCrypto, where DPoP is allowed; DPoPRequired refuses it
// before this), a body's token of an unbound family with a proof (an
// API client's session from before DPoP, step 3), and /logout, which
// takes no proof: revoking a session needs no proof of possession. A nil
// cm (cookie mode off) applies no rule.
func (cm *cookieMode) authorizeRedemption(r *http.Request, fromCookie bool, jkt string) *http.Request {
	if cm == nil || !fromCookie || jkt == "" {
		return r
	}
	return r.WithContext(account.ContextRequiringBoundFamily(r.Context()))
}
