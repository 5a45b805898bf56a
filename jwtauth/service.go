package jwtauth

import (
	"cmp"
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/jwtauth/jwtauth/internal/settingname"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/dpop"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/prometheus/client_golang/prometheus"
)

// Intervals of the background work a Service runs until Close.
const (
	// keyPoll is how often the key manager picks up key-set changes made by
	// the CLI or another instance, and performs due rotations (keys.Manager.Run).
	keyPoll = 2 * time.Second
	// purgeEvery is how often Accounts.Purge runs: it deletes expired
	// refresh-token families and drops idle entries of the login throttle.
	purgeEvery = 5 * time.Minute
)

// Config configures New: the whole service from a store and an issuer URL.
// Store and Issuer are required; every other field has a zero value giving
// the default of `jwtauth serve`.
type Config struct {
	// Store persists keys, users and refresh tokens: adapters/sqlite,
	// adapters/postgres, or adapters/memory for tests. Required. New does not
	// take it over: close it yourself after Service.Close. When the store
	// reports that it was just created (a Created() bool method, as
	// adapters/sqlite's for a path that held no database), New logs a
	// warning naming it (its String): a lost or mistyped store would
	// otherwise start over unnoticed.
	Store account.Store
	// Users, when set, keeps the accounts instead of Store: an
	// application's own users table (see account.UserStore). Default Store.
	Users account.UserStore
	// RefreshTokens, when set, keeps the refresh-token families instead of
	// Store. Default Store when Users is nil. With Users set and
	// RefreshTokens nil there are no refresh tokens (/refresh and /logout
	// answer 501 unsupported_grant_type): the stores of this module keep
	// refresh tokens only for the users in their own table. Keys stay in
	// Store either way.
	RefreshTokens account.RefreshTokenStore
	// Issuer is the public URL of the service: the iss of every token, and
	// the base of the discovery document (Issuer +
	// "/.well-known/openid-configuration", OpenID Connect Discovery 1.0 §4)
	// and of the JWKS it names (Issuer + "/.well-known/jwks.json").
	// Required: an absolute http or https URL without user info, query or
	// fragment. Its path is where the adapters mount the endpoints (see
	// Service.MountPath): with "https://app.example.com/auth", login is
	// POST /auth/login.
	Issuer string
	// Audience is the aud of every token and what the Verifier accepts;
	// default []string{Issuer}.
	Audience []string

	// AccessTTL is the lifetime of an access token; default token.DefaultAccessTTL (15 min).
	AccessTTL time.Duration
	// RefreshTTL is the lifetime of a refresh token (its inactivity expiry);
	// default account.DefaultRefreshTTL (720 h).
	RefreshTTL time.Duration
	// RefreshFamilyTTL is the absolute lifetime of a login's refresh-token
	// family; default account.DefaultRefreshFamilyTTL (2160 h, 90 days).
	RefreshFamilyTTL time.Duration
	// StoreTimeout bounds each store call of a request, which then answers
	// 503; default 5 s (see account.Config.StoreTimeout).
	StoreTimeout time.Duration
	// TrustedProxies are the networks of the reverse proxies in front of the
	// service whose X-Forwarded-For names the client that login and
	// registration throttling count. Default none: the framework's client
	// address when mounted with adapters/gin (gin's c.ClientIP, so
	// engine.SetTrustedProxies is the one rule of the app), the
	// connection's address on net/http (see RoutesConfig.TrustedProxies).
	// When set, this rule wins on every adapter.
	TrustedProxies []netip.Prefix

	// KeyEncryptionKey, when set, is 32 bytes sealing private signing keys
	// at rest (AES-256-GCM, see keys.Config). When nil they are stored in
	// clear and New logs a warning naming this field.
	KeyEncryptionKey []byte
	// KeyBits is the RSA modulus size of new keys: 2048 (default), 3072 or 4096.
	KeyBits int
	// RotateEvery is how long a key signs before the next one replaces it;
	// default 24 h.
	RotateEvery time.Duration
	// Prepublish is how long a next key is in the JWKS before it may sign;
	// default 1 h; it must be at least JWKSMaxAge.
	Prepublish time.Duration
	// JWKSMaxAge is the Cache-Control max-age of the JWKS; default 5 min.
	JWKSMaxAge time.Duration
	// KeyRetention is how long a retired key stays in the JWKS so that the
	// tokens it signed still verify (keys.Policy.Retain); default, and
	// least, AccessTTL + token.DefaultLeeway + JWKSMaxAge: a shorter one is
	// refused, as tokens would outlive their key. `jwtauth serve` sets it
	// to the longer retention stored with the key set (SPEC §3).
	KeyRetention time.Duration
	// GenerateKey creates new RSA signing keys; default keys.GenerateRSA.
	// Tests pass keys/keystest.Generator(t) to skip key generation.
	GenerateKey func(bits int) (*rsa.PrivateKey, error)

	// Throttle sets the login and registration budgets (see account.LoginThrottle);
	// its zero value gives serve's defaults with the buckets in process. With
	// several instances on one SQLite or PostgreSQL store, set Throttle.Store
	// to that store so that the budgets hold across them.
	Throttle account.LoginThrottle

	// Claims, when set, adds the application's claims to every access token
	// at login and at every refresh (so a role change applies at the next
	// refresh): see account.Config.Claims for the names (RFC 9068 §2.2.3
	// scope, roles, groups, entitlements) and the errors.
	Claims func(ctx context.Context, username string) (map[string]any, error)
	// ClaimNames are the names of the claims the Claims hook adds, such as
	// "roles": the discovery and RFC 8414 metadata documents list them in
	// claims_supported after the registered claims every token carries
	// (iss, sub, aud, exp, nbf, iat, jti), so that clients learn them. New
	// refuses names without a Claims hook, the empty name and a registered
	// claim. Default none: claims_supported lists the registered claims only.
	ClaimNames []string
	// Audit, when set, is told of every register, login, failed login (with
	// its reason), refresh, refresh reuse and logout: see account.Config.Audit.
	// It never receives a password, a hash or a token.
	Audit func(ctx context.Context, e account.AuditEvent)
	// TokenSources are where the authn.Authenticator looks for the access token, in
	// order; default the Authorization: Bearer header, then x-access-token
	// (see authn.Authenticator.Sources).
	TokenSources []authn.TokenSource
	// TokenCacheSize bounds the verifier's cache of verified tokens (see
	// token.VerifierConfig.CacheSize): 0 gives token.DefaultCacheSize (10 000 tokens,
	// about 12 MB), a negative value turns it off.
	TokenCacheSize int

	// Cookies turns on the cookie mode for browser pages (see CookieMode):
	// /login and /refresh put the refresh token in an HttpOnly cookie
	// instead of the JSON body, and /refresh and /logout read it back,
	// with a CSRF check. Off by default. Cookies.Origin defaults to the
	// issuer's origin, Cookies.Path to its path, Cookies.AccessCookie to
	// the name of the first
	// authn.CookieSource in TokenSources (then the access token travels in that
	// cookie too). SameSite None is refused.
	Cookies CookieMode

	// DPoP is the DPoP policy (RFC 9449, docs/dpop.md): DPoPAllowed (the
	// zero value), DPoPOff or DPoPRequired, as `serve --dpop`. Unless off,
	// /login and /refresh read the DPoP header: a valid proof (htm POST,
	// htu the issuer URL + "/login" or "/refresh", whatever Host the
	// request came with) binds the access token (cnf.jkt, token_type
	// "DPoP") and, at login, the refresh family to its key; an invalid one
	// is answered 400 invalid_dpop_proof before anything is spent. The
	// Service's Authenticator then checks bound tokens' proofs (htu:
	// DPoPPublicURL + the request's path) and, when required, refuses
	// bearer tokens. Discovery and RFC 8414 metadata advertise
	// dpop_signing_alg_values_supported.
	DPoP DPoPMode
	// DPoPProofs configures the proof verifiers of the issuing endpoints
	// and the Authenticator (algorithms, iat window, replay cache, nonces:
	// see dpop.Config); the zero value gives ES256 and EdDSA, 60 s, the
	// replay cache of DPoPReplay at /login and /refresh and a per-process
	// one in the Authenticator. A Replay set here wins: both use it. A
	// zero ReplayTimeout is StoreTimeout. Ignored when DPoP is off.
	DPoPProofs dpop.Config
	// DPoPReplay remembers the proofs /login and /refresh accepted, so that
	// one is accepted once across every instance that shares it (RFC 9449
	// §11.1). Default the Store when it implements dpop.ReplayCache, as the
	// stores of adapters/sqlite and adapters/postgres do (a table every
	// instance on the database shares; adapters/memory's is per process);
	// otherwise a per-process cache. The Authenticator keeps a per-process
	// cache unless DPoPProofs.Replay is set: a store round trip per request
	// would cost several times the proof's signature check (docs/dpop.md,
	// "A replay cache shared through the store"). Set a
	// dpop.NewMemoryReplayCache here to keep the issuing endpoints' cache
	// in process too. Ignored when DPoP is off or DPoPProofs.Replay is set.
	DPoPReplay dpop.ReplayCache
	// DPoPPublicURL is the base of the htu the Authenticator expects of a
	// bound token's proof: it is followed by the request's path (see
	// authn.DPoPConfig.PublicURL). Default the issuer's origin, right when
	// the routes are mounted under the issuer's path (MountService); set
	// the issuer URL when they answer at the root behind a proxy that
	// strips its path, as `jwtauth serve` does.
	DPoPPublicURL string

	// ServeHealthz adds GET /healthz to Routes: 200 {"status":"ok"}, or 503
	// while the store is unreachable or the stored key set does not decode
	// here. Off by default, as an application usually has a /healthz of its own.
	ServeHealthz bool
	// ServeProtected adds the tutorial's GET /protected to Routes: 200 with a
	// greeting for any valid access token. Off by default.
	ServeProtected bool

	// Logger receives what the service logs: the new-store and clear-key warnings, key
	// transitions, failed background work, the account flow's lines (never a
	// password, a hash, a token or a key); default slog.Default().
	Logger *slog.Logger

	// Metrics, when set, is where New registers the service's Prometheus
	// collectors: the jwtauth_* series of the key set, the JWKS and
	// discovery requests, token verifications and the verified-token cache
	// (unless TokenCacheSize turns it off), the account flow and its
	// password hashes (README, "Metrics"). Label
	// values come from fixed sets only: never a username, a kid from a
	// request, a client address or an error text. Nil (the default): no
	// metrics, and nothing touches prometheus.DefaultRegisterer (pass it to
	// use the global registry). New fails, starting nothing, when a
	// collector cannot be registered, such as a second Service on one
	// registry (wrap it with prometheus.WrapRegistererWith and a label that
	// tells them apart); Close unregisters them.
	Metrics prometheus.Registerer
}

