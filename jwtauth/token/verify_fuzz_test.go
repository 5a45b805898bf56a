package token_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

// fuzzNow is the fixed clock of FuzzVerify: the tokens of its seed corpus
// (testdata/fuzz/FuzzVerify) were signed for it, so they stay valid.
var fuzzNow = time.Unix(1_800_000_000, 0)

// fuzzKeySet holds the first two fixed test keys, by kid.
type fuzzKeySet map[string]*rsa.PublicKey

func (s fuzzKeySet) VerificationKey(_ context.Context, kid string) (*rsa.PublicKey, error) {
	pub, ok := s[kid]
	if !ok {
		return nil, keys.ErrUnknownKey
	}
	return pub, nil
}

var verifySentinels = []error{
	token.ErrTokenMissing, token.ErrTokenTooLarge, token.ErrTokenMalformed, token.ErrUnsupportedAlgorithm,
	token.ErrUnsupportedCritical, token.ErrUnknownKey, token.ErrInvalidSignature, token.ErrTokenExpired,
	token.ErrTokenNotYetValid, token.ErrInvalidIssuer, token.ErrInvalidAudience, token.ErrMissingClaim,
}

// FuzzVerify feeds arbitrary strings to Verify. Invariants: no panic; a
// rejection wraps one of the sentinel errors and returns no claims; an
// accepted token is three canonical base64url segments (no second spelling)
// whose header (decoded by encoding/json) says RS256 and names by kid the
// test key whose signature verifies, by crypto/rsa directly, over exactly
// header.payload, and whose payload (decoded by encoding/json) has the
// configured iss, one of the audiences in aud, and exp, nbf and iat within
// the leeway of the clock; the claims returned are that payload's. As the
// fuzzer cannot sign, only the seed tokens may ever be accepted.
func FuzzVerify(f *testing.F) {
	priv, other := keystest.Keys(f)[0], keystest.Keys(f)[1]
	kid, err := keys.Thumbprint(&priv.PublicKey)
	if err != nil {
		f.Fatal(err)
	}
	otherKID, err := keys.Thumbprint(&other.PublicKey)
	if err != nil {
		f.Fatal(err)
	}
	set := fuzzKeySet{kid: &priv.PublicKey, otherKID: &other.PublicKey}
	v, err := token.NewVerifier(token.VerifierConfig{
		Keys: set, Issuer: testIssuer, Audience: []string{testAudience},
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
	// Signed tokens that a correct verifier rejects, so that the property
	// below catches a check that lets them through: the other key's
	// signature under this key's kid, a wrong audience, nbf and iat in the
	// future, an expired token.
	otherHeader := `{"alg":"RS256","typ":"JWT","kid":"` + otherKID + `"}`
	f.Add(forge(f, other, otherHeader, claims))
	f.Add(forge(f, other, header, claims))
	f.Add(forge(f, priv, otherHeader, claims))
	claim := func(name, value string) string {
		return forge(f, priv, header, strings.Replace(claims, `"`+name+`":`, `"`+name+`":`+value+`,"was_`+name+`":`, 1))
	}
	f.Add(claim("aud", `"https://other.example.com"`))
	f.Add(claim("aud", `[]`))
	f.Add(claim("iss", `"https://other.example.com"`))
	f.Add(claim("nbf", `1800000031`))
	f.Add(claim("iat", `1800000031`))
	f.Add(claim("exp", `1799999970`))

	ctx := context.Background()
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.Verify(ctx, raw)
		// Only a success is cached, and the second call, a cache hit after
		// a success, answers exactly as the first.
		if cached := token.IsCached(v, raw); cached != (err == nil) {
			t.Fatalf("cached %v after error %v", cached, err)
		}
		c2, err2 := v.Verify(ctx, raw)
		if fmt.Sprint(err) != fmt.Sprint(err2) || !reflect.DeepEqual(c, c2) || (c != nil && c == c2) {
			t.Fatalf("the second call answered %v %+v, the first %v %+v", err2, c2, err, c)
		}
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
		var hdr struct{ Alg, Kid string }
		if err := json.Unmarshal(seg[0], &hdr); err != nil || hdr.Alg != "RS256" {
			t.Fatalf("accepted header %q (%v)", seg[0], err)
		}
		pub, ok := set[hdr.Kid]
		if !ok {
			t.Fatalf("accepted a token whose kid %q names no key: %q", hdr.Kid, raw)
		}
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], seg[2]); err != nil {
			t.Fatalf("accepted a token that the key its kid names did not sign: %q", raw)
		}
		var p struct {
			Iss           string
			Sub           string
			Aud           any
			Exp, Nbf, Iat *float64
		}
		if err := json.Unmarshal(seg[1], &p); err != nil {
			t.Fatalf("accepted a payload encoding/json refuses: %q: %v", seg[1], err)
		}
		var auds []string
		switch a := p.Aud.(type) {
		case string:
			auds = []string{a}
		case []any:
			for _, x := range a {
				s, _ := x.(string)
				auds = append(auds, s)
			}
		}
		now := float64(fuzzNow.Unix())
		leeway := v.Leeway().Seconds()
		switch {
		case p.Iss != testIssuer:
			t.Fatalf("accepted iss %q", p.Iss)
		case !slices.Contains(auds, testAudience):
			t.Fatalf("accepted aud %v", p.Aud)
		case p.Exp == nil || now >= *p.Exp+leeway:
			t.Fatalf("accepted exp %v at %v", p.Exp, now)
		case p.Nbf != nil && now+leeway < *p.Nbf:
			t.Fatalf("accepted nbf %v at %v", *p.Nbf, now)
		case p.Iat != nil && now+leeway < *p.Iat:
			t.Fatalf("accepted iat %v at %v", *p.Iat, now)
		case c.Issuer != p.Iss || c.Subject != p.Sub || !slices.Equal(c.Audience, auds) ||
			float64(c.ExpiresAt.Unix()) != math.Floor(*p.Exp):
			t.Fatalf("claims %+v are not the payload's %s", c, seg[1])
		}
	})
}
