package account_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth/account"
)

const (
	jktA = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	jktB = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
)

// TestDPoPBinding: a login with a DPoP key (ContextWithDPoP) answers token
// type DPoP with cnf.jkt in the access token and starts a family bound to
// the key; a refresh without a proof or by another key is
// invalid_dpop_proof and spends nothing (the token then works with the
// key, once: it was not taken as reused); a login without a key is Bearer
// as before; an unbound family refreshed with a key gets a bound access
// token and stays unbound.
func TestDPoPBinding(t *testing.T) {
	f := newFixture(t)
	store := memory.New()
	ops := map[string]int{}
	a, err := account.New(account.Config{Users: store, RefreshTokens: store, Issuer: f.issuer, Argon2: fastArgon, Logger: quiet,
		Trace: &account.Trace{Operation: func(op, result string) { ops[op+" "+result]++ }}})
	require.NoError(t, err)
	ctx := t.Context()
	require.NoError(t, a.Register(ctx, "alice", "correct horse battery"))
	jktOf := func(raw string) string { // the payload's cnf.jkt; the issuer signed it
		t.Helper()
		parts := strings.Split(raw, ".")
		require.Len(t, parts, 3)
		b, err := base64.RawURLEncoding.DecodeString(parts[1])
		require.NoError(t, err)
		var c struct {
			Cnf *struct {
				JKT string `json:"jkt"`
			} `json:"cnf"`
		}
		require.NoError(t, json.Unmarshal(b, &c))
		if c.Cnf == nil {
			return ""
		}
		return c.Cnf.JKT
	}
	hashOf := func(raw string) []byte { h := sha256.Sum256([]byte(raw)); return h[:] }

	resp, err := a.Login(account.ContextWithDPoP(ctx, jktA), "alice", "correct horse battery")
	require.NoError(t, err)
	assert.Equal(t, "DPoP", resp.TokenType)
	assert.Equal(t, jktA, jktOf(resp.AccessToken))
	rec, err := store.RefreshTokenByHash(ctx, hashOf(resp.RefreshToken))
	require.NoError(t, err)
	assert.Equal(t, jktA, rec.JKT, "the family is bound to the login's key")

	for name, c := range map[string]string{"no proof": "", "another key": jktB} {
		_, err = a.Refresh(account.ContextWithDPoP(ctx, c), resp.RefreshToken)
		require.ErrorIs(t, err, account.ErrInvalidDPoPProof, name)
	}
	_, err = a.Refresh(ctx, resp.RefreshToken) // no DPoP context at all
	require.ErrorIs(t, err, account.ErrInvalidDPoPProof)
	assert.Equal(t, 3, ops["refresh invalid_dpop_proof"])
	rec, err = store.RefreshTokenByHash(ctx, hashOf(resp.RefreshToken))
	require.NoError(t, err)
	assert.True(t, rec.UsedAt.IsZero(), "nothing spent")

	next, err := a.Refresh(account.ContextWithDPoP(ctx, jktA), resp.RefreshToken)
	require.NoError(t, err, "the refused attempts were not reuse")
	assert.Equal(t, "DPoP", next.TokenType)
	assert.Equal(t, jktA, jktOf(next.AccessToken))
	_, err = a.Refresh(account.ContextWithDPoP(ctx, jktA), next.RefreshToken)
	require.NoError(t, err, "the successor is bound to the same key")

	plain, err := a.Login(ctx, "alice", "correct horse battery")
	require.NoError(t, err)
	assert.Equal(t, "Bearer", plain.TokenType)
	assert.Empty(t, jktOf(plain.AccessToken))
	got, err := a.Refresh(account.ContextWithDPoP(ctx, jktB), plain.RefreshToken)
	require.NoError(t, err)
	assert.Equal(t, "DPoP", got.TokenType, "a proof at refresh binds the access token")
	assert.Equal(t, jktB, jktOf(got.AccessToken))
	got, err = a.Refresh(ctx, got.RefreshToken)
	require.NoError(t, err, "the family stays unbound")
	assert.Equal(t, "Bearer", got.TokenType)
}

// TestRefreshRequiringBoundFamily: under ContextRequiringBoundFamily a
// refresh token of an unbound family is refused with ErrUnboundFamily
// (code invalid_dpop_proof, and errors.Is ErrInvalidDPoPProof), with or
// without a proof, spending nothing: the token then refreshes without the
// requirement. A bound family refreshes with a proof by its key as before,
// and is still refused with another key's.
func TestRefreshRequiringBoundFamily(t *testing.T) {
	f := newFixture(t)
	store := memory.New()
	a, err := account.New(account.Config{Users: store, RefreshTokens: store, Issuer: f.issuer, Argon2: fastArgon, Logger: quiet})
	require.NoError(t, err)
	ctx := t.Context()
	require.NoError(t, a.Register(ctx, "alice", "correct horse battery"))
	strict := account.ContextRequiringBoundFamily(ctx)

	plain, err := a.Login(ctx, "alice", "correct horse battery")
	require.NoError(t, err)
	for name, c := range map[string]string{"no proof": "", "a proof": jktA} {
		_, err = a.Refresh(account.ContextWithDPoP(strict, c), plain.RefreshToken)
		require.ErrorIs(t, err, account.ErrUnboundFamily, name)
		require.ErrorIs(t, err, account.ErrInvalidDPoPProof, name)
		var e *account.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, "invalid_dpop_proof", e.Code)
		assert.Equal(t, "the session is not bound to this key; log in again", e.Description)
	}
	_, err = a.Refresh(ctx, plain.RefreshToken)
	require.NoError(t, err, "nothing was spent, and no reuse was taken")

	bound, err := a.Login(account.ContextWithDPoP(ctx, jktA), "alice", "correct horse battery")
	require.NoError(t, err)
	_, err = a.Refresh(account.ContextWithDPoP(strict, jktB), bound.RefreshToken)
	require.ErrorIs(t, err, account.ErrInvalidDPoPProof)
	require.NotErrorIs(t, err, account.ErrUnboundFamily)
	got, err := a.Refresh(account.ContextWithDPoP(strict, jktA), bound.RefreshToken)
	require.NoError(t, err)
	assert.Equal(t, "DPoP", got.TokenType)
}
