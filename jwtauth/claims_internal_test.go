package jwtauth

import (
	"encoding/json"
	"testing"
)

// TestHasAll checks the requirement match of the middleware over the raw
// claims.
func TestHasAll(t *testing.T) {
	c := &Claims{Extra: map[string]json.RawMessage{
		"scope":  json.RawMessage(`"orders:read orders:write  profile"`),
		"roles":  json.RawMessage(`["user","admin"]`),
		"groups": json.RawMessage(`["ops",1]`),
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
	} {
		if got := c.hasAll(tc.name, tc.want); got != tc.ok {
			t.Errorf("hasAll(%q, %q) = %v, want %v", tc.name, tc.want, got, tc.ok)
		}
	}
}
