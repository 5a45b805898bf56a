package token

import (
	"encoding/json"
	"fmt"

	"github.com/jwtauth/jwtauth/keys"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// JWKS returns the RFC 7517 §5 JWK Set document of the published keys of s
// (next, active, retired): public members only (kty, kid, use "sig", alg
// "RS256", n, e).
func JWKS(s *keys.Set) ([]byte, error) {
	set := jwk.NewSet()
	for _, k := range s.Published() {
		pub, err := k.PublicJWK().Clone()
		if err != nil {
			return nil, fmt.Errorf("jwtauth: jwks: %w", err)
		}
		if err := set.AddKey(pub); err != nil {
			return nil, fmt.Errorf("jwtauth: jwks: %w", err)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("jwtauth: jwks: %w", err)
	}
	return b, nil
}