// Service is the whole auth service New builds: a key manager running its
// rotation schedule, an issuer, a verifier, the account flow with its
// periodic maintenance, and the JWKS and discovery documents. Mount it with
// adapters/gin.MountService or adapters/nethttp.MountService, protect your
// own routes with their Middleware(svc.Authenticator()), and call Close on
// shutdown. It is safe for concurrent use.
type Service struct {
	mgr       *keys.Manager
	verifier  *token.Verifier
	accounts  *account.Accounts
	auth      *authn.Authenticator
	routes    []Route
	mountPath string
	// rootRoutes are the routes outside mountPath (see RootRoutes).
	rootRoutes []Route

	stop       context.CancelFunc
	bg         sync.WaitGroup
	closeOnce  sync.Once
	unregister func() // the collectors of Config.Metrics; nil without
}

// New builds the service of cfg and starts its background work: the key
// manager's schedule (keys.Manager.Run: rotations, and changes other
// instances or `jwtauth keys` make, polled every 2 s) and Accounts.Purge at
// once and then every 5 min. ctx bounds opening the key set (keys.Open,
// which creates the first keys in an empty store); the background work runs
// until Close. New fails, starting nothing, when cfg is invalid or the key
// set cannot be opened.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("jwtauth: Config.Store is required")
	}
	mountPath, err := issuerPath(cfg.Issuer)
	if err != nil {
		return nil, err
	}
	origin, _ := authn.CanonicalOrigin(cfg.Issuer)
	cookies := cfg.Cookies
	if cookies.Origin == "" {
		cookies.Origin = origin
	}
	if cookies.Path == "" {
		cookies.Path = mountPath
	}
	if cookies.AccessCookie == "" {
		for _, src := range cfg.TokenSources {
			if name, ok := src.Cookie(); ok {
				cookies.AccessCookie = name
				break
			}
		}
	}
	cm, err := cookies.resolve()
	if err != nil {
		return nil, err
	}
	csrfOrigin := origin // the pages of the application's routes: the cookie mode's, else the issuer's
	if cm != nil {
		csrfOrigin = cm.origin
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	aud := cfg.Audience
	if len(aud) == 0 {
		aud = []string{cfg.Issuer}
	}
	accessTTL := cfg.AccessTTL
	if accessTTL == 0 {
		accessTTL = token.DefaultAccessTTL
	}
	maxAge := cfg.JWKSMaxAge
	if maxAge == 0 {
		maxAge = 5 * time.Minute
	}
	policy := keys.Policy{
		Bits:        cfg.KeyBits,
		RotateEvery: cfg.RotateEvery,
		Prepublish:  cfg.Prepublish,
		// Retired keys stay published until every token they signed has
		// expired and every cached JWKS has been refreshed (SPEC §3).
		Retain: accessTTL + token.DefaultLeeway + max(maxAge, 0),
	}
	if cfg.KeyRetention != 0 {
		if cfg.KeyRetention < policy.Retain {
			return nil, fmt.Errorf("jwtauth: Config.KeyRetention %s is shorter than AccessTTL %s + leeway %s + JWKSMaxAge %s: tokens would outlive the key that signed them", cfg.KeyRetention, accessTTL, token.DefaultLeeway, maxAge)
		}
		policy.Retain = cfg.KeyRetention
	}
	if p := cmp.Or(cfg.Prepublish, keys.DefaultPolicy().Prepublish); p >= 0 && p < maxAge {
		return nil, fmt.Errorf("jwtauth: Config.Prepublish %s is shorter than JWKSMaxAge %s: a verifier's cached JWKS would lack a key when it starts signing", p, maxAge)
	}

	if c, ok := cfg.Store.(interface{ Created() bool }); ok && c.Created() {
		attrs := []any{}
		if n, ok := cfg.Store.(fmt.Stringer); ok {
			attrs = append(attrs, "store", n.String())
		}
		log.Warn("no store at this path: creating a new store and a new key set (expected on a first start; otherwise the previous store, its users and tokens, is lost)", attrs...)
	}
	if cfg.KeyEncryptionKey == nil {
		log.Warn("no key-encryption key: private signing keys are stored in clear; set " + settingname.Name(ctx, "KeyEncryptionKey"))
	}
	var keyMetrics *keySetCollector
	var onTransition func(kid, from, to string)
	if cfg.Metrics != nil {
		keyMetrics = newKeySetCollector(time.Now)
		onTransition = keyMetrics.transition
	}
	mgr, err := keys.Open(ctx, keys.Config{Store: cfg.Store, Policy: policy, KeyEncryptionKey: cfg.KeyEncryptionKey, Generate: cfg.GenerateKey, Logger: log,
		OnTransition: onTransition})
	if err != nil {
		return nil, fmt.Errorf("jwtauth: open key set: %w", err)
	}
	issuer, err := token.NewIssuer(token.IssuerConfig{Keys: mgr, Issuer: cfg.Issuer, Audience: aud, TTL: accessTTL})
	if err != nil {
		return nil, err
	}
	var (
		vm       *verifyMetrics
		am       *accountMetrics
		accounts *account.Accounts
	)
	if cfg.Metrics != nil {
		vm = newVerifyMetrics(cfg.TokenCacheSize >= 0)
		am = newAccountMetrics(func() (int, int) { return accounts.HashLoad() })
	}
	vcfg := token.VerifierConfig{Keys: mgr, Issuer: cfg.Issuer, Audience: aud, RequiredClaims: []string{"sub"},
		CacheSize: cfg.TokenCacheSize}
	if vm != nil {
		vcfg.Trace = vm.trace()
	}
	verifier, err := token.NewVerifier(vcfg)
	if err != nil {
		return nil, err
	}
	acfg := account.Config{
		Users: cfg.Users, RefreshTokens: cfg.RefreshTokens, Issuer: issuer,
		RefreshTTL: cfg.RefreshTTL, RefreshFamilyTTL: cfg.RefreshFamilyTTL,
		StoreTimeout: cfg.StoreTimeout, Logger: log,
		Claims: cfg.Claims, Audit: cfg.Audit, Throttle: cfg.Throttle,
	}
	if acfg.Users == nil {
		acfg.Users = cfg.Store
		if acfg.RefreshTokens == nil {
			acfg.RefreshTokens = cfg.Store
		}
	}
	if am != nil {
		acfg.Trace = am.trace()
	}
	accounts, err = account.New(acfg)
	if err != nil {
		return nil, err
	}
	if len(cfg.ClaimNames) > 0 && cfg.Claims == nil {
		return nil, errors.New("jwtauth: Config.ClaimNames without Config.Claims: no hook adds these claims")
	}
	var (
		dp       *DPoPIssuing
		authDPoP *authn.DPoPConfig
		dpopAlgs []string
	)
	switch cfg.DPoP {
	case DPoPOff:
	case DPoPAllowed, DPoPRequired:
		if cfg.DPoPProofs.ReplayTimeout == 0 {
			cfg.DPoPProofs.ReplayTimeout = cfg.StoreTimeout // a store-backed cache is a store call
		}
		pv, err := dpop.NewVerifier(cfg.DPoPProofs)
		if err != nil {
			return nil, fmt.Errorf("jwtauth: Config.DPoPProofs: %w", err)
		}
		// The issuing endpoints' verifier: the store's shared replay cache,
		// or one of its own, so that proofs anyone can make at /login
		// (a fresh key each) never crowd the resources' cache; the
		// Authenticator's only when DPoPProofs.Replay names one for both.
		iv := pv
		if cfg.DPoPProofs.Replay == nil {
			icfg := cfg.DPoPProofs
			icfg.Replay = issuingReplay(cfg) // nil: a new in-memory cache
			if iv, err = dpop.NewVerifier(icfg); err != nil {
				return nil, fmt.Errorf("jwtauth: Config.DPoPProofs: %w", err)
			}
		}
		dp = &DPoPIssuing{Verifier: iv, Required: cfg.DPoP == DPoPRequired, Issuer: cfg.Issuer}
		mode := authn.DPoPAllowed
		if cfg.DPoP == DPoPRequired {
			mode = authn.DPoPRequired
		}
		authDPoP = &authn.DPoPConfig{Verifier: pv, Mode: mode, PublicURL: cmp.Or(strings.TrimSuffix(cfg.DPoPPublicURL, "/"), origin)}
		dpopAlgs = pv.Algs()
	default:
		return nil, fmt.Errorf("jwtauth: Config.DPoP: unknown mode %d", int(cfg.DPoP))
	}
	discovery, err := newDiscoveryHandler(cfg.Issuer, dpopAlgs, cfg.ClaimNames...)
	if err != nil {
		return nil, err
	}
	jwks := NewJWKSHandler(mgr, maxAge)
	var unregister func()
	if cfg.Metrics != nil {
		keyMetrics.mgr = mgr
		wm := newWellKnownMetrics()
		cs := append(append(append([]prometheus.Collector{keyMetrics}, vm.cs...), am.cs...), wm.cs...)
		if unregister, err = registerCollectors(cfg.Metrics, cs...); err != nil {
			return nil, err
		}
		jwks.metrics, discovery.metrics = wm, wm
	}
	all := Routes(RoutesConfig{
		Cookies:   cookies,
		Accounts:  accounts,
		JWKS:      jwks,
		Discovery: discovery,
		// Unhealthy when the store is unreachable, and when the key set in
		// it does not decode whole here (a key-encryption key that differs
		// from the other instances'): a load balancer then drains us.
		Health: func(ctx context.Context) error {
			if err := cfg.Store.Ping(ctx); err != nil {
				return err
			}
			return mgr.Err()
		},
		TrustedProxies: cfg.TrustedProxies,
		site:           cookieSite{path: mountPath, secure: strings.HasPrefix(origin, "https://")},
		DPoP:           dp,
	})
	routes := make([]Route, 0, len(all))
	for _, rt := range all {
		if rt.Path == "/healthz" && !cfg.ServeHealthz || rt.Path == "/protected" && !cfg.ServeProtected {
			continue
		}
		routes = append(routes, rt)
	}

	var rootRoutes []Route
	if mountPath != "" {
		rootRoutes = []Route{{Method: http.MethodGet, Path: metadataPath + mountPath, Handler: discovery}}
	}

	s := &Service{
		mgr: mgr, verifier: verifier, accounts: accounts,
		auth: &authn.Authenticator{Verifier: verifier, Sources: cfg.TokenSources, CSRFOrigin: csrfOrigin, DPoP: authDPoP}, routes: routes, mountPath: mountPath,
		rootRoutes: rootRoutes, unregister: unregister,
	}
	bgCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	s.bg.Go(func() { mgr.Run(bgCtx, keyPoll) })
	s.bg.Go(func() { purgeLoop(bgCtx, accounts, log) })
	return s, nil
}

