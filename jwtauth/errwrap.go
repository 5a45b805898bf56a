package jwtauth

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// strictB64 decodes canonical base64url without padding (RFC 7515 §2).
var strictB64 = base64.RawURLEncoding.Strict()

// errPrefix starts the text of every error of this package, once.
const errPrefix = "jwtauth: "

// errorf is fmt.Errorf whose text carries errPrefix once: every error
// operand except one that starts format loses its leading errPrefix, so a
// chain reads "jwtauth: unknown signing key: kid "k": remote key set
// unavailable: …" rather than repeating "jwtauth: " at each level. Every %w
// operand is still seen by errors.Is and errors.As.
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
