package account

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/account/credential"
	"github.com/jwtauth/jwtauth/jwtauth/internal/errfmt"
)

// The kinds of AuditEvent that ChangePassword emits.
const (
	// AuditPasswordChange: a password was changed; FamilyID is the new
	// session's family, every other family of the user was revoked.
	AuditPasswordChange = "password_change"
	// AuditPasswordChangeFailed: a password change was refused after the
	// throttle was consulted; Reason as for AuditLoginFailed.
	AuditPasswordChangeFailed = "password_change_failed"
)

// opChangePassword is the Trace.Operation of ChangePassword.
const opChangePassword = "change_password"

// ChangePassword replaces the password of username (normalized as at
// login; the subject of the caller's access token, which alone decides
// whose password changes) after checking current, its password now, and
// issues a new session: an access token, a fresh device token and, when
// refresh tokens are enabled, a refresh token starting a new family (the
// same TokenResponse as a login). Every other refresh-token family of the
// user is revoked, and the device tokens issued before stop counting
// (their MAC is keyed by the stored hash, see LoginThrottle). Access tokens
// already issued stay valid until they expire.
//
// next must pass credential.CheckPassword; that is checked first, so a refused new
// password spends no throttle token and hashes nothing. current is
// verified as LoginWithDevice verifies a password, with the client address
// of ctx (ContextWithClient; the zero Addr when unset) and no device
// token: the same throttle buckets (the address's and the username's), the
// same password-hash slots and the same timing whether the user exists or
// not. The change is made in this order: the user's families are revoked,
// the new hash is stored, the families are revoked again (a login that
// checked the old password meanwhile loses its session), then the new
// session is issued; a failure at one step leaves the earlier ones done
// and is safe to retry (with the new password once the hash was stored).
//
// Errors: *Error invalid_request (a malformed username, a new password
// outside the policy), *Error invalid_credentials (401: a wrong current
// password, or no such user), *Error too_many_requests (429, with
// RetryAfter) when the address or the username has too many recent
// failures, *Error temporarily_unavailable (503) when no hash slot frees
// up in time, or a failure of the store, the signing key or the Claims
// hook. The outcome is reported to Config.Trace as operation
// "change_password" and to Config.Audit as AuditPasswordChange or
// AuditPasswordChangeFailed.
func (a *Accounts) ChangePassword(ctx context.Context, username, current, next string) (*TokenResponse, error) {
	resp, err := a.changePassword(ctx, username, current, next)
	a.record(opChangePassword, err)
	return resp, err
}

func (a *Accounts) changePassword(ctx context.Context, username, current, next string) (*TokenResponse, error) {
	name, err := normalizeUsername(username)
	if err != nil {
		return nil, err
	}
	if err := checkPolicy(next); err != nil {
		return nil, err
	}
	// Change nothing that a new session cannot follow.
	if err := a.issuer.Ready(); err != nil {
		return nil, fmt.Errorf("jwtauth: change password: signing key: %w", err)
	}
	client, _ := ctx.Value(clientKey{}).(netip.Addr)
	now := a.now()
	u, _, release, err := a.checkCredentials(ctx, client, name, current, "", now, AuditPasswordChangeFailed)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*TokenResponse, error) {
		a.emit(ctx, AuditEvent{Kind: AuditPasswordChangeFailed, Username: u.Username, Client: client, Reason: "unavailable"})
		return nil, err
	}
	// The new hash takes the slot the verification held.
	start := time.Now()
	hash, err := credential.HashPassword(next, a.argon)
	a.hashDone(start)
	release()
	if err != nil {
		return fail(fmt.Errorf("jwtauth: change password: %w", err))
	}
	if err := a.revokeAll(ctx, u.Username); err != nil {
		return fail(err)
	}
	err = a.store(ctx, "update password hash", func(ctx context.Context) error {
		return a.users.UpdatePasswordHash(ctx, u.Username, hash)
	})
	if errors.Is(err, ErrUserNotFound) {
		// Deleted since the check: as if it had not existed.
		a.emit(ctx, AuditEvent{Kind: AuditPasswordChangeFailed, Client: client, Reason: "invalid_credentials"})
		return nil, ErrInvalidCredentials
	}
	if err != nil {
		return fail(fmt.Errorf("jwtauth: change password: %w", err))
	}
	a.log.InfoContext(ctx, "password changed", "user", u.Username, "client", client)
	if err := a.revokeAll(ctx, u.Username); err != nil {
		return fail(err)
	}
	deviceToken, err := newDeviceToken(hash, u.Username, now)
	if err != nil {
		return fail(fmt.Errorf("jwtauth: change password: device token: %w", err))
	}
	tok, err := a.sign(ctx, u.Username)
	if err != nil {
		return fail(errfmt.Errorf("jwtauth: change password: %w", err))
	}
	resp, family, err := a.issue(ctx, tok, "", "", "change password", "client", client)
	if err != nil {
		return fail(err)
	}
	resp.DeviceToken = deviceToken
	a.emit(ctx, AuditEvent{Kind: AuditPasswordChange, Username: u.Username, Client: client, FamilyID: family})
	return resp, nil
}

// revokeAll revokes every refresh-token family of username, a user that
// exists; nothing without a RefreshTokenStore.
func (a *Accounts) revokeAll(ctx context.Context, username string) error {
	if a.refresh == nil {
		return nil
	}
	var n int64
	err := a.store(ctx, "revoke user refresh families", func(ctx context.Context) (err error) {
		n, err = a.refresh.RevokeUserRefreshFamilies(ctx, username, a.now().UTC())
		return err
	})
	if err != nil && !errors.Is(err, ErrUserNotFound) {
		return fmt.Errorf("jwtauth: change password: revoke sessions: %w", err)
	}
	if n > 0 {
		a.log.InfoContext(ctx, "sessions revoked", "user", username, "families", n)
	}
	return nil
}
