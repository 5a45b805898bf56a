package keys_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// transitionLog records OnTransition calls as "from>to".
type transitionLog struct {
	mu  sync.Mutex
	got []string
}

func (l *transitionLog) add(_, from, to string) {
	l.mu.Lock()
	l.got = append(l.got, from+">"+to)
	l.mu.Unlock()
}

func (l *transitionLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.got
	l.got = nil
	return out
}

func TestOnTransitionSeesOwnAndStoreChanges(t *testing.T) {
	ctx := context.Background()
	st, c := memory.New(), newClock()
	var mine, other transitionLog
	m, err := keys.Open(ctx, keys.Config{Store: st, Policy: policy, Now: c.Now, Generate: keystest.Generator(t), Logger: quiet, OnTransition: mine.add})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"created>active", "created>next"}, mine.take(), "the first keys of an empty store")

	// A second process opening the same set sees no transition.
	m2, err := keys.Open(ctx, keys.Config{Store: st, Policy: policy, Now: c.Now, Generate: keystest.Generator(t), Logger: quiet, OnTransition: other.add})
	require.NoError(t, err)
	assert.Empty(t, other.take())

	// The rotation the schedule performs: next → active, active → retired, a new next.
	c.Add(policy.RotateEvery)
	require.NoError(t, m.Maintain(ctx))
	assert.ElementsMatch(t, []string{"next>active", "active>retired", "created>next"}, mine.take())

	// The other process picks the same transitions up from the store.
	changed, err := m2.Refresh(ctx)
	require.NoError(t, err)
	require.True(t, changed)
	assert.ElementsMatch(t, []string{"next>active", "active>retired", "created>next"}, other.take())

	// Removal after the retention, and a revocation.
	c.Add(policy.Retain + time.Second)
	require.NoError(t, m.Maintain(ctx))
	assert.Equal(t, []string{"retired>removed"}, mine.take())
	require.NoError(t, m.Revoke(ctx, m.Current().Next().KID))
	assert.ElementsMatch(t, []string{"next>revoked", "created>next"}, mine.take())
}

func TestRotationDue(t *testing.T) {
	st, c := memory.New(), newClock()
	m := open(t, st, c, nil)
	start := c.Now()
	// The next key was published with the active one: the lead is met long before.
	assert.Equal(t, start.Add(policy.RotateEvery), m.RotationDue(m.Current()))

	// A rotation requested before the next key was public for Prepublish
	// is due when it has been.
	c.Add(10 * time.Minute)
	res, err := m.Rotate(context.Background(), false)
	require.ErrorIs(t, err, keys.ErrNotPrepublished)
	assert.Equal(t, start.Add(policy.Prepublish), res.PromoteAt)
	assert.Equal(t, start.Add(policy.Prepublish), m.RotationDue(m.Current()))

	// No active key (a set being created): zero.
	assert.True(t, m.RotationDue(&keys.Set{}).IsZero())
}
