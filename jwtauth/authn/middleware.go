package authn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/jwtauth/jwtauth/jwtauth/dpop"
	"github.com/jwtauth/jwtauth/jwtauth/remote"
	"github.com/jwtauth/jwtauth/jwtauth/token"
)

// Authenticator is the core of the adapters' middleware: it takes the token
// from a request (by default RFC 6750 §2.1 Authorization: Bearer, or the
// tutorial's x-access-token header; see Sources), verifies it, and answers
// failures with 401 and an RFC 6750 §3 WWW-Authenticate challenge; with
// requirements (Authorize), it answers a valid token that lacks them with
// 403 insufficient_scope.
type Authenticator struct {
	Verifier token.TokenVerifier
	// Realm is the challenge's realm; default "jwtauth".
	Realm string
	// Sources lists where a request may carry its access token, in order:
	// HeaderSource, CookieSource, QuerySource. Nil or empty means
	// HeaderSource("Authorization") then HeaderSource("x-access-token"), as
	// TokenFromRequest reads. A request carrying two different tokens, in
	// two sources or twice in one, is refused (token.ErrTokenMalformed: RFC 6750
	// §2 allows one method per request); the same token twice is one token.
	// The 401 for a request without a token names these sources.
	Sources []TokenSource
	// Optional lets a request that carries no token at all through as
	// anonymous: Authenticate returns no claims and no error, and
	// token.ClaimsFromContext reports false to the handler. A token that is
	// present but invalid is still answered with 401, and a route with
	// requirements (Authorize) still answers an anonymous request with 401.
	// To have both an optional and a required authenticator, copy the
	// struct: opt := *auth; opt.Optional = true.
	Optional bool
	// CSRFOrigin is the origin (scheme://host[:port]) of the pages that may
	// send state-changing requests whose access token comes from a
	// CookieSource. Such a request (any method but GET, HEAD, OPTIONS and
	// TRACE) must carry the CSRFHeader, a Sec-Fetch-Site of same-origin if
	// any, and an Origin, if any, equal to CSRFOrigin or to its own origin
	// (see CookieMode.Origin); otherwise it is answered 403 csrf_check_failed (an error
	// wrapping ErrCrossSite) before its token is verified. A request of
	// any method that carries an Upgrade header (RFC 9110 §7.8), such as a
	// WebSocket handshake (RFC 6455 §4.1, a GET that a page of any site may
	// open with the browser's cookies), gets the same Sec-Fetch-Site and
	// Origin check without the CSRFHeader, which a browser's WebSocket
	// cannot send. Tokens from headers and the query are not affected. New
	// sets it to the issuer's origin.
	CSRFOrigin string
	// DPoP, when set, accepts DPoP-bound tokens (RFC 9449 §7): the
	// Authorization DPoP scheme with a proof in the DPoP header, checked
	// on every request (a cached token still needs a fresh proof). See
	// DPoPConfig for the modes. Nil is DPoP off: bound tokens are refused.
	DPoP *DPoPConfig
}

// TokenSource is one place a request may carry its access token; see
// Authenticator.Sources. Build it with HeaderSource, CookieSource or
// QuerySource; the zero TokenSource finds nothing.
type TokenSource struct {
	in   byte // 'h' header, 'c' cookie, 'q' query parameter
	name string
}

// HeaderSource reads the token from the request header name. For
// Authorization it takes the credentials of the Bearer scheme (RFC 6750
// §2.1; the scheme name is case-insensitive, other schemes are not a
// token); for any other header, such as x-access-token, its whole value.
// Two headers of that name are refused. It panics when name is empty (a
// programming error, as with regexp.MustCompile).
func HeaderSource(name string) TokenSource {
	if name == "" {
		panic("jwtauth: HeaderSource needs a header name")
	}
	return TokenSource{'h', http.CanonicalHeaderKey(name)}
}

