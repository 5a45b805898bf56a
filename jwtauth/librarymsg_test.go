package jwtauth_test

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/sqlite"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

// TestClearKeyWarningNamesConfigField: in library mode the clear-key
// warning tells the application which Config field to set, not a flag of
// `jwtauth serve` it does not have.
func TestClearKeyWarningNamesConfigField(t *testing.T) {
	_, logs := newTestService(t, jwtauth.Config{})
	var line string
	for l := range strings.Lines(logs.String()) {
		if strings.Contains(l, "stored in clear") {
			line = l
		}
	}
	require.NotEmpty(t, line, logs.String())
	assert.Contains(t, line, "level=WARN")
	assert.Contains(t, line, "set jwtauth.Config.KeyEncryptionKey")
	assert.NotContains(t, line, "--", "no flag in library mode")
	assert.NotContains(t, line, "JWTAUTH_", "no variable in library mode")
}

// TestNewWarnsOfANewSQLiteStore: an embedded application whose SQLite path
// held no store (a first start, or a lost or mistyped file) reads it in
// its logger, once, naming the store; a restart on the store it made says
// nothing of the kind.
func TestNewWarnsOfANewSQLiteStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	gen := keystest.Generator(t)
	start := func() string {
		t.Helper()
		store, err := sqlite.Open(t.Context(), path)
		require.NoError(t, err)
		defer store.Close()
		var logs syncLog
		svc, err := jwtauth.New(t.Context(), jwtauth.Config{Store: store, Issuer: "https://app.example.test/auth",
			GenerateKey: gen, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		require.NoError(t, err)
		svc.Close()
		return logs.String()
	}
	const warning = `level=WARN msg="no store at this path: creating a new store and a new key set (expected on a first start; otherwise the previous store, its users and tokens, is lost)" store=sqlite:`
	first := start()
	assert.Equal(t, 1, strings.Count(first, warning), first)
	assert.Contains(t, first, warning+path+"\n")
	again := start()
	assert.NotContains(t, again, "creating a new", again)
}
