// Package gin adapts jwtauth to github.com/gin-gonic/gin: a gin.HandlerFunc
// middleware that puts the verified claims in the request's context and in
// the gin.Context, and helpers that mount routes (authn.Route, which
// jwtauth.Routes and jwtauth.Service return) on a gin router.
//
// Its name clashes with gin's own package, so import it under another name:
//
//	import jwtgin "github.com/jwtauth/jwtauth/adapters/gin"
//
// It is a thin translation of authn.Authenticator: token extraction,
// verification and the RFC 6750 challenge all live in the core, so this
// adapter and adapters/nethttp behave identically (both pass
// adapters/adaptertest). It imports authn and the token core, not the
// face package jwtauth, so a service that only verifies tokens with
// Middleware links no account flow, password hashing, storage or metrics.
package gin

import (
	"fmt"
	"net/http"
	"net/netip"
	"path"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/token"
)

// claimsKey is the gin.Context key of the verified claims.
type claimsKey struct{}

// Middleware returns a gin middleware that authenticates every request with
// auth and checks reqs (authn.RequireScopes, RequireRoles,
// RequireAnyScope, RequireAnyRole, Require), all of which must hold: the gin form of auth.Authorize. A request without a
// valid access token (from auth.Sources; by default RFC 6750 §2.1
// "Authorization: Bearer" or the x-access-token header) is answered by
// auth.Challenge — 401 with a WWW-Authenticate challenge and a JSON error
// body — and a valid token that does not meet reqs with 403
// insufficient_scope (RFC 6750 §3.1); either way the chain is aborted.
// Otherwise c.Request carries the verified claims in its context
// (token.ClaimsFromContext) and the gin.Context holds them too
// (ClaimsFromContext); both report false for the anonymous requests an
// auth.Optional Authenticator lets through.
//
//	r.GET("/admin", jwtgin.Middleware(auth, authn.RequireRoles("admin")), admin)
//
// Middleware panics when auth or auth.Verifier is nil, so that a miswired
// server fails at start-up rather than on its first request.
func Middleware(auth *authn.Authenticator, reqs ...authn.Requirement) gin.HandlerFunc {
	if auth == nil || auth.Verifier == nil {
		panic("gin: Middleware needs an Authenticator with a Verifier")
	}
	reqs = slices.Clone(reqs)
	return func(c *gin.Context) {
		r, claims, ok := auth.Authorize(c.Writer, c.Request, reqs...)
		if !ok {
			c.Abort()
			return
		}
		c.Request = r
		if claims != nil {
			c.Set(claimsKey{}, claims)
		}
		c.Next()
	}
}

// ClaimsFromContext returns the claims Middleware verified for c's request,
// and false when the request did not pass through Middleware.
func ClaimsFromContext(c *gin.Context) (*token.Claims, bool) {
	if v, ok := c.Get(claimsKey{}); ok {
		if claims, ok := v.(*token.Claims); ok && claims != nil {
			return claims, true
		}
	}
	if c.Request == nil {
		return nil, false
	}
	return token.ClaimsFromContext(c.Request.Context())
}

// Mount registers each route on r, its handler wrapped with gin.WrapH and
// the Protected ones behind Middleware(auth). A GET route also answers HEAD,
// as net/http's ServeMux does. Mount panics, as gin does, when a route
// conflicts with one already registered; it panics when a route is Protected
// and auth is nil.
//
// The routes that change state (all but GET) see gin's client address,
// c.ClientIP, which honours engine.SetTrustedProxies, RemoteIPHeaders and
// TrustedPlatform: it reaches the handlers through
// authn.ContextWithClientIP, so login and registration throttling and
// the audit events count the client gin names — one rule for the app —
// unless the jwtauth configuration has trusted proxies of its own
// (jwtauth.Config.TrustedProxies, RoutesConfig.TrustedProxies), which then
// win. Two exceptions keep the connection's address (RemoteAddr): an
// address gin returns that does not parse, and gin's default of trusting
// every peer (the engine's "You trusted all proxies" warning), under which
// any client could name itself in X-Forwarded-For and so spread its
// password guesses over any number of throttle buckets; call
// engine.SetTrustedProxies with your proxies, or nil for none.
func Mount(r gin.IRouter, routes []authn.Route, auth *authn.Authenticator) {
	var mw gin.HandlerFunc
	for _, rt := range routes {
		chain := []gin.HandlerFunc{gin.WrapH(rt.Handler)}
		if rt.Protected {
			if mw == nil {
				mw = Middleware(auth)
			}
			chain = []gin.HandlerFunc{mw, chain[0]}
		}
		if rt.Method != http.MethodGet {
			chain = append([]gin.HandlerFunc{clientIP}, chain...)
		}
		r.Handle(rt.Method, rt.Path, chain...)
		if rt.Method == http.MethodGet {
			r.Handle(http.MethodHead, rt.Path, chain...)
		}
	}
}

// clientIP puts gin's client address for c's request in the request's
// context (authn.ContextWithClientIP), unless gin trusts every peer or its
// address does not parse (see Mount).
func clientIP(c *gin.Context) {
	if !trustsEveryPeer(c) {
		if ip, err := netip.ParseAddr(c.ClientIP()); err == nil {
			c.Request = c.Request.WithContext(authn.ContextWithClientIP(c.Request.Context(), ip))
		}
	}
	c.Next()
}

