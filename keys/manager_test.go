package keys_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clock is a manual clock for the schedule.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var quiet = slog.New(slog.DiscardHandler)

var policy = keys.Policy{Bits: 2048, RotateEvery: 24 * time.Hour, Prepublish: time.Hour, Retain: 20 * time.Minute}

func open(t *testing.T, s keys.Store, c *clock, kek []byte) *keys.Manager {
	t.Helper()
	m, err := keys.Open(context.Background(), keys.Config{Store: s, Policy: policy, Now: c.Now, Generate: keystest.Generator(t), KeyEncryptionKey: kek, Logger: quiet})
	require.NoError(t, err)
	return m
}

func states(s *keys.Set) map[keys.State]int {
	out := map[keys.State]int{}
	for _, k := range s.Keys() {
		out[k.State]++
	}
	return out
}

func TestOpenEmptyStoreCreatesActiveAndNextAndRestartKeepsThem(t *testing.T) {
	st, c := memory.New(), newClock()
	m := open(t, st, c, nil)
	set := m.Current()
	require.NotNil(t, set.Active())
	require.NotNil(t, set.Next())
	assert.Equal(t, map[keys.State]int{keys.StateActive: 1, keys.StateNext: 1}, states(set))
	assert.Equal(t, c.Now(), set.Active().ActivatedAt)
	assert.Len(t, set.Published(), 2)

	// A restart: a second manager on the same store loads the same keys and creates none.
	v := set.Version()
	m2 := open(t, st, c, nil)
	assert.Equal(t, set.Active().KID, m2.Current().Active().KID)
	assert.Equal(t, set.Next().KID, m2.Current().Next().KID)
	assert.Equal(t, v, m2.Current().Version())
}

