package token

import (
	"encoding/json"
	"fmt"

	"github.com/jwtauth/jwtauth/keys"
)

// JWKS returns the RFC 7517 §5 JWK Set document of the published keys of s
// (next, active, retired): {"keys":[…]} with the public members of each key
// only (alg "RS256", e, kid, kty "RSA", n, use "sig"; see keys.JWK), in the
// order of s.Published(). A set without published keys gives {"keys":[]}.
func JWKS(s *keys.Set) ([]byte, error) {
	doc := struct {
		Keys []keys.JWK `json:"keys"`
	}{Keys: []keys.JWK{}}
	for _, k := range s.Published() {
		doc.Keys = append(doc.Keys, k.PublicJWK())
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("jwtauth: jwks: %w", err)
	}
	return b, nil
}
