// Package dpoptest is a conformance suite for implementations of
// dpop.ReplayCache, in the manner of golang.org/x/net/nettest.TestConn and
// testing/fstest.TestFS: dpop.MemoryReplayCache and every store adapter
// that implements the port run the same suite from their own tests.
//
//	func TestReplayCache(t *testing.T) {
//		dpoptest.RunReplayCache(t, func(t *testing.T) dpop.ReplayCache {
//			s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
//			require.NoError(t, err)
//			t.Cleanup(func() { _ = s.Close() })
//			return s
//		})
//	}
//
// The suite holds a cache to the contract of dpop.ReplayCache and to these
// rules, which every cache of jwtauth follows:
//
//   - Expiry is inclusive and read from the now argument only: a key
//     recorded until expires is seen at expires and unseen a nanosecond
//     later, when recording it again starts a new period. No test sleeps.
//   - Keys are independent.
//   - Dropping expired records (a store's sweep) keeps every live one,
//     including one that expires exactly at the sweep's now (a bounded
//     cache must have room for 1,102 records for this test).
//   - 64 concurrent Seen of one key report false exactly once (run the
//     suite with -race).
//   - A done context makes Seen fail with an error wrapping the context's
//     error and record nothing: never a false "unseen".
//   - A cache that is also an io.Closer (a store) fails every Seen after
//     Close with an error, never a false "unseen".
package dpoptest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth/dpop"
)

// RunReplayCache runs the suite against the caches newCache returns, as
// parallel subtests of t. newCache is called once per subtest and must
// return a new, empty cache that no other subtest uses (a store closes
// itself in a t.Cleanup; Close must then tolerate a second call, as the
// suite may have closed it). A failure of newCache should be reported with
// t.Fatal.
func RunReplayCache(t *testing.T, newCache func(t *testing.T) dpop.ReplayCache) {
	t.Helper()
	for _, tc := range replayTests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCache(t)
			require.NotNil(t, c, "newCache returned nil")
			tc.fn(t, c)
		})
	}
}

// t0 is the base time of the suite, with nanoseconds set: a cache that
// rounds expiries to micro- or milliseconds fails the expiry tests.
var t0 = time.Date(2026, time.December, 7, 4, 12, 0, 123456789, time.UTC)

// window is the lifetime of a record in the suite (dpop's default IATWindow).
const window = 60 * time.Second

