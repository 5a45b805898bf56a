package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// kek32 is base64 of 32 bytes 0x01…0x20.
const kek32 = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="

func parseServeConfig(args []string, env map[string]string) (config, error) {
	fs := newFlagSet("serve", "serve [flags]")
	vals := addSettings(fs, true)
	var out, errOut bytes.Buffer
	if _, err := parseArgs(fs, args, &out, &errOut); err != nil {
		return config{}, err
	}
	return resolveConfig(fs, vals, func(k string) string { return env[k] })
}

func TestConfigDefaults(t *testing.T) {
	c, err := parseServeConfig(nil, nil)
	require.NoError(t, err)
	assert.Equal(t, config{
		Addr:             "127.0.0.1:8080",
		Issuer:           "http://127.0.0.1:8080",
		Audience:         "http://127.0.0.1:8080",
		Store:            storeConfig{Kind: storeSQLite, Path: "./jwtauth.db"},
		AccessTTL:        15 * time.Minute,
		RefreshTTL:       720 * time.Hour,
		RefreshFamilyTTL: 2160 * time.Hour,
		RotateEvery:      24 * time.Hour,
		KeyBits:          2048,
		JWKSMaxAge:       5 * time.Minute,
		Prepublish:       time.Hour,
		StoreTimeout:     5 * time.Second,
		TokenCacheSize:   10_000,
		Throttle: account.LoginThrottle{UserFailures: 10, UserInterval: time.Minute, IPFailures: 100, IPInterval: 6 * time.Second,
			Registrations: 20, RegisterInterval: 3 * time.Minute},
	}, c)
	p := c.Policy()
	assert.Equal(t, 15*time.Minute+30*time.Second+5*time.Minute, p.Retain)
	assert.Equal(t, 2048, p.Bits)
}

func TestConfigPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c config)
	}{
		{"env addr moves the default issuer and audience", nil, map[string]string{"JWTAUTH_ADDR": "0.0.0.0:9000"}, func(t *testing.T, c config) {
			assert.Equal(t, "0.0.0.0:9000", c.Addr)
			assert.Equal(t, "http://0.0.0.0:9000", c.Issuer)
			assert.Equal(t, "http://0.0.0.0:9000", c.Audience)
		}},
		{"flag wins over env", []string{"--addr", "127.0.0.1:7000", "--access-ttl=5m"},
			map[string]string{"JWTAUTH_ADDR": "0.0.0.0:9000", "JWTAUTH_ACCESS_TTL": "1h"}, func(t *testing.T, c config) {
				assert.Equal(t, "127.0.0.1:7000", c.Addr)
				assert.Equal(t, 5*time.Minute, c.AccessTTL)
			}},
		{"single dash flags", []string{"-key-bits", "4096"}, map[string]string{"JWTAUTH_KEY_BITS": "3072"}, func(t *testing.T, c config) {
			assert.Equal(t, 4096, c.KeyBits)
		}},
		{"env used when no flag", nil, map[string]string{
			"JWTAUTH_REFRESH_TTL": "48h", "JWTAUTH_ROTATE_EVERY": "12h", "JWTAUTH_KEY_BITS": "3072",
			"JWTAUTH_JWKS_MAX_AGE": "10m", "JWTAUTH_PREPUBLISH": "2h", "JWTAUTH_STORE": "memory:",
		}, func(t *testing.T, c config) {
			assert.Equal(t, 48*time.Hour, c.RefreshTTL)
			assert.Equal(t, 12*time.Hour, c.RotateEvery)
			assert.Equal(t, 3072, c.KeyBits)
			assert.Equal(t, 10*time.Minute, c.JWKSMaxAge)
			assert.Equal(t, 2*time.Hour, c.Prepublish)
			assert.Equal(t, storeConfig{Kind: storeMemory}, c.Store)
		}},
		{"issuer given, audience defaults to it", []string{"--issuer", "https://auth.example.com"}, nil, func(t *testing.T, c config) {
			assert.Equal(t, "https://auth.example.com", c.Issuer)
			assert.Equal(t, "https://auth.example.com", c.Audience)
		}},
		{"audience from env", nil, map[string]string{"JWTAUTH_AUDIENCE": "api://orders"}, func(t *testing.T, c config) {
			assert.Equal(t, "api://orders", c.Audience)
			assert.Equal(t, "http://127.0.0.1:8080", c.Issuer)
		}},
		{"empty env counts as unset", nil, map[string]string{"JWTAUTH_ACCESS_TTL": ""}, func(t *testing.T, c config) {
			assert.Equal(t, 15*time.Minute, c.AccessTTL)
		}},
		{"key-encryption-key from env", nil, map[string]string{"JWTAUTH_KEY_ENCRYPTION_KEY": kek32}, func(t *testing.T, c config) {
			require.Len(t, c.KeyEncryptionKey, 32)
			assert.Equal(t, byte(1), c.KeyEncryptionKey[0])
			assert.Equal(t, byte(32), c.KeyEncryptionKey[31])
		}},
		{"postgres store parses, password redacted", []string{"--store", "postgres://app:s3cret@db:5432/auth"}, nil, func(t *testing.T, c config) {
			assert.Equal(t, storePostgres, c.Store.Kind)
			assert.NotContains(t, c.Store.String(), "s3cret")
			assert.Contains(t, c.Store.String(), "db:5432/auth")
		}},
		{"trusted proxies from flag: CIDRs and single IPs", []string{"--trusted-proxies", "10.0.0.0/8, 192.0.2.7,fd00::/8,2001:db8::1,"}, nil, func(t *testing.T, c config) {
			assert.Equal(t, []netip.Prefix{
				netip.MustParsePrefix("10.0.0.0/8"),
				netip.MustParsePrefix("192.0.2.7/32"),
				netip.MustParsePrefix("fd00::/8"),
				netip.MustParsePrefix("2001:db8::1/128"),
			}, c.TrustedProxies)
		}},
		{"trusted proxies from env, masked and unmapped", nil, map[string]string{"JWTAUTH_TRUSTED_PROXIES": "172.16.5.9/12,::ffff:198.51.100.1,::ffff:203.0.113.0/120"}, func(t *testing.T, c config) {
			assert.Equal(t, []netip.Prefix{
				netip.MustParsePrefix("172.16.0.0/12"),
				netip.MustParsePrefix("198.51.100.1/32"),
				netip.MustParsePrefix("203.0.113.0/24"),
			}, c.TrustedProxies)
		}},
		{"trusted proxies flag wins over env", []string{"--trusted-proxies=127.0.0.1"}, map[string]string{"JWTAUTH_TRUSTED_PROXIES": "10.0.0.0/8"}, func(t *testing.T, c config) {
			assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, c.TrustedProxies)
		}},
		{"empty trusted proxies flag overrides env: none", []string{"--trusted-proxies="}, map[string]string{"JWTAUTH_TRUSTED_PROXIES": "10.0.0.0/8"}, func(t *testing.T, c config) {
			assert.Empty(t, c.TrustedProxies)
		}},
		{"store timeout from env", nil, map[string]string{"JWTAUTH_STORE_TIMEOUT": "1500ms"}, func(t *testing.T, c config) {
			assert.Equal(t, 1500*time.Millisecond, c.StoreTimeout)
		}},
		{"store timeout flag wins over env", []string{"--store-timeout", "2s"}, map[string]string{"JWTAUTH_STORE_TIMEOUT": "9s"}, func(t *testing.T, c config) {
			assert.Equal(t, 2*time.Second, c.StoreTimeout)
		}},
		{"metrics off by default", nil, nil, func(t *testing.T, c config) {
			assert.Empty(t, c.MetricsAddr)
		}},
		{"metrics addr from env", nil, map[string]string{"JWTAUTH_METRICS_ADDR": "127.0.0.1:9464"}, func(t *testing.T, c config) {
			assert.Equal(t, "127.0.0.1:9464", c.MetricsAddr)
		}},
		{"metrics addr flag wins over env", []string{"--metrics-addr", ":9465"}, map[string]string{"JWTAUTH_METRICS_ADDR": "127.0.0.1:9464"}, func(t *testing.T, c config) {
			assert.Equal(t, ":9465", c.MetricsAddr)
		}},
		{"token cache size from env", nil, map[string]string{"JWTAUTH_TOKEN_CACHE_SIZE": "500"}, func(t *testing.T, c config) {
			assert.Equal(t, 500, c.TokenCacheSize)
		}},
		{"token cache size flag wins over env: off", []string{"--token-cache-size", "0"}, map[string]string{"JWTAUTH_TOKEN_CACHE_SIZE": "500"}, func(t *testing.T, c config) {
			assert.Equal(t, 0, c.TokenCacheSize)
		}},
		{"dpop allowed by default", nil, nil, func(t *testing.T, c config) {
			assert.Equal(t, jwtauth.DPoPAllowed, c.DPoP)
			sc := serviceConfig(c, nil, nil)
			assert.Equal(t, jwtauth.DPoPAllowed, sc.DPoP)
			assert.Equal(t, c.Issuer, sc.DPoPPublicURL, "serve answers at the root: the issuer URL is the htu base")
		}},
		{"dpop from env", nil, map[string]string{"JWTAUTH_DPOP": "required"}, func(t *testing.T, c config) {
			assert.Equal(t, jwtauth.DPoPRequired, c.DPoP)
			assert.Equal(t, jwtauth.DPoPRequired, serviceConfig(c, nil, nil).DPoP)
		}},
		{"dpop flag wins over env", []string{"--dpop", "off"}, map[string]string{"JWTAUTH_DPOP": "required"}, func(t *testing.T, c config) {
			assert.Equal(t, jwtauth.DPoPOff, c.DPoP)
		}},
		{"prepublish of max-age plus the verifiers' refresh floor is fine", []string{"--prepublish", "6m", "--jwks-max-age", "5m"}, nil, func(t *testing.T, c config) {
			assert.Equal(t, 6*time.Minute, c.Prepublish)
		}},
		{"prepublish of 61s with a max-age of 1s is fine", []string{"--rotate-every", "2s", "--prepublish", "61s", "--jwks-max-age", "1s"}, nil, func(t *testing.T, c config) {
			assert.Equal(t, 61*time.Second, c.Prepublish)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseServeConfig(tt.args, tt.env)
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string // substrings of the error
	}{
		{"bad addr", []string{"--addr", "localhost"}, nil, []string{"--addr", "host:port"}},
		{"bad issuer scheme", []string{"--issuer", "ftp://x"}, nil, []string{"--issuer", "http(s) URL"}},
		{"relative issuer", nil, map[string]string{"JWTAUTH_ISSUER": "auth.example.com"}, []string{"JWTAUTH_ISSUER", "http(s) URL"}},
		{"issuer with query", []string{"--issuer", "https://a.example/?x=1"}, nil, []string{"--issuer", "query"}},
		{"unknown store", []string{"--store", "mysql://u:pw@h/db"}, nil, []string{"--store", "sqlite:PATH, memory:"}},
		{"sqlite without path", []string{"--store", "sqlite:"}, nil, []string{"--store", "needs a file name"}},
		{"bare path store", nil, map[string]string{"JWTAUTH_STORE": "./x.db"}, []string{"JWTAUTH_STORE", "not a store"}},
		{"access-ttl not a duration", []string{"--access-ttl", "15"}, nil, []string{"--access-ttl", "not a duration"}},
		{"refresh-ttl negative", []string{"--refresh-ttl", "-1h"}, nil, []string{"--refresh-ttl", "at least 1s"}},
		{"refresh-family-ttl not a duration", nil, map[string]string{"JWTAUTH_REFRESH_FAMILY_TTL": "90d"}, []string{"JWTAUTH_REFRESH_FAMILY_TTL", `"90d" is not a duration`}},
		{"refresh-family-ttl zero", []string{"--refresh-family-ttl", "0s"}, nil, []string{"--refresh-family-ttl", "at least 1s"}},
		{"access-ttl below a second", []string{"--access-ttl", "1ns"}, nil, []string{"--access-ttl", "at least 1s"}},
		{"addr port out of range", []string{"--addr", "127.0.0.1:99999"}, nil, []string{"--addr", "port must be a number from 0 to 65535"}},
		{"rotate-every zero", nil, map[string]string{"JWTAUTH_ROTATE_EVERY": "0s"}, []string{"JWTAUTH_ROTATE_EVERY", "at least 1s"}},
		{"jwks-max-age bad", []string{"--jwks-max-age", "soon"}, nil, []string{"--jwks-max-age", "not a duration"}},
		{"prepublish bad", nil, map[string]string{"JWTAUTH_PREPUBLISH": "1 hour"}, []string{"JWTAUTH_PREPUBLISH", "not a duration"}},
		{"key-bits 1024", []string{"--key-bits", "1024"}, nil, []string{"--key-bits", "2048, 3072 or 4096"}},
		{"key-bits text", nil, map[string]string{"JWTAUTH_KEY_BITS": "big"}, []string{"JWTAUTH_KEY_BITS", "2048, 3072 or 4096"}},
		{"kek too short", []string{"--key-encryption-key", "c2hvcnQ="}, nil, []string{"--key-encryption-key", "5 bytes, want 32"}},
		{"kek not base64", nil, map[string]string{"JWTAUTH_KEY_ENCRYPTION_KEY": "not*base64!"}, []string{"JWTAUTH_KEY_ENCRYPTION_KEY", "not valid base64"}},
		{"trusted proxy not an address", []string{"--trusted-proxies", "10.0.0.0/8,proxy.internal"}, nil, []string{"--trusted-proxies", `"proxy.internal" is not a CIDR prefix or an IP address`}},
		{"trusted proxy bad prefix length", nil, map[string]string{"JWTAUTH_TRUSTED_PROXIES": "10.0.0.0/33"}, []string{"JWTAUTH_TRUSTED_PROXIES", `"10.0.0.0/33"`}},
		{"trusted proxy with zone", []string{"--trusted-proxies", "fe80::1%eth0"}, nil, []string{"--trusted-proxies", "not a CIDR prefix or an IP address"}},
		{"trusted proxies trust everyone", []string{"--trusted-proxies", "0.0.0.0/0"}, nil, []string{"--trusted-proxies", "trusts every address"}},
		{"trusted proxies trust every v6", nil, map[string]string{"JWTAUTH_TRUSTED_PROXIES": "::/0"}, []string{"JWTAUTH_TRUSTED_PROXIES", "trusts every address"}},
		{"store timeout zero", []string{"--store-timeout", "0s"}, nil, []string{"--store-timeout", "more than 0"}},
		{"store timeout beyond the request bound", nil, map[string]string{"JWTAUTH_STORE_TIMEOUT": "1m"}, []string{"JWTAUTH_STORE_TIMEOUT", "at most 25s"}},
		{"store timeout not a duration", []string{"--store-timeout", "5"}, nil, []string{"--store-timeout", "not a duration"}},
		{"token cache size negative", []string{"--token-cache-size", "-1"}, nil, []string{"--token-cache-size", "from 0 (off) to 1000000"}},
		{"token cache size text", nil, map[string]string{"JWTAUTH_TOKEN_CACHE_SIZE": "big"}, []string{"JWTAUTH_TOKEN_CACHE_SIZE", `"big" is not a number of entries`}},
		{"token cache size beyond the bound", nil, map[string]string{"JWTAUTH_TOKEN_CACHE_SIZE": "1000001"}, []string{"JWTAUTH_TOKEN_CACHE_SIZE", "to 1000000"}},
		{"metrics addr not host:port", []string{"--metrics-addr", "9464"}, nil, []string{"--metrics-addr", `"9464" is not host:port`}},
		{"metrics addr port out of range", nil, map[string]string{"JWTAUTH_METRICS_ADDR": "127.0.0.1:70000"}, []string{"JWTAUTH_METRICS_ADDR", "port must be a number"}},
		{"metrics addr is the public addr", []string{"--addr", "127.0.0.1:8080", "--metrics-addr", "127.0.0.1:8080"}, nil, []string{"--metrics-addr", "is the --addr listener", "never the public address"}},
		{"dpop unknown mode", []string{"--dpop", "strict"}, nil, []string{"--dpop", `"strict" is not off, allowed or required`}},
		{"dpop from env in upper case", nil, map[string]string{"JWTAUTH_DPOP": "REQUIRED"}, []string{"JWTAUTH_DPOP", `"REQUIRED" is not off, allowed or required`}},
		{"unknown flag", []string{"--port", "80"}, nil, []string{"flag provided but not defined: -port"}},
		{"two errors at once", []string{"--key-bits", "1", "--access-ttl", "x"}, nil, []string{"--key-bits", "--access-ttl"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseServeConfig(tt.args, tt.env)
			require.Error(t, err)
			var ue *usageError
			assert.True(t, errors.As(err, &ue), "want a usage error (exit 2), got %T", err)
			assert.Equal(t, 2, exitCode(err))
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), "not*base64!", "a key-encryption key must never be echoed")
			assert.NotContains(t, err.Error(), "pw@", "a DSN password must never be echoed")
		})
	}
}

