package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jwtauth/jwtauth/jwtauth/account"
)

var (
	_ account.UserAdminStore      = (*Store)(nil)
	_ account.ThrottleDeleteStore = (*Store)(nil)
)

// errTombstone is CreateUser's cause for a name of a deleted user.
var errTombstone = errors.New("the username belonged to a deleted user")

// ListUsers returns every user ordered by username, without password
// hashes; deleted users (tombstones) are not listed. It only reads, so it
// works on a store opened with OpenReadOnly.
func (s *Store) ListUsers(ctx context.Context) ([]account.User, error) {
	var out []account.User
	err := s.read(ctx, "list users", func() error {
		out = []account.User{}
		rows, err := s.pool.Query(ctx, `SELECT username, created_at, disabled, last_login_at FROM users ORDER BY username`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var u account.User
			var created, lastLogin *int64
			if err := rows.Scan(&u.Username, &created, &u.Disabled, &lastLogin); err != nil {
				return err
			}
			u.CreatedAt, u.LastLoginAt = decTime(created), decTime(lastLogin)
			out = append(out, u)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SetUserDisabled sets the user's disabled flag; disabling also revokes, in
// the same transaction, every family of the user (their rows, locked as
// RevokeUserRefreshFamilies locks them, then their tokens), as
// account.UserAdminStore documents. The update locks the user's row, which
// CreateRefreshToken reads FOR SHARE, so a login in progress either stored
// its family before (and it is revoked here) or is refused. An error
// wrapping account.ErrUserNotFound for an unknown username.
func (s *Store) SetUserDisabled(ctx context.Context, username string, disabled bool, now time.Time) error {
	op := fmt.Sprintf("set user disabled %q", username)
	nowv, err := encTime(now)
	if err != nil {
		return fmt.Errorf("postgres: %s: now: %w", op, err)
	}
	return s.write(ctx, op, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET disabled = $2 WHERE username = $1`, username, disabled)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return account.ErrUserNotFound
		}
		if !disabled {
			return nil
		}
		rows, err := tx.Query(ctx, `UPDATE refresh_families SET revoked_at = $2 WHERE username = $1 AND revoked_at IS NULL RETURNING family_id`, username, nowv)
		if err != nil {
			return err
		}
		families, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(families) == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = ANY($1) AND revoked_at IS NULL`, families, nowv)
		return err
	})
}

// DeleteUser deletes the user, its families and tokens (the foreign keys
// cascade) and records its tombstone, in one transaction; an error wrapping
// account.ErrUserNotFound for an unknown or deleted username. See
// CreateUser for why a registration racing it cannot take the name.
func (s *Store) DeleteUser(ctx context.Context, username string, now time.Time) error {
	op := fmt.Sprintf("delete user %q", username)
	nowv, err := encTime(now)
	if err != nil {
		return fmt.Errorf("postgres: %s: now: %w", op, err)
	}
	return s.write(ctx, op, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO deleted_users (username, deleted_at) VALUES ($1, $2)
			ON CONFLICT (username) DO UPDATE SET deleted_at = excluded.deleted_at`, username, nowv); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM users WHERE username = $1`, username)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return account.ErrUserNotFound // rolls the tombstone back
		}
		return nil
	})
}

// RecordLogin sets the user's last login time; an error wrapping
// account.ErrUserNotFound for an unknown username.
func (s *Store) RecordLogin(ctx context.Context, username string, at time.Time) error {
	op := fmt.Sprintf("record login of %q", username)
	atv, err := encTime(at)
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	tag, err := s.exec(ctx, op, `UPDATE users SET last_login_at = $2 WHERE username = $1`, username, atv)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s: %w", op, account.ErrUserNotFound)
	}
	return nil
}

// DeleteThrottle implements account.ThrottleDeleteStore in one statement.
func (s *Store) DeleteThrottle(ctx context.Context, buckets []account.ThrottleBucket) error {
	kinds, keys, _, _ := throttleArgs(buckets)
	return s.statement(ctx, "delete throttle", func() error {
		_, err := s.pool.Exec(ctx, `DELETE FROM throttle_buckets WHERE (kind, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, kinds, keys)
		return err
	})
}
