package adaptertest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/dpop"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys/keystest"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkMiddleware measures one authenticated GET /protected through the
// handler build mounts: routing, token extraction, verification and the
// JSON answer, with the same token on every request as a client sends it
// for its lifetime: after the first request the verifier answers from its
// token cache. Report it beside BenchmarkFloorVerify, run in the same
// package.
func BenchmarkMiddleware(b *testing.B, build func(routes []jwtauth.Route, auth *authn.Authenticator) http.Handler) {
	benchmarkMiddleware(b, build, 0)
}

// BenchmarkMiddlewareUncached is BenchmarkMiddleware with the verifier's
// token cache off: every request pays one RSA signature check.
func BenchmarkMiddlewareUncached(b *testing.B, build func(routes []jwtauth.Route, auth *authn.Authenticator) http.Handler) {
	benchmarkMiddleware(b, build, -1)
}

func benchmarkMiddleware(b *testing.B, build func(routes []jwtauth.Route, auth *authn.Authenticator) http.Handler, cacheSize int) {
	f := NewFixture(b)
	ver, err := token.NewVerifier(token.VerifierConfig{Keys: f.Keys, Issuer: Issuer, Audience: []string{Audience}, CacheSize: cacheSize})
	if err != nil {
		b.Fatal(err)
	}
	h := build(f.Routes, &authn.Authenticator{Verifier: ver, Realm: Realm})
	req := httptest.NewRequest(http.MethodGet, "/protected", nil)
	req.Header.Set("Authorization", "Bearer "+f.Token(b, "alice"))
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkMiddlewareMetrics is BenchmarkMiddleware over a whole
// jwtauth.Service (New, with /protected), in two sub-benchmarks that differ
// only in jwtauth.Config.Metrics: "off" (nil) and "on" (a fresh
// prometheus.Registry, so every verification and cache lookup is counted).
// Issue 12 asks "on" to stay within 2 % of "off" in the same run. Besides
// ns/op it reports cpu-ns/op, the process's CPU time per request, which
// time other processes held the core does not inflate (run it with -cpu 1
// on a shared machine).
func BenchmarkMiddlewareMetrics(b *testing.B, build func(routes []jwtauth.Route, auth *authn.Authenticator) http.Handler) {
	run := func(b *testing.B, reg prometheus.Registerer) {
		svc, err := jwtauth.New(b.Context(), jwtauth.Config{
			Store: memory.New(), Issuer: Issuer, Audience: []string{Audience}, ServeProtected: true,
			GenerateKey: keystest.Generator(b), Logger: slog.New(slog.DiscardHandler), Metrics: reg,
		})
		if err != nil {
			b.Fatal(err)
		}
		defer svc.Close()
		ctx := context.Background()
		if err := svc.Accounts().Register(ctx, "alice", "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
		tok, err := svc.Accounts().Login(ctx, "alice", "correct horse battery staple")
		if err != nil {
			b.Fatal(err)
		}
		h := build(svc.Routes(), svc.Authenticator())
		req := httptest.NewRequest(http.MethodGet, "/protected", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		b.ReportAllocs()
		cpu0, cpuOK := cpuTime()
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
		if cpu1, ok := cpuTime(); ok && cpuOK {
			// On a shared machine wall time includes the time other
			// processes held the core; the process's CPU time does not.
			b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
		}
	}
	b.Run("off", func(b *testing.B) { run(b, nil) })
	b.Run("on", func(b *testing.B) { run(b, prometheus.NewRegistry()) })
}

// BenchmarkMiddlewareRoles is BenchmarkMiddleware's variant with
// authorization, in two sub-benchmarks over one harness: GET /me, served by
// the handler of /protected behind the adapter's middleware, "plain" with
// no requirement and a token of registered claims only, "roles" with
// RequireRoles("admin") and a token that also carries roles and scope.
// Issue 10 asks roles to take at most 2 % more time than plain (and than
// BenchmarkMiddleware) in the same run.
func BenchmarkMiddlewareRoles(b *testing.B, newProtected NewProtectedFunc) {
	f := NewFixture(b)
	var protected http.Handler
	for _, rt := range f.Routes {
		if rt.Path == "/protected" {
			protected = rt.Handler
		}
	}
	run := func(b *testing.B, token string, reqs ...authn.Requirement) {
		h := newProtected(b, protected, f.Auth, reqs...)
		req := httptest.NewRequest(http.MethodGet, "/me", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	}
	b.Run("plain", func(b *testing.B) { run(b, f.Token(b, "alice")) })
	roles := f.TokenWith(b, "alice", map[string]any{"roles": []string{"user", "admin"}, "scope": "orders:read orders:write"})
	b.Run("roles", func(b *testing.B) { run(b, roles, authn.RequireRoles("admin")) })
}

// BenchmarkFloorVerify is the floor under BenchmarkMiddleware:
// crypto/rsa.VerifyPKCS1v15 over SHA-256 of the same token's signing input
// with the same key, and nothing else.
func BenchmarkFloorVerify(b *testing.B) {
	f := NewFixture(b)
	tok := f.Token(b, "alice")
	pub := f.ActiveKey(b).Public()
	dot := strings.LastIndexByte(tok, '.')
	input := []byte(tok[:dot])
	sig, err := base64.RawURLEncoding.DecodeString(tok[dot+1:])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		sum := sha256.Sum256(input)
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMiddlewareDPoP measures, in one run, a DPoP request (RFC 9449
// §7) through the handler build mounts beside its floor: "bound" is GET
// /protected with a DPoP-bound token the verifier has cached and a fresh
// ES256 proof per request (signature, claims, ath, jkt and replay cache);
// "floor-ecdsa-p256" is the bare crypto/ecdsa check of one P-256
// signature over SHA-256 of a proof-sized input. Issue 24 asks bound ≤ 1.3×
// the floor. Proofs are made before the timer starts (the clients' work).
func BenchmarkMiddlewareDPoP(b *testing.B, build func(routes []jwtauth.Route, auth *authn.Authenticator) http.Handler) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("floor-ecdsa-p256", func(b *testing.B) {
		input := []byte(strings.Repeat("x", 600)) // about a proof's signing input
		d := sha256.Sum256(input)
		sig, err := ecdsa.SignASN1(rand.Reader, key, d[:])
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			d := sha256.Sum256(input)
			if !ecdsa.VerifyASN1(&key.PublicKey, d[:], sig) {
				b.Fatal("signature refused")
			}
		}
	})
	b.Run("bound", func(b *testing.B) {
		f := NewFixture(b)
		pv, err := dpop.NewVerifier(dpop.Config{})
		if err != nil {
			b.Fatal(err)
		}
		jkt, _ := dpop.Thumbprint(key.Public())
		tok := f.BoundToken(b, "alice", jkt)
		auth := *f.Auth
		auth.DPoP = &authn.DPoPConfig{Verifier: pv}
		h := build(f.Routes, &auth)
		// The proofs are the clients' work: made before the timer runs
		// (b.N of them, each used once), their garbage collected.
		proofs := make([]string, b.N)
		for i := range proofs {
			p, err := dpop.NewProof(key, http.MethodGet, "http://example.com/protected", dpop.ProofOptions{AccessToken: tok})
			if err != nil {
				b.Fatal(err)
			}
			proofs[i] = p
		}
		runtime.GC()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			req := httptest.NewRequest(http.MethodGet, "/protected", nil)
			req.Header.Set("Authorization", "DPoP "+tok)
			req.Header.Set("DPoP", proofs[i])
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}
