package storetest

import (
	"context"
	"crypto/rsa"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/keys"
)

var managerTests = []subtest{
	{"FirstStart", testManagerFirstStart},
	{"Restart", testManagerRestart},
	{"ConcurrentRotate", testManagerConcurrentRotate},
	{"RevokeFreshKeyReachesOtherInstance", testManagerRevokeFreshKey},
}

var pairTests = []pairTest{
	{"RevokeAfterRestore", testManagerRevokeAfterRestore},
}

// managerConfig returns a Manager config over s with the test keys and a
// silent logger.
func managerConfig(s account.Store, gen func(int) (*rsa.PrivateKey, error)) keys.Config {
	return keys.Config{Store: s, Generate: gen, Logger: slog.New(slog.DiscardHandler)}
}

// countStates counts the stored records per state.
func countStates(recs []keys.Record) map[keys.State]int {
	n := map[keys.State]int{}
	for _, r := range recs {
		n[r.State]++
	}
	return n
}

func testManagerFirstStart(t *testing.T, s account.Store) {
	m, err := keys.Open(t.Context(), managerConfig(s, Generator(t)))
	require.NoError(t, err)
	set := m.Current()
	require.NotNil(t, set.Active())
	require.NotNil(t, set.Next())
	assert.NotEqual(t, set.Active().KID, set.Next().KID)

	recs, v := loadKeys(t, s)
	assert.Equal(t, set.Version(), v)
	assert.Equal(t, map[keys.State]int{keys.StateActive: 1, keys.StateNext: 1}, countStates(recs))
	stored := map[keys.State]string{}
	for _, r := range recs {
		stored[r.State] = r.KID
		assert.Equal(t, 2048, r.Bits)
		assert.NotEmpty(t, r.PrivateKey)
	}
	assert.Equal(t, set.Active().KID, stored[keys.StateActive])
	assert.Equal(t, set.Next().KID, stored[keys.StateNext])
}

func testManagerRestart(t *testing.T, s account.Store) {
	m1, err := keys.Open(t.Context(), managerConfig(s, Generator(t)))
	require.NoError(t, err)
	before, v1 := loadKeys(t, s)

	// A restarted process loads the keys; it must not generate any.
	m2, err := keys.Open(t.Context(), managerConfig(s, func(int) (*rsa.PrivateKey, error) {
		return nil, errors.New("restart generated a key")
	}))
	require.NoError(t, err)
	assert.Equal(t, m1.Current().Active().KID, m2.Current().Active().KID)
	assert.Equal(t, m1.Current().Next().KID, m2.Current().Next().KID)
	assert.Equal(t, m1.Current().Version(), m2.Current().Version())
	// The loaded private key is the one generated.
	assert.True(t, m1.Current().Active().Private.Equal(m2.Current().Active().Private))

	after, v2 := loadKeys(t, s)
	assert.Equal(t, v1, v2, "restart changed the key set")
	assert.Equal(t, before, after)
}

func testManagerConcurrentRotate(t *testing.T, s account.Store) {
	gen := Generator(t) // shared: the two managers must not create the same key
	m1, err := keys.Open(t.Context(), managerConfig(s, gen))
	require.NoError(t, err)
	m2, err := keys.Open(t.Context(), managerConfig(s, gen))
	require.NoError(t, err)
	first := m1.Current().Active().KID

	ms := []*keys.Manager{m1, m2}
	results := make([]keys.RotateResult, len(ms))
	errs := race(len(ms), func(i int) error {
		var err error
		results[i], err = ms[i].Rotate(t.Context(), true)
		return err
	})
	for i, err := range errs {
		require.NoError(t, err, "manager %d", i)
	}

	recs, v := loadKeys(t, s)
	assert.Equal(t, map[keys.State]int{keys.StateActive: 1, keys.StateNext: 1, keys.StateRetired: 2}, countStates(recs),
		"two forced rotations from the first key set")
	var active string
	for _, r := range recs {
		if r.State == keys.StateActive {
			active = r.KID
		}
	}
	assert.NotEqual(t, first, active)
	// Each rotation retired the key the other promoted or the first one.
	assert.ElementsMatch(t, []string{first, results[0].Promoted, results[1].Promoted},
		[]string{results[0].Retired, results[1].Retired, active})
	for i, m := range ms {
		_, err := m.Refresh(t.Context())
		require.NoError(t, err)
		assert.Equal(t, v, m.Current().Version(), "manager %d", i)
		assert.Equal(t, active, m.Current().Active().KID, "manager %d", i)
	}
}

