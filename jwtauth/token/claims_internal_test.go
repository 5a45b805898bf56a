package token

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestHasAll checks the requirement match of the middleware over the raw
// claims.
func TestHasAll(t *testing.T) {
	c := &Claims{extra: map[string]json.RawMessage{
		"scope":    json.RawMessage(`"orders:read orders:write  profile"`),
		"roles":    json.RawMessage(`["user","admin"]`),
		"groups":   json.RawMessage(`["ops",1]`),
		"spaced":   json.RawMessage(`[ "a" , "b" ]`),
		"escaped":  json.RawMessage(`["a\"b","\u0063"]`),
		"numbers":  json.RawMessage(`[1]`),
		"empty":    json.RawMessage(`[]`),
		"trailing": json.RawMessage(`["a",]`),
	}}
	for _, tc := range []struct {
		name string
		want []string
		ok   bool
	}{
		{"scope", []string{"orders:write", "orders:read"}, true},
		{"scope", []string{"orders"}, false},
		{"scope", []string{"profile", "admin"}, false},
		{"roles", []string{"admin"}, true},
		{"roles", []string{"admin", "admin", "user"}, true},
		{"roles", []string{"root"}, false},
		{"groups", []string{"ops"}, false}, // ill-typed: nothing
		{"entitlements", []string{"x"}, false},
		{"spaced", []string{"a", "b"}, true},    // not compact: the parser decides
		{"escaped", []string{`a"b`, "c"}, true}, // likewise
		{"numbers", []string{"1"}, false},       // an array of numbers grants nothing
		{"empty", []string{"a"}, false},
		{"trailing", []string{"a"}, false}, // not JSON: nothing
	} {
		if got := c.hasAll(tc.name, tc.want); got != tc.ok {
			t.Errorf("hasAll(%q, %q) = %v, want %v", tc.name, tc.want, got, tc.ok)
		}
	}
}

// TestClaimsByHand reads the authorization claims of Claims built without a
// Verifier (only this package can), and ill-typed ones from another issuer as nothing granted.
func TestClaimsByHand(t *testing.T) {
	c := &Claims{extra: map[string]json.RawMessage{
		"scope":  json.RawMessage(`"a  b "`),
		"roles":  json.RawMessage(`"admin"`), // not an array: grants nothing
		"groups": json.RawMessage(`["g",1]`),
	}}
	assert.Equal(t, []string{"a", "b"}, c.Scopes())
	assert.Nil(t, c.Roles())
	assert.Nil(t, c.Groups())
	assert.Nil(t, c.Entitlements())
	assert.Nil(t, (&Claims{}).Scopes())
}
