package storetest

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
)

// BenchmarkLogin measures a successful login (account.Accounts.LoginFrom
// with the default argon2id parameters, refresh tokens on) over s, twice in
// one run: "in-process" keeps the throttle's buckets in process,
// "shared" keeps them in s (account.LoginThrottle.Store), which adds the
// take before the hash and the refund after it. The difference is the cost
// of a shared throttle.
func BenchmarkLogin(b *testing.B, s account.Store) {
	ctx := b.Context()
	m, err := keys.Open(ctx, keys.Config{Store: s, Generate: Generator(b), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	iss, err := token.NewIssuer(token.IssuerConfig{Keys: m, Issuer: "https://issuer.test", Audience: []string{"api"}})
	if err != nil {
		b.Fatal(err)
	}
	ts, ok := s.(account.ThrottleStore)
	if !ok {
		b.Fatalf("%T does not implement account.ThrottleStore", s)
	}
	for i, mode := range []struct {
		name  string
		store account.ThrottleStore
	}{{"in-process", nil}, {"shared", ts}} {
		a, err := account.New(account.Config{Users: s, RefreshTokens: s, Issuer: iss,
			Logger: slog.New(slog.DiscardHandler), Throttle: account.LoginThrottle{Store: mode.store}})
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
func BenchmarkThrottle(b *testing.B, s account.Store) {
	ts, ok := s.(account.ThrottleStore)
	if !ok {
		b.Fatalf("%T does not implement account.ThrottleStore", s)
	}
	ctx := b.Context()
	bs := []account.ThrottleBucket{
		{Kind: "address", Key: "192.0.2.1", Burst: account.DefaultIPFailures, Every: account.DefaultIPInterval},
		{Kind: "user", Key: "alice", Burst: account.DefaultUserFailures, Every: account.DefaultUserInterval},
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
