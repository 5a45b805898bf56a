package jwtauth_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/remote"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys/keystest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scrape serves g's /metrics through promhttp, as a Prometheus server
// scrapes it, and parses the answer with the Prometheus text parser. It
// also returns the raw text.
func scrape(t *testing.T, g prometheus.Gatherer) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	w := httptest.NewRecorder()
	promhttp.HandlerFor(g, promhttp.HandlerOpts{}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, w.Code)
	text := w.Body.String()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	require.NoError(t, err)
	return fams, text
}

// series returns the value of the series name{labels} (name=value pairs):
// a counter's or gauge's value, a histogram's sample count. It fails the
// test when there is no such series.
func series(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f, ok := fams[name]
	require.True(t, ok, "no metric family %s", name)
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		if len(have) != len(labels)/2 {
			continue
		}
		for i := 0; i < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

// metricsService is a Service with metrics on reg (a fresh registry when nil).
func metricsService(t *testing.T, cfg jwtauth.Config) (*jwtauth.Service, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Metrics = reg
	svc, _ := newTestService(t, cfg)
	return svc, reg
}

// do sends one request to svc's route for path and returns the recorder.
func do(t *testing.T, svc *jwtauth.Service, method, path, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, svc.MountPath()+path, rd)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	route(t, svc, path).ServeHTTP(w, r)
	return w
}

func credentials(user, pass string) string {
	b, _ := json.Marshal(map[string]string{"username": user, "password": pass})
	return string(b)
}

func refreshBody(tok string) string {
	b, _ := json.Marshal(map[string]string{"refresh_token": tok})
	return string(b)
}

