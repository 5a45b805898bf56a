package account

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"math"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of LoginThrottle, used for its zero fields.
const (
	// DefaultUserFailures is how many failed logins one username may have
	// before it is throttled.
	DefaultUserFailures = 10
	// DefaultUserInterval is how often a throttled username gets one more
	// attempt: the 11th failure within a minute is refused, and a minute
	// later one attempt is allowed again.
	DefaultUserInterval = time.Minute
	// DefaultIPFailures is how many login attempts one client address (an
	// IPv4 address or an IPv6 /64) may spend, on failures and refusals,
	// before it is throttled.
	DefaultIPFailures = 100
	// DefaultIPInterval is how often a throttled address gets one more
	// attempt (10 a minute).
	DefaultIPInterval = 6 * time.Second
	// DefaultRegistrations is how many registrations one client address may
	// make at once.
	DefaultRegistrations = 20
	// DefaultRegisterInterval is how often an address gets one more
	// registration: 20 an hour.
	DefaultRegisterInterval = 3 * time.Minute
	// DefaultDeviceTokenTTL is how long a device token stays trusted (180
	// days); every successful login issues a fresh one.
	DefaultDeviceTokenTTL = 180 * 24 * time.Hour
	// DefaultMaxTracked bounds the entries of each limiter map.
	DefaultMaxTracked = 100_000
	// DefaultHashWait is how long a request waits for a password-hash slot
	// before it is refused with 503.
	DefaultHashWait = 5 * time.Second
	// DefaultHashQueue is how many requests may wait for a hash slot, per
	// slot; the next one is refused with 503 at once.
	DefaultHashQueue = 16
)

// LoginThrottle configures the defences of the account flow against password
// guessing, lockout abuse and login or registration floods (OWASP
// Authentication Cheat Sheet, "Login Throttling"). The zero value gives the
// defaults; a negative count turns that limit off.
//
// Attempts are counted in token buckets: a bucket holds N tokens, an attempt
// takes one, and one token comes back every interval. A login takes a token
// from its client address's bucket (IPFailures, IPInterval) and then from
// its username's (UserFailures, UserInterval), atomically per bucket,
// before any password is hashed; a login that finds either empty is refused
// with 429 too_many_requests and a Retry-After header, whether or not the
// password would have been right and whether or not the user exists. A
// refusal keeps the address token it took, so an address that keeps a name
// locked spends its own budget; a successful login gives its tokens back.
// So with the defaults the 11th failed login for one username within a
// minute is refused, one attempt a minute is allowed after that, and an
// address is refused after 100 failed or refused attempts, then gets 10 a
// minute.
//
// Device tokens keep a lockout from locking out the user (OWASP "Slow Down
// Online Guessing Attacks with Device Cookies"): a successful login returns
// a device token (TokenResponse.DeviceToken, and the cookie jwtauth.DeviceCookieName
// on /login), an HMAC bound to the username and keyed by a secret derived
// from the user's stored password hash. A login presenting a valid device
// token for its username, issued less than DeviceTokenTTL ago, is counted in
// that token's own bucket (UserFailures, UserInterval) instead of the
// username's, so an attacker who does not know the password can lock the
// name only for devices where the user never logged in. A device token
// grants nothing by itself: the password is always checked.
//
// Registrations take a token from the client address's registration bucket
// (Registrations, RegisterInterval: 20 at once, then 20 an hour), whatever
// their outcome.
//
// Password hashing (argon2id: credential.DefaultArgon2Params.Memory KiB and one core
// each) is bounded by a semaphore of MaxConcurrentHashes slots. A burst
// waits in a bounded queue (HashQueue requests per slot, each waiting at most
// HashWait); a request that finds the queue full, or no slot within
// HashWait, is refused with 503 temporarily_unavailable and Retry-After, so a
// flood degrades into fast 503s instead of exhausting memory and CPU.
// Registrations hold at most half of the slots (at least one) and wait in a
// queue of their own, so a registration flood leaves logins their share.
type LoginThrottle struct {
	// UserFailures is the bucket size for one username: the login after
	// UserFailures failures within UserInterval is answered with 429.
	// Device tokens have buckets of the same size and interval.
	// Default DefaultUserFailures; negative disables the per-username and
	// per-device limits.
	UserFailures int
	// UserInterval is the time in which one token of a username's bucket
	// comes back. Default DefaultUserInterval.
	UserInterval time.Duration
	// IPFailures is the bucket size for one client address (IPv4 address,
	// or IPv6 /64 network; a 6to4 address, 2002::/16, counts as the IPv4
	// address it embeds). Default DefaultIPFailures; negative disables.
	IPFailures int
	// IPInterval is the time in which one token of an address's bucket
	// comes back. Default DefaultIPInterval.
	IPInterval time.Duration
	// Registrations is the registration bucket size for one client address
	// (IPv4 address, or IPv6 /64 network). Default DefaultRegistrations;
	// negative disables.
	Registrations int
	// RegisterInterval is the time in which one registration token of an
	// address comes back. Default DefaultRegisterInterval.
	RegisterInterval time.Duration
	// DeviceTokenTTL is how long a device token is trusted after its issue.
	// Default DefaultDeviceTokenTTL.
	DeviceTokenTTL time.Duration
	// MaxTracked bounds each limiter map (usernames, device tokens,
	// addresses, registering addresses). Entries whose bucket is full are
	// dropped (they carry no state); when the map is still full, a new key
	// is not tracked (its attempts are not counted) until an entry refills,
	// and no throttled entry is ever evicted, so failing under many names
	// cannot reset a victim's limit. Default DefaultMaxTracked. It does not
	// apply with Store, which keeps every bucket until it is full again and
	// Accounts.Purge deletes it.
	MaxTracked int
	// MaxConcurrentHashes is the number of password hashes (login, register,
	// rehash) computed at once; registrations use at most half of them (at
	// least one). Default runtime.GOMAXPROCS(0); negative means no bound.
	MaxConcurrentHashes int
	// HashWait is how long a request waits for a hash slot before 503.
	// Default DefaultHashWait.
	HashWait time.Duration
	// HashQueue is how many requests per slot may wait for one; beyond it a
	// request is refused with 503 at once. Logins and registrations have
	// queues of their own. Default DefaultHashQueue.
	HashQueue int
	// Store keeps the token buckets when set: give the store every instance
	// shares (adapters/postgres, adapters/sqlite) so that the budgets hold
	// across all of them instead of multiplying by the number of instances.
	// A login then waits for one store call to take its tokens before
	// hashing (and one more to give them back on success); when the store
	// fails, the login and the registration are refused (503 for an
	// unavailable store), never let through unthrottled. Old buckets are
	// deleted by Accounts.Purge. When nil the buckets live in process,
	// bounded by MaxTracked.
	Store ThrottleStore
}

