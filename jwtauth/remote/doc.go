// Package remote verifies tokens of another issuer: [KeySet] is a
// token.KeySet fed by a remote JWK Set (RFC 7517 §5), found directly or
// through the issuer's OpenID Connect discovery document, refreshed in the
// background as its Cache-Control asks, refetched (rate-limited) when a
// token names an unknown kid, over https only and without redirects to
// another origin. [NewVerifier] builds a token.Verifier on one.
//
// It imports the token core and net/http's client, nothing of the account
// flow, storage or metrics: a verify-only service links just these. [Trace]
// tells metrics and logs what the key set did.
package remote
