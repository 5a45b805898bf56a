package adaptertest

import (
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/dpop"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

// dpopIssuer is the issuer of the Services of testServiceDPoP: the proofs
// of /login and /refresh name it, whatever Host a request has.
const dpopIssuer = "https://auth.example.test/auth"

// dpopService is a Service of cfg (Issuer dpopIssuer, an in-memory store,
// fixed keys, metrics on reg) mounted by mount, and a client for it whose
// requests to the service's routes are checked against openapi.yaml.
func dpopService(t *testing.T, mount MountServiceFunc, cfg jwtauth.Config, reg *prometheus.Registry) *client {
	t.Helper()
	cfg.Store, cfg.Issuer, cfg.GenerateKey = memory.New(), dpopIssuer, keystest.Generator(t)
	cfg.Logger = slog.New(slog.DiscardHandler)
	if reg != nil {
		cfg.Metrics = reg
	}
	svc, err := jwtauth.New(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(svc.Close)
	served := map[string]bool{}
	for _, rt := range svc.Routes() {
		served[rt.Path] = true
	}
	var checked traffic
	t.Cleanup(func() { t.Logf("openapi.yaml: checked %s", &checked) })
	return &client{t: t, h: validatedMount(t, mount(t, svc), mounted, svc.MountPath(), served, &checked)}
}

// assertTokenRefused checks a token endpoint's DPoP refusal (RFC 9449 §5,
// §8): 400, the body error code with a description containing reason,
// `WWW-Authenticate: DPoP error="<code>", algs="ES256 EdDSA"`, and a
// DPoP-Nonce header with use_dpop_nonce only.
func assertTokenRefused(t *testing.T, r *response, code, reason string) {
	t.Helper()
	desc := assertError(t, r, http.StatusBadRequest, code)
	assert.Contains(t, desc, reason)
	assert.Equal(t, []string{`DPoP error="` + code + `", ` + dpopAlgs}, r.Header.Values("WWW-Authenticate"))
	assert.Equal(t, code == "use_dpop_nonce", r.Header.Get("DPoP-Nonce") != "", "DPoP-Nonce: %q", r.Header.Get("DPoP-Nonce"))
}

// assertDPoPTokens checks a 200 token answer of type DPoP and returns it.
func assertDPoPTokens(t *testing.T, r *response) account.TokenResponse {
	t.Helper()
	require.Equal(t, http.StatusOK, r.Status, "body %s", r.Body)
	var tok account.TokenResponse
	require.NoError(t, json.Unmarshal(r.Body, &tok))
	require.Equal(t, "DPoP", tok.TokenType, "body %s", r.Body)
	require.NotEmpty(t, tok.RefreshToken)
	return tok
}

// gathered returns the value of the series name{labels} in reg: a
// counter's value or a histogram's sample count; 0 when absent.
func gathered(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue series
				}
			}
			return metricValue(m)
		}
	}
	return 0
}

func metricValue(m *dto.Metric) float64 {
	if h := m.GetHistogram(); h != nil {
		return float64(h.GetSampleCount())
	}
	return m.GetCounter().GetValue()
}