// TestPrepublishWarning: a --prepublish shorter than --jwks-max-age plus the
// verifiers' refresh floor is accepted (a short schedule for tests and
// demos) with a warning naming the rule and the verifiers that will reject
// tokens, which serve logs at start (issue 13.6 allowed refusing or warning
// loudly; issue 15 needs short schedules across real processes).
func TestPrepublishWarning(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string // substrings of the warning
	}{
		{"prepublish below max-age", []string{"--prepublish", "1m"}, nil, []string{"--prepublish 1m0s is shorter than --jwks-max-age 5m0s"}},
		{"prepublish equal to max-age", []string{"--prepublish", "5m", "--jwks-max-age", "5m"}, nil, []string{"--prepublish 5m0s is shorter than --jwks-max-age 5m0s plus 1m0s", "at least 6m0s"}},
		{"prepublish our verifiers cannot follow (issue 13)", []string{"--rotate-every", "2s", "--prepublish", "1s", "--jwks-max-age", "1s"}, nil, []string{
			"--prepublish 1s is shorter than --jwks-max-age 1s plus 1m0s, the least a verifier needs to see a new key: remote verifiers (remote.KeySet and others) refresh the JWKS at most once every 1m0s and may be handed a copy up to --jwks-max-age old, so they will meet a kid they have never seen and reject the tokens it signs; set --prepublish to at least 1m1s or lower --jwks-max-age"}},
		{"prepublish below env max-age", nil, map[string]string{"JWTAUTH_JWKS_MAX_AGE": "2h"}, []string{"shorter than --jwks-max-age 2h0m0s"}},
		{"default schedule", nil, nil, nil},
		{"prepublish just enough", []string{"--prepublish", "6m", "--jwks-max-age", "5m"}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseServeConfig(tt.args, tt.env)
			require.NoError(t, err)
			w := c.prepublishWarning()
			if tt.want == nil {
				assert.Empty(t, w)
			}
			for _, want := range tt.want {
				assert.Contains(t, w, want)
			}
		})
	}
}

