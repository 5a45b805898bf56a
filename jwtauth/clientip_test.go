package jwtauth_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/authn"
)

// TestClientIPFromFramework: the address an adapter's framework put in the
// request's context (ContextWithClientIP) is the client when jwtauth has no
// trusted proxies of its own; with them, jwtauth's rule wins; an invalid
// address changes nothing.
func TestClientIPFromFramework(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct {
		name      string
		framework netip.Addr
		trusted   []netip.Prefix
		want      string
	}{
		{"framework's address", netip.MustParseAddr("203.0.113.7"), nil, "203.0.113.7"},
		{"unmapped", netip.MustParseAddr("::ffff:203.0.113.7"), nil, "203.0.113.7"},
		{"IPv6", netip.MustParseAddr("2001:db8::7"), nil, "2001:db8::7"},
		{"jwtauth's own rule wins", netip.MustParseAddr("203.0.113.7"), trusted, "198.51.100.1"},
		{"invalid: RemoteAddr", netip.Addr{}, nil, "10.0.0.1"},
	} {
		r := httptest.NewRequest("POST", "/login", nil)
		r.RemoteAddr = "10.0.0.1:1234"
		r.Header.Set("X-Forwarded-For", "198.51.100.1")
		r = r.WithContext(jwtauth.ContextWithClientIP(r.Context(), tc.framework))
		assert.Equal(t, tc.want, jwtauth.ClientIP(r, tc.trusted).String(), tc.name)
	}
}

// TestClientIPFromAuthn: the adapters put the framework's address in the
// context with authn.ContextWithClientIP, which they import instead of
// this package; ClientIP reads it, and the face's ContextWithClientIP
// stores the same value.
func TestClientIPFromAuthn(t *testing.T) {
	ip := netip.MustParseAddr("203.0.113.7")
	r := httptest.NewRequest("POST", "/login", nil)
	r.RemoteAddr = "10.0.0.1:1234"
	r = r.WithContext(authn.ContextWithClientIP(r.Context(), ip))
	assert.Equal(t, "203.0.113.7", jwtauth.ClientIP(r, nil).String())
	got, ok := authn.ClientIPFromContext(jwtauth.ContextWithClientIP(r.Context(), netip.MustParseAddr("198.51.100.1")))
	assert.True(t, ok)
	assert.Equal(t, "198.51.100.1", got.String())
}
