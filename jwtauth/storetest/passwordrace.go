package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth/account"
)

// testRaceRevokeUserRefresh is a password change (RevokeUserRefreshFamilies,
// as Accounts.ChangePassword calls it) racing a refresh of one of the user's
// tokens R, while another family of the user sits idle: the revocation
// succeeds and counts both families, so whichever wins, no token of either
// family may refresh afterwards, the successor the refresh may have stored
// included.
func testRaceRevokeUserRefresh(t *testing.T, a, b account.Store) {
	ctx := t.Context()
	withUsers(t, a, "alice")
	leaked, refreshed := 0, 0
	for round := range raceRounds {
		now := t0.Add(time.Duration(round) * time.Second)
		tok := fmt.Sprintf("u-%03d", round)
		r := login(t, a, tok, "ufam-"+tok, "alice", now)
		idle := login(t, b, tok+"-idle", "ufam-idle-"+tok, "alice", now)
		next := successor(tok+"-s", r, now)
		var rotErr, revErr error
		var n int64
		race2(
			func() { _, rotErr = a.RotateRefreshToken(ctx, r.Hash, next, now) },
			func() { n, revErr = b.RevokeUserRefreshFamilies(ctx, "alice", now) },
		)
		require.NoError(t, revErr, "round %d: revoke the user's families", round)
		require.Equal(t, int64(2), n, "round %d: both families of the round were unrevoked", round)
		if stillRefreshes(t, []account.Store{a, b}, idle, idle, tok+"-idle-s", now.Add(time.Millisecond)) {
			leaked++
		}
		if rotErr != nil {
			require.ErrorIs(t, rotErr, account.ErrRefreshReused, "round %d: a refresh that lost to the revocation", round)
			continue
		}
		refreshed++
		if stillRefreshes(t, []account.Store{a, b}, next, r, tok+"-s2", now.Add(time.Millisecond)) {
			leaked++
		}
	}
	t.Logf("%d rounds, the refresh won %d, families leaked after the user's revocation: %d", raceRounds, refreshed, leaked)
	assert.Zero(t, leaked, "families with a token that still refreshed after RevokeUserRefreshFamilies returned, of %d rounds", raceRounds)
}