// Key returns a replay-cache key as dpop.Verifier makes them: 43 bytes of
// base64url (a SHA-256 of name).
func Key(name string) string {
	sum := sha256.Sum256([]byte(name))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

var replayTests = []struct {
	name string
	fn   func(t *testing.T, c dpop.ReplayCache)
}{
	{"CleaningKeepsLiveRecords", func(t *testing.T, c dpop.ReplayCache) {
		// A cache that drops expired records as it goes (every store sweeps
		// once per 1000 records) must keep every live one: a record far in
		// the future, and one expiring exactly at the cleaning's now.
		ctx := t.Context()
		at := t0.Add(window)
		for _, k := range []struct {
			name    string
			expires time.Time
		}{{"far", t0.Add(time.Hour)}, {"at", at}} {
			seen, err := c.Seen(ctx, Key(k.name), k.expires, t0)
			require.NoError(t, err)
			require.False(t, seen)
		}
		for i := range 1100 {
			seen, err := c.Seen(ctx, Key("clean-"+strconv.Itoa(i)), at.Add(time.Second), at)
			require.NoError(t, err)
			require.False(t, seen)
		}
		seen, err := c.Seen(ctx, Key("far"), t0.Add(time.Hour), at)
		require.NoError(t, err)
		assert.True(t, seen, "a record an hour from expiry was dropped")
		seen, err = c.Seen(ctx, Key("at"), at, at)
		require.NoError(t, err)
		assert.True(t, seen, "a record expiring at now (inclusive) was dropped")
	}},
	{"FirstUnseenThenSeen", func(t *testing.T, c dpop.ReplayCache) {
		ctx := t.Context()
		k := Key("first")
		seen, err := c.Seen(ctx, k, t0.Add(window), t0)
		require.NoError(t, err)
		assert.False(t, seen, "a new key")
		seen, err = c.Seen(ctx, k, t0.Add(window), t0.Add(time.Second))
		require.NoError(t, err)
		assert.True(t, seen, "the same key again")
		seen, err = c.Seen(ctx, k, t0.Add(2*window), t0.Add(2*time.Second))
		require.NoError(t, err)
		assert.True(t, seen, "the same key with a later expiry")
	}},
	{"Expiry", func(t *testing.T, c dpop.ReplayCache) {
		ctx := t.Context()
		k := Key("expiry")
		exp := t0.Add(window)
		seen, err := c.Seen(ctx, k, exp, t0)
		require.NoError(t, err)
		require.False(t, seen)
		seen, err = c.Seen(ctx, k, exp, exp)
		require.NoError(t, err)
		assert.True(t, seen, "seen at its expiry (inclusive)")
		later := exp.Add(time.Nanosecond)
		seen, err = c.Seen(ctx, k, later.Add(window), later)
		require.NoError(t, err)
		assert.False(t, seen, "unseen a nanosecond after its expiry")
		// Recording it again started a new period, until later+window.
		seen, err = c.Seen(ctx, k, later.Add(2*window), later.Add(window))
		require.NoError(t, err)
		assert.True(t, seen, "seen within the new period")
		seen, err = c.Seen(ctx, k, later.Add(3*window), later.Add(window+time.Nanosecond))
		require.NoError(t, err)
		assert.False(t, seen, "unseen after the new period")
	}},
	{"ExpiryInOtherZone", func(t *testing.T, c dpop.ReplayCache) {
		ctx := t.Context()
		k := Key("zone")
		zone := time.FixedZone("UTC+05:30", 5*3600+30*60)
		exp := t0.Add(window).In(zone)
		seen, err := c.Seen(ctx, k, exp, t0)
		require.NoError(t, err)
		require.False(t, seen)
		seen, err = c.Seen(ctx, k, exp, exp.UTC())
		require.NoError(t, err)
		assert.True(t, seen, "seen at its expiry given in UTC")
		seen, err = c.Seen(ctx, k, exp.Add(window), exp.Add(time.Nanosecond))
		require.NoError(t, err)
		assert.False(t, seen, "unseen a nanosecond after")
	}},
	{"KeysIndependent", func(t *testing.T, c dpop.ReplayCache) {
		ctx := t.Context()
		for i, name := range []string{"a", "b", "c"} {
			seen, err := c.Seen(ctx, Key(name), t0.Add(window), t0.Add(time.Duration(i)*time.Second))
			require.NoError(t, err)
			assert.False(t, seen, "key %s", name)
		}
		// An expired record of one key leaves the others seen.
		_, err := c.Seen(ctx, Key("short"), t0.Add(time.Second), t0)
		require.NoError(t, err)
		now := t0.Add(2 * time.Second)
		seen, err := c.Seen(ctx, Key("short"), now.Add(window), now)
		require.NoError(t, err)
		assert.False(t, seen, "the expired key")
		for _, name := range []string{"a", "b", "c"} {
			seen, err := c.Seen(ctx, Key(name), now.Add(window), now)
			require.NoError(t, err)
			assert.True(t, seen, "key %s after another key expired", name)
		}
	}},
	{"ConcurrentSameKey", func(t *testing.T, c dpop.ReplayCache) {
		const n = 64
		ctx := t.Context()
		for round, name := range []string{"race-1", "race-2", "race-3"} {
			k := Key(name)
			var (
				wg    sync.WaitGroup
				start = make(chan struct{})
				mu    sync.Mutex
				fresh int
				errs  []error
			)
			for range n {
				wg.Go(func() {
					<-start
					seen, err := c.Seen(ctx, k, t0.Add(window), t0)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						errs = append(errs, err)
					} else if !seen {
						fresh++
					}
				})
			}
			close(start)
			wg.Wait()
			require.Empty(t, errs, "round %d", round)
			assert.Equal(t, 1, fresh, "round %d: Seen of one key from %d goroutines reported it unseen", round, n)
		}
	}},
	{"ConcurrentExpiredKey", func(t *testing.T, c dpop.ReplayCache) {
		// Many goroutines record again a key whose record expired: one
		// starts the new period, the others see it.
		const n = 64
		ctx := t.Context()
		k := Key("expired-race")
		_, err := c.Seen(ctx, k, t0, t0.Add(-window))
		require.NoError(t, err)
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			mu    sync.Mutex
			fresh int
		)
		now := t0.Add(time.Second)
		for range n {
			wg.Go(func() {
				<-start
				seen, err := c.Seen(ctx, k, now.Add(window), now)
				mu.Lock()
				defer mu.Unlock()
				assert.NoError(t, err)
				if err == nil && !seen {
					fresh++
				}
			})
		}
		close(start)
		wg.Wait()
		assert.Equal(t, 1, fresh, "Seen of one expired key from %d goroutines reported it unseen", n)
	}},
	{"ContextDone", func(t *testing.T, c dpop.ReplayCache) {
		k := Key("canceled")
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		seen, err := c.Seen(ctx, k, t0.Add(window), t0)
		require.Error(t, err, "Seen with a canceled context reported seen=%v", seen)
		assert.ErrorIs(t, err, context.Canceled)
		dctx, dcancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
		defer dcancel()
		_, err = c.Seen(dctx, k, t0.Add(window), t0)
		require.Error(t, err, "Seen with an expired deadline")
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		// Nothing was recorded.
		seen, err = c.Seen(t.Context(), k, t0.Add(window), t0)
		require.NoError(t, err)
		assert.False(t, seen, "a Seen that failed recorded its key")
	}},
	{"Closed", func(t *testing.T, c dpop.ReplayCache) {
		closer, ok := c.(io.Closer)
		if !ok {
			t.Skipf("%T has no Close: it cannot become unavailable", c)
		}
		ctx := t.Context()
		seen, err := c.Seen(ctx, Key("before"), t0.Add(window), t0)
		require.NoError(t, err)
		require.False(t, seen)
		require.NoError(t, closer.Close())
		for _, name := range []string{"before", "after"} {
			seen, err := c.Seen(ctx, Key(name), t0.Add(window), t0)
			assert.Error(t, err, "Seen of key %q after Close reported seen=%v", name, seen)
			assert.False(t, errors.Is(err, context.Canceled), "a closed cache is not a canceled request: %v", err)
		}
	}},
}

// BenchmarkReplayCache measures Seen of fresh keys (each recorded once, as
// a stream of valid proofs makes them, one a millisecond of the clock it
// passes) on c, and, as "parallel", the same from GOMAXPROCS goroutines. Making each key (Key, a SHA-256) is part of
// the loop: about half a microsecond.
func BenchmarkReplayCache(b *testing.B, c dpop.ReplayCache) {
	var n atomic.Uint64
	start := time.Now()
	seen := func(b *testing.B) bool { // Error, not Fatal: RunParallel's goroutines may not FailNow
		// A proof a millisecond: records expire as they would, so a
		// bounded cache never has to forget one early.
		i := n.Add(1)
		now := start.Add(time.Duration(i) * time.Millisecond)
		s, err := c.Seen(b.Context(), Key(strconv.FormatUint(i, 10)), now.Add(window), now)
		if err != nil || s {
			b.Errorf("Seen of a fresh key: %v, %v", s, err)
			return false
		}
		return true
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !seen(b) {
				return
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if !seen(b) {
					return
				}
			}
		})
	})
}