// Close stops the background work New started and waits for it to end, and
// unregisters the collectors of Config.Metrics. The handlers keep
// answering, but keys no longer rotate and expired refresh tokens are no
// longer purged. It does not close the Store. Close may be called more
// than once.
func (s *Service) Close() {
	s.closeOnce.Do(func() {
		s.stop()
		s.bg.Wait()
		if s.unregister != nil {
			s.unregister()
		}
	})
}

// Routes returns the endpoints to mount, with paths relative to MountPath:
// POST /register, /login, /refresh, /password, /logout, GET /.well-known/jwks.json and
// /.well-known/openid-configuration and /.well-known/oauth-authorization-server
// (RFC 8414), plus GET /healthz and /protected when
// Config.ServeHealthz and Config.ServeProtected ask for them. Mount them
// with the adapters' Mount under MountPath, or with MountService.
func (s *Service) Routes() []Route { return s.routes }

// RootRoutes returns the routes to mount at the root of the issuer's host,
// outside MountPath, with their paths as they are: for an issuer with a
// path, GET /.well-known/oauth-authorization-server + that path (for
// "https://host/auth", /.well-known/oauth-authorization-server/auth), where
// RFC 8414 §3.1 puts the authorization server metadata; it serves the same
// document as the routes under MountPath. Empty for an issuer at the root
// of its host, whose metadata Routes already serves there. The adapters'
// MountService mounts them when it holds the root (a ServeMux, a gin
// engine); `jwtauth serve` serves them too.
func (s *Service) RootRoutes() []Route { return s.rootRoutes }

