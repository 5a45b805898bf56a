package jwtauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
)

// Username and password limits. Passwords follow NIST SP 800-63B §3.1.1.2:
// at least 8 characters, long passphrases allowed, never truncated.
const (
	MaxUsernameLength = 64   // characters, after normalization
	MinPasswordLength = 8    // characters
	MaxPasswordLength = 1024 // characters
)

// DefaultRefreshTTL is the lifetime of a refresh token (30 days).
const DefaultRefreshTTL = 720 * time.Hour

// NormalizeUsername applies the PRECIS UsernameCaseMapped profile (RFC 8265
// §3.3), so "Alice" and "alice" name one account, and the length limit. The
// error is an *Error with code invalid_request.
func NormalizeUsername(s string) (string, error) {
	n, err := precis.UsernameCaseMapped.String(s)
	if err != nil || n == "" {
		return "", badRequest("username must be a non-empty string of letters, digits and symbols without spaces or control characters")
	}
	if utf8.RuneCountInString(n) > MaxUsernameLength {
		return "", badRequest(fmt.Sprintf("username must be at most %d characters", MaxUsernameLength))
	}
	return n, nil
}

// CheckPassword applies the password policy: MinPasswordLength to
// MaxPasswordLength characters of valid UTF-8. The error is an *Error with
// code invalid_request.
func CheckPassword(p string) error {
	if !utf8.ValidString(p) {
		return badRequest("password must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(p); n < MinPasswordLength || n > MaxPasswordLength {
		return badRequest(fmt.Sprintf("password must be %d to %d characters", MinPasswordLength, MaxPasswordLength))
	}
	return nil
}

// AccountsConfig configures Accounts. Users and Issuer are required.
type AccountsConfig struct {
	Users  UserStore
	Issuer *Issuer
	// RefreshTokens enables /refresh and /logout; when nil they answer 501.
	RefreshTokens RefreshTokenStore
	// RefreshTTL is the lifetime of a refresh token; default DefaultRefreshTTL.
	RefreshTTL time.Duration
	// Argon2 are the parameters new hashes use; zero means DefaultArgon2Params.
	Argon2 Argon2Params
	Now    func() time.Time
	Logger *slog.Logger
}

// Accounts runs the account flow of SPEC §2 over the store ports. It is
// safe for concurrent use.
type Accounts struct {
	users      UserStore
	refresh    RefreshTokenStore
	issuer     *Issuer
	refreshTTL time.Duration
	argon      Argon2Params
	now        func() time.Time
	log        *slog.Logger
	dummyHash  string // verified when the user does not exist, so timing does not tell
}

// NewAccounts checks cfg and returns Accounts.
func NewAccounts(cfg AccountsConfig) (*Accounts, error) {
	if cfg.Users == nil || cfg.Issuer == nil {
		return nil, errors.New("jwtauth: AccountsConfig.Users and Issuer are required")
	}
	a := &Accounts{users: cfg.Users, refresh: cfg.RefreshTokens, issuer: cfg.Issuer, refreshTTL: cfg.RefreshTTL,
		argon: cfg.Argon2, now: cfg.Now, log: cfg.Logger}
	if a.argon == (Argon2Params{}) {
		a.argon = DefaultArgon2Params
	}
	if a.refreshTTL <= 0 {
		a.refreshTTL = DefaultRefreshTTL
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	var pw [16]byte
	_, _ = rand.Read(pw[:])
	h, err := HashPassword(base64.RawURLEncoding.EncodeToString(pw[:]), a.argon)
	if err != nil {
		return nil, err
	}
	a.dummyHash = h
	return a, nil
}

// TokenResponse is the body of a successful /login or /refresh (SPEC §2);
// Token repeats AccessToken for clients of the original tutorial.
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	Token        string `json:"token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"` // seconds
	RefreshToken string `json:"refresh_token,omitempty"`
}

// Register creates an account. Errors: *Error invalid_request (username or
// password policy), *Error user_exists (409), or a store failure.
func (a *Accounts) Register(ctx context.Context, username, password string) error {
	name, err := NormalizeUsername(username)
	if err != nil {
		return err
	}
	if err := CheckPassword(password); err != nil {
		return err
	}
	hash, err := HashPassword(password, a.argon)
	if err != nil {
		return err
	}
	if err := a.users.CreateUser(ctx, User{Username: name, PasswordHash: hash, CreatedAt: a.now().UTC()}); err != nil {
		if errors.Is(err, ErrUserExists) {
			return &Error{Status: http.StatusConflict, Code: "user_exists", Description: "that username is taken"}
		}
		return fmt.Errorf("jwtauth: register: %w", err)
	}
	a.log.InfoContext(ctx, "user registered", "user", name)
	return nil
}

var errInvalidCredentials = &Error{Status: http.StatusUnauthorized, Code: "invalid_credentials", Description: "invalid username or password"}

// Login checks the credentials and issues an access token and, when refresh
// tokens are enabled, a refresh token starting a new family. An unknown user
// and a wrong password give the same *Error (invalid_credentials, 401) after
// the same password-hash work.
func (a *Accounts) Login(ctx context.Context, username, password string) (*TokenResponse, error) {
	name, nerr := NormalizeUsername(username)
	var u User
	err := ErrUserNotFound
	if nerr == nil {
		u, err = a.users.UserByName(ctx, name)
	}
	if err != nil && !errors.Is(err, ErrUserNotFound) {
		return nil, fmt.Errorf("jwtauth: login: %w", err)
	}
	hash := u.PasswordHash
	if err != nil {
		hash = a.dummyHash
	}
	ok, rehash, verr := VerifyPassword(hash, password, a.argon)
	if err != nil || !ok || verr != nil {
		a.log.InfoContext(ctx, "login failed", "reason", "invalid credentials")
		return nil, errInvalidCredentials
	}
	if rehash {
		if nh, err := HashPassword(password, a.argon); err == nil {
			if err := a.users.UpdatePasswordHash(ctx, u.Username, nh); err != nil {
				a.log.WarnContext(ctx, "password rehash failed", "user", u.Username, "err", err)
			}
		}
	}
	return a.issue(ctx, u.Username, nil, "login")
}

// issue signs an access token and, when enabled, stores a refresh token: a
// new family when parent is nil, else the successor of parent (already
// rotated by the caller; then next is the stored record).
func (a *Accounts) issue(ctx context.Context, username string, refreshRaw *string, event string) (*TokenResponse, error) {
	tok, err := a.issuer.Issue(ctx, username)
	if err != nil {
		return nil, err
	}
	resp := &TokenResponse{AccessToken: tok.Raw, Token: tok.Raw, TokenType: "Bearer", ExpiresIn: int64(a.issuer.TTL() / time.Second)}
	attrs := []any{"user", username, "jti", tok.Claims.ID, "kid", tok.KID}
	if refreshRaw != nil {
		resp.RefreshToken = *refreshRaw
	} else if a.refresh != nil {
		raw, hash, err := newRefreshToken()
		if err != nil {
			return nil, err
		}
		now := a.now().UTC()
		fam, err := randomID()
		if err != nil {
			return nil, err
		}
		rt := RefreshToken{Hash: hash, FamilyID: fam, Username: username, IssuedAt: now, ExpiresAt: now.Add(a.refreshTTL)}
		if err := a.refresh.CreateRefreshToken(ctx, rt); err != nil {
			return nil, fmt.Errorf("jwtauth: store refresh token: %w", err)
		}
		resp.RefreshToken = raw
		attrs = append(attrs, "family", fam)
	}
	a.log.InfoContext(ctx, event, attrs...)
	return resp, nil
}

var (
	errInvalidGrant   = &Error{Status: http.StatusUnauthorized, Code: "invalid_grant", Description: "the refresh token is invalid, expired or revoked"}
	errRefreshOff     = &Error{Status: http.StatusNotImplemented, Code: "unsupported_grant_type", Description: "refresh tokens are not enabled on this server"}
	errBadRefreshForm = badRequest("refresh_token must be the opaque token returned by /login or /refresh")
)

// Refresh exchanges a refresh token for a new access token and a new
// refresh token (RFC 6749 §6); the presented token stops working. Presenting
// a used token revokes its family (RFC 9700 §4.14.2). Errors: *Error
// invalid_grant (401) or a store failure.
func (a *Accounts) Refresh(ctx context.Context, raw string) (*TokenResponse, error) {
	if a.refresh == nil {
		return nil, errRefreshOff
	}
	hash, ok := refreshHash(raw)
	if !ok {
		return nil, errInvalidGrant
	}
	nextRaw, nextHash, err := newRefreshToken()
	if err != nil {
		return nil, err
	}
	now := a.now().UTC()
	old, err := a.refresh.RotateRefreshToken(ctx, hash, RefreshToken{Hash: nextHash, IssuedAt: now, ExpiresAt: now.Add(a.refreshTTL)}, now)
	switch {
	case errors.Is(err, ErrRefreshReused):
		a.log.WarnContext(ctx, "refresh token reuse detected; family revoked", "user", old.Username, "family", old.FamilyID)
		return nil, errInvalidGrant
	case errors.Is(err, ErrRefreshNotFound), errors.Is(err, ErrRefreshExpired):
		return nil, errInvalidGrant
	case err != nil:
		return nil, fmt.Errorf("jwtauth: refresh: %w", err)
	}
	resp, err := a.issue(ctx, old.Username, &nextRaw, "refresh")
	if err == nil {
		a.log.DebugContext(ctx, "refresh family advanced", "family", old.FamilyID)
	}
	return resp, err
}

// Logout revokes the family of the refresh token (RFC 7009 §2.2: an unknown
// but well-formed token is not an error). Errors: *Error invalid_request
// for a malformed token, or a store failure.
func (a *Accounts) Logout(ctx context.Context, raw string) error {
	if a.refresh == nil {
		return errRefreshOff
	}
	hash, ok := refreshHash(raw)
	if !ok {
		return errBadRefreshForm
	}
	fam, err := a.refresh.RevokeRefreshFamily(ctx, hash, a.now().UTC())
	if errors.Is(err, ErrRefreshNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("jwtauth: logout: %w", err)
	}
	a.log.InfoContext(ctx, "logout", "family", fam)
	return nil
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
