package jwtauth

import (
	"context"
	"math"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
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
	// DefaultIPFailures is how many failed logins one client address (an
	// IPv4 address or an IPv6 /64) may have before it is throttled.
	DefaultIPFailures = 100
	// DefaultIPInterval is how often a throttled address gets one more
	// attempt (10 a minute).
	DefaultIPInterval = 6 * time.Second
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
// guessing and login floods (OWASP Authentication Cheat Sheet, "Login
// Throttling"). The zero value gives the defaults; a negative count turns
// that limit off.
//
// Failed logins are counted in token buckets (golang.org/x/time/rate), one
// per normalized username and one per client address: a bucket holds
// UserFailures (IPFailures) tokens, a failed login takes one, and one token
// comes back every UserInterval (IPInterval). So with the defaults the 11th
// failed login for one username within a minute is refused, one attempt a
// minute is allowed after that, and a bucket untouched for UserFailures ×
// UserInterval is full again. A login whose username or
// address bucket is empty is refused with 429 too_many_requests and a
// Retry-After header before any password is hashed, whether or not the
// password would have been right, and whether or not the user exists.
// Successful logins take no token.
//
// Password hashing (argon2id: DefaultArgon2Params.Memory KiB and one core
// each) is bounded by a semaphore of MaxConcurrentHashes slots. A burst
// waits in a bounded queue (HashQueue requests per slot, each waiting at most
// HashWait); a request that finds the queue full, or no slot within
// HashWait, is refused with 503 temporarily_unavailable and Retry-After, so a
// flood degrades into fast 503s instead of exhausting memory and CPU.
type LoginThrottle struct {
	// UserFailures is the bucket size for one username: the login after
	// UserFailures failures within UserInterval is answered with 429.
	// Default DefaultUserFailures; negative disables the per-username limit.
	UserFailures int
	// UserInterval is the time in which one token of a username's bucket
	// comes back. Default DefaultUserInterval.
	UserInterval time.Duration
	// IPFailures is the bucket size for one client address (IPv4 address,
	// or IPv6 /64 network). Default DefaultIPFailures; negative disables.
	IPFailures int
	// IPInterval is the time in which one token of an address's bucket
	// comes back. Default DefaultIPInterval.
	IPInterval time.Duration
	// MaxTracked bounds each limiter map (usernames, addresses). Entries whose
	// bucket is full are dropped (they carry no state); when the map is still
	// full, a new username or address is not tracked (its failures are not
	// counted) until an entry refills, and no throttled entry is ever evicted,
	// so failing under many names cannot reset a victim's limit. Default
	// DefaultMaxTracked.
	MaxTracked int
	// MaxConcurrentHashes is the number of password hashes (login, register,
	// rehash) computed at once. Default runtime.GOMAXPROCS(0); negative
	// means no bound.
	MaxConcurrentHashes int
	// HashWait is how long a request waits for a hash slot before 503.
	// Default DefaultHashWait.
	HashWait time.Duration
	// HashQueue is how many requests per slot may wait for one; beyond it a
	// request is refused with 503 at once. Default DefaultHashQueue.
	HashQueue int
}

// errTooManyRequests is the 429 answer; RetryAfter is set per request.
func errTooManyRequests(after time.Duration) *Error {
	return &Error{Status: http.StatusTooManyRequests, Code: "too_many_requests",
		Description: "too many failed login attempts; try again later", RetryAfter: after}
}

var errBusy = &Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
	Description: "the server is busy; try again later", RetryAfter: time.Second}

// throttle holds the limiter maps and the hash semaphore of one Accounts.
type throttle struct {
	users, ips *limiterMap   // nil when disabled
	sem        chan struct{} // nil when unbounded
	wait       time.Duration
	queue      int64        // most requests waiting for a slot
	waiting    atomic.Int64 // requests waiting now
}