// trustsEveryPeer reports whether c's engine takes the forwarded client
// address from any peer: gin's default (trusted proxies 0.0.0.0/0 and
// ::/0), which the engine has no exported way to report. It asks
// c.ClientIP, on a copy of c, about a request from the unspecified address
// (0.0.0.0, then ::) naming 192.0.2.1 in X-Forwarded-For and X-Real-IP:
// only an engine trusting that address answers 192.0.2.1, and gin's own
// check (isUnsafeTrustedProxies) asks the same of 0.0.0.0 and ::.
func trustsEveryPeer(c *gin.Context) bool {
	probe := c.Copy()
	for _, r := range probes {
		probe.Request = r
		if probe.ClientIP() == "192.0.2.1" {
			return true
		}
	}
	return false
}

// probes are the requests of trustsEveryPeer; c.ClientIP only reads them.
var probes = func() []*http.Request {
	var out []*http.Request
	for _, peer := range []string{"0.0.0.0:1", "[::]:1"} {
		out = append(out, &http.Request{RemoteAddr: peer, Header: http.Header{
			"X-Forwarded-For": {"192.0.2.1"},
			"X-Real-Ip":       {"192.0.2.1"},
		}})
	}
	return out
}()

// Service is what MountService mounts: *jwtauth.Service (from jwtauth.New)
// satisfies it. It is an interface so that this package need not import
// the face, which links the account flow and metrics.
type Service interface {
	// MountPath is the path of the issuer URL without a trailing slash:
	// "" for an issuer at the root of its host, "/auth" for
	// "https://host/auth".
	MountPath() string
	// Routes are the endpoints to mount under MountPath.
	Routes() []authn.Route
	// RootRoutes are the endpoints to mount at the root of the host, with
	// their paths as they are (the RFC 8414 §3.1 metadata).
	RootRoutes() []authn.Route
	// Authenticator guards the Protected routes.
	Authenticator() *authn.Authenticator
}

// MountService mounts svc's routes (jwtauth.Service.Routes: by default the
// account and key endpoints only) on r under the path of the service's
// issuer URL (jwtauth.Service.MountPath), so that the discovery document
// sits at issuer + "/.well-known/openid-configuration" and names the JWKS
// served beside it. r is your engine, or a router group whose base path is
// the issuer's path or a prefix of it: with issuer "https://host/auth",
// MountService(engine, svc) and MountService(engine.Group("/auth"), svc)
// both serve POST /auth/login. A group outside the issuer's path is an
// error, and nothing is mounted. gin panics, as with Mount, when a route
// conflicts with one the application registered itself.
//
// On the engine (or a group at "/") it also mounts svc.RootRoutes() as they
// are: for that issuer, the RFC 8414 §3.1 metadata at GET
// /.well-known/oauth-authorization-server/auth. A group below the root
// cannot reach that path: mount them yourself with
// Mount(engine, svc.RootRoutes(), nil).
func MountService(r gin.IRouter, svc Service) error {
	base := "/"
	if g, ok := r.(interface{ BasePath() string }); ok {
		base = path.Clean("/" + g.BasePath())
	}
	want := svc.MountPath()
	rest, ok := strings.CutPrefix(want, strings.TrimSuffix(base, "/"))
	if !ok || rest != "" && rest[0] != '/' {
		if want == "" {
			want = "/"
		}
		return fmt.Errorf("gin: the router group at %q is outside the issuer's path %q: mount the service on the engine or on a group at %q (the discovery document must sit at the issuer + /.well-known/openid-configuration)", base, want, want)
	}
	if base == "/" {
		Mount(r, svc.RootRoutes(), nil)
	}
	if rest != "" {
		r = r.Group(rest)
	}
	Mount(r, svc.Routes(), svc.Authenticator())
	return nil
}

// New returns a gin.Engine (gin.New: no logger, no recovery middleware)
// serving routes (see Mount) that answers what no route matches in the SPEC
// §2 error shape: 404 {"error":"not_found",…} for an unknown path and 405
// {"error":"method_not_allowed",…} with an Allow header for a known path and
// another method (HandleMethodNotAllowed is on). A trailing slash is not
// redirected, as with net/http's ServeMux. gin applies Use only to
// routes registered after it, so for middleware such as gin.Logger on these
// routes build the engine yourself and call Mount.
func New(routes []authn.Route, auth *authn.Authenticator) *gin.Engine {
	e := gin.New()
	e.HandleMethodNotAllowed = true
	// Like http.ServeMux: "/healthz/" is not "/healthz" (404, not a redirect).
	e.RedirectTrailingSlash = false
	e.NoRoute(func(c *gin.Context) {
		authn.WriteError(c.Writer, &authn.Error{Status: http.StatusNotFound, Code: "not_found", Description: "no such endpoint"})
	})
	e.NoMethod(func(c *gin.Context) {
		// gin has set the Allow header already (RFC 9110 §15.5.6).
		authn.WriteError(c.Writer, &authn.Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Description: "the method is not allowed for this endpoint"})
	})
	Mount(e, routes, auth)
	return e
}
