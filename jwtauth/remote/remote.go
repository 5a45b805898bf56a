package remote

import (
	"cmp"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"math/bits"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
	"golang.org/x/sync/singleflight"
)

// Defaults of Config.
const (
	// DefaultMinRefresh is the floor on the refresh interval (1 min): a
	// smaller or absent Cache-Control max-age never makes the background
	// refresh run more often, and a failed fetch is retried after it.
	DefaultMinRefresh = time.Minute
	// DefaultMaxRefresh is the ceiling on the refresh interval (1 h): a larger
	// max-age never keeps a set longer without asking the origin again.
	DefaultMaxRefresh = time.Hour
	// DefaultRefresh is the refresh interval when a response has no
	// Cache-Control max-age (5 min, the max-age of our own JWKS endpoint),
	// clamped to [MinRefresh, MaxRefresh].
	DefaultRefresh = 5 * time.Minute
	// DefaultUnknownKIDInterval is the least time between two fetches caused
	// by a token whose kid the set does not hold (5 s).
	DefaultUnknownKIDInterval = 5 * time.Second
	// DefaultUnknownKIDWait is the longest a lookup of an unknown kid waits
	// for the fetch in flight (1 s).
	DefaultUnknownKIDWait = time.Second
	// DefaultMaxStale is how long the last good set is used while the origin
	// cannot be reached or returns no JWK Set (24 h).
	DefaultMaxStale = 24 * time.Hour
	// DefaultFetchTimeout bounds one HTTP exchange, body included (10 s).
	DefaultFetchTimeout = 10 * time.Second
	// DefaultMaxJWKSBytes caps a JWKS or discovery response body (1 MiB).
	DefaultMaxJWKSBytes = 1 << 20
)

// ErrKeySetUnavailable is returned by KeySet.VerificationKey when it
// holds no usable key set: no fetch has succeeded yet (a cold key set), the
// last good set is older than Config.MaxStale, or the key set was
// never started. token.Verifier reports it wrapped in token.ErrUnknownKey, so every token
// is rejected (fail closed).
var ErrKeySetUnavailable = errors.New("jwtauth: remote key set unavailable")

// ErrJWKSFetch wraps every failed fetch of a remote JWKS or discovery
// document: network error, timeout, a status other than 200/304, a refused
// redirect, an HTML or oversized body, JSON that is not a JWK Set, or a set
// with private key material. Such a response never replaces the last good
// set. (A 200 with a well-formed set that holds no usable key, such as
// {"keys":[]}, is no failure: the issuer has withdrawn its keys.)
var ErrJWKSFetch = errors.New("jwtauth: jwks fetch failed")

