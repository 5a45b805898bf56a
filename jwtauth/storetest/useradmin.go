package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth/account"
)

// userAdminTests check account.UserAdminStore: the listing, the disabled
// flag and the sessions it revokes, deletion with its tombstone, the last
// login, and account.ThrottleDeleteStore.
var userAdminTests = []subtest{
	{"ListAndLastLogin", testListUsers},
	{"DisableRevokesSessions", testDisableUser},
	{"DeleteLeavesTombstone", testDeleteUser},
	{"UnknownUser", testAdminUnknownUser},
	{"DeleteThrottle", testDeleteThrottle},
}

// adminStore returns s as an account.UserAdminStore, skipping the test
// (the extension is optional) when it is not one.
func adminStore(t *testing.T, s account.Store) account.UserAdminStore {
	t.Helper()
	as, ok := s.(account.UserAdminStore)
	if !ok {
		t.Skipf("%T does not implement the optional account.UserAdminStore", s)
	}
	return as
}

func testListUsers(t *testing.T, s account.Store) {
	ctx := t.Context()
	as := adminStore(t, s)
	got, err := as.ListUsers(ctx)
	require.NoError(t, err)
	assert.Empty(t, got, "a new store lists no users")
	withUsers(t, s, "carol", "alice")
	require.NoError(t, s.CreateUser(ctx, account.User{Username: "bob", PasswordHash: hashB, CreatedAt: t0.Add(time.Second).In(elsewhere)}))
	require.NoError(t, as.RecordLogin(ctx, "alice", t0.Add(time.Hour).In(elsewhere)))
	require.NoError(t, as.SetUserDisabled(ctx, "bob", true, t0))
	got, err = as.ListUsers(ctx)
	require.NoError(t, err)
	assert.Equal(t, []account.User{
		{Username: "alice", CreatedAt: t0, LastLoginAt: t0.Add(time.Hour)},
		{Username: "bob", CreatedAt: t0.Add(time.Second), Disabled: true},
		{Username: "carol", CreatedAt: t0},
	}, got, "ordered by name, no password hash, times in UTC to the nanosecond")

	u, err := s.UserByName(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, account.User{Username: "alice", PasswordHash: hashA, CreatedAt: t0, LastLoginAt: t0.Add(time.Hour)}, u)
	u, err = s.UserByName(ctx, "bob")
	require.NoError(t, err)
	assert.True(t, u.Disabled, "UserByName reports the flag")
	require.NoError(t, as.SetUserDisabled(ctx, "bob", false, t0))
	u, err = s.UserByName(ctx, "bob")
	require.NoError(t, err)
	assert.False(t, u.Disabled, "enabled again")
	require.NoError(t, s.UpdatePasswordHash(ctx, "alice", hashB))
	u, err = s.UserByName(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, t0.Add(time.Hour), u.LastLoginAt, "a password change keeps the last login")
}

func testDisableUser(t *testing.T, s account.Store) {
	ctx := t.Context()
	as := adminStore(t, s)
	withUsers(t, s, "alice", "bob")
	a1 := login(t, s, "a1", "fam-a1", "alice", t0)
	a2 := login(t, s, "a2", "fam-a2", "alice", t0)
	a2s := rotate(t, s, a2, "a2-s", t0.Add(time.Second))
	b1 := login(t, s, "b1", "fam-b1", "bob", t0)

	later := t0.Add(time.Minute)
	require.NoError(t, as.SetUserDisabled(ctx, "alice", true, later))
	require.NoError(t, as.SetUserDisabled(ctx, "alice", true, later.Add(time.Second)), "disabling twice is no error")
	for _, tok := range []account.RefreshToken{a1, a2s} {
		_, err := s.RotateRefreshToken(ctx, tok.Hash, successor(fmt.Sprintf("%x-n", tok.Hash[:4]), tok, later.Add(time.Minute)), later.Add(time.Minute))
		require.ErrorIs(t, err, account.ErrRefreshReused, "a session of a disabled user is revoked")
		got, err := s.RefreshTokenByHash(ctx, tok.Hash)
		require.NoError(t, err)
		assert.Equal(t, later, got.RevokedAt, "revoked at the first disable")
	}
	err := s.CreateRefreshToken(ctx, account.RefreshToken{Hash: hashOf("a3"), FamilyID: "fam-a3", Username: "alice", IssuedAt: later, ExpiresAt: later.Add(refreshTTL)})
	require.ErrorIs(t, err, account.ErrUserDisabled, "no session starts for a disabled user")
	_, err = s.RefreshTokenByHash(ctx, hashOf("a3"))
	require.ErrorIs(t, err, account.ErrRefreshNotFound, "nothing stored")
	rotate(t, s, b1, "b1-s", later) // bob is not touched

	require.NoError(t, as.SetUserDisabled(ctx, "alice", false, later))
	login(t, s, "a4", "fam-a4", "alice", later) // a session starts again
	_, err = s.RotateRefreshToken(ctx, a1.Hash, successor("a1-x", a1, later), later)
	require.ErrorIs(t, err, account.ErrRefreshReused, "enabling restores no session")
}

