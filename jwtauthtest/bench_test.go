package jwtauthtest_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"testing"

	"github.com/jwtauth/jwtauth/jwtauthtest"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

// BenchmarkMint measures one Mint of a token with roles and scopes; report
// it beside BenchmarkFloorSign, the RSA signature alone, run in the same
// package: minting is that signature plus JSON and base64.
func BenchmarkMint(b *testing.B) {
	srv := jwtauthtest.NewServer(b)
	tok := jwtauthtest.Token{Subject: "alice", Roles: []string{"admin"}, Scopes: []string{"orders:read"}}
	b.ReportAllocs()
	for b.Loop() {
		_ = srv.Mint(tok)
	}
}

// BenchmarkFloorSign is the raw crypto/rsa floor: one RS256 signature
// (RSASSA-PKCS1-v1_5 over SHA-256, 2048-bit key) of a token-sized input.
func BenchmarkFloorSign(b *testing.B) {
	priv := keystest.Keys(b)[0]
	msg := make([]byte, 300)
	b.ReportAllocs()
	for b.Loop() {
		sum := sha256.Sum256(msg)
		if _, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, sum[:]); err != nil {
			b.Fatal(err)
		}
	}
}
