package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"

	"github.com/valyala/fastjson"
)

// RSA moduli a jwk may have, in bits: below 2048 is weak, above 8192 makes
// each proof costly to check.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// publicKey is a proof key read from a jwk, with its RFC 7638 members
// (canonical base64url, as they appeared in the jwk).
type publicKey struct {
	kind keyKind
	pub  crypto.PublicKey
	x, y string // EC, OKP (x only)
	n, e string // RSA
}

// privateMembers are the jwk members of private or symmetric keys (RFC 7518
// §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2): a proof carrying one is refused.
var privateMembers = map[string]bool{"d": true, "p": true, "q": true, "dp": true, "dq": true, "qi": true, "oth": true, "k": true}

// parseJWK reads the jwk header (RFC 7517) as a public key of kind: EC with
// crv P-256 and 32-byte x and y on the curve (RFC 7518 §6.2.1), OKP with crv
// Ed25519 and a 32-byte x (RFC 8037 §2), or RSA with n of 2048–8192 bits
// and an odd e ≥ 3, both in their fewest octets (RFC 7518 §6.3.1, §2).
// Members other than kty, crv, x, y, n, e are ignored unless private.
func parseJWK(v *fastjson.Value, kind keyKind) (*publicKey, error) {
	var kty, crv string
	k := &publicKey{kind: kind}
	err := members(v, "jwk", func(name string, val *fastjson.Value) (err error) {
		if privateMembers[name] {
			return invalid("jwk holds a private or symmetric key")
		}
		switch name {
		case "kty":
			kty, err = str(val, "jwk kty")
		case "crv":
			crv, err = str(val, "jwk crv")
		case "x":
			k.x, err = str(val, "jwk x")
		case "y":
			k.y, err = str(val, "jwk y")
		case "n":
			k.n, err = str(val, "jwk n")
		case "e":
			k.e, err = str(val, "jwk e")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	switch kind {
	case kindEC:
		if kty != "EC" {
			return nil, invalid("jwk kty does not match alg")
		}
		if crv != "P-256" {
			return nil, invalid("jwk crv does not match alg")
		}
		x, errX := decodeSegment(k.x)
		y, errY := decodeSegment(k.y)
		if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
			return nil, invalid("jwk x or y is not a canonical 32-byte coordinate")
		}
		var point [65]byte
		point[0] = 4
		copy(point[1:], x)
		copy(point[33:], y)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point[:])
		if err != nil {
			return nil, invalid("jwk is not a point on P-256")
		}
		k.pub = pub
	case kindOKP:
		if kty != "OKP" {
			return nil, invalid("jwk kty does not match alg")
		}
		if crv != "Ed25519" {
			return nil, invalid("jwk crv does not match alg")
		}
		x, err := decodeSegment(k.x)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, invalid("jwk x is not a canonical 32-byte Ed25519 key")
		}
		k.pub = ed25519.PublicKey(x)
	case kindRSA:
		if kty != "RSA" {
			return nil, invalid("jwk kty does not match alg")
		}
		n, errN := decodeSegment(k.n)
		e, errE := decodeSegment(k.e)
		if errN != nil || errE != nil || len(n) == 0 || len(e) == 0 || n[0] == 0 || e[0] == 0 {
			return nil, invalid("jwk n or e is not a canonical unsigned integer")
		}
		if len(e) > 4 {
			return nil, invalid("jwk e too large")
		}
		exp := 0
		for _, b := range e {
			exp = exp<<8 | int(b)
		}
		if exp < 3 || exp%2 == 0 {
			return nil, invalid("jwk e is not an odd integer of at least 3")
		}
		mod := new(big.Int).SetBytes(n)
		if bits := mod.BitLen(); bits < minRSABits || bits > maxRSABits {
			return nil, invalid(fmt.Sprintf("jwk RSA modulus not of %d–%d bits", minRSABits, maxRSABits))
		}
		k.pub = &rsa.PublicKey{N: mod, E: exp}
	}
	return k, nil
}

