package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/remote"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/prometheus/client_golang/prometheus"
)

// Prometheus metrics (Config.Metrics, RemoteMetrics). Every label
// takes its values from a fixed set below, never from a request: no
// username, kid, client address or error text reaches a series. The
// counters of the hot paths are bound to their label values once, when the
// collectors are built, so counting is one atomic add.

const metricsNamespace = "jwtauth"

// registerCollectors registers cs on reg, all or none: when one fails, those
// registered before it are unregistered again and the error names the
// series that clashed. It returns the function that unregisters them all.
func registerCollectors(reg prometheus.Registerer, cs ...prometheus.Collector) (unregister func(), err error) {
	done := make([]prometheus.Collector, 0, len(cs))
	unregister = func() {
		for _, c := range done {
			reg.Unregister(c)
		}
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			unregister()
			return nil, fmt.Errorf("jwtauth: metrics: cannot register %s: %w (is another service or verifier registered on this Registerer? give each one prometheus.WrapRegistererWith and a label telling them apart)", seriesNames(c), err)
		}
		done = append(done, c)
	}
	return unregister, nil
}

// seriesNames names the series of c for an error message.
func seriesNames(c prometheus.Collector) string {
	ch := make(chan *prometheus.Desc, 16)
	go func() { c.Describe(ch); close(ch) }()
	var names []string
	for d := range ch {
		// Desc has no accessor for its name; its String starts with it.
		_, rest, _ := strings.Cut(d.String(), `fqName: "`)
		if name, _, ok := strings.Cut(rest, `"`); ok {
			names = append(names, name)
		}
	}
	return strings.Join(names, ", ")
}

// Results of a token verification (label "result" of
// jwtauth_token_verifications_total), in verifyResult's order of precedence.
const (
	verifyOK = iota
	verifyMissing
	verifyMalformed
	verifyAlgorithm
	verifyUnknownKey
	verifyBadSignature
	verifyExpired
	verifyNotYetValid
	verifyIssuer
	verifyAudience
	verifyMissingClaim
	verifyUnavailable
	verifyError
	numVerifyResults
)

var verifyResultNames = [numVerifyResults]string{
	"ok", "missing", "malformed", "algorithm", "unknown_key", "bad_signature", "expired",
	"not_yet_valid", "issuer", "audience", "missing_claim", "unavailable", "error",
}

// verifyResult maps an error of Verifier.Verify to its result: the keys
// out of reach first (authn.Authenticator's 503), then the sentinel errors.
func verifyResult(err error) int {
	switch {
	case err == nil:
		return verifyOK
	case errors.Is(err, remote.ErrKeySetUnavailable), errors.Is(err, token.ErrStoreUnavailable),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return verifyUnavailable
	case errors.Is(err, token.ErrTokenMissing):
		return verifyMissing
	case errors.Is(err, token.ErrTokenMalformed), errors.Is(err, token.ErrTokenTooLarge), errors.Is(err, token.ErrUnsupportedCritical):
		return verifyMalformed
	case errors.Is(err, token.ErrUnsupportedAlgorithm):
		return verifyAlgorithm
	case errors.Is(err, token.ErrUnknownKey):
		return verifyUnknownKey
	case errors.Is(err, token.ErrInvalidSignature):
		return verifyBadSignature
	case errors.Is(err, token.ErrTokenExpired):
		return verifyExpired
	case errors.Is(err, token.ErrTokenNotYetValid):
		return verifyNotYetValid
	case errors.Is(err, token.ErrInvalidIssuer):
		return verifyIssuer
	case errors.Is(err, token.ErrInvalidAudience):
		return verifyAudience
	case errors.Is(err, token.ErrMissingClaim):
		return verifyMissingClaim
	}
	return verifyError
}

// verifyMetrics counts a Verifier's outcomes and cache lookups. The cache
// counters exist either way, but are registered only for a verifier with a
// cache: without one, jwtauth_token_cache_lookups_total is absent from the
// scrape rather than two series that stay 0.
type verifyMetrics struct {
	results   [numVerifyResults]prometheus.Counter
	cacheHit  prometheus.Counter
	cacheMiss prometheus.Counter
	cs        []prometheus.Collector
}

func newVerifyMetrics(cached bool) *verifyMetrics {
	m := &verifyMetrics{}
	results := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "token_verifications_total",
		Help: "Access-token verifications by result: ok, or why the token was refused (missing, malformed, algorithm, unknown_key, bad_signature, expired, not_yet_valid, issuer, audience, missing_claim), unavailable (the keys could not be consulted) or error.",
	}, []string{"result"})
	for i, name := range verifyResultNames {
		m.results[i] = results.WithLabelValues(name)
	}
	cache := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "token_cache_lookups_total",
		Help: "Lookups of the verified-token cache by result: hit (answered without an RSA verification) or miss.",
	}, []string{"result"})
	m.cacheHit = cache.WithLabelValues("hit")
	m.cacheMiss = cache.WithLabelValues("miss")
	m.cs = []prometheus.Collector{results}
	if cached {
		m.cs = append(m.cs, cache)
	}
	return m
}

