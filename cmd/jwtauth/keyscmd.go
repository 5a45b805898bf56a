package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/jwtauth/jwtauth/adapters/postgres"
	"github.com/jwtauth/jwtauth/adapters/sqlite"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/keys"
)

const keysUsage = `Usage:
  jwtauth keys list [flags]              show the key set (no private material)
  jwtauth keys rotate [--now] [flags]    promote the published next key
  jwtauth keys revoke [--promote-next] [flags] KID
                                         revoke a compromised key at once; a
                                         fresh key signs if it was active

They work on the store named by --store / JWTAUTH_STORE (list opens it
read-only; none of them creates a store); a running server picks the change
up within seconds. They make only the change asked for, never a scheduled
rotation or removal (the servers do those). They follow the rotation policy
the servers stored with the key set, not their own settings: rotate judges
whether the next key may sign yet by the servers' --prepublish, and a key it
retires leaves the JWKS after the servers' retention (--access-ttl + 30s
leeway + --jwks-max-age). Run "jwtauth keys list -h" for the flags.
`

// runKeys is "jwtauth keys list|rotate|revoke" (SPEC §4).
func runKeys(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return usagef("keys: missing subcommand (list, rotate or revoke)")
	}
	sub, args := args[0], args[1:]
	var synopsis string
	switch sub {
	case "list":
		synopsis = "keys list [flags]"
	case "rotate":
		synopsis = "keys rotate [--now] [flags]"
	case "revoke":
		synopsis = "keys revoke [--promote-next] [flags] KID"
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, keysUsage)
		return nil
	default:
		fmt.Fprint(stderr, keysUsage)
		return usagef("keys: unknown subcommand %q", sub)
	}
	fs := newFlagSet("keys "+sub, synopsis)
	vals := addSettings(fs, false)
	now, promoteNext := false, false
	if sub == "rotate" {
		fs.BoolVar(&now, "now", false, "promote the next key at once even if it was published for less than --prepublish (cached verifiers may meet an unknown kid)")
	}
	if sub == "revoke" {
		fs.BoolVar(&promoteNext, "promote-next", false, "when revoking the active key, promote the pre-published next key instead of a fresh one: verifiers that refetch the JWKS on an unknown kid then keep the revoked key until their cache expires (use only for verifiers that never refetch on an unknown kid)")
	}
	pos, err := parseArgs(fs, args, stdout, stderr)
	if err != nil {
		return err
	}
	switch {
	case sub == "revoke" && len(pos) != 1:
		return usagef("keys revoke takes exactly one KID (see jwtauth keys list; put -- before a KID that starts with -)")
	case sub != "revoke" && len(pos) != 0:
		return usagef("keys %s takes no arguments, got %q", sub, pos)
	}
	cfg, err := resolveConfig(fs, vals, env)
	if err != nil {
		return err
	}
	if cfg.Store.Kind == storeMemory {
		return usagef("keys %s: the memory: store lives inside one server process; point --store at its sqlite: or postgres:// store", sub)
	}
	// The store belongs to the servers: read it read-only first, so that a
	// mistyped --store (a missing or empty file, an empty database) is
	// refused with nothing created; list never opens it for writing.
	ro, err := openStoreReadOnly(ctx, cfg.Store)
	if err != nil {
		return fmt.Errorf("keys %s: %w", sub, err)
	}
	recs, _, err := ro.LoadKeys(ctx)
	switch {
	case err != nil:
		ro.Close()
		return fmt.Errorf("keys %s: read %s: %w", sub, cfg.Store, err)
	case len(recs) == 0:
		ro.Close()
		return fmt.Errorf("keys %s: %s holds no key set; run `jwtauth serve` on it first or check --store", sub, cfg.Store)
	case sub == "list":
		defer ro.Close()
		return listKeys(recs, stdout)
	case cfg.KeyEncryptionKey != nil && !recs[0].IsSealed():
		ro.Close()
		// Sealing here would lock out the servers running without the key.
		return fmt.Errorf("keys %s: the keys in %s are stored in clear, and the keys verbs do not change that: start the servers with the same --key-encryption-key to seal them, or leave it out here", sub, cfg.Store)
	}
	ro.Close()
	store, err := openStore(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer store.Close()

	log := slog.New(slog.NewTextHandler(stderr, nil))
	if cfg.KeyEncryptionKey == nil {
		log.Warn("no key-encryption key: private signing keys are stored in clear; set --key-encryption-key or JWTAUTH_KEY_ENCRYPTION_KEY")
	}
	// NoSchedule: the store belongs to the servers, whose settings this
	// command need not share; it performs the one change it was asked for
	// and leaves the schedule to them. It follows the policy the servers
	// stored with the key set (keys.ScheduleStore), its own settings only
	// when none did: whether the next key may sign yet (their --prepublish),
	// and when a key it retires leaves the JWKS (their retention).
	mgr, err := keys.Open(ctx, keys.Config{Store: store, Policy: cfg.Policy(), KeyEncryptionKey: cfg.KeyEncryptionKey, Logger: log, NoSchedule: true})
	if err != nil {
		return fmt.Errorf("open key set in %s: %w", cfg.Store, err)
	}
	if sub == "rotate" {
		return rotateKeys(ctx, mgr, serversSchedule(ctx, store), now, stdout, stderr)
	}
	return revokeKey(ctx, mgr, pos[0], keys.RevokeOptions{PromoteNext: promoteNext}, stdout, stderr)
}

