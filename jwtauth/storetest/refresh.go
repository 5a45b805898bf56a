package storetest

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth/account"
)

var refreshTests = []subtest{
	{"RotateChain", testRefreshRotateChain},
	{"Reuse", testRefreshReuse},
	{"Expired", testRefreshExpired},
	{"NotFound", testRefreshNotFound},
	{"UnknownUser", testRefreshUnknownUser},
	{"CopiesBytes", testRefreshCopiesBytes},
	{"ConcurrentRotate", testRefreshConcurrentRotate},
	{"RevokeFamily", testRefreshRevokeFamily},
	{"Purge", testRefreshPurge},
	{"FamilyLifetime", testRefreshFamilyLifetime},
	{"RevokeUser", testRefreshRevokeUser},
	{"ByHash", testRefreshByHash},
	{"DPoPBinding", testRefreshDPoPBinding},
}

// refreshTTL is the lifetime of the suite's refresh tokens.
const refreshTTL = time.Hour

// withUsers creates the users the refresh tests need.
func withUsers(t *testing.T, s account.Store, names ...string) {
	t.Helper()
	for _, n := range names {
		require.NoError(t, s.CreateUser(t.Context(), account.User{Username: n, PasswordHash: hashA, CreatedAt: t0}))
	}
}

// login creates the first token of a family, issued at issued.
func login(t *testing.T, s account.Store, token, family, user string, issued time.Time) account.RefreshToken {
	t.Helper()
	rt := account.RefreshToken{Hash: hashOf(token), FamilyID: family, Username: user, IssuedAt: issued, ExpiresAt: issued.Add(refreshTTL)}
	require.NoError(t, s.CreateRefreshToken(t.Context(), rt))
	return rt
}

// successor is the token that replaces old at now: the caller fills family
// and username, the store sets the parent.
func successor(token string, old account.RefreshToken, now time.Time) account.RefreshToken {
	return account.RefreshToken{Hash: hashOf(token), FamilyID: old.FamilyID, Username: old.Username, IssuedAt: now, ExpiresAt: now.Add(refreshTTL)}
}

// rotate exchanges old for a new token named token at now and checks what
// the store returns; it returns the new token as stored.
func rotate(t *testing.T, s account.Store, old account.RefreshToken, token string, now time.Time) account.RefreshToken {
	t.Helper()
	next := successor(token, old, now)
	got, err := s.RotateRefreshToken(t.Context(), old.Hash, next, now)
	require.NoError(t, err)
	want := old
	want.IssuedAt, want.ExpiresAt, want.UsedAt = old.IssuedAt.UTC(), old.ExpiresAt.UTC(), now.UTC()
	want.FamilyExpiresAt = old.FamilyExpiresAt.UTC()
	assert.Equal(t, want, got, "RotateRefreshToken returns the old token, used at now")
	next.ParentHash, next.FamilyExpiresAt, next.JKT = old.Hash, old.FamilyExpiresAt.UTC(), old.JKT
	if !next.FamilyExpiresAt.IsZero() && next.ExpiresAt.After(next.FamilyExpiresAt) {
		next.ExpiresAt = next.FamilyExpiresAt
	}
	return next
}

// assertNoSecret asserts that err's message holds no token hash.
func assertNoSecret(t *testing.T, err error, hashes ...[]byte) {
	t.Helper()
	for _, h := range hashes {
		assert.NotContains(t, err.Error(), hex.EncodeToString(h), "error message leaks a token hash")
		assert.NotContains(t, err.Error(), string(h), "error message leaks a token hash")
	}
}

func testRefreshRotateChain(t *testing.T, s account.Store) {
	withUsers(t, s, "alice")
	t1 := login(t, s, "t1", "fam-1", "alice", t0.In(elsewhere))
	t2 := rotate(t, s, t1, "t2", t0.Add(time.Minute))
	t3 := rotate(t, s, t2, "t3", t0.Add(2*time.Minute)) // checks t2's parent is t1
	t4 := rotate(t, s, t3, "t4", t0.Add(3*time.Minute+7))
	assert.Equal(t, hashOf("t3"), t4.ParentHash)

	// A token is used once: t1 … t3 are spent, t4 is live until it is used.
	_, err := s.RotateRefreshToken(t.Context(), t4.Hash, successor("t5", t4, t0.Add(4*time.Minute)), t0.Add(4*time.Minute))
	require.NoError(t, err)
}

