package account

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
)

// Errors of the store ports; implementations return them (possibly wrapped)
// so that callers can test with errors.Is.
var (
	// ErrUserExists is returned by UserStore.CreateUser for a taken username.
	ErrUserExists = errors.New("jwtauth: user already exists")
	// ErrUserNotFound is returned when no user has the username.
	ErrUserNotFound = errors.New("jwtauth: user not found")
	// ErrRefreshNotFound is returned for a refresh token the store does not hold.
	ErrRefreshNotFound = errors.New("jwtauth: refresh token not found")
	// ErrRefreshReused is returned when a refresh token that was already used
	// or revoked is presented again; its whole family has been revoked.
	ErrRefreshReused = errors.New("jwtauth: refresh token reused; family revoked")
	// ErrRefreshExpired is returned for a refresh token past its expiry.
	ErrRefreshExpired = errors.New("jwtauth: refresh token expired")
	// ErrUserDisabled is returned by CreateRefreshToken of a UserAdminStore
	// for a user that is disabled (UserAdminStore.SetUserDisabled): no new
	// session starts for it.
	ErrUserDisabled = errors.New("jwtauth: user disabled")
	// ErrStoreUnavailable is token.ErrStoreUnavailable.
	ErrStoreUnavailable = token.ErrStoreUnavailable
)

// User is an account as the UserStore keeps it.
type User struct {
	// Username is normalized (PRECIS UsernameCaseMapped, RFC 8265 §3.3) and unique.
	Username string
	// PasswordHash is a PHC string ("$argon2id$v=19$m=…,t=…,p=…$salt$hash") or a
	// bcrypt hash ("$2a$…", "$2b$…"). It never appears in logs or errors.
	PasswordHash string
	// CreatedAt is when the account was registered.
	CreatedAt time.Time
	// Disabled is set by UserAdminStore.SetUserDisabled: the user cannot log
	// in (its login answers as a wrong password does). A UserStore that is
	// not a UserAdminStore leaves it false.
	Disabled bool
	// LastLoginAt is the time of the user's last successful login
	// (UserAdminStore.RecordLogin); the zero Time when never recorded.
	LastLoginAt time.Time
}

// String returns the username alone: a User may be printed with any fmt
// verb without its password hash.
func (u User) String() string { return u.Username }

// GoString is String for the %#v verb: the username, never the password hash.
func (u User) GoString() string {
	return fmt.Sprintf("account.User{Username:%q, PasswordHash:<redacted>}", u.Username)
}

// Format implements fmt.Formatter so that every verb, %d and %x included,
// prints String (GoString for %#v) and never the password hash.
func (u User) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, u.GoString())
		return
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), u.String())
}

// MarshalJSON encodes what an admin page shows, never the password hash,
// so that a User reaching a JSON log or document leaks nothing:
// {"username","created_at","disabled","last_login_at"}, times in RFC 3339,
// last_login_at null when no login was recorded.
func (u User) MarshalJSON() ([]byte, error) {
	var last *time.Time
	if !u.LastLoginAt.IsZero() {
		last = &u.LastLoginAt
	}
	return json.Marshal(struct {
		Username    string     `json:"username"`
		CreatedAt   time.Time  `json:"created_at"`
		Disabled    bool       `json:"disabled"`
		LastLoginAt *time.Time `json:"last_login_at"`
	}{u.Username, u.CreatedAt, u.Disabled, last})
}

// LogValue implements slog.LogValuer: a logged User is the group {username},
// never its password hash.
func (u User) LogValue() slog.Value {
	return slog.GroupValue(slog.String("username", u.Username))
}

// UserStore is the persistence port for accounts.
type UserStore interface {
	// CreateUser inserts u atomically; it returns ErrUserExists when the
	// username is taken and then changes nothing.
	CreateUser(ctx context.Context, u User) error
	// UserByName returns the user or ErrUserNotFound.
	UserByName(ctx context.Context, username string) (User, error)
	// UpdatePasswordHash replaces a user's hash (rehash on login); ErrUserNotFound.
	UpdatePasswordHash(ctx context.Context, username, hash string) error
}

