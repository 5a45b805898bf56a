package account

import (
	"github.com/jwtauth/jwtauth/jwtauth/account/credential"
	"github.com/jwtauth/jwtauth/jwtauth/token"

	"context"
	"fmt"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLimiterMapStaysBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := newLimiterMap(3, time.Minute, 100)
	for i := range 10_000 {
		l.take(fmt.Sprintf("user-%d", i), now)
		require.LessOrEqual(t, l.len(), 100)
	}
	// Entries whose bucket refilled are dropped by a sweep: they carry no state.
	l.sweep(now.Add(3 * time.Minute))
	assert.Equal(t, 0, l.len())

	// A busy key survives the sweep; an idle one does not.
	l.take("busy", now)
	l.take("idle", now.Add(-time.Hour))
	l.sweep(now.Add(time.Second))
	assert.Equal(t, 1, l.len())
	assert.Zero(t, l.wait("idle", now), "an absent key is a full bucket")
}

func TestLimiterWait(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := newLimiterMap(2, time.Minute, 10)
	assert.Zero(t, l.wait("a", now))
	l.take("a", now)
	assert.Zero(t, l.wait("a", now))
	l.take("a", now)
	assert.Equal(t, time.Minute, l.wait("a", now))
	assert.Equal(t, 30*time.Second, l.wait("a", now.Add(30*time.Second)))
	assert.Zero(t, l.wait("a", now.Add(time.Minute)))
}

func TestPurgeSweepsLimiters(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := &Accounts{now: func() time.Time { return now }, throttle: newThrottle(LoginThrottle{})}
	mem := a.throttle.state.(*memoryBuckets)
	keys := []bucketKey{{addressBucket, "192.0.2.1"}, {userBucket, "alice"}, {deviceBucket, "nonce"}, {registerBucket, "192.0.2.1"}}
	_, wait, err := a.throttle.take(context.Background(), now, keys...) // a failure: no refund
	require.NoError(t, err)
	require.Zero(t, wait)
	for _, k := range keys {
		assert.Equal(t, 1, mem[k.kind].len(), k)
	}
	now = now.Add(time.Hour)
	n, err := a.Purge(context.Background())
	require.NoError(t, err)
	assert.Zero(t, n)
	for _, k := range keys {
		assert.Zero(t, mem[k.kind].len(), k)
	}
}

func TestDummyHashUsesCurrentParameters(t *testing.T) {
	for _, p := range []credential.Argon2Params{{}, {Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}} {
		a, err := New(Config{Users: nopUsers{}, Issuer: &token.Issuer{}, Argon2: p})
		require.NoError(t, err)
		stored, salt, key, err := credential.ParseArgon2id(a.dummyHash)
		require.NoError(t, err)
		stored.SaltLength, stored.KeyLength = uint32(len(salt)), uint32(len(key))
		assert.Equal(t, a.argon, stored, "an unknown user costs what a wrong password costs")
	}
}

type nopUsers struct{ UserStore }

func TestAcquireHonoursContext(t *testing.T) {
	th := newThrottle(LoginThrottle{MaxConcurrentHashes: 1, HashWait: time.Hour})
	release, err := th.acquire(context.Background(), loginHash)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = th.acquire(ctx, loginHash)
	assert.ErrorIs(t, err, context.Canceled)
	release()
	release, err = th.acquire(context.Background(), loginHash)
	require.NoError(t, err)
	release()
	unbounded := newThrottle(LoginThrottle{MaxConcurrentHashes: -1})
	for range 100 {
		_, err := unbounded.acquire(context.Background(), loginHash)
		require.NoError(t, err)
	}
}

func TestHashQueueIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newThrottle(LoginThrottle{MaxConcurrentHashes: 1, HashQueue: 2, HashWait: time.Minute})
		release, err := th.acquire(context.Background(), loginHash)
		require.NoError(t, err)
		results := make(chan error, 2)
		for range 2 { // two may wait
			go func() {
				r, err := th.acquire(context.Background(), loginHash)
				if err == nil {
					r()
				}
				results <- err
			}()
		}
		synctest.Wait()
		_, err = th.acquire(context.Background(), loginHash)
		assert.Equal(t, errBusy, err, "a third waiter is refused at once")
		release()
		assert.NoError(t, <-results)
		assert.NoError(t, <-results)
	})
}

// A full map never evicts a throttled key to make room: evicting would give
// the victim a full bucket again, so an attacker failing under many new
// names could reset a victim's limit.
func TestLimiterMapFullKeepsThrottledKeys(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := newLimiterMap(2, time.Minute, 3)
	for _, k := range []string{"a", "b", "c"} {
		require.True(t, l.take(k, now))
		require.True(t, l.take(k, now))
		require.Positive(t, l.wait(k, now), k)
	}
	for i := range 10 {
		assert.False(t, l.take(fmt.Sprintf("new-%d", i), now), "a full map of throttled keys tracks no new key")
	}
	for _, k := range []string{"a", "b", "c"} {
		assert.Equal(t, time.Minute, l.wait(k, now), "%s must stay throttled", k)
	}
	assert.Equal(t, 3, l.len())

	// An idle entry (full bucket) makes room first.
	l.take("d", now.Add(2*time.Minute)) // a, b, c have refilled by then
	assert.Equal(t, 1, l.len())
	l = newLimiterMap(2, time.Minute, 3)
	l.take("a", now)
	l.take("a", now)
	l.take("b", now)
	l.take("b", now)
	l.take("idle", now.Add(-time.Hour))
	assert.True(t, l.take("new", now))
	assert.Equal(t, time.Minute, l.wait("a", now))
	assert.Equal(t, time.Minute, l.wait("b", now))
	assert.Equal(t, 3, l.len(), "idle dropped, new tracked")
}

