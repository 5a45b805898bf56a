package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMetricsEndToEnd runs the real binary as an operator would, "jwtauth
// serve --metrics-addr", and checks that one login, one bad token and one
// "jwtauth keys rotate --now" from another process move the matching series
// of its /metrics, and that the public address has no /metrics.
func TestMetricsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	store := "sqlite:" + filepath.Join(t.TempDir(), "jwtauth.db")
	maddr := freeAddr(t)
	srv := startServer(t, bin, freeAddr(t), "--store", store, "--metrics-addr", maddr)
	metricsURL := "http://" + maddr + "/metrics"
	value := func(name string, labels ...string) float64 {
		t.Helper()
		v, ok := metricValue(scrapeMetrics(t, metricsURL), name, labels...)
		require.True(t, ok, "no series %s%v", name, labels)
		return v
	}
	waitFor(t, pickUp, "serve logs where its metrics are", func() bool {
		return strings.Contains(srv.stderr.String(), "metrics="+metricsURL)
	})
	assert.Equal(t, 0.0, value("jwtauth_account_operations_total", "operation", "login", "result", "ok"))
	assert.Equal(t, 1.0, value("jwtauth_keys", "state", "active"))
	assert.Equal(t, 0.0, value("jwtauth_keys", "state", "retired"))

	registerUser(t, srv.base)
	tok := loginToken(t, srv.base)
	assert.Equal(t, 1.0, value("jwtauth_account_operations_total", "operation", "register", "result", "ok"))
	assert.Equal(t, 1.0, value("jwtauth_account_operations_total", "operation", "login", "result", "ok"))

	i := len(tok) - 10 // inside the signature, not its last character
	c := "A"
	if tok[i] == 'A' {
		c = "B"
	}
	status, code := protected(t, srv.base, tok[:i]+c+tok[i+1:])
	require.Equal(t, http.StatusUnauthorized, status)
	require.Equal(t, "invalid_token", code)
	status, _ = protected(t, srv.base, tok)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, 1.0, value("jwtauth_token_verifications_total", "result", "bad_signature"))
	assert.Equal(t, 1.0, value("jwtauth_token_verifications_total", "result", "ok"))

	// A rotation by another process on the same store: the server picks it
	// up (within its 2 s poll) and counts the transitions it saw.
	rotated := time.Now()
	out, errOut, exit := runBin(t, bin, "keys", "rotate", "--now", "--store", store)
	require.Equal(t, 0, exit, "keys rotate --now: %s%s", out, errOut)
	waitFor(t, pickUp, "the server counts the rotation", func() bool {
		v, _ := metricValue(scrapeMetrics(t, metricsURL), "jwtauth_key_transitions_total", "from", "next", "to", "active")
		return v == 1
	})
	assert.Equal(t, 1.0, value("jwtauth_key_transitions_total", "from", "active", "to", "retired"))
	assert.Equal(t, 1.0, value("jwtauth_keys", "state", "retired"))
	assert.Equal(t, 1.0, value("jwtauth_keys", "state", "next"))
	age := value("jwtauth_active_key_age_seconds")
	assert.GreaterOrEqual(t, age, 0.0)
	assert.LessOrEqual(t, age, time.Since(rotated).Seconds()+1, "the active key is the one the rotation promoted")

	status, _ = get(t, srv.base+"/metrics")
	assert.Equal(t, http.StatusNotFound, status, "no /metrics on the public address")
	require.Equal(t, 0, srv.stop(t), srv.stderr.String())
}