// CookieSource reads the token from the cookie name (RFC 6265 §5.4), for
// browser apps that keep the access token in an HttpOnly cookie. A browser
// sends cookies with requests other sites trigger too: protect routes that
// change state against cross-site request forgery (a SameSite=Strict or Lax
// cookie, or an anti-CSRF token): an Authenticator refuses a state-changing
// request whose token came from a cookie unless it passes the CSRF check
// (see Authenticator.CSRFOrigin and CSRFHeader), and a WebSocket handshake
// whose Origin is not the page's. Two cookies of that name
// with different values are refused. It panics when name is empty or not
// a cookie name (RFC 6265 §4.1.1: a token, no spaces or separators), which
// no request could carry.
func CookieSource(name string) TokenSource {
	if name == "" {
		panic("jwtauth: CookieSource needs a cookie name")
	}
	if (&http.Cookie{Name: name, Value: "x"}).Valid() != nil {
		panic(fmt.Sprintf("jwtauth: CookieSource(%q): not a cookie name (RFC 6265 §4.1.1)", name))
	}
	return TokenSource{'c', name}
}

// QuerySource reads the token from the URL query parameter name
// (RFC 6750 §2.3 names it access_token). It is never a default, and RFC
// 6750 §5.3 says not to pass bearer tokens in page URLs: a URL is kept in
// browser history, server and proxy logs and Referer headers, where the
// token outlives the request. Use it only where a client cannot set a
// header (a WebSocket or EventSource from a browser), with short-lived
// tokens. Answers to such requests get Cache-Control: private, as §2.3
// asks, unless the handler sets its own. Two parameters of that name are
// refused. It panics when name is empty.
func QuerySource(name string) TokenSource {
	if name == "" {
		panic("jwtauth: QuerySource needs a parameter name")
	}
	return TokenSource{'q', name}
}

// String names the source as the 401 description does, e.g.
// "Authorization: Bearer <token>", "x-access-token", "cookie session",
// "query parameter access_token".
func (s TokenSource) String() string {
	switch s.in {
	case 'h':
		if s.name == "Authorization" {
			return "Authorization: Bearer <token>"
		}
		if s.name == "X-Access-Token" {
			return "x-access-token"
		}
		return s.name
	case 'c':
		return "cookie " + s.name
	case 'q':
		return "query parameter " + s.name
	}
	return "nowhere"
}

// Cookie returns the cookie name of a CookieSource, and false for any
// other source.
func (s TokenSource) Cookie() (name string, ok bool) {
	if s.in == 'c' {
		return s.name, true
	}
	return "", false
}

// bearerCredentials returns what follows the auth-scheme of the
// Authorization value v and whether that scheme is Bearer (case-insensitive,
// RFC 7235 §2.1, RFC 6750 §2.1). The scheme ends at the first white space
// of any kind (as strings.TrimSpace counts it), not only at the space the
// RFC prescribes: "Bearer\tX" and "Bearer\fX" are read as the Bearer scheme
// with credentials "X", so a token they carry is never ignored in favour of
// another source.
func bearerCredentials(v string) (string, bool) {
	v = strings.TrimSpace(v)
	scheme, cred := v, ""
	if i := strings.IndexFunc(v, unicode.IsSpace); i >= 0 {
		scheme, cred = v[:i], v[i:]
	}
	return cred, strings.EqualFold(scheme, "Bearer")
}

// take returns the token s finds in r, "" for none, and whether it came
// with the Authorization DPoP scheme, which it reads when dpopOn.
func (s TokenSource) take(r *http.Request, dpopOn bool) (string, bool, error) {
	var vals []string
	var scheme bool
	switch s.in {
	case 'h':
		vals = r.Header.Values(s.name)
		if s.name == "Authorization" && len(vals) > 1 {
			scheme = dpopOn && slices.ContainsFunc(vals, isDPoPScheme)
		}
		if s.name == "Authorization" && len(vals) == 1 {
			cred, ok := bearerCredentials(vals[0])
			if !ok && dpopOn {
				cred, scheme = dpopCredentials(vals[0])
				ok = scheme
			}
			if !ok {
				return "", false, nil
			}
			vals = []string{cred}
		}
	case 'c':
		for _, c := range r.CookiesNamed(s.name) {
			if v := strings.TrimSpace(c.Value); v != "" && !slices.Contains(vals, v) {
				vals = append(vals, v)
			}
		}
	case 'q':
		vals = r.URL.Query()[s.name]
	}
	switch len(vals) {
	case 0:
		return "", false, nil
	case 1:
		return strings.TrimSpace(vals[0]), scheme, nil
	}
	return "", scheme, errors.Join(token.ErrTokenMalformed, fmt.Errorf("more than one %s", s))
}

