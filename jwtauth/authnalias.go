package jwtauth

import (
	"net/http"

	"github.com/jwtauth/jwtauth/jwtauth/authn"
)

// The middleware core lives in jwtauth/authn. These names stay here for now
// so that code written against the face keeps compiling;
// docs/migration-draft.md lists each move.

// Types of the middleware core (see package authn).
type (
	Authenticator = authn.Authenticator
	TokenSource   = authn.TokenSource
	Requirement   = authn.Requirement
)

// HeaderSource is authn.HeaderSource.
func HeaderSource(name string) TokenSource { return authn.HeaderSource(name) }

// CookieSource is authn.CookieSource.
func CookieSource(name string) TokenSource { return authn.CookieSource(name) }

// QuerySource is authn.QuerySource.
func QuerySource(name string) TokenSource { return authn.QuerySource(name) }

// TokenFromRequest is authn.TokenFromRequest.
func TokenFromRequest(r *http.Request) (string, error) { return authn.TokenFromRequest(r) }

// RequireScopes is authn.RequireScopes.
func RequireScopes(scopes ...string) Requirement { return authn.RequireScopes(scopes...) }

// RequireRoles is authn.RequireRoles.
func RequireRoles(roles ...string) Requirement { return authn.RequireRoles(roles...) }

// Require is authn.Require.
func Require(allow func(*Claims) bool) Requirement { return authn.Require(allow) }