// Config configures a KeySet. Exactly one of JWKSURL and Issuer
// is needed; every other field has a useful zero value.
type Config struct {
	// JWKSURL is the URL of the JWK Set (RFC 7517 §5), e.g.
	// "https://auth.example.com/.well-known/jwks.json". When set, no
	// discovery is done.
	JWKSURL string
	// Issuer is an OpenID Connect issuer URL. Without JWKSURL, the JWKS URL
	// is read once from Issuer + "/.well-known/openid-configuration"
	// (OpenID Connect Discovery 1.0 §4), whose "issuer" member must equal
	// Issuer exactly (§4.3). NewVerifier also uses it as the expected
	// iss when VerifierConfig.Issuer is empty.
	Issuer string
	// HTTPClient makes the requests; default a zero http.Client (which uses
	// http.DefaultTransport). The key set works on a copy whose
	// CheckRedirect refuses any redirect that changes the scheme or the host
	// (port included) of the URL asked for, then applies the client's own
	// CheckRedirect; the client given is not modified. Timeout applies on
	// top of the client's own.
	HTTPClient *http.Client
	// InsecureAllowHTTP accepts plain http for JWKSURL, Issuer and a
	// discovered jwks_uri whatever their host. Without it they must be https,
	// except for a loopback host (127.0.0.0/8, ::1, localhost), which is
	// for development: over plain http anyone on the network path can serve
	// a JWKS holding a key of their own, and every token they sign with it
	// verifies.
	InsecureAllowHTTP bool
	// MinRefresh and MaxRefresh bound the background refresh interval, which
	// is the response's Cache-Control max-age minus its Age (RFC 9111
	// §4.2), or DefaultRefresh without one. Defaults DefaultMinRefresh (1
	// min) and DefaultMaxRefresh (1 h). A failed fetch is retried after
	// MinRefresh.
	MinRefresh, MaxRefresh time.Duration
	// UnknownKIDInterval is the least time between a fetch and a fetch
	// caused by an unknown kid; concurrent misses share one fetch. Default
	// DefaultUnknownKIDInterval (5 s).
	UnknownKIDInterval time.Duration
	// UnknownKIDWait is the longest a lookup of a kid the set does not hold
	// waits for a fetch in flight (its own or one it joined): then it fails
	// with keys.ErrUnknownKey while the fetch goes on for later lookups. The
	// caller's ctx ends the wait earlier. It keeps an origin that accepts
	// connections and never answers from holding each such request for the
	// whole Timeout. Lookups of a kid the set holds never wait. Default
	// DefaultUnknownKIDWait (1 s).
	UnknownKIDWait time.Duration
	// MaxStale is how long after the origin last confirmed the set (a 200
	// with a JWK Set, or a 304) the set is still used while refreshes
	// fail. After it every lookup fails with ErrKeySetUnavailable. Default
	// DefaultMaxStale (24 h).
	MaxStale time.Duration
	// Timeout bounds one HTTP exchange, body included. Default
	// DefaultFetchTimeout (10 s).
	Timeout time.Duration
	// MaxBytes caps a response body, in bytes; a larger one is a failed
	// fetch. Default DefaultMaxJWKSBytes (1 MiB).
	MaxBytes int64
	// Lazy makes NewKeySet return without fetching: the background
	// refresh and the first lookup fetch the set, and until one succeeds
	// every lookup fails with ErrKeySetUnavailable. Use it when services may
	// start before their issuer. By default NewKeySet fetches once and
	// fails when it cannot fetch the set.
	Lazy bool
	// Now is the clock used for freshness, staleness and the unknown-kid
	// interval; default time.Now. The background refresh waits on runtime
	// timers (use testing/synctest to drive it in tests).
	Now func() time.Time
	// Logger receives one line per failed fetch and per key-set change;
	// default slog.Default().
	Logger *slog.Logger

	// Trace, when set, is told about every fetch, every fetch an unknown
	// kid causes and the end of the key set (see Trace); nil: nothing is
	// reported. The face's Prometheus metrics (jwtauth.RemoteMetrics) fill
	// it in.
	Trace *Trace
}

// KeySet is a token.KeySet fed by a remote JWK Set (RFC 7517 §5): the
// verifying side of a service that trusts tokens of another issuer, such as
// `jwtauth serve`. It implements token.KeySet, so token.Verifier and the adapters'
// middleware work with it unchanged. It is safe for concurrent use.
//
// Behaviour:
//   - A background goroutine refreshes the set when its Cache-Control
//     max-age (bounded by MinRefresh and MaxRefresh) runs out, sending
//     If-None-Match with the last ETag; a 304 Not Modified (RFC 9110 §15.4.5)
//     confirms the set it holds.
//   - A kid the set does not hold causes one immediate fetch, at most one
//     per UnknownKIDInterval; concurrent misses are coalesced into that one
//     fetch (singleflight), so forged kids cannot flood the origin. Such a
//     lookup waits for the fetch at most UnknownKIDWait (1 s) or until its
//     ctx ends; a kid the set holds is answered at once, fetch or no fetch.
//   - A fetched set replaces the previous one entirely: a key removed at the
//     origin (retired or revoked) stops verifying as soon as the new set is
//     fetched, and a set without any usable key ({"keys":[]}: the issuer
//     withdrew every key) makes every lookup fail.
//   - A failed fetch (see ErrJWKSFetch) is logged and never replaces a good
//     set; the last good set is used for up to MaxStale after the origin last
//     confirmed it. With no good set, lookups fail closed.
//   - Only RSA signing keys are used: a key with "use":"enc", key_ops
//     without "verify", a kty other than RSA, an "alg" other than RS256, no
//     kid, a modulus under 2048 or over 8192 bits, an "n" or "e" that is
//     not base64url (RFC 7515 §2), an "e" that is not an odd integer of at
//     least 3, or a JWK member of the wrong JSON type (RFC 7517 §4; "kid",
//     "use", "alg" a string, "key_ops" an array of strings, "x5c" base64
//     X.509 certificates) or in the wrong letter case is skipped. A set with
//     any private key member ("d", "p", "q", "dp", "dq", "qi", "oth", "k",
//     "priv") is rejected as a whole: its publisher is leaking keys.
//
// Why not jwx's jwk.Cache: in jwx v3.4.0 it (through httprc v3) sends no
// If-None-Match and treats 304 as an error, reads its clock with time.Now,
// has no maximum staleness, no rate-limited refresh on an unknown kid, and
// replaces a good set with any set that parses, an empty one included. So
// KeySet runs its own small fetch loop over net/http, and reads the RSA JWKs
// itself by the rules above (RFC 7517 §4, RFC 7518 §6.3.1), so that a
// verify-only program links no JOSE library.
type KeySet struct {
	cfg    Config
	client *http.Client
	log    *slog.Logger
	now    func() time.Time

	cur atomic.Pointer[remoteSet]
	sf  singleflight.Group

	mu          sync.Mutex
	jwksURL     string    // resolved (discovery done) when non-empty
	lastAttempt time.Time // start of the last fetch, by cfg.Now
	nextRefresh time.Time // when the background refresh is due, by cfg.Now
	lastErr     error
	fetches     int64

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	kick   chan struct{}

	trace     *Trace // Config.Trace; nil without one
	closeOnce sync.Once
}