// token returns r's access token from a's sources, whether it came from
// the query and whether with the DPoP scheme. A token from a cookie on a
// state-changing request must pass the CSRF check, and on a protocol
// upgrade (a WebSocket handshake) its Origin and Sec-Fetch-Site part. A
// malformed request (two tokens, two Authorization headers) reports the
// DPoP scheme too when one of its credentials used it, so that its 401
// carries the DPoP challenge.
func (a *Authenticator) token(r *http.Request) (string, bool, bool, error) {
	if len(a.Sources) == 0 {
		t, scheme, err := tokenFromRequest(r, a.DPoP != nil)
		return t, false, scheme, err
	}
	var tok string
	var from TokenSource
	var dpopScheme bool
	for _, s := range a.Sources {
		t, scheme, err := s.take(r, a.DPoP != nil)
		if err != nil {
			return "", false, dpopScheme || scheme, err
		}
		if t == "" || t == tok {
			dpopScheme = dpopScheme || (t != "" && scheme)
			continue
		}
		if tok != "" {
			return "", false, dpopScheme || scheme, errors.Join(token.ErrTokenMalformed, fmt.Errorf("two different tokens in one request (%s and %s)", from, s))
		}
		tok, from, dpopScheme = t, s, scheme
	}
	if tok == "" {
		return "", false, false, token.ErrTokenMissing
	}
	if from.in == 'c' {
		var err error
		switch {
		case unsafeMethod(r.Method):
			err = CheckCSRF(r, a.CSRFOrigin)
		case upgradeRequest(r):
			// A WebSocket handshake is a GET any site's page may
			// start with the cookie; it cannot send the CSRFHeader.
			err = checkSameOrigin(r, a.CSRFOrigin)
		}
		if err != nil {
			return "", false, false, err
		}
	}
	return tok, from.in == 'q', dpopScheme, nil
}

// TokenFromRequest returns the access token of r: the credentials of an
// "Authorization: Bearer" header (scheme case-insensitive) or else the
// x-access-token header. It returns token.ErrTokenMissing when there is neither,
// and token.ErrTokenMalformed for several Authorization or x-access-token headers
// or two different tokens (RFC 6750 §2: one method per request).
func TokenFromRequest(r *http.Request) (string, error) {
	t, _, err := tokenFromRequest(r, false)
	return t, err
}

// tokenFromRequest is TokenFromRequest, reading the Authorization DPoP
// scheme too when dpopOn, and reporting whether the token came with it.
func tokenFromRequest(r *http.Request, dpopOn bool) (string, bool, error) {
	var bearer string
	var scheme bool
	if vals := r.Header.Values("Authorization"); len(vals) > 1 {
		return "", dpopOn && slices.ContainsFunc(vals, isDPoPScheme), errors.Join(token.ErrTokenMalformed, errors.New("more than one Authorization header"))
	} else if len(vals) == 1 {
		cred, ok := bearerCredentials(vals[0])
		if !ok && dpopOn {
			cred, scheme = dpopCredentials(vals[0])
			ok = scheme
		}
		if ok {
			bearer = strings.TrimSpace(cred)
			if bearer == "" {
				return "", false, token.ErrTokenMissing
			}
		}
	}
	var alt string
	if vals := r.Header.Values("x-access-token"); len(vals) > 1 {
		return "", scheme, errors.Join(token.ErrTokenMalformed, errors.New("more than one x-access-token header"))
	} else if len(vals) == 1 {
		alt = strings.TrimSpace(vals[0])
	}
	switch {
	case bearer != "" && alt != "" && alt != bearer:
		return "", scheme, errors.Join(token.ErrTokenMalformed, errors.New("two different tokens in one request"))
	case bearer != "":
		return bearer, scheme, nil
	case alt != "":
		return alt, false, nil
	}
	return "", false, token.ErrTokenMissing
}

// Authenticate verifies r's token (from a.Sources) and returns r with the
// claims in its context (see token.ClaimsFromContext) and the claims themselves.
// With a.Optional, a request without any token gets r, nil claims and a nil
// error.
func (a *Authenticator) Authenticate(r *http.Request) (*http.Request, *token.Claims, error) {
	r, c, _, err := a.authenticate(r)
	return r, c, err
}