// TestServiceMetricsAfterTraffic: each request of the account flow, each
// verification and each well-known request moves exactly its series.
func TestServiceMetricsAfterTraffic(t *testing.T) {
	svc, reg := metricsService(t, jwtauth.Config{Throttle: account.LoginThrottle{UserFailures: 2}})
	const pass = "correct horse battery staple"

	require.Equal(t, http.StatusCreated, do(t, svc, "POST", "/register", credentials("alice", pass)).Code)
	require.Equal(t, http.StatusBadRequest, do(t, svc, "POST", "/register", `{}`).Code)
	require.Equal(t, http.StatusConflict, do(t, svc, "POST", "/register", credentials("alice", pass)).Code)

	w := do(t, svc, "POST", "/login", credentials("alice", pass))
	require.Equal(t, http.StatusOK, w.Code)
	var tok account.TokenResponse
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &tok))
	for range 2 {
		require.Equal(t, http.StatusUnauthorized, do(t, svc, "POST", "/login", credentials("alice", "wrong password!")).Code)
	}
	require.Equal(t, http.StatusTooManyRequests, do(t, svc, "POST", "/login", credentials("alice", "wrong password!")).Code)

	w = do(t, svc, "POST", "/refresh", refreshBody(tok.RefreshToken))
	require.Equal(t, http.StatusOK, w.Code)
	var next account.TokenResponse
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &next))
	require.Equal(t, http.StatusUnauthorized, do(t, svc, "POST", "/refresh", refreshBody(tok.RefreshToken)).Code, "reuse")
	require.Equal(t, http.StatusUnauthorized, do(t, svc, "POST", "/refresh", refreshBody("garbage")).Code)
	require.Equal(t, http.StatusNoContent, do(t, svc, "POST", "/logout", refreshBody(next.RefreshToken)).Code)

	ctx := t.Context()
	for range 2 {
		_, err := svc.Verifier().Verify(ctx, tok.AccessToken)
		require.NoError(t, err)
	}
	_, err := svc.Verifier().Verify(ctx, "not.a.token")
	require.ErrorIs(t, err, token.ErrTokenMalformed)
	i := strings.LastIndexByte(tok.AccessToken, '.') + 5 // inside the signature, not its last character
	c := byte('A')
	if tok.AccessToken[i] == 'A' {
		c = 'B'
	}
	_, err = svc.Verifier().Verify(ctx, tok.AccessToken[:i]+string(c)+tok.AccessToken[i+1:])
	require.ErrorIs(t, err, token.ErrInvalidSignature)

	w = do(t, svc, "GET", "/.well-known/jwks.json", "")
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, http.StatusNotModified, do(t, svc, "GET", "/.well-known/jwks.json", "", "If-None-Match", w.Header().Get("ETag")).Code)
	require.Equal(t, http.StatusOK, do(t, svc, "GET", "/.well-known/openid-configuration", "").Code)

	fams, _ := scrape(t, reg)
	account := func(op, result string) float64 {
		return series(t, fams, "jwtauth_account_operations_total", "operation", op, "result", result)
	}
	assert.Equal(t, 1.0, account("register", "ok"))
	assert.Equal(t, 1.0, account("register", "invalid_request"))
	assert.Equal(t, 1.0, account("register", "user_exists"))
	assert.Equal(t, 1.0, account("login", "ok"))
	assert.Equal(t, 2.0, account("login", "invalid_credentials"))
	assert.Equal(t, 1.0, account("login", "throttled"))
	assert.Equal(t, 1.0, account("refresh", "ok"))
	assert.Equal(t, 1.0, account("refresh", "reuse_detected"))
	assert.Equal(t, 1.0, account("refresh", "invalid_grant"))
	assert.Equal(t, 1.0, account("logout", "ok"))
	assert.Equal(t, 0.0, account("login", "unavailable"), "every result is exported from the start")
	assert.Equal(t, 4.0, series(t, fams, "jwtauth_password_hash_duration_seconds"), "one registration and three logins hashed; the taken name and the throttled login did not")
	assert.Equal(t, 0.0, series(t, fams, "jwtauth_password_hash_queue_depth"))
	assert.Equal(t, 0.0, series(t, fams, "jwtauth_password_hashes_in_progress"))

	verify := func(result string) float64 {
		return series(t, fams, "jwtauth_token_verifications_total", "result", result)
	}
	assert.Equal(t, 2.0, verify("ok"))
	assert.Equal(t, 1.0, verify("malformed"))
	assert.Equal(t, 1.0, verify("bad_signature"))
	assert.Equal(t, 0.0, verify("expired"))
	assert.Equal(t, 1.0, series(t, fams, "jwtauth_token_cache_lookups_total", "result", "hit"))
	assert.Equal(t, 3.0, series(t, fams, "jwtauth_token_cache_lookups_total", "result", "miss"))

	assert.Equal(t, 2.0, series(t, fams, "jwtauth_jwks_requests_total"))
	assert.Equal(t, 1.0, series(t, fams, "jwtauth_jwks_not_modified_total"))
	assert.Equal(t, 1.0, series(t, fams, "jwtauth_discovery_requests_total"))

	assert.Equal(t, 1.0, series(t, fams, "jwtauth_keys", "state", "active"))
	assert.Equal(t, 1.0, series(t, fams, "jwtauth_keys", "state", "next"))
	assert.Equal(t, 0.0, series(t, fams, "jwtauth_keys", "state", "retired"))
	assert.Equal(t, 0.0, series(t, fams, "jwtauth_keys", "state", "revoked"))
	assert.Equal(t, 1.0, series(t, fams, "jwtauth_key_transitions_total", "from", "created", "to", "active"))
	assert.Equal(t, 1.0, series(t, fams, "jwtauth_key_transitions_total", "from", "created", "to", "next"))

	// A forced rotation through the manager: three transitions, a retired key.
	_, err = svc.Keys().Rotate(ctx, true)
	require.NoError(t, err)
	fams, _ = scrape(t, reg)
	assert.Equal(t, 1.0, series(t, fams, "jwtauth_key_transitions_total", "from", "next", "to", "active"))
	assert.Equal(t, 1.0, series(t, fams, "jwtauth_key_transitions_total", "from", "active", "to", "retired"))
	assert.Equal(t, 2.0, series(t, fams, "jwtauth_key_transitions_total", "from", "created", "to", "next"))
	assert.Equal(t, 1.0, series(t, fams, "jwtauth_keys", "state", "retired"))
}

// allowedLabels is every label of the jwtauth_ series and the fixed set of
// values it may take.
var allowedLabels = map[string]map[string][]string{
	"jwtauth_token_verifications_total": {"result": {"ok", "missing", "malformed", "algorithm", "unknown_key", "bad_signature",
		"expired", "not_yet_valid", "issuer", "audience", "missing_claim", "unavailable", "error"}},
	"jwtauth_token_cache_lookups_total": {"result": {"hit", "miss"}},
	"jwtauth_account_operations_total": {
		"operation": {"register", "login", "refresh", "logout", "change_password",
			"delete_account", "disable_user", "enable_user", "delete_user", "set_password"},
		"result": {"ok", "invalid_request", "invalid_credentials", "user_exists", "throttled", "invalid_grant",
			"reuse_detected", "invalid_dpop_proof", "unavailable", "csrf_refused", "error"},
	},
	"jwtauth_keys":                      {"state": {"next", "active", "retired", "revoked"}},
	"jwtauth_key_transitions_total":     {"from": {"created", "next", "active", "retired", "revoked", "other"}, "to": {"next", "active", "retired", "revoked", "removed", "other"}},
	"jwtauth_remote_jwks_fetches_total": {"result": {"200", "304", "error"}},
}

