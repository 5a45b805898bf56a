package dpop

import (
	"context"
	"sync"
	"time"
)

// ReplayCache remembers the proofs a Verifier accepted, so that a proof is
// accepted once (RFC 9449 §11.1).
//
// The default, NewMemoryReplayCache, lives in one process: with several
// instances behind a load balancer, a proof replayed to another instance
// within IATWindow is not caught. The stores of adapters/sqlite and
// adapters/postgres implement ReplayCache over a table every instance on
// the database shares (jwtauth.Config.DPoPReplay, docs/dpop.md). A short
// IATWindow bounds the exposure either way. jwtauth/dpop/dpoptest is the
// conformance suite of an implementation.
type ReplayCache interface {
	// Seen records key until expires (inclusive) and reports whether key
	// was already recorded with an expiry at or after now. key is 43
	// bytes of base64url; the check and the record must be atomic. A done
	// ctx or an unavailable store is an error, recording nothing, never a
	// false "unseen"; the Verifier then refuses the proof as a server
	// failure (not as ErrInvalidProof).
	Seen(ctx context.Context, key string, expires, now time.Time) (bool, error)
}

// MemoryReplayCache is the in-memory ReplayCache: a map of at most size
// keys with their expiry, dropped in the order they were recorded.
//
// When it is full of unexpired keys, recording one more forgets the oldest
// before its expiry (counted by Evicted) rather than refusing a valid
// proof, and from then on answers "seen" for any proof that could have
// been recorded as early as the last key it forgot: a key's expiry less
// the longest lifetime it was given (IATWindow + Leeway for a Verifier)
// at or before that key's recording time. So a flood of proofs, by one
// client or many, never reopens a forgotten proof to replay; it shrinks
// the window instead, refusing proofs older than the time the cache's
// contents span (about 17 s for 100,000 keys at 6,000 proofs a second),
// while fresh proofs pass.
type MemoryReplayCache struct {
	mu        sync.Mutex
	seen      map[string]time.Time
	ring      []replayEntry // in recording order, from head, n entries
	head, n   int
	size      int           // the most entries ring may hold
	span      time.Duration // the longest expires-now recorded
	forgotten time.Time     // the latest recording time of a key evicted early
	evicted   uint64
}

type replayEntry struct {
	key     string
	expires time.Time
	at      time.Time // the now it was recorded at
}

// NewMemoryReplayCache returns an empty cache of at most size keys (size <
// 1 is taken as 1). Each key held costs about 150 bytes; memory grows with
// the keys held, up to size, and is not reserved up front.
func NewMemoryReplayCache(size int) *MemoryReplayCache {
	size = max(size, 1)
	return &MemoryReplayCache{seen: make(map[string]time.Time), size: size, ring: make([]replayEntry, min(size, 64))}
}

// Seen implements ReplayCache. It fails only for a done ctx (with its
// error), recording nothing.
func (c *MemoryReplayCache) Seen(ctx context.Context, key string, expires, now time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err // the Verifier wraps it
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.n > 0 && c.ring[c.head].expires.Before(now) {
		c.drop()
	}
	if exp, ok := c.seen[key]; ok && !exp.Before(now) {
		return true, nil
	}
	c.span = max(c.span, expires.Sub(now))
	if !c.forgotten.IsZero() && !expires.Add(-c.span).After(c.forgotten) {
		// It may have been recorded by the time of a key forgotten early:
		// it cannot be told from a replay.
		return true, nil
	}
	if c.n == len(c.ring) && len(c.ring) < c.size {
		c.grow()
	}
	if c.n == len(c.ring) {
		if at := c.ring[c.head].at; at.After(c.forgotten) {
			c.forgotten = at
		}
		c.drop()
		c.evicted++
	}
	c.seen[key] = expires
	c.ring[(c.head+c.n)%len(c.ring)] = replayEntry{key, expires, now}
	c.n++
	return false, nil
}

// grow doubles the ring, up to size, keeping the entries in recording order.
func (c *MemoryReplayCache) grow() {
	ring := make([]replayEntry, min(2*len(c.ring), c.size))
	for i := range c.n {
		ring[i] = c.ring[(c.head+i)%len(c.ring)]
	}
	c.ring, c.head = ring, 0
}

// drop forgets the oldest entry; the map keeps a later record of its key.
func (c *MemoryReplayCache) drop() {
	e := c.ring[c.head]
	if exp, ok := c.seen[e.key]; ok && exp.Equal(e.expires) {
		delete(c.seen, e.key)
	}
	c.ring[c.head] = replayEntry{}
	c.head = (c.head + 1) % len(c.ring)
	c.n--
}

// Len returns the number of keys held.
func (c *MemoryReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Evicted returns how many keys were forgotten before their expiry because
// the cache was full.
func (c *MemoryReplayCache) Evicted() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.evicted
}