func newThrottle(c LoginThrottle) *throttle {
	if c.UserInterval <= 0 {
		c.UserInterval = DefaultUserInterval
	}
	if c.IPInterval <= 0 {
		c.IPInterval = DefaultIPInterval
	}
	if c.MaxTracked <= 0 {
		c.MaxTracked = DefaultMaxTracked
	}
	if c.HashWait <= 0 {
		c.HashWait = DefaultHashWait
	}
	if c.HashQueue <= 0 {
		c.HashQueue = DefaultHashQueue
	}
	t := &throttle{wait: c.HashWait}
	if c.UserFailures == 0 {
		c.UserFailures = DefaultUserFailures
	}
	if c.IPFailures == 0 {
		c.IPFailures = DefaultIPFailures
	}
	if c.UserFailures > 0 {
		t.users = newLimiterMap(c.UserFailures, c.UserInterval, c.MaxTracked)
	}
	if c.IPFailures > 0 {
		t.ips = newLimiterMap(c.IPFailures, c.IPInterval, c.MaxTracked)
	}
	switch {
	case c.MaxConcurrentHashes == 0:
		t.sem = make(chan struct{}, runtime.GOMAXPROCS(0))
	case c.MaxConcurrentHashes > 0:
		t.sem = make(chan struct{}, c.MaxConcurrentHashes)
	}
	t.queue = int64(c.HashQueue * cap(t.sem))
	return t
}

// admit counts a login attempt against the username's and the address's
// buckets, atomically per bucket, before any password is hashed: it takes a
// token from each, or, when either is empty, takes none and returns a 429
// *Error. Concurrent attempts cannot all pass on the last token. The
// returned refund gives the tokens back; the caller calls it unless the
// attempt failed, so that only failures count. User "" and an invalid ip
// are not counted.
func (t *throttle) admit(user string, ip netip.Addr, now time.Time) (refund func(), e *Error) {
	var taken []*rate.Reservation
	giveBack := func() {
		for _, r := range taken {
			r.CancelAt(now)
		}
	}
	try := func(l *limiterMap, key string) time.Duration {
		r, wait := l.reserve(key, now)
		if r != nil {
			taken = append(taken, r)
		}
		return wait
	}
	var wait time.Duration
	if user != "" && t.users != nil {
		wait = try(t.users, user)
	}
	if k, ok := ipKey(ip); ok && t.ips != nil && wait == 0 {
		wait = try(t.ips, k)
	}
	if wait > 0 {
		giveBack()
		return nil, errTooManyRequests(wait)
	}
	return giveBack, nil
}

