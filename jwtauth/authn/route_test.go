package authn_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/jwtauth/jwtauth/jwtauth/authn"
)

// TestContextWithClientIP: ClientIPFromContext returns the address
// ContextWithClientIP stored, unmapped; an invalid address stores nothing.
func TestContextWithClientIP(t *testing.T) {
	_, ok := authn.ClientIPFromContext(context.Background())
	assert.False(t, ok, "empty context")
	for _, tc := range []struct{ in, want string }{
		{"203.0.113.7", "203.0.113.7"},
		{"::ffff:203.0.113.7", "203.0.113.7"},
		{"2001:db8::7", "2001:db8::7"},
	} {
		ip, ok := authn.ClientIPFromContext(authn.ContextWithClientIP(context.Background(), netip.MustParseAddr(tc.in)))
		assert.True(t, ok, tc.in)
		assert.Equal(t, tc.want, ip.String(), tc.in)
	}
	ctx := context.Background()
	assert.Equal(t, ctx, authn.ContextWithClientIP(ctx, netip.Addr{}), "the zero Addr leaves ctx as it is")
}