// listKeys prints the stored key set as a table, as read from the store:
// no private key. A next key whose promotion was requested (keys rotate
// without --now) shows "due <time>" under ACTIVATED: it does not sign yet.
func listKeys(recs []keys.Record, w io.Writer) error {
	order := map[keys.State]int{keys.StateActive: 0, keys.StateNext: 1, keys.StateRetired: 2, keys.StateRevoked: 3}
	sort.SliceStable(recs, func(i, j int) bool {
		if a, b := order[recs[i].State], order[recs[j].State]; a != b {
			return a < b
		}
		return recs[i].CreatedAt.After(recs[j].CreatedAt)
	})
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tSTATE\tBITS\tCREATED\tPUBLISHED\tACTIVATED\tRETIRED\tREMOVE-AT\tREVOKED")
	for _, r := range recs {
		activated := stamp(r.ActivatedAt)
		if r.State == keys.StateNext && !r.ActivatedAt.IsZero() {
			activated = "due " + activated
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.KID, r.State, r.Bits,
			stamp(r.CreatedAt), stamp(r.PublishedAt), activated, stamp(r.RetiredAt), stamp(r.RemoveAt), stamp(r.RevokedAt))
	}
	return tw.Flush()
}

// stamp formats t in UTC, RFC 3339, or "-" for the zero time.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// rotateKeys promotes the next key. Without force, while the next key has
// been public for less than the pre-publication lead, it stores the request
// (the servers' schedule promotes the key then) and says when: a recorded
// request is a success.
func rotateKeys(ctx context.Context, mgr *keys.Manager, fromServers bool, force bool, stdout, stderr io.Writer) error {
	res, err := mgr.Rotate(ctx, force)
	if errors.Is(err, keys.ErrNotPrepublished) {
		source := "the servers' --prepublish"
		if !fromServers {
			source = "--prepublish (no server stored its own)"
		}
		fmt.Fprintf(stdout, "next: %s\npromotion scheduled: %s (in %s), when it has been published for %s %s; the running servers promote it then (--now promotes it at once)\n",
			res.Next, stamp(res.PromoteAt), time.Until(res.PromoteAt).Round(time.Second), source, mgr.Policy().Prepublish)
		return nil
	}
	if err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	if force {
		fmt.Fprintln(stderr, "warning: forced rotation: verifiers whose cached JWKS predates the new key may meet an unknown kid until they refresh it")
	}
	fmt.Fprintf(stdout, "active: %s\n", res.Promoted)
	if res.Retired != "" {
		fmt.Fprintf(stdout, "retired: %s\n", res.Retired)
	}
	fmt.Fprintf(stdout, "next: %s\n", res.Next)
	return nil
}

// serversSchedule reports whether the servers stored their schedule in store.
func serversSchedule(ctx context.Context, store keys.Store) bool {
	ss, ok := store.(keys.ScheduleStore)
	if !ok {
		return false
	}
	stored, err := ss.LoadSchedule(ctx)
	return err == nil && !stored.IsZero()
}

// openStoreReadOnly opens the store cfg names without creating or changing
// anything; a missing store is reported as such.
func openStoreReadOnly(ctx context.Context, cfg storeConfig) (account.Store, error) {
	noStore := func(err error) error {
		return fmt.Errorf("no store at %s (%w); run `jwtauth serve` on it first or check --store", cfg, err)
	}
	switch cfg.Kind {
	case storeSQLite:
		if _, err := os.Stat(cfg.Path); err != nil {
			return nil, noStore(err)
		}
		s, err := sqlite.OpenReadOnly(ctx, cfg.Path)
		if errors.Is(err, sqlite.ErrNoSchema) {
			return nil, noStore(err)
		}
		return s, err
	case storePostgres:
		s, err := postgres.OpenReadOnly(ctx, cfg.Path)
		if errors.Is(err, postgres.ErrNoSchema) {
			return nil, noStore(err)
		}
		return s, err
	}
	return nil, fmt.Errorf("open store: unknown kind %q", cfg.Kind)
}

// revokeKey revokes kid and says which key signs afterwards, and whether
// it is a fresh one (SPEC §3), and which key is next.
func revokeKey(ctx context.Context, mgr *keys.Manager, kid string, opts keys.RevokeOptions, stdout, stderr io.Writer) error {
	res, err := mgr.RevokeWith(ctx, kid, opts)
	if err != nil {
		if errors.Is(err, keys.ErrUnknownKey) {
			return fmt.Errorf("revoke: no key %q in the key set (see jwtauth keys list)", kid)
		}
		return fmt.Errorf("revoke: %w", err)
	}
	fmt.Fprintf(stdout, "revoked: %s\n", res.Revoked)
	switch {
	case res.Fresh:
		fmt.Fprintf(stdout, "active: %s (fresh: no verifier has cached it, so verifiers that refetch the JWKS on an unknown kid reload it at its first token and drop the revoked key)\n", res.Active)
		fmt.Fprintln(stderr, "note: verifiers that never refetch the JWKS on an unknown kid reject new tokens until their cached JWKS expires (--promote-next avoids that, but then verifiers keep the revoked key until their cache expires)")
	case res.Promoted != "":
		fmt.Fprintf(stdout, "active: %s (the pre-published next key)\n", res.Promoted)
		fmt.Fprintln(stderr, "warning: --promote-next: every verifier already has the new signing key, so none refetches the JWKS for it; each keeps accepting tokens of the revoked key until its cached JWKS expires (go-oidc until the next rotation)")
	case res.Active != "":
		fmt.Fprintf(stdout, "active: %s\n", res.Active)
	}
	fmt.Fprintf(stdout, "next: %s\n", res.Next)
	return nil
}