// MountPath is the path of Config.Issuer without a trailing slash: "" for
// an issuer at the root of its host, "/auth" for "https://host/auth". The
// adapters' MountService mounts Routes under it, so that the discovery
// document is served at Issuer + "/.well-known/openid-configuration" and
// names the JWKS served beside it.
func (s *Service) MountPath() string { return s.mountPath }

// Authenticator is the core of the adapters' middleware over the token.Verifier: give
// it to adapters/gin.Middleware or adapters/nethttp.Middleware to protect
// your own routes.
func (s *Service) Authenticator() *authn.Authenticator { return s.auth }

// Verifier verifies the service's access tokens in process: issuer,
// audience, RS256 with a key of the set, a sub claim.
func (s *Service) Verifier() *token.Verifier { return s.verifier }

// Accounts is the account flow behind the endpoints, for an application
// that registers users itself, and the operator's calls for its admin
// pages: ListUsers, DisableUser, EnableUser, DeleteUser, SetPassword,
// RevokeSessions (docs/mounting.md, "Admin pages").
func (s *Service) Accounts() *account.Accounts { return s.accounts }

// Keys is the key manager behind RotateKeys, RevokeKey and ListKeys, for
// what they leave out, such as keys.Manager.RevokeWith with
// keys.RevokeOptions.PromoteNext (see the keys package).
func (s *Service) Keys() *keys.Manager { return s.mgr }