func TestKidIsRFC7638Thumbprint(t *testing.T) {
	// RFC 7638 §3.1 example key and thumbprint.
	const jwkJSON = `{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`
	k, err := jwk.ParseKey([]byte(jwkJSON))
	require.NoError(t, err)
	var pub rsa.PublicKey
	require.NoError(t, jwk.Export(k, &pub))
	tp, err := keys.Thumbprint(&pub)
	require.NoError(t, err)
	assert.Equal(t, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", tp)

	key, err := keys.NewKey(keystest.Keys(t)[0], keys.StateNext, time.Now())
	require.NoError(t, err)
	want, err := keys.Thumbprint(key.Public())
	require.NoError(t, err)
	assert.Equal(t, want, key.KID)
	pj := key.PublicJWK()
	assert.Equal(t, want, pj.KID)
	assert.Equal(t, "sig", pj.Use)
	assert.Equal(t, "RS256", pj.Alg)
	b, err := json.Marshal(pj)
	require.NoError(t, err)
	var members map[string]any
	require.NoError(t, json.Unmarshal(b, &members))
	assert.ElementsMatch(t, []string{"alg", "e", "kid", "kty", "n", "use"}, slices.Collect(maps.Keys(members)), "public members only")
}

func TestKeySizesOtherThan2048To4096AreRefused(t *testing.T) {
	_, err := keys.NewKey(keystest.Weak(t), keys.StateNext, time.Now())
	assert.ErrorIs(t, err, keys.ErrUnsupportedBits)
	_, err = keys.GenerateRSA(1024)
	assert.ErrorIs(t, err, keys.ErrUnsupportedBits)
	_, err = keys.GenerateRSA(2049)
	assert.ErrorIs(t, err, keys.ErrUnsupportedBits)
	st := memory.New()
	_, err = keys.Open(context.Background(), keys.Config{Store: st, Policy: keys.Policy{Bits: 1024}})
	assert.ErrorIs(t, err, keys.ErrUnsupportedBits)
	_, v, err := st.LoadKeys(context.Background())
	require.NoError(t, err)
	assert.Zero(t, v, "a refused policy must not write anything")
}

func TestScheduledRotationRetirementAndRemoval(t *testing.T) {
	st, c := memory.New(), newClock()
	m := open(t, st, c, nil)
	ctx := context.Background()
	first, next := m.Current().Active(), m.Current().Next()

	c.Add(23 * time.Hour)
	require.NoError(t, m.Maintain(ctx))
	assert.Equal(t, first.KID, m.Current().Active().KID, "not due yet")

	c.Add(time.Hour)
	require.NoError(t, m.Maintain(ctx))
	set := m.Current()
	assert.Equal(t, next.KID, set.Active().KID, "the published next key is promoted")
	old, ok := set.Lookup(first.KID)
	require.True(t, ok)
	assert.Equal(t, keys.StateRetired, old.State)
	assert.Equal(t, c.Now(), old.RetiredAt)
	assert.Equal(t, c.Now().Add(policy.Retain), old.RemoveAt)
	assert.Len(t, set.Published(), 3, "retired, active and a fresh next key")
	_, err := set.VerificationKey(ctx, first.KID)
	assert.NoError(t, err, "a retired key still verifies")
	assert.Equal(t, c.Now().Add(policy.Retain), m.NextDue(set))

	c.Add(policy.Retain)
	require.NoError(t, m.Maintain(ctx))
	_, ok = m.Current().Lookup(first.KID)
	assert.False(t, ok, "retired key removed after its retention")
	_, err = m.Current().VerificationKey(ctx, first.KID)
	assert.ErrorIs(t, err, keys.ErrUnknownKey)
	assert.Len(t, m.Current().Published(), 2)
}

func TestCatchUpAfterDowntimeRotatesOnce(t *testing.T) {
	st, c := memory.New(), newClock()
	m := open(t, st, c, nil)
	first := m.Current().Active().KID
	c.Add(7 * 24 * time.Hour)
	m2 := open(t, st, c, nil) // restart after a week
	set := m2.Current()
	assert.NotEqual(t, first, set.Active().KID)
	assert.Equal(t, map[keys.State]int{keys.StateActive: 1, keys.StateNext: 1, keys.StateRetired: 1}, states(set))
	v := set.Version()
	require.NoError(t, m2.Maintain(context.Background()))
	assert.Equal(t, v, m2.Current().Version(), "no burst of rotations")
}

func TestRotateOnDemandRespectsPrepublication(t *testing.T) {
	st, c := memory.New(), newClock()
	m := open(t, st, c, nil)
	ctx := context.Background()
	c.Add(30 * time.Minute)
	res, err := m.Rotate(ctx, false)
	require.ErrorIs(t, err, keys.ErrNotPrepublished)
	assert.Empty(t, res.Promoted)
	assert.Equal(t, m.Current().Next().KID, res.Next)
	assert.Equal(t, c.Now().Add(30*time.Minute), res.PromoteAt)

	c.Add(30 * time.Minute)
	prevActive := m.Current().Active().KID
	res, err = m.Rotate(ctx, false)
	require.NoError(t, err)
	assert.Equal(t, prevActive, res.Retired)
	assert.Equal(t, m.Current().Active().KID, res.Promoted)
	assert.Equal(t, m.Current().Next().KID, res.Next)

	// Right after, the new next key is fresh: only --now promotes it.
	_, err = m.Rotate(ctx, false)
	require.ErrorIs(t, err, keys.ErrNotPrepublished)
	res, err = m.Rotate(ctx, true)
	require.NoError(t, err)
	assert.Equal(t, m.Current().Active().KID, res.Promoted)
	assert.Equal(t, 1, states(m.Current())[keys.StateActive])
}

func TestRevoke(t *testing.T) {
	st, c := memory.New(), newClock()
	m := open(t, st, c, nil)
	ctx := context.Background()
	active, next := m.Current().Active().KID, m.Current().Next().KID
	cached := map[string]bool{active: true, next: true} // every verifier's copy of the JWKS

	v := m.Current().Version()
	assert.ErrorIs(t, m.Revoke(ctx, "no-such-kid"), keys.ErrUnknownKey)
	assert.Equal(t, v, m.Current().Version(), "an unknown kid changes nothing")

	c.Add(time.Hour)
	require.NoError(t, m.Revoke(ctx, active))
	set := m.Current()
	fresh := set.Active()
	require.NotNil(t, fresh, "a key signs from the same transaction on")
	assert.False(t, cached[fresh.KID], "the key that signs after the revocation is one no verifier has cached")
	assert.Equal(t, c.Now(), fresh.PublishedAt)
	assert.Equal(t, c.Now(), fresh.ActivatedAt)
	require.NotNil(t, set.Next())
	assert.Equal(t, next, set.Next().KID, "the pre-published next key stays next")
	assert.Equal(t, map[keys.State]int{keys.StateActive: 1, keys.StateNext: 1, keys.StateRevoked: 1}, states(set))
	for _, k := range set.Published() {
		assert.NotEqual(t, active, k.KID, "a revoked key leaves the JWKS at once")
	}
	_, err := set.VerificationKey(ctx, active)
	assert.ErrorIs(t, err, keys.ErrKeyRevoked)
	rk, _ := set.Lookup(active)
	assert.Equal(t, c.Now(), rk.RevokedAt)
	assert.ErrorIs(t, m.Revoke(ctx, active), keys.ErrInvalidTransition)
	// The schedule counts the rotation period from the revocation.
	assert.Equal(t, c.Now().Add(policy.RotateEvery), m.RotationDue(set))

	// Revoking the next key publishes a fresh one.
	nk := set.Next().KID
	require.NoError(t, m.Revoke(ctx, nk))
	require.NotNil(t, m.Current().Next())
	assert.NotEqual(t, nk, m.Current().Next().KID)
	assert.Equal(t, fresh.KID, m.Current().Active().KID)
}

// TestRevokeWithResultAndPromoteNext checks what RevokeWith reports, and
// that PromoteNext keeps the behaviour of before: the pre-published next
// key signs and a new next key is published.
func TestRevokeWithResultAndPromoteNext(t *testing.T) {
	ctx := context.Background()
	m := open(t, memory.New(), newClock(), nil)
	active, next := m.Current().Active().KID, m.Current().Next().KID
	res, err := m.RevokeWith(ctx, active, keys.RevokeOptions{})
	require.NoError(t, err)
	assert.Equal(t, keys.RevokeResult{Revoked: active, Promoted: m.Current().Active().KID, Fresh: true, Active: m.Current().Active().KID, Next: next}, res)
	assert.NotEqual(t, next, res.Active)

	// Revoking a key that does not sign creates no active key.
	res, err = m.RevokeWith(ctx, next, keys.RevokeOptions{})
	require.NoError(t, err)
	assert.Equal(t, keys.RevokeResult{Revoked: next, Active: m.Current().Active().KID, Next: m.Current().Next().KID}, res)

	m = open(t, memory.New(), newClock(), nil)
	active, next = m.Current().Active().KID, m.Current().Next().KID
	res, err = m.RevokeWith(ctx, active, keys.RevokeOptions{PromoteNext: true})
	require.NoError(t, err)
	assert.Equal(t, keys.RevokeResult{Revoked: active, Promoted: next, Active: next, Next: m.Current().Next().KID}, res)
	assert.Equal(t, next, m.Current().Active().KID)
	assert.NotEqual(t, next, res.Next)

	_, err = m.RevokeWith(ctx, "no-such-kid", keys.RevokeOptions{})
	assert.ErrorIs(t, err, keys.ErrUnknownKey)
}

// eventStore records the reads and writes of the key set in events, and
// the changes it applied.
type eventStore struct {
	keys.Store
	mu      sync.Mutex
	events  []string
	changes []keys.Change
}

func (s *eventStore) log(e string) { s.mu.Lock(); s.events = append(s.events, e); s.mu.Unlock() }

func (s *eventStore) LoadKeys(ctx context.Context) ([]keys.Record, int64, error) {
	s.log("load")
	return s.Store.LoadKeys(ctx)
}

func (s *eventStore) ApplyKeys(ctx context.Context, version int64, ch keys.Change) (int64, error) {
	s.log("apply")
	s.mu.Lock()
	s.changes = append(s.changes, ch)
	s.mu.Unlock()
	return s.Store.ApplyKeys(ctx, version, ch)
}

func (s *eventStore) take() ([]string, []keys.Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ch := s.events, s.changes
	s.events, s.changes = nil, nil
	return e, ch
}

// TestRevokeGeneratesBeforeTheTransaction: the fresh key is generated
// before the revocation reads the set it changes (RSA generation takes
// seconds, during which the write lock would be held), and the revocation
// and the fresh active key are one write: at no store version is there no
// active key, so no login fails.
func TestRevokeGeneratesBeforeTheTransaction(t *testing.T) {
	ctx := context.Background()
	st := &eventStore{Store: memory.New()}
	gen := keystest.Generator(t)
	m, err := keys.Open(ctx, keys.Config{Store: st, Policy: policy, Now: newClock().Now, Logger: quiet,
		Generate: func(bits int) (*rsa.PrivateKey, error) { st.log("generate"); return gen(bits) }})
	require.NoError(t, err)
	active := m.Current().Active().KID
	st.take()

	require.NoError(t, m.Revoke(ctx, active))
	events, changes := st.take()
	assert.Equal(t, []string{"generate", "load", "apply"}, events)
	require.Len(t, changes, 1)
	put := map[string]keys.State{}
	for _, r := range changes[0].Put {
		put[r.KID] = r.State
	}
	assert.Equal(t, map[string]keys.State{active: keys.StateRevoked, m.Current().Active().KID: keys.StateActive}, put)
}

// TestRevokeReachesOtherInstances: another instance on the same store
// picks the fresh active key up, which it never saw as next, and signs
// with it.
func TestRevokeReachesOtherInstances(t *testing.T) {
	ctx := context.Background()
	st, c := memory.New(), newClock()
	var seen transitionLog
	m := open(t, st, c, nil)
	other, err := keys.Open(ctx, keys.Config{Store: st, Policy: policy, Now: c.Now, Generate: keystest.Generator(t), Logger: quiet, OnTransition: seen.add})
	require.NoError(t, err)
	active, next := other.Current().Active().KID, other.Current().Next().KID

	require.NoError(t, m.Revoke(ctx, active))
	changed, err := other.Refresh(ctx)
	require.NoError(t, err)
	require.True(t, changed)
	assert.ElementsMatch(t, []string{"active>revoked", "created>active"}, seen.take())
	k, err := other.SigningKey()
	require.NoError(t, err)
	assert.Equal(t, m.Current().Active().KID, k.KID)
	assert.NotEqual(t, next, k.KID)
	require.NotNil(t, k.Private)
	digest := sha256.Sum256([]byte("a token"))
	sig, err := rsa.SignPKCS1v15(nil, k.Private, crypto.SHA256, digest[:])
	require.NoError(t, err)
	assert.NoError(t, rsa.VerifyPKCS1v15(m.Current().Active().Public(), crypto.SHA256, digest[:], sig), "the other instance signs with the fresh key")
	assert.Equal(t, next, other.Current().Next().KID)
	_, err = other.VerificationKey(ctx, active)
	assert.ErrorIs(t, err, keys.ErrKeyRevoked)
}

func TestEncryptionAtRest(t *testing.T) {
	st, c := memory.New(), newClock()
	kek := bytes.Repeat([]byte{7}, 32)
	m := open(t, st, c, kek)
	ctx := context.Background()
	recs, v, err := st.LoadKeys(ctx)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	for _, r := range recs {
		k, _ := m.Current().Lookup(r.KID)
		der, err := x509.MarshalPKCS8PrivateKey(k.Private)
		require.NoError(t, err)
		assert.False(t, bytes.Contains(r.PrivateKey, der[len(der)-64:]), "private key stored in clear")
		_, err = x509.ParsePKCS8PrivateKey(r.PrivateKey)
		assert.Error(t, err)
	}
	reopen := func(kek []byte) error {
		_, err := keys.Open(ctx, keys.Config{Store: st, Policy: policy, Now: c.Now, Generate: keystest.Generator(t), KeyEncryptionKey: kek, Logger: quiet})
		return err
	}
	assert.ErrorIs(t, reopen(nil), keys.ErrKeyEncryptionKey)
	assert.ErrorIs(t, reopen(bytes.Repeat([]byte{8}, 32)), keys.ErrKeyEncryptionKey)
	assert.ErrorIs(t, reopen([]byte("short")), keys.ErrKeyEncryptionKey)
	assert.NoError(t, reopen(kek))
	v2, err := st.KeysVersion(ctx)
	require.NoError(t, err)
	assert.Equal(t, v, v2, "a wrong key-encryption key never creates a new key set")

	// A sealed blob moved under another kid does not open (kid is the GCM additional data).
	swapped := recs[0]
	swapped.PrivateKey = recs[1].PrivateKey
	_, err = st.ApplyKeys(ctx, v, keys.Change{Put: []keys.Record{swapped}})
	require.NoError(t, err)
	assert.ErrorIs(t, reopen(kek), keys.ErrKeyEncryptionKey)
}

func TestCorruptRecordIsAClearError(t *testing.T) {
	st, c := memory.New(), newClock()
	open(t, st, c, nil)
	ctx := context.Background()
	recs, v, err := st.LoadKeys(ctx)
	require.NoError(t, err)
	bad := recs[0]
	bad.PrivateKey = []byte("not a key")
	_, err = st.ApplyKeys(ctx, v, keys.Change{Put: []keys.Record{bad}})
	require.NoError(t, err)
	_, err = keys.Open(ctx, keys.Config{Store: st, Policy: policy, Now: c.Now, Generate: keystest.Generator(t)})
	require.ErrorIs(t, err, keys.ErrCorruptKey)
	assert.Contains(t, err.Error(), bad.KID)
	assert.NotContains(t, err.Error(), "not a key")
}

func TestOtherProcessChangesAreNoticed(t *testing.T) {
	st, c := memory.New(), newClock()
	a, b := open(t, st, c, nil), open(t, st, c, nil)
	ctx := context.Background()
	_, err := a.Rotate(ctx, true)
	require.NoError(t, err)
	assert.NotEqual(t, a.Current().Active().KID, b.Current().Active().KID)
	changed, err := b.Refresh(ctx)
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, a.Current().Active().KID, b.Current().Active().KID)
	changed, err = b.Refresh(ctx)
	require.NoError(t, err)
	assert.False(t, changed)
}

