package jwtauth_test

// The token core's test fixture (internal/tokentest): a key manager, an
// issuer and a verifier on a settable clock, and token forging.

import (
	"log/slog"
	"testing"

	"github.com/jwtauth/jwtauth/internal/tokentest"
	"github.com/jwtauth/jwtauth/jwtauth/account/credential"
)

const (
	testIssuer   = tokentest.Issuer
	testAudience = tokentest.Audience
)

var quiet = slog.New(slog.DiscardHandler)

type fixture = tokentest.Fixture

func newFixture(t testing.TB) *fixture { return tokentest.New(t) }

var (
	b64   = tokentest.B64
	forge = tokentest.Forge
)

// fastArgon are argon2id parameters cheap enough for tests.
var fastArgon = credential.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