// testServiceDPoP runs dpopBadInputs at /login and /refresh of a mounted
// Service (RFC 9449 §5): each row is answered 400 invalid_dpop_proof with
// the DPoP challenge and nothing spent — no password hash (the
// password-hash histogram does not move), no throttle token (with a budget
// of one failure per username and address, a wrong password after all the
// rows is still answered 401, and only then 429), and the bound refresh
// token works with a good proof after each refused one. With server
// nonces, a proof without the current nonce is 400 use_dpop_nonce with
// DPoP-Nonce at /login and /refresh, 401 at the application's route, and
// the retry with the nonce passes.
func testServiceDPoP(t *testing.T, mount MountServiceFunc) {
	creds := map[string]string{"username": "alice", "password": "correct horse battery staple"}
	t.Run("BadInput", func(t *testing.T) {
		now, clock := fixedClock()
		reg := prometheus.NewRegistry()
		c := dpopService(t, mount, jwtauth.Config{
			DPoPProofs: dpop.Config{Now: clock},
			Throttle:   account.LoginThrottle{UserFailures: 1, UserInterval: time.Hour, IPFailures: 1, IPInterval: time.Hour},
		}, reg)
		hashes := func() float64 { return gathered(t, reg, "jwtauth_password_hash_duration_seconds", nil) }
		refused := func(op string) float64 {
			return gathered(t, reg, "jwtauth_account_operations_total", map[string]string{"operation": op, "result": "invalid_dpop_proof"})
		}
		require.Equal(t, http.StatusCreated, c.post("/auth/register", creds).Status)

		x := &proofTarget{key: newDPoPKey(t), other: newDPoPKey(t), method: http.MethodPost, url: dpopIssuer + "/login",
			now: now, usedJTI: "used-" + rand.Text()}
		dpopHeader := func(proofs []string) []string {
			var h []string
			for _, p := range proofs {
				h = append(h, "DPoP", p)
			}
			return h
		}
		tok := assertDPoPTokens(t, c.post("/auth/login", creds, "DPoP", x.proof(t, x.key, func(o *dpop.ProofOptions) { o.JTI = x.usedJTI })))

		var logins, refreshes float64
		for _, row := range dpopBadInputs {
			if !row.login {
				continue
			}
			logins++
			t.Run("login/"+row.name, func(t *testing.T) {
				c := c.on(t)
				before := hashes()
				assertTokenRefused(t, c.post("/auth/login", creds, dpopHeader(row.proofs(t, x))...), "invalid_dpop_proof", row.reason)
				assert.Equal(t, before, hashes(), "a password was hashed")
			})
		}
		x.url = dpopIssuer + "/refresh"
		for _, row := range dpopBadInputs {
			if !row.refresh {
				continue
			}
			refreshes++
			t.Run("refresh/"+row.name, func(t *testing.T) {
				c := c.on(t)
				body := map[string]string{"refresh_token": tok.RefreshToken}
				reason := row.reason
				if row.refreshReason != "" {
					reason = row.refreshReason
				}
				assertTokenRefused(t, c.post("/auth/refresh", body, dpopHeader(row.proofs(t, x))...), "invalid_dpop_proof", reason)
				// Nothing spent: the same refresh token works with a good proof.
				tok = assertDPoPTokens(t, c.post("/auth/refresh", body, "DPoP", x.proof(t, x.key, nil)))
			})
		}
		assert.Equal(t, logins, refused("login"), "login refusals counted")
		assert.Equal(t, refreshes, refused("refresh"), "refresh refusals counted")
		assert.Positive(t, hashes(), "the histogram counts hashes")

		// The throttle budget of one failure is whole after every refused
		// login: a wrong password spends it (401), and only then is the
		// next login throttled (429).
		x.url = dpopIssuer + "/login"
		wrong := map[string]string{"username": creds["username"], "password": "not the password"}
		assertError(t, c.post("/auth/login", wrong, "DPoP", x.proof(t, x.key, nil)), http.StatusUnauthorized, "invalid_credentials")
		assertError(t, c.post("/auth/login", creds, "DPoP", x.proof(t, x.key, nil)), http.StatusTooManyRequests, "too_many_requests")
	})

	// The service's own protected endpoint, behind its Authenticator: a
	// DPoP-bound session changes its password with a proof (the new session
	// stays bound), and without one gets the DPoP challenge.
	t.Run("ChangePassword", func(t *testing.T) {
		now, clock := fixedClock()
		c := dpopService(t, mount, jwtauth.Config{DPoPProofs: dpop.Config{Now: clock}}, nil)
		require.Equal(t, http.StatusCreated, c.post("/auth/register", creds).Status)
		x := &proofTarget{key: newDPoPKey(t), method: http.MethodPost, url: dpopIssuer + "/login", now: now}
		tok := assertDPoPTokens(t, c.post("/auth/login", creds, "DPoP", x.proof(t, x.key, nil)))
		x.url, x.token = "https://auth.example.test/auth/password", tok.AccessToken
		body := map[string]string{"current_password": creds["password"], "new_password": "a new and longer passphrase"}
		assertDPoPRefused(t, c.post("/auth/password", body, "Authorization", "DPoP "+tok.AccessToken), "invalid_dpop_proof")
		assertDPoPRefused(t, c.post("/auth/password", body, "Authorization", "Bearer "+tok.AccessToken), "invalid_token")
		assertDPoPTokens(t, c.post("/auth/password", body, "Authorization", "DPoP "+tok.AccessToken, "DPoP", x.proof(t, x.key, nil)))
	})

	t.Run("Nonce", func(t *testing.T) {
		now, clock := fixedClock()
		nonces, err := dpop.NewRotatingNonces([]byte("0123456789abcdef0123456789abcdef"), time.Minute, clock)
		require.NoError(t, err)
		c := dpopService(t, mount, jwtauth.Config{DPoPProofs: dpop.Config{Now: clock, Nonce: nonces}}, nil)
		require.Equal(t, http.StatusCreated, c.post("/auth/register", creds).Status)
		x := &proofTarget{key: newDPoPKey(t), method: http.MethodPost, now: now}
		withNonce := func(n string) func(*dpop.ProofOptions) { return func(o *dpop.ProofOptions) { o.Nonce = n } }

		x.url = dpopIssuer + "/login"
		r := c.post("/auth/login", creds, "DPoP", x.proof(t, x.key, nil))
		assertTokenRefused(t, r, "use_dpop_nonce", "nonce")
		n := r.Header.Get("DPoP-Nonce")
		tok := assertDPoPTokens(t, c.post("/auth/login", creds, "DPoP", x.proof(t, x.key, withNonce(n))))

		x.url = dpopIssuer + "/refresh"
		body := map[string]string{"refresh_token": tok.RefreshToken}
		r = c.post("/auth/refresh", body, "DPoP", x.proof(t, x.key, withNonce("made-up")))
		assertTokenRefused(t, r, "use_dpop_nonce", "nonce")
		tok = assertDPoPTokens(t, c.post("/auth/refresh", body, "DPoP", x.proof(t, x.key, withNonce(r.Header.Get("DPoP-Nonce")))))

		// The application's route behind svc.Authenticator(): htu is the
		// issuer's origin + the path.
		x.method, x.url, x.token = http.MethodGet, "https://auth.example.test/api/me", tok.AccessToken
		r = c.do(http.MethodGet, "/api/me", "", "Authorization", "DPoP "+tok.AccessToken, "DPoP", x.proof(t, x.key, nil))
		assertDPoPRefused(t, r, "use_dpop_nonce")
		r = c.do(http.MethodGet, "/api/me", "", "Authorization", "DPoP "+tok.AccessToken, "DPoP", x.proof(t, x.key, withNonce(r.Header.Get("DPoP-Nonce"))))
		require.Equal(t, http.StatusOK, r.Status, "body %s", r.Body)
		assert.JSONEq(t, `{"sub":"alice"}`, string(r.Body))
	})
}