func TestConcurrentManagersKeepOneActiveKey(t *testing.T) {
	st, c := memory.New(), newClock()
	ms := []*keys.Manager{open(t, st, c, nil), open(t, st, c, nil), open(t, st, c, nil)}
	c.Add(25 * time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, len(ms))
	for _, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- m.Maintain(context.Background())
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	fresh := open(t, st, c, nil)
	assert.Equal(t, map[keys.State]int{keys.StateActive: 1, keys.StateNext: 1, keys.StateRetired: 1}, states(fresh.Current()),
		"three managers due at once perform one rotation")
}

func TestStoreFailureLeavesCurrentSetInPlace(t *testing.T) {
	st, c := memory.New(), newClock()
	m := open(t, st, c, nil)
	before := m.Current()
	require.NoError(t, st.Close())
	_, err := m.Rotate(context.Background(), true)
	require.Error(t, err)
	assert.Same(t, before, m.Current())
	assert.False(t, errors.Is(err, keys.ErrNotPrepublished))
}

func TestSettingAKeyEncryptionKeySealsClearKeys(t *testing.T) {
	st, c := memory.New(), newClock()
	open(t, st, c, nil) // keys stored in clear
	ctx := context.Background()
	kek := bytes.Repeat([]byte{9}, 32)
	m := open(t, st, c, kek)
	recs, _, err := st.LoadKeys(ctx)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	for _, r := range recs {
		_, err := x509.ParsePKCS8PrivateKey(r.PrivateKey)
		assert.Error(t, err, "key %s still in clear", r.KID)
	}
	m2 := open(t, st, c, kek)
	assert.Equal(t, m.Current().Version(), m2.Current().Version(), "sealed once, not at every start")
	assert.Equal(t, m.Current().Active().KID, m2.Current().Active().KID)
}

