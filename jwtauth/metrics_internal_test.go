package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/authn"
	"github.com/jwtauth/jwtauth/jwtauth/remote"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// keyStore is a keys.Store in memory (adapters/memory imports this package).
type keyStore struct {
	mu      sync.Mutex
	recs    map[string]keys.Record
	version int64
}

func (s *keyStore) LoadKeys(context.Context) ([]keys.Record, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]keys.Record, 0, len(s.recs))
	for _, r := range s.recs {
		out = append(out, r)
	}
	return out, s.version, nil
}

func (s *keyStore) KeysVersion(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version, nil
}

func (s *keyStore) ApplyKeys(_ context.Context, expected int64, ch keys.Change) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if expected != s.version {
		return 0, keys.ErrConflict
	}
	if s.recs == nil {
		s.recs = map[string]keys.Record{}
	}
	for _, r := range ch.Put {
		s.recs[r.KID] = r
	}
	for _, kid := range ch.Delete {
		delete(s.recs, kid)
	}
	s.version = keys.NextVersion(s.version)
	return s.version, nil
}

// TestKeySetMetricsFollowTheSchedule drives the key manager with an
// injected clock through a scheduled rotation and a removal and reads the
// key-set series at each step.
func TestKeySetMetricsFollowTheSchedule(t *testing.T) {
	ctx := context.Background()
	clk := keystest.NewClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	c := newKeySetCollector(clk.Now)
	policy := keys.Policy{RotateEvery: 24 * time.Hour, Prepublish: time.Hour, Retain: 20 * time.Minute}
	mgr, err := keys.Open(ctx, keys.Config{Store: &keyStore{}, Policy: policy, Now: clk.Now, Generate: keystest.Generator(t),
		Logger: slog.New(slog.DiscardHandler), OnTransition: c.transition})
	require.NoError(t, err)
	c.mgr = mgr
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))

	// value reads the gauge name{label=val} (no labels when label is "").
	value := func(name, label, val string) float64 {
		t.Helper()
		fams, err := reg.Gather()
		require.NoError(t, err)
		for _, f := range fams {
			if f.GetName() != name {
				continue
			}
			for _, m := range f.GetMetric() {
				if label == "" || len(m.GetLabel()) == 1 && m.GetLabel()[0].GetName() == label && m.GetLabel()[0].GetValue() == val {
					return m.GetGauge().GetValue()
				}
			}
		}
		t.Fatalf("no series %s{%s=%q}", name, label, val)
		return 0
	}
	gauge := func(name string) float64 { t.Helper(); return value(name, "", "") }
	state := func(s string) float64 { t.Helper(); return value("jwtauth_keys", "state", s) }
	moved := func(from, to string) float64 {
		var m dto.Metric
		require.NoError(t, c.transitions.WithLabelValues(from, to).Write(&m))
		return m.GetCounter().GetValue()
	}

	clk.Advance(time.Hour)
	assert.Equal(t, 3600.0, gauge("jwtauth_active_key_age_seconds"))
	assert.Equal(t, 23*3600.0, gauge("jwtauth_next_rotation_seconds"))
	assert.Equal(t, 3600.0, gauge("jwtauth_next_key_published_seconds"))
	assert.Equal(t, 1.0, state("active"))
	assert.Equal(t, 1.0, state("next"))
	assert.Equal(t, 0.0, state("retired"))

	clk.Advance(23 * time.Hour)
	assert.Equal(t, 0.0, gauge("jwtauth_next_rotation_seconds"), "due now")
	require.NoError(t, mgr.Maintain(ctx))
	assert.Equal(t, 0.0, gauge("jwtauth_active_key_age_seconds"), "the new active key signs from now")
	assert.Equal(t, 24*3600.0, gauge("jwtauth_next_rotation_seconds"))
	assert.Equal(t, 0.0, gauge("jwtauth_next_key_published_seconds"), "a new next key")
	assert.Equal(t, 1.0, state("retired"))
	assert.Equal(t, 1.0, moved("next", "active"))
	assert.Equal(t, 1.0, moved("active", "retired"))
	assert.Equal(t, 2.0, moved("created", "next"), "at the first start and at the rotation")
	assert.Equal(t, 1.0, moved("created", "active"))

	clk.Advance(21 * time.Minute)
	require.NoError(t, mgr.Maintain(ctx))
	assert.Equal(t, 0.0, state("retired"))
	assert.Equal(t, 1.0, moved("retired", "removed"))
	require.NoError(t, mgr.Revoke(ctx, mgr.Current().Next().KID))
	assert.Equal(t, 1.0, state("revoked"))
	assert.Equal(t, 1.0, moved("next", "revoked"))

	c.transition("kid", "created", "bogus")
	assert.Equal(t, 1.0, moved("created", "other"), "a state outside the fixed set is counted as other")
}

