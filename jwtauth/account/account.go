package account

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/account/credential"
	"github.com/jwtauth/jwtauth/jwtauth/internal/errfmt"
	"github.com/jwtauth/jwtauth/jwtauth/token"
)

// DefaultRefreshTTL is the lifetime of a refresh token (30 days).
const DefaultRefreshTTL = 720 * time.Hour

// DefaultRefreshFamilyTTL is the absolute lifetime of a refresh-token family
// (90 days): a session ends then, however often it was refreshed.
const DefaultRefreshFamilyTTL = 2160 * time.Hour

// normalizeUsername is credential.NormalizeUsername with its refusal as an
// *Error invalid_request.
func normalizeUsername(s string) (string, error) {
	n, err := credential.NormalizeUsername(s)
	if err != nil {
		return "", badRequest(err.Error())
	}
	return n, nil
}

// checkPolicy is credential.CheckPassword with its refusal as an *Error
// invalid_request.
func checkPolicy(password string) error {
	if err := credential.CheckPassword(password); err != nil {
		return badRequest(err.Error())
	}
	return nil
}

// Config configures Accounts. Users and Issuer are required; every
// other field has a useful zero value.
type Config struct {
	Users  UserStore
	Issuer *token.Issuer
	// RefreshTokens enables /refresh and /logout; when nil they answer 501.
	RefreshTokens RefreshTokenStore
	// RefreshTTL is the lifetime of a refresh token; default DefaultRefreshTTL.
	RefreshTTL time.Duration
	// RefreshFamilyTTL is the absolute lifetime of a refresh-token family,
	// counted from the login that started it: rotation carries the end
	// forward, so no token of the family is valid after login +
	// RefreshFamilyTTL, however often it was refreshed. RefreshTTL is the
	// inactivity expiry of RFC 9700 §4.14.2; this bounds what a stolen
	// refresh token that keeps being rotated is worth. Default
	// DefaultRefreshFamilyTTL; a family started before a change keeps its end.
	RefreshFamilyTTL time.Duration
	// RefreshReuseGrace is the reuse grace interval (default 0: none). Within
	// it after a refresh, presenting the same refresh token again succeeds
	// and returns the same successor refresh token, so a client that lost
	// the answer (a single-page app with several tabs, a dropped connection)
	// can retry without the retry counting as reuse and without opening a
	// second branch of the family. Keep it to seconds. It needs a store that
	// implements RefreshTokenGraceStore; New fails otherwise.
	//
	// The trade-off: to hand out the same successor again while storing only
	// hashes, the successor is derived from the presented token as
	// HMAC-SHA256(RefreshSecret, token) instead of drawn at random. Whoever
	// holds the secret and a raw token can compute its successors (the raw
	// token alone already grants a refresh; the secret and the database of
	// hashes together grant nothing). When a thief and the client both hold
	// a token, the second of them to present it within the grace gets the
	// same successor instead of tripping reuse detection: detection moves to
	// the next rotation, it is not lost.
	RefreshReuseGrace time.Duration
	// RefreshSecret is the HMAC-SHA256 key that derives successor refresh
	// tokens when RefreshReuseGrace is positive: at least 32 random bytes,
	// the same on every instance sharing a store. When nil, a random secret
	// is drawn per process, so a retry reaching another instance within the
	// grace is treated as reuse. Unused when RefreshReuseGrace is 0.
	RefreshSecret []byte
	// Throttle configures failed-login throttling and the bound on
	// concurrent password hashes; the zero value gives the defaults.
	Throttle LoginThrottle
	// Argon2 are the parameters new hashes use; each zero field takes its
	// value from credential.DefaultArgon2Params. New fails for parameters
	// credential.HashPassword refuses.
	Argon2 credential.Argon2Params
	// StoreTimeout bounds each call the account flow makes into Users and
	// RefreshTokens (default 5 s). A call still running then is abandoned:
	// its context ends, so the stores of this module give up at once and a
	// write rolls back instead of committing later, and the request fails
	// with an error wrapping ErrStoreUnavailable, which jwtauth.WriteError answers
	// with 503 temporarily_unavailable and Retry-After. A store of your own
	// must likewise return promptly once its context ends. Purge is not
	// bounded: it is background work that no client waits for. Negative is
	// refused.
	StoreTimeout time.Duration
	// Now is the clock of refresh-token times and throttling; default time.Now.
	Now func() time.Time
	// Logger receives the structured logs of the flow (never a password, a
	// hash or a raw refresh token); default slog.Default().
	Logger *slog.Logger

	// Claims, when set, returns the extra claims of each access token the
	// flow issues for username (normalized), at login and at every refresh,
	// so a change of role takes effect at the next refresh. ctx is the
	// request's. Use the names of RFC 9068 §2.2.3 for authorization data:
	// "scope" (a string of space-separated scope-tokens, RFC 8693 §4.2) and
	// "roles", "groups", "entitlements" (arrays of strings); token.Claims.Scopes,
	// Roles, Groups and Entitlements read them back, token.Claims.Decode any
	// other. See token.Issuer.IssueWith for what is refused (registered claims,
	// ill-typed or unencodable values: token.ErrInvalidClaims; a token over
	// token.MaxTokenSize: token.ErrTokenTooLarge).
	//
	// When it fails, or returns claims that are refused, the login or
	// refresh fails and spends nothing: no token is issued and the refresh
	// token presented stays valid (it is read with
	// RefreshTokenStore.RefreshTokenByHash, and rotated only once the new
	// access token is signed). The client gets 500 server_error, or 503
	// temporarily_unavailable when the error wraps ErrStoreUnavailable
	// (return that for an outage of what the hook consults). A hook that
	// panics fails the same way (500); one that has not returned within
	// StoreTimeout gets the request its 503 then, and is left to return on
	// its own with ctx canceled.
	Claims func(ctx context.Context, username string) (map[string]any, error)
	// Audit, when set, is called once for each event of the flow, after
	// it happened, while the request waits (keep it quick, or hand the
	// event off): a registration, a login and its failure, a refresh, a
	// refresh token's reuse and a logout. The event never holds a password,
	// a password hash or a token. What it reports is done, so a hook that
	// panics or has not returned within StoreTimeout is logged and the
	// request answered as if it had returned.
	Audit func(ctx context.Context, e AuditEvent)
	// Trace, when set, is told the outcome of each operation and the time
	// of each password hash (see Trace); the face's Prometheus metrics are
	// built on it.
	Trace *Trace
}

