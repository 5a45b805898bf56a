// Package nethttp adapts jwtauth to the standard library's net/http: a
// func(http.Handler) http.Handler middleware that puts the verified claims in
// the request's context, and helpers that mount routes (authn.Route, which
// jwtauth.Routes and jwtauth.Service return) on an http.ServeMux with Go
// 1.22 method patterns.
//
// It is a thin translation of authn.Authenticator: token extraction,
// verification and the RFC 6750 challenge all live in the core, so this
// adapter and adapters/gin behave identically (both pass adapters/adaptertest).
// It imports authn, not the face package jwtauth, so a service that only
// verifies tokens with Middleware links no account flow, password hashing,
// storage or metrics.
package nethttp

import (
	"net/http"
	"path"

	"github.com/jwtauth/jwtauth/jwtauth/authn"
)

// Middleware returns middleware that authenticates every request with auth
// and checks reqs (authn.RequireScopes, RequireRoles, RequireAnyScope,
// RequireAnyRole, Require), all of which must hold; it is auth.Authorize as func(http.Handler) http.Handler.
// A request without a valid access token (from auth.Sources; by default
// RFC 6750 §2.1 "Authorization: Bearer" or the x-access-token header) is
// answered by auth.Challenge: 401 with a WWW-Authenticate challenge and a
// JSON error body, and next is not called. A valid token that does not meet
// reqs gets 403 insufficient_scope (RFC 6750 §3.1). Otherwise next sees the
// request with the verified claims in its context; read them with
// token.ClaimsFromContext (false for the anonymous requests an
// auth.Optional Authenticator lets through).
//
//	mux.Handle("GET /admin", nethttp.Middleware(auth, authn.RequireRoles("admin"))(admin))
//
// Middleware panics when auth or auth.Verifier is nil, so that a miswired
// server fails at start-up rather than on its first request.
func Middleware(auth *authn.Authenticator, reqs ...authn.Requirement) func(http.Handler) http.Handler {
	if auth == nil || auth.Verifier == nil {
		panic("nethttp: Middleware needs an Authenticator with a Verifier")
	}
	return auth.Middleware(reqs...)
}

// Mount registers each route on mux with a Go 1.22 method pattern ("POST
// /login"), wrapping the Protected ones with Middleware(auth). A GET pattern
// also answers HEAD, as http.ServeMux does for every GET pattern. Mount
// panics, as http.ServeMux.Handle does, when a pattern conflicts with one
// already registered; it panics when a route is Protected and auth is nil.
func Mount(mux *http.ServeMux, routes []authn.Route, auth *authn.Authenticator) {
	var mw func(http.Handler) http.Handler
	for _, rt := range routes {
		h := rt.Handler
		if rt.Protected {
			if mw == nil {
				mw = Middleware(auth)
			}
			h = mw(h)
		}
		mux.Handle(rt.Method+" "+rt.Path, h)
	}
}

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
// account and key endpoints only) on mux under the path of the service's
// issuer URL (jwtauth.Service.MountPath): with issuer "https://host/auth"
// login is "POST /auth/login" and the discovery document sits at the issuer
// + "/.well-known/openid-configuration", naming the JWKS served beside it.
// It also mounts svc.RootRoutes() as they are: for that issuer, the RFC
// 8414 §3.1 metadata at GET /.well-known/oauth-authorization-server/auth.
// It panics, as http.ServeMux.Handle does, when a pattern conflicts with one
// the application registered itself. Behind an http.StripPrefix, use Mount
// with svc.Routes() and svc.Authenticator() instead (and Mount
// svc.RootRoutes() on the mux at the root).
func MountService(mux *http.ServeMux, svc Service) {
	Mount(mux, svc.RootRoutes(), nil)
	routes := svc.Routes()
	if p := svc.MountPath(); p != "" {
		prefixed := make([]authn.Route, len(routes))
		for i, rt := range routes {
			rt.Path = p + rt.Path
			prefixed[i] = rt
		}
		routes = prefixed
	}
	Mount(mux, routes, svc.Authenticator())
}

// Handler returns an http.Handler serving routes (see Mount) that answers
// what no route matches in the JSON error shape instead of the
// ServeMux's plain text: 404 {"error":"not_found",…} for an unknown path and
// 405 {"error":"method_not_allowed",…} with an Allow header (RFC 9110
// §15.5.6) for a known path and another method.
func Handler(routes []authn.Route, auth *authn.Authenticator) http.Handler {
	mux := http.NewServeMux()
	Mount(mux, routes, auth)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == "" || p[0] != '/' || path.Clean(p) != p {
			// Not canonical (//login, /a/../login): the mux would answer
			// with a 307 redirect and an HTML body; every body here is JSON.
			authn.WriteError(w, &authn.Error{Status: http.StatusNotFound, Code: "not_found", Description: "no such endpoint"})
			return
		}
		h, pattern := mux.Handler(r)
		if pattern != "" {
			h.ServeHTTP(w, r) // matched once; no route reads PathValue
			return
		}
		// No match: let the mux's own 404 or 405 handler say which it is and
		// compute the Allow header, then answer in JSON.
		var probe probeWriter
		h.ServeHTTP(&probe, r)
		if probe.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", probe.header.Get("Allow"))
			authn.WriteError(w, &authn.Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed",
				Description: "the method is not allowed for this endpoint"})
			return
		}
		authn.WriteError(w, &authn.Error{Status: http.StatusNotFound, Code: "not_found", Description: "no such endpoint"})
	})
}

// probeWriter records the status and headers of the ServeMux's fallback
// handlers and discards their plain-text bodies.
type probeWriter struct {
	header http.Header
	status int
}

func (p *probeWriter) Header() http.Header {
	if p.header == nil {
		p.header = http.Header{}
	}
	return p.header
}

func (p *probeWriter) WriteHeader(status int) {
	if p.status == 0 {
		p.status = status
	}
}

func (p *probeWriter) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return len(b), nil
}
