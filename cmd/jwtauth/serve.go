package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/adapters/nethttp"
	"github.com/jwtauth/jwtauth/adapters/postgres"
	"github.com/jwtauth/jwtauth/adapters/sqlite"
	"github.com/jwtauth/jwtauth/demo"
	"github.com/jwtauth/jwtauth/internal/settingname"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Timeouts and limits of the HTTP server. Request bodies are limited to
// jwtauth.MaxBodySize by the handlers themselves.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10 // a token is at most 8 KiB

	// requestTimeout ends the context of every request this long after its
	// handler starts, so that a request whose store calls each stayed
	// within --store-timeout but add up is still answered (503) before
	// writeTimeout, past which the server could only drop the connection
	// without an answer.
	requestTimeout = writeTimeout - 5*time.Second

	// shutdownTimeout bounds how long in-flight requests may take to finish
	// after SIGINT/SIGTERM.
	shutdownTimeout = 10 * time.Second
)

// runServe is "jwtauth serve": the reference auth server of SPEC §2. It
// returns nil after a graceful shutdown when ctx ends.
func runServe(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "serve [flags]")
	vals := addSettings(fs, true)
	pos, err := parseArgs(fs, args, stdout, stderr)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("serve takes no arguments, got %q", pos)
	}
	cfg, err := resolveConfig(fs, vals, env)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	return serve(ctx, cfg, log)
}