// remoteSet is an immutable snapshot of the usable keys of one JWKS document.
type remoteSet struct {
	keys      map[string]*rsa.PublicKey
	etag      string
	validated time.Time // when the origin last confirmed it (200 or 304), by cfg.Now
}

// NewKeySet checks cfg, fetches the set (unless cfg.Lazy) and starts
// the background refresh, which runs until ctx is done or Close is called.
// It fails when neither JWKSURL nor Issuer is set, a URL is not absolute
// https (or http on a loopback host, or with InsecureAllowHTTP), or (not
// Lazy) discovery or the first fetch fails: the error then wraps
// ErrJWKSFetch and says why.
func NewKeySet(ctx context.Context, cfg Config) (*KeySet, error) {
	r, err := newKeySet(ctx, cfg)
	if err != nil {
		cfg.Trace.closed()
	}
	return r, err
}

func newKeySet(ctx context.Context, cfg Config) (*KeySet, error) {
	if cfg.JWKSURL == "" && cfg.Issuer == "" {
		return nil, errors.New("jwtauth: remote.Config needs JWKSURL or Issuer")
	}
	for _, f := range []struct{ name, url string }{{"JWKSURL", cfg.JWKSURL}, {"Issuer", cfg.Issuer}} {
		if f.url == "" {
			continue
		}
		if err := checkHTTPURL(f.url, cfg.InsecureAllowHTTP); err != nil {
			return nil, fmt.Errorf("jwtauth: remote.Config.%s: %w", f.name, err)
		}
	}
	if cfg.MinRefresh <= 0 {
		cfg.MinRefresh = DefaultMinRefresh
	}
	if cfg.MaxRefresh <= 0 {
		cfg.MaxRefresh = DefaultMaxRefresh
	}
	if cfg.MaxRefresh < cfg.MinRefresh {
		return nil, fmt.Errorf("jwtauth: remote.Config: MaxRefresh %s is below MinRefresh %s", cfg.MaxRefresh, cfg.MinRefresh)
	}
	if cfg.UnknownKIDInterval <= 0 {
		cfg.UnknownKIDInterval = DefaultUnknownKIDInterval
	}
	if cfg.UnknownKIDWait <= 0 {
		cfg.UnknownKIDWait = DefaultUnknownKIDWait
	}
	if cfg.MaxStale <= 0 {
		cfg.MaxStale = DefaultMaxStale
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultFetchTimeout
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxJWKSBytes
	}
	r := &KeySet{cfg: cfg, client: sameOriginClient(cfg.HTTPClient), log: cfg.Logger, now: cfg.Now,
		jwksURL: cfg.JWKSURL, done: make(chan struct{}), kick: make(chan struct{}, 1), trace: cfg.Trace}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.now == nil {
		r.now = time.Now
	}
	r.ctx, r.cancel = context.WithCancel(ctx)
	if !cfg.Lazy {
		if err := r.fetch(ctx); err != nil {
			r.cancel()
			return nil, err
		}
	}
	go r.run()
	return r, nil
}

// checkHTTPURL accepts an absolute https URL, and an http one when its host
// is a loopback host or insecure is set.
func checkHTTPURL(s string, insecure bool) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%.256q is not an absolute URL: give the scheme and host, https://host/… (http only for a loopback host)", s)
	}
	if u.Scheme == "http" && !insecure && !loopbackHost(u.Hostname()) {
		return fmt.Errorf("%.256q is plain http: use https (http is accepted only for a loopback host, 127.0.0.0/8, ::1 or localhost, or with InsecureAllowHTTP)", s)
	}
	return nil
}

// errRedirect is the cause of a redirect the key set refuses.
var errRedirect = errors.New("redirect refused")