// TestProcessWithoutTheKEKStillAppliesRevocations is a server started
// without the key-encryption key its peers use: it cannot decode keys they
// create, but a revocation they make still takes effect here, it never
// unseals a key, and Err reports the misconfiguration.
func TestProcessWithoutTheKEKStillAppliesRevocations(t *testing.T) {
	st, c := memory.New(), newClock()
	ctx := context.Background()
	plain := open(t, st, c, nil)
	kek := bytes.Repeat([]byte{5}, 32)
	sealed := open(t, st, c, kek) // seals the clear keys
	_, err := plain.Refresh(ctx)
	require.NoError(t, err, "same keys, re-sealed: known by kid")
	require.NoError(t, plain.Err())

	old := sealed.Current().Active().KID
	_, err = sealed.Rotate(ctx, true) // creates a next key the plain process cannot decode
	require.NoError(t, err)
	require.NoError(t, sealed.Revoke(ctx, old))

	_, err = plain.Refresh(ctx)
	require.ErrorIs(t, err, keys.ErrKeyEncryptionKey)
	assert.ErrorIs(t, plain.Err(), keys.ErrKeyEncryptionKey)
	_, err = plain.Current().VerificationKey(ctx, old)
	assert.ErrorIs(t, err, keys.ErrKeyRevoked, "the revocation applies although a new key does not decode")
	assert.Equal(t, sealed.Current().Active().KID, plain.Current().Active().KID, "signs with the promoted key")
	assert.Error(t, plain.Revoke(ctx, sealed.Current().Active().KID), "no transition from a set it cannot read whole")

	recs, _, err := st.LoadKeys(ctx)
	require.NoError(t, err)
	for _, r := range recs {
		_, err := x509.ParsePKCS8PrivateKey(r.PrivateKey)
		assert.Error(t, err, "key %s stored in clear", r.KID)
	}
}