// errTooManyRequests is the 429 answer of a login; RetryAfter is set per
// request.
func errTooManyRequests(after time.Duration) *Error {
	return &Error{Code: "too_many_requests",
		Description: "too many failed login attempts; try again later", RetryAfter: after}
}

// errTooManyRegistrations is the 429 answer of a registration.
func errTooManyRegistrations(after time.Duration) *Error {
	return &Error{Code: "too_many_requests",
		Description: "too many registrations from this address; try again later", RetryAfter: after}
}

var errBusy = &Error{Code: "temporarily_unavailable",
	Description: "the server is busy; try again later", RetryAfter: time.Second}

// bucketKind names a family of token buckets sharing one size and refill
// interval.
type bucketKind uint8

const (
	userBucket     bucketKind = iota // failed logins per normalized username, without a device token
	deviceBucket                     // failed logins per device token (its nonce)
	addressBucket                    // failed and refused logins per client address
	registerBucket                   // registrations per client address
	numBucketKinds
)

// bucketKey names one token bucket.
type bucketKey struct {
	kind bucketKind
	key  string
}

// bucketLimit is the size of the buckets of one kind and the time in which
// one token comes back.
type bucketLimit struct {
	burst int
	every time.Duration
}

// buckets is the state of the throttle: token buckets named by kind and key,
// in process (memoryBuckets) or in a ThrottleStore shared by several
// instances (storeBuckets); each call is atomic for the buckets it names. A
// bucket that is absent is full.
type buckets interface {
	// take takes one token from each named bucket in order; at the first
	// empty bucket it stops, keeps the tokens already taken, and returns
	// how long until that bucket holds a token again (> 0). It returns 0
	// when it took a token from every bucket.
	take(ctx context.Context, now time.Time, keys ...bucketKey) (time.Duration, error)
	// refund gives one token back to each named bucket, up to its size.
	refund(ctx context.Context, now time.Time, keys ...bucketKey) error
	// sweep drops full buckets: they are the same as absent ones.
	sweep(ctx context.Context, now time.Time) error
	// forget drops the named buckets (a deleted user's): absent is full.
	forget(ctx context.Context, keys ...bucketKey) error
}