// sameOriginClient returns a copy of c (nil: a zero http.Client) whose
// CheckRedirect refuses a redirect to another scheme or host:port than the
// first request's, so that an https URL cannot hand the fetch to plain http
// or to another server, then applies c's own policy (nil: stop after 10
// redirects, as net/http does). c is not modified.
func sameOriginClient(c *http.Client) *http.Client {
	var cp http.Client
	if c != nil {
		cp = *c
	}
	theirs := cp.CheckRedirect
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		first := via[0].URL
		if req.URL.Scheme != first.Scheme || !strings.EqualFold(hostPort(req.URL), hostPort(first)) {
			return fmt.Errorf("%w: %s to %s changes the scheme or host", errRedirect, first.Redacted(), req.URL.Redacted())
		}
		if theirs != nil {
			return theirs(req, via)
		}
		if len(via) >= 10 {
			return fmt.Errorf("%w: stopped after 10 redirects", errRedirect)
		}
		return nil
	}
	return &cp
}

// hostPort is u's host and port, the scheme's default port when u has none.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// VerificationKey returns the RSA public key for kid. A kid the current set
// does not hold causes a fetch when none was made in the last
// UnknownKIDInterval (see KeySet), awaited for at most UnknownKIDWait
// or until ctx ends; if the kid is still unknown the error wraps
// keys.ErrUnknownKey. Without a usable set it returns an error
// wrapping ErrKeySetUnavailable. The cached path takes no lock and does no
// I/O.
func (r *KeySet) VerificationKey(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	s := r.cur.Load()
	if s != nil {
		if pub, ok := s.keys[kid]; ok {
			if err := r.checkStale(s); err != nil {
				return nil, err
			}
			return pub, nil
		}
	}
	if err := r.refetchForMiss(ctx); err != nil && !errors.Is(err, errThrottled) {
		// The fetch failed; the last good set (if any) is still in force.
		r.log.Debug("jwtauth: remote jwks: refetch for unknown kid failed", "err", err)
	}
	s = r.cur.Load()
	if s == nil {
		return nil, r.unavailable()
	}
	if err := r.checkStale(s); err != nil {
		return nil, err
	}
	if pub, ok := s.keys[kid]; ok {
		return pub, nil
	}
	return nil, keys.ErrUnknownKey
}

func (r *KeySet) checkStale(s *remoteSet) error {
	if age := r.now().Sub(s.validated); age > r.cfg.MaxStale {
		r.mu.Lock()
		last := r.lastErr
		r.mu.Unlock()
		if last == nil {
			return fmt.Errorf("%w: the last good set is %s old (MaxStale %s)", ErrKeySetUnavailable, age.Round(time.Second), r.cfg.MaxStale)
		}
		return errorf("%w: the last good set is %s old (MaxStale %s); last error: %w", ErrKeySetUnavailable, age.Round(time.Second), r.cfg.MaxStale, last)
	}
	return nil
}

func (r *KeySet) unavailable() error {
	r.mu.Lock()
	last := r.lastErr
	r.mu.Unlock()
	if last == nil {
		return fmt.Errorf("%w: no key set fetched yet", ErrKeySetUnavailable)
	}
	return errorf("%w: no good key set yet: %w", ErrKeySetUnavailable, last)
}

var errThrottled = errors.New("jwtauth: remote jwks: refetch throttled")

var errMissWait = errors.New("jwtauth: remote jwks: the fetch for an unknown kid is still running")

// refetchForMiss fetches unless a fetch started within UnknownKIDInterval.
// All callers share the fetch in flight; a caller stops waiting after
// UnknownKIDWait or when its ctx ends, without cancelling the fetch for the
// others.
func (r *KeySet) refetchForMiss(ctx context.Context) error {
	ch := r.sf.DoChan("fetch", func() (any, error) {
		r.mu.Lock()
		throttled := !r.lastAttempt.IsZero() && r.now().Sub(r.lastAttempt) < r.cfg.UnknownKIDInterval
		r.mu.Unlock()
		if throttled {
			return nil, errThrottled
		}
		if t := r.trace; t != nil && t.UnknownKIDRefetch != nil {
			t.UnknownKIDRefetch()
		}
		return nil, r.fetch(r.ctx)
	})
	wait := time.NewTimer(r.cfg.UnknownKIDWait)
	defer wait.Stop()
	select {
	case res := <-ch:
		return res.Err
	case <-ctx.Done():
		return ctx.Err()
	case <-wait.C:
		return errMissWait
	}
}