// stallingStore holds LoadKeys until released, to interleave a Refresh with
// a Rotate.
type stallingStore struct {
	keys.Store
	mu      sync.Mutex
	loaded  chan struct{} // closed by the first LoadKeys after it is set
	release chan struct{}
}

func (s *stallingStore) LoadKeys(ctx context.Context) ([]keys.Record, int64, error) {
	recs, v, err := s.Store.LoadKeys(ctx)
	s.mu.Lock()
	loaded, release := s.loaded, s.release
	s.loaded = nil
	s.mu.Unlock()
	if loaded != nil {
		close(loaded)
		<-release
	}
	return recs, v, err
}

func TestStaleRefreshNeverUndoesANewerSet(t *testing.T) {
	st, c := memory.New(), newClock()
	ctx := context.Background()
	writer := open(t, st, c, nil)
	stall := &stallingStore{Store: st}
	m, err := keys.Open(ctx, keys.Config{Store: stall, Policy: policy, Now: c.Now, Generate: keystest.Generator(t), Logger: quiet})
	require.NoError(t, err)
	_, err = writer.Rotate(ctx, true) // V1: m is behind and will Refresh
	require.NoError(t, err)

	loaded, release := make(chan struct{}), make(chan struct{})
	stall.mu.Lock()
	stall.loaded, stall.release = loaded, release
	stall.mu.Unlock()
	done := make(chan error)
	go func() { _, err := m.Refresh(ctx); done <- err }()
	<-loaded                        // the Refresh holds the records of V1
	res, err := m.Rotate(ctx, true) // V2, committed and installed by m
	require.NoError(t, err)
	v2 := m.Current().Version()
	close(release)
	require.NoError(t, <-done)
	assert.Equal(t, v2, m.Current().Version(), "the stale Refresh did not put V1 back")
	assert.Equal(t, res.Promoted, m.Current().Active().KID)
}

