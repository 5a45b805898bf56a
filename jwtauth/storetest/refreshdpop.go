package storetest

import (
	"errors"
	"time"

	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth/account"
)

// jktA and jktB are RFC 7638 thumbprints (43 characters of base64url) of
// two DPoP keys.
const (
	jktA = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	jktB = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
)

// testRefreshDPoPBinding checks the DPoP binding of a family (RFC 9449 §5):
// stored with its first token, returned by RefreshTokenByHash and
// RotateRefreshToken, carried to every successor whatever the caller put in
// next.JKT, and empty for an unbound family.
func testRefreshDPoPBinding(t *testing.T, s account.Store) {
	ctx := t.Context()
	withUsers(t, s, "alice")
	b1 := account.RefreshToken{Hash: hashOf("b1"), FamilyID: "fam-b", Username: "alice", IssuedAt: t0, ExpiresAt: t0.Add(refreshTTL), JKT: jktA}
	require.NoError(t, s.CreateRefreshToken(ctx, b1))
	got, err := s.RefreshTokenByHash(ctx, b1.Hash)
	require.NoError(t, err)
	assert.Equal(t, jktA, got.JKT, "the first token of a bound family")

	b2 := rotate(t, s, b1, "b2", t0.Add(time.Minute)) // asserts the old record, JKT included
	got, err = s.RefreshTokenByHash(ctx, b2.Hash)
	require.NoError(t, err)
	assert.Equal(t, jktA, got.JKT, "the successor keeps the family's key")

	// A caller's next.JKT does not rebind the family.
	next := successor("b3", b2, t0.Add(2*time.Minute))
	next.JKT = jktB
	old, err := s.RotateRefreshToken(ctx, b2.Hash, next, t0.Add(2*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, jktA, old.JKT)
	got, err = s.RefreshTokenByHash(ctx, hashOf("b3"))
	require.NoError(t, err)
	assert.Equal(t, jktA, got.JKT, "rotation takes the binding from the family, not from next")

	// Reuse of a bound token reports the record with its key.
	old, err = s.RotateRefreshToken(ctx, b1.Hash, successor("b4", b1, t0.Add(3*time.Minute)), t0.Add(3*time.Minute))
	require.True(t, errors.Is(err, account.ErrRefreshReused), "%v", err)
	if old.Hash != nil {
		assert.Equal(t, jktA, old.JKT)
	}

	// An unbound family stays unbound.
	u1 := login(t, s, "u1", "fam-u", "alice", t0)
	u2 := rotate(t, s, u1, "u2", t0.Add(time.Minute))
	got, err = s.RefreshTokenByHash(ctx, u2.Hash)
	require.NoError(t, err)
	assert.Empty(t, got.JKT)
}
