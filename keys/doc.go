// Package keys holds the RSA signing key set of jwtauth and its lifecycle.
//
// Every key moves through these states:
//
//	next → active → retired → (removed)
//	any  → revoked
//
// A next key is published in the JWKS before it signs, so verifiers that cache
// the JWKS (for up to an hour in popular libraries) never meet an unknown kid.
// Exactly one key is active and signs every new token. A retired key stays
// published until every token it signed has expired, then it is removed.
// A revoked key leaves the JWKS at once and verifies nothing.
//
// The [Manager] keeps the current [Set] in memory, drives the schedule from the
// timestamps stored with each key (so a server that was down catches up on
// start), and writes every transition through the [Store] port atomically,
// guarded by a key-set version (drawn anew on every write, so that it never
// repeats, not even after a restore from a backup) so that of several
// processes sharing one store exactly one performs each transition.
package keys
