package storetest

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/keys"
)

// BenchmarkLogin measures a successful login (jwtauth.Accounts.LoginFrom
// with the default argon2id parameters, refresh tokens on) over s, twice in
// one run: "in-process" keeps the throttle's buckets in process,
// "shared" keeps them in s (jwtauth.LoginThrottle.Store), which adds the
// take before the hash and the refund after it. The difference is the cost
// of a shared throttle.
func BenchmarkLogin(b *testing.B, s jwtauth.Store) {
	ctx := b.Context()
	m, err := keys.Open(ctx, keys.Config{Store: s, Generate: Generator(b), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	iss, err := jwtauth.NewIssuer(jwtauth.IssuerConfig{Keys: m, Issuer: "https://issuer.test", Audience: []string{"api"}})
	if err != nil {
		b.Fatal(err)
	}
	ts, ok := s.(jwtauth.ThrottleStore)
	if !ok {
		b.Fatalf("%T does not implement jwtauth.ThrottleStore", s)
	}
	for i, mode := range []struct {
		name  string
		store jwtauth.ThrottleStore
	}{{"in-process", nil}, {"shared", ts}} {
		a, err := jwtauth.NewAccounts(jwtauth.AccountsConfig{Users: s, RefreshTokens: s, Issuer: iss,
			Logger: slog.New(slog.DiscardHandler), Throttle: jwtauth.LoginThrottle{Store: mode.store}})
		if err != nil {
			b.Fatal(err)
		}
		name := []string{"bench-a", "bench-b"}[i]
		if err := a.Register(ctx, name, "correct horse battery"); err != nil {
			b.Fatal(err)
		}
		client := netip.MustParseAddr("192.0.2.1")
		b.Run(mode.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := a.LoginFrom(ctx, client, name, "correct horse battery"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkThrottle measures what a shared throttle adds to a successful
// login: one TakeThrottle of its two buckets (address, username) before the
// hash and one RefundThrottle after it.
func BenchmarkThrottle(b *testing.B, s jwtauth.Store) {
	ts, ok := s.(jwtauth.ThrottleStore)
	if !ok {
		b.Fatalf("%T does not implement jwtauth.ThrottleStore", s)
	}
	ctx := b.Context()
	bs := []jwtauth.ThrottleBucket{
		{Kind: "address", Key: "192.0.2.1", Burst: jwtauth.DefaultIPFailures, Every: jwtauth.DefaultIPInterval},
		{Kind: "user", Key: "alice", Burst: jwtauth.DefaultUserFailures, Every: jwtauth.DefaultUserInterval},
	}
	b.ReportAllocs()
	for b.Loop() {
		now := time.Now()
		if wait, err := ts.TakeThrottle(ctx, now, bs); err != nil || wait != 0 {
			b.Fatal(wait, err)
		}
		if err := ts.RefundThrottle(ctx, now, bs); err != nil {
			b.Fatal(err)
		}
	}
}
