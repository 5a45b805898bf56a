package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/account/credential"
)

const usersUsage = `Usage:
  jwtauth users list [flags]             the accounts: name, created, last login, disabled
  jwtauth users disable [flags] USERNAME refuse its logins (answered as a wrong
                                         password) and end its sessions now
  jwtauth users enable [flags] USERNAME  let a disabled user log in again
  jwtauth users delete [flags] USERNAME  delete the user and its sessions; the name
                                         stays reserved and is never registered again
  jwtauth users set-password [flags] USERNAME
                                         set the password read from standard input
                                         (one line; never from the command line) and
                                         end every session of the user
  jwtauth users revoke-sessions [flags] USERNAME
                                         end every session of a user: every refresh
                                         token of every login stops working

They work on the store named by --store / JWTAUTH_STORE; list only reads
it. Access tokens already issued stay valid until they expire
(--access-ttl). Run "jwtauth users VERB -h" for the flags.
`

// runUsers is "jwtauth users VERB".
func runUsers(ctx context.Context, args []string, env func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usersUsage)
		return usagef("users: missing subcommand (list, disable, enable, delete, set-password, revoke-sessions)")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "list", "disable", "enable", "delete", "set-password", "revoke-sessions":
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usersUsage)
		return nil
	default:
		fmt.Fprint(stderr, usersUsage)
		return usagef("users: unknown subcommand %q", sub)
	}
	// The same settings as the keys verbs, so one environment serves both.
	synopsis := "users " + sub + " [flags] USERNAME"
	if sub == "list" {
		synopsis = "users list [flags]"
	}
	fs := newFlagSet("users "+sub, synopsis)
	vals := addSettings(fs, false)
	pos, err := parseArgs(fs, args, stdout, stderr)
	if err != nil {
		return err
	}
	var name string
	if sub == "list" {
		if len(pos) != 0 {
			return usagef("users list takes no arguments")
		}
	} else {
		if len(pos) != 1 {
			return usagef("users %s takes exactly one USERNAME", sub)
		}
		if name, err = credential.NormalizeUsername(pos[0]); err != nil {
			return usagef("users %s: %q is not a valid username", sub, pos[0])
		}
	}
	cfg, err := resolveConfig(fs, vals, env)
	if err != nil {
		return err
	}
	if cfg.Store.Kind == storeMemory {
		return usagef("users %s: the memory: store lives inside one server process; point --store at its sqlite: or postgres:// store", sub)
	}
	if sub == "list" {
		// Read-only: never creates or migrates the store.
		ro, err := openStoreReadOnly(ctx, cfg.Store)
		if err != nil {
			return fmt.Errorf("users list: %w", err)
		}
		defer ro.Close()
		return listUsers(ctx, ro, cfg.Store, stdout)
	}
	var password string
	if sub == "set-password" {
		// Before the store is opened: nothing changes without a good password.
		if password, err = readPassword(stdin); err != nil {
			return fmt.Errorf("users set-password: %w", err)
		}
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
	err = usersVerb(ctx, store, sub, name, password, stdout)
	if errors.Is(err, account.ErrUserNotFound) {
		return fmt.Errorf("users %s: no user %q in %s", sub, name, cfg.Store)
	}
	if err != nil {
		return fmt.Errorf("users %s: %w", sub, err)
	}
	return nil
}

// usersVerb runs sub (a verb that changes the store) for name on store.
func usersVerb(ctx context.Context, store account.Store, sub, name, password string, stdout io.Writer) error {
	now := time.Now().UTC()
	admin, ok := store.(account.UserAdminStore)
	if !ok && sub != "revoke-sessions" && sub != "set-password" {
		return fmt.Errorf("the store (%T) cannot disable or delete users", store)
	}
	switch sub {
	case "revoke-sessions":
		n, err := store.RevokeUserRefreshFamilies(ctx, name, now)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %d sessions of %s\n", n, name)
	case "disable", "enable":
		if err := admin.SetUserDisabled(ctx, name, sub == "disable", now); err != nil {
			return err
		}
		if sub == "disable" {
			fmt.Fprintf(stdout, "disabled %s: its logins are refused and its sessions ended; access tokens already issued live until they expire\n", name)
		} else {
			fmt.Fprintf(stdout, "enabled %s\n", name)
		}
	case "delete":
		if err := admin.DeleteUser(ctx, name, now); err != nil {
			return err
		}
		if ts, ok := store.(account.ThrottleDeleteStore); ok {
			if err := ts.DeleteThrottle(ctx, []account.ThrottleBucket{account.UserThrottleBucket(name)}); err != nil {
				return fmt.Errorf("user deleted, its throttle state not: %w", err)
			}
		}
		fmt.Fprintf(stdout, "deleted %s and its sessions; the name stays reserved\n", name)
	case "set-password":
		hash, err := credential.HashPassword(password, credential.DefaultArgon2Params)
		if err != nil {
			return err
		}
		if err := store.UpdatePasswordHash(ctx, name, hash); err != nil {
			return err
		}
		n, err := store.RevokeUserRefreshFamilies(ctx, name, now)
		if err != nil {
			return fmt.Errorf("password set, sessions not revoked: %w", err)
		}
		fmt.Fprintf(stdout, "set the password of %s and revoked %d sessions\n", name, n)
	}
	return nil
}

// maxPasswordInput bounds what set-password reads from standard input.
const maxPasswordInput = 4 * credential.MaxPasswordLength * 4

// readPassword reads the new password from r: its first line, without the
// line ending, checked against the password policy.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReaderSize(io.LimitReader(r, maxPasswordInput), 4096).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("no password on standard input (pipe it in, one line)")
	}
	if err := credential.CheckPassword(line); err != nil {
		return "", err // its text names the rule, never the password
	}
	return line, nil
}

// listUsers prints the users of store, one per line.
func listUsers(ctx context.Context, store account.Store, where storeConfig, w io.Writer) error {
	admin, ok := store.(account.UserAdminStore)
	if !ok {
		return fmt.Errorf("users list: the store (%T) cannot list users", store)
	}
	users, err := admin.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("users list: read %s: %w", where, err)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCREATED\tLAST LOGIN\tDISABLED")
	for _, u := range users {
		disabled := "no"
		if u.Disabled {
			disabled = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Username, stamp(u.CreatedAt), stamp(u.LastLoginAt), disabled)
	}
	return tw.Flush()
}
