package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scrapeMetrics GETs url (a /metrics endpoint) and parses the answer with
// the Prometheus text parser.
func scrapeMetrics(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return fams
}

// metricValue returns the counter or gauge name{labels} (name=value pairs)
// and whether fams has it.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
next:
	for _, m := range fams[name].GetMetric() {
		if len(m.GetLabel()) != len(labels)/2 {
			continue
		}
		for _, lp := range m.GetLabel() {
			found := false
			for i := 0; i < len(labels); i += 2 {
				found = found || labels[i] == lp.GetName() && labels[i+1] == lp.GetValue()
			}
			if !found {
				continue next
			}
		}
		if m.Counter != nil {
			return m.GetCounter().GetValue(), true
		}
		return m.GetGauge().GetValue(), true
	}
	return 0, false
}

// get returns the status and body of a GET of url.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestServeMetricsOnTheirOwnListener: with --metrics-addr, /metrics answers
// there (the service's series, the Go runtime's and the process's), the
// public address answers /metrics with 404, and both listeners stop with
// the server.
func TestServeMetricsOnTheirOwnListener(t *testing.T) {
	addr, maddr := freeAddr(t), freeAddr(t)
	cfg, err := parseServeConfig([]string{"--addr", addr, "--store", "memory:", "--metrics-addr", maddr}, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	waitFor(t, time.Minute, "serve answers /healthz", func() bool {
		resp, err := (&http.Client{Timeout: time.Second}).Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	fams := scrapeMetrics(t, "http://"+maddr+"/metrics")
	v, ok := metricValue(fams, "jwtauth_keys", "state", "active")
	assert.True(t, ok)
	assert.Equal(t, 1.0, v)
	for _, name := range []string{"go_goroutines", "process_start_time_seconds", "jwtauth_account_operations_total", "jwtauth_token_verifications_total"} {
		assert.Contains(t, fams, name)
	}

	status, body := get(t, "http://"+addr+"/metrics")
	assert.Equal(t, http.StatusNotFound, status, "never on the public address")
	assert.NotContains(t, body, "jwtauth_keys")
	status, _ = get(t, "http://"+maddr+"/protected")
	assert.Equal(t, http.StatusNotFound, status, "the metrics listener serves /metrics only")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	for _, a := range []string{addr, maddr} {
		_, err := net.DialTimeout("tcp", a, time.Second)
		assert.Error(t, err, "%s still accepts connections", a)
	}
}

// TestServeMetricsAddrTaken: a metrics address that cannot be bound stops
// serve before it starts, with exit status 2 and a message naming the
// setting; serve never runs without the metrics it was asked for.
func TestServeMetricsAddrTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	addr := freeAddr(t)
	_, stderr, code := runCLI(t, nil, "", "serve", "--addr", addr, "--store", "memory:", "--metrics-addr", ln.Addr().String())
	assert.Equal(t, 2, code, stderr)
	assert.Contains(t, stderr, "--metrics-addr: cannot listen on "+ln.Addr().String())
	assert.Contains(t, stderr, "JWTAUTH_METRICS_ADDR")
	assert.False(t, strings.Contains(stderr, "jwtauth listening"))
	// The public address was released again.
	l2, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	l2.Close()
}
