package jwtauth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTokenFromRequest(t *testing.T) {
	cases := []struct {
		name    string
		headers map[string][]string
		want    string
		err     error
	}{
		{"bearer", map[string][]string{"Authorization": {"Bearer abc"}}, "abc", nil},
		{"scheme is case-insensitive", map[string][]string{"Authorization": {"bearer abc"}}, "abc", nil},
		{"x-access-token", map[string][]string{"X-Access-Token": {"abc"}}, "abc", nil},
		{"both, same token", map[string][]string{"Authorization": {"Bearer abc"}, "X-Access-Token": {"abc"}}, "abc", nil},
		{"basic auth is not a token", map[string][]string{"Authorization": {"Basic dXNlcjpwdw=="}}, "", jwtauth.ErrTokenMissing},
		{"none", nil, "", jwtauth.ErrTokenMissing},
		{"empty bearer", map[string][]string{"Authorization": {"Bearer "}}, "", jwtauth.ErrTokenMissing},
		{"two Authorization headers", map[string][]string{"Authorization": {"Bearer a", "Bearer b"}}, "", jwtauth.ErrTokenMalformed},
		{"two different tokens", map[string][]string{"Authorization": {"Bearer a"}, "X-Access-Token": {"b"}}, "", jwtauth.ErrTokenMalformed},
		{"two x-access-token headers", map[string][]string{"X-Access-Token": {"a", "b"}}, "", jwtauth.ErrTokenMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for k, vs := range tc.headers {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			got, err := jwtauth.TokenFromRequest(r)
			if tc.err != nil {
				assert.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestChallengeHeaders(t *testing.T) {
	a := &jwtauth.Authenticator{Realm: `my "realm"`}
	w := httptest.NewRecorder()
	a.Challenge(w, jwtauth.ErrTokenMissing)
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Equal(t, `Bearer realm="my realm"`, w.Header().Get("WWW-Authenticate"))

	w = httptest.NewRecorder()
	a.Challenge(w, jwtauth.ErrTokenExpired)
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Equal(t, `Bearer realm="my realm", error="invalid_token", error_description="the token has expired"`, w.Header().Get("WWW-Authenticate"))
	assert.JSONEq(t, `{"error":"invalid_token","error_description":"the token has expired"}`, w.Body.String())
}

func TestChallengeWhenTheKeysAreOutOfReach(t *testing.T) {
	a := &jwtauth.Authenticator{}
	for _, err := range []error{
		fmt.Errorf("%w: kid %q: %w", jwtauth.ErrUnknownKey, "k", jwtauth.ErrKeySetUnavailable),
		fmt.Errorf("%w: %w", jwtauth.ErrUnknownKey, jwtauth.ErrStoreUnavailable),
	} {
		w := httptest.NewRecorder()
		a.Challenge(w, err)
		assert.Equal(t, http.StatusServiceUnavailable, w.Code, "%v", err)
		assert.Equal(t, "5", w.Header().Get("Retry-After"))
		assert.Empty(t, w.Header().Get("WWW-Authenticate"))
		assert.Contains(t, w.Body.String(), `"temporarily_unavailable"`)
	}
	w := httptest.NewRecorder()
	jwtauth.WriteError(w, fmt.Errorf("waiting for a hash slot: %w", context.Canceled))
	assert.Equal(t, http.StatusServiceUnavailable, w.Code, "a canceled request is not a server fault")
}
