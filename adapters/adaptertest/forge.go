package adaptertest

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/keys"
)

// Tokens built by hand with encoding/base64 and crypto/*, never with the code
// under test, so that a bug in the Issuer cannot hide one in the Verifier.

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// seg encodes v (a map, or raw JSON text as a string) as a base64url segment.
func seg(tb testing.TB, v any) string {
	tb.Helper()
	if s, ok := v.(string); ok {
		return b64([]byte(s))
	}
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatalf("adaptertest: marshal: %v", err)
	}
	return b64(b)
}

// rsHeader is the header the Issuer writes for kid.
func rsHeader(kid string) map[string]any {
	return map[string]any{"alg": "RS256", "typ": "JWT", "kid": kid}
}

// goodClaims are claims the fixture's verifier accepts at now.
func goodClaims(now time.Time, sub string) map[string]any {
	return map[string]any{
		"iss": Issuer, "sub": sub, "aud": Audience,
		"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Unix(), "iat": now.Unix(),
		"jti": "forged-" + sub,
	}
}

// signRSA returns header.claims.signature with a PKCS #1 v1.5 signature
// over SHA-256 (RS256) or SHA-512 (RS512).
func signRSA(tb testing.TB, priv *rsa.PrivateKey, hash crypto.Hash, header, claims any) string {
	tb.Helper()
	in := seg(tb, header) + "." + seg(tb, claims)
	var digest []byte
	switch hash {
	case crypto.SHA256:
		d := sha256.Sum256([]byte(in))
		digest = d[:]
	case crypto.SHA512:
		d := sha512.Sum512([]byte(in))
		digest = d[:]
	default:
		tb.Fatalf("adaptertest: unsupported hash %v", hash)
	}
	sig, err := rsa.SignPKCS1v15(rand.Reader, priv, hash, digest)
	if err != nil {
		tb.Fatalf("adaptertest: sign: %v", err)
	}
	return in + "." + b64(sig)
}

// signHS256 returns an HS256 token keyed with secret: the algorithm-confusion
// attack of RFC 8725 §2.1 when secret is the RSA public key.
func signHS256(tb testing.TB, secret []byte, header, claims any) string {
	tb.Helper()
	in := seg(tb, header) + "." + seg(tb, claims)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(in))
	return in + "." + b64(m.Sum(nil))
}

// publicPEMs returns pub as a PKIX "PUBLIC KEY" and a PKCS #1 "RSA PUBLIC
// KEY" PEM block: the bytes an attacker would try as an HMAC secret.
func publicPEMs(tb testing.TB, pub *rsa.PublicKey) (pkix, pkcs1 []byte) {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatalf("adaptertest: marshal public key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(pub)})
}

// thumbprint is the kid the key set would give pub.
func thumbprint(tb testing.TB, pub *rsa.PublicKey) string {
	tb.Helper()
	kid, err := keys.Thumbprint(pub)
	if err != nil {
		tb.Fatalf("adaptertest: thumbprint: %v", err)
	}
	return kid
}