// Refresh fetches the set now, whatever its freshness and the unknown-kid
// interval, sharing a fetch already in flight. It returns the fetch's error
// (wrapping ErrJWKSFetch); the last good set stays in force on failure.
func (r *KeySet) Refresh(ctx context.Context) error {
	ch := r.sf.DoChan("fetch", func() (any, error) { return nil, r.fetch(r.ctx) })
	select {
	case res := <-ch:
		return res.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// LastError returns the error of the last fetch, or nil when it succeeded
// (or none was made).
func (r *KeySet) LastError() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}

// KIDs returns the kids of the usable keys of the current set, in no
// particular order; nil without a set.
func (r *KeySet) KIDs() []string {
	s := r.cur.Load()
	if s == nil {
		return nil
	}
	out := make([]string, 0, len(s.keys))
	for kid := range s.keys {
		out = append(out, kid)
	}
	return out
}

// Close stops the background refresh, waits for it to end and calls
// Config.Trace's Closed hook. Lookups still answer from the
// last set (until MaxStale) but fetch no more. Close is idempotent and
// always returns nil.
func (r *KeySet) Close() error {
	r.cancel()
	<-r.done
	r.closeOnce.Do(r.trace.closed)
	return nil
}

// run is the background refresh loop: it fetches when nextRefresh is due,
// and re-reads nextRefresh whenever a fetch (of any caller) ends.
func (r *KeySet) run() {
	defer close(r.done)
	for {
		r.mu.Lock()
		wait := r.nextRefresh.Sub(r.now())
		r.mu.Unlock()
		if wait <= 0 {
			ch := r.sf.DoChan("fetch", func() (any, error) { return nil, r.fetch(r.ctx) })
			select {
			case <-r.ctx.Done():
				return
			case <-ch:
			}
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-r.ctx.Done():
			t.Stop()
			return
		case <-r.kick:
			t.Stop()
		case <-t.C:
		}
	}
}

// fetch resolves the JWKS URL if needed, fetches the set and installs it.
// Callers coalesce through r.sf so that at most one fetch runs at a time.
func (r *KeySet) fetch(ctx context.Context) (err error) {
	if err := r.ctx.Err(); err != nil {
		return fmt.Errorf("%w: key set closed", ErrJWKSFetch)
	}
	now := r.now()
	r.mu.Lock()
	r.lastAttempt = now
	r.fetches++
	jwksURL := r.jwksURL
	r.mu.Unlock()

	status := 0 // of the JWKS response
	defer func() {
		r.trace.fetched(r.cur.Load(), status, err)
		r.mu.Lock()
		r.lastErr = err
		if err != nil {
			// Retry a failure after the floor, and not later than the normal schedule.
			if next := now.Add(r.cfg.MinRefresh); !r.nextRefresh.After(now) || next.Before(r.nextRefresh) {
				r.nextRefresh = next
			}
		}
		r.mu.Unlock()
		select {
		case r.kick <- struct{}{}:
		default:
		}
		if err != nil {
			if s := r.cur.Load(); s != nil {
				r.log.Warn("jwtauth: remote jwks fetch failed; keeping the last good set", "url", r.target(),
					"last_good_age", now.Sub(s.validated).Round(time.Second).String(), "max_stale", r.cfg.MaxStale.String(), "err", err)
			} else {
				r.log.Warn("jwtauth: remote jwks fetch failed; no good set yet, every token is rejected", "url", r.target(), "err", err)
			}
		}
	}()

	if jwksURL == "" {
		jwksURL, err = r.discover(ctx)
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.jwksURL = jwksURL
		r.mu.Unlock()
	}

	prev := r.cur.Load()
	hdr := http.Header{"Accept": {"application/jwk-set+json, application/json"}}
	if prev != nil && prev.etag != "" {
		hdr.Set("If-None-Match", prev.etag)
	}
	res, body, err := r.get(ctx, jwksURL, hdr)
	if err != nil {
		return err
	}
	status = res.StatusCode
	ttl := r.freshness(res.Header)
	switch {
	case res.StatusCode == http.StatusNotModified && prev != nil && prev.etag != "":
		next := *prev
		next.validated = now
		r.cur.Store(&next)
	case res.StatusCode == http.StatusOK:
		ks, skipped, err := parseRemoteJWKS(body)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrJWKSFetch, jwksURL, err)
		}
		for _, s := range skipped {
			r.log.Debug("jwtauth: remote jwks: key skipped", "url", jwksURL, "reason", s)
		}
		r.cur.Store(&remoteSet{keys: ks, etag: res.Header.Get("ETag"), validated: now})
		switch {
		case len(ks) == 0 && (prev == nil || len(prev.keys) > 0):
			r.log.Warn("jwtauth: remote jwks holds no usable key; every token is rejected", "url", jwksURL, "skipped", len(skipped))
		case len(ks) > 0 && (prev == nil || !sameKeys(prev.keys, ks)):
			r.log.Info("jwtauth: remote jwks loaded", "url", jwksURL, "keys", len(ks), "skipped", len(skipped))
		}
	default:
		return fmt.Errorf("%w: %s: HTTP status %d", ErrJWKSFetch, jwksURL, res.StatusCode)
	}
	r.mu.Lock()
	r.nextRefresh = now.Add(ttl)
	r.mu.Unlock()
	return nil
}

