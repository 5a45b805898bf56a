package token_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth/token"
)

// jkt is a well-formed SHA-256 thumbprint (RFC 7638 §3.1's example key).
const jkt = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

// TestConfirmationClaim reads cnf.jkt (RFC 9449 §6.1) from issued and
// verified tokens, and leaves unbound tokens unbound.
func TestConfirmationClaim(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tok, err := f.Issuer.IssueWith(ctx, "alice", map[string]any{"cnf": map[string]string{"jkt": jkt}})
	require.NoError(t, err)
	c, err := f.Verifier.Verify(ctx, tok.Raw)
	require.NoError(t, err)
	for name, got := range map[string]*token.Claims{"verified": c, "issued": &tok.Claims} {
		assert.Equal(t, jkt, got.JKT(), name)
		assert.True(t, got.Bound(), name)
		var cnf map[string]string
		require.NoError(t, got.Decode("cnf", &cnf), name)
		assert.Equal(t, map[string]string{"jkt": jkt}, cnf, name)
	}
	// The cached token's claims keep it too.
	c2, err := f.Verifier.Verify(ctx, tok.Raw)
	require.NoError(t, err)
	assert.Equal(t, jkt, c2.JKT())
	b, err := json.Marshal(c2)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"cnf":{"jkt":"`+jkt+`"}`)

	plain, err := f.Issuer.Issue(ctx, "bob")
	require.NoError(t, err)
	c, err = f.Verifier.Verify(ctx, plain.Raw)
	require.NoError(t, err)
	assert.Equal(t, "", c.JKT())
	assert.False(t, c.Bound())

	// Another confirmation method (RFC 8705 mTLS): bound, no jkt.
	other := forge(t, f.Priv, f.Header(), f.Claims(func(m map[string]any) { m["cnf"] = map[string]any{"x5t#S256": "abc"} }))
	c, err = f.Verifier.Verify(ctx, other)
	require.NoError(t, err)
	assert.Equal(t, "", c.JKT())
	assert.True(t, c.Bound())
}

// TestConfirmationClaimStrict refuses a cnf the verifier cannot read as
// malformed tokens: a bound token must never pass as unbound.
func TestConfirmationClaimStrict(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for name, cnf := range map[string]string{
		"string":        `"` + jkt + `"`,
		"array":         `["` + jkt + `"]`,
		"null":          `null`,
		"jkt number":    `{"jkt":7}`,
		"jkt empty":     `{"jkt":""}`,
		"jkt short":     `{"jkt":"` + jkt[:42] + `"}`,
		"jkt long":      `{"jkt":"` + jkt + `A"}`,
		"jkt padded":    `{"jkt":"` + jkt + `="}`,
		"jkt std b64":   `{"jkt":"` + strings.ReplaceAll(jkt, "-", "+") + `"}`,
		"jkt stray bit": `{"jkt":"` + jkt[:42] + `t"}`,
		"jkt twice":     `{"jkt":"` + jkt + `","jkt":"` + jkt + `"}`,
	} {
		payload := f.Claims(nil)
		payload = payload[:len(payload)-1] + `,"cnf":` + cnf + `}`
		_, err := f.Verifier.Verify(ctx, forge(t, f.Priv, f.Header(), payload))
		assert.ErrorIs(t, err, token.ErrTokenMalformed, name)
	}
	_, err := f.Issuer.IssueWith(ctx, "alice", map[string]any{"cnf": map[string]string{"jkt": "short"}})
	assert.ErrorIs(t, err, token.ErrInvalidClaims)
	_, err = f.Issuer.IssueWith(ctx, "alice", map[string]any{"cnf": jkt})
	assert.ErrorIs(t, err, token.ErrInvalidClaims)
}
