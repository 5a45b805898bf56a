package account

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/jwtauth/jwtauth/keys"
)

// TestResultMapsEveryAnswer: the flow's errors map to the fixed results of
// Trace.Operation (the label values of jwtauth_account_operations_total) as
// the HTTP face answers them.
func TestResultMapsEveryAnswer(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{badRequest("x"), "invalid_request"},
		{ErrInvalidCredentials, "invalid_credentials"},
		{errUserExists, "user_exists"},
		{errTooManyRequests(time.Second), "throttled"},
		{errTooManyRegistrations(time.Second), "throttled"},
		{ErrInvalidGrant, "invalid_grant"},
		{errReuseDetected, "reuse_detected"},
		{errBusy, "unavailable"},
		{fmt.Errorf("jwtauth: login: %w", ErrStoreUnavailable), "unavailable"},
		{fmt.Errorf("jwtauth: login: %w", keys.ErrKeyEncryptionKey), "unavailable"},
		{ErrRefreshDisabled, "error"},
		{errors.New("claims hook failed"), "error"},
	} {
		assert.Equal(t, c.want, result(c.err), "%v", c.err)
	}
}

// TestUserExistsWrapsTheStoreError: the refusal of a taken username is
// told apart with errors.Is(err, ErrUserExists), as the store's error is.
func TestUserExistsWrapsTheStoreError(t *testing.T) {
	assert.ErrorIs(t, errUserExists, ErrUserExists)
	assert.Equal(t, "user_exists: that username is taken", errUserExists.Error())
}