func (r *KeySet) target() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.jwksURL != "" {
		return r.jwksURL
	}
	return r.cfg.Issuer
}

// get performs one GET with the timeout and reads at most MaxBytes of body
// (none for 304).
func (r *KeySet) get(ctx context.Context, u string, hdr http.Header) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrJWKSFetch, err)
	}
	req.Header = hdr
	res, err := r.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrJWKSFetch, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return res, nil, nil
	}
	if ct := res.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil && (mt == "text/html" || mt == "application/xhtml+xml") {
			return nil, nil, fmt.Errorf("%w: %s: got an HTML page (Content-Type %s), not JSON", ErrJWKSFetch, u, mt)
		}
	}
	if res.ContentLength > r.cfg.MaxBytes {
		return nil, nil, fmt.Errorf("%w: %s: body of %d bytes exceeds the %d-byte limit", ErrJWKSFetch, u, res.ContentLength, r.cfg.MaxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, r.cfg.MaxBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: read body: %w", ErrJWKSFetch, u, err)
	}
	if int64(len(body)) > r.cfg.MaxBytes {
		return nil, nil, fmt.Errorf("%w: %s: body exceeds the %d-byte limit", ErrJWKSFetch, u, r.cfg.MaxBytes)
	}
	return res, body, nil
}

// discover reads the JWKS URL from the issuer's OpenID Provider
// Configuration (OpenID Connect Discovery 1.0 §4.1) and checks that its
// issuer equals the configured one (§4.3).
func (r *KeySet) discover(ctx context.Context) (string, error) {
	u := strings.TrimSuffix(r.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	res, body, err := r.get(ctx, u, http.Header{"Accept": {"application/json"}})
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%w: discovery %s: HTTP status %d", ErrJWKSFetch, u, res.StatusCode)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("%w: discovery %s: not a JSON provider configuration", ErrJWKSFetch, u)
	}
	if doc.Issuer != r.cfg.Issuer {
		return "", fmt.Errorf("%w: discovery %s: issuer %.256q does not match the configured issuer %q", ErrJWKSFetch, u, doc.Issuer, r.cfg.Issuer)
	}
	if err := checkHTTPURL(doc.JWKSURI, r.cfg.InsecureAllowHTTP); err != nil {
		return "", fmt.Errorf("%w: discovery %s: jwks_uri: %w", ErrJWKSFetch, u, err)
	}
	return doc.JWKSURI, nil
}

// freshness is the refresh interval a response asks for: Cache-Control
// max-age minus Age (RFC 9111 §4.2.1, §4.2.3; 0 for no-cache or no-store),
// DefaultRefresh without one, clamped to [MinRefresh, MaxRefresh].
func (r *KeySet) freshness(h http.Header) time.Duration {
	d := DefaultRefresh
	for _, cc := range h.Values("Cache-Control") {
		for dir := range strings.SplitSeq(cc, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(dir), "=")
			switch strings.ToLower(name) {
			case "max-age":
				if n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64); err == nil && n >= 0 {
					d = time.Duration(min(n, int64(1<<31))) * time.Second
					if age, err := strconv.ParseInt(h.Get("Age"), 10, 64); err == nil && age > 0 {
						d -= time.Duration(min(age, int64(1<<31))) * time.Second
					}
				}
			case "no-cache", "no-store":
				d = 0
				return max(d, r.cfg.MinRefresh)
			}
		}
	}
	return min(max(d, r.cfg.MinRefresh), r.cfg.MaxRefresh)
}

// privateMembers are JWK members that carry private or secret key material
// (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2; "priv" of AKP keys).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"}

// Key sizes a remote RSA key must have, in bits.
const (
	minRemoteRSABits = 2048
	maxRemoteRSABits = 8192
)

