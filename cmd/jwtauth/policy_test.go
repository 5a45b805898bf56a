package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/keys"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAdoptPolicy: how serve's settings meet the policy stored with the key
// set (issue 22.3). Settings left at their defaults take the stored values;
// explicit ones (flag or variable) that differ are refused, naming both,
// unless --replace-policy; retention is compared as access TTL + 30 s
// leeway + JWKS max-age.
func TestAdoptPolicy(t *testing.T) {
	const m, s = time.Minute, time.Second
	def := keys.DefaultPolicy().Schedule() // 24h, 1h, 20m30s
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		stored keys.Schedule
		action policyAction
		want   keys.Schedule // the policy the server runs
		// the token lifetime and JWKS max-age it runs with, when fitted to the stored policy
		wantTTL, wantMaxAge time.Duration
		errs                []string // the lines of the refusal
	}{
		{name: "nothing stored", args: []string{"--prepublish", "2h"}, action: policyNew,
			want: keys.Schedule{RotateEvery: 24 * time.Hour, Prepublish: 2 * time.Hour, Retain: 20*m + 30*s}},
		{name: "defaults meet defaults", stored: def, action: policyAdopted, want: def},
		{name: "defaults adopt the stored policy", stored: keys.Schedule{RotateEvery: 12 * time.Hour, Prepublish: 2 * time.Hour, Retain: 30 * m},
			action: policyAdopted, want: keys.Schedule{RotateEvery: 12 * time.Hour, Prepublish: 2 * time.Hour, Retain: 30 * m}},
		{name: "explicit settings that match", args: []string{"--rotate-every", "24h", "--prepublish", "60m", "--access-ttl", "15m"}, stored: def,
			action: policyAdopted, want: def},
		{name: "defaults fit a short policy", stored: keys.Schedule{RotateEvery: 24 * time.Hour, Prepublish: 5 * s, Retain: 15*m + 31*s},
			// max-age lowered to the 5s lead, the token lifetime to what 15m31s covers
			action: policyAdopted, want: keys.Schedule{RotateEvery: 24 * time.Hour, Prepublish: 5 * s, Retain: 15*m + 31*s},
			wantTTL: 14*m + 56*s, wantMaxAge: 5 * s},
		{name: "defaults fit a policy shorter than the stored lead", stored: keys.Schedule{RotateEvery: 24 * time.Hour, Prepublish: 2 * m, Retain: 2*m + 30*s},
			// the scale trial (serve --access-ttl 1m --jwks-max-age 1m --prepublish 2m):
			// max-age 2m (the lead) would leave its tokens no lifetime, so the 2m after the leeway are split
			action: policyAdopted, want: keys.Schedule{RotateEvery: 24 * time.Hour, Prepublish: 2 * m, Retain: 2*m + 30*s},
			wantTTL: 1 * m, wantMaxAge: 1 * m},
		{name: "defaults fit a tiny policy", stored: keys.Schedule{RotateEvery: 24 * time.Hour, Prepublish: 5 * s, Retain: 35 * s},
			action: policyAdopted, want: keys.Schedule{RotateEvery: 24 * time.Hour, Prepublish: 5 * s, Retain: 35 * s},
			wantTTL: 3 * s, wantMaxAge: 2 * s},
		{name: "defaults that cannot fit", stored: keys.Schedule{RotateEvery: 24 * time.Hour, Prepublish: 5 * s, Retain: 31 * s},
			errs: []string{
				"serve: retention of 15m35s (--access-ttl 15m0s + 30s leeway + --jwks-max-age 5s) exceeds the key set's stored policy (31s): this server's tokens would outlive the key that signed them; set --access-ttl and --jwks-max-age to the other servers' values, or pass --replace-policy to replace it",
			}},
		{name: "explicit max-age over the stored lead", args: []string{"--jwks-max-age", "1m"}, stored: keys.Schedule{RotateEvery: 24 * time.Hour, Prepublish: 5 * s, Retain: 15*m + 31*s},
			errs: []string{
				"serve: the key set's stored policy has a --prepublish of 5s, shorter than --jwks-max-age 1m0s: a verifier's cached JWKS would lack a key when it starts signing; set --jwks-max-age to at most 5s, or pass --prepublish and --replace-policy to replace the stored policy",
				"serve: retention of 16m30s (--access-ttl 15m0s + 30s leeway + --jwks-max-age 1m0s) differs from the key set's stored policy (15m31s); pass --replace-policy to replace it",
			}},
		{name: "explicit prepublish differs", args: []string{"--prepublish", "1h", "--jwks-max-age", "1s"},
			stored: keys.Schedule{RotateEvery: 24 * time.Hour, Prepublish: 5 * s, Retain: 15*m + 31*s},
			errs:   []string{"serve: --prepublish 1h0m0s differs from the key set's stored policy (5s); pass --replace-policy to replace it"}},
		{name: "a variable is explicit too", env: map[string]string{"JWTAUTH_ROTATE_EVERY": "1h", "JWTAUTH_PREPUBLISH": "30m"}, stored: def,
			errs: []string{
				"serve: JWTAUTH_ROTATE_EVERY 1h0m0s differs from the key set's stored policy (24h0m0s); pass --replace-policy to replace it",
				"serve: JWTAUTH_PREPUBLISH 30m0s differs from the key set's stored policy (1h0m0s); pass --replace-policy to replace it",
			}},
		{name: "explicit access TTL gives another retention", args: []string{"--access-ttl", "1m"}, env: map[string]string{"JWTAUTH_JWKS_MAX_AGE": "1m"}, stored: def,
			errs: []string{"serve: retention of 2m30s (--access-ttl 1m0s + 30s leeway + JWTAUTH_JWKS_MAX_AGE 1m0s) differs from the key set's stored policy (20m30s); pass --replace-policy to replace it"}},
		{name: "replace", args: []string{"--access-ttl", "1m", "--jwks-max-age", "1m", "--prepublish", "2m", "--replace-policy"}, stored: def,
			action: policyReplaced, want: keys.Schedule{RotateEvery: 24 * time.Hour, Prepublish: 2 * m, Retain: 2*m + 30*s}},
		{name: "replace by variable", args: []string{"--prepublish", "2h"}, env: map[string]string{"JWTAUTH_REPLACE_POLICY": "true"}, stored: def,
			action: policyReplaced, want: keys.Schedule{RotateEvery: 24 * time.Hour, Prepublish: 2 * time.Hour, Retain: 20*m + 30*s}},
		{name: "replace with the same policy", args: []string{"--replace-policy"}, stored: def, action: policyAdopted, want: def},
		{name: "retention stored before it was part of the policy", args: []string{"--access-ttl", "1m"},
			stored: keys.Schedule{RotateEvery: 24 * time.Hour, Prepublish: time.Hour},
			action: policyAdopted, want: keys.Schedule{RotateEvery: 24 * time.Hour, Prepublish: time.Hour, Retain: 6*m + 30*s}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseServeConfig(tt.args, tt.env)
			require.NoError(t, err)
			got, action, err := adoptPolicy(c, tt.stored)
			if tt.errs != nil {
				var ue *usageError
				require.True(t, errors.As(err, &ue), "a usage error (exit 2): %v", err)
				assert.Equal(t, 2, exitCode(err))
				assert.Equal(t, tt.errs, strings.Split(err.Error(), "\n"))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.action, action)
			assert.Equal(t, tt.want, got.Policy().Schedule())
			wantTTL, wantMaxAge := c.AccessTTL, c.JWKSMaxAge // the server's own unless fitted
			if tt.wantTTL != 0 {
				wantTTL, wantMaxAge = tt.wantTTL, tt.wantMaxAge
			}
			assert.Equal(t, wantTTL, got.AccessTTL, "token lifetime")
			assert.Equal(t, wantMaxAge, got.JWKSMaxAge, "JWKS max-age")
		})
	}
}
