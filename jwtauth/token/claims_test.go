package token_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth/token"
)

// TestIssueWithClaimsSurviveVerification issues a token with authorization
// and private claims and reads them back, typed, from the verified claims.
func TestIssueWithClaimsSurviveVerification(t *testing.T) {
	f := newFixture(t)
	type tenant struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	tok, err := f.Issuer.IssueWith(context.Background(), "alice", map[string]any{
		"scope":        "orders:read orders:write",
		"roles":        []string{"admin", "user"},
		"groups":       []any{"ops"},
		"entitlements": []string{},
		"tenant":       tenant{ID: 7, Name: "acme"},
		"email":        "alice@example.com",
	})
	require.NoError(t, err)
	c, err := f.Verifier.Verify(context.Background(), tok.Raw)
	require.NoError(t, err)
	for name, got := range map[string]*token.Claims{"verified": c, "issued": &tok.Claims} {
		assert.Equal(t, []string{"orders:read", "orders:write"}, got.Scopes(), name)
		assert.Equal(t, []string{"admin", "user"}, got.Roles(), name)
		assert.Equal(t, []string{"ops"}, got.Groups(), name)
		assert.Equal(t, []string{}, got.Entitlements(), name)
		var tn tenant
		require.NoError(t, got.Decode("tenant", &tn), name)
		assert.Equal(t, tenant{ID: 7, Name: "acme"}, tn, name)
		var email string
		require.NoError(t, got.Decode("email", &email), name)
		assert.Equal(t, "alice@example.com", email, name)
		assert.Equal(t, "alice", got.Subject, name)
	}
	// The slices are the caller's: changing one changes nothing else.
	c.Roles()[0] = "root"
	assert.Equal(t, []string{"admin", "user"}, c.Roles())

	// Missing and ill-fitting claims.
	var n int
	assert.ErrorIs(t, c.Decode("nope", &n), token.ErrMissingClaim)
	assert.ErrorIs(t, c.Decode("sub", &n), token.ErrMissingClaim)
	err = c.Decode("email", &n)
	var ute *json.UnmarshalTypeError
	assert.True(t, errors.As(err, &ute), "%v", err)
	assert.Contains(t, err.Error(), `claim "email"`)

	// MarshalJSON keeps them.
	b, err := json.Marshal(c)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	assert.Equal(t, "orders:read orders:write", m["scope"])
	assert.Equal(t, []any{"admin", "user"}, m["roles"])
}

// TestVerifierKeepsIllTypedAuthzClaimsInert: a token of another issuer with
// roles as a string verifies (it is not our claim to police), but grants no
// role.
func TestVerifierKeepsIllTypedAuthzClaimsInert(t *testing.T) {
	f := newFixture(t)
	raw := forge(t, f.Priv, f.Header(), f.Claims(func(m map[string]any) { m["roles"], m["scope"] = "admin", []string{"a"} }))
	c, err := f.Verifier.Verify(context.Background(), raw)
	require.NoError(t, err)
	assert.Nil(t, c.Roles())
	assert.Nil(t, c.Scopes())
	var roles json.RawMessage
	require.NoError(t, c.Decode("roles", &roles))
	assert.JSONEq(t, `"admin"`, string(roles))
}

// TestIssueWithRefusesBadClaims: every bad input of issue 10 is an error
// naming the cause, and no token.
func TestIssueWithRefusesBadClaims(t *testing.T) {
	f := newFixture(t)
	many := map[string]any{}
	for i := range 58 {
		many[strings.Repeat("x", i+1)] = i
	}
	for _, tc := range []struct {
		name  string
		extra map[string]any
		is    error
		msg   string
	}{
		{"iss", map[string]any{"iss": "https://evil.example"}, token.ErrInvalidClaims, `"iss" is a registered claim`},
		{"sub", map[string]any{"sub": "admin"}, token.ErrInvalidClaims, `"sub" is a registered claim`},
		{"aud", map[string]any{"aud": "x"}, token.ErrInvalidClaims, `"aud" is a registered claim`},
		{"exp", map[string]any{"exp": math.MaxInt32}, token.ErrInvalidClaims, `"exp" is a registered claim`},
		{"nbf", map[string]any{"nbf": 0}, token.ErrInvalidClaims, `"nbf"`},
		{"iat", map[string]any{"iat": 0}, token.ErrInvalidClaims, `"iat"`},
		{"jti", map[string]any{"jti": "fixed"}, token.ErrInvalidClaims, `"jti"`},
		{"empty name", map[string]any{"": 1}, token.ErrInvalidClaims, `""`},
		{"roles with a number", map[string]any{"roles": []any{"admin", 1}}, token.ErrInvalidClaims, `"roles" must be an array of strings`},
		{"roles as a string", map[string]any{"roles": "admin"}, token.ErrInvalidClaims, `"roles" must be an array of strings`},
		{"roles null", map[string]any{"roles": nil}, token.ErrInvalidClaims, `"roles" must be an array of strings`},
		{"groups as an object", map[string]any{"groups": map[string]int{"a": 1}}, token.ErrInvalidClaims, `"groups" must be an array of strings`},
		{"entitlements as a number", map[string]any{"entitlements": 3}, token.ErrInvalidClaims, `"entitlements"`},
		{"scope as an array", map[string]any{"scope": []string{"a", "b"}}, token.ErrInvalidClaims, `"scope" must be a string`},
		{"scope with two spaces", map[string]any{"scope": "a  b"}, token.ErrInvalidClaims, `"scope"`},
		{"scope with a quote", map[string]any{"scope": `a"b`}, token.ErrInvalidClaims, `"scope"`},
		{"empty scope", map[string]any{"scope": ""}, token.ErrInvalidClaims, `"scope"`},
		{"func", map[string]any{"callback": func() {}}, token.ErrInvalidClaims, `claim "callback" is not JSON-encodable`},
		{"channel", map[string]any{"c": make(chan int)}, token.ErrInvalidClaims, `claim "c" is not JSON-encodable`},
		{"NaN", map[string]any{"ratio": math.NaN()}, token.ErrInvalidClaims, `claim "ratio" is not JSON-encodable`},
		{"too many members", many, token.ErrInvalidClaims, "at most 57"},
		{"over 8 KiB", map[string]any{"pad": strings.Repeat("a", 6000)}, token.ErrTokenTooLarge, "over the 8192 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := f.Issuer.IssueWith(context.Background(), "alice", tc.extra)
			require.Error(t, err)
			assert.Nil(t, tok)
			assert.ErrorIs(t, err, tc.is)
			assert.Contains(t, err.Error(), tc.msg)
			assert.Equal(t, 1, strings.Count(err.Error(), "jwtauth: "), "one prefix: %v", err)
		})
	}
	// Just under the cap is fine, and verifies.
	tok, err := f.Issuer.IssueWith(context.Background(), "alice", map[string]any{"pad": strings.Repeat("a", 5500)})
	require.NoError(t, err)
	assert.LessOrEqual(t, len(tok.Raw), token.MaxTokenSize)
	_, err = f.Verifier.Verify(context.Background(), tok.Raw)
	require.NoError(t, err)
}