// parseRemoteJWKS turns a JWK Set document into its usable RSA verification
// keys by kid. It fails when the document is not a JSON object with a
// "keys" array or when any key has a private member. A set without keys, or
// without a usable one, is no failure: it is what the issuer publishes, and
// it yields an empty map. skipped describes each key it left out. Each key
// is read on its own (see usableKey), so that a key of another type, or one
// this parser refuses, is skipped rather than failing the set.
func parseRemoteJWKS(body []byte) (map[string]*rsa.PublicKey, []string, error) {
	// Member names are case-sensitive (RFC 8259 §4, RFC 7517 §4): decode
	// into maps, whose keys are exact, not into structs, which
	// encoding/json matches ignoring case.
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, nil, errors.New("the body is not a JSON JWK Set")
	}
	var keyList []json.RawMessage
	if raw, ok := top["keys"]; !ok || json.Unmarshal(raw, &keyList) != nil || keyList == nil {
		return nil, nil, errors.New(`the JWK Set has no "keys" array`)
	}
	out := make(map[string]*rsa.PublicKey)
	var skipped []string
	for i, raw := range keyList {
		var members map[string]json.RawMessage
		if err := json.Unmarshal(raw, &members); err != nil {
			skipped = append(skipped, fmt.Sprintf("key #%d: not a JSON object", i))
			continue
		}
		for _, m := range privateMembers { // in a fixed order, so the error names the same member every time
			for name := range members {
				if strings.EqualFold(m, name) {
					return nil, nil, fmt.Errorf("key #%d has the private member %.16q: a JWKS must hold public keys only; set rejected", i, name)
				}
			}
		}
		if why := memberCase(members); why != "" {
			skipped = append(skipped, fmt.Sprintf("key #%d: %s", i, why))
			continue
		}
		n, why := modulus(members)
		if why != "" {
			var kid string
			_ = json.Unmarshal(members["kid"], &kid)
			skipped = append(skipped, fmt.Sprintf("key #%d (kid %.64q): %s", i, kid, why))
			continue
		}
		pub, kid, why := usableKey(members, n)
		if why != "" {
			skipped = append(skipped, fmt.Sprintf("key #%d (kid %.64q): %s", i, kid, why))
			continue
		}
		if _, dup := out[kid]; dup {
			skipped = append(skipped, fmt.Sprintf("key #%d: duplicate kid %.64q (the first one is used)", i, kid))
			continue
		}
		out[kid] = pub
	}
	return out, skipped, nil
}

// jwkMembers are the JWK members (RFC 7517 §4, RFC 7518 §6.3.1) usableKey
// reads, spelled as the RFCs register them.
var jwkMembers = []string{"kty", "use", "key_ops", "alg", "kid", "x5u", "x5c", "x5t", "x5t#S256", "n", "e"}

// memberCase says why a key's members are unacceptable: kty must be exactly
// "kty" with the value "RSA", and no member may spell a JWK member name in
// other letter case (such as "KID", which a case-insensitive reader would
// take for "kid").
func memberCase(members map[string]json.RawMessage) string {
	var kty string
	if raw, ok := members["kty"]; !ok || json.Unmarshal(raw, &kty) != nil || kty != "RSA" {
		return `kty is not exactly "RSA"`
	}
	for name := range members {
		for _, m := range jwkMembers {
			if name != m && strings.EqualFold(name, m) {
				return fmt.Sprintf("member %.16q is a JWK member name in the wrong letter case", name)
			}
		}
	}
	return ""
}

// b64url decodes s, base64url (RFC 4648 §5) without padding as RFC 7515 §2
// requires, or with its padding; bits left over past the last byte must be
// zero, as an encoder writes them.
func b64url(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		b, err = base64.URLEncoding.Strict().DecodeString(s)
	}
	return b, err
}

// modulus reads the key's modulus "n" (RFC 7518 §6.3.1.1: base64url of a
// big-endian unsigned integer) and says why it is unacceptable: absent, not
// base64url, or under minRemoteRSABits or over maxRemoteRSABits bits. It
// reads "n" before any other member, so that an oversized modulus costs no
// more than its decoding.
func modulus(members map[string]json.RawMessage) (*big.Int, string) {
	var n string
	if raw, ok := members["n"]; !ok || json.Unmarshal(raw, &n) != nil {
		return nil, `no string member "n"`
	}
	b, err := b64url(n)
	if err != nil {
		return nil, `"n" is not base64url`
	}
	N := new(big.Int).SetBytes(b)
	if bits := N.BitLen(); bits < minRemoteRSABits || bits > maxRemoteRSABits {
		return nil, fmt.Sprintf("RSA modulus of %d bits (want %d to %d)", bits, minRemoteRSABits, maxRemoteRSABits)
	}
	return N, ""
}

