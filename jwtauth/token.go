package jwtauth

import (
	"context"

	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
)

// The token core lives in jwtauth/token. These names stay here for now so
// that code written against the face keeps compiling; docs/migration-draft.md
// lists each move.

// Types of the token core (see package token).
type (
	Claims           = token.Claims
	Issuer           = token.Issuer
	IssuerConfig     = token.IssuerConfig
	SigningKeySource = token.SigningKeySource
	Token            = token.Token
	Verifier         = token.Verifier
	VerifierConfig   = token.VerifierConfig
	VerifierTrace    = token.VerifierTrace
	KeySet           = token.KeySet
	TokenVerifier    = token.TokenVerifier
)

// Constants of the token core (see package token).
const (
	DefaultAccessTTL = token.DefaultAccessTTL
	MaxTokenSize     = token.MaxTokenSize
	DefaultCacheSize = token.DefaultCacheSize
	DefaultLeeway    = token.DefaultLeeway
)

// Token verification errors (see package token).
var (
	ErrTokenMissing         = token.ErrTokenMissing
	ErrTokenTooLarge        = token.ErrTokenTooLarge
	ErrTokenMalformed       = token.ErrTokenMalformed
	ErrUnsupportedAlgorithm = token.ErrUnsupportedAlgorithm
	ErrUnsupportedCritical  = token.ErrUnsupportedCritical
	ErrUnknownKey           = token.ErrUnknownKey
	ErrInvalidSignature     = token.ErrInvalidSignature
	ErrTokenExpired         = token.ErrTokenExpired
	ErrTokenNotYetValid     = token.ErrTokenNotYetValid
	ErrInvalidIssuer        = token.ErrInvalidIssuer
	ErrInvalidAudience      = token.ErrInvalidAudience
	ErrInvalidClaims        = token.ErrInvalidClaims
	ErrMissingClaim         = token.ErrMissingClaim
)

// NewIssuer is token.NewIssuer.
func NewIssuer(cfg IssuerConfig) (*Issuer, error) { return token.NewIssuer(cfg) }

// NewVerifier is token.NewVerifier.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) { return token.NewVerifier(cfg) }

// JWKS is token.JWKS.
func JWKS(s *keys.Set) ([]byte, error) { return token.JWKS(s) }

// ContextWithClaims is token.ContextWithClaims.
func ContextWithClaims(ctx context.Context, c *Claims) context.Context {
	return token.ContextWithClaims(ctx, c)
}

// ClaimsFromContext is token.ClaimsFromContext.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) { return token.ClaimsFromContext(ctx) }
