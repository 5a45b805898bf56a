package remote

import (
	"net"
	"net/netip"
	"strings"

	"github.com/jwtauth/jwtauth/jwtauth/internal/errfmt"
)

// loopbackHost reports whether host (a URL's host, with or without port)
// names this machine: localhost, 127.0.0.0/8 or ::1 (also IPv4-mapped),
// where plain-http JWKS URLs are allowed for development. (The face keeps
// its own copy for cookies.)
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// errorf is errfmt.Errorf (the "jwtauth: " prefix once per chain).
func errorf(format string, args ...any) error { return errfmt.Errorf(format, args...) }
