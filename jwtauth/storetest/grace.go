package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth/account"
)

// graceTests check account.RefreshTokenGraceStore. Run fails them for a
// store that does not implement it; RunWithoutRefreshGrace skips them.
var graceTests = []subtest{
	{"RetryWithinGrace", testGraceRetry},
	{"AfterGrace", testGraceAfter},
	{"SuccessorUsed", testGraceSuccessorUsed},
	{"OtherSuccessor", testGraceOtherSuccessor},
	{"Revoked", testGraceRevoked},
	{"Expired", testGraceExpired},
	{"ZeroGrace", testGraceZero},
	{"ReuseReportsFamily", testGraceReuseReportsFamily},
	{"ConcurrentRetries", testGraceConcurrent},
}

// grace is the reuse grace interval of the suite.
const grace = 10 * time.Second

// graceStore returns s as a RefreshTokenGraceStore; run has checked that it is one.
func graceStore(t *testing.T, s account.Store) account.RefreshTokenGraceStore {
	t.Helper()
	g, ok := s.(account.RefreshTokenGraceStore)
	if !ok {
		t.Fatalf("%T does not implement account.RefreshTokenGraceStore", s)
	}
	return g
}

// graceRotate exchanges old for token at now with the suite's grace.
func graceRotate(t *testing.T, g account.RefreshTokenGraceStore, old account.RefreshToken, token string, now time.Time) (account.RefreshToken, error) {
	t.Helper()
	return g.RotateRefreshTokenGrace(t.Context(), old.Hash, successor(token, old, now), now, grace)
}

func testGraceRetry(t *testing.T, s account.Store) {
	g := graceStore(t, s)
	withUsers(t, s, "alice")
	t1 := login(t, s, "t1", "fam-1", "alice", t0)
	used := t0.Add(time.Minute)
	first, err := graceRotate(t, g, t1, "t2", used)
	require.NoError(t, err)
	assert.Equal(t, used.UTC(), first.UsedAt)

	// A retry just inside the grace with the same successor succeeds and
	// changes nothing: the old record keeps the time of the first exchange.
	again, err := graceRotate(t, g, t1, "t2", used.Add(grace-1))
	require.NoError(t, err)
	assert.Equal(t, first, again)
	again, err = graceRotate(t, g, t1, "t2", used.In(elsewhere))
	require.NoError(t, err, "a retry at the same instant")
	assert.Equal(t, first, again)

	// t2 is live and single: it rotates once.
	t2 := successor("t2", t1, used)
	_, err = s.RotateRefreshToken(t.Context(), t2.Hash, successor("t3", t2, used.Add(time.Second)), used.Add(time.Second))
	require.NoError(t, err)
}

func testGraceAfter(t *testing.T, s account.Store) {
	g := graceStore(t, s)
	withUsers(t, s, "alice")
	t1 := login(t, s, "t1", "fam-1", "alice", t0)
	_, err := graceRotate(t, g, t1, "t2", t0)
	require.NoError(t, err)
	_, err = graceRotate(t, g, t1, "t2", t0.Add(grace))
	require.ErrorIs(t, err, account.ErrRefreshReused, "the grace ends at UsedAt + grace")
	_, err = s.RotateRefreshToken(t.Context(), hashOf("t2"), successor("t3", t1, t0.Add(grace)), t0.Add(grace))
	require.ErrorIs(t, err, account.ErrRefreshReused, "the family is revoked")
}

func testGraceSuccessorUsed(t *testing.T, s account.Store) {
	g := graceStore(t, s)
	withUsers(t, s, "alice")
	t1 := login(t, s, "t1", "fam-1", "alice", t0)
	_, err := graceRotate(t, g, t1, "t2", t0)
	require.NoError(t, err)
	_, err = graceRotate(t, g, successor("t2", t1, t0), "t3", t0.Add(time.Second))
	require.NoError(t, err)
	// The client moved on: presenting t1 again is reuse even within the grace.
	_, err = graceRotate(t, g, t1, "t2", t0.Add(2*time.Second))
	require.ErrorIs(t, err, account.ErrRefreshReused)
	_, err = s.RotateRefreshToken(t.Context(), hashOf("t3"), successor("t4", t1, t0), t0.Add(3*time.Second))
	require.ErrorIs(t, err, account.ErrRefreshReused, "the family is revoked")
}

func testGraceOtherSuccessor(t *testing.T, s account.Store) {
	g := graceStore(t, s)
	withUsers(t, s, "alice")
	t1 := login(t, s, "t1", "fam-1", "alice", t0)
	_, err := graceRotate(t, g, t1, "t2", t0)
	require.NoError(t, err)
	// A retry asking for another successor would open a second branch: reuse.
	_, err = graceRotate(t, g, t1, "t2-other", t0.Add(time.Second))
	require.ErrorIs(t, err, account.ErrRefreshReused)
	_, err = s.RevokeRefreshFamily(t.Context(), hashOf("t2-other"), t0)
	require.ErrorIs(t, err, account.ErrRefreshNotFound, "nothing was inserted")
	// A successor of another family does not count either.
	u1 := login(t, s, "u1", "fam-2", "alice", t0)
	_, err = graceRotate(t, g, u1, "u2", t0)
	require.NoError(t, err)
	v1 := login(t, s, "v1", "fam-3", "alice", t0)
	_, err = graceRotate(t, g, v1, "v2", t0)
	require.NoError(t, err)
	_, err = graceRotate(t, g, v1, "u2", t0.Add(time.Second))
	require.ErrorIs(t, err, account.ErrRefreshReused)
}

