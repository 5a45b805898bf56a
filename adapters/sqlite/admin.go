package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/account"
)

var (
	_ account.UserAdminStore      = (*Store)(nil)
	_ account.ThrottleDeleteStore = (*Store)(nil)
)

// ListUsers returns every user ordered by username, without password
// hashes; deleted users (tombstones) are not listed. It only reads, so it
// works on a store opened with OpenReadOnly.
func (s *Store) ListUsers(ctx context.Context) ([]account.User, error) {
	const op = "list users"
	if err := s.check(ctx, op); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT username, created_at, disabled, last_login_at FROM users ORDER BY username`)
	if err != nil {
		return nil, s.fail(op, err)
	}
	defer rows.Close()
	out := []account.User{}
	for rows.Next() {
		var u account.User
		var created, lastLogin sql.NullInt64
		if err := rows.Scan(&u.Username, &created, &u.Disabled, &lastLogin); err != nil {
			return nil, s.fail(op, err)
		}
		u.CreatedAt, u.LastLoginAt = decTime(created), decTime(lastLogin)
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(op, err)
	}
	return out, nil
}

// SetUserDisabled sets the user's disabled flag; disabling also revokes, in
// the same transaction, every family of the user and its tokens, as
// account.UserAdminStore documents. An error wrapping
// account.ErrUserNotFound for an unknown username.
func (s *Store) SetUserDisabled(ctx context.Context, username string, disabled bool, now time.Time) error {
	op := fmt.Sprintf("set user disabled %q", username)
	nowv, err := encTime(now)
	if err != nil {
		return fmt.Errorf("sqlite: %s: now: %w", op, err)
	}
	return s.write(ctx, op, func(tx *sql.Tx) error {
		if err := userRow(tx.ExecContext(ctx, `UPDATE users SET disabled = ? WHERE username = ?`, disabled, username)); err != nil {
			return err
		}
		if !disabled {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = ? WHERE revoked_at IS NULL AND family_id IN (
				SELECT family_id FROM refresh_families WHERE username = ?)`, nowv, username); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE refresh_families SET revoked_at = ? WHERE username = ? AND revoked_at IS NULL`, nowv, username)
		return err
	})
}

// DeleteUser deletes the user, its families and tokens (the foreign keys
// cascade) and records its tombstone, in one transaction; an error wrapping
// account.ErrUserNotFound for an unknown or deleted username.
func (s *Store) DeleteUser(ctx context.Context, username string, now time.Time) error {
	op := fmt.Sprintf("delete user %q", username)
	nowv, err := encTime(now)
	if err != nil {
		return fmt.Errorf("sqlite: %s: now: %w", op, err)
	}
	return s.write(ctx, op, func(tx *sql.Tx) error {
		if err := userRow(tx.ExecContext(ctx, `DELETE FROM users WHERE username = ?`, username)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO deleted_users (username, deleted_at) VALUES (?, ?)
			ON CONFLICT (username) DO UPDATE SET deleted_at = excluded.deleted_at`, username, nowv)
		return err
	})
}

// RecordLogin sets the user's last login time; an error wrapping
// account.ErrUserNotFound for an unknown username.
func (s *Store) RecordLogin(ctx context.Context, username string, at time.Time) error {
	op := fmt.Sprintf("record login of %q", username)
	atv, err := encTime(at)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	return s.write(ctx, op, func(tx *sql.Tx) error {
		return userRow(tx.ExecContext(ctx, `UPDATE users SET last_login_at = ? WHERE username = ?`, atv, username))
	})
}

// DeleteThrottle implements account.ThrottleDeleteStore.
func (s *Store) DeleteThrottle(ctx context.Context, buckets []account.ThrottleBucket) error {
	return s.write(ctx, "delete throttle", func(tx *sql.Tx) error {
		for _, k := range buckets {
			if _, err := tx.ExecContext(ctx, `DELETE FROM throttle_buckets WHERE kind = ? AND key = ?`, k.Kind, k.Key); err != nil {
				return err
			}
		}
		return nil
	})
}

// userRow is the outcome of a statement on one user's row: its error, or
// account.ErrUserNotFound when it touched no row.
func userRow(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return account.ErrUserNotFound
	}
	return nil
}