// switchStore is the store a process reaches through a DSN that an
// operator points at another database: a restored backup, a promoted replica.
type switchStore struct {
	cur atomic.Pointer[account.Store]
}

func (s *switchStore) store() account.Store { return *s.cur.Load() }
func (s *switchStore) LoadKeys(ctx context.Context) ([]keys.Record, int64, error) {
	return s.store().LoadKeys(ctx)
}
func (s *switchStore) KeysVersion(ctx context.Context) (int64, error) {
	return s.store().KeysVersion(ctx)
}
func (s *switchStore) ApplyKeys(ctx context.Context, expected int64, ch keys.Change) (int64, error) {
	return s.store().ApplyKeys(ctx, expected, ch)
}

// Two server instances on one store; the CLI revokes the active key: a key
// generated for the revocation signs, sealed with the key-encryption key,
// and the other instance, which never saw it as next, picks it up from the
// store with its private key, as every instance signs with it. The next key
// stays next.
func testManagerRevokeFreshKey(t *testing.T, s account.Store) {
	ctx := t.Context()
	kek := []byte("0123456789abcdef0123456789abcdef")
	gen := Generator(t)
	cfg := func(noSchedule bool) keys.Config {
		c := managerConfig(s, gen)
		c.KeyEncryptionKey, c.NoSchedule = kek, noSchedule
		return c
	}
	a, err := keys.Open(ctx, cfg(false))
	require.NoError(t, err)
	b, err := keys.Open(ctx, cfg(false))
	require.NoError(t, err)
	leaked, next := a.Current().Active().KID, a.Current().Next().KID

	cli, err := keys.Open(ctx, cfg(true))
	require.NoError(t, err)
	res, err := cli.RevokeWith(ctx, leaked, keys.RevokeOptions{})
	require.NoError(t, err)
	require.True(t, res.Fresh)
	assert.NotContains(t, []string{leaked, next}, res.Active)
	assert.Equal(t, next, res.Next)
	recs, _ := loadKeys(t, s)
	assert.Equal(t, map[keys.State]int{keys.StateActive: 1, keys.StateNext: 1, keys.StateRevoked: 1}, countStates(recs))

	for _, m := range []*keys.Manager{a, b} {
		_, err := m.Refresh(ctx)
		require.NoError(t, err)
		k, err := m.SigningKey()
		require.NoError(t, err)
		assert.Equal(t, res.Active, k.KID)
		require.NotNil(t, k.Private, "the instance holds the fresh key's private half")
		assert.Equal(t, next, m.Current().Next().KID)
		_, err = m.VerificationKey(ctx, leaked)
		assert.ErrorIs(t, err, keys.ErrKeyRevoked)
	}
}

// A server holds the key set at some version; the store is restored from a
// backup taken one change earlier (or fails over to a lagging replica) and
// the operator revokes the leaked key: the revocation must reach the server
// even though the store went back, whatever version the revocation gets.
func testManagerRevokeAfterRestore(t *testing.T, live, backup account.Store) {
	ctx := t.Context()
	sw := &switchStore{}
	sw.cur.Store(&live)
	gen := Generator(t)
	server, err := keys.Open(ctx, keys.Config{Store: sw, Generate: gen, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	leaked := server.Current().Active().KID

	// The backup: the key set as it is now.
	recs, _ := loadKeys(t, live)
	_, err = backup.ApplyKeys(ctx, 0, keys.Change{Put: recs})
	require.NoError(t, err)

	// Life goes on: a rotation; the leaked key is retired, still verifying.
	_, err = server.Rotate(ctx, true)
	require.NoError(t, err)
	k, _ := server.Current().Lookup(leaked)
	require.NotNil(t, k)
	require.Equal(t, keys.StateRetired, k.State)

	// Restore, then the usual incident response: revoke the leaked key.
	sw.cur.Store(&backup)
	operator, err := keys.Open(ctx, keys.Config{Store: sw, Generate: gen, NoSchedule: true, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.NoError(t, operator.Revoke(ctx, leaked))

	changed, err := server.Refresh(ctx)
	require.NoError(t, err)
	assert.True(t, changed, "the server did not notice the restored and revoked set")
	_, err = server.VerificationKey(ctx, leaked)
	require.ErrorIs(t, err, keys.ErrKeyRevoked, "the server still verifies the revoked key")
	k, _ = server.Current().Lookup(leaked)
	require.NotNil(t, k)
	assert.Equal(t, keys.StateRevoked, k.State)
	assert.Equal(t, operator.Current().Active().KID, server.Current().Active().KID)
	_, v := loadKeys(t, backup)
	assert.Equal(t, v, server.Current().Version())
}
