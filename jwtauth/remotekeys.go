package jwtauth

import (
	"context"

	"github.com/jwtauth/jwtauth/jwtauth/remote"
)

// Remote verification lives in jwtauth/remote. These names stay here for
// now so that code written against the face keeps compiling;
// docs/migration-draft.md lists each move. For the Prometheus metrics that
// RemoteConfig.Metrics used to register, see RemoteMetrics.

// Types of remote verification (see package remote).
type (
	RemoteConfig = remote.Config
	RemoteKeySet = remote.KeySet
)

// Defaults of RemoteConfig (see package remote).
const (
	DefaultMinRefresh         = remote.DefaultMinRefresh
	DefaultMaxRefresh         = remote.DefaultMaxRefresh
	DefaultRefresh            = remote.DefaultRefresh
	DefaultUnknownKIDInterval = remote.DefaultUnknownKIDInterval
	DefaultUnknownKIDWait     = remote.DefaultUnknownKIDWait
	DefaultMaxStale           = remote.DefaultMaxStale
	DefaultFetchTimeout       = remote.DefaultFetchTimeout
	DefaultMaxJWKSBytes       = remote.DefaultMaxJWKSBytes
)

// Errors of remote verification (see package remote).
var (
	ErrKeySetUnavailable = remote.ErrKeySetUnavailable
	ErrJWKSFetch         = remote.ErrJWKSFetch
)

// NewRemoteKeySet is remote.NewKeySet.
func NewRemoteKeySet(ctx context.Context, cfg RemoteConfig) (*RemoteKeySet, error) {
	return remote.NewKeySet(ctx, cfg)
}

// NewRemoteVerifier is remote.NewVerifier.
func NewRemoteVerifier(ctx context.Context, rc RemoteConfig, vc VerifierConfig) (*Verifier, *RemoteKeySet, error) {
	return remote.NewVerifier(ctx, rc, vc)
}
