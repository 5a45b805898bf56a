package remote

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/keys/keystest"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// jwxUsable is what the parser did before it read JWKs itself: jwx parses
// the key, then the same use/key_ops/alg/kid rules apply.
func jwxUsable(raw []byte) (*rsa.PublicKey, string, bool) {
	k, err := jwk.ParseKey(raw)
	if err != nil {
		return nil, "", false
	}
	kid, _ := k.KeyID()
	if priv, err := jwk.IsPrivateKey(k); err != nil || priv || k.KeyType().String() != "RSA" || kid == "" {
		return nil, kid, false
	}
	if use, ok := k.KeyUsage(); ok && use != "sig" {
		return nil, kid, false
	}
	if ops, ok := k.KeyOps(); ok {
		verify := false
		for _, op := range ops {
			verify = verify || op == jwk.KeyOpVerify
		}
		if !verify {
			return nil, kid, false
		}
	}
	if alg, ok := k.Algorithm(); ok && alg.String() != "RS256" {
		return nil, kid, false
	}
	var pub rsa.PublicKey
	if err := jwk.Export(k, &pub); err != nil {
		return nil, kid, false
	}
	return &pub, kid, true
}

// TestRemoteJWKReadingMatchesJWX: for each JWK of the table our parser
// keeps exactly the keys jwx (which read them before) kept, with the same
// kid, modulus and exponent; the last column names the few cases where we
// are deliberately stricter or fixed a fault, and what we do instead.
func TestRemoteJWKReadingMatchesJWX(t *testing.T) {
	priv := keystest.Keys(t)[0]
	b64 := base64.RawURLEncoding.EncodeToString
	n := b64(priv.N.Bytes())
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"},
		NotBefore: time.Unix(1_700_000_000, 0), NotAfter: time.Unix(1_900_000_000, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	require.NoError(t, err)
	cert := base64.StdEncoding.EncodeToString(der)
	key := func(members string) string {
		return fmt.Sprintf(`{"kty":"RSA","n":%q%s}`, n, members)
	}
	for _, c := range []struct {
		jwk    string
		ours   bool   // we keep the key
		differ string // why jwx decided otherwise; "" when it agrees
	}{
		{key(`,"kid":"a","e":"AQAB"`), true, ""},
		{key(`,"kid":"a","e":"AQAB","use":"sig","alg":"RS256","key_ops":["verify","sign"]`), true, ""},
		{key(`,"kid":"a","e":"AQAB","key_ops":"verify"`), false, ""},
		{key(`,"kid":"a","e":"AQAB","key_ops":["verify","fly"]`), true, ""}, // RFC 7517 §4.3: other values MAY be used
		{key(`,"kid":"a","e":"AQAB","x5c":[` + fmt.Sprintf("%q", cert) + `],"x5t":"x","x5u":"https://x"`), true, ""},
		{key(`,"kid":"a","e":"AQAB","ext":true,"other":{"x":[1]}`), true, ""},
		{key(`,"kid":"a","e":"Aw"`), true, ""},                     // e = 3
		{key(`,"kid":"a","e":"AAEAAQ"`), true, ""},                 // a leading zero byte
		{key(`,"kid":"a","e":"AQAB","n":"` + n + `=="`), true, ""}, // the last "n" counts; padding is accepted
		{key(`,"kid":"a","e":"AQAB","x5t#S256":"abc"`), true, ""},
		{key(`,"kid":"a","e":"AQAB","x5t#s256":"abc"`), false, "jwx: an unknown member; we skip a JWK member name in the wrong letter case"},
		{key(`,"kid":"a","e":"AQ"`), false, ""},
		{key(`,"kid":"a","e":"Ag"`), false, ""},
		{key(`,"kid":"a","e":""`), false, ""},
		{key(`,"kid":"a"`), false, ""},
		{key(`,"kid":"a","e":"AQAB","use":"enc"`), false, ""},
		{key(`,"kid":"a","e":"AQAB","use":""`), false, ""},
		{key(`,"kid":"a","e":"AQAB","key_ops":["sign"]`), false, ""},
		{key(`,"kid":"a","e":"AQAB","key_ops":[]`), false, ""},
		{key(`,"kid":"a","e":"AQAB","key_ops":[1]`), false, ""},
		{key(`,"kid":"a","e":"AQAB","alg":"RS384"`), false, ""},
		{key(`,"kid":"a","e":"AQAB","alg":"none"`), false, ""},
		{key(`,"kid":"a","e":"AQAB","alg":7`), false, ""},
		{key(`,"kid":"","e":"AQAB"`), false, ""},
		{key(`,"e":"AQAB"`), false, ""},
		{key(`,"kid":7,"e":"AQAB"`), false, ""},
		{key(`,"kid":"a","e":"AQAB","x5c":["not base64!"]`), false, ""},
		{key(`,"kid":"a","e":"AQAB","x5c":["AAAA"]`), false, ""},
		{key(`,"kid":"a","e":"AQAB","x5c":"` + cert + `"`), false, ""},
		{key(`,"kid":"a","e":"AQAB","x5u":1`), false, ""},
		{key(`,"kid":"a","e":"//8"`), false, `jwx: read "e" in the standard base64 alphabet; RFC 7518 §6.3.1.2 says base64url`},
		{key(`,"kid":"a","e":"AQAC"`), false, ""}, // even
		{key(`,"kid":"a","e":"Ax"`), false, "jwx: ignored the non-zero bits after the last byte (\"Ax\" is not how 3 is encoded)"},
		{key(`,"kid":"a","e":"AQAB","x5u":null`), false, "jwx: null read as an empty string; a member of the wrong type skips the key"},
		{key(`,"kid":"a","e":"gAAAAAAAAAE"`), false, ""}, // 2^63+1 does not fit an int
	} {
		ks, _, err := parseRemoteJWKS([]byte(`{"keys":[` + c.jwk + `]}`))
		require.NoError(t, err, c.jwk)
		pub, kid, theirs := jwxUsable([]byte(c.jwk))
		if c.differ == "" {
			assert.Equal(t, theirs, c.ours, "jwx on %s", c.jwk)
		} else {
			assert.NotEqual(t, theirs, c.ours, "%s: %s", c.differ, c.jwk)
		}
		if !c.ours {
			assert.Empty(t, ks, c.jwk)
			continue
		}
		require.Contains(t, ks, "a", c.jwk)
		if theirs {
			assert.Equal(t, "a", kid)
			assert.True(t, pub.Equal(ks["a"]), c.jwk)
		}
		assert.Equal(t, 0, priv.N.Cmp(ks["a"].N), c.jwk)
	}
}