func (a *Authenticator) authenticate(r *http.Request) (*http.Request, *token.Claims, bool, error) {
	raw, fromQuery, dpopScheme, err := a.token(r)
	if err != nil {
		if a.Optional && errors.Is(err, token.ErrTokenMissing) {
			return r.WithContext(context.WithValue(r.Context(), anonymousKey{}, a)), nil, false, nil
		}
		if v, ok := a.Verifier.(*token.Verifier); ok {
			// Refused before Verify: no token, or two of them.
			v.Refused(err)
		}
		if dpopScheme && errors.Is(err, token.ErrTokenMalformed) {
			err = &dpopSchemeError{err}
		}
		return r, nil, false, err
	}
	c, err := a.Verifier.Verify(r.Context(), raw)
	if err != nil {
		if dpopScheme {
			err = &dpopSchemeError{err}
		}
		return r, nil, false, err
	}
	if err := a.checkDPoP(r, raw, c, dpopScheme); err != nil {
		return r, nil, false, err
	}
	ctx := token.ContextWithClaims(r.Context(), c)
	if dpopScheme {
		ctx = context.WithValue(ctx, dpopSchemeKey{}, a.DPoP.Verifier)
	}
	return r.WithContext(ctx), c, fromQuery, nil
}

// dpopSchemeKey marks the context of a request authenticated with the DPoP
// scheme (RFC 9449 §7.1); its value is the proof verifier (*dpop.Verifier),
// whose algorithms a Requirement's challenge lists.
type dpopSchemeKey struct{}

// anonymousKey marks the context of a request an Optional Authenticator let
// through without a token; its value is that Authenticator, whose realm a
// Requirement's 401 names.
type anonymousKey struct{}

// Authorize is the adapters' middleware in one call: it authenticates r
// (Authenticate) and checks reqs, all of which must hold. On failure it has
// written the answer — Challenge's 401 or 503, or 403 insufficient_scope
// (RFC 6750 §3.1) for a valid token that lacks a requirement (for a
// request authenticated with the DPoP scheme, under the DPoP challenge
// `DPoP error="insufficient_scope", algs="…", error_description="…"`,
// RFC 9449 §7.1), 401 for an anonymous request (Optional) on a route with
// requirements — and returns
// false; otherwise it returns r with the claims in its context, the claims
// (nil for an anonymous request) and true. When the token came from a
// QuerySource it sets Cache-Control: private on w (RFC 6750 §2.3).
func (a *Authenticator) Authorize(w http.ResponseWriter, r *http.Request, reqs ...Requirement) (*http.Request, *token.Claims, bool) {
	r, c, fromQuery, err := a.authenticate(r)
	if err != nil {
		a.challenge(w, err, a.dpopOn() && slices.ContainsFunc(reqs, func(q Requirement) bool { return q.dpop }))
		return r, nil, false
	}
	if fromQuery {
		w.Header().Set("Cache-Control", "private")
	}
	for i := range reqs {
		if !reqs[i].check(a, w, r, c) {
			return r, nil, false
		}
	}
	return r, c, true
}

// Middleware is Authorize as net/http middleware: next runs, with the
// verified claims in the request's context (token.ClaimsFromContext), when
// the request's token is valid and meets every one of reqs; otherwise the
// request is answered 401, 403 or 503 as Authorize says and next is not
// called. It panics when a.Verifier is nil, so that a miswired server fails
// at start-up rather than on its first request.
//
//	mux.Handle("GET /orders", auth.Middleware(authn.RequireScopes("orders:read"))(orders))
func (a *Authenticator) Middleware(reqs ...Requirement) func(http.Handler) http.Handler {
	if a.Verifier == nil {
		panic("authn: Middleware needs an Authenticator with a Verifier")
	}
	if a.DPoP != nil && a.DPoP.Verifier == nil {
		panic("authn: Middleware needs a DPoPConfig with a Verifier")
	}
	reqs = slices.Clone(reqs)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r, _, ok := a.Authorize(w, r, reqs...); ok {
				next.ServeHTTP(w, r)
			}
		})
	}
}