// assertBoundedLabels fails for any label of a jwtauth_ series outside
// allowedLabels, and for any of hostile found anywhere in the scrape.
func assertBoundedLabels(t *testing.T, fams map[string]*dto.MetricFamily, text string, hostile ...string) {
	t.Helper()
	for name, f := range fams {
		if !strings.HasPrefix(name, "jwtauth_") {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				assert.Contains(t, allowedLabels[name][lp.GetName()], lp.GetValue(), "%s{%s=%q}", name, lp.GetName(), lp.GetValue())
			}
		}
	}
	for _, h := range hostile {
		assert.NotContains(t, text, h)
	}
}

// TestMetricsLabelsAreBounded: hostile traffic (odd usernames, forged kids,
// spoofed client addresses, junk refresh tokens) adds no label value outside
// the fixed sets, and none of its input reaches the scrape.
func TestMetricsLabelsAreBounded(t *testing.T) {
	svc, reg := metricsService(t, jwtauth.Config{ServeProtected: true, Throttle: account.LoginThrottle{UserFailures: 1}})
	ctx := t.Context()
	var hostile []string
	for i := range 4 {
		user := fmt.Sprintf("evil%duser", i)
		kid := fmt.Sprintf("forgedkid%d", i)
		addr := fmt.Sprintf("203.0.113.%d", 50+i)
		junk := strings.Repeat(string(rune('a'+i)), 43)
		hostile = append(hostile, user, kid, addr, junk)

		do(t, svc, "POST", "/register", credentials(user, "x"), "X-Forwarded-For", addr) // password too short
		for range 2 {
			do(t, svc, "POST", "/login", credentials(user, "wrong password"), "X-Forwarded-For", addr)
		}
		do(t, svc, "POST", "/login", `{"username":"`+user+`","password":"p","device_token":"`+junk+`"}`)
		do(t, svc, "POST", "/refresh", refreshBody(junk))
		do(t, svc, "POST", "/logout", refreshBody(junk))
		do(t, svc, "POST", "/refresh", `{"refresh_token":`)
		forged := b64(`{"alg":"RS256","kid":"`+kid+`"}`) + "." + b64(`{"sub":"`+user+`"}`) + ".AAAA"
		_, err := svc.Verifier().Verify(ctx, forged)
		require.ErrorIs(t, err, token.ErrUnknownKey)
		_, _ = svc.Verifier().Verify(ctx, b64(`{"alg":"none"}`)+"."+b64(`{"sub":"`+user+`"}`)+".")
		_, _ = svc.Verifier().Verify(ctx, "Bearer "+junk)
		r := httptest.NewRequest(http.MethodGet, "/protected", nil)
		r.Header.Set("Authorization", "Bearer "+forged)
		r.RemoteAddr = addr + ":4711"
		_, _, err = svc.Authenticator().Authenticate(r)
		require.ErrorIs(t, err, token.ErrUnknownKey)
	}
	r := httptest.NewRequest(http.MethodGet, "/protected", nil)
	_, _, err := svc.Authenticator().Authenticate(r)
	require.ErrorIs(t, err, token.ErrTokenMissing)
	r.Header.Set("Authorization", "Bearer a.b.c")
	r.Header.Set("X-Access-Token", "d.e.f")
	_, _, err = svc.Authenticator().Authenticate(r)
	require.ErrorIs(t, err, token.ErrTokenMalformed)

	fams, text := scrape(t, reg)
	assertBoundedLabels(t, fams, text, hostile...)
	assert.Equal(t, 1.0, series(t, fams, "jwtauth_token_verifications_total", "result", "missing"), "a request without a token")
	assert.Equal(t, 4.0, series(t, fams, "jwtauth_account_operations_total", "operation", "register", "result", "invalid_request"))
	assert.Equal(t, 8.0, series(t, fams, "jwtauth_token_verifications_total", "result", "unknown_key"), "4 forged kids, verified directly and through /protected")
	assert.Equal(t, 4.0, series(t, fams, "jwtauth_token_verifications_total", "result", "algorithm"))
}