// ThrottleBucket names one token bucket of the login throttle
// (LoginThrottle) and gives its shape, so that a ThrottleStore needs no
// configuration of its own.
type ThrottleBucket struct {
	// Kind is the family of the bucket: "address" (failed and refused
	// logins per client address), "user" (failed logins per username),
	// "device" (failed logins per device token) or "register"
	// (registrations per client address).
	Kind string
	// Key names the bucket within its kind: the base64url SHA-256 of the
	// username, device-token nonce or client address (an IPv4 address or an
	// IPv6 /64), 43 characters, so that no typed username reaches the store.
	Key string
	// Burst is the number of tokens of a full bucket (> 0).
	Burst int
	// Every is the time in which one token comes back (> 0).
	Every time.Duration
}

// ThrottleStore is the port of the login throttle's state (LoginThrottle.Store):
// token buckets named by kind and key, each holding a token count and the
// time of that count. A bucket that is absent is full. Tokens come back
// continuously, one per Every, up to Burst; a clock going backwards adds
// none. Every method is atomic across every instance sharing the store, so
// that the budgets hold for the deployment as a whole.
//
// adapters/memory (in process), adapters/sqlite (one table, shared by every
// process on the file) and adapters/postgres (one table, one statement per
// call) implement it; jwtauth/storetest checks it (the Throttle group).
type ThrottleStore interface {
	// TakeThrottle takes one token from each of buckets in order, at now; at
	// the first bucket holding less than one token it stops, keeps the
	// tokens already taken, and returns how long until that bucket holds
	// one again (> 0). It returns 0 when it took a token from every bucket.
	TakeThrottle(ctx context.Context, now time.Time, buckets []ThrottleBucket) (time.Duration, error)
	// RefundThrottle gives one token back to each of buckets, at now, up to
	// its Burst; an absent bucket stays absent (it is full).
	RefundThrottle(ctx context.Context, now time.Time, buckets []ThrottleBucket) error
	// PurgeThrottle deletes the buckets that are full at now (they are the
	// same as absent ones) and returns how many it deleted.
	PurgeThrottle(ctx context.Context, now time.Time) (int64, error)
}

// ThrottleDeleteStore is an optional extension of ThrottleStore: when
// LoginThrottle.Store implements it, deleting a user (Accounts.DeleteUser,
// DeleteAccount) also deletes the user's bucket, so that no state keyed by
// the name outlives the account. adapters/memory, adapters/sqlite and
// adapters/postgres implement it; without it the bucket is left to
// PurgeThrottle.
type ThrottleDeleteStore interface {
	ThrottleStore
	// DeleteThrottle deletes buckets (matched by Kind and Key; Burst and
	// Every are ignored); absent ones are no error.
	DeleteThrottle(ctx context.Context, buckets []ThrottleBucket) error
}

// throttleKinds are the ThrottleBucket.Kind names of the bucket kinds.
var throttleKinds = [numBucketKinds]string{userBucket: "user", deviceBucket: "device", addressBucket: "address", registerBucket: "register"}

// storeBuckets are buckets kept by a ThrottleStore.
type storeBuckets struct {
	store  ThrottleStore
	limits *[numBucketKinds]bucketLimit
}

func (s storeBuckets) convert(keys []bucketKey) []ThrottleBucket {
	out := make([]ThrottleBucket, len(keys))
	for i, k := range keys {
		sum := sha256.Sum256([]byte(k.key))
		l := s.limits[k.kind]
		out[i] = ThrottleBucket{Kind: throttleKinds[k.kind], Key: base64.RawURLEncoding.EncodeToString(sum[:]), Burst: l.burst, Every: l.every}
	}
	return out
}

func (s storeBuckets) take(ctx context.Context, now time.Time, keys ...bucketKey) (time.Duration, error) {
	return s.store.TakeThrottle(ctx, now, s.convert(keys))
}