// RotateKeys rotates the signing key from the application, as `jwtauth
// keys rotate [--now]` does from outside, e.g. for an admin page. With now,
// the published next key signs at once and the active key retires: it
// stays in the JWKS for the retention (Config.KeyRetention) so that the
// tokens it signed still verify, and a new next key is published; a
// verifier whose cached JWKS predates the promoted key may meet an unknown
// kid until it refetches. Without now, the next key is promoted at once
// when it has been published for Config.Prepublish; before that the
// rotation is scheduled instead, with a nil error: the result's Promoted
// is empty and PromoteAt says when the service's schedule promotes the
// key. The change is in this service's JWKS and signs its next token when
// RotateKeys returns; other instances on the store pick it up within 2 s.
// The error is the store's when the write fails (nothing changed then).
func (s *Service) RotateKeys(ctx context.Context, now bool) (keys.RotateResult, error) {
	res, err := s.mgr.Rotate(ctx, now)
	if errors.Is(err, keys.ErrNotPrepublished) {
		return res, nil // stored: the schedule promotes the key at res.PromoteAt
	}
	if err != nil {
		return keys.RotateResult{}, fmt.Errorf("jwtauth: rotate keys: %w", err)
	}
	return res, nil
}

// RevokeKey is the emergency path for a compromised key (SPEC §3), as
// `jwtauth keys revoke KID`: the key with that kid leaves this service's
// JWKS and stops verifying when RevokeKey returns, and other instances on
// the store follow within 2 s. Revoking the active key makes a freshly
// generated key sign in the same write (the result's Fresh), so that
// verifiers refetching the JWKS on an unknown kid drop the revoked key at
// the first new token; the next key stays next (see
// keys.Manager.RevokeWith for the trade-off). Revoking a retired or next
// key only unpublishes it. A kid not in the set (see ListKeys) gives an
// error wrapping keys.ErrUnknownKey, a key already revoked one wrapping
// keys.ErrInvalidTransition; nothing changes then.
func (s *Service) RevokeKey(ctx context.Context, kid string) (keys.RevokeResult, error) {
	res, err := s.mgr.RevokeWith(ctx, kid, keys.RevokeOptions{})
	switch {
	case errors.Is(err, keys.ErrUnknownKey):
		return keys.RevokeResult{}, fmt.Errorf("jwtauth: revoke key: no key %q in the key set (see Service.ListKeys): %w", kid, keys.ErrUnknownKey)
	case err != nil:
		return keys.RevokeResult{}, fmt.Errorf("jwtauth: revoke key: %w", err)
	}
	return res, nil
}

