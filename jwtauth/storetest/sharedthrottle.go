package storetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/account/credential"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
)

// SharedThrottle checks that the login throttle holds across instances: it
// runs one account.Accounts per store of stores (separate handles or pools
// on one database, as servers behind a load balancer hold them), each with
// LoginThrottle.Store set to its store, and spreads concurrent logins over
// them. With the default budgets:
//
//   - 60 concurrent wrong guesses for one username, from 60 addresses, give
//     exactly 10 × 401 and 50 × 429 with a Retry-After;
//   - 150 concurrent wrong guesses from one IPv4 address over 150 usernames
//     give exactly 100 × 401 and 50 × 429, and 120 from 120 addresses of one
//     IPv6 /64 give 100 × 401 and 20 × 429;
//   - a successful login on one instance gives its tokens back for all;
//   - Accounts.Purge deletes the buckets once they are full again.
//
// The clock is fixed, so no token comes back during a burst. The suite
// closes the stores.
func SharedThrottle(t *testing.T, stores []account.Store) {
	t.Helper()
	require.GreaterOrEqual(t, len(stores), 2, "SharedThrottle needs several instances")
	for _, s := range stores {
		t.Cleanup(func() { _ = s.Close() })
	}
	ctx := t.Context()
	var clock atomic.Pointer[time.Time]
	setNow := func(at time.Time) { clock.Store(&at) }
	setNow(time.Now().Truncate(time.Second))
	now := func() time.Time { return *clock.Load() }
	m, err := keys.Open(ctx, keys.Config{Store: stores[0], Generate: Generator(t), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	iss, err := token.NewIssuer(token.IssuerConfig{Keys: m, Issuer: "https://issuer.test", Audience: []string{"api"}, Now: now})
	require.NoError(t, err)
	accounts := make([]*account.Accounts, len(stores))
	for i, s := range stores {
		ts := throttleStore(t, s)
		accounts[i], err = account.New(account.Config{
			Users: s, Issuer: iss, Now: now, Logger: slog.New(slog.DiscardHandler),
			Argon2:   credential.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1},
			Throttle: account.LoginThrottle{Store: ts, MaxConcurrentHashes: -1},
		})
		require.NoError(t, err)
	}
	require.NoError(t, accounts[0].Register(ctx, "victim", "correct horse battery"))
	require.NoError(t, accounts[1].Register(ctx, "regular", "correct horse battery"))

	// burst runs n concurrent logins, the i-th on instance i % len, and
	// counts the answers by error code ("ok" for a success).
	burst := func(n int, login func(a *account.Accounts, i int) error) map[string]int {
		var mu sync.Mutex
		counts := map[string]int{}
		errs := race(n, func(i int) error {
			err := login(accounts[i%len(accounts)], i)
			status := "ok"
			if err != nil {
				var e *account.Error
				if !errors.As(err, &e) {
					return err
				}
				status = e.Code
				if status == tooMany && e.RetryAfter <= 0 {
					return fmt.Errorf("429 without Retry-After: %w", err)
				}
			}
			mu.Lock()
			counts[status]++
			mu.Unlock()
			return nil
		})
		for i, err := range errs {
			require.NoError(t, err, "login %d", i)
		}
		return counts
	}

	perUser := burst(60, func(a *account.Accounts, i int) error {
		_, err := a.LoginFrom(ctx, netip.AddrFrom4([4]byte{10, 1, byte(i / 256), byte(i)}), "victim", fmt.Sprintf("wrong guess %d", i))
		return err
	})
	t.Logf("one username, 60 guesses over %d instances: %v", len(stores), perUser)
	assert.Equal(t, map[string]int{invalid: 10, tooMany: 50}, perUser, "one username")

	perIPv4 := burst(150, func(a *account.Accounts, i int) error {
		_, err := a.LoginFrom(ctx, netip.MustParseAddr("192.0.2.77"), fmt.Sprintf("guess-%d", i), "wrong guess")
		return err
	})
	t.Logf("one IPv4 address, 150 guesses over %d instances: %v", len(stores), perIPv4)
	assert.Equal(t, map[string]int{invalid: 100, tooMany: 50}, perIPv4, "one IPv4 address")

	perIPv6 := burst(120, func(a *account.Accounts, i int) error {
		ip := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 7, 14: byte(i / 256), 15: byte(i)})
		_, err := a.LoginFrom(ctx, ip, fmt.Sprintf("v6-guess-%d", i), "wrong guess")
		return err
	})
	t.Logf("one IPv6 /64, 120 guesses over %d instances: %v", len(stores), perIPv6)
	assert.Equal(t, map[string]int{invalid: 100, tooMany: 20}, perIPv6, "one IPv6 /64")

	// Successes give their tokens back on every instance: 9 failures, any
	// number of successes, then the 10th failure is still a 401.
	for i := range 9 {
		_, err := accounts[i%len(accounts)].LoginFrom(ctx, netip.Addr{}, "regular", "wrong guess")
		require.Equal(t, invalid, codeOf(t, err), "failure %d", i+1)
	}
	for i := range 6 {
		_, err := accounts[i%len(accounts)].LoginFrom(ctx, netip.Addr{}, "regular", "correct horse battery")
		require.NoError(t, err, "success %d after 9 failures", i+1)
	}
	_, err = accounts[2%len(accounts)].LoginFrom(ctx, netip.Addr{}, "regular", "wrong guess")
	require.Equal(t, invalid, codeOf(t, err), "the 10th failure")
	_, err = accounts[0].LoginFrom(ctx, netip.Addr{}, "regular", "correct horse battery")
	assert.Equal(t, tooMany, codeOf(t, err), "the 11th attempt is refused, right password or not")

	// Ten minutes later every bucket is full again: Purge deletes them.
	setNow(now().Add(20 * time.Minute))
	_, err = accounts[1].Purge(ctx)
	require.NoError(t, err)
	n, err := throttleStore(t, stores[2]).PurgeThrottle(context.Background(), now())
	require.NoError(t, err)
	assert.Zero(t, n, "Accounts.Purge left full buckets")
	_, err = accounts[2].LoginFrom(ctx, netip.MustParseAddr("192.0.2.77"), "victim", "correct horse battery")
	assert.NoError(t, err, "the victim logs in after the buckets refilled")
}

// The codes of the refusals the shared throttle test counts (the HTTP face
// answers them 401 and 429).
const (
	invalid = "invalid_credentials"
	tooMany = "too_many_requests"
)

// codeOf returns the code of err, an *account.Error.
func codeOf(t *testing.T, err error) string {
	t.Helper()
	var e *account.Error
	require.ErrorAs(t, err, &e)
	return e.Code
}