// TestVerifyResultMapsEverySentinel: every error Verify returns maps to one
// fixed result, the keys out of reach before the token's fault.
func TestVerifyResultMapsEverySentinel(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{token.ErrTokenMissing, "missing"},
		{fmt.Errorf("%w: 9000 bytes", token.ErrTokenTooLarge), "malformed"},
		{fmt.Errorf("%w: header", token.ErrTokenMalformed), "malformed"},
		{token.ErrUnsupportedCritical, "malformed"},
		{fmt.Errorf("%w: %q", token.ErrUnsupportedAlgorithm, "none"), "algorithm"},
		{keyError("k", keys.ErrUnknownKey), "unknown_key"},
		{keyError("k", keys.ErrKeyRevoked), "unknown_key"},
		{keyError("k", fmt.Errorf("%w: cold", remote.ErrKeySetUnavailable)), "unavailable"},
		{keyError("k", fmt.Errorf("%w: down", token.ErrStoreUnavailable)), "unavailable"},
		{keyError("k", context.DeadlineExceeded), "unavailable"},
		{token.ErrInvalidSignature, "bad_signature"},
		{fmt.Errorf("%w: at x", token.ErrTokenExpired), "expired"},
		{token.ErrTokenNotYetValid, "not_yet_valid"},
		{token.ErrInvalidIssuer, "issuer"},
		{token.ErrInvalidAudience, "audience"},
		{token.ErrMissingClaim, "missing_claim"},
		{errors.New("something else"), "error"},
	} {
		assert.Equal(t, c.want, verifyResultNames[verifyResult(c.err)], "%v", c.err)
	}
}

// TestRefusalMapsHandlerAnswers: a request the handlers refuse before the
// account flow counts under the result its answer stands for (the flow's
// own outcomes are mapped by package account).
func TestRefusalMapsHandlerAnswers(t *testing.T) {
	for _, c := range []struct {
		err  *authn.Error
		want string
	}{
		{badRequest("x"), "invalid_request"},
		{authn.CSRFRefusal(fmt.Errorf("%w: no X-CSRF-Protection header", authn.ErrCrossSite)), "csrf_refused"},
		{&authn.Error{Status: 503, Code: "temporarily_unavailable"}, "unavailable"},
		{&authn.Error{Status: 500, Code: "server_error"}, "error"},
	} {
		assert.Equal(t, c.want, refusal(c.err), "%v", c.err)
	}
}

// keyError wraps err as Verifier.Verify does for a failed key lookup of kid.
func keyError(kid string, err error) error {
	if errors.Is(err, keys.ErrKeyRevoked) || errors.Is(err, keys.ErrUnknownKey) {
		return fmt.Errorf("%w: kid %q", token.ErrUnknownKey, kid)
	}
	return fmt.Errorf("%w: kid %q: %w", token.ErrUnknownKey, kid, err)
}

// BenchmarkVerifyCountsAdd measures what metrics add to a verification the
// cache answers: its two counter increments (result ok and cache hit), to
// set beside BenchmarkMiddlewareNetHTTPMetrics.
func BenchmarkVerifyCountsAdd(b *testing.B) {
	tr := newVerifyMetrics(true).trace()
	b.ReportAllocs()
	for b.Loop() {
		tr.CacheLookup(true)
		tr.Verified(nil)
	}
}