func testRefreshReuse(t *testing.T, s account.Store) {
	ctx := t.Context()
	withUsers(t, s, "alice")
	t1 := login(t, s, "t1", "fam-1", "alice", t0)
	other := login(t, s, "o1", "fam-2", "alice", t0) // another login of the same user
	t2 := rotate(t, s, t1, "t2", t0.Add(time.Minute))
	t3 := rotate(t, s, t2, "t3", t0.Add(2*time.Minute))

	// An attacker replays t1.
	got, err := s.RotateRefreshToken(ctx, t1.Hash, successor("evil", t1, t0.Add(3*time.Minute)), t0.Add(3*time.Minute))
	require.ErrorIs(t, err, account.ErrRefreshReused)
	assert.Equal(t, account.RefreshToken{}, got)
	assertNoSecret(t, err, t1.Hash, hashOf("evil"))

	// The whole family is revoked: the legitimate newest token fails too …
	_, err = s.RotateRefreshToken(ctx, t3.Hash, successor("t4", t3, t0.Add(4*time.Minute)), t0.Add(4*time.Minute))
	require.ErrorIs(t, err, account.ErrRefreshReused)
	// … and the reused call inserted nothing.
	_, err = s.RotateRefreshToken(ctx, hashOf("evil"), successor("x", t1, t0.Add(5*time.Minute)), t0.Add(5*time.Minute))
	require.ErrorIs(t, err, account.ErrRefreshNotFound)
	_, err = s.RotateRefreshToken(ctx, hashOf("t4"), successor("y", t1, t0.Add(5*time.Minute)), t0.Add(5*time.Minute))
	require.ErrorIs(t, err, account.ErrRefreshNotFound)

	// Another family is untouched.
	rotate(t, s, other, "o2", t0.Add(5*time.Minute))
}

func testRefreshExpired(t *testing.T, s account.Store) {
	ctx := t.Context()
	withUsers(t, s, "alice")
	t1 := login(t, s, "t1", "fam-1", "alice", t0)
	for _, now := range []time.Time{t1.ExpiresAt, t1.ExpiresAt.Add(1), t1.ExpiresAt.Add(24 * time.Hour)} {
		_, err := s.RotateRefreshToken(ctx, t1.Hash, successor("t2", t1, now), now)
		require.ErrorIs(t, err, account.ErrRefreshExpired, "at expiry + %s", now.Sub(t1.ExpiresAt))
		assertNoSecret(t, err, t1.Hash)
	}
	// Nothing changed: no successor was stored, and t1 is neither used nor
	// revoked, so it still rotates at a time before its expiry.
	_, err := s.RotateRefreshToken(ctx, hashOf("t2"), successor("t3", t1, t0), t0)
	require.ErrorIs(t, err, account.ErrRefreshNotFound)
	rotate(t, s, t1, "t2", t1.ExpiresAt.Add(-1))
}

func testRefreshNotFound(t *testing.T, s account.Store) {
	ctx := t.Context()
	withUsers(t, s, "alice")
	login(t, s, "t1", "fam-1", "alice", t0)
	unknown := hashOf("never issued")
	_, err := s.RotateRefreshToken(ctx, unknown, account.RefreshToken{Hash: hashOf("t2"), FamilyID: "fam-1", Username: "alice", IssuedAt: t0, ExpiresAt: t0.Add(refreshTTL)}, t0)
	require.ErrorIs(t, err, account.ErrRefreshNotFound)
	assertNoSecret(t, err, unknown)
	_, err = s.RevokeRefreshFamily(ctx, unknown, t0)
	require.ErrorIs(t, err, account.ErrRefreshNotFound)
	// The failed rotation stored nothing.
	_, err = s.RotateRefreshToken(ctx, hashOf("t2"), account.RefreshToken{Hash: hashOf("t3"), FamilyID: "fam-1", Username: "alice", IssuedAt: t0, ExpiresAt: t0.Add(refreshTTL)}, t0)
	require.ErrorIs(t, err, account.ErrRefreshNotFound)
}

