package errfmt_test

import (
	"errors"
	"testing"

	"github.com/jwtauth/jwtauth/jwtauth/internal/errfmt"
	"github.com/stretchr/testify/assert"
)

// TestErrorfPrefixOnce: the prefix of wrapped errors is dropped from the
// text except when the format starts with the wrapped error, and every %w
// operand stays reachable.
func TestErrorfPrefixOnce(t *testing.T) {
	base := errors.New("jwtauth: store unavailable")
	other := errors.New("jwtauth: unknown signing key")

	err := errfmt.Errorf("jwtauth: login: %w: %w", base, other)
	assert.Equal(t, "jwtauth: login: store unavailable: unknown signing key", err.Error())
	assert.ErrorIs(t, err, base)
	assert.ErrorIs(t, err, other)

	err = errfmt.Errorf("%w: user %q", base, "alice")
	assert.Equal(t, `jwtauth: store unavailable: user "alice"`, err.Error())
	assert.ErrorIs(t, err, base)

	err = errfmt.Errorf("jwtauth: refresh: %v", other)
	assert.Equal(t, "jwtauth: refresh: unknown signing key", err.Error())
	assert.NotErrorIs(t, err, other)
}
