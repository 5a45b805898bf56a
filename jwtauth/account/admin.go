package account

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/netip"
	"time"
)

// ErrUserAdminUnsupported is the answer of ListUsers, DisableUser,
// EnableUser, DeleteUser and DeleteAccount when Config.Users is not a
// UserAdminStore (an application's own users table, say): *Error
// not_implemented, which the HTTP face answers with 501.
var ErrUserAdminUnsupported = &Error{Code: "not_implemented",
	Description: "the user store does not support listing, disabling or deleting users"}

// The operations of this file that Trace.Operation reports, beside those of
// the login flow.
const (
	opDeleteAccount = "delete_account"
	opDisableUser   = "disable_user"
	opEnableUser    = "enable_user"
	opDeleteUser    = "delete_user"
	opSetPassword   = "set_password"
)

// UserThrottleBucket returns the Kind and Key of username's bucket of the
// login throttle as a ThrottleStore keeps it (Burst and Every are zero), so
// that a tool working on a store directly can delete it
// (ThrottleDeleteStore) with the user.
func UserThrottleBucket(username string) ThrottleBucket {
	sum := sha256.Sum256([]byte(username))
	return ThrottleBucket{Kind: throttleKinds[userBucket], Key: base64.RawURLEncoding.EncodeToString(sum[:])}
}

// admin returns the UserAdminStore of the flow, or ErrUserAdminUnsupported.
func (a *Accounts) admin() (UserAdminStore, error) {
	s, ok := a.users.(UserAdminStore)
	if !ok {
		return nil, ErrUserAdminUnsupported
	}
	return s, nil
}

