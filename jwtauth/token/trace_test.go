package token_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVerifierTrace: the trace hears one Verified per Verify with its
// result, one CacheLookup per cache lookup (none with the cache off), and
// the refusals middleware reports; a trace with nil funcs is allowed.
func TestVerifierTrace(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tok, err := f.Issuer.Issue(ctx, "alice")
	require.NoError(t, err)

	var results []error
	var lookups []bool
	trace := &token.VerifierTrace{
		Verified:    func(err error) { results = append(results, err) },
		CacheLookup: func(hit bool) { lookups = append(lookups, hit) },
	}
	for _, cacheSize := range []int{0, -1} {
		results, lookups = nil, nil
		v, err := token.NewVerifier(token.VerifierConfig{Keys: f.Mgr, Issuer: testIssuer, Audience: []string{testAudience},
			Now: func() time.Time { return f.Now }, CacheSize: cacheSize, Trace: trace})
		require.NoError(t, err)
		_, err = v.Verify(ctx, tok.Raw)
		require.NoError(t, err)
		_, err = v.Verify(ctx, tok.Raw)
		require.NoError(t, err)
		_, err = v.Verify(ctx, "not.a.token")
		require.ErrorIs(t, err, token.ErrTokenMalformed)
		v.Refused(token.ErrTokenMissing)

		require.Len(t, results, 4, "cache size %d", cacheSize)
		assert.NoError(t, results[0])
		assert.NoError(t, results[1])
		assert.ErrorIs(t, results[2], token.ErrTokenMalformed)
		assert.True(t, errors.Is(results[3], token.ErrTokenMissing))
		if cacheSize < 0 {
			assert.Empty(t, lookups, "no cache, no lookups")
		} else {
			assert.Equal(t, []bool{false, true, false}, lookups, "miss, hit, miss")
		}
	}

	v, err := token.NewVerifier(token.VerifierConfig{Keys: f.Mgr, Issuer: testIssuer, Audience: []string{testAudience},
		Now: func() time.Time { return f.Now }, Trace: &token.VerifierTrace{}})
	require.NoError(t, err)
	_, err = v.Verify(ctx, tok.Raw)
	assert.NoError(t, err, "nil hooks are skipped")
	v.Refused(token.ErrTokenMissing)
}
