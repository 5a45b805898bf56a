package authn

import (
	"context"
	"net/http"
	"net/netip"
)

// Route is one endpoint for an adapter to mount: the adapters'
// Mount(router, routes, auth) registers Handler for Method and Path, and
// when Protected is set puts the Authenticator's middleware in front of it.
// jwtauth.Routes and jwtauth.Service.Routes return the reference server's
// (jwtauth.Route is this type); it lives here so that the adapters mount
// routes without importing the face and its account flow.
type Route struct {
	Method    string       // "GET", "POST" or "DELETE"
	Path      string       // exact path, e.g. "/login"
	Handler   http.Handler // answers JSON; errors in the {"error","error_description"} shape
	Protected bool         // the Authenticator's middleware must run first
}

// clientIPKey is the context key of ContextWithClientIP.
type clientIPKey struct{}

// ContextWithClientIP returns ctx carrying ip as the client address a web
// framework determined for the request (gin's c.ClientIP, which honours
// engine.SetTrustedProxies). ClientIPFromContext reads it back, and
// jwtauth.ClientIP, and so the login and registration throttles and the
// audit events of jwtauth.Routes' handlers, use it when no trusted proxies
// of jwtauth's own are configured (jwtauth.Config.TrustedProxies,
// RoutesConfig.TrustedProxies), instead of r.RemoteAddr. An invalid ip (the
// zero Addr) leaves ctx as it is; an IPv4-mapped IPv6 address is unmapped.
// adapters/gin calls it; jwtauth.ContextWithClientIP is the same function.
func ContextWithClientIP(ctx context.Context, ip netip.Addr) context.Context {
	if !ip.IsValid() {
		return ctx
	}
	return context.WithValue(ctx, clientIPKey{}, ip.Unmap())
}

// ClientIPFromContext returns the client address ContextWithClientIP put in
// ctx, and false when there is none.
func ClientIPFromContext(ctx context.Context) (netip.Addr, bool) {
	ip, ok := ctx.Value(clientIPKey{}).(netip.Addr)
	return ip, ok
}