// usableKey reads the members of one RSA JWK whose kty, member names and
// modulus n were checked, and returns its public key and kid, or why it
// cannot verify RS256 signatures. Each member it knows must have its
// type: "kid", "use", "alg", "x5u", "x5t" and "x5t#S256" strings (not
// null); "key_ops" an array of strings (RFC 7517 §4.3); "x5c" an array of base64 (not base64url) DER X.509
// certificates (§4.7); "e" (RFC 7518 §6.3.1.2) base64url of an odd
// integer of at least 3 that fits an int. The key must have a kid, "use"
// "sig" or none, "key_ops" with "verify" or none, and "alg" "RS256" or
// none. Other members are ignored.
func usableKey(members map[string]json.RawMessage, n *big.Int) (*rsa.PublicKey, string, string) {
	str := func(name string) (string, bool, string) {
		raw, ok := members[name]
		if !ok {
			return "", false, ""
		}
		var v *string
		if json.Unmarshal(raw, &v) != nil || v == nil {
			return "", true, fmt.Sprintf("%q is not a string", name)
		}
		return *v, true, ""
	}
	kid, _, why := str("kid")
	if why != "" {
		return nil, "", why
	}
	for _, name := range []string{"x5u", "x5t", "x5t#S256"} {
		if _, _, why := str(name); why != "" {
			return nil, kid, why
		}
	}
	if why := certChain(members["x5c"]); why != "" {
		return nil, kid, why
	}
	if kid == "" {
		return nil, kid, "no kid"
	}
	if use, ok, why := str("use"); why != "" || (ok && use != "sig") {
		return nil, kid, cmp.Or(why, "use is "+use)
	}
	if raw, ok := members["key_ops"]; ok {
		var ops []string
		if json.Unmarshal(raw, &ops) != nil || ops == nil {
			return nil, kid, `"key_ops" is not an array of strings`
		}
		if !slices.Contains(ops, "verify") {
			return nil, kid, "key_ops does not include verify"
		}
	}
	if alg, ok, why := str("alg"); why != "" || (ok && alg != keys.Algorithm) {
		return nil, kid, cmp.Or(why, fmt.Sprintf("alg is %.32q", alg))
	}
	e, ok, why := str("e")
	if why != "" || !ok {
		return nil, kid, `no string member "e"`
	}
	eb, err := b64url(e)
	if err != nil {
		return nil, kid, `"e" is not base64url`
	}
	E := new(big.Int).SetBytes(eb)
	if E.BitLen() >= bits.UintSize || E.Int64() < 3 || E.Bit(0) == 0 {
		return nil, kid, "the RSA public exponent is not an odd integer from 3 to the largest int"
	}
	return &rsa.PublicKey{N: n, E: int(E.Int64())}, kid, ""
}

// certChain says why an "x5c" member (RFC 7517 §4.7) is unacceptable: not
// an array of strings, or one that is not the standard base64 (RFC 4648
// §4, not base64url) of a DER X.509 certificate. An absent member is fine.
func certChain(raw json.RawMessage) string {
	if raw == nil {
		return ""
	}
	var chain []string
	if json.Unmarshal(raw, &chain) != nil || chain == nil {
		return `"x5c" is not an array of strings`
	}
	for i, c := range chain {
		der, err := base64.StdEncoding.DecodeString(c)
		if err != nil {
			return fmt.Sprintf(`"x5c" #%d is not base64`, i)
		}
		if _, err := x509.ParseCertificate(der); err != nil {
			return fmt.Sprintf(`"x5c" #%d is not an X.509 certificate`, i)
		}
	}
	return ""
}

func sameKeys(a, b map[string]*rsa.PublicKey) bool {
	if len(a) != len(b) {
		return false
	}
	for kid, pa := range a {
		pb, ok := b[kid]
		if !ok || !pa.Equal(pb) {
			return false
		}
	}
	return true
}

// NewVerifier returns a token.Verifier whose keys come from a KeySet
// built with rc (see NewKeySet; its background refresh runs until ctx
// is done) and the returned key set, for Refresh, LastError or Close. vc.Keys
// must be nil; when vc.Issuer is empty it is rc.Issuer. Every other rule of
// vc applies as with token.NewVerifier.
func NewVerifier(ctx context.Context, rc Config, vc token.VerifierConfig) (*token.Verifier, *KeySet, error) {
	if vc.Keys != nil {
		rc.Trace.closed()
		return nil, nil, errors.New("jwtauth: remote.NewVerifier: token.VerifierConfig.Keys must be nil (the remote key set supplies the keys)")
	}
	if vc.Issuer == "" {
		vc.Issuer = rc.Issuer
	}
	probe := vc
	probe.Keys = noKeys{}
	if _, err := token.NewVerifier(probe); err != nil {
		rc.Trace.closed()
		return nil, nil, err
	}
	ks, err := NewKeySet(ctx, rc)
	if err != nil {
		return nil, nil, err
	}
	vc.Keys = ks
	v, err := token.NewVerifier(vc)
	if err != nil {
		_ = ks.Close()
		return nil, nil, err
	}
	return v, ks, nil
}

// noKeys is a token.KeySet without keys, used to check a VerifierConfig before
// any fetch.
type noKeys struct{}

func (noKeys) VerificationKey(context.Context, string) (*rsa.PublicKey, error) {
	return nil, keys.ErrUnknownKey
}
