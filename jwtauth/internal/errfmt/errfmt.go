// Package errfmt formats the errors of the jwtauth packages so that their
// text carries the "jwtauth: " prefix once however deep the chain.
package errfmt

import (
	"fmt"
	"strings"
)

// Prefix starts the text of every error of the jwtauth packages, once.
const Prefix = "jwtauth: "

// Errorf is fmt.Errorf whose text carries Prefix once: every error operand
// except one that starts format loses its leading Prefix, so a chain reads
// "jwtauth: login: unknown signing key: …" rather than repeating
// "jwtauth: " at each level. Every %w operand is still seen by errors.Is
// and errors.As.
func Errorf(format string, args ...any) error {
	shown := make([]any, len(args))
	for i, a := range args {
		shown[i] = a
		if e, ok := a.(error); ok && (i > 0 || !strings.HasPrefix(format, "%w")) {
			shown[i] = strings.TrimPrefix(e.Error(), Prefix)
		}
	}
	return &prefixedError{msg: fmt.Sprintf(strings.ReplaceAll(format, "%w", "%v"), shown...), err: fmt.Errorf(format, args...)}
}

// prefixedError is an error of Errorf: its own text, and the fmt.Errorf
// error that wraps the operands.
type prefixedError struct {
	msg string
	err error
}

func (e *prefixedError) Error() string { return e.msg }
func (e *prefixedError) Unwrap() error { return e.err }