// Challenge writes the answer for a failed Authenticate: 401 with
// `WWW-Authenticate: Bearer realm="…"` alone when the request had no token,
// else with error="invalid_token" and an error_description, the JSON body
// carrying the same code and description; 403 csrf_check_failed for an
// error wrapping ErrCrossSite; and 503 temporarily_unavailable
// (no access either) when the keys could not be consulted (a remote JWKS
// with no usable set, an unreachable store, a timeout).
func (a *Authenticator) Challenge(w http.ResponseWriter, err error) { a.challenge(w, err, false) }

// dpopOn reports whether a accepts DPoP-bound tokens.
func (a *Authenticator) dpopOn() bool { return a.DPoP != nil && a.DPoP.Verifier != nil }

// challenge is Challenge; dpopOnly says the route takes DPoP-bound tokens
// only (RequireDPoP), so a request without a token is answered with the
// DPoP challenge alone, as under DPoPRequired.
func (a *Authenticator) challenge(w http.ResponseWriter, err error, dpopOnly bool) {
	realm := a.Realm
	if realm == "" {
		realm = "jwtauth"
	}
	if !errors.Is(err, errDPoPUnavailable) && (errors.Is(err, remote.ErrKeySetUnavailable) || errors.Is(err, token.ErrStoreUnavailable) || errors.Is(err, context.DeadlineExceeded)) {
		// The token may well be good: the keys to check it are out of
		// reach. Still no access, but not "your token is bad" either.
		WriteError(w, &Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
			Description: "the signing keys cannot be checked right now; try again later", RetryAfter: 5 * time.Second})
		return
	}
	if errors.Is(err, ErrCrossSite) {
		WriteError(w, CSRFRefusal(err))
		return
	}
	if a.dpopChallenge(w, err) {
		return
	}
	if errors.Is(err, token.ErrTokenMissing) {
		const dpopText = "Authorization: DPoP <token> with a DPoP proof"
		desc := "an access token is required (" + a.sourcesText() + ")"
		switch {
		case !a.dpopOn():
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+quoteSafe(realm)+`"`)
		case a.DPoP.Mode == DPoPRequired || dpopOnly:
			w.Header().Set("WWW-Authenticate", dpop.Challenge("", a.DPoP.Verifier.Algs()))
			desc = "a DPoP-bound access token is required (" + dpopText + ")"
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+quoteSafe(realm)+`"`)
			w.Header().Add("WWW-Authenticate", dpop.Challenge("", a.DPoP.Verifier.Algs()))
			desc = "an access token is required (" + a.sourcesText() + ", or " + dpopText + ")"
		}
		WriteError(w, &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Description: desc})
		return
	}
	desc := describe(err)
	w.Header().Set("WWW-Authenticate", `Bearer realm="`+quoteSafe(realm)+`", error="invalid_token", error_description="`+quoteSafe(desc)+`"`)
	WriteError(w, &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: desc})
}

// defaultSources are the sources of an Authenticator without Sources.
var defaultSources = []TokenSource{{'h', "Authorization"}, {'h', "X-Access-Token"}}

