package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth/account"
)

// raceAdmin returns a and b as account.UserAdminStore, skipping the test
// when they are not.
func raceAdmin(t *testing.T, a, b account.Store) (account.UserAdminStore, account.UserAdminStore) {
	t.Helper()
	aa, ok1 := a.(account.UserAdminStore)
	ba, ok2 := b.(account.UserAdminStore)
	if !ok1 || !ok2 {
		t.Skipf("%T does not implement the optional account.UserAdminStore", a)
	}
	return aa, ba
}

// testRaceDisableLogin is a login storing its new family racing the
// disabling of its user: whichever wins, no session of the user may
// refresh afterwards (a family stored first is revoked by the disable, one
// stored after is refused), and a rotation racing the disable leaves no
// successor alive either.
func testRaceDisableLogin(t *testing.T, a, b account.Store) {
	ctx := t.Context()
	_, bAdmin := raceAdmin(t, a, b)
	rounds := raceRounds / 2
	leaked, created := 0, 0
	for round := range rounds {
		name := fmt.Sprintf("u%03d", round)
		withUsers(t, a, name)
		now := t0.Add(time.Duration(round) * time.Second)
		r := login(t, a, name+"-r", name+"-fam", name, now)
		next := successor(name+"-r-s", r, now)
		fresh := account.RefreshToken{Hash: hashOf(name + "-new"), FamilyID: name + "-fam2", Username: name, IssuedAt: now, ExpiresAt: now.Add(refreshTTL)}
		var createErr, rotErr, disErr error
		race2(
			func() {
				createErr = a.CreateRefreshToken(ctx, fresh)
				_, rotErr = a.RotateRefreshToken(ctx, r.Hash, next, now)
			},
			func() { disErr = bAdmin.SetUserDisabled(ctx, name, true, now) },
		)
		require.NoError(t, disErr, "round %d: disable", round)
		if createErr != nil {
			require.ErrorIs(t, createErr, account.ErrUserDisabled, "round %d: a login that lost to the disable", round)
		} else {
			created++
			if stillRefreshes(t, []account.Store{a, b}, fresh, fresh, name+"-new-s", now.Add(time.Millisecond)) {
				leaked++
			}
		}
		if rotErr == nil && stillRefreshes(t, []account.Store{a, b}, next, r, name+"-r-s2", now.Add(time.Millisecond)) {
			leaked++
		} else if rotErr != nil {
			require.ErrorIs(t, rotErr, account.ErrRefreshReused, "round %d: a refresh that lost to the disable", round)
		}
	}
	t.Logf("%d rounds, the login won %d, sessions alive after the disable: %d", rounds, created, leaked)
	assert.Zero(t, leaked, "sessions that still refreshed after their user was disabled, of %d rounds", rounds)
}

// testRaceDeleteRegister is the deletion of a user racing a registration
// of the same name: the name is never given again, whichever wins.
func testRaceDeleteRegister(t *testing.T, a, b account.Store) {
	ctx := t.Context()
	_, bAdmin := raceAdmin(t, a, b)
	rounds := raceRounds / 2
	taken := 0
	for round := range rounds {
		name := fmt.Sprintf("d%03d", round)
		withUsers(t, a, name)
		login(t, a, name+"-r", name+"-fam", name, t0)
		var createErr, delErr error
		race2(
			func() {
				createErr = a.CreateUser(ctx, account.User{Username: name, PasswordHash: hashB, CreatedAt: t0})
			},
			func() { delErr = bAdmin.DeleteUser(ctx, name, t0) },
		)
		require.NoError(t, delErr, "round %d: delete", round)
		if !errors.Is(createErr, account.ErrUserExists) {
			taken++
		}
		_, err := b.UserByName(ctx, name)
		require.ErrorIs(t, err, account.ErrUserNotFound, "round %d: the user stays deleted", round)
	}
	assert.Zero(t, taken, "registrations that took the name of a user deleted at the same time, of %d rounds", rounds)
}
