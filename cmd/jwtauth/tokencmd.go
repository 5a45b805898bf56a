package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/lestrrat-go/jwx/v3/jws"
)

const tokenUsage = `Usage:
  jwtauth token inspect TOKEN|-          decode a token WITHOUT verifying it ("-" reads stdin)
  jwtauth token verify --jwks URL|--issuer URL [--audience A] TOKEN
                                         verify a token (not implemented yet)
`

// notVerified is the line "token inspect" always prints.
const notVerified = "NOT VERIFIED: signature and claims were not checked"

// maxInspectInput bounds what "token inspect -" reads; tokens of the server
// are at most jwtauth.MaxTokenSize.
const maxInspectInput = 1 << 20

// runToken is "jwtauth token inspect|verify" (SPEC §4).
func runToken(_ context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, tokenUsage)
		return usagef("token: missing subcommand (inspect or verify)")
	}
	switch sub, args := args[0], args[1:]; sub {
	case "inspect":
		fs := newFlagSet("token inspect", "token inspect TOKEN|-")
		pos, err := parseArgs(fs, args, stdout, stderr)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usagef("token inspect takes exactly one TOKEN, or - to read it from stdin")
		}
		raw := pos[0]
		if raw == "-" {
			b, err := io.ReadAll(io.LimitReader(stdin, maxInspectInput+1))
			if err != nil {
				return fmt.Errorf("token inspect: read stdin: %w", err)
			}
			if len(b) > maxInspectInput {
				return fmt.Errorf("token inspect: input over %d bytes", maxInspectInput)
			}
			raw = string(b)
		}
		return inspectToken(strings.TrimSpace(raw), stdout)
	case "verify":
		return usagef("token verify is not implemented yet")
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, tokenUsage)
		return nil
	default:
		fmt.Fprint(stderr, tokenUsage)
		return usagef("token: unknown subcommand %q", sub)
	}
}

// inspectToken decodes a compact JWS with jwx, without checking its
// signature or claims, and prints {"header":…,"claims":…} as indented JSON
// followed by the notVerified line.
func inspectToken(raw string, w io.Writer) error {
	if raw == "" {
		return usagef("token inspect: empty token")
	}
	msg, err := jws.Parse([]byte(raw), jws.WithCompact())
	if err != nil {
		return fmt.Errorf("token inspect: not a compact JWS: %w", err)
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 {
		return fmt.Errorf("token inspect: want one signature, got %d", len(sigs))
	}
	header, err := json.Marshal(sigs[0].ProtectedHeaders())
	if err != nil {
		return fmt.Errorf("token inspect: header: %w", err)
	}
	claims := msg.Payload()
	if !json.Valid(claims) {
		return errors.New("token inspect: the payload is not JSON, so this is not a JWT")
	}
	doc, err := json.Marshal(struct {
		Header json.RawMessage `json:"header"`
		Claims json.RawMessage `json:"claims"`
	}{header, claims})
	if err != nil {
		return fmt.Errorf("token inspect: %w", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, doc, "", "  "); err != nil {
		return fmt.Errorf("token inspect: %w", err)
	}
	out.WriteByte('\n')
	if len(raw) > jwtauth.MaxTokenSize {
		fmt.Fprintf(&out, "note: the token is %d bytes; verifiers of this module refuse tokens over %d\n", len(raw), jwtauth.MaxTokenSize)
	}
	out.WriteString(notVerified + "\n")
	_, err = w.Write(out.Bytes())
	return err
}