func TestParseArgsInterspersed(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	now := fs.Bool("now", false, "")
	store := fs.String("store", "", "")
	pos, err := parseArgs(fs, []string{"KID1", "--store", "sqlite:a.db", "--now", "--", "-x"}, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, []string{"KID1", "-x"}, pos)
	assert.True(t, *now)
	assert.Equal(t, "sqlite:a.db", *store)
}

func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errOut)
	if err != nil {
		errOut.WriteString("jwtauth: " + err.Error() + "\n")
	}
	return out.String(), errOut.String(), exitCode(err)
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		code      int
		stdout    []string
		stderr    []string
		notStdout []string
	}{
		{name: "no verb", args: nil, code: 2, stderr: []string{"Usage:", "jwtauth serve", "no command given"}},
		{name: "help", args: []string{"help"}, code: 0, stdout: []string{"Usage:", "jwtauth keys rotate", "jwtauth token inspect"}},
		{name: "-h", args: []string{"-h"}, code: 0, stdout: []string{"Usage:"}},
		{name: "unknown verb", args: []string{"launch"}, code: 2, stderr: []string{`unknown command "launch"`, "Usage:"}},
		{name: "serve -h", args: []string{"serve", "-h"}, code: 0, stdout: []string{"-addr", "JWTAUTH_ADDR", "-key-encryption-key", "JWTAUTH_PREPUBLISH", `(default "sqlite:./jwtauth.db")`}},
		{name: "serve bad trusted proxies", args: []string{"serve", "--trusted-proxies", "lb"}, code: 2, stderr: []string{"--trusted-proxies", `"lb" is not a CIDR prefix`}},
		{name: "serve -h names trusted proxies", args: []string{"serve", "-h"}, code: 0, stdout: []string{"-trusted-proxies", "JWTAUTH_TRUSTED_PROXIES"}},
		{name: "keys take no trusted proxies", args: []string{"keys", "list", "--trusted-proxies", "10.0.0.1"}, code: 2, stderr: []string{"flag provided but not defined: -trusted-proxies"}},
		{name: "serve bad dpop", args: []string{"serve", "--dpop", "maybe"}, code: 2, stderr: []string{"--dpop", `"maybe" is not off, allowed or required`}},
		{name: "serve -h names dpop", args: []string{"serve", "-h"}, code: 0, stdout: []string{"-dpop", "JWTAUTH_DPOP", `(default "allowed")`}},
		{name: "serve bad key bits", args: []string{"serve", "--key-bits", "1024"}, code: 2, stderr: []string{"--key-bits", "2048, 3072 or 4096"}},
		{name: "serve extra argument", args: []string{"serve", "now"}, code: 2, stderr: []string{"no arguments"}},
		{name: "keys without subcommand", args: []string{"keys"}, code: 2, stderr: []string{"missing subcommand"}},
		{name: "keys unknown subcommand", args: []string{"keys", "shred"}, code: 2, stderr: []string{`unknown subcommand "shred"`}},
		{name: "keys rotate -h", args: []string{"keys", "rotate", "-h"}, code: 0, stdout: []string{"-now", "-store"}, notStdout: []string{"-addr"}},
		{name: "keys revoke without kid", args: []string{"keys", "revoke"}, code: 2, stderr: []string{"exactly one KID"}},
		{name: "keys on memory store", args: []string{"keys", "list", "--store", "memory:"}, code: 2, stderr: []string{"memory: store"}},
		{name: "token verify", args: []string{"token", "verify", "x"}, code: 2, stderr: []string{"exactly one of --jwks URL and --issuer URL"}},
		{name: "token unknown", args: []string{"token", "forge"}, code: 2, stderr: []string{`unknown subcommand "forge"`}},
		{name: "token inspect no token", args: []string{"token", "inspect"}, code: 2, stderr: []string{"exactly one TOKEN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, nil, "", tt.args...)
			assert.Equal(t, tt.code, code, "stderr: %s", errOut)
			for _, w := range tt.stdout {
				assert.Contains(t, out, w)
			}
			for _, w := range tt.notStdout {
				assert.NotContains(t, out, w)
			}
			for _, w := range tt.stderr {
				assert.Contains(t, errOut, w)
			}
		})
	}
}

