package token_test

import (
	"context"
	"crypto/rsa"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCacheIsOnByDefaultAndCanBeTurnedOff(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tok, err := f.Issuer.Issue(ctx, "alice")
	require.NoError(t, err)
	_, err = f.Verifier.Verify(ctx, tok.Raw)
	require.NoError(t, err)
	assert.True(t, token.IsCached(f.Verifier, tok.Raw))
	assert.Equal(t, 1, token.CachedTokens(f.Verifier))

	off, err := token.NewVerifier(token.VerifierConfig{Keys: f.Mgr, Issuer: testIssuer, Audience: []string{testAudience}, CacheSize: -1, Now: func() time.Time { return f.Now }})
	require.NoError(t, err)
	_, err = off.Verify(ctx, tok.Raw)
	require.NoError(t, err)
	assert.Zero(t, token.CachedTokens(off))
}

// TestCacheExpiryWhileCached: a cached token is answered by its exp and nbf
// at the instant of each call, with the leeway, on the injected clock.
func TestCacheExpiryWhileCached(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	exp := f.Now.Add(time.Minute)
	tok := forge(t, f.Priv, f.Header(), f.Claims(func(m map[string]any) { m["exp"] = exp.Unix() }))
	_, err := f.Verifier.Verify(ctx, tok)
	require.NoError(t, err)

	f.Now = exp.Add(token.DefaultLeeway - time.Nanosecond)
	require.True(t, token.IsCached(f.Verifier, tok))
	c, err := f.Verifier.Verify(ctx, tok)
	require.NoError(t, err, "a hit inside the leeway")
	assert.Equal(t, "alice", c.Subject)

	f.Now = exp.Add(token.DefaultLeeway)
	require.True(t, token.IsCached(f.Verifier, tok))
	c, err = f.Verifier.Verify(ctx, tok)
	assert.ErrorIs(t, err, token.ErrTokenExpired)
	assert.Nil(t, c)
	assert.False(t, token.IsCached(f.Verifier, tok), "an expired entry is dropped")

	// The clock going back is answered as a first sight would be.
	f.Now = exp.Add(-time.Hour)
	_, err = f.Verifier.Verify(ctx, tok)
	assert.ErrorIs(t, err, token.ErrTokenNotYetValid, "nbf and iat are checked on a hit too")
}

// TestCacheNeverKeepsFailures: a token refused for nbf verifies as soon as
// its time comes, so the refusal was not remembered.
func TestCacheNeverKeepsFailures(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tok := forge(t, f.Priv, f.Header(), f.Claims(func(m map[string]any) { m["nbf"] = f.Now.Add(time.Minute).Unix() }))
	_, err := f.Verifier.Verify(ctx, tok)
	require.ErrorIs(t, err, token.ErrTokenNotYetValid)
	assert.False(t, token.IsCached(f.Verifier, tok))
	f.Now = f.Now.Add(time.Minute)
	_, err = f.Verifier.Verify(ctx, tok)
	assert.NoError(t, err)
}

func TestCacheRevokeWhileCached(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tok, err := f.Issuer.Issue(ctx, "alice")
	require.NoError(t, err)
	_, err = f.Verifier.Verify(ctx, tok.Raw)
	require.NoError(t, err)
	require.NoError(t, f.Mgr.Revoke(ctx, tok.KID))
	require.True(t, token.IsCached(f.Verifier, tok.Raw))
	_, err = f.Verifier.Verify(ctx, tok.Raw)
	require.ErrorIs(t, err, token.ErrUnknownKey)
	assert.Contains(t, err.Error(), "was revoked")
	assert.False(t, token.IsCached(f.Verifier, tok.Raw))
}

// TestCacheRemovalWhileCached removes the key through the manager's own
// schedule (rotation, then Retain) while the verifier's clock stays at the
// token's issue time, so only the removal can refuse it.
func TestCacheRemovalWhileCached(t *testing.T) {
	ctx := context.Background()
	start := time.Unix(1_800_000_000, 0)
	mgrNow := start
	mgr, err := keys.Open(ctx, keys.Config{Store: memory.New(), Now: func() time.Time { return mgrNow }, Generate: keystest.Generator(t), Logger: quiet})
	require.NoError(t, err)
	iss, err := token.NewIssuer(token.IssuerConfig{Keys: mgr, Issuer: testIssuer, Audience: []string{testAudience}, Now: func() time.Time { return start }})
	require.NoError(t, err)
	v, err := token.NewVerifier(token.VerifierConfig{Keys: mgr, Issuer: testIssuer, Audience: []string{testAudience}, Now: func() time.Time { return start }})
	require.NoError(t, err)
	tok, err := iss.Issue(ctx, "alice")
	require.NoError(t, err)
	_, err = v.Verify(ctx, tok.Raw)
	require.NoError(t, err)

	_, err = mgr.Rotate(ctx, true)
	require.NoError(t, err)
	_, err = v.Verify(ctx, tok.Raw)
	require.NoError(t, err, "a retired key still verifies")
	mgrNow = mgrNow.Add(mgr.Policy().Retain)
	require.NoError(t, mgr.Maintain(ctx))
	_, ok := mgr.Current().Lookup(tok.KID)
	require.False(t, ok, "the key is removed")

	require.True(t, token.IsCached(v, tok.Raw))
	_, err = v.Verify(ctx, tok.Raw)
	assert.ErrorIs(t, err, token.ErrUnknownKey)
	assert.False(t, token.IsCached(v, tok.Raw))
}

// swapKeySet delegates to a key set that can be swapped, so a kid's key can
// be replaced under a verifier.
type swapKeySet struct {
	mu  sync.Mutex
	set token.KeySet
}

func (s *swapKeySet) VerificationKey(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	s.mu.Lock()
	ks := s.set
	s.mu.Unlock()
	return ks.VerificationKey(ctx, kid)
}

type keySetFunc func(ctx context.Context, kid string) (*rsa.PublicKey, error)

func (f keySetFunc) VerificationKey(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	return f(ctx, kid)
}

func (s *swapKeySet) swap(ks token.KeySet) { s.mu.Lock(); s.set = ks; s.mu.Unlock() }

// TestCacheReplacedKeyWhileCached: the same kid now names another key, so
// the cached token is verified afresh against it and refused.
func TestCacheReplacedKeyWhileCached(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ks := &swapKeySet{set: f.Mgr}
	v, err := token.NewVerifier(token.VerifierConfig{Keys: ks, Issuer: testIssuer, Audience: []string{testAudience}, Now: func() time.Time { return f.Now }})
	require.NoError(t, err)
	tok, err := f.Issuer.Issue(ctx, "alice")
	require.NoError(t, err)
	_, err = v.Verify(ctx, tok.Raw)
	require.NoError(t, err)

	other := f.Outsider(t)
	ks.swap(keySetFunc(func(_ context.Context, kid string) (*rsa.PublicKey, error) {
		return &other.PublicKey, nil
	}))
	require.True(t, token.IsCached(v, tok.Raw))
	_, err = v.Verify(ctx, tok.Raw)
	assert.ErrorIs(t, err, token.ErrInvalidSignature)

	// An equal key in a new value (a reloaded set) keeps the token valid.
	ks.swap(keySetFunc(func(_ context.Context, kid string) (*rsa.PublicKey, error) {
		pub := f.Priv.PublicKey
		return &pub, nil
	}))
	_, err = v.Verify(ctx, tok.Raw)
	require.NoError(t, err)
	require.True(t, token.IsCached(v, tok.Raw))
	_, err = v.Verify(ctx, tok.Raw)
	require.NoError(t, err)
}

// TestCacheIsPerVerifier: a verifier with another audience sharing the key
// set never accepts what the first one cached.
func TestCacheIsPerVerifier(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tok, err := f.Issuer.Issue(ctx, "alice")
	require.NoError(t, err)
	_, err = f.Verifier.Verify(ctx, tok.Raw)
	require.NoError(t, err)
	for name, cfg := range map[string]token.VerifierConfig{
		"audience":  {Keys: f.Mgr, Issuer: testIssuer, Audience: []string{"https://other.example.com"}},
		"issuer":    {Keys: f.Mgr, Issuer: "https://other.example.com", Audience: []string{testAudience}},
		"algorithm": {Keys: f.Mgr, Issuer: testIssuer, Audience: []string{testAudience}, Algorithms: []string{"PS256"}},
	} {
		cfg.Now = func() time.Time { return f.Now }
		v, err := token.NewVerifier(cfg)
		require.NoError(t, err)
		_, err = v.Verify(ctx, tok.Raw)
		assert.Error(t, err, name)
	}
}

// TestCacheClaimsAreOwnedByTheCaller: one caller changing the claims it got
// does not change what the next hit returns.
func TestCacheClaimsAreOwnedByTheCaller(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tok := forge(t, f.Priv, f.Header(), f.Claims(func(m map[string]any) {
		m["aud"] = []string{testAudience, "b"}
		m["role"] = "reader"
		m["roles"] = []string{"reader", "writer"}
	}))
	for range 2 { // the miss, then a hit
		c, err := f.Verifier.Verify(ctx, tok)
		require.NoError(t, err)
		require.True(t, token.IsCached(f.Verifier, tok))
		c.Subject = "mallory"
		c.Audience[0] = "changed"
		c.Audience = append(c.Audience[:1], "more")
		roles := c.Roles()
		roles[0] = "admin"
	}
	c, err := f.Verifier.Verify(ctx, tok)
	require.NoError(t, err)
	assert.Equal(t, "alice", c.Subject)
	assert.Equal(t, []string{testAudience, "b"}, c.Audience)
	assert.Equal(t, []string{"reader", "writer"}, c.Roles())
	var role string
	require.NoError(t, c.Decode("role", &role))
	assert.Equal(t, "reader", role)
}

// TestCacheFloodStaysWithinBound: distinct valid tokens beyond the bound
// evict older ones; the count never exceeds it and every token verifies.
func TestCacheFloodStaysWithinBound(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const bound = 8
	v, err := token.NewVerifier(token.VerifierConfig{Keys: f.Mgr, Issuer: testIssuer, Audience: []string{testAudience}, Now: func() time.Time { return f.Now }, CacheSize: bound})
	require.NoError(t, err)
	var toks []string
	for i := range 5 * bound {
		toks = append(toks, forge(t, f.Priv, f.Header(), f.Claims(func(m map[string]any) { m["jti"] = fmt.Sprint(i) })))
	}
	for i, tok := range toks {
		c, err := v.Verify(ctx, tok)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprint(i), c.ID)
		assert.LessOrEqual(t, token.CachedTokens(v), bound)
	}
	assert.Equal(t, bound, token.CachedTokens(v))
	assert.False(t, token.IsCached(v, toks[0]), "the least recently used is evicted")
	assert.True(t, token.IsCached(v, toks[len(toks)-1]))
}