// A retired key's stored RemoveAt comes from the retiring process's Retain;
// a server with a longer token lifetime keeps the key until its own time.
func TestRetiredKeyKeptForEachManagersOwnRetain(t *testing.T) {
	st, c := memory.New(), newClock()
	ctx := context.Background()
	openRetain := func(retain time.Duration) *keys.Manager {
		p := policy
		p.Retain = retain
		m, err := keys.Open(ctx, keys.Config{Store: st, Policy: p, Now: c.Now, Generate: keystest.Generator(t), Logger: quiet})
		require.NoError(t, err)
		return m
	}
	server := openRetain(2*time.Hour + 30*time.Second + 5*time.Minute) // --access-ttl 2h
	cli := openRetain(20 * time.Minute)                                // the CLI's defaults
	old := server.Current().Active()
	_, err := cli.Rotate(ctx, true)
	require.NoError(t, err)
	_, err = server.Refresh(ctx)
	require.NoError(t, err)
	retired, ok := server.Current().Lookup(old.KID)
	require.True(t, ok)
	require.Equal(t, keys.StateRetired, retired.State)
	assert.Equal(t, c.Now().Add(20*time.Minute), retired.RemoveAt, "the CLI stores its own RemoveAt")
	serverDue := c.Now().Add(2*time.Hour + 30*time.Second + 5*time.Minute)
	assert.Equal(t, serverDue, server.NextDue(server.Current()), "the server's removal time, not the stored one")

	// Past the stored RemoveAt: the short-Retain manager removes the key,
	// the server does not.
	c.Add(30 * time.Minute)
	require.NoError(t, server.Maintain(ctx))
	_, ok = server.Current().Lookup(old.KID)
	assert.True(t, ok, "the server keeps the key until its own retention has passed")

	c.Add(serverDue.Sub(c.Now()) - time.Second)
	require.NoError(t, server.Maintain(ctx))
	_, ok = server.Current().Lookup(old.KID)
	assert.True(t, ok, "one second before the server's time")

	c.Add(time.Second)
	require.NoError(t, server.Maintain(ctx))
	_, ok = server.Current().Lookup(old.KID)
	assert.False(t, ok, "removed at the server's time")

	// The other way round: the stored RemoveAt of a long-Retain writer
	// holds for a short-Retain manager too.
	old = server.Current().Active()
	_, err = server.Rotate(ctx, true)
	require.NoError(t, err)
	c.Add(time.Hour)
	require.NoError(t, cli.Maintain(ctx))
	_, ok = cli.Current().Lookup(old.KID)
	assert.True(t, ok, "the stored RemoveAt is honoured")
}

// NoSchedule opens the set without applying the schedule: a tool's own
// RotateEvery does not rotate a server's key set behind its back.
func TestOpenNoScheduleAppliesNoTransition(t *testing.T) {
	st, c := memory.New(), newClock()
	ctx := context.Background()
	open(t, st, c, nil)
	c.Add(48 * time.Hour) // the active key is past RotateEvery
	_, v, err := st.LoadKeys(ctx)
	require.NoError(t, err)
	m, err := keys.Open(ctx, keys.Config{Store: st, Policy: policy, Now: c.Now, Generate: keystest.Generator(t), Logger: quiet, NoSchedule: true})
	require.NoError(t, err)
	_, v2, err := st.LoadKeys(ctx)
	require.NoError(t, err)
	assert.Equal(t, v, v2, "nothing written")
	assert.Equal(t, map[keys.State]int{keys.StateActive: 1, keys.StateNext: 1}, states(m.Current()))
}