func testDeleteUser(t *testing.T, s account.Store) {
	ctx := t.Context()
	as := adminStore(t, s)
	withUsers(t, s, "alice", "bob")
	a1 := login(t, s, "a1", "fam-a1", "alice", t0)
	a1s := rotate(t, s, a1, "a1-s", t0.Add(time.Second))
	b1 := login(t, s, "b1", "fam-b1", "bob", t0)
	later := t0.Add(time.Minute)

	require.NoError(t, as.DeleteUser(ctx, "alice", later))
	_, err := s.UserByName(ctx, "alice")
	require.ErrorIs(t, err, account.ErrUserNotFound, "the user is gone")
	for _, tok := range []account.RefreshToken{a1, a1s} {
		_, err := s.RefreshTokenByHash(ctx, tok.Hash)
		require.ErrorIs(t, err, account.ErrRefreshNotFound, "its refresh tokens are gone")
		_, err = s.RotateRefreshToken(ctx, tok.Hash, successor("x", tok, later), later)
		require.ErrorIs(t, err, account.ErrRefreshNotFound)
	}
	err = s.CreateUser(ctx, account.User{Username: "alice", PasswordHash: hashB, CreatedAt: later})
	require.ErrorIs(t, err, account.ErrUserExists, "the name stays reserved")
	_, err = s.UserByName(ctx, "alice")
	require.ErrorIs(t, err, account.ErrUserNotFound, "the refused registration stored nothing")
	err = s.CreateRefreshToken(ctx, account.RefreshToken{Hash: hashOf("a2"), FamilyID: "fam-a2", Username: "alice", IssuedAt: later, ExpiresAt: later.Add(refreshTTL)})
	require.ErrorIs(t, err, account.ErrUserNotFound, "no session for a deleted user")
	require.ErrorIs(t, as.DeleteUser(ctx, "alice", later), account.ErrUserNotFound, "a second delete")
	_, err = s.RevokeUserRefreshFamilies(ctx, "alice", later)
	require.ErrorIs(t, err, account.ErrUserNotFound)
	require.ErrorIs(t, s.UpdatePasswordHash(ctx, "alice", hashA), account.ErrUserNotFound)
	require.ErrorIs(t, as.SetUserDisabled(ctx, "alice", true, later), account.ErrUserNotFound)

	got, err := as.ListUsers(ctx)
	require.NoError(t, err)
	assert.Equal(t, []account.User{{Username: "bob", CreatedAt: t0}}, got, "a tombstone is not listed")
	rotate(t, s, b1, "b1-s", later) // bob is not touched
}

func testAdminUnknownUser(t *testing.T, s account.Store) {
	ctx := t.Context()
	as := adminStore(t, s)
	withUsers(t, s, "alice")
	require.ErrorIs(t, as.SetUserDisabled(ctx, "bob", true, t0), account.ErrUserNotFound)
	require.ErrorIs(t, as.SetUserDisabled(ctx, "bob", false, t0), account.ErrUserNotFound)
	require.ErrorIs(t, as.DeleteUser(ctx, "bob", t0), account.ErrUserNotFound)
	require.ErrorIs(t, as.RecordLogin(ctx, "bob", t0), account.ErrUserNotFound)
	require.NoError(t, s.CreateUser(ctx, account.User{Username: "bob", PasswordHash: hashA, CreatedAt: t0}),
		"a failed delete leaves no tombstone")
}

func testDeleteThrottle(t *testing.T, s account.Store) {
	ctx := t.Context()
	ds, ok := s.(account.ThrottleDeleteStore)
	if !ok {
		t.Skipf("%T does not implement the optional account.ThrottleDeleteStore", s)
	}
	user := bucket("user", "alice", 1, time.Hour)
	addr := bucket("address", "alice", 1, time.Hour)
	assert.Zero(t, take(t, ds, t0, user, addr))
	assert.Positive(t, take(t, ds, t0, user), "empty")
	require.NoError(t, ds.DeleteThrottle(ctx, []account.ThrottleBucket{user, bucket("user", "nobody", 1, time.Hour)}),
		"an absent bucket is no error")
	assert.Zero(t, take(t, ds, t0, user), "deleted: full again")
	assert.Positive(t, take(t, ds, t0, addr), "a bucket of another kind with the same key is kept")
}