func testGraceRevoked(t *testing.T, s account.Store) {
	g := graceStore(t, s)
	withUsers(t, s, "alice")
	t1 := login(t, s, "t1", "fam-1", "alice", t0)
	_, err := graceRotate(t, g, t1, "t2", t0)
	require.NoError(t, err)
	_, err = s.RevokeRefreshFamily(t.Context(), hashOf("t2"), t0.Add(time.Second))
	require.NoError(t, err)
	_, err = graceRotate(t, g, t1, "t2", t0.Add(2*time.Second))
	require.ErrorIs(t, err, account.ErrRefreshReused, "logout ends the grace")
}

func testGraceExpired(t *testing.T, s account.Store) {
	g := graceStore(t, s)
	withUsers(t, s, "alice")
	t1 := login(t, s, "t1", "fam-1", "alice", t0)
	used := t1.ExpiresAt.Add(-time.Second)
	_, err := graceRotate(t, g, t1, "t2", used)
	require.NoError(t, err)
	_, err = graceRotate(t, g, t1, "t2", t1.ExpiresAt)
	require.ErrorIs(t, err, account.ErrRefreshExpired)
	// Nothing changed: t2 is live.
	t2 := successor("t2", t1, used)
	_, err = s.RotateRefreshToken(t.Context(), t2.Hash, successor("t3", t2, used), t1.ExpiresAt)
	require.NoError(t, err)
}

func testGraceZero(t *testing.T, s account.Store) {
	g := graceStore(t, s)
	withUsers(t, s, "alice")
	t1 := login(t, s, "t1", "fam-1", "alice", t0)
	_, err := g.RotateRefreshTokenGrace(t.Context(), t1.Hash, successor("t2", t1, t0), t0, 0)
	require.NoError(t, err)
	_, err = g.RotateRefreshTokenGrace(t.Context(), t1.Hash, successor("t2", t1, t0), t0, 0)
	require.ErrorIs(t, err, account.ErrRefreshReused, "no grace: a retry at the same instant is reuse")
	// Even a retry dated before the first use (clock skew between instances).
	t3 := login(t, s, "t3", "fam-2", "alice", t0)
	_, err = g.RotateRefreshTokenGrace(t.Context(), t3.Hash, successor("t4", t3, t0), t0, 0)
	require.NoError(t, err)
	_, err = g.RotateRefreshTokenGrace(t.Context(), t3.Hash, successor("t4", t3, t0), t0.Add(-time.Second), 0)
	require.ErrorIs(t, err, account.ErrRefreshReused)
}

func testGraceReuseReportsFamily(t *testing.T, s account.Store) {
	g := graceStore(t, s)
	withUsers(t, s, "alice")
	t1 := login(t, s, "t1", "fam-1", "alice", t0)
	_, err := graceRotate(t, g, t1, "t2", t0)
	require.NoError(t, err)
	at := t0.Add(time.Hour / 2)
	got, err := graceRotate(t, g, t1, "t2", at)
	require.ErrorIs(t, err, account.ErrRefreshReused)
	assertNoSecret(t, err, t1.Hash, hashOf("t2"))
	assert.Equal(t, "fam-1", got.FamilyID)
	assert.Equal(t, "alice", got.Username)
	assert.Equal(t, t1.Hash, got.Hash)
	assert.Equal(t, t0.UTC(), got.UsedAt)
	assert.Equal(t, at.UTC(), got.RevokedAt)
	// The base method keeps returning the zero record.
	got, err = s.RotateRefreshToken(t.Context(), t1.Hash, successor("t3", t1, at), at)
	require.ErrorIs(t, err, account.ErrRefreshReused)
	assert.Equal(t, account.RefreshToken{}, got)
}

func testGraceConcurrent(t *testing.T, s account.Store) {
	g := graceStore(t, s)
	withUsers(t, s, "alice")
	t1 := login(t, s, "t1", "fam-1", "alice", t0)
	const n = 20
	errs := race(n, func(int) error {
		_, err := graceRotate(t, g, t1, "t2", t0.Add(time.Second))
		return err
	})
	for i, err := range errs {
		require.NoError(t, err, "retry %d within the grace", i)
	}
	// One successor was stored, and it is live.
	t2 := successor("t2", t1, t0)
	_, err := s.RotateRefreshToken(t.Context(), t2.Hash, successor("t3", t2, t0.Add(2*time.Second)), t0.Add(2*time.Second))
	require.NoError(t, err)
	// Racing retries that ask for different successors: one wins, the rest are reuse.
	u1 := login(t, s, "u1", "fam-2", "alice", t0)
	errs = race(n, func(i int) error {
		_, err := graceRotate(t, g, u1, fmt.Sprintf("u2-%02d", i), t0.Add(time.Second))
		return err
	})
	exactlyOneWins(t, errs, account.ErrRefreshReused)
}
