package remote

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
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

// errPrefix starts the text of every error of this package, once.
const errPrefix = "jwtauth: "

// errorf is fmt.Errorf whose text carries errPrefix once: every error
// operand except one that starts format loses its leading errPrefix, so a
// chain reads "jwtauth: remote key set unavailable: …" rather than
// repeating "jwtauth: " at each level. Every %w operand is still seen by
// errors.Is and errors.As.
func errorf(format string, args ...any) error {
	shown := make([]any, len(args))
	for i, a := range args {
		shown[i] = a
		if e, ok := a.(error); ok && (i > 0 || !strings.HasPrefix(format, "%w")) {
			shown[i] = strings.TrimPrefix(e.Error(), errPrefix)
		}
	}
	return &prefixedError{msg: fmt.Sprintf(strings.ReplaceAll(format, "%w", "%v"), shown...), err: fmt.Errorf(format, args...)}
}

// prefixedError is an error of errorf: its own text, and the fmt.Errorf
// error that wraps the operands.
type prefixedError struct {
	msg string
	err error
}

func (e *prefixedError) Error() string { return e.msg }
func (e *prefixedError) Unwrap() error { return e.err }