func (s storeBuckets) refund(ctx context.Context, now time.Time, keys ...bucketKey) error {
	return s.store.RefundThrottle(ctx, now, s.convert(keys))
}

func (s storeBuckets) sweep(ctx context.Context, now time.Time) error {
	_, err := s.store.PurgeThrottle(ctx, now)
	return err
}

func (s storeBuckets) forget(ctx context.Context, keys ...bucketKey) error {
	if d, ok := s.store.(ThrottleDeleteStore); ok {
		return d.DeleteThrottle(ctx, s.convert(keys))
	}
	return nil
}

// memoryBuckets are buckets in process: one bounded limiterMap per kind, nil
// when that kind is disabled (its buckets never run empty).
type memoryBuckets [numBucketKinds]*limiterMap

func (m *memoryBuckets) take(_ context.Context, now time.Time, keys ...bucketKey) (time.Duration, error) {
	for _, k := range keys {
		if l := m[k.kind]; l != nil {
			if wait := l.reserve(k.key, now); wait > 0 {
				return wait, nil
			}
		}
	}
	return 0, nil
}

func (m *memoryBuckets) refund(_ context.Context, now time.Time, keys ...bucketKey) error {
	for _, k := range keys {
		if l := m[k.kind]; l != nil {
			l.give(k.key, now)
		}
	}
	return nil
}

func (m *memoryBuckets) sweep(_ context.Context, now time.Time) error {
	for _, l := range m {
		if l != nil {
			l.sweep(now)
		}
	}
	return nil
}

func (m *memoryBuckets) forget(_ context.Context, keys ...bucketKey) error {
	for _, k := range keys {
		if l := m[k.kind]; l != nil {
			l.mu.Lock()
			delete(l.m, k.key)
			l.mu.Unlock()
		}
	}
	return nil
}

// throttle holds the buckets and the hash slots of one Accounts.
type throttle struct {
	state     buckets
	limits    [numBucketKinds]bucketLimit // burst 0: that kind is off
	deviceTTL time.Duration
	login     hashQueue // every slot
	register  hashQueue // registration's share, taken before a slot of login's
	wait      time.Duration
}

func newThrottle(c LoginThrottle) *throttle {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defN := func(n *int, v int) {
		if *n == 0 {
			*n = v
		}
	}
	def(&c.UserInterval, DefaultUserInterval)
	def(&c.IPInterval, DefaultIPInterval)
	def(&c.RegisterInterval, DefaultRegisterInterval)
	def(&c.DeviceTokenTTL, DefaultDeviceTokenTTL)
	def(&c.HashWait, DefaultHashWait)
	defN(&c.UserFailures, DefaultUserFailures)
	defN(&c.IPFailures, DefaultIPFailures)
	defN(&c.Registrations, DefaultRegistrations)
	if c.MaxTracked <= 0 {
		c.MaxTracked = DefaultMaxTracked
	}
	if c.HashQueue <= 0 {
		c.HashQueue = DefaultHashQueue
	}
	t := &throttle{wait: c.HashWait, deviceTTL: c.DeviceTokenTTL}
	set := func(k bucketKind, n int, every time.Duration) {
		if n > 0 {
			t.limits[k] = bucketLimit{burst: n, every: every}
		}
	}
	set(userBucket, c.UserFailures, c.UserInterval)
	set(deviceBucket, c.UserFailures, c.UserInterval)
	set(addressBucket, c.IPFailures, c.IPInterval)
	set(registerBucket, c.Registrations, c.RegisterInterval)
	if c.Store != nil {
		t.state = storeBuckets{store: c.Store, limits: &t.limits}
	} else {
		var mem memoryBuckets
		for k, l := range t.limits {
			if l.burst > 0 {
				mem[k] = newLimiterMap(l.burst, l.every, c.MaxTracked)
			}
		}
		t.state = &mem
	}

	slots := 0
	switch {
	case c.MaxConcurrentHashes == 0:
		slots = runtime.GOMAXPROCS(0)
	case c.MaxConcurrentHashes > 0:
		slots = c.MaxConcurrentHashes
	}
	if slots > 0 {
		t.login = hashQueue{sem: make(chan struct{}, slots), queue: int64(c.HashQueue * slots)}
		share := max(1, slots/2)
		t.register = hashQueue{sem: make(chan struct{}, share), queue: int64(c.HashQueue * share)}
	}
	return t
}

