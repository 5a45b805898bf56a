package jwtauth

import (
	"context"
	"encoding/json"
	"slices"
	"time"
)

// Claims are the claims of a verified access token (RFC 7519 §4.1). Times are
// whole or fractional seconds since the Unix epoch on the wire (NumericDate)
// and time.Time here; a zero time means the claim was absent.
//
// Every call of Verify returns Claims of its own, also when the token came
// from the verifier's cache, so a handler may change them without affecting
// another request. A field that holds a slice, a map or a pointer must
// therefore be deep-copied by clone (below) as well: the test
// TestClaimsCloneIsDeep fails for one that is not.
type Claims struct {
	Issuer    string    // iss
	Subject   string    // sub: the username
	Audience  []string  // aud: a string or an array of strings on the wire
	ExpiresAt time.Time // exp
	NotBefore time.Time // nbf
	IssuedAt  time.Time // iat
	ID        string    // jti: unique per token
	// Extra holds every other claim as raw JSON; nil when there is none.
	Extra map[string]json.RawMessage
}

// MarshalJSON encodes the claims as a JWT claims set: dates as integer
// NumericDate, aud as a string when it has one member.
func (c Claims) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, 7+len(c.Extra))
	for k, v := range c.Extra {
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

// clone returns a deep copy of c: no slice, map or pointer is shared. For
// claims with at most one audience and no extra claims (the tokens of this
// package's Issuer) it makes a single allocation.
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
	if c.Extra != nil {
		d.Extra = make(map[string]json.RawMessage, len(c.Extra))
		for k, v := range c.Extra {
			d.Extra[k] = slices.Clone(v)
		}
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