// AuditEvent is one event of the account flow, for Config.Audit.
// It holds no password, password hash or token, only names and ids.
type AuditEvent struct {
	// Kind is one of AuditRegister, AuditLogin, AuditLoginFailed,
	// AuditRefresh, AuditRefreshReuse and AuditLogout, or of
	// AuditPasswordChange and AuditPasswordChangeFailed.
	Kind string
	// Username is the normalized username (RFC 8265 §3.3). For a failed
	// login it is set only when the account exists, as in the logs: what
	// was typed as a username may be a password typed in the wrong field.
	Username string
	// Client is the client's address (jwtauth.ClientIP with the server's trusted
	// proxies); the zero Addr when unknown, e.g. for Accounts.Login.
	Client netip.Addr
	// FamilyID is the refresh-token family (one per login) of a login,
	// refresh, reuse or logout; empty without refresh tokens.
	FamilyID string
	// Reason is why a login failed: "invalid_credentials" (unknown user or
	// wrong password), "throttled" (too many recent failures, 429) or
	// "unavailable" (the store, a password-hash slot, the signing key or
	// the Claims hook failed). Empty for other kinds.
	Reason string
}

// The kinds of AuditEvent.
const (
	AuditRegister     = "register"      // an account was created
	AuditLogin        = "login"         // a login succeeded: a new refresh-token family
	AuditLoginFailed  = "login_failed"  // a login failed; see Reason
	AuditRefresh      = "refresh"       // a refresh token was exchanged
	AuditRefreshReuse = "refresh_reuse" // a used or revoked refresh token was presented: its family is revoked (RFC 9700 §4.14.2)
	AuditLogout       = "logout"        // a refresh-token family was revoked by /logout
)

// The kinds of AuditEvent of the operator's calls and of account deletion
// (admin.go).
const (
	AuditUserDisabled = "user_disabled" // Accounts.DisableUser: logins refused, sessions revoked
	AuditUserEnabled  = "user_enabled"  // Accounts.EnableUser
	AuditUserDeleted  = "user_deleted"  // Accounts.DeleteUser or DeleteAccount: the user and its sessions are gone
	AuditPasswordSet  = "password_set"  // Accounts.SetPassword: an operator set the password; sessions revoked
)

// defaultStoreTimeout is Config.StoreTimeout's default.
const defaultStoreTimeout = 5 * time.Second

// MinRefreshSecretLength is the shortest Config.RefreshSecret
// accepted (bytes), the output size of HMAC-SHA256 (RFC 2104 §3).
const MinRefreshSecretLength = 32

// Accounts runs the account flow (register, login, refresh, logout, change password, delete own
// account) and the operator's calls for an application's admin pages (ListUsers, DisableUser,
// EnableUser, DeleteUser, SetPassword, RevokeSessions) over the store ports. It is safe for
// concurrent use.
type Accounts struct {
	users      UserStore
	refresh    RefreshTokenStore
	graceStore RefreshTokenGraceStore // refresh, when it implements the extension
	issuer     *token.Issuer
	refreshTTL time.Duration
	familyTTL  time.Duration
	storeWait  time.Duration // StoreTimeout
	storeDown  atomic.Bool   // the last store call failed with ErrStoreUnavailable
	grace      time.Duration
	secret     []byte // HMAC key of successor tokens when grace > 0
	argon      credential.Argon2Params
	now        func() time.Time
	log        *slog.Logger
	throttle   *throttle
	dummyHash  string // verified when the user does not exist, so timing does not tell
	legacy     *legacyTiming
	claims     func(context.Context, string) (map[string]any, error)
	audit      func(context.Context, AuditEvent)
	trace      *Trace
}

