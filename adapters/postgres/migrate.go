package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationFiles holds the schema, one file per version: NNNN_name.sql,
// numbered from 0001 without gaps. A released migration is never edited; a
// schema change is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one step of the schema.
type migration struct {
	version int
	name    string
	sql     string
}

// ErrSchemaTooNew is returned by Open when the database was migrated by a
// newer jwtauth than this binary: its highest applied migration is above
// SchemaVersion(). Upgrade the binary; the database is left untouched.
var ErrSchemaTooNew = errors.New("postgres: database schema is newer than this binary supports")

// versionTable records the applied migrations, one row each.
const versionTable = "jwtauth_schema_migrations"

// migrateLockKey is the pg_advisory_xact_lock key that serializes migrations
// of every jwtauth instance on one database ("jwtauth" in ASCII).
const migrateLockKey int64 = 0x6a77746175746801

// migrations are the embedded migrations, checked at init.
var migrations = mustMigrations()

// SchemaVersion returns the schema version (the highest migration number)
// this package migrates a database to.
func SchemaVersion() int { return len(migrations) }

func mustMigrations() []migration {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		panic(err)
	}
	return ms
}

// loadMigrations reads the migrations of fsys, in order, and checks that they
// are numbered 1, 2, 3… without gaps.
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
			return nil, fmt.Errorf("postgres: migration %s: want prefix %04d_", base, i+1)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, sql: string(b)})
	}
	return out, nil
}

// migrate brings the schema up to the newest of ms. A database already at
// the newest version is only read (so a role without CREATE privilege can
// run a binary whose schema an owner role installed). Otherwise every
// pending migration runs in one transaction that first takes
// pg_advisory_xact_lock(migrateLockKey) and re-reads the version under it:
// of several instances starting at once, one migrates and the others find
// the work done. PostgreSQL's DDL is transactional, so a failed migration
// leaves the schema as it was. A schema newer than ms fails with
// ErrSchemaTooNew before anything is written.
func migrate(ctx context.Context, pool *pgxpool.Pool, ms []migration) error {
	current, err := schemaVersion(ctx, pool)
	if err != nil {
		return err
	}
	if err := checkNotTooNew(current, len(ms)); err != nil {
		return err
	}
	if current == len(ms) {
		return nil
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLockKey); err != nil {
			return fmt.Errorf("lock for migration: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+versionTable+` (
			version    INTEGER     PRIMARY KEY,
			name       TEXT        NOT NULL,
			applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("create %s: %w", versionTable, err)
		}
		v, err := schemaVersion(ctx, tx)
		if err != nil {
			return err
		}
		if err := checkNotTooNew(v, len(ms)); err != nil {
			return err
		}
		for _, m := range ms {
			if m.version <= v { // applied, possibly by another instance meanwhile
				continue
			}
			// No arguments: pgx sends the file with the simple protocol, which
			// runs several statements.
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO `+versionTable+` (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return fmt.Errorf("migration %s: record version: %w", m.name, err)
			}
		}
		return nil
	})
}

// querier is what schemaVersion needs of a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// schemaVersion returns the highest applied migration, 0 for a database
// jwtauth never migrated (no version table on the search_path).
func schemaVersion(ctx context.Context, q querier) (int, error) {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, versionTable).Scan(&exists); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := q.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+versionTable).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

func checkNotTooNew(v, known int) error {
	if v > known {
		return fmt.Errorf("%w: schema version %d, this binary knows up to %d; upgrade jwtauth", ErrSchemaTooNew, v, known)
	}
	return nil
}
