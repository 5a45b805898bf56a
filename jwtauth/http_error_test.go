package jwtauth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/stretchr/testify/assert"
)

// TestWriteErrorCanceled: a request canceled by its client is answered 503,
// not 500: nothing failed here.
func TestWriteErrorCanceled(t *testing.T) {
	w := httptest.NewRecorder()
	jwtauth.WriteError(w, fmt.Errorf("waiting for a hash slot: %w", context.Canceled))
	assert.Equal(t, http.StatusServiceUnavailable, w.Code, "a canceled request is not a server fault")
}
