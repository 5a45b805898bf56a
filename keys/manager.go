package keys

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Policy is the rotation schedule. Zero fields take the defaults of `jwtauth serve`.
type Policy struct {
	// Bits is the RSA modulus size of new keys: 2048 (default), 3072 or 4096.
	Bits int
	// RotateEvery is how long a key signs before the next key replaces it (default 24h).
	RotateEvery time.Duration
	// Prepublish is the least time a next key is published before it may sign
	// (default 1h; negative is refused by Validate). Callers must keep it at
	// least the JWKS max-age they serve (jwtauth.NewJWKSHandler), so that no
	// verifier's cached JWKS lacks the key when it starts signing; the keys
	// package cannot check this, as it does not know the max-age.
	Prepublish time.Duration
	// Retain is how long a retired key stays published so that tokens it
	// signed still verify: access-token TTL + leeway + JWKS max-age
	// (default 15m + 30s + 5m). A retiring manager stores RetiredAt + Retain
	// as the key's RemoveAt; every manager removes the key only once both
	// that time and RetiredAt + its own Retain have passed, so a process
	// with a shorter Retain never cuts a server's tokens short.
	Retain time.Duration
}

// DefaultPolicy returns the defaults of `jwtauth serve`: 2048-bit keys,
// rotation every 24 h, 1 h pre-publication, and a retention of the 15 min
// access TTL + 30 s leeway + 5 min JWKS max-age.
func DefaultPolicy() Policy {
	return Policy{Bits: 2048, RotateEvery: 24 * time.Hour, Prepublish: time.Hour, Retain: 15*time.Minute + 30*time.Second + 5*time.Minute}
}

func (p Policy) withDefaults() Policy {
	d := DefaultPolicy()
	if p.Bits == 0 {
		p.Bits = d.Bits
	}
	if p.RotateEvery == 0 {
		p.RotateEvery = d.RotateEvery
	}
	if p.Prepublish == 0 {
		p.Prepublish = d.Prepublish
	}
	if p.Retain == 0 {
		p.Retain = d.Retain
	}
	return p
}

// Validate reports a policy that cannot work: an unsupported key size, a
// RotateEvery that is not positive, or a negative Prepublish or Retain. It
// cannot check that Prepublish is at least the JWKS max-age: callers must.
func (p Policy) Validate() error {
	if err := ValidateBits(p.Bits); err != nil {
		return err
	}
	if p.RotateEvery <= 0 || p.Prepublish < 0 || p.Retain < 0 {
		return fmt.Errorf("keys: policy durations must not be negative and RotateEvery must be positive (rotate-every %s, prepublish %s, retain %s)", p.RotateEvery, p.Prepublish, p.Retain)
	}
	return nil
}

// Config configures a Manager. Store is required; every other field has a
// useful zero value.
type Config struct {
	// Store persists the key set; required.
	Store Store
	// Policy is the rotation schedule; zero fields take DefaultPolicy's values.
	Policy Policy
	// KeyEncryptionKey, when set, must be 32 bytes: private keys are sealed
	// with AES-256-GCM (kid as additional data) before they reach the store.
	KeyEncryptionKey []byte
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Generate creates a private key of the given size; default GenerateRSA.
	Generate func(bits int) (*rsa.PrivateKey, error)
	// Logger receives one line per lifecycle transition; default slog.Default().
	Logger *slog.Logger
	// OnTransition, when set, is called once for each lifecycle transition
	// of a key in this manager's set after Open loaded it, whether this
	// manager performed it or picked it up from the store (the keys CLI,
	// another instance): from is "created" for a key new to the set, or
	// the State this manager last saw (so a key that went next → active →
	// retired between two reloads counts once, next → retired); to is a
	// State, or "removed" for a key that left the set. The keys the store
	// holds when Open first loads it are no transitions (those Open
	// creates in an empty store are: created → active, created → next).
	// It is called with an internal lock held: keep it quick and do not
	// call the Manager.
	OnTransition func(kid, from, to string)
	// NoSchedule makes Open load the set and apply no scheduled transition:
	// for tools acting on a store a server owns (the keys CLI verbs), whose
	// Policy need not match the server's. On an empty store it creates no
	// key. Rotate and Revoke work as usual; Maintain applies the schedule.
	// When the store is a ScheduleStore holding the servers' schedule, its
	// RotateEvery, Prepublish and Retain (when stored) replace Policy's, so
	// a key the tool retires leaves the JWKS when the servers' retention
	// says; without NoSchedule, Open saves Policy's there (Schedule).
	NoSchedule bool
}