// serve runs the server for cfg until ctx ends, then shuts it down: it
// stops accepting connections, lets in-flight requests finish (up to
// shutdownTimeout), stops the background loops and closes the store.
func serve(ctx context.Context, cfg config, log *slog.Logger) (err error) {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w (is another server using this address? pick another with --addr or JWTAUTH_ADDR)", cfg.Addr, err)
	}
	defer func() {
		if err != nil {
			ln.Close()
		}
	}()
	var metrics *metricsServer
	if cfg.MetricsAddr != "" {
		if metrics, err = listenMetrics(cfg.MetricsAddr, log); err != nil {
			return err
		}
		defer func() {
			if err != nil {
				metrics.ln.Close()
			}
		}()
	}

	store, err := openStore(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := store.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close store: %w", cerr)
		}
	}()
	if err := warnNoKeySet(ctx, cfg.Store, store, log); err != nil {
		return err
	}
	// The rotation policy stored with the key set: adopted, or refused
	// when explicit settings differ, unless --replace-policy (SPEC §3).
	if cfg, err = applyStoredPolicy(ctx, cfg, store, log); err != nil {
		return err
	}
	if w := cfg.prepublishWarning(); w != "" {
		log.Warn("prepublish too short for remote verifiers: "+w, "rule", "--prepublish >= --jwks-max-age + 1m")
	}
	if w := cfg.cookieModeWarning(); w != "" {
		log.Warn(w)
	}
	if w := cfg.loopbackCookieWarning(); w != "" {
		log.Warn(w)
	}
	scfg := serviceConfig(cfg, store, log)
	if metrics != nil {
		scfg.Metrics = metrics.reg
	}
	// New's messages name serve's settings, not the Config fields.
	svc, err := jwtauth.New(settingname.WithNames(ctx, settingNames), scfg)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Store, err)
	}
	defer svc.Close() // before the store closes

	srv := newHTTPServer(withTimeout(serveHandler(svc, cfg.Demo), requestTimeout), log)

	kid := ""
	if k, err := svc.Keys().SigningKey(); err == nil {
		kid = k.KID
	}
	attrs := []any{"addr", ln.Addr().String(), "issuer", cfg.Issuer, "kid", kid, "store", cfg.Store.String()}
	if len(cfg.TrustedProxies) > 0 {
		attrs = append(attrs, "trusted_proxies", formatPrefixes(cfg.TrustedProxies))
	}
	if cfg.CookieMode {
		attrs = append(attrs, "cookie_mode", true)
	}
	if cfg.Demo {
		attrs = append(attrs, "demo", cfg.Issuer+"/demo/")
	}
	if metrics != nil {
		attrs = append(attrs, "metrics", "http://"+metrics.ln.Addr().String()+"/metrics")
	}
	log.Info("jwtauth listening", attrs...)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	metricsServed := make(chan error, 1)
	if metrics != nil {
		go func() { metricsServed <- metrics.srv.Serve(metrics.ln) }()
	}
	var failed error
	select {
	case err := <-served:
		failed = fmt.Errorf("serve: %w", err)
	case err := <-metricsServed:
		failed = fmt.Errorf("serve metrics: %w", err)
	case <-ctx.Done():
		log.Info("jwtauth shutting down", "grace", shutdownTimeout.String())
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if metrics != nil {
		// Metrics stay scrapeable while the requests finish, then stop.
		defer func() {
			if err := metrics.srv.Shutdown(sctx); err != nil {
				metrics.srv.Close()
			}
		}()
	}
	if failed != nil {
		srv.Close()
		return failed
	}
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		log.Warn("in-flight requests did not finish in time", "err", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("jwtauth stopped")
	return nil
}

// metricsServer is the separate listener of --metrics-addr: GET /metrics
// in the Prometheus text format from a registry of its own (the service's
// jwtauth_* series, the Go runtime's and the process's), 404 for any other
// path. It never shares the public --addr listener.
type metricsServer struct {
	reg *prometheus.Registry
	ln  net.Listener
	srv *http.Server
}

// listenMetrics binds addr for the metrics server. A bind failure is a
// usage error (exit 2): serve does not run without the metrics it was asked
// to expose.
func listenMetrics(addr string, log *slog.Logger) (*metricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, usagef("--metrics-addr: cannot listen on %s: %v (is another process using this address? pick another with --metrics-addr or JWTAUTH_METRICS_ADDR)", addr, err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	return &metricsServer{reg: reg, ln: ln, srv: newHTTPServer(mux, log)}, nil
}

// newHTTPServer is an http.Server for h with serve's limits: header, read,
// write and idle timeouts and the header size bound; the server's own
// errors (bad TLS, panics) go to log as warnings.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// serviceConfig maps the settings of SPEC §2 onto jwtauth.Config: serve is
// the service jwtauth.New builds, with the tutorial's /protected and
// /healthz at the root.
func serviceConfig(cfg config, store account.Store, log *slog.Logger) jwtauth.Config {
	cacheSize := cfg.TokenCacheSize
	if cacheSize == 0 {
		cacheSize = -1 // --token-cache-size 0: off
	}
	throttle := cfg.Throttle // the --throttle-* budgets; zero fields: the defaults
	throttle.Store = sharedThrottle(store)
	return jwtauth.Config{
		TokenCacheSize:   cacheSize,
		Store:            store,
		Issuer:           cfg.Issuer,
		Audience:         []string{cfg.Audience},
		AccessTTL:        cfg.AccessTTL,
		RefreshTTL:       cfg.RefreshTTL,
		RefreshFamilyTTL: cfg.RefreshFamilyTTL,
		StoreTimeout:     cfg.StoreTimeout,
		TrustedProxies:   cfg.TrustedProxies,
		KeyEncryptionKey: cfg.KeyEncryptionKey,
		KeyBits:          cfg.KeyBits,
		RotateEvery:      cfg.RotateEvery,
		Prepublish:       cfg.Prepublish,
		JWKSMaxAge:       cfg.JWKSMaxAge,
		KeyRetention:     cfg.Policy().Retain,
		ServeHealthz:     true,
		ServeProtected:   true,
		Logger:           log,
		Throttle:         throttle,
		Cookies:          jwtauth.CookieMode{Enabled: cfg.CookieMode},
		DPoP:             cfg.DPoP,
		// The routes answer at the root (serveHandler): a proxy strips
		// the issuer's path, so a proof's htu is the issuer + the path.
		DPoPPublicURL: cfg.Issuer,
	}
}

// serveHandler serves svc's routes at the root on net/http. The issuer's
// path is not a prefix here: a reverse proxy that publishes serve under
// https://host/auth strips /auth before forwarding. Beside them it serves
// svc.RootRoutes(): for that issuer the RFC 8414 §3.1 metadata at
// /.well-known/oauth-authorization-server/auth, which the proxy forwards
// as it is (it is outside /auth).
// With --demo it also serves the browser demo page at /demo/.
func serveHandler(svc *jwtauth.Service, withDemo bool) http.Handler {
	api := nethttp.Handler(append(slices.Clip(svc.Routes()), svc.RootRoutes()...), svc.Authenticator())
	if !withDemo {
		return api
	}
	// Relative to the page, so that it also works behind a reverse proxy
	// that publishes serve under the issuer's path and strips it.
	page := demo.Handler(demo.Config{Path: "/demo/", AuthPath: "..", Protected: "../protected"})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/demo" || strings.HasPrefix(r.URL.Path, "/demo/") {
			page.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// settingNames are serve's names of the jwtauth.Config fields that
// jwtauth.New's messages ask to set (internal/settingname).
var settingNames = map[string]string{
	"KeyEncryptionKey": "--key-encryption-key or JWTAUTH_KEY_ENCRYPTION_KEY",
}

// warnNoKeySet logs one warning when serve is about to create a new key
// set in a persistent store that exists but holds no keys (an empty
// database, a lost schema): an operator then reads it in the log instead of
// finding every token refused. A store Open just created (sqlite's
// Created) is not warned of here: jwtauth.New warns of it, for embedded
// applications too.
func warnNoKeySet(ctx context.Context, cfg storeConfig, store account.Store, log *slog.Logger) error {
	if cfg.Kind == storeMemory {
		return nil // throwaway by design
	}
	if c, ok := store.(interface{ Created() bool }); ok && c.Created() {
		return nil
	}
	recs, _, err := store.LoadKeys(ctx)
	if err != nil {
		return fmt.Errorf("load key set from %s: %w", cfg, err)
	}
	if len(recs) == 0 {
		log.Warn("the store holds no key set: creating a new key set (expected on a first start; otherwise tokens signed with the lost keys are refused)", "store", cfg.String())
	}
	return nil
}

// withTimeout runs h with a request context that ends after d.
func withTimeout(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// openStore opens the store cfg names.
func openStore(ctx context.Context, cfg storeConfig) (account.Store, error) {
	switch cfg.Kind {
	case storeMemory:
		return memory.New(), nil
	case storeSQLite:
		s, err := sqlite.Open(ctx, cfg.Path)
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", cfg, err)
		}
		return s, nil
	case storePostgres:
		// Several instances may share the database: migrations, rotations
		// and registrations are coordinated by PostgreSQL (see adapters/postgres).
		s, err := postgres.Open(ctx, cfg.Path)
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", cfg, err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("open store: unknown kind %q", cfg.Kind)
}

// sharedThrottle returns the store as the login throttle's store when it is
// one every instance on it shares (SQLite, PostgreSQL), so the budgets hold
// across instances; nil, the bounded in-process buckets, for memory.
func sharedThrottle(store account.Store) account.ThrottleStore {
	if _, mem := store.(*memory.Store); mem {
		return nil
	}
	ts, _ := store.(account.ThrottleStore)
	return ts
}
