// Command jwtauth is the reference auth server of the jwtauth module and the
// operator's tool for its key set.
//
// Usage:
//
//	jwtauth serve [flags]                  run the auth server (SPEC §2)
//	jwtauth keys list [flags]              show the key set
//	jwtauth keys rotate [--now] [flags]    promote the next key
//	jwtauth keys revoke [--promote-next] [flags] KID
//	                                       revoke a compromised key at once
//	jwtauth users list [flags]             the accounts
//	jwtauth users disable|enable|delete|set-password [flags] USERNAME
//	                                       manage an account
//	jwtauth users revoke-sessions [flags] USERNAME
//	                                       end every session of a user
//	jwtauth token inspect TOKEN|-          decode a token without verifying it
//	jwtauth token verify --jwks URL|--issuer URL [--audience A] TOKEN|-
//	jwtauth version                        module version, VCS revision, Go version
//
// Every setting is a flag and a JWTAUTH_* environment variable; the flag
// wins. Run "jwtauth serve -h" for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const usageText = `jwtauth — JWT authentication with RS256 signatures from a rotating RSA key set

Usage:
  jwtauth serve [flags]                  run the reference auth server
  jwtauth keys list [flags]              show the key set (no private material)
  jwtauth keys rotate [--now] [flags]    promote the published next key
  jwtauth keys revoke [--promote-next] [flags] KID
                                         revoke a compromised key at once
  jwtauth users list [flags]             the accounts: name, created, last login, disabled
  jwtauth users disable|enable|delete|set-password [flags] USERNAME
                                         manage an account (set-password reads stdin)
  jwtauth users revoke-sessions [flags] USERNAME
                                         end every session (refresh token) of a user
  jwtauth token inspect TOKEN|-          decode a token WITHOUT verifying it
  jwtauth token verify --jwks URL|--issuer URL [--audience A] TOKEN|-
  jwtauth version                        the module version, VCS revision and Go version
  jwtauth help                           show this help

Every setting is a flag and an environment variable (the flag wins), e.g.
--store / JWTAUTH_STORE. Run "jwtauth serve -h" or "jwtauth keys list -h"
for the flags of a verb.
`

// exitCode returns the process exit status for run's error: 0 for nil or a
// help request, 2 for a usage error, 1 otherwise.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		return 2
	}
	return 1
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second SIGINT/SIGTERM during the graceful shutdown kills the process
	}()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "jwtauth:", err)
	}
	stop()
	os.Exit(exitCode(err))
}

// run executes the command line args (without the program name). env reads
// the environment; stdin feeds "token inspect -". Errors are meant to be
// printed once by the caller; see exitCode for the exit status.
func run(ctx context.Context, args []string, env func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return usagef("no command given")
	}
	switch verb, rest := args[0], args[1:]; verb {
	case "serve":
		return runServe(ctx, rest, env, stdout, stderr)
	case "keys":
		return runKeys(ctx, rest, env, stdout, stderr)
	case "users":
		return runUsers(ctx, rest, env, stdin, stdout, stderr)
	case "token":
		return runToken(ctx, rest, stdin, stdout, stderr)
	case "version", "-version", "--version":
		return runVersion(rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usageText)
		return nil
	default:
		fmt.Fprint(stderr, usageText)
		return usagef("unknown command %q", verb)
	}
}

// newFlagSet returns a FlagSet for a verb; parseArgs prints its usage.
func newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parseArgs reports errors and prints usage once
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: jwtauth %s\n", synopsis)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprint(fs.Output(), "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseArgs parses flags placed before, between or after the positional
// arguments, which it returns. "-h" prints the usage to stdout and returns
// flag.ErrHelp; a bad flag prints the usage to stderr and returns a usage
// error.
func parseArgs(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(stdout)
				fs.Usage()
				return nil, flag.ErrHelp
			}
			fs.SetOutput(stderr)
			fs.Usage()
			return nil, &usageError{err}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
