package keys_test

import (
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// jwxThumbprint is the RFC 7638 thumbprint of pub as jwx computes it (the
// implementation keys used before it computed its own).
func jwxThumbprint(t *testing.T, pub *rsa.PublicKey) string {
	t.Helper()
	k, err := jwk.Import(pub)
	require.NoError(t, err)
	sum, err := k.Thumbprint(crypto.SHA256)
	require.NoError(t, err)
	return base64.RawURLEncoding.EncodeToString(sum)
}

// TestThumbprintMatchesJWX: the kid of a key is byte for byte what jwx
// computed for it, for moduli whose byte lengths fall on each base64 boundary
// (256, 257 and 258 bytes), with a top byte that has its high bit set or not,
// and for exponents of one to four bytes.
func TestThumbprintMatchesJWX(t *testing.T) {
	var pubs []*rsa.PublicKey
	for _, k := range keystest.Keys(t) {
		pubs = append(pubs, &k.PublicKey)
	}
	for _, bytes := range []int{256, 257, 258, 384, 512} {
		for _, top := range []byte{0x80, 0x01} {
			if bytes == 256 && top == 0x01 {
				continue // 2041 bits: under the 2048-bit floor
			}
			b := make([]byte, bytes)
			for i := range b {
				b[i] = byte(0x5A ^ i*7)
			}
			b[0], b[len(b)-1] = top, b[len(b)-1]|1
			for _, e := range []int{3, 65537, 0x7FFFFF, 0x7FFFFFFF} {
				pubs = append(pubs, &rsa.PublicKey{N: new(big.Int).SetBytes(b), E: e})
			}
		}
	}
	for _, pub := range pubs {
		got, err := keys.Thumbprint(pub)
		require.NoError(t, err)
		assert.Equal(t, jwxThumbprint(t, pub), got, "%d-bit modulus, e=%d", pub.N.BitLen(), pub.E)
		assert.Len(t, got, 43)
	}
}

func TestThumbprintRefusesWhatIsNoRSASigningKey(t *testing.T) {
	n := keystest.Keys(t)[0].N
	for name, pub := range map[string]*rsa.PublicKey{
		"nil key":     nil,
		"nil modulus": {E: 65537},
		"1024 bits":   &keystest.Weak(t).PublicKey,
		"even e":      {N: n, E: 65536},
		"e of 1":      {N: n, E: 1},
		"negative e":  {N: n, E: -3},
	} {
		_, err := keys.Thumbprint(pub)
		assert.Error(t, err, name)
	}
}

// TestPublicJWKMatchesJWX: the JWK of a key and the JWK Set of several
// (token.JWKS marshals them the same way) are byte for byte what jwx encoded
// for the same keys with kid, use and alg set.
func TestPublicJWKMatchesJWX(t *testing.T) {
	var ours []keys.JWK
	theirs := jwk.NewSet()
	for _, priv := range keystest.Keys(t) {
		k, err := keys.NewKey(priv, keys.StateActive, time.Now())
		require.NoError(t, err)
		pj := k.PublicJWK()
		assert.Equal(t, keys.JWK{Alg: "RS256", E: "AQAB", KID: k.KID, Kty: "RSA", N: base64.RawURLEncoding.EncodeToString(priv.N.Bytes()), Use: "sig"}, pj)

		jk, err := jwk.Import(&priv.PublicKey)
		require.NoError(t, err)
		require.NoError(t, jk.Set(jwk.KeyIDKey, jwxThumbprint(t, &priv.PublicKey)))
		require.NoError(t, jk.Set(jwk.KeyUsageKey, jwk.ForSignature))
		require.NoError(t, jk.Set(jwk.AlgorithmKey, jwa.RS256()))
		want, err := json.Marshal(jk)
		require.NoError(t, err)
		got, err := json.Marshal(pj)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got))

		ours = append(ours, pj)
		require.NoError(t, theirs.AddKey(jk))
	}
	want, err := json.Marshal(theirs)
	require.NoError(t, err)
	got, err := json.Marshal(map[string][]keys.JWK{"keys": ours})
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
	empty, err := json.Marshal(jwk.NewSet())
	require.NoError(t, err)
	assert.JSONEq(t, string(empty), `{"keys":[]}`)
}