func TestServePostgresUnreachable(t *testing.T) {
	_, errOut, code := runCLI(t, nil, "", "serve", "--addr", "127.0.0.1:0", "--store", "postgres://app:s3cret@127.0.0.1:1/auth?connect_timeout=2")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "cannot reach the database")
	assert.NotContains(t, errOut, "s3cret")

	// The password as a query parameter is masked too.
	_, errOut, code = runCLI(t, nil, "", "serve", "--addr", "127.0.0.1:0", "--store", "postgres://app@127.0.0.1:1/auth?connect_timeout=2&password=hunter2")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "cannot reach the database")
	assert.NotContains(t, errOut, "hunter2")
}

// Every password spelling pgx accepts in a URL is masked wherever the store
// is printed (the "jwtauth listening" line, errors). Before, only user:pw@
// was: ?password=hunter2 was logged as it was.
func TestStoreStringRedactsEveryPassword(t *testing.T) {
	tests := []struct {
		dsn, secret, keep string
	}{
		{"postgres://app:s3cret@db:5432/auth", "s3cret", "db:5432/auth"},
		{"postgres://app@db/jwt?password=hunter2", "hunter2", "postgres://app@db/jwt?password=xxxxx"},
		{"postgresql://app@db/jwt?sslmode=require&password=hun%26ter2&application_name=x", "hun", "application_name=x"},
		{"postgres://app@db/jwt?sslmode=verify-full&sslpassword=keypass9", "keypass9", "sslpassword=xxxxx"},
		{"postgres://app:pw1@db/jwt?password=pw2", "pw", "postgres://app:xxxxx@db/jwt?password=xxxxx"},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			c, err := parseServeConfig([]string{"--store", tt.dsn}, nil)
			require.NoError(t, err)
			require.Equal(t, storePostgres, c.Store.Kind)
			assert.Equal(t, tt.dsn, c.Store.Path, "the DSN itself is kept for connecting")
			s := c.Store.String()
			assert.NotContains(t, s, tt.secret)
			assert.Contains(t, s, tt.keep)
			assert.NotContains(t, fmt.Sprint(c.Store), tt.secret)
		})
	}
	// A value that is no store is quoted in the error, masked.
	_, err := parseServeConfig([]string{"--store", "mysql://app@db/x?password=hunter2"}, nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2")
}

