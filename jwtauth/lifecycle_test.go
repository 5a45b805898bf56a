package jwtauth_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth/token"
)

// TestRevokeWhileIssuing revokes the active key, then the promoted one,
// while goroutines keep issuing and verifying: no issue fails, and every
// token of a key revoked before its verification is rejected, during the
// run and after it.
func TestRevokeWhileIssuing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	type issued struct{ kid, raw string }
	var (
		wg        sync.WaitGroup
		stop      atomic.Bool
		count     atomic.Int64
		failures  atomic.Int64
		accepted  atomic.Int64 // tokens of a key revoked before Verify began, accepted
		revoked   sync.Map     // kid → true once its Revoke has returned
		mu        sync.Mutex
		all       []issued
		revokedAt []string
	)
	keep := func(tok *token.Token) {
		mu.Lock()
		all = append(all, issued{tok.KID, tok.Raw})
		mu.Unlock()
	}
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				tok, err := f.Issuer.Issue(ctx, "alice")
				if err != nil {
					failures.Add(1)
					continue
				}
				count.Add(1)
				keep(tok)
				_, wasRevoked := revoked.Load(tok.KID)
				_, err = f.Verifier.Verify(ctx, tok.Raw)
				switch {
				case err == nil && wasRevoked:
					accepted.Add(1)
				case err == nil:
				case !assert.ErrorIs(t, err, token.ErrUnknownKey):
					failures.Add(1)
				default:
					// Only a revocation between Issue and Verify may explain a rejection.
					if k, ok := f.Mgr.Current().Lookup(tok.KID); !ok || k.State != "revoked" {
						failures.Add(1)
					}
				}
			}
		})
	}
	for range 2 {
		for count.Load() < 20 { // some tokens under the current key first
			tok, err := f.Issuer.Issue(ctx, "warmup")
			require.NoError(t, err)
			keep(tok)
			count.Add(1)
		}
		kid := f.Mgr.Current().Active().KID
		require.NoError(t, f.Mgr.Revoke(ctx, kid))
		revoked.Store(kid, true)
		revokedAt = append(revokedAt, kid)
		count.Store(0)
	}
	stop.Store(true)
	wg.Wait()
	assert.Zero(t, failures.Load(), "no issue failed and no token of a live key was rejected")
	assert.Zero(t, accepted.Load(), "tokens of a revoked key accepted after the revocation")
	assert.Equal(t, 2, len(f.Mgr.Current().Keys())-len(f.Mgr.Current().Published()), "two revoked keys")

	// Every token collected, verified again now: those of the two revoked
	// keys fail with token.ErrUnknownKey, the others verify.
	perKID := map[string]int{}
	for _, tok := range all {
		_, err := f.Verifier.Verify(ctx, tok.raw)
		if _, ok := revoked.Load(tok.kid); ok {
			perKID[tok.kid]++
			assert.ErrorIs(t, err, token.ErrUnknownKey, "token of revoked key %s", tok.kid)
		} else {
			assert.NoError(t, err, "token of live key %s", tok.kid)
		}
	}
	for _, kid := range revokedAt {
		assert.Positive(t, perKID[kid], "tokens of revoked key %s checked", kid)
	}
}