// TestMetricsRegistration: a second Service on one registry is refused with
// a clear error (no panic), Close unregisters, and without Config.Metrics
// nothing reaches the default registry.
func TestMetricsRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	first, err := jwtauth.New(t.Context(), jwtauth.Config{Store: memory.New(), Issuer: "https://a.example.test", GenerateKey: keystest.Generator(t), Logger: quiet, Metrics: reg})
	require.NoError(t, err)
	_, err = jwtauth.New(t.Context(), jwtauth.Config{Store: memory.New(), Issuer: "https://b.example.test", GenerateKey: keystest.Generator(t), Logger: quiet, Metrics: reg})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "jwtauth: metrics: cannot register jwtauth_key_transitions_total, jwtauth_keys,")
	assert.Contains(t, err.Error(), "WrapRegistererWith")
	first.Close()

	again, err := jwtauth.New(t.Context(), jwtauth.Config{Store: memory.New(), Issuer: "https://c.example.test", GenerateKey: keystest.Generator(t), Logger: quiet, Metrics: reg})
	require.NoError(t, err, "Close unregistered the first service's collectors")
	again.Close()

	// With a label telling them apart, two fit on one registry.
	shared := prometheus.NewRegistry()
	for _, name := range []string{"a", "b"} {
		svc, err := jwtauth.New(t.Context(), jwtauth.Config{Store: memory.New(), Issuer: "https://" + name + ".example.test", GenerateKey: keystest.Generator(t), Logger: quiet,
			Metrics: prometheus.WrapRegistererWith(prometheus.Labels{"service": name}, shared)})
		require.NoError(t, err)
		defer svc.Close()
	}
	fams, _ := scrape(t, shared)
	for _, svc := range []string{"a", "b"} {
		assert.Equal(t, 1.0, series(t, fams, "jwtauth_keys", "service", svc, "state", "next"))
	}

	plain, err := jwtauth.New(t.Context(), jwtauth.Config{Store: memory.New(), Issuer: "https://d.example.test", GenerateKey: keystest.Generator(t), Logger: quiet})
	require.NoError(t, err)
	defer plain.Close()
	def, err := prometheus.DefaultGatherer.Gather()
	require.NoError(t, err)
	for _, f := range def {
		assert.False(t, strings.HasPrefix(f.GetName(), "jwtauth_"), "%s on the default registry", f.GetName())
	}
}