// ListUsers returns every account, ordered by username, with its CreatedAt,
// Disabled and LastLoginAt (never its password hash); deleted users are not
// listed. Errors: ErrUserAdminUnsupported, or a store failure.
func (a *Accounts) ListUsers(ctx context.Context) ([]User, error) {
	s, err := a.admin()
	if err != nil {
		return nil, err
	}
	var out []User
	err = a.store(ctx, "list users", func(ctx context.Context) (err error) {
		out, err = s.ListUsers(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("jwtauth: list users: %w", err)
	}
	return out, nil
}

// DisableUser disables the account of username (normalized as at login):
// from then on its login answers exactly as a wrong password does (the same
// *Error invalid_credentials after the same password-hash work, charged to
// the throttle), and every refresh-token family of the user is revoked at
// once, so its refresh tokens answer invalid_grant. Access tokens already
// issued stay valid until they expire (Config's issuer TTL): the verifier
// holds no user state. Disabling a disabled user is no error. Errors:
// *Error invalid_request for a malformed username, an error wrapping
// ErrUserNotFound for an unknown one, ErrUserAdminUnsupported, or a store
// failure.
func (a *Accounts) DisableUser(ctx context.Context, username string) error {
	err := a.setDisabled(ctx, username, true)
	a.record(opDisableUser, err)
	return err
}

// EnableUser lets a disabled user log in again; the sessions revoked by
// DisableUser stay revoked. Errors as DisableUser.
func (a *Accounts) EnableUser(ctx context.Context, username string) error {
	err := a.setDisabled(ctx, username, false)
	a.record(opEnableUser, err)
	return err
}

func (a *Accounts) setDisabled(ctx context.Context, username string, disabled bool) error {
	s, err := a.admin()
	if err != nil {
		return err
	}
	name, err := normalizeUsername(username)
	if err != nil {
		return err
	}
	err = a.store(ctx, "set user disabled", func(ctx context.Context) error {
		return s.SetUserDisabled(ctx, name, disabled, a.now().UTC())
	})
	if err != nil {
		return fmt.Errorf("jwtauth: set user disabled: %w", err)
	}
	kind := AuditUserEnabled
	if disabled {
		kind = AuditUserDisabled
	}
	a.log.InfoContext(ctx, "user "+kind[len("user_"):], "user", name)
	a.emit(ctx, AuditEvent{Kind: kind, Username: name})
	return nil
}

// DeleteUser deletes the account of username (normalized as at login): the
// user, its refresh-token families and its bucket of the login throttle go,
// and the name stays reserved (a tombstone), so a later registration of it
// answers user_exists and an access token's sub never names someone else.
// Access tokens already issued stay valid until they expire; a refresh
// answers invalid_grant at once. Errors: *Error invalid_request for a
// malformed username, an error wrapping ErrUserNotFound for an unknown or
// already deleted one, ErrUserAdminUnsupported, or a store failure.
func (a *Accounts) DeleteUser(ctx context.Context, username string) error {
	name, err := normalizeUsername(username)
	if err == nil {
		err = a.deleteUser(ctx, name)
	}
	a.record(opDeleteUser, err)
	return err
}

func (a *Accounts) deleteUser(ctx context.Context, name string) error {
	s, err := a.admin()
	if err != nil {
		return err
	}
	err = a.store(ctx, "delete user", func(ctx context.Context) error {
		return s.DeleteUser(ctx, name, a.now().UTC())
	})
	if err != nil {
		return fmt.Errorf("jwtauth: delete user: %w", err)
	}
	// The account is gone; a bucket left behind only costs space until the
	// next purge, so its failure is logged, not returned.
	if err := a.throttleCall(ctx, "delete user throttle", func(ctx context.Context) error {
		return a.throttle.state.forget(ctx, bucketKey{userBucket, name})
	}); err != nil {
		a.log.WarnContext(ctx, "throttle state of a deleted user not deleted", "user", name, "err", err)
	}
	a.log.InfoContext(ctx, "user deleted", "user", name)
	a.emit(ctx, AuditEvent{Kind: AuditUserDeleted, Username: name})
	return nil
}

// SetPassword sets the password of username (normalized as at login) to
// password, an operator's reset: the password policy applies
// (credential.CheckPassword), the new hash uses the current Argon2 parameters, and
// every refresh-token family of the user is revoked (without a
// RefreshTokenStore there is none). Device tokens of the user stop
// counting (they are keyed by the hash). Errors: *Error invalid_request for
// a malformed username or a password outside the policy, an error wrapping
// ErrUserNotFound for an unknown user, *Error temporarily_unavailable when
// no password-hash slot frees up in time, or a store failure.
func (a *Accounts) SetPassword(ctx context.Context, username, password string) error {
	err := a.setPassword(ctx, username, password)
	a.record(opSetPassword, err)
	return err
}

func (a *Accounts) setPassword(ctx context.Context, username, password string) error {
	name, err := normalizeUsername(username)
	if err != nil {
		return err
	}
	if err := checkPolicy(password); err != nil {
		return err
	}
	hash, err := a.hashNew(ctx, password)
	if err != nil {
		return err
	}
	err = a.store(ctx, "update password hash", func(ctx context.Context) error {
		return a.users.UpdatePasswordHash(ctx, name, hash)
	})
	if err != nil {
		return fmt.Errorf("jwtauth: set password: %w", err)
	}
	var n int64
	if a.refresh != nil {
		err = a.store(ctx, "revoke user refresh families", func(ctx context.Context) (err error) {
			n, err = a.refresh.RevokeUserRefreshFamilies(ctx, name, a.now().UTC())
			return err
		})
		if err != nil {
			return fmt.Errorf("jwtauth: set password: revoke sessions: %w", err)
		}
	}
	a.log.InfoContext(ctx, "password set", "user", name, "families_revoked", n)
	a.emit(ctx, AuditEvent{Kind: AuditPasswordSet, Username: name})
	return nil
}

// DeleteAccount is the self-service deletion of the account of username
// (the sub of the caller's access token) after it proved it knows
// password: DeleteUser once the password is verified as a login verifies it
// (the client's address from ContextWithClient and the username throttled
// as at LoginFrom, a failure charged). Errors: *Error invalid_credentials
// (401) for a wrong password, an unknown or deleted user or a disabled one,
// all alike; *Error too_many_requests (429, with RetryAfter) when
// throttled; *Error temporarily_unavailable (503) when no password-hash
// slot frees up in time; ErrUserAdminUnsupported; or a store failure.
func (a *Accounts) DeleteAccount(ctx context.Context, username, password string) error {
	err := a.deleteAccount(ctx, username, password)
	a.record(opDeleteAccount, err)
	return err
}

func (a *Accounts) deleteAccount(ctx context.Context, username, password string) error {
	if _, err := a.admin(); err != nil {
		return err
	}
	u, err := a.verifyPassword(ctx, username, password)
	if err != nil {
		return err
	}
	return a.deleteUser(ctx, u.Username)
}

// verifyPassword checks that password is username's with the credential
// check of a login without a device token (checkCredentials): the same
// throttles, hash work and padding, and an unknown, malformed or disabled
// user answered as a wrong password (ErrInvalidCredentials). It emits no
// audit event of its own for a failure; the caller's operation is recorded.
func (a *Accounts) verifyPassword(ctx context.Context, username, password string) (User, error) {
	client, _ := ctx.Value(clientKey{}).(netip.Addr)
	name, nerr := normalizeUsername(username)
	if nerr != nil {
		name = ""
	}
	u, _, release, err := a.checkCredentials(ctx, client, name, password, "", a.now(), "")
	if err != nil {
		return User{}, err
	}
	release()
	return u, nil
}

// recordLogin stores the time of username's successful login when the
// store keeps it (UserAdminStore); a failure is logged, the login stands.
func (a *Accounts) recordLogin(ctx context.Context, username string, at time.Time) {
	s, ok := a.users.(UserAdminStore)
	if !ok {
		return
	}
	if err := a.store(ctx, "record login", func(ctx context.Context) error {
		return s.RecordLogin(ctx, username, at.UTC())
	}); err != nil {
		a.log.WarnContext(ctx, "last login time not recorded", "user", username, "err", err)
	}
}
