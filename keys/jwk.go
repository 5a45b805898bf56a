package keys

import (
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
)

// minThumbprintBits is the smallest modulus Thumbprint accepts, in bits.
const minThumbprintBits = 2048

// JWK is the public RSA JWK of a Key (RFC 7517 §4, RFC 7518 §6.3.1): the
// members a JWKS publishes for it, and nothing private. N and E are the
// big-endian modulus and exponent without leading zero bytes, in base64url
// without padding (RFC 7515 §2). Encoded with encoding/json its members
// come in the order alg, e, kid, kty, n, use.
type JWK struct {
	Alg string `json:"alg"` // always Algorithm ("RS256")
	E   string `json:"e"`   // public exponent, base64url
	KID string `json:"kid"` // RFC 7638 SHA-256 thumbprint, base64url
	Kty string `json:"kty"` // always "RSA"
	N   string `json:"n"`   // modulus, base64url
	Use string `json:"use"` // always "sig"
}

// rsaMembers returns the RFC 7518 §6.3.1 "n" and "e" of pub: the unsigned
// big-endian integers in their fewest bytes, base64url without padding. It
// fails for a nil key, a modulus under 2048 bits, or an exponent that is not
// an odd integer of at least 3.
func rsaMembers(pub *rsa.PublicKey) (n, e string, err error) {
	if pub == nil || pub.N == nil {
		return "", "", errors.New("keys: no RSA public key")
	}
	if bits := pub.N.BitLen(); bits < minThumbprintBits {
		return "", "", fmt.Errorf("keys: RSA modulus of %d bits (at least %d)", bits, minThumbprintBits)
	}
	if pub.E < 3 || pub.E%2 == 0 {
		return "", "", fmt.Errorf("keys: RSA public exponent %d is not an odd integer of at least 3", pub.E)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	return b64(pub.N.Bytes()), b64(big.NewInt(int64(pub.E)).Bytes()), nil
}

// thumbprint is the RFC 7638 §3 SHA-256 thumbprint of the RSA key with
// members n and e: the hash of {"e":…,"kty":"RSA","n":…}, exactly these
// members in this order with no white space, base64url without padding.
func thumbprint(n, e string) string {
	sum := sha256.Sum256([]byte(`{"e":"` + e + `","kty":"RSA","n":"` + n + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// publicJWK returns the JWK of pub: its members, its thumbprint as kid,
// "use":"sig" and "alg":"RS256".
func publicJWK(pub *rsa.PublicKey) (JWK, error) {
	n, e, err := rsaMembers(pub)
	if err != nil {
		return JWK{}, err
	}
	return JWK{Alg: Algorithm, E: e, KID: thumbprint(n, e), Kty: "RSA", N: n, Use: "sig"}, nil
}