// acquire takes a hash slot, waiting at most t.wait; it returns errBusy when
// none frees up in time, ctx's error when ctx ends first, and otherwise the
// function that gives the slot back.
func (t *throttle) acquire(ctx context.Context) (release func(), err error) {
	if t.sem == nil {
		return func() {}, nil
	}
	select {
	case t.sem <- struct{}{}:
		return func() { <-t.sem }, nil
	default:
	}
	if t.waiting.Add(1) > t.queue {
		t.waiting.Add(-1)
		return nil, errBusy
	}
	defer t.waiting.Add(-1)
	timer := time.NewTimer(t.wait)
	defer timer.Stop()
	select {
	case t.sem <- struct{}{}:
		return func() { <-t.sem }, nil
	case <-timer.C:
		return nil, errBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// sweep drops the idle entries of both maps.
func (t *throttle) sweep(now time.Time) {
	if t.users != nil {
		t.users.sweep(now)
	}
	if t.ips != nil {
		t.ips.sweep(now)
	}
}

// ipKey is the limiter key of a client address: the IPv4 address, or the /64
// network of an IPv6 address (one subscriber usually holds a whole /64).
func ipKey(ip netip.Addr) (string, bool) {
	if !ip.IsValid() {
		return "", false
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String(), true
	}
	p, _ := ip.Prefix(64)
	return p.String(), true
}

// limiterMap is a bounded map of token buckets keyed by string. When it
// holds max entries, a new key first makes room by dropping the idle entries
// (full buckets, which carry no state); when every entry is still in use the
// new key is not tracked, and its failures are not counted, rather than
// evicting an entry: evicting would hand a throttled key a full bucket, so an
// attacker could reset a victim's limit by failing under many new keys. The
// other map (address or username) still limits the untracked key's sender.
type limiterMap struct {
	mu        sync.Mutex
	m         map[string]*rate.Limiter
	burst     int
	limit     rate.Limit // tokens per second
	max       int
	full      time.Duration // time an empty bucket takes to refill
	lastSweep time.Time
}

// newLimiterMap returns buckets of burst tokens, one token coming back every
// interval.
func newLimiterMap(burst int, interval time.Duration, maxEntries int) *limiterMap {
	return &limiterMap{m: map[string]*rate.Limiter{}, burst: burst, limit: rate.Every(interval),
		max: maxEntries, full: time.Duration(burst) * interval}
}

// wait returns how long until key's bucket holds a token again; 0 when it
// holds one now (or key is not tracked: a fresh bucket is full).
func (l *limiterMap) wait(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.m[key]
	if !ok {
		return 0
	}
	tokens := lim.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	secs := (1 - tokens) / float64(l.limit)
	return time.Duration(math.Ceil(secs * float64(time.Second)))
}

// take removes one token from key's bucket, creating the bucket (full) when
// key is not tracked. It reports false when key is not tracked because the
// map is full of buckets in use (see limiterMap): the token is not counted.
func (l *limiterMap) take(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.entryLocked(key, now)
	if lim == nil {
		return false
	}
	lim.AllowN(now, 1)
	return true
}

// reserve takes one token from key's bucket if it holds one, under the
// map's lock, and returns the reservation (to cancel as a refund); when the
// bucket is empty it takes nothing and returns how long until it holds a
// token. An untracked key (the map is full) is neither counted nor refused.
func (l *limiterMap) reserve(key string, now time.Time) (*rate.Reservation, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.entryLocked(key, now)
	if lim == nil {
		return nil, 0
	}
	if tokens := lim.TokensAt(now); tokens < 1 {
		return nil, time.Duration(math.Ceil((1 - tokens) / float64(l.limit) * float64(time.Second)))
	}
	return lim.ReserveN(now, 1), 0
}

// entryLocked returns key's bucket, creating it (full) when key is not
// tracked, or nil when the map is full of buckets in use: idle buckets are
// dropped first, and a bucket holding state is never evicted (evicting a
// throttled key would reset its limit).
func (l *limiterMap) entryLocked(key string, now time.Time) *rate.Limiter {
	if lim, ok := l.m[key]; ok {
		return lim
	}
	if now.Sub(l.lastSweep) >= l.full || len(l.m) >= l.max {
		l.sweepLocked(now)
	}
	if len(l.m) >= l.max {
		return nil
	}
	lim := rate.NewLimiter(l.limit, l.burst)
	l.m[key] = lim
	return lim
}

// sweep drops entries whose bucket has refilled: they are the same as an
// absent entry, so nothing is lost.
func (l *limiterMap) sweep(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
}

func (l *limiterMap) sweepLocked(now time.Time) {
	for k, lim := range l.m {
		if lim.TokensAt(now) >= float64(l.burst) {
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

// ClientIP returns the address of the client that sent r. Without trusted
// proxies it is the host of r.RemoteAddr and X-Forwarded-For is ignored (a
// client can write anything there). When the connection comes from an
// address inside one of trusted, the X-Forwarded-For entries (all headers,
// in order) are read from the right, skipping addresses inside trusted; the
// first other entry is the client. When every entry is trusted the left-most
// is the client; when an entry does not parse, the nearest trusted hop to its
// right is returned, so a forged entry never selects an arbitrary address.
// The zero Addr is returned when RemoteAddr does not parse.
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := parseHost(r.RemoteAddr)
	if !peer.IsValid() || !inAny(peer, trusted) {
		return peer
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return client
		}
		client = ip.Unmap()
		if !inAny(client, trusted) {
			return client
		}
	}
	return client
}

// parseHost parses the address of "host:port", "host" or "[v6]:port".
func parseHost(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap()
}

func inAny(ip netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