// sourcesText names a's sources: "A", "A or B", "A, B or C".
func (a *Authenticator) sourcesText() string {
	src := a.Sources
	if len(src) == 0 {
		src = defaultSources
	}
	var b strings.Builder
	for i, s := range src {
		switch {
		case i == 0:
		case i == len(src)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(s.String())
	}
	return b.String()
}

// Requirement is what a route asks of a valid token beyond its validity:
// scopes, roles, or a predicate over the claims. Build it with
// RequireScopes, RequireRoles (all of), RequireAnyScope, RequireAnyRole
// (one of) or Require; the zero Requirement grants
// nothing (every request is refused with 403). Pass requirements to the
// adapters' Middleware (adapters/nethttp, adapters/gin) or to
// Authenticator.Authorize, or use Requirement.Middleware after an
// authenticating middleware.
type Requirement struct {
	scopes []string // required from the scope claim: all of them, or one with anyOf
	roles  []string // required from the roles claim: all of them, or one with anyOf
	anyOf  bool     // one of scopes or roles is enough (RequireAnyScope, RequireAnyRole)
	allow  func(*token.Claims) bool
	dpop   bool // RequireDPoP
}

// RequireDPoP requires a DPoP-bound token (cnf.jkt, RFC 9449 §6.1) on a
// route, the per-route form of DPoPRequired: on an Authenticator whose DPoP
// is DPoPAllowed, a bound token is admitted only with the DPoP scheme and a
// valid proof by its key, so this refuses the unbound (bearer) tokens that
// the Authenticator lets through elsewhere, with 401 invalid_token and a
// DPoP challenge (ErrDPoPRequired). On an Authenticator without DPoP it
// admits nothing.
func RequireDPoP() Requirement {
	return Requirement{dpop: true}
}

// RequireScopes requires every one of scopes in the token's scope claim (a
// space-separated string, RFC 8693 §4.2). A valid token lacking one gets
// 403 with WWW-Authenticate: Bearer error="insufficient_scope" and
// scope="…" listing scopes (RFC 6750 §3.1); a request authenticated with
// the DPoP scheme gets the same attributes under the DPoP scheme, with
// algs (RFC 9449 §7.1). Each scope must be a scope-token (RFC 6749 §3.3:
// printable ASCII but space, '"' and '\').
//
// An empty list or a malformed scope is a programming error, not an
// allow-all: RequireScopes panics, at construction, as regexp.MustCompile
// does.
func RequireScopes(scopes ...string) Requirement {
	checkScopes("RequireScopes", scopes)
	return Requirement{scopes: slices.Clone(scopes)}
}

// RequireAnyScope requires at least one of scopes in the token's scope
// claim (a space-separated string, RFC 8693 §4.2): RequireAnyScope("a",
// "b") admits a token granted "a", "b" or both. A valid token holding none
// gets 403 with WWW-Authenticate: Bearer error="insufficient_scope" and
// scope="…" listing all the alternatives, space-separated (RFC 6750 §3.1
// defines the attribute as the scope the resource requires; a client that
// asks for that whole list gets a token this route accepts, and any one of
// them would do). Each scope must be a scope-token (RFC 6749 §3.3).
//
// As with RequireScopes, an empty list (a requirement nobody meets) or a
// malformed scope is a programming error: RequireAnyScope panics, at
// construction.
func RequireAnyScope(scopes ...string) Requirement {
	checkScopes("RequireAnyScope", scopes)
	return Requirement{scopes: slices.Clone(scopes), anyOf: true}
}

// checkScopes panics unless scopes is a non-empty list of scope-tokens
// (RFC 6749 §3.3: printable ASCII but space, '"' and '\').
func checkScopes(fn string, scopes []string) {
	if len(scopes) == 0 {
		panic("jwtauth: " + fn + " needs at least one scope")
	}
	for _, s := range scopes {
		if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r < 0x21 || r > 0x7e || r == '"' || r == '\\' }) {
			panic(fmt.Sprintf("jwtauth: %s: %q is not a scope-token (RFC 6749 §3.3)", fn, s))
		}
	}
}

// RequireRoles requires every one of roles in the token's roles claim (an
// array of strings, RFC 9068 §2.2.3.1); for "any of", use RequireAnyRole.
// A valid token lacking one gets 403 insufficient_scope (RFC 6750 §3.1).
// An empty list or an empty role is a programming error: RequireRoles
// panics, at construction.
func RequireRoles(roles ...string) Requirement {
	if len(roles) == 0 || slices.Contains(roles, "") {
		panic("jwtauth: RequireRoles needs at least one non-empty role")
	}
	return Requirement{roles: slices.Clone(roles)}
}

// RequireAnyRole requires at least one of roles in the token's roles claim
// (an array of strings, RFC 9068 §2.2.3.1; roles compare exactly, and a
// claim holding anything but strings grants nothing):
// RequireAnyRole("admin", "support") admits an admin, a support agent or
// both. A valid token holding none gets 403 insufficient_scope (RFC 6750
// §3.1), without a scope attribute (roles are not scopes). As with
// RequireRoles, an empty list (a requirement nobody meets) or an empty
// role is a programming error: RequireAnyRole panics, at construction.
func RequireAnyRole(roles ...string) Requirement {
	if len(roles) == 0 || slices.Contains(roles, "") {
		panic("jwtauth: RequireAnyRole needs at least one non-empty role")
	}
	return Requirement{roles: slices.Clone(roles), anyOf: true}
}

// Require requires allow to return true for the verified claims; a valid
// token for which it returns false gets 403 insufficient_scope. allow runs
// on the request's goroutine, once per request, and must not modify the
// claims. A nil allow is a programming error: Require panics, at
// construction.
func Require(allow func(*token.Claims) bool) Requirement {
	if allow == nil {
		panic("jwtauth: Require needs a predicate")
	}
	return Requirement{allow: allow}
}

