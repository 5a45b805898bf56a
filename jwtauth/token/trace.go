package token

// VerifierTrace is a set of hooks a Verifier calls as it works, in the
// manner of net/http/httptrace.ClientTrace: metrics, logs and tests fill in
// the ones they need (a nil func is skipped). The hooks run synchronously on
// the goroutine that called Verify, so they must be quick and must not
// block; they must not keep or modify what they are given.
//
// The face's Prometheus metrics (jwtauth.Config.Metrics) are built on it:
// jwtauth_token_verifications_total counts Verified calls by the class of
// their error, jwtauth_token_cache_lookups_total counts CacheLookup calls.
type VerifierTrace struct {
	// Verified is called once per Verify, with nil or the error Verify
	// returns (test it with errors.Is against the Err… values), and once
	// per Refused call.
	Verified func(err error)
	// CacheLookup is called once per lookup of the verified-token cache
	// (VerifierConfig.CacheSize; never when the cache is off): hit is true
	// when the cache answered, without an RSA verification.
	CacheLookup func(hit bool)
}

// Refused reports to the verifier's trace (VerifierConfig.Trace) a request
// refused before Verify could be called, such as one carrying no token
// (err wrapping ErrTokenMissing) or two different ones (ErrTokenMalformed),
// so that the trace sees every request the verifier guards. Middleware
// calls it; it does nothing without a trace.
func (v *Verifier) Refused(err error) {
	if t := v.trace; t != nil && t.Verified != nil {
		t.Verified(err)
	}
}