// ListKeys returns the key set this service uses, without private
// material, as `jwtauth keys list` shows it: active first, then next,
// retired and revoked, newest first within a state. Removed keys (retired
// past their retention) are gone.
func (s *Service) ListKeys() []keys.Info {
	ks := s.mgr.Current().Keys()
	out := make([]keys.Info, len(ks))
	for i, k := range ks {
		out[i] = k.Info()
	}
	return out
}

// issuerPath checks an issuer URL and returns its path without a trailing
// slash. The path must be in canonical form (no "//", "." or ".." segment)
// and need no escaping, so that it can prefix the routes of a
// http.ServeMux or gin router as it is.
func issuerPath(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("jwtauth: Config.Issuer %q is not an absolute http(s) URL", issuer)
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", fmt.Errorf("jwtauth: Config.Issuer %q must not have user info, a query or a fragment", issuer)
	}
	p := strings.TrimSuffix(u.Path, "/")
	if p != "" && (u.RawPath != "" || path.Clean(p) != p || strings.ContainsAny(p, "{}% :*")) {
		// ':' and '*' would be wildcards on a router (gin's /:name, /*path).
		return "", fmt.Errorf("jwtauth: the path of Config.Issuer %q must be plain segments such as /auth (no escapes, no //, . or .., no : or *)", issuer)
	}
	return p, nil
}

// issuingReplay returns the shared replay cache of the issuing endpoints'
// proofs: Config.DPoPReplay, else the Store when it implements
// dpop.ReplayCache, else nil (then they get an in-memory one of their own).
// Unused when DPoPProofs.Replay is set: then both use that.
func issuingReplay(cfg Config) dpop.ReplayCache {
	if cfg.DPoPReplay != nil {
		return cfg.DPoPReplay
	}
	rc, _ := cfg.Store.(dpop.ReplayCache)
	return rc
}

// purgeLoop runs Accounts.Purge (expired refresh-token families, idle
// throttle entries) at once and then every purgeEvery until ctx ends.
func purgeLoop(ctx context.Context, accounts *account.Accounts, log *slog.Logger) {
	t := time.NewTicker(purgeEvery)
	defer t.Stop()
	for {
		n, err := accounts.Purge(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("purge of expired refresh tokens failed", "err", err)
		case n > 0:
			log.Info("purged expired refresh tokens", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
