package account

import (
	"context"
	"encoding/base64"
	"errors"
	"time"

	"github.com/jwtauth/jwtauth/keys"
)

// Error is a refusal of the account flow, told apart by Code, an OAuth 2.0
// style error code (RFC 6749 §5.2):
//
//   - "invalid_request": a username or password outside the policy
//     (credential.NormalizeUsername, credential.CheckPassword), a
//     malformed refresh token at Logout
//   - "invalid_credentials": an unknown user or a wrong password
//     (ErrInvalidCredentials)
//   - "user_exists": the username is taken (it wraps ErrUserExists)
//   - "invalid_grant": a refresh token that is malformed, unknown, expired,
//     used or revoked (ErrInvalidGrant)
//   - "unsupported_grant_type": refresh tokens are off (ErrRefreshDisabled)
//   - "too_many_requests": the throttle refused the attempt; RetryAfter says
//     when to try again (LoginThrottle)
//   - "temporarily_unavailable": no password-hash slot freed up in time;
//     RetryAfter is set
//   - "invalid_dpop_proof": a refresh of a family bound to a DPoP key
//     without a proof by that key (ErrInvalidDPoPProof, RFC 9449 §5), or
//     of an unbound family where a bound one is required
//     (ErrUnboundFamily, ContextRequiringBoundFamily)
//
// The HTTP face (package jwtauth) answers each with its status: 400, 401,
// 409, 401, 501, 429, 503 and 400. Description is human-readable and never holds
// a secret. Other errors of the flow are failures: a store's (wrapping
// ErrStoreUnavailable when it is out of reach), the signing key's, a hook's.
type Error struct {
	Code        string
	Description string
	// RetryAfter, when positive, is how long the client should wait.
	RetryAfter time.Duration

	err error // what errors.Is also matches, e.g. ErrUserExists
}

// Error returns "code: description".
func (e *Error) Error() string { return e.Code + ": " + e.Description }

// Unwrap returns the store error the refusal stands for, if any
// (ErrUserExists for "user_exists").
func (e *Error) Unwrap() error { return e.err }

// Refusals of the account flow that callers may test with errors.Is.
var (
	// ErrInvalidCredentials is the answer of a login with an unknown
	// username or a wrong password: the same for both.
	ErrInvalidCredentials = &Error{Code: "invalid_credentials", Description: "invalid username or password"}
	// ErrInvalidGrant is the answer of Refresh for a refresh token that is
	// malformed, unknown, expired, used or revoked.
	ErrInvalidGrant = &Error{Code: "invalid_grant", Description: "the refresh token is invalid, expired or revoked"}
	// ErrRefreshDisabled is the answer of Refresh, Logout and RevokeSessions
	// without a RefreshTokenStore.
	ErrRefreshDisabled = &Error{Code: "unsupported_grant_type", Description: "refresh tokens are not enabled on this server"}
	// ErrInvalidDPoPProof is the answer of Refresh for a refresh token of a
	// family bound to a DPoP key (RefreshToken.JKT) when the request's
	// proof (ContextWithDPoP) is missing or by another key (RFC 9449 §5).
	// Nothing is spent: the token still works with a proof by its key.
	ErrInvalidDPoPProof = &Error{Code: "invalid_dpop_proof", Description: "this refresh token is bound to a DPoP key: send a DPoP proof by that key"}
	// ErrUnboundFamily is the answer of Refresh, under
	// ContextRequiringBoundFamily, for a refresh token of a family bound to
	// no DPoP key. It has ErrInvalidDPoPProof's code (errors.Is matches
	// both), and nothing is spent: the token still works where a bound
	// family is not required.
	ErrUnboundFamily = &Error{Code: "invalid_dpop_proof", Description: "the session is not bound to this key; log in again", err: ErrInvalidDPoPProof}
)

var errUserExists = &Error{Code: "user_exists", Description: "that username is taken", err: ErrUserExists}

func badRequest(desc string) *Error {
	return &Error{Code: "invalid_request", Description: desc}
}

// strictB64 decodes canonical base64url without padding (RFC 7515 §2).
var strictB64 = base64.RawURLEncoding.Strict()

// Trace is told what the account flow did, for metrics, logs or tests, as
// net/http/httptrace.ClientTrace is: every field is optional, and each is
// called synchronously, so it must be quick and safe for concurrent use.
// The flow passes no username, token or error text, only fixed label values.
type Trace struct {
	// Operation is called once per call of Register (RegisterFrom), Login
	// (LoginFrom, LoginWithDevice), Refresh, Logout and ChangePassword, and
	// by Refused, with op "register", "login", "refresh", "logout" or
	// "change_password" and its result: "ok",
	// "invalid_request", "invalid_credentials", "user_exists", "throttled",
	// "invalid_grant", "reuse_detected" (a used or revoked refresh token:
	// Refresh answers ErrInvalidGrant), "invalid_dpop_proof" (a bound
	// refresh token without a proof by its key), "unavailable" (a store, the signing
	// key or a hash slot out of reach) or "error".
	Operation func(op, result string)
	// HashDone is called after each password hash or verification of a
	// registration or login (argon2id, or a legacy bcrypt check) with the
	// time it took.
	HashDone func(d time.Duration)
}

// The operations Trace.Operation reports.
const (
	opRegister = "register"
	opLogin    = "login"
	opRefresh  = "refresh"
	opLogout   = "logout"
)

// result is the Trace.Operation result of err, an outcome of the flow.
func result(err error) string {
	if err == nil {
		return "ok"
	}
	if errors.Is(err, errReuseDetected) {
		return "reuse_detected"
	}
	var e *Error
	if errors.As(err, &e) {
		switch e.Code {
		case "invalid_request", "invalid_credentials", "user_exists", "invalid_grant", "invalid_dpop_proof":
			return e.Code
		case "too_many_requests":
			return "throttled"
		case "temporarily_unavailable":
			return "unavailable"
		}
		return "error"
	}
	if errors.Is(err, keys.ErrKeyEncryptionKey) || errors.Is(err, keys.ErrCorruptKey) || errors.Is(err, ErrStoreUnavailable) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return "unavailable"
	}
	return "error"
}

// record reports op's outcome err to the trace.
func (a *Accounts) record(op string, err error) {
	if a.trace != nil && a.trace.Operation != nil {
		a.trace.Operation(op, result(err))
	}
}

// hashDone reports a password hash that started at start to the trace.
func (a *Accounts) hashDone(start time.Time) {
	if a.trace != nil && a.trace.HashDone != nil {
		a.trace.HashDone(time.Since(start))
	}
}

// Refused reports to the trace (Trace.Operation) an operation that the
// caller refused before calling the flow, with result, one of the results
// Trace.Operation lists or a caller's own (the HTTP face reports a request
// body it cannot read as "invalid_request", a failed CSRF check as
// "csrf_refused"). op is "register", "login", "refresh" or "logout".
func (a *Accounts) Refused(op, result string) {
	if a.trace != nil && a.trace.Operation != nil {
		a.trace.Operation(op, result)
	}
}

// HashLoad returns the password hashes computing now (at most
// LoginThrottle.MaxConcurrentHashes) and the logins and registrations
// waiting for a hash slot, for a gauge read at scrape time.
func (a *Accounts) HashLoad() (running, waiting int) {
	t := a.throttle
	return len(t.login.sem), int(t.login.waiting.Load() + t.register.waiting.Load())
}
