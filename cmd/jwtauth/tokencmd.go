package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/jwtauth/jwtauth/jwtauth/remote"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/lestrrat-go/jwx/v3/jws"
)

const tokenUsage = `Usage:
  jwtauth token inspect TOKEN|-          decode a token WITHOUT verifying it ("-" reads stdin)
  jwtauth token verify --jwks URL|--issuer URL [--audience A] [--insecure-http] TOKEN|-
                                         verify a token against a remote JWKS or
                                         OIDC issuer (https, or http on a loopback
                                         host); print its header and claims
`

// notVerified is the line "token inspect" always prints.
const notVerified = "NOT VERIFIED: signature and claims were not checked"

// maxInspectInput bounds what "token inspect -" reads; tokens of the server
// are at most token.MaxTokenSize.
const maxInspectInput = 1 << 20

// runToken is "jwtauth token inspect|verify" (SPEC §4).
func runToken(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
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
		return inspectToken(strings.TrimSpace(raw), stdout, stderr)
	case "verify":
		fs := newFlagSet("token verify", "token verify --jwks URL|--issuer URL [--audience A] [--insecure-http] TOKEN|-")
		jwksURL := fs.String("jwks", "", "URL of the JWK Set to verify against")
		issuer := fs.String("issuer", "", "issuer URL: the JWKS is discovered at ISSUER/.well-known/openid-configuration and iss must equal it")
		audience := fs.String("audience", "", "audience the token's aud must contain (not checked when empty)")
		insecureHTTP := fs.Bool("insecure-http", false, "accept plain http --jwks/--issuer URLs on any host, not only loopback ones (anyone on the network path could substitute the keys)")
		pos, err := parseArgs(fs, args, stdout, stderr)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usagef("token verify takes exactly one TOKEN, or - to read it from stdin")
		}
		if (*jwksURL == "") == (*issuer == "") {
			return usagef("token verify needs exactly one of --jwks URL and --issuer URL")
		}
		raw, err := readTokenArg(pos[0], stdin, "token verify")
		if err != nil {
			return err
		}
		return verifyToken(ctx, raw, keySource{*jwksURL, *issuer, *insecureHTTP}, *audience, stdout, stderr)
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
// on w, so that it pipes into jq, and the notVerified line on warn.
func inspectToken(raw string, w, warn io.Writer) error {
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
	fmt.Fprintln(warn, notVerified)
	if len(raw) > token.MaxTokenSize {
		fmt.Fprintf(warn, "note: the token is %d bytes; verifiers of this module refuse tokens over %d\n", len(raw), token.MaxTokenSize)
	}
	_, err = w.Write(out.Bytes())
	return err
}

// readTokenArg returns arg, or the token read from stdin when arg is "-",
// trimmed of surrounding white space.
func readTokenArg(arg string, stdin io.Reader, verb string) (string, error) {
	if arg != "-" {
		return strings.TrimSpace(arg), nil
	}
	b, err := io.ReadAll(io.LimitReader(stdin, maxInspectInput+1))
	if err != nil {
		return "", fmt.Errorf("%s: read stdin: %w", verb, err)
	}
	if len(b) > maxInspectInput {
		return "", fmt.Errorf("%s: input over %d bytes", verb, maxInspectInput)
	}
	return strings.TrimSpace(string(b)), nil
}

// unprefixed is an error of package jwtauth without its leading "jwtauth: ",
// which main prints once in front of every error: "jwtauth: token verify:
// jwks fetch failed: …", not "jwtauth: token verify: jwtauth: jwks fetch
// failed: …". errors.Is and errors.As still see the error.
type unprefixed struct{ err error }

func (u unprefixed) Error() string { return strings.TrimPrefix(u.err.Error(), "jwtauth: ") }
func (u unprefixed) Unwrap() error { return u.err }

// keySource is where "token verify" takes its keys: --jwks or --issuer,
// and --insecure-http.
type keySource struct {
	jwksURL, issuer string
	insecureHTTP    bool
}

// verifyToken verifies raw with the strict token.Verifier against the keys
// of src.jwksURL or of src.issuer (OIDC discovery, iss checked), and prints
// {"header":…,"claims":…} as indented JSON. Without an audience, aud is not
// checked; without an issuer (--jwks), iss is not checked; each omission is
// noted on stderr. A URL remote.Config refuses (plain http on a
// non-loopback host without --insecure-http) is a usage error (exit 2); any
// other failure (fetch, discovery, verification) is returned with its
// reason, so the exit status is 1.
func verifyToken(ctx context.Context, raw string, src keySource, audience string, stdout, stderr io.Writer) error {
	if raw == "" {
		return usagef("token verify: empty token")
	}
	issuer := src.issuer
	vc := token.VerifierConfig{Issuer: issuer, InsecureSkipIssuerCheck: issuer == ""}
	if audience != "" {
		vc.Audience = []string{audience}
	} else {
		vc.InsecureSkipAudienceCheck = true
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	v, ks, err := remote.NewVerifier(ctx, remote.Config{
		JWKSURL: src.jwksURL, Issuer: issuer, InsecureAllowHTTP: src.insecureHTTP, Logger: slog.New(slog.DiscardHandler),
	}, vc)
	if err != nil {
		if !errors.Is(err, remote.ErrJWKSFetch) {
			// Refused before any request: the URL given.
			if !src.insecureHTTP {
				return usagef("token verify: %w; --insecure-http sets InsecureAllowHTTP", unprefixed{err})
			}
			return usagef("token verify: %w", unprefixed{err})
		}
		return fmt.Errorf("token verify: %w", unprefixed{err})
	}
	defer ks.Close()
	if _, err := v.Verify(ctx, raw); err != nil {
		return fmt.Errorf("token verify: INVALID: %w", unprefixed{err})
	}
	// Verified: the segments are canonical base64url JSON objects.
	h64, rest, _ := strings.Cut(raw, ".")
	p64, _, _ := strings.Cut(rest, ".")
	header, err := base64.RawURLEncoding.DecodeString(h64)
	if err != nil {
		return fmt.Errorf("token verify: header: %w", err)
	}
	claims, err := base64.RawURLEncoding.DecodeString(p64)
	if err != nil {
		return fmt.Errorf("token verify: claims: %w", err)
	}
	doc, err := json.Marshal(struct {
		Header json.RawMessage `json:"header"`
		Claims json.RawMessage `json:"claims"`
	}{header, claims})
	if err != nil {
		return fmt.Errorf("token verify: %w", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, doc, "", "  "); err != nil {
		return fmt.Errorf("token verify: %w", err)
	}
	out.WriteByte('\n')
	if issuer == "" {
		fmt.Fprintln(stderr, "note: iss was not checked (use --issuer to check it)")
	}
	if audience == "" {
		fmt.Fprintln(stderr, "note: aud was not checked (use --audience to check it)")
	}
	_, err = stdout.Write(out.Bytes())
	return err
}
