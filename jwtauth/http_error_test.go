package jwtauth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWriteErrorCanceled: a request canceled by its client is answered 503,
// not 500: nothing failed here.
func TestWriteErrorCanceled(t *testing.T) {
	w := httptest.NewRecorder()
	jwtauth.WriteError(w, fmt.Errorf("waiting for a hash slot: %w", context.Canceled))
	assert.Equal(t, http.StatusServiceUnavailable, w.Code, "a canceled request is not a server fault")
}

// TestWriteErrorAccountRefusals: each refusal of package account is
// answered with its status, its code and description, and Retry-After when
// it says when to try again.
func TestWriteErrorAccountRefusals(t *testing.T) {
	for _, tc := range []struct {
		err        error
		status     int
		retryAfter string
	}{
		{&account.Error{Code: "invalid_request", Description: "d"}, http.StatusBadRequest, ""},
		{account.ErrInvalidCredentials, http.StatusUnauthorized, ""},
		{fmt.Errorf("jwtauth: register: %w", &account.Error{Code: "user_exists", Description: "d"}), http.StatusConflict, ""},
		{account.ErrInvalidGrant, http.StatusUnauthorized, ""},
		{account.ErrRefreshDisabled, http.StatusNotImplemented, ""},
		{&account.Error{Code: "too_many_requests", Description: "d", RetryAfter: 1500 * time.Millisecond}, http.StatusTooManyRequests, "2"},
		{&account.Error{Code: "temporarily_unavailable", Description: "d", RetryAfter: time.Second}, http.StatusServiceUnavailable, "1"},
	} {
		w := httptest.NewRecorder()
		jwtauth.WriteError(w, tc.err)
		var e *account.Error
		require.ErrorAs(t, tc.err, &e)
		assert.Equal(t, tc.status, w.Code, e.Code)
		assert.Equal(t, tc.retryAfter, w.Header().Get("Retry-After"), e.Code)
		assert.JSONEq(t, fmt.Sprintf(`{"error":%q,"error_description":%q}`, e.Code, e.Description), w.Body.String())
	}
}
