package remote

import "time"

// Trace is a set of hooks a KeySet calls as it works, in the manner of
// net/http/httptrace.ClientTrace: metrics, logs and tests fill in the ones
// they need (a nil func is skipped). The hooks run synchronously on the key
// set's goroutines, so they must be quick and must not block.
//
// The face's Prometheus metrics (jwtauth.RemoteMetrics) are built on it:
// jwtauth_remote_jwks_fetches_total, _unknown_kid_refetches_total,
// _age_seconds, _stale and _keys.
type Trace struct {
	// Fetched is called when a fetch of the JWK Set (with the discovery
	// that precedes the first one) ends, whoever started it.
	Fetched func(FetchInfo)
	// UnknownKIDRefetch is called when a lookup of a kid the set does not
	// hold starts a fetch (at most one per Config.UnknownKIDInterval).
	UnknownKIDRefetch func()
	// Closed is called once when the key set built with the Config ends:
	// when Close is first called, or when NewKeySet or NewVerifier fails.
	// Whatever was set up for the key set may be released then.
	Closed func()
}

// FetchInfo says how a fetch ended and what the key set holds after it.
type FetchInfo struct {
	// Status is the HTTP status that answered the JWKS request: 200 (a
	// new set) or 304 (the set held confirmed); 0 when Err is set.
	Status int
	// Err is nil, or why the fetch failed (wrapping ErrJWKSFetch); the set
	// held, if any, stays in force.
	Err error
	// Keys is the number of usable keys in the set held after the fetch
	// (0 without a set).
	Keys int
	// Validated is when the origin last confirmed the set held (a 200 or a
	// 304), by Config.Now; zero before the first good fetch.
	Validated time.Time
}

func (t *Trace) fetched(s *remoteSet, status int, err error) {
	if t == nil || t.Fetched == nil {
		return
	}
	info := FetchInfo{Status: status, Err: err}
	if err != nil {
		info.Status = 0
	}
	if s != nil {
		info.Keys, info.Validated = len(s.keys), s.validated
	}
	t.Fetched(info)
}

func (t *Trace) closed() {
	if t != nil && t.Closed != nil {
		t.Closed()
	}
}