// New checks cfg and returns Accounts. It fails when Users or Issuer
// is missing, when RefreshTTL, RefreshFamilyTTL, StoreTimeout or
// RefreshReuseGrace is negative, when RefreshReuseGrace is positive over a store
// that is not a RefreshTokenGraceStore, and when RefreshSecret is set but
// shorter than MinRefreshSecretLength.
func New(cfg Config) (*Accounts, error) {
	if cfg.Users == nil || cfg.Issuer == nil {
		return nil, errors.New("jwtauth: account.Config.Users and Issuer are required")
	}
	a := &Accounts{users: cfg.Users, refresh: cfg.RefreshTokens, issuer: cfg.Issuer, refreshTTL: cfg.RefreshTTL,
		familyTTL: cfg.RefreshFamilyTTL, storeWait: cfg.StoreTimeout, grace: cfg.RefreshReuseGrace, argon: cfg.Argon2, now: cfg.Now, log: cfg.Logger, throttle: newThrottle(cfg.Throttle),
		legacy: newLegacyTiming(), claims: cfg.Claims, audit: cfg.Audit, trace: cfg.Trace}
	a.graceStore, _ = cfg.RefreshTokens.(RefreshTokenGraceStore)
	if a.refreshTTL < 0 || a.familyTTL < 0 {
		return nil, fmt.Errorf("jwtauth: account.Config.RefreshTTL and RefreshFamilyTTL must not be negative, got %s and %s", a.refreshTTL, a.familyTTL)
	}
	if a.storeWait < 0 {
		return nil, fmt.Errorf("jwtauth: account.Config.StoreTimeout must not be negative, got %s", a.storeWait)
	}
	if a.storeWait == 0 {
		a.storeWait = defaultStoreTimeout
	}
	if a.grace < 0 {
		return nil, fmt.Errorf("jwtauth: account.Config.RefreshReuseGrace must not be negative, got %s", a.grace)
	}
	if a.grace > 0 && a.refresh != nil && a.graceStore == nil {
		return nil, fmt.Errorf("jwtauth: account.Config.RefreshReuseGrace needs a store implementing RefreshTokenGraceStore; %T does not", cfg.RefreshTokens)
	}
	if cfg.RefreshSecret != nil && len(cfg.RefreshSecret) < MinRefreshSecretLength {
		return nil, fmt.Errorf("jwtauth: account.Config.RefreshSecret must be at least %d bytes", MinRefreshSecretLength)
	}
	if a.grace > 0 {
		a.secret = bytes.Clone(cfg.RefreshSecret)
		if a.secret == nil {
			a.secret = make([]byte, MinRefreshSecretLength)
			_, _ = rand.Read(a.secret)
		}
	}
	a.argon = a.argon.WithDefaults()
	if err := a.argon.Validate(); err != nil {
		return nil, err
	}
	if a.refreshTTL == 0 {
		a.refreshTTL = DefaultRefreshTTL
	}
	if a.familyTTL == 0 {
		a.familyTTL = DefaultRefreshFamilyTTL
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	// The dummy hash has the current parameters, so verifying a password for
	// an unknown user costs what a wrong password for a real one costs.
	var pw [16]byte
	_, _ = rand.Read(pw[:])
	h, err := credential.HashPassword(base64.RawURLEncoding.EncodeToString(pw[:]), a.argon)
	if err != nil {
		return nil, err
	}
	a.dummyHash = h
	return a, nil
}

// TokenResponse is the body of a successful /login or /refresh (README, "The flow with curl");
// Token repeats AccessToken for clients of the original tutorial.
type TokenResponse struct {
	AccessToken  string `json:"access_token"`            // the JWT (RFC 6749 §5.1)
	Token        string `json:"token"`                   // the same JWT, for the tutorial's clients
	TokenType    string `json:"token_type"`              // "Bearer" (RFC 6750), or "DPoP" for a token bound to the request's DPoP key (RFC 9449 §5)
	ExpiresIn    int64  `json:"expires_in"`              // access-token lifetime, seconds
	RefreshToken string `json:"refresh_token,omitempty"` // opaque, 43 base64url characters; empty when refresh is off
	// DeviceToken is set by a login (never by a refresh): present it with
	// later logins of the same username from this device so that a lockout
	// of the name does not apply to them (LoginThrottle). Opaque, 76
	// base64url characters; it grants nothing by itself. It is not part of
	// the JSON body (SPEC §2 fixes that): /login sends it as the cookie
	// jwtauth.DeviceCookieName.
	DeviceToken string `json:"-"`

	// refreshExpires is when RefreshToken expires (its Max-Age in cookie mode).
	refreshExpires time.Time
}

// RefreshExpiresAt is when RefreshToken expires: its inactivity expiry,
// capped at the end of its family (Config.RefreshFamilyTTL); the
// zero Time without a refresh token.
func (r *TokenResponse) RefreshExpiresAt() time.Time { return r.refreshExpires }

// DeviceTokenTTL is how long a device token stays trusted
// (LoginThrottle.DeviceTokenTTL, with its default applied).
func (a *Accounts) DeviceTokenTTL() time.Duration { return a.throttle.deviceTTL }

// Now reads the flow's clock (Config.Now).
func (a *Accounts) Now() time.Time { return a.now() }

// Register is RegisterFrom without a client address: no per-address
// registration budget applies.
func (a *Accounts) Register(ctx context.Context, username, password string) error {
	return a.RegisterFrom(ctx, netip.Addr{}, username, password)
}

// RegisterFrom creates an account for a client at address client (see
// jwtauth.ClientIP; the zero Addr when unknown). The attempt takes a token from
// the client's registration budget (LoginThrottle.Registrations) whatever
// its outcome; a taken username is answered from a lookup without hashing
// the password (the answer says the name exists either way), and the
// store's uniqueness decides a race. Errors: *Error invalid_request
// (username or password policy), *Error user_exists (409), *Error
// too_many_requests (429, with RetryAfter) when the address's budget is
// spent, *Error temporarily_unavailable (503) when no password-hash slot of
// registration's share frees up in time, or a store failure.
func (a *Accounts) RegisterFrom(ctx context.Context, client netip.Addr, username, password string) error {
	err := a.register(ctx, client, username, password)
	a.record(opRegister, err)
	return err
}

func (a *Accounts) register(ctx context.Context, client netip.Addr, username, password string) error {
	name, err := normalizeUsername(username)
	if err != nil {
		return err
	}
	if err := checkPolicy(password); err != nil {
		return err
	}
	if k, ok := ipKey(client); ok {
		var wait time.Duration
		err := a.throttleCall(ctx, "throttle registration", func(ctx context.Context) (err error) {
			_, wait, err = a.throttle.take(ctx, a.now(), bucketKey{registerBucket, k})
			return err
		})
		if err != nil {
			return fmt.Errorf("jwtauth: register: %w", err)
		}
		if wait > 0 {
			a.log.WarnContext(ctx, "registration throttled", "client", client, "retry_after", wait)
			return errTooManyRegistrations(wait)
		}
	}
	err = a.store(ctx, "look up user", func(ctx context.Context) error {
		_, err := a.users.UserByName(ctx, name)
		return err
	})
	switch {
	case err == nil:
		return errUserExists
	case !errors.Is(err, ErrUserNotFound):
		return fmt.Errorf("jwtauth: register: %w", err)
	}
	hash, err := a.hashNew(ctx, password)
	if err != nil {
		return err
	}
	err = a.store(ctx, "create user", func(ctx context.Context) error {
		return a.users.CreateUser(ctx, User{Username: name, PasswordHash: hash, CreatedAt: a.now().UTC()})
	})
	if err != nil {
		if errors.Is(err, ErrUserExists) {
			return errUserExists
		}
		return fmt.Errorf("jwtauth: register: %w", err)
	}
	a.log.InfoContext(ctx, "user registered", "user", name, "client", client)
	a.emit(ctx, AuditEvent{Kind: AuditRegister, Username: name, Client: client})
	return nil
}

// Login is LoginFrom without a client address: only the per-username
// throttle applies.
func (a *Accounts) Login(ctx context.Context, username, password string) (*TokenResponse, error) {
	return a.LoginWithDevice(ctx, netip.Addr{}, username, password, "")
}

// LoginFrom is LoginWithDevice without a device token.
func (a *Accounts) LoginFrom(ctx context.Context, client netip.Addr, username, password string) (*TokenResponse, error) {
	return a.LoginWithDevice(ctx, client, username, password, "")
}

// LoginWithDevice checks the credentials of a client at address client (see
// jwtauth.ClientIP; the zero Addr when unknown) presenting device, the device token
// of an earlier login on the same device ("" when it has none), and issues
// an access token, a fresh device token and, when refresh tokens are
// enabled, a refresh token starting a new family.
//
// The attempt is throttled before any password is hashed (LoginThrottle):
// it is counted against the client's address and against the username, or,
// when device is a valid device token of this username, against that token
// instead of the username. A device token that is malformed, expired,
// forged or issued to another name counts as none.
//
// An unknown user, a malformed username and a wrong password give the same
// *Error (invalid_credentials, 401) after the same work: one argon2id
// computation with the current parameters (against a dummy hash when there
// is no user or the stored hash cannot match), and failures that verified
// no legacy hash wait as long as a legacy verification takes, so a user
// with a bcrypt or older argon2id hash does not stand out either. A correct
// password whose stored hash is bcrypt or uses other argon2id parameters is
// rehashed with the current ones. Other errors: *Error
// too_many_requests (429, with RetryAfter) when the address, or the username
// (or device token), has too many recent failures (LoginThrottle), *Error
// temporarily_unavailable (503) when no password-hash slot frees up in time,
// or a store failure.
func (a *Accounts) LoginWithDevice(ctx context.Context, client netip.Addr, username, password, device string) (*TokenResponse, error) {
	resp, err := a.login(ctx, client, username, password, device)
	a.record(opLogin, err)
	return resp, err
}

func (a *Accounts) login(ctx context.Context, client netip.Addr, username, password, device string) (*TokenResponse, error) {
	name, nerr := normalizeUsername(username)
	if nerr != nil {
		name = ""
	}
	now := a.now()
	u, hash, release, err := a.checkCredentials(ctx, client, name, password, device, now, AuditLoginFailed)
	if err != nil {
		return nil, err
	}
	release()
	deviceToken, err := newDeviceToken(hash, u.Username, now)
	if err != nil {
		return nil, fmt.Errorf("jwtauth: login: device token: %w", err)
	}
	tok, err := a.sign(ctx, u.Username)
	if err != nil {
		a.loginFailed(ctx, client, u.Username, "unavailable")
		return nil, errfmt.Errorf("jwtauth: login: %w", err)
	}
	resp, family, err := a.issue(ctx, tok, "", "", "login", "client", client)
	if errors.Is(err, ErrUserDisabled) || errors.Is(err, ErrUserNotFound) {
		// Disabled or deleted since the lookup: no session starts.
		a.loginFailed(ctx, client, u.Username, "invalid_credentials")
		return nil, ErrInvalidCredentials
	}
	if err != nil {
		a.loginFailed(ctx, client, u.Username, "unavailable")
		return nil, err
	}
	resp.DeviceToken = deviceToken
	a.recordLogin(ctx, u.Username, now)
	a.emit(ctx, AuditEvent{Kind: AuditLogin, Username: u.Username, Client: client, FamilyID: family})
	return resp, nil
}

// checkCredentials verifies password for name (normalized; "" for a
// malformed username, which fails as an unknown one does) as a login does,
// for a client at client presenting device ("" for none): throttled before
// any hash (the address's bucket and the username's, or the device
// token's), one argon2id computation whatever the user, a failure padded to
// the legacy cost, a legacy or outdated hash rehashed. A failure emits an
// audit event of kind failKind, unless it is "" (its Reason as AuditEvent documents), and
// keeps the throttle tokens it took; a success gives them back. It returns
// the user, the hash that now keys its device tokens and the release of
// the password-hash slot it holds, which the caller must call; errors as
// LoginWithDevice's.
func (a *Accounts) checkCredentials(ctx context.Context, client netip.Addr, name, password, device string, now time.Time, failKind string) (User, string, func(), error) {
	fail := func(username, reason string) {
		if failKind != "" {
			a.emit(ctx, AuditEvent{Kind: failKind, Username: username, Client: client, Reason: reason})
		}
	}
	var u User
	err := ErrUserNotFound
	looked := false
	limit := bucketKey{userBucket, name}
	if name != "" && device != "" {
		if d, ok := parseDeviceToken(device, now, a.throttle.deviceTTL); ok {
			err = a.store(ctx, "look up user", func(ctx context.Context) (err error) {
				u, err = a.users.UserByName(ctx, name)
				return err
			}, name)
			looked = true
			if err == nil && d.valid(u.PasswordHash, u.Username) {
				limit = bucketKey{deviceBucket, base64.RawURLEncoding.EncodeToString(d.nonce)}
			}
		}
	}
	if err != nil && !errors.Is(err, ErrUserNotFound) {
		fail("", "unavailable")
		return User{}, "", nil, fmt.Errorf("jwtauth: login: %w", err)
	}
	addr, _ := ipKey(client)
	// The address first: a login refused for its name still spends a token
	// of its address.
	var (
		taken []bucketKey
		wait  time.Duration
	)
	terr := a.throttleCall(ctx, "throttle login", func(ctx context.Context) (err error) {
		taken, wait, err = a.throttle.take(ctx, now, bucketKey{addressBucket, addr}, limit)
		return err
	})
	if terr != nil {
		fail("", "unavailable")
		return User{}, "", nil, fmt.Errorf("jwtauth: login: %w", terr)
	}
	if wait > 0 {
		a.log.WarnContext(ctx, "login throttled", "client", client, "device", limit.kind == deviceBucket, "retry_after", wait)
		fail(u.Username, "throttled") // set only when the device path found the user
		return User{}, "", nil, errTooManyRequests(wait)
	}
	failed := false // a wrong password keeps the tokens taken
	defer func() {
		if !failed {
			err := a.throttleCall(context.WithoutCancel(ctx), "refund login throttle", func(ctx context.Context) error {
				return a.throttle.refund(ctx, now, taken)
			})
			if err != nil {
				a.log.WarnContext(ctx, "login throttle refund failed", "err", err)
			}
		}
	}()
	if name != "" && !looked {
		err = a.store(ctx, "look up user", func(ctx context.Context) (err error) {
			u, err = a.users.UserByName(ctx, name)
			return err
		}, name)
	}
	if err != nil && !errors.Is(err, ErrUserNotFound) {
		fail("", "unavailable")
		return User{}, "", nil, fmt.Errorf("jwtauth: login: %w", err)
	}
	known := err == nil
	disabled := known && u.Disabled // answered as a wrong password, after the same work
	hash := u.PasswordHash          // keys the device token
	release, err := a.throttle.acquire(ctx, loginHash)
	if err != nil {
		fail(u.Username, "unavailable")
		return User{}, "", nil, err
	}
	// One argon2id computation with the current parameters whatever the
	// stored hash, and failures padded to the legacy-hash cost
	// (checkPassword): the time does not tell which users exist.
	start := time.Now()
	res := a.checkPassword(u.PasswordHash, password)
	a.hashDone(start)
	if !known || !res.ok || disabled {
		release()
		failed = true
		attrs := []any{"client", client}
		if known {
			attrs = append(attrs, "user", u.Username) // only names of real accounts reach the log
		}
		if disabled {
			attrs = append(attrs, "disabled", true)
		}
		if res.err != nil {
			attrs = append(attrs, "err", res.err)
		}
		a.legacy.wait(ctx, res.pad)
		a.log.InfoContext(ctx, "login failed", attrs...)
		fail(u.Username, "invalid_credentials")
		return User{}, "", nil, ErrInvalidCredentials
	}
	if res.rehash != "" || res.rehashErr != nil {
		herr := res.rehashErr
		if herr == nil {
			herr = a.store(ctx, "update password hash", func(ctx context.Context) error {
				return a.users.UpdatePasswordHash(ctx, u.Username, res.rehash)
			})
		}
		if herr != nil {
			a.log.WarnContext(ctx, "password rehash failed", "user", u.Username, "err", herr)
		} else {
			hash = res.rehash
			a.log.InfoContext(ctx, "password rehashed", "user", u.Username)
		}
	}
	return u, hash, release, nil
}

// sign signs an access token for username with the claims of the Claims
// hook, if any, bound to the DPoP key of ctx (ContextWithDPoP), if any.
func (a *Accounts) sign(ctx context.Context, username string) (*token.Token, error) {
	var extra map[string]any
	if a.claims != nil {
		err := a.runHook(ctx, "claims", func(ctx context.Context) (err error) {
			extra, err = a.claims(ctx, username)
			return err
		})
		if err != nil {
			a.log.WarnContext(ctx, "claims hook failed; no token issued", "user", username, "err", err)
			return nil, fmt.Errorf("claims hook for %q: %w", username, err)
		}
	}
	if jkt := dpopJKT(ctx); jkt != "" {
		bound := make(map[string]any, len(extra)+1)
		for k, v := range extra {
			bound[k] = v
		}
		bound["cnf"] = map[string]string{"jkt": jkt} // RFC 9449 §6.1; replaces a hook's cnf
		extra = bound
	}
	tok, err := a.issuer.IssueWith(ctx, username, extra)
	if err != nil && a.claims != nil {
		a.log.ErrorContext(ctx, "claims hook returned claims the issuer refuses; no token issued", "user", username, "err", err)
	}
	return tok, err
}

// emit calls the Audit hook with e, its Client taken from ctx when unset.
func (a *Accounts) emit(ctx context.Context, e AuditEvent) {
	if a.audit == nil {
		return
	}
	if !e.Client.IsValid() {
		e.Client, _ = ctx.Value(clientKey{}).(netip.Addr)
	}
	// What the event reports is done (a rotated refresh token is stored):
	// a failing, panicking or blocking hook must not keep its answer from
	// the client, so its outcome is only logged.
	if err := a.runHook(ctx, "audit", func(ctx context.Context) error { a.audit(ctx, e); return nil }); err != nil {
		a.log.ErrorContext(ctx, "audit hook failed", "event", e.Kind, "err", err)
	}
}

// errHookPanicked and errHookTimeout are the causes of an application hook
// (Config.Claims, Audit) that panicked or did not return in time.
var (
	errHookPanicked = errors.New("hook panicked")
	errHookTimeout  = errors.New("hook did not return in time")
)

// runHook runs an application hook under the store timeout
// (Config.StoreTimeout) and turns a panic into an error, so that a
// hook can neither crash the request nor hold it: when call has not
// returned by the deadline (or the request ended), runHook returns an error
// wrapping errHookTimeout and ErrStoreUnavailable (503) and leaves call to
// finish on its own goroutine with a canceled context. call must only
// touch variables the caller reads after a nil error.
func (a *Accounts) runHook(ctx context.Context, name string, call func(context.Context) error) error {
	hctx, cancel := context.WithTimeout(ctx, a.storeWait)
	done := make(chan error, 1)
	go func() {
		defer cancel()
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("%s %w: %v", name, errHookPanicked, r)
			}
		}()
		done <- call(hctx)
	}()
	select {
	case err := <-done:
		return err
	case <-hctx.Done():
		select {
		case err := <-done: // returned just as the deadline passed
			return err
		default:
		}
		return fmt.Errorf("%w: %s %w within %s", ErrStoreUnavailable, name, errHookTimeout, a.storeWait)
	}
}