func testRefreshUnknownUser(t *testing.T, s account.Store) {
	err := s.CreateRefreshToken(t.Context(), account.RefreshToken{Hash: hashOf("t1"), FamilyID: "fam-1", Username: "nobody", IssuedAt: t0, ExpiresAt: t0.Add(refreshTTL)})
	require.ErrorIs(t, err, account.ErrUserNotFound)
	_, err = s.RevokeRefreshFamily(t.Context(), hashOf("t1"), t0)
	require.ErrorIs(t, err, account.ErrRefreshNotFound, "the token was stored anyway")
}

func testRefreshCopiesBytes(t *testing.T, s account.Store) {
	ctx := t.Context()
	withUsers(t, s, "alice")
	h := hashOf("t1")
	require.NoError(t, s.CreateRefreshToken(ctx, account.RefreshToken{Hash: h, FamilyID: "fam-1", Username: "alice", IssuedAt: t0, ExpiresAt: t0.Add(refreshTTL)}))
	h[0] ^= 0xff // the caller reuses its buffer

	next := successor("t2", account.RefreshToken{FamilyID: "fam-1", Username: "alice"}, t0)
	old, err := s.RotateRefreshToken(ctx, hashOf("t1"), next, t0)
	require.NoError(t, err, "the store kept the caller's hash slice")
	assert.Equal(t, hashOf("t1"), old.Hash)
	old.Hash[0] ^= 0xff  // scribble on what the store returned
	next.Hash[1] ^= 0xff // and on what it was given

	t3 := successor("t3", account.RefreshToken{FamilyID: "fam-1", Username: "alice"}, t0.Add(time.Second))
	old, err = s.RotateRefreshToken(ctx, hashOf("t2"), t3, t0.Add(time.Second))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(hashOf("t1"), old.ParentHash), "stored parent changed through a caller's slice")
	// t1 is used: replaying it is detected, with its hash intact.
	_, err = s.RotateRefreshToken(ctx, hashOf("t1"), successor("t4", t3, t0), t0.Add(2*time.Second))
	require.ErrorIs(t, err, account.ErrRefreshReused)
}

func testRefreshConcurrentRotate(t *testing.T, s account.Store) {
	ctx := t.Context()
	withUsers(t, s, "alice")
	t1 := login(t, s, "t1", "fam-1", "alice", t0)
	const n = 50
	now := t0.Add(time.Minute)
	olds := make([]account.RefreshToken, n)
	errs := race(n, func(i int) error {
		var err error
		olds[i], err = s.RotateRefreshToken(ctx, t1.Hash, successor(fmt.Sprintf("t2-%02d", i), t1, now), now)
		return err
	})
	winner := exactlyOneWins(t, errs, account.ErrRefreshReused)
	require.GreaterOrEqual(t, winner, 0)
	assert.Equal(t, t1.Hash, olds[winner].Hash)
	// Reuse was detected, so the winner's token is revoked with its family.
	_, err := s.RotateRefreshToken(ctx, hashOf(fmt.Sprintf("t2-%02d", winner)), successor("t3", t1, now), now.Add(time.Second))
	require.ErrorIs(t, err, account.ErrRefreshReused)
	// The losers' successors were never stored.
	for i := range n {
		if i == winner {
			continue
		}
		_, err := s.RevokeRefreshFamily(ctx, hashOf(fmt.Sprintf("t2-%02d", i)), now)
		require.ErrorIs(t, err, account.ErrRefreshNotFound, "successor %d", i)
	}
}