// trace is the token.VerifierConfig.Trace that feeds m.
func (m *verifyMetrics) trace() *token.VerifierTrace {
	return &token.VerifierTrace{
		Verified: func(err error) { m.results[verifyResult(err)].Inc() },
		CacheLookup: func(hit bool) {
			if hit {
				m.cacheHit.Inc()
			} else {
				m.cacheMiss.Inc()
			}
		},
	}
}

// Operations and results of the account flow (labels "operation" and
// "result" of jwtauth_account_operations_total): the values account.Trace
// reports, and "csrf_refused" for a request the face refused.
var (
	accountOpNames     = []string{"register", "login", "refresh", "logout", "change_password"}
	accountResultNames = []string{
		"ok", "invalid_request", "invalid_credentials", "user_exists", "throttled",
		"invalid_grant", "reuse_detected", "invalid_dpop_proof", "unavailable", "csrf_refused", "error",
	}
)

// accountAdminOpNames are the operations of account deletion and of the
// operator's calls (account/admin.go), beside the flow's.
var accountAdminOpNames = []string{"delete_account", "disable_user", "enable_user", "delete_user", "set_password"}

// refusal is the result label of e, an answer of a handler that refused
// a request before calling the account flow.
func refusal(e *authn.Error) string {
	switch e.Code {
	case "invalid_request", "invalid_credentials", "user_exists", "invalid_grant", "invalid_dpop_proof":
		return e.Code
	case "too_many_requests":
		return "throttled"
	case "temporarily_unavailable":
		return "unavailable"
	case "csrf_check_failed":
		return "csrf_refused"
	}
	return "error"
}

// accountMetrics counts the account flow's outcomes and times its password
// hashes (account.Trace), and reads its hash slots at scrape time.
type accountMetrics struct {
	ops  map[[2]string]prometheus.Counter // by operation and result
	hash prometheus.Observer
	cs   []prometheus.Collector
}

// newAccountMetrics builds the collectors; load reads the hashes running
// and waiting (Accounts.HashLoad).
func newAccountMetrics(load func() (running, waiting int)) *accountMetrics {
	m := &accountMetrics{ops: map[[2]string]prometheus.Counter{}}
	ops := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "account_operations_total",
		Help: "Account-flow operations (register, login, refresh, logout, change_password) by result: ok, invalid_request, invalid_credentials, user_exists, throttled, invalid_grant, reuse_detected, invalid_dpop_proof, unavailable or error.",
	}, []string{"operation", "result"})
	for _, op := range slices.Concat(accountOpNames, accountAdminOpNames) {
		for _, r := range accountResultNames {
			m.ops[[2]string{op, r}] = ops.WithLabelValues(op, r)
		}
	}
	hash := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: metricsNamespace, Name: "password_hash_duration_seconds",
		Help:    "Time of one password hash or verification (argon2id, or a legacy bcrypt check) of a registration or login, in seconds.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 12), // 5 ms to about 10 s
	})
	m.hash = hash
	queue := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Name: "password_hash_queue_depth",
		Help: "Logins and registrations waiting for a password-hash slot now.",
	}, func() float64 { _, w := load(); return float64(w) })
	running := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Name: "password_hashes_in_progress",
		Help: "Password hashes computing now (at most LoginThrottle.MaxConcurrentHashes).",
	}, func() float64 { r, _ := load(); return float64(r) })
	m.cs = []prometheus.Collector{ops, hash, queue, running}
	return m
}

// trace is the account.Trace that feeds m.
func (m *accountMetrics) trace() *account.Trace {
	return &account.Trace{
		Operation: func(op, result string) {
			c, ok := m.ops[[2]string{op, result}]
			if !ok {
				c = m.ops[[2]string{op, "error"}]
			}
			if c != nil {
				c.Inc()
			}
		},
		HashDone: func(d time.Duration) { m.hash.Observe(d.Seconds()) },
	}
}

// wellKnownMetrics counts the requests of the JWKS and discovery documents.
type wellKnownMetrics struct {
	jwks, jwksNotModified, discovery prometheus.Counter
	cs                               []prometheus.Collector
}