// loginFailed emits an AuditLoginFailed event; username is empty unless the
// account exists.
func (a *Accounts) loginFailed(ctx context.Context, client netip.Addr, username, reason string) {
	a.emit(ctx, AuditEvent{Kind: AuditLoginFailed, Username: username, Client: client, Reason: reason})
}

// clientKey is the context key of ContextWithClient.
type clientKey struct{}

// dpopKey is the context key of ContextWithDPoP.
type dpopKey struct{}

// ContextWithDPoP returns ctx carrying jkt, the RFC 7638 SHA-256 thumbprint
// (base64url) of the key of the DPoP proof (RFC 9449) that came with a
// login or refresh request, which the caller verified (the HTTP face does,
// with a dpop.Verifier, before calling the flow). With it, LoginWithDevice
// and Refresh issue an access token bound to that key (cnf.jkt, RFC 9449
// §6.1) with TokenType "DPoP", and a login starts a refresh family bound to
// it (RefreshToken.JKT), which only a refresh with a proof by the same key
// can use. An empty jkt is no proof.
func ContextWithDPoP(ctx context.Context, jkt string) context.Context {
	return context.WithValue(ctx, dpopKey{}, jkt)
}

// boundFamilyKey is the context key of ContextRequiringBoundFamily.
type boundFamilyKey struct{}

