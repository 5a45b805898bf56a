// Package jwtauth issues and verifies RS256 access tokens (RFC 7519 JWTs in
// RFC 7515 compact JWS form) signed by a rotating RSA key set, publishes the
// key set as an RFC 7517 JWKS, and runs the account flow (register, login,
// refresh, logout) over small store ports.
//
// [New] builds all of it from a store and an issuer URL, with the defaults
// of `jwtauth serve`, and runs its background work until [Service.Close];
// adapters/gin and adapters/nethttp mount the [Service] with MountService.
//
// This package is the face: [New], [Config] and [Service], the HTTP
// handlers ([Routes], [JWKSHandler], [DiscoveryHandler], [WriteError]), the
// cookie mode and the Prometheus metrics. The pieces, each usable alone,
// live in their own packages:
//
//   - jwtauth/token: the token core. token.Issuer signs access tokens with
//     the active key of a token.SigningKeySource (a *keys.Manager), kid in
//     the header; token.Verifier verifies them against a token.KeySet with
//     strict rules: RS256 only, exp required, iss/aud/nbf/iat checked with
//     leeway, canonical base64url, numeric dates and unique member names
//     only, tokens over 8 KiB refused before any cryptography. A bounded
//     cache of verified tokens (token.VerifierConfig.CacheSize) answers a
//     repeated token without an RSA check, looking its key up and checking
//     its times again on each hit.
//   - jwtauth/remote: the key set of another issuer, fetched from its JWKS
//     (remote.NewKeySet, remote.NewVerifier).
//   - jwtauth/authn: the middleware core the adapters wrap
//     (authn.Authenticator, authn.RequireScopes, authn.RequireRoles) and
//     authn.Route, which [Route] aliases; the adapters import it, not this
//     package, so a service that only verifies tokens links none of it.
//   - jwtauth/account: the account flow (account.Accounts) and its store
//     ports; [Routes] maps it onto HTTP, answering each account.Error with
//     its status.
//
// Verified claims travel in a request's context; read them with
// token.ClaimsFromContext.
package jwtauth