// UserAdminStore is an optional extension of UserStore for the operator's
// calls of Accounts (ListUsers, DisableUser, EnableUser, DeleteUser,
// DeleteAccount) and the last-login time. Accounts uses it when
// Config.Users implements it; without it those calls fail with
// ErrUserAdminUnsupported, and everything else works. adapters/memory,
// adapters/sqlite and adapters/postgres implement it (together with
// RefreshTokenStore, whose families they revoke and delete with the user);
// jwtauth/storetest checks it (the UserAdmin group).
type UserAdminStore interface {
	UserStore
	// ListUsers returns every user, ordered by username, with its
	// CreatedAt, Disabled and LastLoginAt and an empty PasswordHash;
	// deleted users (tombstones) are not listed.
	ListUsers(ctx context.Context) ([]User, error)
	// SetUserDisabled sets the user's Disabled flag. Disabling also revokes,
	// at now and in the same transaction, every refresh-token family of the
	// user, and from then on CreateRefreshToken refuses the user with
	// ErrUserDisabled, so that no session survives or starts, however the
	// call interleaved with logins and refreshes on any instance. Enabling
	// revokes nothing and restores nothing. ErrUserNotFound for an unknown
	// (or deleted) user. Setting the flag it already has is no error.
	SetUserDisabled(ctx context.Context, username string, disabled bool, now time.Time) error
	// DeleteUser deletes the user, its refresh-token families and tokens, and
	// leaves a tombstone recorded at now: UserByName answers ErrUserNotFound
	// from then on, while CreateUser answers ErrUserExists for the name for
	// good, so that an access token's sub is never given to someone else.
	// ErrUserNotFound for an unknown or already deleted user.
	DeleteUser(ctx context.Context, username string, now time.Time) error
	// RecordLogin sets the user's LastLoginAt to at; ErrUserNotFound.
	RecordLogin(ctx context.Context, username string, at time.Time) error
}

// RefreshToken is the stored record of one opaque refresh token (RFC 6749
// §1.5). The token itself is never stored: only its SHA-256 hash.
type RefreshToken struct {
	Hash       []byte // SHA-256 of the token, 32 bytes
	FamilyID   string // shared by every token descending from one login
	ParentHash []byte // hash of the token this one replaced; nil for a login
	Username   string
	IssuedAt   time.Time
	ExpiresAt  time.Time // never after FamilyExpiresAt when that is set
	UsedAt     time.Time // zero until exchanged at /refresh
	RevokedAt  time.Time // zero unless its family was revoked
	// FamilyExpiresAt is the absolute end of the family (login time +
	// Config.RefreshFamilyTTL), the same for every token of it and
	// carried forward by rotation; zero for a family without one.
	FamilyExpiresAt time.Time
	// JKT is the RFC 7638 SHA-256 thumbprint (base64url, 43 characters)
	// of the DPoP key the family is bound to (RFC 9449 §5): set when the
	// family is created from a login with a DPoP proof, the same for
	// every token of it and carried forward by rotation; every refresh of
	// the family needs a proof by that key. "" for an unbound family.
	JKT string
}