// ContextRequiringBoundFamily returns ctx with which Refresh exchanges only
// a token of a family bound to a DPoP key (RefreshToken.JKT), and answers
// ErrUnboundFamily for a token of an unbound family, spending nothing. A
// bound family still needs a proof by its key (ContextWithDPoP). The HTTP
// face sets it in cookie mode for a refresh token from the cookie that
// comes with a valid proof: a page holding a DPoP key never takes over an
// unbound session (one another origin of the host may have planted in
// its cookie).
func ContextRequiringBoundFamily(ctx context.Context) context.Context {
	return context.WithValue(ctx, boundFamilyKey{}, true)
}

// dpopJKT returns the thumbprint ContextWithDPoP put in ctx, or "".
func dpopJKT(ctx context.Context) string {
	jkt, _ := ctx.Value(dpopKey{}).(string)
	return jkt
}

// ContextWithClient returns ctx carrying client, the client's address, for
// the AuditEvent.Client of Refresh and Logout (the HTTP face's /refresh and
// /logout pass the ClientIP of the request this way).
func ContextWithClient(ctx context.Context, client netip.Addr) context.Context {
	return context.WithValue(ctx, clientKey{}, client)
}

// issue answers with tok, an access token for tok.Claims.Subject, and logs
// event with the token's jti and the refresh family, which it returns. When
// refreshRaw is empty and refresh tokens are enabled, it starts a new
// family, bound to the DPoP key of ctx if any; otherwise refreshRaw (the
// successor the caller stored in family) goes into the response.
func (a *Accounts) issue(ctx context.Context, tok *token.Token, refreshRaw, family, event string, extra ...any) (*TokenResponse, string, error) {
	username := tok.Claims.Subject
	resp := &TokenResponse{AccessToken: tok.Raw, Token: tok.Raw, TokenType: "Bearer", ExpiresIn: int64(a.issuer.TTL() / time.Second)}
	if tok.Claims.JKT() != "" {
		resp.TokenType = "DPoP" // RFC 9449 §5
	}
	if refreshRaw != "" {
		resp.RefreshToken = refreshRaw
	} else if a.refresh != nil {
		raw, hash, err := newRefreshToken()
		if err != nil {
			return nil, "", err
		}
		now := a.now().UTC()
		if family, err = randomID(); err != nil {
			return nil, "", err
		}
		// The store caps ExpiresAt at the family's end.
		rt := RefreshToken{Hash: hash, FamilyID: family, Username: username, IssuedAt: now,
			ExpiresAt: now.Add(a.refreshTTL), FamilyExpiresAt: now.Add(a.familyTTL), JKT: dpopJKT(ctx)}
		err = a.store(ctx, "create refresh token", func(ctx context.Context) error {
			return a.refresh.CreateRefreshToken(ctx, rt)
		})
		if err != nil {
			return nil, "", fmt.Errorf("jwtauth: store refresh token: %w", err)
		}
		resp.RefreshToken = raw
		resp.refreshExpires = rt.ExpiresAt
		if rt.FamilyExpiresAt.Before(rt.ExpiresAt) {
			resp.refreshExpires = rt.FamilyExpiresAt
		}
	}
	attrs := append([]any{"user", username, "jti", tok.Claims.ID, "kid", tok.KID}, extra...)
	if family != "" {
		attrs = append(attrs, "family", family)
	}
	a.log.InfoContext(ctx, event, attrs...)
	return resp, family, nil
}