// thumbprint is the RFC 7638 §3 SHA-256 thumbprint of k: the hash of its
// required members in lexicographic order, no white space, base64url.
func (k *publicKey) thumbprint() string {
	sum := sha256.Sum256([]byte(k.jwkJSON()))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// verify checks sig over input with alg (RFC 7518 §3.3–3.5, RFC 8037 §3.1).
// An ES256 signature is R‖S, 32 bytes each (RFC 7518 §3.4).
func (k *publicKey) verify(alg, input string, sig []byte) bool {
	switch pub := k.pub.(type) {
	case *ecdsa.PublicKey:
		if len(sig) != 64 {
			return false
		}
		digest := sha256.Sum256([]byte(input))
		var der [72]byte
		return ecdsa.VerifyASN1(pub, digest[:], asn1Signature(der[:0], sig[:32], sig[32:]))
	case ed25519.PublicKey:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(pub, []byte(input), sig)
	case *rsa.PublicKey:
		digest := sha256.Sum256([]byte(input))
		if alg == PS256 {
			return rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		}
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) == nil
	}
	return false
}

// asn1Signature appends the DER ECDSA-Sig-Value SEQUENCE { r INTEGER,
// s INTEGER } of the 32-byte big-endian r and s to dst.
func asn1Signature(dst, r, s []byte) []byte {
	ri, si := asn1Int(r), asn1Int(s)
	dst = append(dst, 0x30, byte(2+len(ri)+2+len(si)))
	dst = append(dst, 0x02, byte(len(ri)))
	dst = append(dst, ri...)
	dst = append(dst, 0x02, byte(len(si)))
	return append(dst, si...)
}

// asn1Int is the DER INTEGER content of the unsigned big-endian b: leading
// zeros dropped, one added when the top bit is set, zero as one zero byte.
func asn1Int(b []byte) []byte {
	for len(b) > 1 && b[0] == 0 {
		b = b[1:]
	}
	if b[0]&0x80 != 0 {
		return append([]byte{0}, b...)
	}
	return b
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of pub, base64url: the
// cnf.jkt of tokens bound to it (RFC 9449 §6.1). pub is an *ecdsa.PublicKey
// on P-256, an ed25519.PublicKey or an *rsa.PublicKey of 2048–8192 bits.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	k, err := fromPublic(pub)
	if err != nil {
		return "", err
	}
	return k.thumbprint(), nil
}

// fromPublic is the publicKey of a Go public key.
func fromPublic(pub crypto.PublicKey) (*publicKey, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return nil, errors.New("dpop: ECDSA key not on P-256")
		}
		point, err := pub.Bytes()
		if err != nil {
			return nil, fmt.Errorf("dpop: %w", err)
		}
		return &publicKey{kind: kindEC, pub: pub, x: b64(point[1:33]), y: b64(point[33:])}, nil
	case ed25519.PublicKey:
		if len(pub) != ed25519.PublicKeySize {
			return nil, errors.New("dpop: bad Ed25519 public key")
		}
		return &publicKey{kind: kindOKP, pub: pub, x: b64(pub)}, nil
	case *rsa.PublicKey:
		if pub == nil || pub.N == nil || pub.N.BitLen() < minRSABits || pub.N.BitLen() > maxRSABits {
			return nil, fmt.Errorf("dpop: RSA key not of %d–%d bits", minRSABits, maxRSABits)
		}
		if pub.E < 3 || pub.E%2 == 0 {
			return nil, errors.New("dpop: RSA exponent is not an odd integer of at least 3")
		}
		return &publicKey{kind: kindRSA, pub: pub, n: b64(pub.N.Bytes()), e: b64(big.NewInt(int64(pub.E)).Bytes())}, nil
	}
	return nil, fmt.Errorf("dpop: unsupported key type %T (ECDSA P-256, Ed25519, RSA)", pub)
}

// jwkJSON is the public jwk of k: its RFC 7638 §3.2 required members in
// lexicographic order, no white space (RFC 8037 §2 for OKP), which is both
// the jwk a proof carries and the thumbprint's input.
func (k *publicKey) jwkJSON() string {
	switch k.kind {
	case kindEC:
		return `{"crv":"P-256","kty":"EC","x":"` + k.x + `","y":"` + k.y + `"}`
	case kindOKP:
		return `{"crv":"Ed25519","kty":"OKP","x":"` + k.x + `"}`
	}
	return `{"e":"` + k.e + `","kty":"RSA","n":"` + k.n + `"}`
}
