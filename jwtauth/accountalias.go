package jwtauth

import (
	"github.com/jwtauth/jwtauth/jwtauth/account"
)

// The account flow lives in jwtauth/account. These names stay here for now
// so that code written against the face keeps compiling;
// docs/migration-draft.md lists each move.

// Types of the account flow and its store ports (see package account).
type (
	Accounts               = account.Accounts
	AccountsConfig         = account.Config
	TokenResponse          = account.TokenResponse
	AuditEvent             = account.AuditEvent
	LoginThrottle          = account.LoginThrottle
	Argon2Params           = account.Argon2Params
	Store                  = account.Store
	UserStore              = account.UserStore
	User                   = account.User
	RefreshToken           = account.RefreshToken
	RefreshTokenStore      = account.RefreshTokenStore
	RefreshTokenGraceStore = account.RefreshTokenGraceStore
	ThrottleStore          = account.ThrottleStore
	ThrottleBucket         = account.ThrottleBucket
)

// Constants of the account flow (see package account).
const (
	MaxUsernameLength       = account.MaxUsernameLength
	MinPasswordLength       = account.MinPasswordLength
	MaxPasswordLength       = account.MaxPasswordLength
	DefaultRefreshTTL       = account.DefaultRefreshTTL
	DefaultRefreshFamilyTTL = account.DefaultRefreshFamilyTTL
	MinRefreshSecretLength  = account.MinRefreshSecretLength
	AuditRegister           = account.AuditRegister
	AuditLogin              = account.AuditLogin
	AuditLoginFailed        = account.AuditLoginFailed
	AuditRefresh            = account.AuditRefresh
	AuditRefreshReuse       = account.AuditRefreshReuse
	AuditLogout             = account.AuditLogout
	DefaultUserFailures     = account.DefaultUserFailures
	DefaultUserInterval     = account.DefaultUserInterval
	DefaultIPFailures       = account.DefaultIPFailures
	DefaultIPInterval       = account.DefaultIPInterval
	DefaultRegistrations    = account.DefaultRegistrations
	DefaultRegisterInterval = account.DefaultRegisterInterval
	DefaultDeviceTokenTTL   = account.DefaultDeviceTokenTTL
	DefaultMaxTracked       = account.DefaultMaxTracked
	DefaultHashWait         = account.DefaultHashWait
	DefaultHashQueue        = account.DefaultHashQueue
)

// Variables of the account flow: the store ports' errors and the default
// password-hash parameters (see package account).
var (
	ErrUserExists        = account.ErrUserExists
	ErrUserNotFound      = account.ErrUserNotFound
	ErrRefreshNotFound   = account.ErrRefreshNotFound
	ErrRefreshReused     = account.ErrRefreshReused
	ErrRefreshExpired    = account.ErrRefreshExpired
	ErrStoreUnavailable  = account.ErrStoreUnavailable
	ErrUnknownHashFormat = account.ErrUnknownHashFormat
	DefaultArgon2Params  = account.DefaultArgon2Params
)

// NewAccounts is account.New.
func NewAccounts(cfg AccountsConfig) (*Accounts, error) { return account.New(cfg) }

// NormalizeUsername is account.NormalizeUsername.
func NormalizeUsername(s string) (string, error) { return account.NormalizeUsername(s) }

// CheckPassword is account.CheckPassword.
func CheckPassword(p string) error { return account.CheckPassword(p) }

// HashPassword is account.HashPassword.
func HashPassword(password string, p Argon2Params) (string, error) {
	return account.HashPassword(password, p)
}

// VerifyPassword is account.VerifyPassword.
func VerifyPassword(hash, password string, p Argon2Params) (ok, needsRehash bool, err error) {
	return account.VerifyPassword(hash, password, p)
}