// Middleware is q as net/http middleware, for a handler behind an
// authenticating middleware (which put the claims in the context): next
// runs when the claims meet q; a valid token that does not gets 403
// insufficient_scope, a request without claims (none authenticated, or an
// Optional Authenticator's anonymous request) 401.
func (q Requirement) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, _ := r.Context().Value(anonymousKey{}).(*Authenticator)
		if a == nil {
			a = &Authenticator{}
		}
		c, _ := token.ClaimsFromContext(r.Context())
		if q.check(a, w, r, c) {
			next.ServeHTTP(w, r)
		}
	})
}

// check reports whether c, the claims of r, meets q, answering 401 (no
// claims) or 403 with a's realm when it does not; the 403 of a request
// authenticated with the DPoP scheme carries the DPoP challenge.
func (q *Requirement) check(a *Authenticator, w http.ResponseWriter, r *http.Request, c *token.Claims) bool {
	if c == nil {
		a.Challenge(w, token.ErrTokenMissing)
		return false
	}
	if q.dpop {
		if c.JKT() != "" {
			return true
		}
		a.dpopChallenge(w, ErrDPoPRequired)
		return false
	}
	var desc string
	switch {
	case q.scopes != nil && q.anyOf:
		if !slices.ContainsFunc(q.scopes, func(s string) bool { return c.HasScopes(s) }) {
			desc = "the token has none of the accepted scopes"
		}
	case q.scopes != nil:
		if !c.HasScopes(q.scopes...) {
			desc = "the token lacks a required scope"
		}
	case q.roles != nil && q.anyOf:
		if !slices.ContainsFunc(q.roles, func(r string) bool { return c.HasRoles(r) }) {
			desc = "the token has none of the accepted roles"
		}
	case q.roles != nil:
		if !c.HasRoles(q.roles...) {
			desc = "the token lacks a required role"
		}
	case q.allow != nil:
		if !q.allow(c) {
			desc = "the token does not grant access to this resource"
		}
	default:
		desc = "the route's requirement grants nothing"
	}
	if desc == "" {
		return true
	}
	var ch string
	if pv, ok := r.Context().Value(dpopSchemeKey{}).(*dpop.Verifier); ok {
		// RFC 9449 §7.1: the DPoP scheme's challenge takes RFC 6750 §3's
		// error codes, insufficient_scope among them.
		ch = dpop.Challenge("insufficient_scope", pv.Algs()) + `, error_description="` + desc + `"`
	} else {
		ch = `Bearer realm="` + quoteSafe(a.realm()) + `", error="insufficient_scope", error_description="` + desc + `"`
	}
	if q.scopes != nil {
		ch += `, scope="` + strings.Join(q.scopes, " ") + `"`
	}
	w.Header().Set("WWW-Authenticate", ch)
	WriteError(w, &Error{Status: http.StatusForbidden, Code: "insufficient_scope", Description: desc})
	return false
}

// describe turns a verification error into a short client-facing sentence.
func describe(err error) string {
	for _, c := range []struct {
		err  error
		desc string
	}{
		{token.ErrTokenExpired, "the token has expired"},
		{token.ErrTokenNotYetValid, "the token is not valid yet"},
		{token.ErrTokenTooLarge, "the token is too large"},
		{token.ErrUnsupportedAlgorithm, "the token's signing algorithm is not accepted"},
		{token.ErrUnsupportedCritical, "the token uses an unsupported critical header"},
		{token.ErrUnknownKey, "the token was signed by an unknown or revoked key"},
		{token.ErrInvalidSignature, "the token's signature is invalid"},
		{token.ErrInvalidIssuer, "the token's issuer is not accepted"},
		{token.ErrInvalidAudience, "the token's audience is not accepted"},
		{token.ErrMissingClaim, "the token lacks a required claim"},
		{token.ErrTokenMalformed, "the token is malformed"},
	} {
		if errors.Is(err, c.err) {
			return c.desc
		}
	}
	return "the token is invalid"
}

// quoteSafe keeps only the characters RFC 6750 §3 allows in a quoted
// error_description (%x20-21 / %x23-5B / %x5D-7E).
func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}