// errReuseDetected is ErrInvalidGrant for a used or revoked refresh token
// (reuse detection revoked its family); Refresh answers it as
// ErrInvalidGrant, the metrics count it apart.
var errReuseDetected = errors.New("jwtauth: refresh token reuse detected")

var errBadRefreshForm = badRequest("refresh_token must be the opaque token returned by /login or /refresh")

// Refresh exchanges a refresh token for a new access token and a new
// refresh token (RFC 6749 §6) in one store transaction; the presented token
// stops working. Presenting a used or revoked token revokes its whole family
// (RFC 9700 §4.14.2), except a retry within Config.RefreshReuseGrace,
// which gets the same successor again. Of concurrent calls with one token
// exactly one succeeds (all of them, with one successor, within a grace).
//
// DPoP (RFC 9449 §5): the token's record is read first, spending nothing.
// A token of a family bound to a key (RefreshToken.JKT) is exchanged only
// when ctx carries the thumbprint of a proof by that key
// (ContextWithDPoP); otherwise Refresh answers *Error invalid_dpop_proof
// (ErrInvalidDPoPProof) and the token is neither spent nor taken as reused.
// With a proof, the new access token is bound to its key (token type
// "DPoP"), also for an unbound family, which stays unbound (as RFC 9449 §5
// has it for refresh tokens of confidential clients): such a family can be
// refreshed with or without proofs, by any key; under
// ContextRequiringBoundFamily it is refused with ErrUnboundFamily, spending
// nothing.
//
// Errors: *Error invalid_grant (401) for a malformed, unknown, expired, used
// or revoked token, *Error invalid_dpop_proof (400) as above, *Error
// unsupported_grant_type (501) without a RefreshTokenStore, or a store
// failure.
func (a *Accounts) Refresh(ctx context.Context, raw string) (*TokenResponse, error) {
	resp, err := a.refreshToken(ctx, raw)
	a.record(opRefresh, err)
	if errors.Is(err, errReuseDetected) {
		err = ErrInvalidGrant // one answer for every refused token
	}
	return resp, err
}

