package token

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/valyala/fastjson"
)

// Claims are the claims of a verified access token (RFC 7519 §4.1). Times are
// whole or fractional seconds since the Unix epoch on the wire (NumericDate)
// and time.Time here; a zero time means the claim was absent.
//
// Every call of Verify returns Claims of its own, also when the token came
// from the verifier's cache, so a handler may change them without affecting
// another request. An exported field that holds a slice, a map or a
// pointer must therefore be deep-copied by clone (below) as well: the test
// TestClaimsCloneIsDeep fails for one that is not.
type Claims struct {
	Issuer    string    // iss
	Subject   string    // sub: the username
	Audience  []string  // aud: a string or an array of strings on the wire
	ExpiresAt time.Time // exp
	NotBefore time.Time // nbf
	IssuedAt  time.Time // iat
	ID        string    // jti: unique per token
	// jkt is cnf.jkt (RFC 9449 §6.1), "" when absent; bound is whether
	// the token has a cnf claim at all (RFC 7800 §3.1). Strings and a
	// bool: clone copies them.
	jkt   string
	bound bool
	// extra holds every other claim as raw JSON (nil when there is none),
	// read through Decode, Scopes, Roles, Groups and Entitlements. It is
	// never written after verification and not reachable from outside the
	// package, so clones share it: a cached token's claims cost no copy of
	// its private claims.
	extra map[string]json.RawMessage
}

// MarshalJSON encodes the claims as a JWT claims set: dates as integer
// NumericDate, aud as a string when it has one member.
func (c Claims) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, 7+len(c.extra))
	for k, v := range c.extra {
		m[k] = v
	}
	put := func(name string, v string) {
		if v != "" {
			m[name] = v
		}
	}
	put("iss", c.Issuer)
	put("sub", c.Subject)
	put("jti", c.ID)
	switch len(c.Audience) {
	case 0:
	case 1:
		m["aud"] = c.Audience[0]
	default:
		m["aud"] = c.Audience
	}
	for name, t := range map[string]time.Time{"exp": c.ExpiresAt, "nbf": c.NotBefore, "iat": c.IssuedAt} {
		if !t.IsZero() {
			m[name] = t.Unix()
		}
	}
	return json.Marshal(m)
}

// clone returns a copy of c that shares no exported slice, map or pointer
// (extra, immutable, is shared). For claims with at most one audience it
// makes a single allocation, extra claims or not.
func (c *Claims) clone() *Claims {
	var d *Claims
	if len(c.Audience) == 1 {
		// One allocation for the struct and its one-element audience.
		x := &struct {
			c   Claims
			aud [1]string
		}{c: *c, aud: [1]string{c.Audience[0]}}
		d = &x.c
		d.Audience = x.aud[:]
	} else {
		d = new(Claims)
		*d = *c
		d.Audience = slices.Clone(c.Audience)
	}
	return d
}

type claimsKey struct{}

// ContextWithClaims returns a copy of ctx carrying c; the middleware of the
// adapters calls it after a successful verification.
func ContextWithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFromContext returns the verified claims the middleware stored in ctx,
// and false when the request was not authenticated.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}

// JKT returns the confirmation claim's JWK SHA-256 thumbprint, cnf.jkt
// (RFC 9449 §6.1, RFC 7638): 43 characters of base64url naming the key a
// DPoP-bound token is bound to. It returns "" for an unbound token. The
// Verifier refuses a token whose cnf is not a JSON object or whose jkt is
// not such a thumbprint (ErrTokenMalformed).
func (c *Claims) JKT() string { return c.jkt }

// Bound reports whether the token carries a confirmation claim cnf (RFC
// 7800 §3.1), by jkt (DPoP) or by a method this package does not check,
// such as x5t#S256 (RFC 8705 §3.1). A bound token is not a bearer token:
// it must not be accepted without proof of possession of its key (RFC
// 9449 §7.2); authn.Authenticator refuses a bound token it cannot check.
func (c *Claims) Bound() bool { return c.bound }

// Scopes returns the scope claim split at its spaces (RFC 8693 §4.2), e.g.
// "read write" gives ["read","write"]. It returns nil when the claim is
// absent or is not a JSON string, so an ill-typed claim from another issuer
// grants nothing. It parses the claim on each call.
func (c *Claims) Scopes() []string {
	var out []string
	c.claimValue("scope", func(v *fastjson.Value) {
		if b, err := v.StringBytes(); err == nil {
			out = splitScope(b)
		}
	})
	return out
}

// Roles returns the roles claim (RFC 9068 §2.2.3.1), or nil when it is
// absent or not a JSON array of strings. It parses the claim on each call.
func (c *Claims) Roles() []string { return c.stringArray("roles") }

// Groups returns the groups claim (RFC 9068 §2.2.3.1), or nil when it is
// absent or not a JSON array of strings. It parses the claim on each call.
func (c *Claims) Groups() []string { return c.stringArray("groups") }

// Entitlements returns the entitlements claim (RFC 9068 §2.2.3.1), or nil
// when it is absent or not a JSON array of strings. It parses the claim on each
// call.
func (c *Claims) Entitlements() []string { return c.stringArray("entitlements") }

// Decode decodes the claim name (any claim but the registered
// iss, sub, aud, exp, nbf, iat and jti, which are fields) into v, as
// json.Unmarshal does. It fails with an error wrapping ErrMissingClaim when
// the token has no such claim, and with json.Unmarshal's error when the
// value does not fit v.
func (c *Claims) Decode(name string, v any) error {
	raw, ok := c.extra[name]
	if !ok {
		if registeredClaim(name) {
			return fmt.Errorf("%w: %q is a registered claim: read the Claims field", ErrMissingClaim, name)
		}
		return fmt.Errorf("%w: %q", ErrMissingClaim, name)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("jwtauth: claim %q: %w", name, err)
	}
	return nil
}