// The key-encryption key can come from a file (--key-encryption-key-file,
// JWTAUTH_KEY_ENCRYPTION_KEY_FILE), so that it never shows in the process
// list; with the direct setting as well, the configuration is refused.
func TestKeyEncryptionKeyFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	good := write("kek", kek32+"\n")
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"flag", []string{"--key-encryption-key-file", good}, nil},
		{"env", nil, map[string]string{"JWTAUTH_KEY_ENCRYPTION_KEY_FILE": good}},
		{"no trailing newline", []string{"--key-encryption-key-file", write("kek-bare", kek32)}, nil},
		{"CRLF", []string{"--key-encryption-key-file", write("kek-crlf", kek32+"\r\n")}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseServeConfig(tc.args, tc.env)
			require.NoError(t, err)
			require.Len(t, c.KeyEncryptionKey, 32)
			assert.Equal(t, byte(1), c.KeyEncryptionKey[0])
			assert.Equal(t, byte(32), c.KeyEncryptionKey[31])
		})
	}

	short := write("short", "c2hvcnQ=\n")
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"both flags", []string{"--key-encryption-key", kek32, "--key-encryption-key-file", good}, nil,
			[]string{"--key-encryption-key and --key-encryption-key-file both set"}},
		{"both variables", nil, map[string]string{"JWTAUTH_KEY_ENCRYPTION_KEY": kek32, "JWTAUTH_KEY_ENCRYPTION_KEY_FILE": good},
			[]string{"JWTAUTH_KEY_ENCRYPTION_KEY and JWTAUTH_KEY_ENCRYPTION_KEY_FILE both set"}},
		{"variable and file flag", []string{"--key-encryption-key-file", good}, map[string]string{"JWTAUTH_KEY_ENCRYPTION_KEY": kek32},
			[]string{"JWTAUTH_KEY_ENCRYPTION_KEY and --key-encryption-key-file both set"}},
		{"missing file", []string{"--key-encryption-key-file", filepath.Join(dir, "nope")}, nil,
			[]string{"--key-encryption-key-file", "no such file"}},
		{"short key in file", nil, map[string]string{"JWTAUTH_KEY_ENCRYPTION_KEY_FILE": short},
			[]string{"JWTAUTH_KEY_ENCRYPTION_KEY_FILE", "decodes to 5 bytes, want 32"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseServeConfig(tc.args, tc.env)
			require.Error(t, err)
			assert.Equal(t, 2, exitCode(err))
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), kek32, "a key-encryption key must never be echoed")
			assert.NotContains(t, err.Error(), "c2hvcnQ", "a key-encryption key must never be echoed")
		})
	}
}
