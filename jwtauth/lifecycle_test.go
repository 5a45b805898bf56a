package jwtauth_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRevokeWhileIssuing revokes the active key, then the promoted one,
// while goroutines keep issuing and verifying: no issue fails, and every
// token of a key revoked before its verification is rejected.
func TestRevokeWhileIssuing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var (
		wg       sync.WaitGroup
		stop     atomic.Bool
		issued   atomic.Int64
		failures atomic.Int64
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				tok, err := f.issuer.Issue(ctx, "alice")
				if err != nil {
					failures.Add(1)
					continue
				}
				issued.Add(1)
				if _, err := f.verifier.Verify(ctx, tok.Raw); err != nil {
					// Only a revocation between Issue and Verify may explain a rejection.
					if k, ok := f.mgr.Current().Lookup(tok.KID); !ok || k.State != "revoked" {
						failures.Add(1)
					}
				}
			}
		}()
	}
	for range 2 {
		for issued.Load() < 20 { // some tokens under the current key first
			_, err := f.issuer.Issue(ctx, "warmup")
			require.NoError(t, err)
			issued.Add(1)
		}
		require.NoError(t, f.mgr.Revoke(ctx, f.mgr.Current().Active().KID))
		issued.Store(0)
	}
	stop.Store(true)
	wg.Wait()
	assert.Zero(t, failures.Load(), "no issue failed and no token of a live key was rejected")
	assert.Equal(t, 2, len(f.mgr.Current().Keys())-len(f.mgr.Current().Published()), "two revoked keys")
}