// claimValue calls f with the parsed claim name, if it is there
// and parses; the value is valid only during f.
func (c *Claims) claimValue(name string, f func(v *fastjson.Value)) {
	raw, ok := c.extra[name]
	if !ok {
		return
	}
	p := parsers.Get()
	defer parsers.Put(p)
	if v, err := p.ParseBytes(raw); err == nil {
		f(v)
	}
}

// stringArray returns the claim name as []string, or nil when it is absent
// or not an array of strings.
func (c *Claims) stringArray(name string) []string {
	var out []string
	c.claimValue(name, func(v *fastjson.Value) {
		arr, err := v.Array()
		if err != nil {
			return
		}
		out = make([]string, 0, len(arr))
		for _, e := range arr {
			b, err := e.StringBytes()
			if err != nil {
				out = nil
				return
			}
			out = append(out, string(b))
		}
	})
	return out
}

// HasScopes reports whether the scope claim (a space-separated string, RFC
// 8693 §4.2) holds every one of scopes; false when the claim is absent or
// not a string. It allocates nothing for up to 8 scopes.
func (c *Claims) HasScopes(scopes ...string) bool { return c.hasAll("scope", scopes) }

// HasRoles reports whether the roles claim (an array of strings, RFC 9068
// §2.2.3.1) holds every one of roles; false when the claim is absent or
// holds anything but strings. It allocates nothing for up to 8 roles.
func (c *Claims) HasRoles(roles ...string) bool { return c.hasAll("roles", roles) }

// hasAll reports whether the claim name holds every one of want: as
// scope-tokens of a space-separated string (scope) or as members of an
// array of strings (any other name; an array holding anything else grants
// nothing). It allocates nothing for up to 8 wanted values.
func (c *Claims) hasAll(name string, want []string) bool {
	raw, ok := c.extra[name]
	if !ok {
		return false
	}
	if ok, done := hasAllCompact(raw, name == "scope", want); done {
		return ok
	}
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := p.ParseBytes(raw)
	if err != nil {
		return false
	}
	var buf [8]bool
	seen := buf[:0]
	if len(want) > len(buf) {
		seen = make([]bool, len(want))
	} else {
		seen = buf[:len(want)]
	}
	found := 0
	mark := func(b []byte) {
		for i, w := range want {
			if !seen[i] && string(b) == w {
				seen[i] = true
				found++
			}
		}
	}
	if name == "scope" {
		b, err := v.StringBytes()
		if err != nil {
			return false
		}
		for len(b) > 0 {
			tok, rest, _ := bytes.Cut(b, []byte{' '})
			mark(tok)
			b = rest
		}
		return found == len(want)
	}
	arr, err := v.Array()
	if err != nil {
		return false
	}
	for _, e := range arr {
		if e.Type() != fastjson.TypeString {
			return false
		}
		b, _ := e.StringBytes()
		mark(b)
	}
	return found == len(want)
}

// hasAllCompact is hasAll's fast path for the compact JSON the Verifier
// stores (no spaces, no escapes): a string of scope-tokens, or an array of
// strings. done is false when raw is in any other form; hasAll then parses.
func hasAllCompact(raw []byte, scope bool, want []string) (ok, done bool) {
	if bytes.IndexByte(raw, '\\') >= 0 || len(raw) < 2 {
		return false, false
	}
	var buf [8]bool
	if len(want) > len(buf) {
		return false, false
	}
	seen, found := buf[:len(want)], 0
	mark := func(b []byte) {
		for i, w := range want {
			if !seen[i] && string(b) == w {
				seen[i] = true
				found++
			}
		}
	}
	if scope {
		if raw[0] != '"' || raw[len(raw)-1] != '"' || bytes.IndexByte(raw[1:len(raw)-1], '"') >= 0 {
			return false, false
		}
		for b := raw[1 : len(raw)-1]; len(b) > 0; {
			var tok []byte
			tok, b, _ = bytes.Cut(b, []byte{' '})
			mark(tok)
		}
		return found == len(want), true
	}
	if raw[0] != '[' || raw[len(raw)-1] != ']' {
		return false, false
	}
	for b := raw[1 : len(raw)-1]; len(b) > 0; {
		if b[0] != '"' {
			return false, false
		}
		end := bytes.IndexByte(b[1:], '"')
		if end < 0 {
			return false, false
		}
		mark(b[1 : 1+end])
		b = b[2+end:]
		if len(b) > 0 {
			if b[0] != ',' || len(b) == 1 {
				return false, false
			}
			b = b[1:]
		}
	}
	return found == len(want), true
}

// splitScope splits a scope value at its spaces (RFC 6749 §3.3:
// scope-token *( SP scope-token )), skipping empty tokens.
func splitScope(b []byte) []string {
	var out []string
	for len(b) > 0 {
		i := bytes.IndexByte(b, ' ')
		if i < 0 {
			i = len(b)
		}
		if i > 0 {
			out = append(out, string(b[:i]))
		}
		if i == len(b) {
			break
		}
		b = b[i+1:]
	}
	return out
}

// registeredClaim reports whether name is one of the RFC 7519 §4.1 claims
// the Issuer sets and Claims holds in fields.
func registeredClaim(name string) bool {
	switch name {
	case "iss", "sub", "aud", "exp", "nbf", "iat", "jti":
		return true
	}
	return false
}
