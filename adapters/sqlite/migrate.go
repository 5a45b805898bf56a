package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// migrationFiles holds the schema, one file per version: NNNN_name.sql,
// numbered from 0001 without gaps. A released migration is never edited;
// a schema change is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one step of the schema: applying it sets user_version to version.
type migration struct {
	version int
	name    string
	sql     string
}

// ErrSchemaTooNew is returned by Open when the database was migrated by a
// newer jwtauth than this binary: its PRAGMA user_version is above
// SchemaVersion(). Upgrade the binary; the database is left untouched.
var ErrSchemaTooNew = errors.New("sqlite: database schema is newer than this binary supports")

// migrations are the embedded migrations, checked at init.
var migrations = mustMigrations()

// SchemaVersion returns the schema version (PRAGMA user_version) this
// package migrates a database to.
func SchemaVersion() int { return len(migrations) }

func mustMigrations() []migration {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		panic(err)
	}
	return ms
}

// loadMigrations reads the migrations of fsys, in order, and checks that
// they are numbered 1, 2, 3… without gaps.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	// fs.Glob returns names sorted; the zero-padded prefix sorts numerically.
	out := make([]migration, 0, len(names))
	for i, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v != i+1 {
			return nil, fmt.Errorf("sqlite: migration %s: want prefix %04d_", base, i+1)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, sql: string(b)})
	}
	return out, nil
}

// migrate brings the schema of db up to the newest migration. Each
// migration runs in its own write transaction (BEGIN IMMEDIATE, from the
// DSN's _txlock) together with the user_version bump, and re-reads
// user_version under the lock, so processes opening one file at the same
// time apply each step once. A database newer than the binary fails with
// ErrSchemaTooNew before anything is written.
func migrate(ctx context.Context, db *sql.DB, ms []migration) error {
	current, err := userVersion(ctx, db)
	if err != nil {
		return err
	}
	if err := checkNotTooNew(current, len(ms)); err != nil {
		return err
	}
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		if err := applyMigration(ctx, db, m, len(ms)); err != nil {
			return err
		}
		current = m.version
	}
	return nil
}

func applyMigration(ctx context.Context, db *sql.DB, m migration, known int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migration %s: begin: %w", m.name, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("sqlite: migration %s: read user_version: %w", m.name, err)
	}
	if err := checkNotTooNew(v, known); err != nil {
		return err
	}
	if v >= m.version { // another process applied it meanwhile
		return nil
	}
	if v != m.version-1 {
		return fmt.Errorf("sqlite: migration %s: database at schema version %d, want %d", m.name, v, m.version-1)
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
	}
	// PRAGMA takes no bound parameters; m.version is an int from our own table.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.version)); err != nil {
		return fmt.Errorf("sqlite: migration %s: set user_version: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migration %s: commit: %w", m.name, err)
	}
	return nil
}

func userVersion(ctx context.Context, db *sql.DB) (int, error) {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("sqlite: read user_version: %w", err)
	}
	return v, nil
}

func checkNotTooNew(v, known int) error {
	if v > known {
		return fmt.Errorf("%w: schema version %d, this binary knows up to %d; upgrade jwtauth", ErrSchemaTooNew, v, known)
	}
	return nil
}