func newWellKnownMetrics() *wellKnownMetrics {
	m := &wellKnownMetrics{
		jwks: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "jwks_requests_total",
			Help: "Requests of /.well-known/jwks.json, 304 answers included.",
		}),
		jwksNotModified: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "jwks_not_modified_total",
			Help: "Requests of /.well-known/jwks.json answered 304 Not Modified (If-None-Match named the current ETag).",
		}),
		discovery: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "discovery_requests_total",
			Help: "Requests of the metadata documents: /.well-known/openid-configuration and /.well-known/oauth-authorization-server (RFC 8414).",
		}),
	}
	m.cs = []prometheus.Collector{m.jwks, m.jwksNotModified, m.discovery}
	return m
}

// keyStates are the values of the "state" label of jwtauth_keys.
var keyStates = []keys.State{keys.StateNext, keys.StateActive, keys.StateRetired, keys.StateRevoked}

// transitionStates bound the "from" and "to" labels of
// jwtauth_key_transitions_total (keys.Config.OnTransition).
var transitionStates = map[string]bool{"created": true, "next": true, "active": true, "retired": true, "revoked": true, "removed": true}

// keySetCollector reads the key manager's current set at scrape time: keys
// by state, the active key's age, the time to the next rotation and how
// long the next key has been public. It also owns the transitions counter,
// which the manager's OnTransition feeds.
type keySetCollector struct {
	mgr         *keys.Manager // set once keys.Open returned
	now         func() time.Time
	transitions *prometheus.CounterVec

	byState, activeAge, nextRotation, nextPublished *prometheus.Desc
}

func newKeySetCollector(now func() time.Time) *keySetCollector {
	name := func(n string) string { return prometheus.BuildFQName(metricsNamespace, "", n) }
	return &keySetCollector{
		now: now,
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "key_transitions_total",
			Help: `Key lifecycle transitions this process's key set went through, by from state ("created" for a new key) and to state ("removed" for a key deleted after its retention), whether this process made them or picked them up from the store.`,
		}, []string{"from", "to"}),
		byState:       prometheus.NewDesc(name("keys"), "Keys of the key set by state: next, active and retired keys are published in the JWKS, revoked keys are not.", []string{"state"}, nil),
		activeAge:     prometheus.NewDesc(name("active_key_age_seconds"), "Seconds since the active key started signing.", nil, nil),
		nextRotation:  prometheus.NewDesc(name("next_rotation_seconds"), "Seconds until the schedule promotes the next key (negative: overdue, done within the poll interval).", nil, nil),
		nextPublished: prometheus.NewDesc(name("next_key_published_seconds"), "Seconds the next key has been published in the JWKS (it may sign once this reaches the pre-publication lead).", nil, nil),
	}
}

// transition is the keys.Config.OnTransition hook.
func (c *keySetCollector) transition(_, from, to string) {
	if !transitionStates[from] {
		from = "other"
	}
	if !transitionStates[to] {
		to = "other"
	}
	c.transitions.WithLabelValues(from, to).Inc()
}

func (c *keySetCollector) Describe(ch chan<- *prometheus.Desc) {
	c.transitions.Describe(ch)
	ch <- c.byState
	ch <- c.activeAge
	ch <- c.nextRotation
	ch <- c.nextPublished
}

func (c *keySetCollector) Collect(ch chan<- prometheus.Metric) {
	c.transitions.Collect(ch)
	s := c.mgr.Current()
	if s == nil {
		return
	}
	now := c.now()
	n := map[keys.State]int{}
	for _, k := range s.Keys() {
		n[k.State]++
	}
	for _, st := range keyStates {
		ch <- prometheus.MustNewConstMetric(c.byState, prometheus.GaugeValue, float64(n[st]), string(st))
	}
	if a := s.Active(); a != nil {
		ch <- prometheus.MustNewConstMetric(c.activeAge, prometheus.GaugeValue, now.Sub(a.ActivatedAt).Seconds())
		ch <- prometheus.MustNewConstMetric(c.nextRotation, prometheus.GaugeValue, c.mgr.RotationDue(s).Sub(now).Seconds())
	}
	if nk := s.Next(); nk != nil {
		ch <- prometheus.MustNewConstMetric(c.nextPublished, prometheus.GaugeValue, now.Sub(nk.PublishedAt).Seconds())
	}
}