func (a *Accounts) refreshToken(ctx context.Context, raw string) (*TokenResponse, error) {
	if a.refresh == nil {
		return nil, ErrRefreshDisabled
	}
	hash, ok := refreshHash(raw)
	if !ok {
		return nil, ErrInvalidGrant
	}
	// Spend the refresh token only when an access token can be signed: a
	// client left holding a used token would trip reuse detection on retry.
	if err := a.issuer.Ready(); err != nil {
		return nil, fmt.Errorf("jwtauth: refresh: signing key: %w", err)
	}
	// Read the token's record first, spending nothing: its family's DPoP
	// key (which never changes) decides whether the request may exchange
	// it, and, with a Claims hook, sign first from its user, so that a
	// failing hook leaves the token valid.
	var rec RefreshToken
	err := a.store(ctx, "get refresh token", func(ctx context.Context) (err error) {
		rec, err = a.refresh.RefreshTokenByHash(ctx, hash)
		return err
	})
	if errors.Is(err, ErrRefreshNotFound) {
		a.log.InfoContext(ctx, "refresh refused", "reason", refreshReason(err))
		return nil, ErrInvalidGrant
	}
	if err != nil {
		return nil, fmt.Errorf("jwtauth: refresh: %w", err)
	}
	if rec.JKT != "" && subtle.ConstantTimeCompare([]byte(rec.JKT), []byte(dpopJKT(ctx))) != 1 {
		reason := "no DPoP proof"
		if dpopJKT(ctx) != "" {
			reason = "DPoP proof by another key"
		}
		a.log.InfoContext(ctx, "refresh refused", "reason", reason, "family", rec.FamilyID)
		return nil, ErrInvalidDPoPProof
	}
	if rec.JKT == "" && ctx.Value(boundFamilyKey{}) != nil {
		a.log.InfoContext(ctx, "refresh refused", "reason", "family bound to no DPoP key", "family", rec.FamilyID)
		return nil, ErrUnboundFamily
	}
	var tok *token.Token
	if a.claims != nil {
		if tok, err = a.sign(ctx, rec.Username); err != nil {
			return nil, errfmt.Errorf("jwtauth: refresh: %w", err)
		}
	}
	var nextRaw string
	var nextHash []byte
	if a.grace > 0 {
		nextRaw, nextHash = a.successor(raw)
	} else {
		var err error
		if nextRaw, nextHash, err = newRefreshToken(); err != nil {
			return nil, err
		}
	}
	now := a.now().UTC()
	// The store caps ExpiresAt at the family's end (FamilyExpiresAt).
	next := RefreshToken{Hash: nextHash, IssuedAt: now, ExpiresAt: now.Add(a.refreshTTL)}
	var old RefreshToken
	err = a.store(ctx, "rotate refresh token", func(ctx context.Context) (err error) {
		if a.graceStore != nil {
			old, err = a.graceStore.RotateRefreshTokenGrace(ctx, hash, next, now, a.grace)
		} else {
			old, err = a.refresh.RotateRefreshToken(ctx, hash, next, now)
		}
		return err
	})
	switch {
	case errors.Is(err, ErrRefreshReused):
		if old.FamilyID == "" && a.audit != nil { // RotateRefreshToken returns no record
			_ = a.store(ctx, "get refresh token", func(ctx context.Context) (err error) {
				old, err = a.refresh.RefreshTokenByHash(ctx, hash)
				return err
			})
		}
		a.log.WarnContext(ctx, "refresh token reuse detected; family revoked", "user", old.Username, "family", old.FamilyID)
		a.emit(ctx, AuditEvent{Kind: AuditRefreshReuse, Username: old.Username, FamilyID: old.FamilyID})
		return nil, errReuseDetected
	case errors.Is(err, ErrRefreshNotFound), errors.Is(err, ErrRefreshExpired),
		errors.Is(err, ErrUserNotFound): // the user was deleted during the rotation
		a.log.InfoContext(ctx, "refresh refused", "reason", refreshReason(err))
		return nil, ErrInvalidGrant
	case err != nil:
		return nil, fmt.Errorf("jwtauth: refresh: %w", err)
	}
	if tok == nil || tok.Claims.Subject != old.Username {
		if tok, err = a.sign(ctx, old.Username); err != nil {
			return nil, errfmt.Errorf("jwtauth: refresh: %w", err)
		}
	}
	resp, _, err := a.issue(ctx, tok, nextRaw, old.FamilyID, "refresh", "retry", !old.UsedAt.Equal(now))
	if err != nil {
		return nil, err
	}
	resp.refreshExpires = next.ExpiresAt // capped at the family's end, as the store does
	if f := old.FamilyExpiresAt; !f.IsZero() && f.Before(next.ExpiresAt) {
		resp.refreshExpires = f
	}
	a.emit(ctx, AuditEvent{Kind: AuditRefresh, Username: old.Username, FamilyID: old.FamilyID})
	return resp, nil
}

func refreshReason(err error) string {
	if errors.Is(err, ErrRefreshExpired) {
		return "expired"
	}
	return "unknown token"
}

// successor derives the refresh token that replaces raw when a reuse grace
// is configured: base64url(HMAC-SHA256(secret, label || raw)), the same form
// as a random token, and its SHA-256 hash.
func (a *Accounts) successor(raw string) (string, []byte) {
	m := hmac.New(sha256.New, a.secret)
	m.Write([]byte("jwtauth refresh successor v1\x00"))
	m.Write([]byte(raw))
	next := base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	sum := sha256.Sum256([]byte(next))
	return next, sum[:]
}

// Logout revokes the family of the refresh token (RFC 7009 §2.2: an unknown
// but well-formed token is not an error). Errors: *Error invalid_request
// for a malformed token, *Error unsupported_grant_type (501) without a
// RefreshTokenStore, or a store failure.
func (a *Accounts) Logout(ctx context.Context, raw string) error {
	err := a.logout(ctx, raw)
	a.record(opLogout, err)
	return err
}

func (a *Accounts) logout(ctx context.Context, raw string) error {
	if a.refresh == nil {
		return ErrRefreshDisabled
	}
	hash, ok := refreshHash(raw)
	if !ok {
		return errBadRefreshForm
	}
	var fam string
	err := a.store(ctx, "revoke refresh family", func(ctx context.Context) (err error) {
		fam, err = a.refresh.RevokeRefreshFamily(ctx, hash, a.now().UTC())
		return err
	})
	if errors.Is(err, ErrRefreshNotFound) {
		a.log.InfoContext(ctx, "logout", "reason", "unknown token")
		return nil
	}
	if err != nil {
		return fmt.Errorf("jwtauth: logout: %w", err)
	}
	a.log.InfoContext(ctx, "logout", "family", fam)
	if a.audit != nil {
		var rec RefreshToken
		_ = a.store(ctx, "get refresh token", func(ctx context.Context) (err error) {
			rec, err = a.refresh.RefreshTokenByHash(ctx, hash)
			return err
		})
		a.emit(ctx, AuditEvent{Kind: AuditLogout, Username: rec.Username, FamilyID: fam})
	}
	return nil
}

