package account_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const testIssuer = "https://issuer.test"

// fixture is an issuer over a fresh key set.
type fixture struct {
	issuer *token.Issuer
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	mgr, err := keys.Open(context.Background(), keys.Config{Store: memory.New(), Generate: keystest.Generator(t), Logger: quiet})
	require.NoError(t, err)
	iss, err := token.NewIssuer(token.IssuerConfig{Keys: mgr, Issuer: testIssuer, Audience: []string{testIssuer}})
	require.NoError(t, err)
	return &fixture{issuer: iss}
}
