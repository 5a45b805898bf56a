package jwtauth

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLimiterMapStaysBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := newLimiterMap(3, time.Minute, 100)
	for i := range 10_000 {
		l.take(fmt.Sprintf("user-%d", i), now)
		require.LessOrEqual(t, l.len(), 100)
	}
	// Entries whose bucket refilled are dropped by a sweep: they carry no state.
	l.sweep(now.Add(3 * time.Minute))
	assert.Equal(t, 0, l.len())

	// A busy key survives the sweep; an idle one does not.
	l.take("busy", now)
	l.take("idle", now.Add(-time.Hour))
	l.sweep(now.Add(time.Second))
	assert.Equal(t, 1, l.len())
	assert.Zero(t, l.wait("idle", now), "an absent key is a full bucket")
}

func TestLimiterWait(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := newLimiterMap(2, time.Minute, 10)
	assert.Zero(t, l.wait("a", now))
	l.take("a", now)
	assert.Zero(t, l.wait("a", now))
	l.take("a", now)
	assert.Equal(t, time.Minute, l.wait("a", now))
	assert.Equal(t, 30*time.Second, l.wait("a", now.Add(30*time.Second)))
	assert.Zero(t, l.wait("a", now.Add(time.Minute)))
}

func TestPurgeSweepsLimiters(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := &Accounts{now: func() time.Time { return now }, throttle: newThrottle(LoginThrottle{})}
	mem := a.throttle.state.(*memoryBuckets)
	keys := []bucketKey{{addressBucket, "192.0.2.1"}, {userBucket, "alice"}, {deviceBucket, "nonce"}, {registerBucket, "192.0.2.1"}}
	_, wait, err := a.throttle.take(context.Background(), now, keys...) // a failure: no refund
	require.NoError(t, err)
	require.Zero(t, wait)
	for _, k := range keys {
		assert.Equal(t, 1, mem[k.kind].len(), k)
	}
	now = now.Add(time.Hour)
	n, err := a.Purge(context.Background())
	require.NoError(t, err)
	assert.Zero(t, n)
	for _, k := range keys {
		assert.Zero(t, mem[k.kind].len(), k)
	}
}

func TestDummyHashUsesCurrentParameters(t *testing.T) {
	for _, p := range []Argon2Params{{}, {Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}} {
		a, err := NewAccounts(AccountsConfig{Users: nopUsers{}, Issuer: &Issuer{}, Argon2: p})
		require.NoError(t, err)
		stored, salt, key, err := parseArgon2id(a.dummyHash)
		require.NoError(t, err)
		stored.SaltLength, stored.KeyLength = uint32(len(salt)), uint32(len(key))
		assert.Equal(t, a.argon, stored, "an unknown user costs what a wrong password costs")
	}
}

type nopUsers struct{ UserStore }

func TestMixesScripts(t *testing.T) {
	for s, want := range map[string]bool{
		"alice": false, "alice2_x.y": false, "ελένη": false, "сергей": false, "山田たろう": false,
		"日本taro": false, "中文abc": false, "김민준": false, "김민준abc": false, "tarō": false, "ㄅㄆ中文": false,
		"p\u0430ypal": true, "ωmega": true, "αб": true, "한あ": true, "ㄅあ": true, "עבריתabc": true,
		"abc123-_.": false, "١٢٣abc": true, // Arabic-Indic digits have the Arabic script
		"": false,
	} {
		assert.Equal(t, want, mixesScripts(s), "%q", s)
	}
	assert.True(t, mixesScripts("αβγ"+strings.Repeat("a", 3)))
}

func TestAcquireHonoursContext(t *testing.T) {
	th := newThrottle(LoginThrottle{MaxConcurrentHashes: 1, HashWait: time.Hour})
	release, err := th.acquire(context.Background(), loginHash)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = th.acquire(ctx, loginHash)
	assert.ErrorIs(t, err, context.Canceled)
	release()
	release, err = th.acquire(context.Background(), loginHash)
	require.NoError(t, err)
	release()
	unbounded := newThrottle(LoginThrottle{MaxConcurrentHashes: -1})
	for range 100 {
		_, err := unbounded.acquire(context.Background(), loginHash)
		require.NoError(t, err)
	}
}

func TestHashQueueIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newThrottle(LoginThrottle{MaxConcurrentHashes: 1, HashQueue: 2, HashWait: time.Minute})
		release, err := th.acquire(context.Background(), loginHash)
		require.NoError(t, err)
		results := make(chan error, 2)
		for range 2 { // two may wait
			go func() {
				r, err := th.acquire(context.Background(), loginHash)
				if err == nil {
					r()
				}
				results <- err
			}()
		}
		synctest.Wait()
		_, err = th.acquire(context.Background(), loginHash)
		assert.Equal(t, errBusy, err, "a third waiter is refused at once")
		release()
		assert.NoError(t, <-results)
		assert.NoError(t, <-results)
	})
}

// A full map never evicts a throttled key to make room: evicting would give
// the victim a full bucket again, so an attacker failing under many new
// names could reset a victim's limit.
func TestLimiterMapFullKeepsThrottledKeys(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := newLimiterMap(2, time.Minute, 3)
	for _, k := range []string{"a", "b", "c"} {
		require.True(t, l.take(k, now))
		require.True(t, l.take(k, now))
		require.Positive(t, l.wait(k, now), k)
	}
	for i := range 10 {
		assert.False(t, l.take(fmt.Sprintf("new-%d", i), now), "a full map of throttled keys tracks no new key")
	}
	for _, k := range []string{"a", "b", "c"} {
		assert.Equal(t, time.Minute, l.wait(k, now), "%s must stay throttled", k)
	}
	assert.Equal(t, 3, l.len())

	// An idle entry (full bucket) makes room first.
	l.take("d", now.Add(2*time.Minute)) // a, b, c have refilled by then
	assert.Equal(t, 1, l.len())
	l = newLimiterMap(2, time.Minute, 3)
	l.take("a", now)
	l.take("a", now)
	l.take("b", now)
	l.take("b", now)
	l.take("idle", now.Add(-time.Hour))
	assert.True(t, l.take("new", now))
	assert.Equal(t, time.Minute, l.wait("a", now))
	assert.Equal(t, time.Minute, l.wait("b", now))
	assert.Equal(t, 3, l.len(), "idle dropped, new tracked")
}