// take takes a token from each of keys (see buckets.take), skipping the
// kinds that are off and the empty keys. It returns the keys it took a
// token from, for a refund, or, when a bucket was empty, how long until it
// holds a token again; the tokens already taken are then kept.
func (t *throttle) take(ctx context.Context, now time.Time, keys ...bucketKey) (taken []bucketKey, wait time.Duration, err error) {
	for _, k := range keys {
		if k.key != "" && t.limits[k.kind].burst > 0 {
			taken = append(taken, k)
		}
	}
	if len(taken) == 0 {
		return nil, 0, nil
	}
	wait, err = t.state.take(ctx, now, taken...)
	if err != nil {
		return nil, 0, err
	}
	if wait > 0 {
		return nil, wait, nil
	}
	return taken, 0, nil
}

// refund gives back the tokens of keys; a failure is logged by the caller.
func (t *throttle) refund(ctx context.Context, now time.Time, keys []bucketKey) error {
	if len(keys) == 0 {
		return nil
	}
	return t.state.refund(ctx, now, keys...)
}

// hashClass is who asks for a hash slot.
type hashClass int

const (
	loginHash hashClass = iota
	registerHash
)

// hashQueue is a semaphore with a bounded number of waiters.
type hashQueue struct {
	sem     chan struct{} // nil when unbounded
	queue   int64         // most requests waiting for a slot
	waiting atomic.Int64  // requests waiting now
}

// acquire takes a hash slot for class, waiting at most t.wait; it returns
// errBusy when none frees up in time or too many wait already, ctx's error
// when ctx ends first, and otherwise the function that gives the slot back.
// A registration first takes one of its share's slots (waiting in its own
// queue), then a slot of all: at most the share's size of registrations
// hash or wait for a slot at once, so logins keep the rest and their queue.
func (t *throttle) acquire(ctx context.Context, class hashClass) (release func(), err error) {
	if t.login.sem == nil {
		return func() {}, nil
	}
	timer := time.NewTimer(t.wait)
	defer timer.Stop()
	if class == registerHash {
		if err := t.register.take(ctx, timer.C, true); err != nil {
			return nil, err
		}
		// Holding a share slot: wait for a slot of all without a queue
		// bound (at most the share's size of registrations get here).
		if err := t.login.take(ctx, timer.C, false); err != nil {
			<-t.register.sem
			return nil, err
		}
		return func() { <-t.login.sem; <-t.register.sem }, nil
	}
	if err := t.login.take(ctx, timer.C, true); err != nil {
		return nil, err
	}
	return func() { <-t.login.sem }, nil
}

