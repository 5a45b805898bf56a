package remote_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/remote"
	"github.com/jwtauth/jwtauth/jwtauth/token"
)

// BenchmarkVerifyRemote is BenchmarkVerify with the keys of a KeySet
// (the same fixture, token and claims, the JWKS served by httptest): the
// cached path adds an atomic load, a map lookup and a staleness check. The
// verifier's token cache is off, as in BenchmarkVerify.
func BenchmarkVerifyRemote(b *testing.B) { benchmarkVerifyRemote(b, -1) }

// BenchmarkVerifyRemoteCached is BenchmarkVerifyCached with the keys of a
// KeySet: a hit of the remote verifier's token cache.
func BenchmarkVerifyRemoteCached(b *testing.B) { benchmarkVerifyRemote(b, 0) }

func benchmarkVerifyRemote(b *testing.B, cacheSize int) {
	f := newFixture(b)
	ctx := context.Background()
	srv := httptest.NewServer(jwtauth.NewJWKSHandler(f.Mgr, 0))
	defer srv.Close()
	clock := func() time.Time { return f.Now }
	v, ks, err := remote.NewVerifier(ctx, remote.Config{JWKSURL: srv.URL, Now: clock, Logger: quiet},
		token.VerifierConfig{Issuer: testIssuer, Audience: []string{testAudience}, Now: clock, CacheSize: cacheSize})
	if err != nil {
		b.Fatal(err)
	}
	defer ks.Close()
	tok, err := f.Issuer.Issue(ctx, "alice")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok.Raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKeyLookup isolates the part of Verify that differs between the
// local and the remote key source: VerificationKey on a cached kid.
func BenchmarkKeyLookup(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	srv := httptest.NewServer(jwtauth.NewJWKSHandler(f.Mgr, 0))
	defer srv.Close()
	ks, err := remote.NewKeySet(ctx, remote.Config{JWKSURL: srv.URL, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer ks.Close()
	for name, src := range map[string]token.KeySet{"local": f.Mgr, "remote": ks} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := src.VerificationKey(ctx, f.KID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