// TestRequestedRotationIsPromotedOnSchedule: "keys rotate" before the next
// key may sign stores the request; the schedule of any manager on the store
// (a server) promotes the key at the promised time, not a day later.
func TestRequestedRotationIsPromotedOnSchedule(t *testing.T) {
	st, c := memory.New(), newClock()
	ctx := context.Background()
	cli := open(t, st, c, nil)
	next := cli.Current().Next().KID
	c.Add(20 * time.Minute)
	res, err := cli.Rotate(ctx, false)
	require.ErrorIs(t, err, keys.ErrNotPrepublished)
	assert.Equal(t, c.Now().Add(40*time.Minute), res.PromoteAt)

	server := open(t, st, c, nil) // another process on the store
	assert.Equal(t, res.PromoteAt, server.NextDue(server.Current()))
	c.Add(39 * time.Minute)
	require.NoError(t, server.Maintain(ctx))
	assert.NotEqual(t, next, server.Current().Active().KID, "not before the promised time")
	c.Add(time.Minute)
	require.NoError(t, server.Maintain(ctx))
	assert.Equal(t, next, server.Current().Active().KID, "promoted at the promised time")
	assert.Equal(t, c.Now(), server.Current().Active().ActivatedAt)
	assert.Equal(t, 1, states(server.Current())[keys.StateRetired])
}

