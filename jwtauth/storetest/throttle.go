package storetest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth/account"
)

// throttleTests check account.ThrottleStore: token arithmetic, the order and
// atomicity of a take, refunds, purging.
var throttleTests = []subtest{
	{"TakeUntilEmptyThenRefill", testThrottleRefill},
	{"TakeStopsAtFirstEmpty", testThrottleOrder},
	{"RefundAndPurge", testThrottleRefundPurge},
	{"ConcurrentTakes", testThrottleConcurrent},
}

// throttleStore returns s as a account.ThrottleStore, failing the test
// when it is not one.
func throttleStore(t *testing.T, s account.Store) account.ThrottleStore {
	t.Helper()
	ts, ok := s.(account.ThrottleStore)
	require.Truef(t, ok, "%T does not implement account.ThrottleStore", s)
	return ts
}

func bucket(kind, key string, burst int, every time.Duration) account.ThrottleBucket {
	return account.ThrottleBucket{Kind: kind, Key: key, Burst: burst, Every: every}
}

// take takes from bs at now and returns the wait.
func take(t *testing.T, s account.ThrottleStore, now time.Time, bs ...account.ThrottleBucket) time.Duration {
	t.Helper()
	wait, err := s.TakeThrottle(t.Context(), now, bs)
	require.NoError(t, err)
	return wait
}

func testThrottleRefill(t *testing.T, st account.Store) {
	s := throttleStore(t, st)
	b := bucket("user", "alice", 3, time.Second)
	for i := range 3 {
		assert.Zero(t, take(t, s, t0, b), "take %d of a full bucket of 3", i+1)
	}
	assert.Equal(t, time.Second, take(t, s, t0, b), "an empty bucket waits one interval")
	assert.Equal(t, time.Second, take(t, s, t0, b), "a refused take takes nothing")
	assert.Equal(t, 250*time.Millisecond, take(t, s, t0.Add(750*time.Millisecond), b))
	assert.Zero(t, take(t, s, t0.Add(time.Second), b), "one token back after one interval")
	assert.Equal(t, time.Second, take(t, s, t0.Add(time.Second), b))
	assert.Equal(t, time.Second, take(t, s, t0, b), "a clock going backwards adds no token")
	// Another key and another kind are other buckets.
	assert.Zero(t, take(t, s, t0, bucket("user", "bob", 3, time.Second)))
	assert.Zero(t, take(t, s, t0, bucket("address", "alice", 1, time.Second)))
	assert.Equal(t, time.Second, take(t, s, t0, bucket("address", "alice", 1, time.Second)))
	// A long pause refills to the burst, no more.
	t1 := t0.Add(time.Hour)
	for i := range 3 {
		assert.Zero(t, take(t, s, t1, b), "take %d after an hour", i+1)
	}
	assert.Equal(t, time.Second, take(t, s, t1, b))
}

func testThrottleOrder(t *testing.T, st account.Store) {
	s := throttleStore(t, st)
	addr := bucket("address", "192.0.2.1", 2, 6*time.Second)
	user := bucket("user", "alice", 1, time.Minute)
	assert.Zero(t, take(t, s, t0, addr, user))
	// The address has a token, the user none: the address's token is kept.
	assert.Equal(t, time.Minute, take(t, s, t0, addr, user))
	assert.Equal(t, 6*time.Second, take(t, s, t0, addr), "the address spent its second token on the refused take")
	// The address is empty: the take stops there, the user's bucket is untouched.
	other := bucket("user", "bob", 1, time.Minute)
	assert.Equal(t, 6*time.Second, take(t, s, t0, addr, other))
	assert.Zero(t, take(t, s, t0, other), "a take refused for its first bucket took nothing from the second")
}

func testThrottleRefundPurge(t *testing.T, st account.Store) {
	s := throttleStore(t, st)
	ctx := t.Context()
	b := bucket("device", "nonce", 2, time.Second)
	assert.Zero(t, take(t, s, t0, b))
	assert.Zero(t, take(t, s, t0, b))
	require.NoError(t, s.RefundThrottle(ctx, t0, []account.ThrottleBucket{b}))
	assert.Zero(t, take(t, s, t0, b), "a refunded token can be taken again")
	assert.Equal(t, time.Second, take(t, s, t0, b))
	// A refund never fills past the burst.
	require.NoError(t, s.RefundThrottle(ctx, t0, []account.ThrottleBucket{b}))
	require.NoError(t, s.RefundThrottle(ctx, t0, []account.ThrottleBucket{b}))
	require.NoError(t, s.RefundThrottle(ctx, t0, []account.ThrottleBucket{b}))
	assert.Zero(t, take(t, s, t0, b))
	assert.Zero(t, take(t, s, t0, b))
	assert.Equal(t, time.Second, take(t, s, t0, b), "three refunds into a bucket of 2 gave 2 tokens")
	// A refund of an absent bucket creates nothing.
	absent := bucket("register", "never-taken", 1, time.Hour)
	require.NoError(t, s.RefundThrottle(ctx, t0, []account.ThrottleBucket{absent}))

	// b is empty at t0 and full at t0+2s: purging before keeps it.
	n, err := s.PurgeThrottle(ctx, t0.Add(time.Second))
	require.NoError(t, err)
	assert.Zero(t, n, "no bucket is full yet")
	assert.Equal(t, time.Second, take(t, s, t0, b), "the purge kept the empty bucket")
	n, err = s.PurgeThrottle(ctx, t0.Add(2*time.Second))
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "the one bucket, full again, is purged; the refunded absent one never existed")
	n, err = s.PurgeThrottle(ctx, t0.Add(2*time.Second))
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Zero(t, take(t, s, t0.Add(2*time.Second), b))
	assert.Zero(t, take(t, s, t0.Add(2*time.Second), b))
	assert.Equal(t, time.Second, take(t, s, t0.Add(2*time.Second), b), "a purged bucket comes back full, no fuller")
}

func testThrottleConcurrent(t *testing.T, st account.Store) {
	s := throttleStore(t, st)
	addr := bucket("address", "198.51.100.7", 30, time.Minute)
	user := bucket("user", "carol", 5, time.Minute)
	var took, refused atomic.Int64
	errs := race(40, func(int) error {
		wait, err := s.TakeThrottle(context.Background(), t0, []account.ThrottleBucket{addr, user})
		switch {
		case err != nil:
		case wait == 0:
			took.Add(1)
		default:
			refused.Add(1)
		}
		return err
	})
	for i, err := range errs {
		require.NoError(t, err, "take %d", i)
	}
	assert.Equal(t, int64(5), took.Load(), "the user's 5 tokens, each taken once")
	assert.Equal(t, int64(35), refused.Load())
	// 30 address tokens: 5 taken with the user's, 25 by refused takes;
	// the last 10 takes found the address empty.
	assert.Equal(t, time.Minute, take(t, s, t0, addr))
}
