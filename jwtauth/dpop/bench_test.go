package dpop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"strconv"
	"testing"
)

// benchmarkVerify measures Verify of fresh proofs by key: signing is done
// with the timer stopped, in batches, so that each proof is verified once
// (the replay cache is the default in-memory one and is part of the cost).
// Compare with the floors below: the signature check alone.
func benchmarkVerify(b *testing.B, key crypto.Signer) {
	v := newTestVerifier(b, Config{})
	ctx := context.Background()
	const batch = 512
	proofs := make([]string, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%batch == 0 {
			b.StopTimer()
			for j := range proofs {
				p, err := NewProof(key, "GET", testURL, ProofOptions{Now: testNow, AccessToken: testToken, JTI: strconv.Itoa(i + j)})
				if err != nil {
					b.Fatal(err)
				}
				proofs[j] = p
			}
			b.StartTimer()
		}
		if _, err := v.Verify(ctx, ProofRequest{Header: proofs[i%batch : i%batch+1], Method: "GET", URL: testURL, AccessToken: testToken}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyES256(b *testing.B) { benchmarkVerify(b, newKeys(b).ec) }

func BenchmarkVerifyEdDSA(b *testing.B) { benchmarkVerify(b, newKeys(b).ed) }

// BenchmarkFloorECDSAP256 is one ecdsa.VerifyASN1 on P-256 over a SHA-256
// digest: the least a proof check costs.
func BenchmarkFloorECDSAP256(b *testing.B) {
	key := newKeys(b).ec
	digest := sha256.Sum256([]byte("header.claims"))
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !ecdsa.VerifyASN1(&key.PublicKey, digest[:], sig) {
			b.Fatal("bad signature")
		}
	}
}

// BenchmarkFloorEd25519 is one ed25519.Verify of a proof-sized message.
func BenchmarkFloorEd25519(b *testing.B) {
	key := newKeys(b).ed
	msg := make([]byte, 300)
	sig := ed25519.Sign(key, msg)
	pub := key.Public().(ed25519.PublicKey)
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("bad signature")
		}
	}
}