// TestRemoteMetrics: the remote verifier's fetches by result, its
// unknown-kid refetches, the age of its set and whether it is stale.
func TestRemoteMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixture(t)
	var clk atomic.Int64 // the key set's clock, in ns
	clk.Store(f.Now.UnixNano())
	now := func() time.Time { return time.Unix(0, clk.Load()) }
	jwks := jwtauth.NewJWKSHandler(f.Mgr, 5*time.Minute)
	var down atomic.Bool
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		jwks.ServeHTTP(w, r)
	}))
	t.Cleanup(origin.Close)
	rc := remote.Config{JWKSURL: origin.URL, Now: now, Logger: quiet}
	vc := token.VerifierConfig{Issuer: testIssuer, Audience: []string{testAudience}, Now: now}
	require.NoError(t, jwtauth.RemoteMetrics(reg, &rc, &vc))
	v, ks, err := remote.NewVerifier(t.Context(), rc, vc)
	require.NoError(t, err)
	ctx := t.Context()
	fetches := func(fams map[string]*dto.MetricFamily, result string) float64 {
		return series(t, fams, "jwtauth_remote_jwks_fetches_total", "result", result)
	}

	fams, _ := scrape(t, reg)
	assert.Equal(t, 1.0, fetches(fams, "200"), "the first fetch, in remote.NewVerifier")
	assert.Equal(t, 0.0, fetches(fams, "304"))
	assert.Equal(t, 0.0, fetches(fams, "error"))
	assert.Equal(t, 0.0, series(t, fams, "jwtauth_remote_jwks_age_seconds"))
	assert.Equal(t, 0.0, series(t, fams, "jwtauth_remote_jwks_stale"))
	assert.Equal(t, 2.0, series(t, fams, "jwtauth_remote_jwks_keys"), "the active and the next key")

	require.NoError(t, ks.Refresh(ctx))
	down.Store(true)
	clk.Add(int64(10 * time.Minute))
	require.ErrorIs(t, ks.Refresh(ctx), remote.ErrJWKSFetch)
	fams, _ = scrape(t, reg)
	assert.Equal(t, 1.0, fetches(fams, "304"))
	assert.Equal(t, 1.0, fetches(fams, "error"))
	assert.Equal(t, 600.0, series(t, fams, "jwtauth_remote_jwks_age_seconds"), "the last good set was confirmed 10 min ago")
	assert.Equal(t, 1.0, series(t, fams, "jwtauth_remote_jwks_stale"))
	assert.Equal(t, 2.0, series(t, fams, "jwtauth_remote_jwks_keys"), "the last good set's keys")

	// A token with a kid the set lacks: one refetch (the origin is back), a 304.
	down.Store(false)
	clk.Add(int64(10 * time.Second)) // past UnknownKIDInterval
	const kid = "attackerchosenkid"
	_, err = v.Verify(ctx, b64(`{"alg":"RS256","kid":"`+kid+`"}`)+"."+b64(`{"sub":"mallory"}`)+".AAAA")
	require.ErrorIs(t, err, token.ErrUnknownKey)
	tok, err := f.Issuer.Issue(ctx, "alice")
	require.NoError(t, err)
	_, err = v.Verify(ctx, tok.Raw)
	require.NoError(t, err)
	fams, text := scrape(t, reg)
	assert.Equal(t, 1.0, series(t, fams, "jwtauth_remote_jwks_unknown_kid_refetches_total"))
	assert.Equal(t, 2.0, fetches(fams, "304"))
	assert.Equal(t, 0.0, series(t, fams, "jwtauth_remote_jwks_age_seconds"))
	assert.Equal(t, 0.0, series(t, fams, "jwtauth_remote_jwks_stale"))
	assert.Equal(t, 1.0, series(t, fams, "jwtauth_token_verifications_total", "result", "unknown_key"))
	assert.Equal(t, 1.0, series(t, fams, "jwtauth_token_verifications_total", "result", "ok"))
	assertBoundedLabels(t, fams, text, kid, "mallory")

	// Close unregisters: a new remote verifier may use the registry, a
	// second one on it may not.
	require.NoError(t, ks.Close())
	rc2 := remote.Config{JWKSURL: origin.URL, Logger: quiet}
	vc2 := token.VerifierConfig{Issuer: testIssuer, Audience: []string{testAudience}}
	require.NoError(t, jwtauth.RemoteMetrics(reg, &rc2, &vc2))
	_, ks, err = remote.NewVerifier(ctx, rc2, vc2)
	require.NoError(t, err)
	rc3, vc3 := remote.Config{JWKSURL: origin.URL}, token.VerifierConfig{Issuer: testIssuer, Audience: []string{testAudience}}
	err = jwtauth.RemoteMetrics(reg, &rc3, &vc3)
	require.ErrorContains(t, err, "cannot register jwtauth_remote_jwks_fetches_total", "a second one on the same registry")
	assert.Nil(t, rc3.Trace, "nothing set up when registration fails")
	require.NoError(t, ks.Close())

	// A constructor that fails unregisters too.
	rc4 := remote.Config{JWKSURL: "http://example.com/jwks"} // plain http: refused
	require.NoError(t, jwtauth.RemoteMetrics(reg, &rc4, nil))
	_, err = remote.NewKeySet(ctx, rc4)
	require.ErrorContains(t, err, "plain http")
	rc5 := remote.Config{JWKSURL: origin.URL}
	require.NoError(t, jwtauth.RemoteMetrics(reg, &rc5, nil), "the failed key set left the registry free")
	ks5, err := remote.NewKeySet(ctx, rc5)
	require.NoError(t, err)
	require.NoError(t, ks5.Close())
}

