package jwtauth_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
)

// The floors: raw crypto/rsa PKCS #1 v1.5 over SHA-256 with the same key and
// the same signing input as the token. Issue and Verify are reported against them.

func BenchmarkFloorSignPKCS1v15(b *testing.B) {
	f := newFixture(b)
	tok, err := f.issuer.Issue(context.Background(), "alice")
	if err != nil {
		b.Fatal(err)
	}
	input := tok.Raw[:strings.LastIndexByte(tok.Raw, '.')]
	b.ReportAllocs()
	for b.Loop() {
		sum := sha256.Sum256([]byte(input))
		if _, err := rsa.SignPKCS1v15(rand.Reader, f.priv, crypto.SHA256, sum[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIssue(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.issuer.Issue(ctx, "alice"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFloorVerifyPKCS1v15(b *testing.B) {
	f := newFixture(b)
	tok, err := f.issuer.Issue(context.Background(), "alice")
	if err != nil {
		b.Fatal(err)
	}
	dot := strings.LastIndexByte(tok.Raw, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok.Raw[dot+1:])
	if err != nil {
		b.Fatal(err)
	}
	input, pub := tok.Raw[:dot], &f.priv.PublicKey
	b.ReportAllocs()
	for b.Loop() {
		sum := sha256.Sum256([]byte(input))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	tok, err := f.issuer.Issue(ctx, "alice")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.verifier.Verify(ctx, tok.Raw); err != nil {
			b.Fatal(err)
		}
	}
}