// RemoteMetrics registers on reg the Prometheus collectors of a remote key
// set and, when vc is not nil, of the verifier built with it, and sets
// rc.Trace (and vc.Trace) to feed them, replacing what they held:
// jwtauth_remote_jwks_fetches_total by result (200, 304, error),
// jwtauth_remote_jwks_unknown_kid_refetches_total,
// jwtauth_remote_jwks_age_seconds (since the origin last confirmed the set,
// by rc.Now), jwtauth_remote_jwks_stale (1 while answering from the last
// good set after a failed fetch) and jwtauth_remote_jwks_keys; with vc,
// jwtauth_token_verifications_total and jwtauth_token_cache_lookups_total
// (README, "Metrics"). Then build the key set with rc (remote.NewKeySet, or
// remote.NewVerifier with rc and vc): its Close, or a failed constructor,
// unregisters them.
//
// It fails, registering nothing, when a series is registered on reg already
// (a second key set on one registry: wrap reg with
// prometheus.WrapRegistererWith and a label telling them apart).
func RemoteMetrics(reg prometheus.Registerer, rc *remote.Config, vc *token.VerifierConfig) error {
	m := newRemoteMetrics(rc.Now)
	cs := []prometheus.Collector{m}
	var vm *verifyMetrics
	if vc != nil {
		vm = newVerifyMetrics(vc.CacheSize >= 0)
		cs = append(cs, vm.cs...)
	}
	unregister, err := registerCollectors(reg, cs...)
	if err != nil {
		return err
	}
	rc.Trace = &remote.Trace{
		Fetched:           m.fetched,
		UnknownKIDRefetch: m.unknownKID.Inc,
		Closed:            unregister,
	}
	if vc != nil {
		vc.Trace = vm.trace()
	}
	return nil
}

// Results of a remote JWKS fetch (label "result" of
// jwtauth_remote_jwks_fetches_total).
const (
	fetch200 = iota
	fetch304
	fetchError
	numFetchResults
)

// remoteMetrics counts a remote key set's fetches (remote.Trace) and tells
// the state the last one left at scrape time.
type remoteMetrics struct {
	now        func() time.Time
	last       atomic.Pointer[remote.FetchInfo]
	fetches    [numFetchResults]prometheus.Counter
	fetchVec   *prometheus.CounterVec
	unknownKID prometheus.Counter

	age, stale, keys *prometheus.Desc
}

func newRemoteMetrics(now func() time.Time) *remoteMetrics {
	if now == nil {
		now = time.Now
	}
	name := func(n string) string { return prometheus.BuildFQName(metricsNamespace, "", n) }
	m := &remoteMetrics{
		now: now,
		fetchVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "remote_jwks_fetches_total",
			Help: "Fetches of the remote JWKS by result: 200 (a new set), 304 (the set held confirmed) or error (discovery or fetch failed; the last good set stays in force).",
		}, []string{"result"}),
		unknownKID: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "remote_jwks_unknown_kid_refetches_total",
			Help: "Fetches of the remote JWKS started by a token whose kid the set did not hold (at most one per UnknownKIDInterval).",
		}),
		age:   prometheus.NewDesc(name("remote_jwks_age_seconds"), "Seconds since the origin last confirmed the key set held (a 200 or a 304); absent before the first good fetch.", nil, nil),
		stale: prometheus.NewDesc(name("remote_jwks_stale"), "1 while the last fetch failed and the key set answers from the last good set (until MaxStale), else 0.", nil, nil),
		keys:  prometheus.NewDesc(name("remote_jwks_keys"), "Usable verification keys in the key set held (0 without one).", nil, nil),
	}
	for i, v := range [numFetchResults]string{"200", "304", "error"} {
		m.fetches[i] = m.fetchVec.WithLabelValues(v)
	}
	return m
}

func (m *remoteMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.fetchVec.Describe(ch)
	m.unknownKID.Describe(ch)
	ch <- m.age
	ch <- m.stale
	ch <- m.keys
}

func (m *remoteMetrics) Collect(ch chan<- prometheus.Metric) {
	m.fetchVec.Collect(ch)
	m.unknownKID.Collect(ch)
	stale, n := 0.0, 0.0
	if last := m.last.Load(); last != nil && !last.Validated.IsZero() {
		ch <- prometheus.MustNewConstMetric(m.age, prometheus.GaugeValue, m.now().Sub(last.Validated).Seconds())
		if last.Err != nil {
			stale = 1
		}
		n = float64(last.Keys)
	}
	ch <- prometheus.MustNewConstMetric(m.stale, prometheus.GaugeValue, stale)
	ch <- prometheus.MustNewConstMetric(m.keys, prometheus.GaugeValue, n)
}

// fetched is the remote.Trace hook: it counts one fetch and keeps the state
// it left.
func (m *remoteMetrics) fetched(info remote.FetchInfo) {
	m.last.Store(&info)
	switch {
	case info.Err != nil:
		m.fetches[fetchError].Inc()
	case info.Status == 304:
		m.fetches[fetch304].Inc()
	default:
		m.fetches[fetch200].Inc()
	}
}
