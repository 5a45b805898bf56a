// Package dpop validates DPoP proofs (RFC 9449, OAuth 2.0 Demonstrating
// Proof of Possession) and makes them on the client side.
//
// A DPoP proof is a JWS (compact serialization, RFC 7515 §7.1) a client signs
// with a private key it holds and sends in the DPoP request header. Its
// header carries typ "dpop+jwt", the alg and the public key as a jwk; its
// claims bind it to one HTTP request (htm, htu), one moment (iat), one use
// (jti) and, on resource requests, one access token (ath). A token bound to
// the key (cnf.jkt, the RFC 7638 thumbprint) is useless without a fresh
// proof by that key.
//
// Verifier checks proofs (RFC 9449 §4.3) and computes the thumbprint tokens
// are bound to; NewProof is the client side for Go programs (CLIs,
// service-to-service clients, tests). authn.Authenticator (DPoPConfig)
// checks the proofs of bound tokens at resources, and a jwtauth.Service
// (Config.DPoP) binds the tokens of /login and /refresh to the key of their
// proofs (docs/dpop.md).
//
// The package imports no JOSE library: the proof and its jwk are parsed here
// with the rules of the token verifier (canonical base64url, unique JSON
// member names, bounded sizes), and signatures are checked with crypto/ecdsa,
// crypto/ed25519 and crypto/rsa.
package dpop