// Registrations hold at most half of the hash slots and wait in their own
// queue: with every registration slot taken and their queue full, a login
// still gets a slot at once, and a further registration gets a fast 503.
func TestRegistrationsLeaveLoginsTheirShare(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newThrottle(LoginThrottle{MaxConcurrentHashes: 4, HashQueue: 1, HashWait: time.Minute})
		ctx := context.Background()
		var releases []func()
		for range 2 { // the registration share of 4 slots
			r, err := th.acquire(ctx, registerHash)
			require.NoError(t, err)
			releases = append(releases, r)
		}
		waited := make(chan error, 2)
		for range 2 { // registration's queue: 1 per share slot
			go func() {
				r, err := th.acquire(ctx, registerHash)
				if err == nil {
					r()
				}
				waited <- err
			}()
		}
		synctest.Wait()
		_, err := th.acquire(ctx, registerHash)
		assert.Equal(t, errBusy, err, "registration's queue is full")
		for range 2 {
			r, err := th.acquire(ctx, loginHash)
			require.NoError(t, err, "logins keep the other half")
			releases = append(releases, r)
		}
		// Logins wait in their own queue, never refused for registrations'.
		go func() {
			r, err := th.acquire(ctx, loginHash)
			if err == nil {
				r()
			}
			waited <- err
		}()
		synctest.Wait()
		for _, r := range releases {
			r()
		}
		for range 3 {
			assert.NoError(t, <-waited)
		}
		// One slot: a registration may take it, never more than that.
		one := newThrottle(LoginThrottle{MaxConcurrentHashes: 1})
		assert.Equal(t, 1, cap(one.register.sem))
	})
}

// The buckets keep the tokens taken before an empty one: a login refused for
// its username has still spent its address's token.
func TestBucketsKeepTokensBeforeTheEmptyOne(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	th := newThrottle(LoginThrottle{UserFailures: 1, IPFailures: 3})
	ctx := context.Background()
	addr, user := bucketKey{addressBucket, "192.0.2.1"}, bucketKey{userBucket, "alice"}
	taken, wait, err := th.take(ctx, now, addr, user)
	require.NoError(t, err)
	require.Zero(t, wait)
	assert.Equal(t, []bucketKey{addr, user}, taken)
	_, wait, err = th.take(ctx, now, addr, user)
	require.NoError(t, err)
	assert.Equal(t, time.Minute, wait, "alice is empty")
	mem := th.state.(*memoryBuckets)
	_, wait, err = th.take(ctx, now, addr)
	require.NoError(t, err)
	require.Zero(t, wait, "the third token")
	_, wait, err = th.take(ctx, now, addr)
	require.NoError(t, err)
	assert.Equal(t, 6*time.Second, wait, "the refused attempt took the address's second token")
	assert.Equal(t, 6*time.Second, mem[addressBucket].wait("192.0.2.1", now.Add(-time.Hour)), "a clock going backwards refills nothing")
	// A refund gives back up to the bucket's size.
	require.NoError(t, th.refund(ctx, now, []bucketKey{addr, addr, addr, addr}))
	assert.Zero(t, mem[addressBucket].wait("192.0.2.1", now))
	mem[addressBucket].sweep(now)
	assert.Zero(t, mem[addressBucket].len(), "a refunded bucket is full, so idle")
	// Empty keys and disabled kinds are not counted.
	off := newThrottle(LoginThrottle{Registrations: -1})
	taken, wait, err = off.take(ctx, now, bucketKey{registerBucket, "192.0.2.1"}, bucketKey{userBucket, ""})
	require.NoError(t, err)
	assert.Zero(t, wait)
	assert.Empty(t, taken)
}

func TestIPKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":              "203.0.113.7",
		"::ffff:203.0.113.7":       "203.0.113.7",
		"2001:db8:1:2::1":          "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1":     "2001:db8:1:2::/64",
		"2002:cb00:7107::1":        "203.0.113.7", // 6to4: the embedded IPv4 address
		"2002:cb00:7107:ffff:1::2": "203.0.113.7",
		"2002:cb00:7108::1":        "203.0.113.8",
		"2003:cb00:7107::1":        "2003:cb00:7107::/64",
	} {
		got, ok := ipKey(netip.MustParseAddr(in))
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	_, ok := ipKey(netip.Addr{})
	assert.False(t, ok)
}
