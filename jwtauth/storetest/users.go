package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth/account"
)

var userTests = []subtest{
	{"CreateAndGet", testCreateAndGetUser},
	{"Duplicate", testDuplicateUser},
	{"NotFound", testUserNotFound},
	{"UpdatePasswordHash", testUpdatePasswordHash},
	{"ParallelRegistration", testParallelRegistration},
}

const (
	hashA = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA"
	hashB = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"
)

func testCreateAndGetUser(t *testing.T, s account.Store) {
	ctx := t.Context()
	in := account.User{Username: "alice", PasswordHash: hashA, CreatedAt: t0.In(elsewhere)}
	require.NoError(t, s.CreateUser(ctx, in))
	got, err := s.UserByName(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, account.User{Username: "alice", PasswordHash: hashA, CreatedAt: t0}, got)

	// A second user is independent of the first.
	require.NoError(t, s.CreateUser(ctx, account.User{Username: "bob", PasswordHash: hashB, CreatedAt: t0.Add(time.Second)}))
	got, err = s.UserByName(ctx, "bob")
	require.NoError(t, err)
	assert.Equal(t, account.User{Username: "bob", PasswordHash: hashB, CreatedAt: t0.Add(time.Second)}, got)
	got, err = s.UserByName(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, hashA, got.PasswordHash)
}

func testDuplicateUser(t *testing.T, s account.Store) {
	ctx := t.Context()
	require.NoError(t, s.CreateUser(ctx, account.User{Username: "alice", PasswordHash: hashA, CreatedAt: t0}))
	err := s.CreateUser(ctx, account.User{Username: "alice", PasswordHash: hashB, CreatedAt: t0.Add(time.Hour)})
	require.ErrorIs(t, err, account.ErrUserExists)
	assert.NotContains(t, err.Error(), hashB, "error message leaks the password hash")
	got, err := s.UserByName(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, account.User{Username: "alice", PasswordHash: hashA, CreatedAt: t0}, got, "the original user changed")
}

func testUserNotFound(t *testing.T, s account.Store) {
	ctx := t.Context()
	require.NoError(t, s.CreateUser(ctx, account.User{Username: "alice", PasswordHash: hashA, CreatedAt: t0}))
	_, err := s.UserByName(ctx, "bob")
	assert.ErrorIs(t, err, account.ErrUserNotFound)
	err = s.UpdatePasswordHash(ctx, "bob", hashB)
	require.ErrorIs(t, err, account.ErrUserNotFound)
	assert.NotContains(t, err.Error(), hashB, "error message leaks the password hash")
	_, err = s.UserByName(ctx, "bob")
	assert.ErrorIs(t, err, account.ErrUserNotFound, "UpdatePasswordHash created a user")
}

func testUpdatePasswordHash(t *testing.T, s account.Store) {
	ctx := t.Context()
	require.NoError(t, s.CreateUser(ctx, account.User{Username: "alice", PasswordHash: hashB, CreatedAt: t0}))
	require.NoError(t, s.CreateUser(ctx, account.User{Username: "bob", PasswordHash: hashB, CreatedAt: t0}))
	require.NoError(t, s.UpdatePasswordHash(ctx, "alice", hashA))
	got, err := s.UserByName(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, account.User{Username: "alice", PasswordHash: hashA, CreatedAt: t0}, got)
	got, err = s.UserByName(ctx, "bob")
	require.NoError(t, err)
	assert.Equal(t, hashB, got.PasswordHash, "another user's hash changed")
}

func testParallelRegistration(t *testing.T, s account.Store) {
	ctx := t.Context()
	const n = 20
	errs := race(n, func(i int) error {
		return s.CreateUser(ctx, account.User{Username: "carol", PasswordHash: fmt.Sprintf("hash-%02d", i), CreatedAt: t0.Add(time.Duration(i))})
	})
	winner := exactlyOneWins(t, errs, account.ErrUserExists)
	require.GreaterOrEqual(t, winner, 0)
	got, err := s.UserByName(ctx, "carol")
	require.NoError(t, err)
	assert.Equal(t, account.User{Username: "carol", PasswordHash: fmt.Sprintf("hash-%02d", winner), CreatedAt: t0.Add(time.Duration(winner))}, got,
		"the stored user is not the one whose registration succeeded")
}