func testRefreshRevokeFamily(t *testing.T, s account.Store) {
	ctx := t.Context()
	withUsers(t, s, "alice", "bob")
	a1 := login(t, s, "a1", "fam-a", "alice", t0)
	a2 := rotate(t, s, a1, "a2", t0.Add(time.Minute))
	b1 := login(t, s, "b1", "fam-b", "bob", t0)
	c1 := login(t, s, "c1", "fam-c", "alice", t0)

	// Logout presents the live token; revoking through a spent one works too.
	fam, err := s.RevokeRefreshFamily(ctx, a2.Hash, t0.Add(2*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, "fam-a", fam)
	fam, err = s.RevokeRefreshFamily(ctx, a1.Hash, t0.Add(3*time.Minute)) // again: idempotent
	require.NoError(t, err)
	assert.Equal(t, "fam-a", fam)

	_, err = s.RotateRefreshToken(ctx, a2.Hash, successor("a3", a2, t0.Add(4*time.Minute)), t0.Add(4*time.Minute))
	require.ErrorIs(t, err, account.ErrRefreshReused)
	// Other families, of the same user and of another, are untouched.
	rotate(t, s, b1, "b2", t0.Add(4*time.Minute))
	rotate(t, s, c1, "c2", t0.Add(4*time.Minute))
}

func testRefreshPurge(t *testing.T, s account.Store) {
	ctx := t.Context()
	withUsers(t, s, "alice")
	cut := t0.Add(2 * time.Hour)

	// fam-old: two tokens, both expired before the cut → purged.
	o1 := login(t, s, "o1", "fam-old", "alice", t0)
	rotate(t, s, o1, "o2", t0.Add(30*time.Minute)) // expires t0+1h30
	// fam-mixed: the first token expired, its successor did not → kept.
	m1 := login(t, s, "m1", "fam-mixed", "alice", t0)
	m2 := rotate(t, s, m1, "m2", t0.Add(59*time.Minute)) // expires t0+1h59
	m3 := rotate(t, s, m2, "m3", t0.Add(90*time.Minute)) // expires t0+2h30
	// fam-edge: expires exactly at the cut → kept (not expired before it).
	login(t, s, "e1", "fam-edge", "alice", cut.Add(-refreshTTL))
	// fam-revoked: revoked but expired before the cut → purged.
	r1 := login(t, s, "r1", "fam-revoked", "alice", t0)
	_, err := s.RevokeRefreshFamily(ctx, r1.Hash, t0.Add(time.Minute))
	require.NoError(t, err)

	n, err := s.PurgeRefreshTokens(ctx, cut)
	require.NoError(t, err)
	assert.Equal(t, int64(3), n, "o1, o2 and r1")

	for _, gone := range []string{"o1", "o2", "r1"} {
		_, err := s.RevokeRefreshFamily(ctx, hashOf(gone), cut)
		assert.ErrorIs(t, err, account.ErrRefreshNotFound, "%s survived the purge", gone)
	}
	// The kept families still behave: m1 and m2 are spent (reuse), m3 is live.
	rotate(t, s, m3, "m4", cut)
	fam, err := s.RevokeRefreshFamily(ctx, hashOf("e1"), cut)
	require.NoError(t, err)
	assert.Equal(t, "fam-edge", fam)
	_, err = s.RevokeRefreshFamily(ctx, m1.Hash, cut)
	require.NoError(t, err, "a family with a live token lost its expired token")

	n, err = s.PurgeRefreshTokens(ctx, cut)
	require.NoError(t, err)
	assert.Equal(t, int64(0), n, "a second purge at the same cut")
}

// testRefreshByHash: RefreshTokenByHash returns a token as stored in every
// state, changes nothing (the token read still rotates once), and names an
// unknown hash ErrRefreshNotFound.
func testRefreshByHash(t *testing.T, s account.Store) {
	ctx := t.Context()
	withUsers(t, s, "alice")
	t1 := login(t, s, "t1", "fam-1", "alice", t0.In(elsewhere))
	for range 2 { // reading twice changes nothing either
		got, err := s.RefreshTokenByHash(ctx, t1.Hash)
		require.NoError(t, err)
		assert.Equal(t, "alice", got.Username)
		assert.Equal(t, "fam-1", got.FamilyID)
		assert.Equal(t, t1.Hash, got.Hash)
		assert.True(t, got.UsedAt.IsZero(), "a fresh token is unused")
		assert.True(t, got.RevokedAt.IsZero())
		assert.True(t, t1.ExpiresAt.Equal(got.ExpiresAt), "ExpiresAt %s, want %s", got.ExpiresAt, t1.ExpiresAt)
	}
	used := t0.Add(time.Minute)
	t2 := rotate(t, s, t1, "t2", used)
	got, err := s.RefreshTokenByHash(ctx, t1.Hash)
	require.NoError(t, err)
	assert.True(t, used.Equal(got.UsedAt), "UsedAt %s, want %s", got.UsedAt, used)
	got, err = s.RefreshTokenByHash(ctx, t2.Hash)
	require.NoError(t, err)
	assert.Equal(t, t1.Hash, got.ParentHash)
	assert.Equal(t, "alice", got.Username)

	_, err = s.RefreshTokenByHash(ctx, hashOf("unknown"))
	require.ErrorIs(t, err, account.ErrRefreshNotFound)
	assertNoSecret(t, err, hashOf("unknown"))
}
