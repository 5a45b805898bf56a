package jwtauth_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

// fuzzNow is the fixed clock of FuzzVerify: the tokens of its seed corpus
// (testdata/fuzz/FuzzVerify) were signed for it, so they stay valid.
var fuzzNow = time.Unix(1_800_000_000, 0)

// fuzzKeySet holds exactly one key: the first fixed test key.
type fuzzKeySet struct {
	kid string
	pub *rsa.PublicKey
}

func (s fuzzKeySet) VerificationKey(_ context.Context, kid string) (*rsa.PublicKey, error) {
	if kid != s.kid {
		return nil, keys.ErrUnknownKey
	}
	return s.pub, nil
}

var verifySentinels = []error{
	jwtauth.ErrTokenMissing, jwtauth.ErrTokenTooLarge, jwtauth.ErrTokenMalformed, jwtauth.ErrUnsupportedAlgorithm,
	jwtauth.ErrUnsupportedCritical, jwtauth.ErrUnknownKey, jwtauth.ErrInvalidSignature, jwtauth.ErrTokenExpired,
	jwtauth.ErrTokenNotYetValid, jwtauth.ErrInvalidIssuer, jwtauth.ErrInvalidAudience, jwtauth.ErrMissingClaim,
}

// FuzzVerify feeds arbitrary strings to Verify. Invariants: no panic; a
// rejection wraps one of the sentinel errors and returns no claims; an
// accepted token is three canonical base64url segments (no second spelling)
// whose signature verifies, by crypto/rsa directly, with the test key over
// exactly header.payload, and whose claims pass the configured checks. As the
// fuzzer cannot sign, only the seed tokens may ever be accepted.
func FuzzVerify(f *testing.F) {
	priv := keystest.Keys(f)[0]
	kid, err := keys.Thumbprint(&priv.PublicKey)
	if err != nil {
		f.Fatal(err)
	}
	v, err := jwtauth.NewVerifier(jwtauth.VerifierConfig{
		Keys: fuzzKeySet{kid, &priv.PublicKey}, Issuer: testIssuer, Audience: []string{testAudience},
		Now: func() time.Time { return fuzzNow },
	})
	if err != nil {
		f.Fatal(err)
	}
	header := `{"alg":"RS256","typ":"JWT","kid":"` + kid + `"}`
	claims := `{"iss":"` + testIssuer + `","sub":"alice","aud":"` + testAudience + `","exp":1800000900,"nbf":1800000000,"iat":1800000000,"jti":"j1"}`
	valid := forge(f, priv, header, claims)
	f.Add(valid)
	f.Add(strings.TrimSuffix(valid, valid[strings.LastIndexByte(valid, '.')+1:]))
	f.Add(b64(`{"alg":"none"}`) + "." + b64(claims) + ".")
	f.Add(forge(f, priv, `{"alg":"RS256","kid":"`+kid+`","crit":["b64"],"b64":false}`, claims))
	f.Add(forge(f, priv, header, `{"exp":1e400,"aud":[["x"]],"sub":"a","sub":"b"}`))

	ctx := context.Background()
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.Verify(ctx, raw)
		if err != nil {
			if c != nil {
				t.Fatalf("Verify returned claims with error %v", err)
			}
			for _, s := range verifySentinels {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		parts := strings.Split(raw, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted a token of %d segments: %q", len(parts), raw)
		}
		var seg [3][]byte
		for i, p := range parts {
			b, err := base64.RawURLEncoding.Strict().DecodeString(p)
			if err != nil || base64.RawURLEncoding.EncodeToString(b) != p {
				t.Fatalf("accepted non-canonical base64url in segment %d: %q", i, raw)
			}
			seg[i] = b
		}
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if err := rsa.VerifyPKCS1v15(&priv.PublicKey, crypto.SHA256, sum[:], seg[2]); err != nil {
			t.Fatalf("accepted a token the test key did not sign: %q", raw)
		}
		if c.Issuer != testIssuer || !fuzzNow.Before(c.ExpiresAt.Add(v.Leeway())) {
			t.Fatalf("accepted claims that fail the checks: %+v", c)
		}
	})
}
