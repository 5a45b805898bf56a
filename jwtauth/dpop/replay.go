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

// KeyedReplayCache is a ReplayCache that is also told which proof key made
// each proof: the Verifier calls SeenBy instead of Seen, with jkt the key's
// RFC 7638 thumbprint, so that a bounded cache can share its room fairly
// among keys (MemoryReplayCache forgets the busiest key's entries first).
type KeyedReplayCache interface {
	ReplayCache
	// SeenBy is Seen for a proof by the key whose thumbprint is jkt.
	SeenBy(ctx context.Context, jkt, key string, expires, now time.Time) (bool, error)
}

// MemoryReplayCache is the in-memory ReplayCache: a map of at most size
// keys with their expiry, each filed under the proof key (jkt) that made
// it, oldest first.
//
// When it is full of unexpired keys, recording one more forgets one before
// its expiry (counted by Evicted), never refusing a valid proof: the
// oldest of the proof key holding the most entries (SeenBy), so a client flooding
// the cache with its own proofs forgets its own first. One client's flood
// therefore cannot reopen other clients' proofs to replay (a flood of
// 100,000 proofs by one key did, when the oldest key of all was
// forgotten); that takes as many flooding keys, each with its own bound
// token, as the victims hold entries. Keys recorded through Seen, without
// a proof key, share one anonymous owner.
type MemoryReplayCache struct {
	mu      sync.Mutex
	size    int                  // the most entries held
	n       int                  // entries held, in the owners' queues
	seen    map[string]time.Time // key -> expiry
	owners  map[string]*replayOwner
	buckets map[int]map[*replayOwner]struct{} // owners by entry count
	most    int                               // the largest count with an owner
	swept   time.Time                         // the last sweep of every owner
	evicted uint64
}

// replayOwner is one proof key's entries, in recording order from head.
type replayOwner struct {
	jkt     string
	entries []replayEntry
	head    int
}

func (o *replayOwner) count() int { return len(o.entries) - o.head }

type replayEntry struct {
	key     string
	expires time.Time
}

// NewMemoryReplayCache returns an empty cache of at most size keys (size <
// 1 is taken as 1). Each key held costs about 150 bytes; memory grows with
// the keys held, up to size, and is not reserved up front.
func NewMemoryReplayCache(size int) *MemoryReplayCache {
	return &MemoryReplayCache{size: max(size, 1), seen: make(map[string]time.Time),
		owners: make(map[string]*replayOwner), buckets: make(map[int]map[*replayOwner]struct{})}
}

// Seen implements ReplayCache, filing key under an anonymous proof key. It
// fails only for a done ctx (with its error), recording nothing.
func (c *MemoryReplayCache) Seen(ctx context.Context, key string, expires, now time.Time) (bool, error) {
	return c.SeenBy(ctx, "", key, expires, now)
}

// SeenBy implements KeyedReplayCache: Seen for a proof by the key whose
// thumbprint is jkt, so that a full cache forgets the entries of the
// busiest key first.
func (c *MemoryReplayCache) SeenBy(ctx context.Context, jkt, key string, expires, now time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err // the Verifier wraps it
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if exp, ok := c.seen[key]; ok && !exp.Before(now) {
		return true, nil
	}
	o := c.owners[jkt]
	if o == nil {
		o = &replayOwner{jkt: jkt}
		c.owners[jkt] = o
	}
	c.prune(o, now)
	if c.n >= c.size && now.Sub(c.swept) >= time.Second {
		c.swept = now // at most once a second: a sweep visits every owner
		for _, other := range c.owners {
			c.prune(other, now)
		}
	}
	if c.n >= c.size {
		victim := o
		if o.count() < c.most {
			for v := range c.buckets[c.most] {
				victim = v
				break
			}
		}
		c.pop(victim)
		c.evicted++
		if victim != o && victim.count() == 0 {
			delete(c.owners, victim.jkt)
		}
	}
	c.owners[jkt] = o // again, if pruning left it empty and dropped it
	c.seen[key] = expires
	before := o.count()
	o.entries = append(o.entries, replayEntry{key, expires})
	c.n++
	c.recount(o, before)
	return false, nil
}

// prune forgets o's entries that expired before now, from its oldest, and
// drops o when it has none left.
func (c *MemoryReplayCache) prune(o *replayOwner, now time.Time) {
	for o.count() > 0 && o.entries[o.head].expires.Before(now) {
		c.pop(o)
	}
	if o.count() == 0 {
		delete(c.owners, o.jkt)
	}
}

// pop forgets o's oldest entry; the map keeps a later record of its key.
func (c *MemoryReplayCache) pop(o *replayOwner) {
	before := o.count()
	e := o.entries[o.head]
	if exp, ok := c.seen[e.key]; ok && exp.Equal(e.expires) {
		delete(c.seen, e.key)
	}
	o.entries[o.head] = replayEntry{}
	o.head++
	switch {
	case o.head == len(o.entries):
		o.entries, o.head = o.entries[:0], 0
	case o.head >= 32 && 2*o.head >= len(o.entries):
		n := copy(o.entries, o.entries[o.head:])
		clear(o.entries[n:])
		o.entries, o.head = o.entries[:n], 0
	}
	c.n--
	c.recount(o, before)
}

// recount moves o from the bucket of before entries to that of its count.
func (c *MemoryReplayCache) recount(o *replayOwner, before int) {
	if before > 0 {
		b := c.buckets[before]
		delete(b, o)
		if len(b) == 0 {
			delete(c.buckets, before)
		}
	}
	if now := o.count(); now > 0 {
		b := c.buckets[now]
		if b == nil {
			b = make(map[*replayOwner]struct{})
			c.buckets[now] = b
		}
		b[o] = struct{}{}
		c.most = max(c.most, now)
	}
	for c.most > 0 && len(c.buckets[c.most]) == 0 {
		c.most--
	}
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
