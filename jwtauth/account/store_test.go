package account_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A User printed with any fmt verb or logged through slog shows its
// username and never its password hash.
func TestUserNeverPrintsPasswordHash(t *testing.T) {
	const hash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
	u := account.User{Username: "alice", PasswordHash: hash, CreatedAt: time.Unix(1_800_000_000, 0)}
	secrets := []string{"aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", "c2FsdHNhbHRzYWx0c2FsdA", "$argon2id$"}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%10v"} {
		for _, v := range []any{u, &u, []account.User{u}, struct{ U account.User }{u}} {
			outs = append(outs, verb+" "+fmt.Sprintf(verb, v))
		}
	}
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var buf bytes.Buffer
		l := slog.New(h(&buf))
		l.Info("u", "user", u)
		l.Info("u", slog.Any("user", &u))
		l.With("user", u).Info("u")
		l.Info("u", "users", []account.User{u}) // a slice: the JSON handler marshals it
		outs = append(outs, buf.String())
	}
	j, err := json.Marshal(map[string]any{"u": u, "us": []account.User{u}})
	if assert.NoError(t, err) {
		outs = append(outs, string(j))
	}
	for _, s := range outs {
		for _, sec := range secrets {
			assert.NotContains(t, s, sec)
		}
		if !strings.HasPrefix(s, "%x") {
			assert.Contains(t, s, "alice")
		}
	}
	assert.Equal(t, "alice", fmt.Sprint(u))
	assert.Equal(t, `account.User{Username:"alice", PasswordHash:<redacted>}`, fmt.Sprintf("%#v", u))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("u", "user", u)
	assert.Contains(t, buf.String(), `"user":{"username":"alice"}`)
}

// TestUserJSONForAdminPages: the JSON form of a User is what an admin page
// lists (ListUsers), the password hash never among it.
func TestUserJSONForAdminPages(t *testing.T) {
	created, last := time.Unix(1_800_000_000, 0).UTC(), time.Unix(1_800_003_600, 0).UTC()
	j, err := json.Marshal([]account.User{
		{Username: "alice", PasswordHash: "$argon2id$secret", CreatedAt: created, LastLoginAt: last},
		{Username: "bob", PasswordHash: "$2b$secret", CreatedAt: created, Disabled: true},
	})
	require.NoError(t, err)
	assert.JSONEq(t, `[
		{"username":"alice","created_at":"2027-01-15T08:00:00Z","disabled":false,"last_login_at":"2027-01-15T09:00:00Z"},
		{"username":"bob","created_at":"2027-01-15T08:00:00Z","disabled":true,"last_login_at":null}]`, string(j))
}