// TestCacheConcurrentHitsAndEvictions runs under -race: more tokens than
// entries, hits and evictions from several goroutines, each changing the
// claims it gets.
func TestCacheConcurrentHitsAndEvictions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	v, err := token.NewVerifier(token.VerifierConfig{Keys: f.Mgr, Issuer: testIssuer, Audience: []string{testAudience}, Now: func() time.Time { return f.Now }, CacheSize: 4})
	require.NoError(t, err)
	var toks []string
	for i := range 6 {
		toks = append(toks, forge(t, f.Priv, f.Header(), f.Claims(func(m map[string]any) { m["jti"] = fmt.Sprint(i) })))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 60 {
				n := (g + i) % len(toks)
				c, err := v.Verify(ctx, toks[n])
				if err != nil || c.ID != fmt.Sprint(n) || c.Audience[0] != testAudience {
					errs <- fmt.Errorf("token %d: %v %+v", n, err, c)
					return
				}
				c.ID, c.Audience[0] = "x", "x"
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.LessOrEqual(t, token.CachedTokens(v), 4)
}

// TestCacheReencodedTokenNeverHits: the same bytes in another base64 form
// are refused as malformed while the canonical token is cached.
func TestCacheReencodedTokenNeverHits(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tok, err := f.Issuer.Issue(ctx, "alice")
	require.NoError(t, err)
	_, err = f.Verifier.Verify(ctx, tok.Raw)
	require.NoError(t, err)
	p := strings.Split(tok.Raw, ".")
	std := strings.NewReplacer("-", "+", "_", "/")
	require.True(t, strings.ContainsAny(p[2], "-_"), "the signature needs a - or _ for the +/ case")
	for name, raw := range map[string]string{
		"padded header":    p[0] + "=." + p[1] + "." + p[2],
		"padded signature": p[0] + "." + p[1] + "." + p[2] + strings.Repeat("=", (4-len(p[2])%4)%4),
		"+/ alphabet":      p[0] + "." + p[1] + "." + std.Replace(p[2]),
		"trailing newline": tok.Raw + "\n",
		"leading space":    " " + tok.Raw,
	} {
		_, err := f.Verifier.Verify(ctx, raw)
		assert.ErrorIs(t, err, token.ErrTokenMalformed, name)
		assert.False(t, token.IsCached(f.Verifier, raw), name)
	}
}
