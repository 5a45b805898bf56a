// Package authn is the HTTP middleware core of jwtauth: [Authenticator]
// takes the access token from a request (RFC 6750 §2.1 "Authorization:
// Bearer" by default; see [TokenSource]), verifies it with a
// token.TokenVerifier, puts the claims in the request's context
// (token.ClaimsFromContext) and answers failures with 401 and an RFC 6750
// §3 challenge; a [Requirement] ([RequireScopes], [RequireRoles],
// [RequireAnyScope], [RequireAnyRole], [Require]) answers a valid token that lacks it with 403
// insufficient_scope.
//
// It imports the token core and remote verification only, so a service
// that only verifies tokens uses it without linking the account flow,
// storage or metrics:
//
//	v, _, err := remote.NewVerifier(ctx, remote.Config{Issuer: issuer}, token.VerifierConfig{Audience: aud})
//	auth := &authn.Authenticator{Verifier: v}
//	mux.Handle("GET /orders", auth.Middleware(authn.RequireScopes("orders:read"))(orders))
//
// The adapters (adapters/nethttp, adapters/gin) wrap the same core.
package authn
