package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/account"
)

const usersUsage = `Usage:
  jwtauth users revoke-sessions [flags] USERNAME
                                         end every session of a user: every refresh
                                         token of every login stops working

It works on the store named by --store / JWTAUTH_STORE. Access tokens
already issued stay valid until they expire (--access-ttl). Run
"jwtauth users revoke-sessions -h" for the flags.
`

// runUsers is "jwtauth users revoke-sessions".
func runUsers(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usersUsage)
		return usagef("users: missing subcommand (revoke-sessions)")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "revoke-sessions":
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usersUsage)
		return nil
	default:
		fmt.Fprint(stderr, usersUsage)
		return usagef("users: unknown subcommand %q", sub)
	}
	// The same settings as the keys verbs, so one environment serves both.
	fs := newFlagSet("users "+sub, "users revoke-sessions [flags] USERNAME")
	vals := addSettings(fs, false)
	pos, err := parseArgs(fs, args, stdout, stderr)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("users revoke-sessions takes exactly one USERNAME")
	}
	name, err := account.NormalizeUsername(pos[0])
	if err != nil {
		return usagef("users revoke-sessions: %q is not a valid username", pos[0])
	}
	cfg, err := resolveConfig(fs, vals, env)
	if err != nil {
		return err
	}
	if cfg.Store.Kind == storeMemory {
		return usagef("users %s: the memory: store lives inside one server process; point --store at its sqlite: or postgres:// store", sub)
	}
	if cfg.Store.Kind == storeSQLite {
		// Opening a SQLite path creates the file: a mistyped --store would
		// report "no such user" from a new, empty store.
		if _, err := os.Stat(cfg.Store.Path); err != nil {
			return fmt.Errorf("users %s: no store at %s (%w); check --store", sub, cfg.Store, err)
		}
	}
	store, err := openStore(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer store.Close()
	n, err := store.RevokeUserRefreshFamilies(ctx, name, time.Now().UTC())
	if errors.Is(err, account.ErrUserNotFound) {
		return fmt.Errorf("users %s: no user %q in %s", sub, name, cfg.Store)
	}
	if err != nil {
		return fmt.Errorf("users %s: %w", sub, err)
	}
	fmt.Fprintf(stdout, "revoked %d sessions of %s\n", n, name)
	return nil
}