// take takes a slot of q, at once or after waiting until expired fires;
// bounded counts the waiter against q's queue.
func (q *hashQueue) take(ctx context.Context, expired <-chan time.Time, bounded bool) error {
	select {
	case q.sem <- struct{}{}:
		return nil
	default:
	}
	if bounded {
		if q.waiting.Add(1) > q.queue {
			q.waiting.Add(-1)
			return errBusy
		}
		defer q.waiting.Add(-1)
	}
	select {
	case q.sem <- struct{}{}:
		return nil
	case <-expired:
		return errBusy
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sweep drops the idle entries of the buckets.
func (t *throttle) sweep(ctx context.Context, now time.Time) error {
	return t.state.sweep(ctx, now)
}

// ipKey is the limiter key of a client address: the IPv4 address, or the /64
// network of an IPv6 address (one subscriber usually holds a whole /64). A
// 6to4 address (2002::/16, RFC 3056 §2) counts as the IPv4 address it
// embeds in bits 16-47: the holder of that one IPv4 address has the whole
// 2002:V::/48, 65,536 /64 networks.
func ipKey(ip netip.Addr) (string, bool) {
	if !ip.IsValid() {
		return "", false
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String(), true
	}
	if b := ip.As16(); b[0] == 0x20 && b[1] == 0x02 {
		return netip.AddrFrom4([4]byte(b[2:6])).String(), true
	}
	p, _ := ip.Prefix(64)
	return p.String(), true
}

// limiterMap is a bounded map of token buckets keyed by string. When it
// holds max entries, a new key first makes room by dropping the idle entries
// (full buckets, which carry no state); when every entry is still in use the
// new key is not tracked, and its attempts are not counted, rather than
// evicting an entry: evicting would hand a throttled key a full bucket, so an
// attacker could reset a victim's limit by failing under many new keys. The
// other buckets of an attempt (address or username) still limit the
// untracked key's sender.
type limiterMap struct {
	mu        sync.Mutex
	m         map[string]*bucket
	burst     float64
	every     time.Duration // time one token takes to come back
	max       int
	full      time.Duration // time an empty bucket takes to refill
	lastSweep time.Time
}

// bucket is a token bucket: tokens at time at (the two columns a shared
// store would keep per key).
type bucket struct {
	tokens float64
	at     time.Time
}

// newLimiterMap returns buckets of burst tokens, one token coming back every
// interval.
func newLimiterMap(burst int, interval time.Duration, maxEntries int) *limiterMap {
	return &limiterMap{m: map[string]*bucket{}, burst: float64(burst), every: interval,
		max: maxEntries, full: time.Duration(burst) * interval}
}

// tokensAt returns b's tokens at now: its tokens at b.at plus those that
// came back since, at most burst. A clock going backwards adds none.
func (l *limiterMap) tokensAt(b *bucket, now time.Time) float64 {
	elapsed := now.Sub(b.at)
	if elapsed <= 0 {
		return b.tokens
	}
	return min(l.burst, b.tokens+float64(elapsed)/float64(l.every))
}

// waitFor returns how long until a bucket holding tokens (< 1) holds one,
// rounded up to the nanosecond.
func (l *limiterMap) waitFor(tokens float64) time.Duration {
	return time.Duration(math.Ceil((1 - tokens) * float64(l.every)))
}

// wait returns how long until key's bucket holds a token again; 0 when it
// holds one now (or key is not tracked: a fresh bucket is full).
func (l *limiterMap) wait(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.m[key]
	if !ok {
		return 0
	}
	if tokens := l.tokensAt(b, now); tokens < 1 {
		return l.waitFor(tokens)
	}
	return 0
}

// take removes one token from key's bucket if it holds one, creating the
// bucket (full) when key is not tracked. It reports false when key is not
// tracked because the map is full of buckets in use (see limiterMap): the
// attempt is not counted.
func (l *limiterMap) take(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.entryLocked(key, now)
	if b == nil {
		return false
	}
	l.takeLocked(b, now)
	return true
}

// reserve takes one token from key's bucket if it holds one, under the
// map's lock, and returns 0; when the bucket is empty it takes nothing and
// returns how long until it holds a token. An untracked key (the map is
// full) is neither counted nor refused.
func (l *limiterMap) reserve(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.entryLocked(key, now)
	if b == nil {
		return 0
	}
	return l.takeLocked(b, now)
}

func (l *limiterMap) takeLocked(b *bucket, now time.Time) time.Duration {
	tokens := l.tokensAt(b, now)
	if tokens < 1 {
		return l.waitFor(tokens)
	}
	b.tokens, b.at = tokens-1, later(b.at, now)
	return 0
}

// give puts one token back into key's bucket, up to burst; an absent key is
// a full bucket already.
func (l *limiterMap) give(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.m[key]; ok {
		b.tokens, b.at = min(l.burst, l.tokensAt(b, now)+1), later(b.at, now)
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// entryLocked returns key's bucket, creating it (full) when key is not
// tracked, or nil when the map is full of buckets in use: idle buckets are
// dropped first, and a bucket holding state is never evicted (evicting a
// throttled key would reset its limit).
func (l *limiterMap) entryLocked(key string, now time.Time) *bucket {
	if b, ok := l.m[key]; ok {
		return b
	}
	if now.Sub(l.lastSweep) >= l.full || len(l.m) >= l.max {
		l.sweepLocked(now)
	}
	if len(l.m) >= l.max {
		return nil
	}
	b := &bucket{tokens: l.burst, at: now}
	l.m[key] = b
	return b
}

// sweep drops entries whose bucket has refilled: they are the same as an
// absent entry, so nothing is lost.
func (l *limiterMap) sweep(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
}

func (l *limiterMap) sweepLocked(now time.Time) {
	for k, b := range l.m {
		if l.tokensAt(b, now) >= l.burst {
			delete(l.m, k)
		}
	}
	l.lastSweep = now
}

// len returns the number of tracked keys (for tests).
func (l *limiterMap) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