// Manager owns the key set of one process: it loads it from the Store, keeps
// the current Set in memory, performs the lifecycle transitions and notices
// changes other processes made to the store. It is safe for concurrent use.
type Manager struct {
	store   Store
	policy  Policy
	codec   *codec
	now     func() time.Time
	gen     func(int) (*rsa.PrivateKey, error)
	log     *slog.Logger
	onTrans func(kid, from, to string)
	current atomic.Pointer[Set]
	loadErr atomic.Pointer[error] // last reload's decode failure
	sealed  atomic.Bool           // a KEK is set and this process sealed the set: clear records are refused

	// seq hands out tickets that order what the store said: a reload takes
	// one before it reads, a commit after its write returned. A set is
	// installed only with a ticket newer than the current set's, so a read
	// that began before a commit never replaces what the commit installed.
	// Versions cannot order sets: they are opaque and never repeat, they
	// do not grow (see Store.KeysVersion).
	seq     atomic.Uint64
	instMu  sync.Mutex
	instSeq uint64

	mu    sync.Mutex      // serializes this process's writes
	spare *rsa.PrivateKey // generated but not yet committed (kept across conflicts)
}

// Open loads the key set from cfg.Store and, unless cfg.NoSchedule is set,
// brings it up to date with the schedule (Maintain): on an empty store it
// creates and persists the first active key and a next key. It fails, changing nothing, when a stored key does not decode
// (ErrCorruptKey) or the key-encryption key is missing or wrong (ErrKeyEncryptionKey).
func Open(ctx context.Context, cfg Config) (*Manager, error) {
	if cfg.Store == nil {
		return nil, errors.New("keys: Config.Store is required")
	}
	p := cfg.Policy.withDefaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	c, err := newCodec(cfg.KeyEncryptionKey)
	if err != nil {
		return nil, err
	}
	m := &Manager{store: cfg.Store, policy: p, codec: c, now: cfg.Now, gen: cfg.Generate, log: cfg.Logger, onTrans: cfg.OnTransition}
	if m.now == nil {
		m.now = time.Now
	}
	if m.gen == nil {
		m.gen = GenerateRSA
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if _, err := m.reload(ctx); err != nil {
		return nil, err
	}
	if err := m.sealClearKeys(ctx); err != nil {
		return nil, err
	}
	if ss, ok := cfg.Store.(ScheduleStore); ok {
		if err := m.shareSchedule(ctx, ss, cfg.NoSchedule); err != nil {
			return nil, err
		}
	}
	if cfg.NoSchedule {
		return m, nil
	}
	if err := m.Maintain(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// shareSchedule saves this manager's schedule in the store, or, for a
// NoSchedule manager (a tool acting on a store the servers own), takes the
// servers' schedule from it, so that "may the next key sign yet" and "when
// does a retired key leave" are decided the same way everywhere.
func (m *Manager) shareSchedule(ctx context.Context, ss ScheduleStore, noSchedule bool) error {
	if !noSchedule {
		if err := ss.SaveSchedule(ctx, m.policy.Schedule()); err != nil {
			return fmt.Errorf("keys: save schedule: %w", err)
		}
		return nil
	}
	stored, err := ss.LoadSchedule(ctx)
	if err != nil {
		return fmt.Errorf("keys: load schedule: %w", err)
	}
	if !stored.IsZero() && stored.Prepublish >= 0 {
		m.policy.RotateEvery, m.policy.Prepublish = stored.RotateEvery, stored.Prepublish
		if stored.Retain > 0 { // zero: stored before retention was part of it
			m.policy.Retain = stored.Retain
		}
	}
	return nil
}

// sealClearKeys rewrites, in one transaction, the keys stored in clear
// before a key-encryption key was configured, so that no private key stays
// readable in the store once a KEK is set.
func (m *Manager) sealClearKeys(ctx context.Context) error {
	if m.codec.aead == nil {
		return nil
	}
	var sealed int
	err := m.update(ctx, func(d *draft) error {
		sealed = 0
		for _, k := range d.keys {
			if !isSealed(k.blob) {
				d.mark(k)
				sealed++
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if sealed > 0 {
		m.log.Info("sealed private keys that were stored in clear", "keys", sealed)
	}
	m.sealed.Store(true)
	return nil
}

// Policy returns the policy in force, defaults filled in.
func (m *Manager) Policy() Policy { return m.policy }

// Current returns the current snapshot of the key set.
func (m *Manager) Current() *Set { return m.current.Load() }

// SigningKey returns the active key, or an error wrapping ErrNoActiveKey.
// When the set has no active key because the stored set does not decode
// here, the error also wraps Err's cause (ErrKeyEncryptionKey: this
// process's key-encryption key differs from the one that sealed the key;
// ErrCorruptKey), so that a server answers 503 naming it.
func (m *Manager) SigningKey() (*Key, error) {
	if k := m.Current().Active(); k != nil {
		return k, nil
	}
	if err := m.Err(); err != nil {
		return nil, noActiveKeyError{err}
	}
	return nil, ErrNoActiveKey
}

// noActiveKeyError is ErrNoActiveKey for a set whose records do not decode.
type noActiveKeyError struct{ cause error }

func (e noActiveKeyError) Error() string {
	return ErrNoActiveKey.Error() + ": " + strings.TrimPrefix(e.cause.Error(), "keys: ")
}

func (e noActiveKeyError) Unwrap() []error { return []error{ErrNoActiveKey, e.cause} }

// VerificationKey returns the public key for kid from the current set; see Set.VerificationKey.
func (m *Manager) VerificationKey(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	return m.Current().VerificationKey(ctx, kid)
}

// reload reads the store and installs the set it holds. A record that does
// not decode (a wrong or missing key-encryption key, a corrupt row) is
// handled so that state changes still take effect: a key this process has
// already decoded keeps its private key (the kid is the key's thumbprint, so
// the record names the same key) with the record's state; a revoked key is
// kept as a kid-only placeholder that verifies nothing. Any other such
// record is left out of the installed set and reported: the set then may
// lack a key, never holds a key the store revoked, and Err reports the
// failure until a reload succeeds.
func (m *Manager) reload(ctx context.Context) (*Set, error) {
	ticket := m.seq.Add(1)
	recs, version, err := m.store.LoadKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: load: %w", err)
	}
	// Once a key-encryption key is set and the set is sealed (by this
	// process, or by another one: a sealed record is stored), a clear record
	// was written by someone without the KEK, maybe to plant a key: refused.
	strict := m.codec.aead != nil && (m.sealed.Load() || slices.ContainsFunc(recs, Record.IsSealed))
	ks := make([]*Key, 0, len(recs))
	var bad error
	for _, r := range recs {
		var k *Key
		if strict && !r.IsSealed() {
			err = fmt.Errorf("%w: key %s is stored in clear in a sealed key set: refused", ErrCorruptKey, r.KID)
		} else {
			k, err = m.codec.decode(r)
		}
		if err != nil {
			if k = m.codec.fallback(r); k == nil {
				bad = errors.Join(bad, err)
				continue
			}
		}
		ks = append(ks, k)
	}
	s := m.install(newSet(version, ks), ticket)
	m.setErr(bad)
	if bad != nil {
		return s, bad
	}
	return s, nil
}

// install makes s, read or written under ticket, the current set unless a
// set with a later ticket is already current (a Refresh that read the store
// before a concurrent Rotate committed must not undo it), and returns the
// set that is current. Only the tickets order sets: a version that is lower
// or equal is still a change (a store restored from a backup).
func (m *Manager) install(s *Set, ticket uint64) *Set {
	m.instMu.Lock()
	defer m.instMu.Unlock()
	cur := m.current.Load()
	if cur != nil && ticket < m.instSeq {
		return cur
	}
	m.instSeq = ticket
	m.current.Store(s)
	if m.onTrans != nil && cur != nil {
		transitions(cur, s, m.onTrans)
	}
	return s
}

// transitions calls fn for each key whose state differs between the sets
// from and to, "created" and "removed" for keys only in one of them.
func transitions(from, to *Set, fn func(kid, from, to string)) {
	for _, k := range to.keys {
		if old, ok := from.Lookup(k.KID); !ok {
			fn(k.KID, "created", string(k.State))
		} else if old.State != k.State {
			fn(k.KID, string(old.State), string(k.State))
		}
	}
	for _, k := range from.keys {
		if _, ok := to.Lookup(k.KID); !ok {
			fn(k.KID, string(k.State), "removed")
		}
	}
}

// Err reports why the last reload of the key set could not decode every
// stored key (wrapping ErrKeyEncryptionKey or ErrCorruptKey), or nil. A
// server should report itself unhealthy while it is not nil.
func (m *Manager) Err() error {
	if p := m.loadErr.Load(); p != nil {
		return *p
	}
	return nil
}

// setErr records the outcome of a reload and logs a change of it: one
// line when the set stops decoding whole (or fails for another reason), one
// when it decodes again, none for a reload that fails as the last did.
func (m *Manager) setErr(err error) {
	var old error
	if err == nil {
		if p := m.loadErr.Swap(nil); p != nil {
			m.log.Info("key set decodes again")
		}
		return
	}
	if p := m.loadErr.Swap(&err); p != nil {
		old = *p
	}
	if old == nil || old.Error() != err.Error() {
		m.log.Error("the stored key set does not decode here; health checks fail, and without a decodable active key /login and /refresh answer 503, until it does", "err", err)
	}
}

// Refresh reloads the key set when the store's version differs from the
// current one, higher or lower, so that changes made by the CLI or another
// instance take effect, also after the store was restored from a backup or
// failed over to a lagging replica. It returns whether the set changed.
func (m *Manager) Refresh(ctx context.Context) (bool, error) {
	v, err := m.store.KeysVersion(ctx)
	if err != nil {
		return false, fmt.Errorf("keys: version: %w", err)
	}
	cur := m.Current()
	if cur != nil && cur.Version() == v {
		return false, nil
	}
	s, err := m.reload(ctx)
	if s != nil && cur != nil {
		attrs := []any{"version", s.Version()}
		if a := s.Active(); a != nil {
			attrs = append(attrs, "active", a.KID)
		}
		if n := s.Next(); n != nil {
			attrs = append(attrs, "next", n.KID)
		}
		m.log.Info("key set changed in the store", attrs...)
	}
	return err == nil, err
}

// NextDue returns when the schedule next has something to do for set s: the
// active key's rotation (not before the next key has been published for the
// pre-publication lead) or a retired key's removal: the later of its stored
// RemoveAt and its RetiredAt plus this manager's Policy.Retain.
func (m *Manager) NextDue(s *Set) time.Time {
	var due time.Time
	earliest := func(t time.Time) {
		if due.IsZero() || t.Before(due) {
			due = t
		}
	}
	if t := m.RotationDue(s); !t.IsZero() {
		earliest(t)
	} else {
		earliest(m.now())
	}
	for _, k := range s.keys {
		if k.State == StateRetired {
			earliest(m.removalDue(k))
		}
	}
	return due
}

// RotationDue returns when the schedule promotes the next key of set s:
// the active key's ActivatedAt plus RotateEvery, or the time of a requested
// rotation (Rotate) when earlier, but not before the next key has been
// published for the pre-publication lead. It is the zero Time when s has no
// active key. A time in the past means the rotation is overdue (the Run
// loop performs it within its poll interval).
func (m *Manager) RotationDue(s *Set) time.Time {
	a := s.Active()
	if a == nil {
		return time.Time{}
	}
	t := a.ActivatedAt.Add(m.policy.RotateEvery)
	if n := s.Next(); n != nil {
		if !n.ActivatedAt.IsZero() && n.ActivatedAt.Before(t) { // a requested rotation
			t = n.ActivatedAt
		}
		if p := n.PublishedAt.Add(m.policy.Prepublish); p.After(t) {
			t = p
		}
	}
	return t
}

// removalDue returns when this manager removes the retired key k: the later
// of the stored k.RemoveAt, which the process that retired k computed from
// its own Policy.Retain, and k.RetiredAt plus this manager's Policy.Retain.
// So a server keeps a retired key published for as long as its own access
// tokens live, whoever retired the key (a CLI with a shorter --access-ttl,
// or an instance with another configuration).
func (m *Manager) removalDue(k *Key) time.Time {
	due := k.RetiredAt.Add(m.policy.Retain)
	if k.RemoveAt.After(due) {
		return k.RemoveAt
	}
	return due
}

// Maintain performs what the schedule says is due now: it removes retired
// keys past their retention (both the stored RemoveAt and RetiredAt plus
// this manager's Policy.Retain have passed: each server keeps a retired key
// for its own token lifetime, whoever retired it), promotes the next key
// when the active one has signed for RotateEvery (and the next key has been
// public for Prepublish), creates the first key of an empty store and keeps
// one next key published.
// Of several processes calling it at once, one performs each transition.
func (m *Manager) Maintain(ctx context.Context) error {
	return m.update(ctx, func(d *draft) error {
		now := d.now
		for _, k := range d.inState(StateRetired) {
			if !now.Before(m.removalDue(k)) {
				d.remove(k, "retention elapsed")
			}
		}
		active, next := d.first(StateActive), d.first(StateNext)
		switch {
		case active == nil && next != nil:
			d.promote(next, "no active key")
		case active == nil:
			k, err := d.create(StateActive, "first signing key")
			if err != nil {
				return err
			}
			k.ActivatedAt = now
		case next != nil && !now.Before(active.ActivatedAt.Add(m.policy.RotateEvery)) &&
			!now.Before(next.PublishedAt.Add(m.policy.Prepublish)):
			d.retire(active, "scheduled rotation")
			d.promote(next, "scheduled rotation")
		case next != nil && !next.ActivatedAt.IsZero() && !now.Before(next.ActivatedAt) &&
			!now.Before(next.PublishedAt.Add(m.policy.Prepublish)):
			d.retire(active, "requested rotation")
			d.promote(next, "requested rotation")
		}
		return d.ensureNext()
	})
}

// RotateResult says what Rotate did.
type RotateResult struct {
	Promoted  string    // kid of the new active key; empty when nothing was promoted yet
	Retired   string    // kid of the key that stopped signing
	Next      string    // kid of the published next key after the call
	PromoteAt time.Time // when not promoted yet: the time the schedule promotes the next key
}

// ErrNotPrepublished is returned by Rotate (without force) when the next key
// has not been published for the pre-publication lead. The request is
// stored: RotateResult.PromoteAt says when the schedule (Maintain, run by
// every server's Run loop) promotes the key.
var ErrNotPrepublished = errors.New("keys: next key not published long enough to sign")

// Rotate promotes the published next key on demand. Without force, while the
// next key has been public for less than the pre-publication lead (creating
// a next key first if there is none), it stores the request instead, as the
// next key's ActivatedAt, and returns ErrNotPrepublished: Maintain promotes
// the key at RotateResult.PromoteAt. With
// force it promotes at once: verifiers whose cached JWKS predates the next key
// may meet an unknown kid until they refresh.
func (m *Manager) Rotate(ctx context.Context, force bool) (RotateResult, error) {
	var res RotateResult
	err := m.update(ctx, func(d *draft) error {
		res = RotateResult{}
		next := d.first(StateNext)
		if next == nil {
			k, err := d.create(StateNext, "rotation requested")
			if err != nil {
				return err
			}
			next = k
		}
		if ready := next.PublishedAt.Add(m.policy.Prepublish); !force && d.now.Before(ready) {
			res.Next, res.PromoteAt = next.KID, ready
			if !next.ActivatedAt.Equal(ready) {
				// Remember the request: Maintain promotes the key at ready.
				d.logs = append(d.logs, transitionLog{kid: next.KID, promoteAt: ready, why: "rotation requested"})
				next.ActivatedAt = ready
				d.mark(next)
			}
			return nil
		}
		why := "rotation requested"
		if force {
			why = "forced rotation"
		}
		if a := d.first(StateActive); a != nil {
			d.retire(a, why)
			res.Retired = a.KID
		}
		d.promote(next, why)
		res.Promoted = next.KID
		if err := d.ensureNext(); err != nil {
			return err
		}
		res.Next = d.first(StateNext).KID
		return nil
	})
	if err == nil && res.Promoted == "" {
		err = fmt.Errorf("%w: next key %s may sign from %s", ErrNotPrepublished, res.Next, res.PromoteAt.UTC().Format(time.RFC3339))
	}
	return res, err
}

// RevokeOptions tunes Manager.RevokeWith. The zero value is the safe
// choice for an emergency.
type RevokeOptions struct {
	// PromoteNext makes revoking the active key promote the pre-published
	// next key, as `jwtauth keys revoke --promote-next` does, instead of a
	// freshly generated one. Every verifier already caches that key, so
	// none of them has a reason to fetch the JWKS again before its cache
	// expires, and until then it accepts tokens of the revoked key (go-oidc
	// until the next rotation, mod_auth_openidc up to its refresh interval,
	// jwks-rsa for its 10 min cache age). Use it only for verifiers that
	// never refetch on an unknown kid and must not reject new tokens.
	PromoteNext bool
}

// RevokeResult says what a revocation did.
type RevokeResult struct {
	Revoked string // kid of the revoked key
	// Promoted is the kid of the key that took over signing when the
	// revoked key was the active one; empty otherwise.
	Promoted string
	// Fresh is true when Promoted is a key the revocation generated (the
	// zero RevokeOptions): no verifier has cached it, so a verifier that
	// refetches on an unknown kid reloads the JWKS, without the revoked
	// key, at the first token it signs. False when Promoted is the
	// pre-published next key (PromoteNext).
	Fresh  bool
	Active string // kid of the signing key after the call
	Next   string // kid of the published next key after the call
}

// Revoke is RevokeWith with the zero RevokeOptions: the emergency path for
// a compromised key.
func (m *Manager) Revoke(ctx context.Context, kid string) error {
	_, err := m.RevokeWith(ctx, kid, RevokeOptions{})
	return err
}

// RevokeWith is the emergency path for a compromised key (SPEC §3): the key
// leaves the JWKS and stops verifying here at once. Revoking the active key
// makes a newly generated key active in the same transaction (with
// opts.PromoteNext, the next key), so that signing never stops: a verifier
// caching the JWKS meets a kid it has never seen at the first new token
// and, if it refetches on an unknown kid (go-oidc, mod_auth_openidc,
// jwks-rsa, remote.KeySet), reloads a JWKS without the revoked key. The
// pre-published next key stays next; revoking the next key publishes a
// new one. The new key is generated before the store is
// locked (RSA generation takes seconds). It returns ErrUnknownKey for a kid
// not in the set and ErrInvalidTransition for a key already revoked.
//
// The cost: a verifier that never refetches on an unknown kid rejects the
// new tokens until its cached JWKS expires.
func (m *Manager) RevokeWith(ctx context.Context, kid string, opts RevokeOptions) (RevokeResult, error) {
	if k, ok := m.Current().Lookup(kid); !ok || k.State == StateActive || k.State == StateNext {
		// The transaction below creates a key: have it generated now,
		// outside the write lock.
		if err := m.fillSpare(); err != nil {
			return RevokeResult{}, err
		}
	}
	var res RevokeResult
	err := m.update(ctx, func(d *draft) error {
		res = RevokeResult{Revoked: kid}
		k := d.byKID(kid)
		if k == nil {
			return fmt.Errorf("%w: %q", ErrUnknownKey, kid)
		}
		if k.State == StateRevoked {
			return fmt.Errorf("%w: %s is already revoked", ErrInvalidTransition, kid)
		}
		wasActive := k.State == StateActive
		d.transition(k, StateRevoked, "revoked by operator")
		k.RevokedAt = d.now
		if wasActive {
			if next := d.first(StateNext); next != nil && opts.PromoteNext {
				d.promote(next, "active key revoked")
				res.Promoted = next.KID
			} else {
				nk, err := d.create(StateActive, "active key revoked")
				if err != nil {
					return err
				}
				nk.ActivatedAt = d.now
				res.Promoted, res.Fresh = nk.KID, true
			}
		}
		if err := d.ensureNext(); err != nil {
			return err
		}
		if a := d.first(StateActive); a != nil {
			res.Active = a.KID
		}
		res.Next = d.first(StateNext).KID
		return nil
	})
	if err != nil {
		return RevokeResult{}, err
	}
	return res, nil
}

// fillSpare generates a key for the next transaction that creates one,
// unless one of the policy's size is waiting, without holding the write
// lock.
func (m *Manager) fillSpare() error {
	m.mu.Lock()
	have := m.spare != nil && m.spare.N.BitLen() == m.policy.Bits
	m.mu.Unlock()
	if have {
		return nil
	}
	k, err := m.gen(m.policy.Bits)
	if err != nil {
		return err
	}
	m.mu.Lock()
	if m.spare == nil || m.spare.N.BitLen() != m.policy.Bits {
		m.spare = k
	}
	m.mu.Unlock()
	return nil
}

// Run keeps the key set current until ctx ends: every poll interval, and at
// once when the store is a ChangeNotifier that signals, it picks up changes
// made by other processes and performs due transitions. A poll of zero or
// less means 2 s. Errors are
// logged and retried at the next poll; the last good set stays in use. It
// generates the key the next transition publishes in advance, so that a
// due transition never waits for an RSA generation while other instances
// already serve the new set. It returns once ctx has ended and a key
// generation under way has finished.
func (m *Manager) Run(ctx context.Context, poll time.Duration) {
	if poll <= 0 {
		poll = 2 * time.Second
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	var changes <-chan struct{}
	if n, ok := m.store.(ChangeNotifier); ok {
		changes = n.KeyChanges(ctx)
	}
	wake := make(chan struct{}, 1)
	var spare sync.WaitGroup
	spare.Go(func() { m.keepSpare(ctx, wake) })
	defer spare.Wait() // a generation under way finishes: no goroutine outlives Run
	for {
		select {
		case wake <- struct{}{}:
		default:
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case _, ok := <-changes:
			if !ok {
				changes = nil // notifier gone: polling goes on
				continue
			}
		}
		if _, err := m.Refresh(ctx); err != nil {
			if ctx.Err() == nil && !decodeFailure(err) { // a decode failure is logged once, by setErr
				m.log.Error("key set refresh failed", "err", err)
			}
			continue
		}
		// A set that does not decode whole is not ours to change: a process
		// with the right key-encryption key maintains it.
		if m.Err() == nil && !m.now().Before(m.NextDue(m.Current())) {
			if err := m.Maintain(ctx); err != nil && ctx.Err() == nil {
				m.log.Error("key rotation failed", "err", err)
			}
		}
	}
}

// keepSpare generates the key the next transition will publish whenever
// wake fires and there is none, outside the write lock, until ctx ends. So a
// due rotation commits, or loses to another instance's, at once instead of
// after an RSA generation (seconds on a busy machine), during which this
// process would hold the lock, miss the other instances' changes and serve
// the previous JWKS.
func (m *Manager) keepSpare(ctx context.Context, wake <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		}
		if err := m.fillSpare(); err != nil && ctx.Err() == nil {
			m.log.Warn("generating the next key in advance failed; the next rotation generates it", "err", err)
		}
	}
}

// decodeFailure reports whether err is a stored record that does not decode.
func decodeFailure(err error) bool {
	return errors.Is(err, ErrKeyEncryptionKey) || errors.Is(err, ErrCorruptKey)
}

// update runs fn on a fresh copy of the stored set and commits its changes
// with the version check, retrying when another writer got there first.
func (m *Manager) update(ctx context.Context, fn func(*draft) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for attempt := 0; attempt < 8; attempt++ {
		set, err := m.reload(ctx)
		if err != nil {
			return err
		}
		d := &draft{m: m, now: m.now(), keys: make([]*Key, 0, len(set.keys))}
		for _, k := range set.keys {
			d.keys = append(d.keys, k.clone())
		}
		if err := fn(d); err != nil {
			m.giveBack(d)
			return err
		}
		if len(d.dirty) == 0 && len(d.removed) == 0 {
			return nil
		}
		var ch Change
		for _, k := range d.keys {
			if d.dirty[k.KID] {
				r, err := m.codec.encode(k)
				if err != nil {
					return err
				}
				ch.Put = append(ch.Put, r)
			}
		}
		ch.Delete = d.removed
		version, err := m.store.ApplyKeys(ctx, set.Version(), ch)
		if errors.Is(err, ErrConflict) {
			m.giveBack(d)
			continue
		}
		if err != nil {
			m.giveBack(d)
			return fmt.Errorf("keys: apply: %w", err)
		}
		for _, l := range d.logs {
			if !l.promoteAt.IsZero() {
				m.log.Info("key promotion scheduled", "kid", l.kid, "state", StateNext, "promote_at", l.promoteAt.UTC().Format(time.RFC3339), "why", l.why)
				continue
			}
			m.log.Info("key transition", "kid", l.kid, "from", l.from, "to", l.to, "why", l.why)
		}
		live := d.keys[:0]
		for _, k := range d.keys {
			if !d.isRemoved(k.KID) {
				live = append(live, k)
			}
		}
		m.install(newSet(version, live), m.seq.Add(1))
		return nil
	}
	return fmt.Errorf("keys: %w: gave up after repeated conflicts", ErrConflict)
}

// giveBack keeps a key generated by a draft that was not committed, so a
// retry does not pay for RSA generation again.
func (m *Manager) giveBack(d *draft) {
	for _, k := range d.created {
		m.spare = k.Private
	}
}

func (m *Manager) generate() (*rsa.PrivateKey, error) {
	if p := m.spare; p != nil && p.N.BitLen() == m.policy.Bits {
		m.spare = nil
		return p, nil
	}
	return m.gen(m.policy.Bits)
}

// draft is a mutable copy of the set inside one update.
type draft struct {
	m       *Manager
	now     time.Time
	keys    []*Key
	dirty   map[string]bool
	removed []string
	created []*Key
	logs    []transitionLog
}

type transitionLog struct {
	kid       string
	from, to  string
	why       string
	promoteAt time.Time // a promotion scheduled, not a transition: from and to are empty
}

func (d *draft) byKID(kid string) *Key {
	for _, k := range d.keys {
		if k.KID == kid && !d.isRemoved(kid) {
			return k
		}
	}
	return nil
}

func (d *draft) hasKID(kid string) bool {
	for _, k := range d.keys {
		if k.KID == kid {
			return true
		}
	}
	return false
}

func (d *draft) isRemoved(kid string) bool {
	for _, r := range d.removed {
		if r == kid {
			return true
		}
	}
	return false
}

// first returns the newest key in state s.
func (d *draft) first(s State) *Key {
	var best *Key
	for _, k := range d.keys {
		if k.State == s && !d.isRemoved(k.KID) && (best == nil || k.CreatedAt.After(best.CreatedAt)) {
			best = k
		}
	}
	return best
}

func (d *draft) inState(s State) []*Key {
	var out []*Key
	for _, k := range d.keys {
		if k.State == s && !d.isRemoved(k.KID) {
			out = append(out, k)
		}
	}
	return out
}

func (d *draft) mark(k *Key) {
	if d.dirty == nil {
		d.dirty = map[string]bool{}
	}
	d.dirty[k.KID] = true
}

func (d *draft) transition(k *Key, to State, why string) {
	d.logs = append(d.logs, transitionLog{kid: k.KID, from: string(k.State), to: string(to), why: why})
	k.State = to
	d.mark(k)
}

func (d *draft) promote(k *Key, why string) {
	d.transition(k, StateActive, why)
	k.ActivatedAt = d.now
}

func (d *draft) retire(k *Key, why string) {
	d.transition(k, StateRetired, why)
	k.RetiredAt = d.now
	k.RemoveAt = d.now.Add(d.m.policy.Retain)
}

func (d *draft) remove(k *Key, why string) {
	d.logs = append(d.logs, transitionLog{kid: k.KID, from: string(k.State), to: "removed", why: why})
	d.removed = append(d.removed, k.KID)
}

// create generates a key, published now, in state s.
func (d *draft) create(s State, why string) (*Key, error) {
	var k *Key
	for attempt := 0; k == nil; attempt++ {
		priv, err := d.m.generate()
		if err != nil {
			return nil, err
		}
		if k, err = NewKey(priv, s, d.now); err != nil {
			return nil, err
		}
		if d.hasKID(k.KID) { // the same key twice would overwrite a stored record
			if attempt == 2 {
				return nil, fmt.Errorf("keys: generator returned key %s, which the set already holds", k.KID)
			}
			k = nil
		}
	}
	k.PublishedAt = d.now
	d.keys = append(d.keys, k)
	d.created = append(d.created, k)
	d.logs = append(d.logs, transitionLog{kid: k.KID, from: "created", to: string(s), why: why})
	d.mark(k)
	return k, nil
}

// ensureNext publishes a next key when there is none.
func (d *draft) ensureNext() error {
	if d.first(StateNext) != nil {
		return nil
	}
	_, err := d.create(StateNext, "pre-publication")
	return err
}
