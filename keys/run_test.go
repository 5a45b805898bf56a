package keys_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunPicksUpOtherProcessesAndRotatesOnSchedule runs a manager's loop in
// a synctest bubble: a revoke made through another manager (the CLI) is seen
// within one poll, and a month of daily rotations happens on schedule.
func TestRunPicksUpOtherProcessesAndRotatesOnSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		st := memory.New()
		gen := keystest.Generator(t)
		cfg := keys.Config{Store: st, Generate: gen, Logger: quiet}
		server, err := keys.Open(ctx, cfg)
		require.NoError(t, err)
		cli, err := keys.Open(ctx, cfg)
		require.NoError(t, err)
		done := make(chan struct{})
		go func() { server.Run(ctx, 2*time.Second); close(done) }()

		active := server.Current().Active().KID
		require.NoError(t, cli.Revoke(ctx, active))
		_, err = server.Current().VerificationKey(ctx, active)
		require.NoError(t, err, "not seen before the poll")
		time.Sleep(2*time.Second + time.Millisecond)
		synctest.Wait()
		_, err = server.Current().VerificationKey(ctx, active)
		assert.ErrorIs(t, err, keys.ErrKeyRevoked, "seen within one poll interval")

		changes, prev := 0, server.Current().Active().ActivatedAt
		for day := 0; day < 30; day++ {
			time.Sleep(24 * time.Hour)
			synctest.Wait()
			if a := server.Current().Active().ActivatedAt; !a.Equal(prev) {
				changes, prev = changes+1, a
			}
		}
		assert.Equal(t, 30, changes, "one new active key a day")
		assert.LessOrEqual(t, len(server.Current().Published()), 3)
		cancel()
		<-done
	})
}

// failingStore fails ApplyKeys, as a crash before the commit would.
type failingStore struct {
	keys.Store
}

func (failingStore) ApplyKeys(context.Context, int64, keys.Change) (int64, error) {
	return 0, errors.New("disk on fire")
}

func TestFailedTransitionChangesNothing(t *testing.T) {
	st, c := memory.New(), newClock()
	m := open(t, st, c, nil)
	ctx := context.Background()
	before := m.Current()
	broken, err := keys.Open(ctx, keys.Config{Store: failingStore{st}, Policy: policy, Now: c.Now, Generate: keystest.Generator(t), Logger: quiet})
	require.NoError(t, err, "opening needs no write when the set is complete")
	_, err = broken.Rotate(ctx, true)
	require.Error(t, err)
	assert.ErrorContains(t, broken.Revoke(ctx, before.Active().KID), "disk on fire")
	// The "restart": a manager on the intact store sees the set as it was.
	m2 := open(t, st, c, nil)
	assert.Equal(t, before.Version(), m2.Current().Version())
	assert.Equal(t, before.Active().KID, m2.Current().Active().KID)
	assert.Equal(t, 1, states(m2.Current())[keys.StateActive])
}

// lockedBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRunLogsAnUndecodableSetOnce: a server without the key-encryption key
// its peer uses loses its active key to a rotation it cannot decode; its
// loop logs that once, not at every poll, and writes nothing to the store.
func TestRunLogsAnUndecodableSetOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		st := memory.New()
		gen := keystest.Generator(t)
		var logs lockedBuffer
		server, err := keys.Open(ctx, keys.Config{Store: st, Generate: gen, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		require.NoError(t, err)
		peer, err := keys.Open(ctx, keys.Config{Store: st, Generate: gen, Logger: quiet, KeyEncryptionKey: bytes.Repeat([]byte{3}, 32)})
		require.NoError(t, err)
		for range 2 {
			_, err = peer.Rotate(ctx, true)
			require.NoError(t, err)
		}
		v := peer.Current().Version()
		done := make(chan struct{})
		go func() { server.Run(ctx, 2*time.Second); close(done) }()
		time.Sleep(time.Minute)
		synctest.Wait()

		_, err = server.SigningKey()
		require.ErrorIs(t, err, keys.ErrNoActiveKey)
		require.ErrorIs(t, err, keys.ErrKeyEncryptionKey, "the cause travels with the error")
		assert.Equal(t, 1, strings.Count(logs.String(), "level=ERROR"), "30 polls, one change of state:\n%s", logs.String())
		got, err := st.KeysVersion(ctx)
		require.NoError(t, err)
		assert.Equal(t, v, got, "the server wrote to a set it cannot read whole")
		cancel()
		<-done
	})
}

// TestRunAdoptsAnotherInstancesRotationAtOnce: two servers' loops on one
// store are due for the same scheduled rotation; one generates keys slowly
// (RSA generation takes seconds on a busy machine). The fast one rotates;
// the slow one adopts the new set within one poll, because it generated
// its next key in advance instead of holding its lock through a generation
// while serving the old set (issue 15.2: every instance serves the same
// JWKS within a second of a change).
func TestRunAdoptsAnotherInstancesRotationAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		st := memory.New()
		gen := keystest.Generator(t)
		fast, err := keys.Open(ctx, keys.Config{Store: st, Generate: gen, Logger: quiet})
		require.NoError(t, err)
		slow, err := keys.Open(ctx, keys.Config{Store: st, Logger: quiet, Generate: func(bits int) (*rsa.PrivateKey, error) {
			time.Sleep(10 * time.Second)
			return gen(bits)
		}})
		require.NoError(t, err)
		var wg sync.WaitGroup
		// The slow instance polls half a second before the fast one: it
		// finds the rotation due first.
		wg.Go(func() { slow.Run(ctx, time.Second) })
		time.Sleep(500 * time.Millisecond)
		wg.Go(func() { fast.Run(ctx, time.Second) })
		before := fast.Current().Active().KID
		require.Equal(t, before, slow.Current().Active().KID)

		time.Sleep(keys.DefaultPolicy().RotateEvery + time.Second)
		synctest.Wait()
		after := fast.Current().Active().KID
		require.NotEqual(t, before, after, "the scheduled rotation happened")
		assert.Equal(t, after, slow.Current().Active().KID, "the slow instance serves the rotated set within a poll")
		assert.Equal(t, fast.Current().Version(), slow.Current().Version())
		cancel()
		wg.Wait()
	})
}
