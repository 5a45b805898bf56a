package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth/account"
)

// RunShared runs the suite's race tests over two instances of one store, as
// two servers behind a load balancer hold them: newPair returns two stores
// opened separately (two connection pools, two handles on one file) on one
// new, empty database that no other test uses. Run already runs the same
// tests with both calls going to one instance; a store that several
// processes may share (SQLite, PostgreSQL) should run RunShared as well. The
// suite closes both stores.
func RunShared(t *testing.T, newPair func(t *testing.T) (account.Store, account.Store)) {
	t.Helper()
	for _, rt := range refreshRaceTests {
		t.Run(rt.name, func(t *testing.T) {
			t.Parallel()
			a, b := newPair(t)
			require.NotNil(t, a, "newPair returned nil")
			require.NotNil(t, b, "newPair returned nil")
			t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
			rt.fn(t, a, b)
		})
	}
}

// raceTest is a test that races calls on two instances a and b of one store
// (the same instance twice within Run).
type raceTest struct {
	name string
	fn   func(t *testing.T, a, b account.Store)
}

var refreshRaceTests = []raceTest{
	{"LogoutRacesRefresh", testRaceLogoutRefresh},
	{"ReplayRacesRefresh", testRaceReplayRefresh},
	{"RevokeUserRacesRefresh", testRaceRevokeUserRefresh},
	{"DisableRacesLogin", testRaceDisableLogin},
	{"DeleteRacesRegistration", testRaceDeleteRegister},
}

// raceSubtests are refreshRaceTests on one instance, for Run.
func raceSubtests() []subtest {
	out := make([]subtest, len(refreshRaceTests))
	for i, rt := range refreshRaceTests {
		out[i] = subtest{rt.name, func(t *testing.T, s account.Store) { rt.fn(t, s, s) }}
	}
	return out
}

// raceRounds is how many times each race is run: the interleaving that leaks
// a family is one of several, so a single round proves little.
const raceRounds = 200

// race2 runs f and g in two goroutines released at the same moment.
func race2(f, g func()) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	wg.Go(func() { <-start; f() })
	wg.Go(func() { <-start; g() })
	close(start)
	wg.Wait()
}

// testRaceLogoutRefresh is logout racing a refresh of the same token R: the
// revocation succeeds, so whichever wins, no token of the family may
// refresh afterwards, the successor the refresh may have stored included.
func testRaceLogoutRefresh(t *testing.T, a, b account.Store) {
	ctx := t.Context()
	withUsers(t, a, "alice")
	leaked, refreshed := 0, 0
	for round := range raceRounds {
		now := t0.Add(time.Duration(round) * time.Second)
		fam, tok := fmt.Sprintf("fam-%03d", round), fmt.Sprintf("r-%03d", round)
		r := login(t, a, tok, fam, "alice", now)
		next := successor(tok+"-s", r, now)
		var rotErr, revErr error
		var revFam string
		race2(
			func() { _, rotErr = a.RotateRefreshToken(ctx, r.Hash, next, now) },
			func() { revFam, revErr = b.RevokeRefreshFamily(ctx, r.Hash, now) },
		)
		require.NoError(t, revErr, "round %d: logout", round)
		require.Equal(t, fam, revFam, "round %d", round)
		if rotErr != nil {
			require.ErrorIs(t, rotErr, account.ErrRefreshReused, "round %d: a refresh that lost to the logout", round)
			continue
		}
		refreshed++
		// The refresh won and stored a successor; the logout that answered
		// success afterwards must have revoked it too.
		if stillRefreshes(t, []account.Store{a, b}, next, r, tok+"-s", now.Add(time.Millisecond)) {
			leaked++
		}
	}
	t.Logf("%d rounds, the refresh won %d, families leaked after logout: %d", raceRounds, refreshed, leaked)
	assert.Zero(t, leaked, "families whose successor still refreshed after a successful logout, of %d rounds", raceRounds)
}

// testRaceReplayRefresh is the replay of a used token R racing the
// legitimate refresh of its successor S: the replay is reuse and revokes the
// family, so whichever wins, no token of the family may refresh afterwards,
// S's successor included.
func testRaceReplayRefresh(t *testing.T, a, b account.Store) {
	ctx := t.Context()
	withUsers(t, a, "alice")
	leaked, refreshed := 0, 0
	for round := range raceRounds {
		now := t0.Add(time.Duration(round) * time.Second)
		fam, tok := fmt.Sprintf("fam-%03d", round), fmt.Sprintf("r-%03d", round)
		r := login(t, a, tok, fam, "alice", now)
		s := rotate(t, a, r, tok+"-s", now)
		later := now.Add(time.Millisecond)
		s2 := successor(tok+"-s2", s, later)
		var replayErr, rotErr error
		race2(
			func() { _, replayErr = b.RotateRefreshToken(ctx, r.Hash, successor(tok+"-evil", r, later), later) },
			func() { _, rotErr = a.RotateRefreshToken(ctx, s.Hash, s2, later) },
		)
		require.ErrorIs(t, replayErr, account.ErrRefreshReused, "round %d: the replay of a used token", round)
		if rotErr != nil {
			require.ErrorIs(t, rotErr, account.ErrRefreshReused, "round %d: a refresh that lost to the replay", round)
			continue
		}
		refreshed++
		if stillRefreshes(t, []account.Store{a, b}, s2, s, tok+"-s3", later.Add(time.Millisecond)) {
			leaked++
		}
	}
	t.Logf("%d rounds, the refresh won %d, families leaked after reuse detection: %d", raceRounds, refreshed, leaked)
	assert.Zero(t, leaked, "families whose successor still refreshed after reuse was detected, of %d rounds", raceRounds)
}

// stillRefreshes reports whether tok, a successor stored by a refresh that
// won its race against a revocation, can still be refreshed on any of
// stores at time at (a leaked family); otherwise every store must refuse it
// as reuse of a revoked family. parent and name make the next successors.
func stillRefreshes(t *testing.T, stores []account.Store, tok, parent account.RefreshToken, name string, at time.Time) bool {
	t.Helper()
	for i, st := range stores {
		_, err := st.RotateRefreshToken(t.Context(), tok.Hash, successor(fmt.Sprintf("%s-%d", name, i), parent, at), at)
		if err == nil {
			return true
		}
		require.ErrorIs(t, err, account.ErrRefreshReused, "the successor after the family was revoked")
	}
	return false
}
