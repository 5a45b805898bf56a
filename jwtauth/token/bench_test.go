package token_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/token"
)

// The floors: raw crypto/rsa PKCS #1 v1.5 over SHA-256 with the same key and
// the same signing input as the token. Issue and Verify are reported against them.

func BenchmarkFloorSignPKCS1v15(b *testing.B) {
	f := newFixture(b)
	tok, err := f.Issuer.Issue(context.Background(), "alice")
	if err != nil {
		b.Fatal(err)
	}
	input := tok.Raw[:strings.LastIndexByte(tok.Raw, '.')]
	b.ReportAllocs()
	for b.Loop() {
		sum := sha256.Sum256([]byte(input))
		if _, err := rsa.SignPKCS1v15(rand.Reader, f.Priv, crypto.SHA256, sum[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIssue(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Issuer.Issue(ctx, "alice"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFloorVerifyPKCS1v15(b *testing.B) {
	f := newFixture(b)
	tok, err := f.Issuer.Issue(context.Background(), "alice")
	if err != nil {
		b.Fatal(err)
	}
	dot := strings.LastIndexByte(tok.Raw, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok.Raw[dot+1:])
	if err != nil {
		b.Fatal(err)
	}
	input, pub := tok.Raw[:dot], &f.Priv.PublicKey
	b.ReportAllocs()
	for b.Loop() {
		sum := sha256.Sum256([]byte(input))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is the full verification of a token the verifier has
// not seen: its cache is off, so every iteration decodes and checks the
// signature (the path before the cache existed).
func BenchmarkVerify(b *testing.B) {
	benchmarkVerify(b, -1, 1)
}

// BenchmarkVerifyMiss is the miss path with the cache on: two tokens
// alternate in a one-entry cache, so each call verifies, adds its entry and
// evicts the other's.
func BenchmarkVerifyMiss(b *testing.B) {
	benchmarkVerify(b, 1, 2)
}

// BenchmarkVerifyCached is a cache hit: the key lookup, the time, issuer and
// audience checks and the caller's copy of the claims.
func BenchmarkVerifyCached(b *testing.B) {
	benchmarkVerify(b, 0, 1)
}

func benchmarkVerify(b *testing.B, cacheSize, tokens int) {
	f := newFixture(b)
	ctx := context.Background()
	v, err := token.NewVerifier(token.VerifierConfig{Keys: f.Mgr, Issuer: testIssuer, Audience: []string{testAudience},
		Now: func() time.Time { return f.Now }, CacheSize: cacheSize})
	if err != nil {
		b.Fatal(err)
	}
	raws := make([]string, tokens)
	for i := range raws {
		tok, err := f.Issuer.Issue(ctx, "alice")
		if err != nil {
			b.Fatal(err)
		}
		raws[i] = tok.Raw
		if _, err := v.Verify(ctx, tok.Raw); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, raws[i%tokens]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
