package dpop

import (
	"context"
	"crypto"
	"errors"
	"strings"
	"testing"
	"time"
)

// noReplay accepts every jti, so that a seed proof stays acceptable on
// every run of the fuzz function.
type noReplay struct{}

func (noReplay) Seen(context.Context, string, time.Time, time.Time) (bool, error) { return false, nil }

// FuzzDPoPProof feeds arbitrary DPoP header values, methods and access
// tokens to Verify. Invariants: no panic; a refusal is an *Error wrapping
// ErrInvalidProof whose text never contains the proof; an accepted proof is
// three canonical base64url parts, has a 43-byte jkt, the request's method,
// an iat within the window, and ath of the token when one was given. The
// seeds are the valid proofs of the tests and every refused row.
func FuzzDPoPProof(f *testing.F) {
	k := newKeys(f)
	for _, opts := range []ProofOptions{{Now: testNow}, {Now: testNow, AccessToken: testToken}} {
		for _, key := range []crypto.Signer{k.ec, k.ed, k.rsa} {
			proof, err := NewProof(key, "GET", testURL, opts)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(proof, "GET", opts.AccessToken)
		}
	}
	for _, r := range badRows(f, k) {
		proof, req, _ := makeRow(f, k, r)
		f.Add(proof, req.Method, req.AccessToken)
	}
	v := newTestVerifier(f, Config{Algs: []string{ES256, EdDSA, RS256, PS256}, Replay: noReplay{}})
	f.Fuzz(func(t *testing.T, proof, method, token string) {
		p, err := v.Verify(context.Background(), ProofRequest{Header: []string{proof}, Method: method, URL: testURL, AccessToken: token})
		if err != nil {
			var e *Error
			if p != nil || !errors.As(err, &e) || !errors.Is(err, ErrInvalidProof) || e.Reason == "" {
				t.Fatalf("Verify = %v, %v; want a nil proof and an *Error wrapping ErrInvalidProof", p, err)
			}
			if len(proof) >= 8 && strings.Contains(err.Error(), proof) || len(token) >= 8 && strings.Contains(err.Error(), token) {
				t.Fatalf("error %q contains the proof or token", err)
			}
			return
		}
		parts := strings.Split(proof, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted %d parts", len(parts))
		}
		for _, s := range parts {
			b, err := strictB64.DecodeString(s)
			if err != nil || b64(b) != s {
				t.Fatalf("accepted non-canonical part %q", s)
			}
		}
		if len(p.JKT) != 43 || p.HTM != method || p.IAT.Before(testNow.Add(-DefaultIATWindow)) || p.IAT.After(testNow.Add(DefaultLeeway)) {
			t.Fatalf("accepted %+v", p)
		}
		if token != "" && p.ATH != ATH(token) {
			t.Fatalf("accepted ath %q for a token hashing to %q", p.ATH, ATH(token))
		}
	})
}