// RevokeSessions ends every session of a user: it revokes every
// refresh-token family of username (normalized as at login), so none of
// its refresh tokens works again, and returns how many families it revoked
// that were still unrevoked. Access tokens already issued stay valid until
// they expire. Use it after a password reset or a suspected compromise; a
// later login starts a new session. Errors: *Error invalid_request for a
// malformed username, an error wrapping ErrUserNotFound for an unknown one,
// *Error unsupported_grant_type (501) without a RefreshTokenStore, or a
// store failure.
func (a *Accounts) RevokeSessions(ctx context.Context, username string) (int64, error) {
	if a.refresh == nil {
		return 0, ErrRefreshDisabled
	}
	name, err := normalizeUsername(username)
	if err != nil {
		return 0, err
	}
	var n int64
	err = a.store(ctx, "revoke user refresh families", func(ctx context.Context) (err error) {
		n, err = a.refresh.RevokeUserRefreshFamilies(ctx, name, a.now().UTC())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("jwtauth: revoke sessions: %w", err)
	}
	a.log.InfoContext(ctx, "sessions revoked", "user", name, "families", n)
	return n, nil
}

// store runs call, one call into a store port named op, under the store
// timeout (Config.StoreTimeout), and returns its error. A call the
// timeout ended (the request's own context still alive) fails with an error
// wrapping ErrStoreUnavailable. The store's state is logged once per change:
// a warning when calls start failing with ErrStoreUnavailable, a line when
// one succeeds again. Each of unverified (a login's username, which may be a
// password typed in the wrong field) is masked in the logged error when
// the store quoted it with %q, and the error text is withheld when it
// holds it otherwise.
func (a *Accounts) store(ctx context.Context, op string, call func(context.Context) error, unverified ...string) error {
	sctx, cancel := context.WithTimeout(ctx, a.storeWait)
	defer cancel()
	err := call(sctx)
	timedOut := err != nil && ctx.Err() == nil && errors.Is(sctx.Err(), context.DeadlineExceeded)
	if timedOut && !errors.Is(err, ErrStoreUnavailable) {
		err = fmt.Errorf("%w: no answer within %s: %w", ErrStoreUnavailable, a.storeWait, err)
	}
	switch {
	case errors.Is(err, ErrStoreUnavailable):
		if !a.storeDown.Swap(true) {
			msg := err.Error()
			for _, u := range unverified {
				msg = strings.ReplaceAll(msg, strconv.Quote(u), `"[unverified username]"`)
				if strings.Contains(msg, u) {
					msg = "(withheld: the error quotes an unverified username)"
				}
			}
			a.log.WarnContext(ctx, "store unavailable; requests that need it answer 503 until it recovers",
				"op", op, "timeout", a.storeWait, "err", msg)
		}
	case err != nil && ctx.Err() != nil:
		// The client went away: this says nothing about the store.
	default:
		if a.storeDown.Swap(false) {
			a.log.InfoContext(ctx, "store available again", "op", op)
		}
	}
	return err
}

// throttleCall runs call, a call into the throttle's buckets named op:
// through store (its timeout, its outage log) when a ThrottleStore keeps
// them (LoginThrottle.Store), directly when they are in process.
func (a *Accounts) throttleCall(ctx context.Context, op string, call func(context.Context) error) error {
	if _, inProcess := a.throttle.state.(*memoryBuckets); inProcess {
		return call(ctx)
	}
	return a.store(ctx, op, call)
}

// Purge is the background maintenance of the account flow; call it
// periodically (every few minutes) from the server loop. It deletes the
// refresh-token families whose every token has expired
// (RefreshTokenStore.PurgeRefreshTokens at now) and returns how many tokens
// it deleted, and it drops the throttle's idle buckets.
// Without a RefreshTokenStore it only does the latter and returns 0.
func (a *Accounts) Purge(ctx context.Context) (int64, error) {
	now := a.now()
	if err := a.throttle.sweep(ctx, now); err != nil {
		return 0, fmt.Errorf("jwtauth: purge throttle: %w", err)
	}
	if a.refresh == nil {
		return 0, nil
	}
	n, err := a.refresh.PurgeRefreshTokens(ctx, now.UTC())
	if err != nil {
		return 0, fmt.Errorf("jwtauth: purge refresh tokens: %w", err)
	}
	return n, nil
}

// refreshTokenBytes is the entropy of a refresh token: 256 bits.
const refreshTokenBytes = 32

// newRefreshToken returns a random opaque token (base64url, 43 characters)
// and its SHA-256 hash, the only form that is stored.
func newRefreshToken() (string, []byte, error) {
	var b [refreshTokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("jwtauth: refresh token: %w", err)
	}
	raw := base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(raw))
	return raw, sum[:], nil
}

// refreshHash checks the token's form (43 canonical base64url characters)
// and returns its SHA-256 hash.
func refreshHash(raw string) ([]byte, bool) {
	if len(raw) != base64.RawURLEncoding.EncodedLen(refreshTokenBytes) {
		return nil, false
	}
	if _, err := strictB64.DecodeString(raw); err != nil {
		return nil, false
	}
	sum := sha256.Sum256([]byte(raw))
	return sum[:], true
}

func randomID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("jwtauth: random id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// hashNew hashes a new password with the configured argon2id parameters in
// a password-hash slot of the registration share (the slot a registration
// or an operator's reset waits for; see LoginThrottle.HashQueue), timed for
// Trace.HashDone. Errors: the slot's *Error temporarily_unavailable when none
// frees up in time, or credential.HashPassword's.
func (a *Accounts) hashNew(ctx context.Context, password string) (string, error) {
	release, err := a.throttle.acquire(ctx, registerHash)
	if err != nil {
		return "", err
	}
	defer release()
	start := time.Now()
	hash, err := credential.HashPassword(password, a.argon)
	a.hashDone(start)
	return hash, err
}