// TestClearRecordInASealedSetIsRefused: with a key-encryption key configured
// and the set sealed, a database writer without the KEK inserts a clear
// "retired" key under its own kid; tokens it signs must not verify, the
// refusal is logged, and no later start seals (launders) the planted key.
func TestClearRecordInASealedSetIsRefused(t *testing.T) {
	st, c := memory.New(), newClock()
	ctx := context.Background()
	kek := bytes.Repeat([]byte{4}, 32)
	var logs lockedBuffer
	m, err := keys.Open(ctx, keys.Config{Store: st, Policy: policy, Now: c.Now, Generate: keystest.Generator(t),
		KeyEncryptionKey: kek, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)

	planted := keystest.Keys(t)[len(keystest.Keys(t))-1]
	pk, err := keys.NewKey(planted, keys.StateRetired, c.Now())
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(planted)
	require.NoError(t, err)
	_, v, err := st.LoadKeys(ctx)
	require.NoError(t, err)
	_, err = st.ApplyKeys(ctx, v, keys.Change{Put: []keys.Record{{KID: pk.KID, State: keys.StateRetired, Bits: 2048,
		PrivateKey: der, CreatedAt: c.Now(), PublishedAt: c.Now(), ActivatedAt: c.Now(), RetiredAt: c.Now(), RemoveAt: c.Now().Add(time.Hour)}}})
	require.NoError(t, err)

	_, err = m.Refresh(ctx)
	require.ErrorIs(t, err, keys.ErrCorruptKey)
	_, err = m.VerificationKey(ctx, pk.KID)
	assert.ErrorIs(t, err, keys.ErrUnknownKey, "a token signed by the planted key would verify")
	assert.Contains(t, logs.String(), "level=ERROR")
	assert.Contains(t, logs.String(), pk.KID+" is stored in clear in a sealed key set: refused")
	assert.ErrorIs(t, m.Err(), keys.ErrCorruptKey, "reported until removed")

	// A restart with the KEK refuses it too, rather than sealing it.
	_, err = keys.Open(ctx, keys.Config{Store: st, Policy: policy, Now: c.Now, Generate: keystest.Generator(t), KeyEncryptionKey: kek, Logger: quiet})
	require.ErrorIs(t, err, keys.ErrCorruptKey)
	recs, _, err := st.LoadKeys(ctx)
	require.NoError(t, err)
	for _, r := range recs {
		if r.KID == pk.KID {
			assert.False(t, r.IsSealed(), "the planted key was sealed")
		}
	}
}

// TestToolTakesTheServersSchedule: a server runs with a 5 s pre-publication
// lead; `keys rotate` (a NoSchedule manager with the default 1 h) decides
// "may the next key sign yet" with the server's lead, stored beside the set.
func TestToolTakesTheServersSchedule(t *testing.T) {
	st, c := memory.New(), newClock()
	ctx := context.Background()
	server, err := keys.Open(ctx, keys.Config{Store: st, Now: c.Now, Generate: keystest.Generator(t), Logger: quiet,
		Policy: keys.Policy{RotateEvery: time.Minute, Prepublish: 5 * time.Second}})
	require.NoError(t, err)
	c.Add(6 * time.Second)
	cli, err := keys.Open(ctx, keys.Config{Store: st, Now: c.Now, Generate: keystest.Generator(t), Logger: quiet, NoSchedule: true})
	require.NoError(t, err)
	assert.Equal(t, 5*time.Second, cli.Policy().Prepublish)
	assert.Equal(t, time.Minute, cli.Policy().RotateEvery)
	res, err := cli.Rotate(ctx, false)
	require.NoError(t, err, "the server's lead has passed")
	assert.Equal(t, server.Current().Next().KID, res.Promoted)
}

// TestToolRetiresByTheServersRetention: a server keeps retired keys 2m30s
// (1 min tokens + 30 s leeway + 1 min max-age); a key that `keys rotate
// --now` (a NoSchedule manager with the default 20m30s) retires gets a
// RemoveAt 2m30s out, and the server removes it then, not 18 min later.
func TestToolRetiresByTheServersRetention(t *testing.T) {
	st, c := memory.New(), newClock()
	ctx := context.Background()
	retain := 2*time.Minute + 30*time.Second
	server, err := keys.Open(ctx, keys.Config{Store: st, Now: c.Now, Generate: keystest.Generator(t), Logger: quiet,
		Policy: keys.Policy{RotateEvery: time.Hour, Prepublish: 2 * time.Minute, Retain: retain}})
	require.NoError(t, err)
	stored, err := st.LoadSchedule(ctx)
	require.NoError(t, err)
	assert.Equal(t, keys.Schedule{RotateEvery: time.Hour, Prepublish: 2 * time.Minute, Retain: retain}, stored)

	cli, err := keys.Open(ctx, keys.Config{Store: st, Now: c.Now, Generate: keystest.Generator(t), Logger: quiet, NoSchedule: true})
	require.NoError(t, err)
	assert.Equal(t, retain, cli.Policy().Retain)
	res, err := cli.Rotate(ctx, true)
	require.NoError(t, err)
	_, err = server.Refresh(ctx)
	require.NoError(t, err)
	old, ok := server.Current().Lookup(res.Retired)
	require.True(t, ok)
	assert.Equal(t, c.Now().Add(retain), old.RemoveAt)
	assert.Equal(t, old.RemoveAt, server.NextDue(server.Current()))

	c.Add(retain)
	require.NoError(t, server.Maintain(ctx))
	_, ok = server.Current().Lookup(res.Retired)
	assert.False(t, ok, "removed once the servers' retention has passed")
}

// TestScheduledRotationWaitsForPrepublication revokes the next key 30 min
// before the scheduled rotation, so that a fresh next key is published then:
// at the rotation time the schedule must wait until that key has been public
// for Prepublish (1 h), promoting it not a nanosecond earlier.
func TestScheduledRotationWaitsForPrepublication(t *testing.T) {
	st, c := memory.New(), newClock()
	m := open(t, st, c, nil)
	ctx := context.Background()
	first, stale := m.Current().Active(), m.Current().Next()

	c.Add(23*time.Hour + 30*time.Minute)
	require.NoError(t, m.Revoke(ctx, stale.KID))
	fresh := m.Current().Next()
	require.NotNil(t, fresh)
	require.NotEqual(t, stale.KID, fresh.KID)
	assert.Equal(t, c.Now(), fresh.PublishedAt)
	ready := fresh.PublishedAt.Add(policy.Prepublish)
	assert.Equal(t, ready, m.NextDue(m.Current()), "due once the fresh key has been public for Prepublish")

	c.Add(30 * time.Minute) // RotateEvery has passed: only the prepublication holds the rotation back
	require.True(t, c.Now().Equal(first.ActivatedAt.Add(policy.RotateEvery)))
	require.NoError(t, m.Maintain(ctx))
	assert.Equal(t, first.KID, m.Current().Active().KID, "a key public for 30 min must not sign yet")
	assert.Equal(t, fresh.KID, m.Current().Next().KID)

	c.Add(ready.Sub(c.Now()) - time.Nanosecond)
	require.NoError(t, m.Maintain(ctx))
	assert.Equal(t, first.KID, m.Current().Active().KID, "1 ns before the key has been public for Prepublish")

	c.Add(time.Nanosecond)
	require.NoError(t, m.Maintain(ctx))
	set := m.Current()
	assert.Equal(t, fresh.KID, set.Active().KID, "promoted once public for Prepublish")
	assert.Equal(t, ready, set.Active().ActivatedAt)
	old, ok := set.Lookup(first.KID)
	require.True(t, ok)
	assert.Equal(t, keys.StateRetired, old.State)
}