// RefreshTokenStore is the persistence port for refresh-token families
// (OAuth 2.0 Security BCP, RFC 9700 §4.14.2: rotation with reuse detection).
//
// A family is revoked as a whole and for good: once RevokeRefreshFamily or
// RevokeUserRefreshFamilies has returned, or RotateRefreshToken has returned
// ErrRefreshReused, no token of the family is ever exchanged again, however
// the call interleaved with concurrent rotations on any instance sharing the
// store (a successor a concurrent rotation stored is revoked with the rest).
type RefreshTokenStore interface {
	// CreateRefreshToken inserts t, the first token of a new family whose
	// absolute end is t.FamilyExpiresAt and whose DPoP binding is t.JKT; an
	// ExpiresAt after it is stored as FamilyExpiresAt. ErrUserNotFound when no user has t.Username.
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	// RotateRefreshToken atomically exchanges the token whose hash is given:
	// it marks that token used at now and inserts next, with FamilyID,
	// ParentHash (= hash), Username, FamilyExpiresAt and JKT taken from the old
	// record and ExpiresAt no later than FamilyExpiresAt, and returns the old
	// record. Of concurrent calls with one hash,
	// exactly one succeeds. A token already used or revoked revokes its whole
	// family at now and yields ErrRefreshReused; an unknown hash
	// ErrRefreshNotFound; an expired token ErrRefreshExpired (nothing changed).
	RotateRefreshToken(ctx context.Context, hash []byte, next RefreshToken, now time.Time) (RefreshToken, error)
	// RefreshTokenByHash returns the record of the token with hash as
	// stored, whatever its state (used, revoked, expired), and changes
	// nothing; ErrRefreshNotFound for an unknown hash. Accounts reads it to
	// learn a token's user before rotating it, so that a failing
	// Config.Claims hook leaves the token unspent.
	RefreshTokenByHash(ctx context.Context, hash []byte) (RefreshToken, error)
	// RevokeRefreshFamily revokes, at now, the family of the token with hash
	// and returns its family id; ErrRefreshNotFound for an unknown hash.
	RevokeRefreshFamily(ctx context.Context, hash []byte, now time.Time) (string, error)
	// RevokeUserRefreshFamilies revokes, at now, every family of username
	// (every session of the user) and returns how many families it revoked
	// that were not revoked before; ErrUserNotFound for an unknown username.
	RevokeUserRefreshFamilies(ctx context.Context, username string, now time.Time) (int64, error)
	// PurgeRefreshTokens deletes every family whose tokens all expired before
	// before, and returns how many tokens it deleted.
	PurgeRefreshTokens(ctx context.Context, before time.Time) (int64, error)
}

// RefreshTokenGraceStore is an optional extension of RefreshTokenStore that
// the refresh-token reuse grace interval needs (Config.RefreshReuseGrace):
// Accounts uses it whenever the store implements it, and New refuses
// a positive grace over a store that does not. adapters/memory,
// adapters/sqlite and adapters/postgres implement it; jwtauth/storetest
// checks it.
type RefreshTokenGraceStore interface {
	RefreshTokenStore
	// RotateRefreshTokenGrace is RotateRefreshToken with two differences.
	//
	// Grace: a token used less than grace before now (now before UsedAt +
	// grace), whose family is not revoked, is exchanged again without any
	// change to the store when next.Hash is the hash of the token that
	// replaced it (its ParentHash is hash) and that successor is neither used
	// nor revoked; the old record is returned as stored (UsedAt is the time
	// of the first exchange) with a nil error. This is how a client's retry of
	// a refresh whose answer it lost gets the same successor instead of
	// opening a second branch of the family. Any other presentation of a used
	// token, including one within grace whose successor was already used, is
	// reuse. A grace of 0 gives RotateRefreshToken's behaviour exactly.
	//
	// Reuse: along with ErrRefreshReused it returns the presented token's
	// record (after the revocation), so the caller can log the family id;
	// RotateRefreshToken returns the zero record.
	//
	// An expired token yields ErrRefreshExpired (nothing changed) also within
	// grace.
	RotateRefreshTokenGrace(ctx context.Context, hash []byte, next RefreshToken, now time.Time, grace time.Duration) (RefreshToken, error)
}

// Store is everything the reference server persists: keys, users and refresh
// tokens, in one database.
type Store interface {
	keys.Store
	UserStore
	RefreshTokenStore
	// Ping reports whether the store is reachable (for /healthz).
	Ping(ctx context.Context) error
	// Close releases the store's resources; later calls fail.
	Close() error
}
