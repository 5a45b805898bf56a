package keys_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"testing"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sealedNonce returns the AES-GCM nonce of a sealed private-key blob:
// "jwtauth-aes256gcm-v1:" ‖ 12-byte nonce ‖ ciphertext and tag.
func sealedNonce(t *testing.T, r keys.Record) []byte {
	t.Helper()
	const prefix = "jwtauth-aes256gcm-v1:"
	require.True(t, r.IsSealed(), "key %s is not sealed", r.KID)
	require.Greater(t, len(r.PrivateKey), len(prefix)+12+16)
	return r.PrivateKey[len(prefix) : len(prefix)+12]
}

// TestSealedKeysHaveDistinctNonces seals the same private key twice (in
// two stores, with the same key-encryption key and kid) and many keys once:
// every seal draws a fresh random GCM nonce. A repeated nonce under one key
// breaks AES-GCM (NIST SP 800-38D §8): it leaks the XOR of the plaintexts
// and the authentication key.
func TestSealedKeysHaveDistinctNonces(t *testing.T) {
	ctx := context.Background()
	kek := bytes.Repeat([]byte{7}, 32)
	pool := keystest.Keys(t)
	inOrder := func() func(int) (*rsa.PrivateKey, error) {
		n := 0
		return func(int) (*rsa.PrivateKey, error) { n++; return pool[(n-1)%len(pool)], nil }
	}
	open := func(st keys.Store) *keys.Manager {
		m, err := keys.Open(ctx, keys.Config{Store: st, Policy: policy, Now: newClock().Now, Generate: inOrder(), KeyEncryptionKey: kek, Logger: quiet})
		require.NoError(t, err)
		return m
	}

	// The same two keys sealed twice, under the same KEK and kid.
	st1, st2 := memory.New(), memory.New()
	m1, m2 := open(st1), open(st2)
	require.Equal(t, m1.Current().Active().KID, m2.Current().Active().KID, "both stores hold the same keys")
	recs1, _, err := st1.LoadKeys(ctx)
	require.NoError(t, err)
	recs2, _, err := st2.LoadKeys(ctx)
	require.NoError(t, err)
	require.Len(t, recs1, 2)
	byKID := map[string]keys.Record{}
	for _, r := range recs2 {
		byKID[r.KID] = r
	}
	for _, r := range recs1 {
		twin, ok := byKID[r.KID]
		require.True(t, ok)
		assert.NotEqual(t, sealedNonce(t, r), sealedNonce(t, twin), "key %s sealed twice with one nonce", r.KID)
		assert.NotEqual(t, r.PrivateKey, twin.PrivateKey)
	}

	// Many keys, sealed once each: forced rotations with no time passing
	// keep every retired key in the store.
	for range 14 {
		_, err := m1.Rotate(ctx, true)
		require.NoError(t, err)
	}
	recs, _, err := st1.LoadKeys(ctx)
	require.NoError(t, err)
	require.Len(t, recs, 16)
	nonces := map[string]string{}
	for _, r := range recs {
		n := string(sealedNonce(t, r))
		assert.NotContains(t, nonces, n, "key %s has the nonce of key %s", r.KID, nonces[n])
		nonces[n] = r.KID
	}
	assert.Len(t, nonces, 16)
}
