package postgres_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/postgres"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/dpop"
	"github.com/jwtauth/jwtauth/jwtauth/dpop/dpoptest"
)

func TestReplayCacheConformance(t *testing.T) {
	baseDSN(t)
	dpoptest.RunReplayCache(t, func(t *testing.T) dpop.ReplayCache {
		return newDB(t).open(t, "jwtauth-replay")
	})
}

// TestReplayCacheShared records a proof's key through one pool and replays
// it through another, as two instances would.
func TestReplayCacheShared(t *testing.T) {
	db := newDB(t)
	a, b := db.open(t, "jwtauth-a"), db.open(t, "jwtauth-b")
	t0 := time.Date(2026, time.December, 7, 4, 12, 0, 0, time.UTC)
	k := dpoptest.Key("proof")
	seen, err := a.Seen(t.Context(), k, t0.Add(time.Minute), t0)
	require.NoError(t, err)
	require.False(t, seen)
	seen, err = b.Seen(t.Context(), k, t0.Add(time.Minute), t0.Add(time.Second))
	require.NoError(t, err)
	assert.True(t, seen, "a proof recorded through one pool is seen through another")
}

// TestReplayCacheBounded floods the cache with proofs whose records expire
// and checks that the table never holds more than the live records and the
// rows of one sweep period.
func TestReplayCacheBounded(t *testing.T) {
	defer postgres.SetReplaySweepEvery(50)()
	ctx := t.Context()
	db := newDB(t)
	s := db.open(t, "jwtauth-bounded")
	rows := func() int {
		var n int
		require.NoError(t, db.admin.QueryRow(ctx, "SELECT count(*) FROM "+db.schema+".dpop_proofs").Scan(&n))
		return n
	}
	t0 := time.Date(2026, time.December, 7, 4, 12, 0, 0, time.UTC)
	// 20 proofs a second, each remembered 2 s: at most 41 live records.
	maxRows := 0
	for i := range 400 {
		now := t0.Add(time.Duration(i) * 50 * time.Millisecond)
		seen, err := s.Seen(ctx, dpoptest.Key(strconv.Itoa(i)), now.Add(2*time.Second), now)
		require.NoError(t, err)
		require.False(t, seen)
		if i%10 == 9 {
			maxRows = max(maxRows, rows())
		}
	}
	assert.LessOrEqual(t, maxRows, 41+50, "rows: the live records and at most one sweep period")
	assert.Greater(t, maxRows, 41, "the flood never outgrew the live records: the test checks nothing")
}

// TestReplayCacheUnavailable: with the database frozen (a proxy that stops
// forwarding) Seen fails when its context ends, and with it down Seen fails
// wrapping account.ErrStoreUnavailable: never a false "unseen". When it is
// back, a key that was never recorded is unseen, the one recorded before
// is seen.
func TestReplayCacheUnavailable(t *testing.T) {
	db := newDB(t)
	p := newProxy(t)
	host, port, err := net.SplitHostPort(p.Addr())
	require.NoError(t, err)
	s, err := postgres.Open(t.Context(), withParams(t, db.dsn(t, "jwtauth-replay-down"), map[string]string{"host": host, "port": port, "pool_max_conns": "1"}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	t0 := time.Date(2026, time.December, 7, 4, 12, 0, 0, time.UTC)
	seen, err := s.Seen(t.Context(), dpoptest.Key("before"), t0.Add(time.Minute), t0)
	require.NoError(t, err)
	require.False(t, seen)

	p.Freeze()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	seen, err = s.Seen(ctx, dpoptest.Key("frozen"), t0.Add(time.Minute), t0)
	cancel()
	require.Error(t, err, "Seen on a frozen database reported seen=%v", seen)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	p.Down()
	seen, err = s.Seen(t.Context(), dpoptest.Key("down"), t0.Add(time.Minute), t0)
	require.Error(t, err, "Seen on a database that is down reported seen=%v", seen)
	assert.ErrorIs(t, err, account.ErrStoreUnavailable)

	p.Up()
	seen, err = s.Seen(t.Context(), dpoptest.Key("down"), t0.Add(time.Minute), t0)
	require.NoError(t, err)
	assert.False(t, seen, "the key of the failed call was not recorded")
	seen, err = s.Seen(t.Context(), dpoptest.Key("before"), t0.Add(time.Minute), t0)
	require.NoError(t, err)
	assert.True(t, seen, "the key recorded before the outage")
}
