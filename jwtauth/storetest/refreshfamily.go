package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth/account"
)

// testRefreshFamilyLifetime checks the absolute end of a family: stored
// with its first token, carried to every successor, and capping every
// token's expiry however often the family is rotated.
func testRefreshFamilyLifetime(t *testing.T, s account.Store) {
	ctx := t.Context()
	withUsers(t, s, "alice")
	end := t0.Add(90 * time.Minute) // the family's absolute end; tokens live refreshTTL = 1h
	t1 := account.RefreshToken{Hash: hashOf("t1"), FamilyID: "fam-1", Username: "alice", IssuedAt: t0, ExpiresAt: t0.Add(refreshTTL), FamilyExpiresAt: end.In(elsewhere)}
	require.NoError(t, s.CreateRefreshToken(ctx, t1))

	// Each rotation asks for a full hour; the successor gets at most the
	// family's end, and the returned record carries that end.
	t2 := rotate(t, s, t1, "t2", t0.Add(45*time.Minute)) // asks t0+1h45
	assert.Equal(t, end, t2.ExpiresAt)
	t3 := rotate(t, s, t2, "t3", end.Add(-time.Nanosecond)) // t2 expired at end, not before
	assert.Equal(t, end, t3.ExpiresAt)
	_, err := s.RotateRefreshToken(ctx, t3.Hash, successor("t4", t3, end), end)
	require.ErrorIs(t, err, account.ErrRefreshExpired, "a token at its family's end")
	_, err = s.RotateRefreshToken(ctx, t3.Hash, successor("t4", t3, end.Add(time.Hour)), end.Add(time.Hour))
	require.ErrorIs(t, err, account.ErrRefreshExpired)

	// A first token asking for more than its family's end gets the end.
	short := t0.Add(30 * time.Minute)
	require.NoError(t, s.CreateRefreshToken(ctx, account.RefreshToken{Hash: hashOf("s1"), FamilyID: "fam-s", Username: "alice", IssuedAt: t0, ExpiresAt: t0.Add(refreshTTL), FamilyExpiresAt: short}))
	_, err = s.RotateRefreshToken(ctx, hashOf("s1"), successor("s2", t1, short), short)
	require.ErrorIs(t, err, account.ErrRefreshExpired, "the first token outlived its family")
	old, err := s.RotateRefreshToken(ctx, hashOf("s1"), successor("s2", t1, short.Add(-1)), short.Add(-1))
	require.NoError(t, err)
	assert.Equal(t, short, old.ExpiresAt, "the stored expiry of the first token")
	assert.Equal(t, short, old.FamilyExpiresAt)

	// A family without an end: the successor keeps what it asked for.
	u1 := login(t, s, "u1", "fam-u", "alice", t0)
	u2 := rotate(t, s, u1, "u2", t0.Add(50*time.Minute))
	assert.Equal(t, t0.Add(50*time.Minute+refreshTTL), u2.ExpiresAt)
	assert.True(t, u2.FamilyExpiresAt.IsZero())
	rotate(t, s, u2, "u3", t0.Add(50*time.Minute+refreshTTL-1))
}

// testRefreshRevokeUser checks RevokeUserRefreshFamilies: every family of
// the user, and only those, is revoked; the count is of families it
// revoked; a later login is a new session.
func testRefreshRevokeUser(t *testing.T, s account.Store) {
	ctx := t.Context()
	withUsers(t, s, "alice", "bob", "carol")
	a1 := login(t, s, "a1", "fam-a", "alice", t0)
	a2 := rotate(t, s, a1, "a2", t0.Add(time.Minute))
	b1 := login(t, s, "b1", "fam-b", "alice", t0)
	c1 := login(t, s, "c1", "fam-c", "alice", t0)
	_, err := s.RevokeRefreshFamily(ctx, c1.Hash, t0.Add(time.Minute)) // logged out before
	require.NoError(t, err)
	o1 := login(t, s, "o1", "fam-o", "bob", t0)

	n, err := s.RevokeUserRefreshFamilies(ctx, "alice", t0.Add(2*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, int64(2), n, "fam-a and fam-b; fam-c was revoked already")
	for _, tok := range []account.RefreshToken{a2, b1} {
		_, err := s.RotateRefreshToken(ctx, tok.Hash, successor("x", tok, t0.Add(3*time.Minute)), t0.Add(3*time.Minute))
		require.ErrorIs(t, err, account.ErrRefreshReused, "family %s after revoking the user's sessions", tok.FamilyID)
	}
	rotate(t, s, o1, "o2", t0.Add(3*time.Minute)) // another user's family is untouched

	n, err = s.RevokeUserRefreshFamilies(ctx, "alice", t0.Add(4*time.Minute))
	require.NoError(t, err)
	assert.Zero(t, n, "a second revocation")
	n, err = s.RevokeUserRefreshFamilies(ctx, "carol", t0.Add(4*time.Minute))
	require.NoError(t, err)
	assert.Zero(t, n, "a user without sessions")
	_, err = s.RevokeUserRefreshFamilies(ctx, "nobody", t0.Add(4*time.Minute))
	require.ErrorIs(t, err, account.ErrUserNotFound)

	// A login after the revocation is a new session.
	d1 := login(t, s, "d1", "fam-d", "alice", t0.Add(5*time.Minute))
	rotate(t, s, d1, "d2", t0.Add(6*time.Minute))
}
