package storetest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/keys"
)

var lifecycleTests = []subtest{
	{"Ping", testPing},
	{"CanceledContext", testCanceledContext},
	{"Closed", testClosed},
}

// call is one method call of the Store interface, for the tests that call
// them all.
type call struct {
	name string
	fn   func(ctx context.Context, s account.Store) error
}

// everyCall calls every method of account.Store but Close, with arguments
// that would succeed on the store seeded by seed.
var everyCall = []call{
	{"Ping", func(ctx context.Context, s account.Store) error { return s.Ping(ctx) }},
	{"CreateUser", func(ctx context.Context, s account.Store) error {
		return s.CreateUser(ctx, account.User{Username: "bob", PasswordHash: hashB, CreatedAt: t0})
	}},
	{"UserByName", func(ctx context.Context, s account.Store) error { _, err := s.UserByName(ctx, "alice"); return err }},
	{"UpdatePasswordHash", func(ctx context.Context, s account.Store) error { return s.UpdatePasswordHash(ctx, "alice", hashB) }},
	{"LoadKeys", func(ctx context.Context, s account.Store) error { _, _, err := s.LoadKeys(ctx); return err }},
	{"KeysVersion", func(ctx context.Context, s account.Store) error { _, err := s.KeysVersion(ctx); return err }},
	{"ApplyKeys", func(ctx context.Context, s account.Store) error {
		_, err := s.ApplyKeys(ctx, 1, keys.Change{Put: []keys.Record{record("kid-b", keys.StateNext, t0)}})
		return err
	}},
	{"CreateRefreshToken", func(ctx context.Context, s account.Store) error {
		return s.CreateRefreshToken(ctx, account.RefreshToken{Hash: hashOf("u1"), FamilyID: "fam-u", Username: "alice", IssuedAt: t0, ExpiresAt: t0.Add(refreshTTL)})
	}},
	{"RotateRefreshToken", func(ctx context.Context, s account.Store) error {
		_, err := s.RotateRefreshToken(ctx, hashOf("t1"), account.RefreshToken{Hash: hashOf("t2"), FamilyID: "fam-1", Username: "alice", IssuedAt: t0, ExpiresAt: t0.Add(refreshTTL)}, t0)
		return err
	}},
	{"RevokeRefreshFamily", func(ctx context.Context, s account.Store) error {
		_, err := s.RevokeRefreshFamily(ctx, hashOf("t1"), t0)
		return err
	}},
	{"RevokeUserRefreshFamilies", func(ctx context.Context, s account.Store) error {
		_, err := s.RevokeUserRefreshFamilies(ctx, "alice", t0)
		return err
	}},
	{"PurgeRefreshTokens", func(ctx context.Context, s account.Store) error {
		_, err := s.PurgeRefreshTokens(ctx, t0.Add(10*refreshTTL))
		return err
	}},
}

// seed stores user alice (hashA), a key set with kid-a, and refresh token
// t1 of family fam-1.
func seed(t *testing.T, s account.Store) {
	t.Helper()
	ctx := t.Context()
	require.NoError(t, s.CreateUser(ctx, account.User{Username: "alice", PasswordHash: hashA, CreatedAt: t0}))
	v, err := s.ApplyKeys(ctx, 0, keys.Change{Put: []keys.Record{record("kid-a", keys.StateActive, t0)}})
	require.NoError(t, err)
	require.NotZero(t, v)
	login(t, s, "t1", "fam-1", "alice", t0)
}

func testPing(t *testing.T, s account.Store) {
	require.NoError(t, s.Ping(t.Context()))
	seed(t, s)
	require.NoError(t, s.Ping(t.Context()))
}

func testCanceledContext(t *testing.T, s account.Store) {
	seed(t, s)
	_, v0 := loadKeys(t, s)
	ctx := canceled(t)
	for _, c := range everyCall {
		assert.NotPanics(t, func() { assertCtxErr(t, c.fn(ctx, s), c.name) }, c.name)
	}

	// Nothing changed.
	ctx = t.Context()
	_, err := s.UserByName(ctx, "bob")
	assert.ErrorIs(t, err, account.ErrUserNotFound, "CreateUser with a canceled context stored the user")
	u, err := s.UserByName(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, hashA, u.PasswordHash, "UpdatePasswordHash with a canceled context changed the hash")
	recs, v := loadKeys(t, s)
	assert.Equal(t, v0, v, "ApplyKeys with a canceled context changed the version")
	assert.Len(t, recs, 1)
	_, err = s.RevokeRefreshFamily(ctx, hashOf("u1"), t0)
	assert.ErrorIs(t, err, account.ErrRefreshNotFound, "CreateRefreshToken with a canceled context stored the token")
	_, err = s.RevokeRefreshFamily(ctx, hashOf("t2"), t0)
	assert.ErrorIs(t, err, account.ErrRefreshNotFound, "RotateRefreshToken with a canceled context stored the successor")
	// t1 is neither used, revoked (alone or with every family of alice) nor
	// purged: it rotates.
	_, err = s.RotateRefreshToken(ctx, hashOf("t1"), account.RefreshToken{Hash: hashOf("t2"), FamilyID: "fam-1", Username: "alice", IssuedAt: t0, ExpiresAt: t0.Add(refreshTTL)}, t0)
	assert.NoError(t, err)
}

func testClosed(t *testing.T, s account.Store) {
	seed(t, s)
	require.NoError(t, s.Close())
	for _, c := range everyCall {
		assert.NotPanics(t, func() {
			err := c.fn(t.Context(), s)
			assert.ErrorIs(t, err, account.ErrStoreUnavailable, "%s after Close", c.name)
		}, c.name)
	}
	assert.NotPanics(t, func() { _ = s.Close() }, "second Close")
}