// TestCookieModeMetrics: in cookie mode a refresh refused by the CSRF check
// is counted as csrf_refused (a client's request, not a server error), and
// the cookie-borne refresh that follows as ok.
func TestCookieModeMetrics(t *testing.T) {
	svc, reg := metricsService(t, jwtauth.Config{Cookies: jwtauth.CookieMode{Enabled: true}})
	const pass = "correct horse battery staple"
	require.Equal(t, http.StatusCreated, do(t, svc, "POST", "/register", credentials("alice", pass)).Code)
	w := do(t, svc, "POST", "/login", credentials("alice", pass))
	require.Equal(t, http.StatusOK, w.Code)
	var cookie string
	for _, c := range w.Result().Cookies() {
		if c.Name == jwtauth.RefreshCookieName {
			cookie = c.Name + "=" + c.Value
		}
	}
	require.NotEmpty(t, cookie)

	w = do(t, svc, "POST", "/refresh", "", "Cookie", cookie)
	require.Equal(t, http.StatusForbidden, w.Code, w.Body.String())
	w = do(t, svc, "POST", "/refresh", "", "Cookie", cookie, authn.CSRFHeader, "1")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())

	fams, _ := scrape(t, reg)
	assert.Equal(t, 1.0, series(t, fams, "jwtauth_account_operations_total", "operation", "refresh", "result", "csrf_refused"))
	assert.Equal(t, 1.0, series(t, fams, "jwtauth_account_operations_total", "operation", "refresh", "result", "ok"))
	assert.Equal(t, 0.0, series(t, fams, "jwtauth_account_operations_total", "operation", "refresh", "result", "error"))
}

// TestTokenCacheSeriesOnlyWithACache: jwtauth_token_cache_lookups_total is
// registered only when the verifier has a cache; with the cache off
// (TokenCacheSize < 0, `serve --token-cache-size 0`) a scrape has no such
// series at all, rather than two that stay 0 and read as "no lookups".
// The same holds for the remote verifier (token.VerifierConfig.CacheSize < 0).
func TestTokenCacheSeriesOnlyWithACache(t *testing.T) {
	const name = "jwtauth_token_cache_lookups_total"
	for _, tc := range []struct {
		size int
		want bool
	}{{-1, false}, {0, true}, {5, true}} {
		svc, reg := metricsService(t, jwtauth.Config{TokenCacheSize: tc.size})
		require.NoError(t, svc.Accounts().Register(t.Context(), "alice", "correct horse battery"))
		tok, err := svc.Accounts().Login(t.Context(), "alice", "correct horse battery")
		require.NoError(t, err)
		for range 2 {
			_, err := svc.Verifier().Verify(t.Context(), tok.AccessToken)
			require.NoError(t, err)
		}
		fams, _ := scrape(t, reg)
		assert.Equal(t, 2.0, series(t, fams, "jwtauth_token_verifications_total", "result", "ok"), "size %d", tc.size)
		if !tc.want {
			_, found := fams[name]
			assert.False(t, found, "TokenCacheSize %d: %s in the scrape", tc.size, name)
			continue
		}
		assert.Equal(t, 1.0, series(t, fams, name, "result", "hit"), "size %d", tc.size)
		assert.Equal(t, 1.0, series(t, fams, name, "result", "miss"), "size %d", tc.size)
	}

	for _, size := range []int{-1, 0} {
		reg := prometheus.NewRegistry()
		f := newFixture(t)
		origin := httptest.NewServer(jwtauth.NewJWKSHandler(f.Mgr, 5*time.Minute))
		t.Cleanup(origin.Close)
		now := func() time.Time { return f.Now }
		rc := remote.Config{JWKSURL: origin.URL, Now: now, Logger: quiet}
		vc := token.VerifierConfig{Issuer: testIssuer, Audience: []string{testAudience}, Now: now, CacheSize: size}
		require.NoError(t, jwtauth.RemoteMetrics(reg, &rc, &vc))
		v, ks, err := remote.NewVerifier(t.Context(), rc, vc)
		require.NoError(t, err)
		t.Cleanup(func() { _ = ks.Close() })
		tok, err := f.Issuer.Issue(t.Context(), "alice")
		require.NoError(t, err)
		for range 2 {
			_, err := v.Verify(t.Context(), tok.Raw)
			require.NoError(t, err)
		}
		fams, _ := scrape(t, reg)
		assert.Equal(t, 2.0, series(t, fams, "jwtauth_token_verifications_total", "result", "ok"), "remote, CacheSize %d", size)
		if size < 0 {
			_, found := fams[name]
			assert.False(t, found, "remote verifier, CacheSize %d: %s in the scrape", size, name)
			continue
		}
		assert.Equal(t, 1.0, series(t, fams, name, "result", "hit"), "remote, CacheSize %d", size)
		assert.Equal(t, 1.0, series(t, fams, name, "result", "miss"), "remote, CacheSize %d", size)
	}
}
