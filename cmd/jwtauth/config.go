package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jwtauth/jwtauth/adapters/postgres"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/remote"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
)

// Store kinds a --store value selects.
const (
	storeSQLite   = "sqlite"
	storeMemory   = "memory"
	storePostgres = "postgres"
)

// storeConfig is a parsed --store value.
type storeConfig struct {
	Kind string // storeSQLite, storeMemory or storePostgres
	Path string // the SQLite file name, or the PostgreSQL DSN
}

// String returns the store as it may be logged: every password of a
// PostgreSQL DSN (user:pw@, ?password=, ?sslpassword=) is replaced by
// "xxxxx" (postgres.RedactDSN).
func (s storeConfig) String() string {
	switch s.Kind {
	case storeSQLite:
		return "sqlite:" + s.Path
	case storeMemory:
		return "memory:"
	}
	return postgres.RedactDSN(s.Path)
}

// config is the configuration of SPEC §2. The key-set fields are shared by
// every verb that opens the store; Addr, Issuer, Audience and RefreshTTL
// only matter to serve.
type config struct {
	Addr     string
	Issuer   string
	Audience string
	Store    storeConfig

	AccessTTL  time.Duration
	RefreshTTL time.Duration
	// RefreshFamilyTTL is the absolute lifetime of a refresh-token family
	// (account.Config.RefreshFamilyTTL); serve only.
	RefreshFamilyTTL time.Duration
	RotateEvery      time.Duration
	KeyBits          int
	JWKSMaxAge       time.Duration
	Prepublish       time.Duration
	// KeyEncryptionKey is the 32-byte key sealing private keys at rest; nil
	// means private keys are stored in clear. It is never logged or printed.
	KeyEncryptionKey []byte
	// TrustedProxies are the networks of the reverse proxies in front of
	// serve (jwtauth.RoutesConfig.TrustedProxies); nil means none, so login
	// throttling counts the connection's address and ignores X-Forwarded-For.
	TrustedProxies []netip.Prefix
	// Throttle holds the login and registration budgets of the
	// --throttle-* settings (UserFailures to RegisterInterval; -1 turns a
	// budget off); serve only. serviceConfig adds the store.
	Throttle account.LoginThrottle
	// StoreTimeout bounds each store call of a request
	// (account.Config.StoreTimeout): then the request answers 503.
	StoreTimeout time.Duration
	// TokenCacheSize bounds the verifier's cache of verified access tokens,
	// in entries (token.VerifierConfig.CacheSize); 0 turns it off. serve only.
	TokenCacheSize int

	// CookieMode turns on jwtauth.CookieMode (SameSite=Strict); serve only.
	CookieMode bool
	// Demo serves the browser demo page at /demo/; it needs CookieMode.
	Demo bool
	// DPoP is the DPoP policy (jwtauth.Config.DPoP); serve only.
	DPoP jwtauth.DPoPMode
	// MetricsAddr is the host:port of the separate listener serving
	// Prometheus /metrics; "" (the default) serves no metrics. serve only.
	MetricsAddr string

	// ReplacePolicy lets serve replace the rotation policy stored with the
	// key set by its own settings (SPEC §3); serve only.
	ReplacePolicy bool
	// Retain, when not zero, is the retention of retired keys adopted from
	// the key set's stored policy (see adoptPolicy), in place of AccessTTL +
	// leeway + JWKSMaxAge; it is never shorter than that.
	Retain time.Duration
	// Given maps the flag name of each setting given explicitly, as a flag
	// or an environment variable, to its source: "--prepublish" or
	// "JWTAUTH_PREPUBLISH". A setting left at its default is absent.
	Given map[string]string
}

// Policy returns the key rotation policy: retired keys stay published until
// every token they signed has expired and every cached JWKS has been
// refreshed (access TTL + leeway + JWKS max-age, SPEC §3), or for the
// longer retention adopted from the key set (Retain).
func (c config) Policy() keys.Policy {
	return keys.Policy{
		Bits:        c.KeyBits,
		RotateEvery: c.RotateEvery,
		Prepublish:  c.Prepublish,
		Retain:      max(c.Retain, c.tokenRetention()),
	}
}

// tokenRetention is how long this process's tokens need a retired key to
// stay published: access TTL + leeway + JWKS max-age.
func (c config) tokenRetention() time.Duration {
	return c.AccessTTL + token.DefaultLeeway + c.JWKSMaxAge
}

// setting is one row of the SPEC §2 table: a flag, its environment variable
// and its default. The flag wins over the variable, which wins over the default.
type setting struct {
	flag, env, def, usage string
	serveOnly             bool
}

// settings is the table of SPEC §2, in its order, followed by this
// implementation's extensions.
var settings = []setting{
	{"addr", "JWTAUTH_ADDR", "127.0.0.1:8080", "`host:port` to listen on", true},
	{"issuer", "JWTAUTH_ISSUER", "", "iss of the tokens and base `URL` of the discovery document (default http://<addr>)", true},
	{"audience", "JWTAUTH_AUDIENCE", "", "aud of the tokens (default the issuer)", true},
	{"store", "JWTAUTH_STORE", "sqlite:./jwtauth.db", "`store`: sqlite:PATH, memory: (throwaway) or postgres://…", false},
	{"access-ttl", "JWTAUTH_ACCESS_TTL", "15m", "lifetime of access tokens", false},
	{"refresh-ttl", "JWTAUTH_REFRESH_TTL", "720h", "lifetime of refresh tokens", true},
	{"rotate-every", "JWTAUTH_ROTATE_EVERY", "24h", "how long a key signs before the next one replaces it", false},
	{"key-bits", "JWTAUTH_KEY_BITS", "2048", "RSA modulus size of new keys: 2048, 3072 or 4096", false},
	{"jwks-max-age", "JWTAUTH_JWKS_MAX_AGE", "5m", "Cache-Control max-age of the JWKS", false},
	{"prepublish", "JWTAUTH_PREPUBLISH", "1h", "how long a next key is public before it may sign (at least jwks-max-age + 1m)", false},
	{"key-encryption-key", "JWTAUTH_KEY_ENCRYPTION_KEY", "", "`base64` of 32 random bytes sealing private keys at rest (default unset: stored in clear); prefer the variable or the -file setting, a flag shows in the process list", false},
	// Extensions.
	{"key-encryption-key-file", "JWTAUTH_KEY_ENCRYPTION_KEY_FILE", "", "`path` of a file holding the key-encryption key (base64 of 32 bytes, a trailing newline allowed); instead of --key-encryption-key", false},
	{"trusted-proxies", "JWTAUTH_TRUSTED_PROXIES", "", "comma-separated `CIDRs or IPs` of the reverse proxies whose X-Forwarded-For names the client (default none: the connection's address)", true},
	// Login and registration budgets per client address and username
	// (account.LoginThrottle, named after its fields): N tokens at once, one
	// back every interval.
	{"throttle-user-failures", "JWTAUTH_THROTTLE_USER_FAILURES", strconv.Itoa(account.DefaultUserFailures), "failed logins one username (or device) may have before 429 (1 to " + strconv.Itoa(maxThrottleBudget) + ", or off)", true},
	{"throttle-user-interval", "JWTAUTH_THROTTLE_USER_INTERVAL", "1m", "time in which one failed login of a username comes back", true},
	{"throttle-ip-failures", "JWTAUTH_THROTTLE_IP_FAILURES", strconv.Itoa(account.DefaultIPFailures), "failed or refused logins one client address (IPv4, IPv6 /64) may have before 429 (1 to " + strconv.Itoa(maxThrottleBudget) + ", or off); raise it for many users behind one NAT address", true},
	{"throttle-ip-interval", "JWTAUTH_THROTTLE_IP_INTERVAL", "6s", "time in which one login attempt of a client address comes back", true},
	{"throttle-registrations", "JWTAUTH_THROTTLE_REGISTRATIONS", strconv.Itoa(account.DefaultRegistrations), "registrations one client address may make at once (1 to " + strconv.Itoa(maxThrottleBudget) + ", or off); raise it for many users behind one NAT address", true},
	{"throttle-register-interval", "JWTAUTH_THROTTLE_REGISTER_INTERVAL", "3m", "time in which one registration of a client address comes back", true},
	{"refresh-family-ttl", "JWTAUTH_REFRESH_FAMILY_TTL", "2160h", "absolute lifetime of a session: no refresh token of a login works after it, however often refreshed", true},
	{"store-timeout", "JWTAUTH_STORE_TIMEOUT", "5s", "how long a request waits for each store call before it answers 503 (at most " + requestTimeout.String() + ")", true},
	{"token-cache-size", "JWTAUTH_TOKEN_CACHE_SIZE", strconv.Itoa(token.DefaultCacheSize), "`entries` of the cache of verified access tokens (about 1.2 KiB each; at most " + strconv.Itoa(maxTokenCacheSize) + "); 0 turns it off", true},
	// Browser pages (SPEC §2, issue 14): boolean flags, as their default "false" says.
	{"cookie-mode", "JWTAUTH_COOKIE_MODE", "false", "refresh token in an HttpOnly cookie (SameSite=Strict) with CSRF protection instead of the JSON body, for browser pages", true},
	{"demo", "JWTAUTH_DEMO", "false", "serve the browser demo page at /demo/ (needs --cookie-mode)", true},
	{"dpop", "JWTAUTH_DPOP", "allowed", "DPoP (RFC 9449) `mode`: allowed (tokens bound to the key of a login's or refresh's proof; bearer tokens without one), required (bearer tokens refused) or off", true},
	// Metrics: a listener of its own, never the public --addr.
	{"metrics-addr", "JWTAUTH_METRICS_ADDR", "", "`host:port` of a separate listener serving Prometheus /metrics (default unset: no metrics); never the --addr listener", true},
	// The rotation policy stored with the key set (SPEC §3, issue 22).
	{"replace-policy", "JWTAUTH_REPLACE_POLICY", "false", "replace the rotation policy stored with the key set (--rotate-every, --prepublish, and the retention from --access-ttl + 30s leeway + --jwks-max-age) by this server's; without it, a server adopts the stored policy and refuses explicit settings that differ", true},
}

// boolSetting reports whether s is a boolean flag (--demo, or --demo=false):
// its default is "false".
func boolSetting(s setting) bool { return s.def == "false" }

// boolValue is the flag.Value of a boolean setting: it keeps the text, which
// resolveConfig parses like the environment's value.
type boolValue struct{ s *string }

func (b boolValue) String() string {
	if b.s == nil {
		return "false"
	}
	return *b.s
}
func (b boolValue) Set(v string) error { *b.s = v; return nil }
func (b boolValue) IsBoolFlag() bool   { return true }

// maxThrottleBudget and maxThrottleInterval bound the --throttle-* settings:
// a bucket then refills in at most 100 000 × 24 h, which a time.Duration
// still holds.
const (
	maxThrottleBudget   = 100_000
	maxThrottleInterval = 24 * time.Hour
)

// maxTokenCacheSize bounds --token-cache-size, and so the cache's memory
// (about 1.2 KiB an entry, 2 × 8 KiB at most).
const maxTokenCacheSize = 1_000_000

// usageError marks a bad command line or configuration: exit status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// addSettings registers the settings a verb takes on fs (every one for
// serve, the key-set ones for the other verbs) and returns their values by
// flag name.
func addSettings(fs *flag.FlagSet, serve bool) map[string]*string {
	vals := map[string]*string{}
	for _, s := range settings {
		if s.serveOnly && !serve {
			continue
		}
		usage := s.usage + " [$" + s.env + "]"
		if boolSetting(s) {
			v := s.def
			fs.Var(boolValue{&v}, s.flag, usage)
			vals[s.flag] = &v
			continue
		}
		vals[s.flag] = fs.String(s.flag, s.def, usage)
	}
	return vals
}

// resolveConfig builds the config from the flags set on fs (vals, from
// addSettings), then the environment, then the defaults, and validates it.
// Every error names the flag or variable at fault and is a *usageError.
func resolveConfig(fs *flag.FlagSet, vals map[string]*string, env func(string) string) (config, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	type source struct{ value, name string }
	get := func(s setting) (source, bool) {
		if set[s.flag] {
			return source{*vals[s.flag], "--" + s.flag}, true
		}
		if v := env(s.env); v != "" {
			return source{v, s.env}, true
		}
		return source{s.def, "--" + s.flag}, false
	}

	var c config
	var errs []error
	bad := func(src source, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{src.name}, args...)...))
	}
	duration := func(src source, dst *time.Duration) {
		d, err := time.ParseDuration(src.value)
		switch {
		case err != nil:
			bad(src, "%q is not a duration (examples: 90s, 15m, 24h)", src.value)
		case d < time.Second:
			bad(src, "must be at least 1s (times in tokens have whole seconds), got %s", src.value)
		default:
			*dst = d
		}
	}
	var kekFrom []string // where a key-encryption key came from
	hostPort := func(src source) {
		if _, port, err := net.SplitHostPort(src.value); err != nil {
			bad(src, "%q is not host:port", src.value)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			bad(src, "%q: port must be a number from 0 to 65535", src.value)
		}
	}
	var metricsFrom source
	for _, s := range settings {
		if _, ok := vals[s.flag]; !ok {
			continue
		}
		src, given := get(s)
		if given {
			if c.Given == nil {
				c.Given = map[string]string{}
			}
			c.Given[s.flag] = src.name
		}
		switch s.flag {
		case "addr":
			hostPort(src)
			c.Addr = src.value
		case "metrics-addr":
			if given {
				hostPort(src)
				c.MetricsAddr, metricsFrom = src.value, src
			}
		case "issuer":
			if given {
				if err := checkIssuer(src.value); err != nil {
					bad(src, "%v", err)
				}
				c.Issuer = src.value
			}
		case "audience":
			if given {
				c.Audience = src.value
			}
		case "store":
			st, err := parseStore(src.value)
			if err != nil {
				bad(src, "%v", err)
			}
			c.Store = st
		case "access-ttl":
			duration(src, &c.AccessTTL)
		case "refresh-ttl":
			duration(src, &c.RefreshTTL)
		case "refresh-family-ttl":
			duration(src, &c.RefreshFamilyTTL)
		case "rotate-every":
			duration(src, &c.RotateEvery)
		case "jwks-max-age":
			duration(src, &c.JWKSMaxAge)
		case "prepublish":
			duration(src, &c.Prepublish)
		case "key-bits":
			n, err := strconv.Atoi(src.value)
			if err != nil || keys.ValidateBits(n) != nil {
				bad(src, "%q is not a supported RSA key size (2048, 3072 or 4096)", src.value)
			}
			c.KeyBits = n
		case "key-encryption-key":
			if given {
				kek, err := decodeKEK(src.value)
				if err != nil {
					bad(src, "%v", err) // never the value itself
				}
				c.KeyEncryptionKey = kek
				kekFrom = append(kekFrom, src.name)
			}
		case "key-encryption-key-file":
			if given {
				kekFrom = append(kekFrom, src.name)
				b, err := os.ReadFile(src.value)
				if err != nil {
					bad(src, "%v", err)
					break
				}
				kek, err := decodeKEK(string(b))
				if err != nil {
					bad(src, "the content of %s %v", src.value, err) // never the key itself
				}
				c.KeyEncryptionKey = kek
			}
		case "store-timeout":
			d, err := time.ParseDuration(src.value)
			switch {
			case err != nil:
				bad(src, "%q is not a duration (examples: 2s, 500ms)", src.value)
			case d <= 0 || d > requestTimeout:
				bad(src, "must be more than 0 and at most %s (every request is answered within %s), got %s", requestTimeout, requestTimeout, src.value)
			default:
				c.StoreTimeout = d
			}
		case "token-cache-size":
			n, err := strconv.Atoi(src.value)
			if err != nil || n < 0 || n > maxTokenCacheSize {
				bad(src, "%q is not a number of entries from 0 (off) to %d", src.value, maxTokenCacheSize)
			}
			c.TokenCacheSize = n
		case "dpop":
			m, err := jwtauth.ParseDPoPMode(src.value)
			if err != nil {
				bad(src, "%q is not off, allowed or required", src.value)
			}
			c.DPoP = m
		case "cookie-mode", "demo", "replace-policy":
			on, err := strconv.ParseBool(src.value)
			if err != nil {
				bad(src, "%q is not a boolean (true or false, 1 or 0)", src.value)
			}
			switch s.flag {
			case "demo":
				c.Demo = on
			case "cookie-mode":
				c.CookieMode = on
			default:
				c.ReplacePolicy = on
			}
		case "throttle-user-failures", "throttle-ip-failures", "throttle-registrations":
			n := -1 // off
			if !strings.EqualFold(src.value, "off") {
				var err error
				if n, err = strconv.Atoi(src.value); err != nil || n < 1 || n > maxThrottleBudget {
					bad(src, "%q is not a number of attempts from 1 to %d, or off", src.value, maxThrottleBudget)
				}
			}
			switch s.flag {
			case "throttle-user-failures":
				c.Throttle.UserFailures = n
			case "throttle-ip-failures":
				c.Throttle.IPFailures = n
			default:
				c.Throttle.Registrations = n
			}
		case "throttle-user-interval", "throttle-ip-interval", "throttle-register-interval":
			d, err := time.ParseDuration(src.value)
			switch {
			case err != nil:
				bad(src, "%q is not a duration (examples: 6s, 1m, 3m)", src.value)
			case d < time.Millisecond || d > maxThrottleInterval:
				bad(src, "must be from 1ms to %s, got %s", "24h", src.value)
			}
			switch s.flag {
			case "throttle-user-interval":
				c.Throttle.UserInterval = d
			case "throttle-ip-interval":
				c.Throttle.IPInterval = d
			default:
				c.Throttle.RegisterInterval = d
			}
		case "trusted-proxies":
			if given {
				p, err := parseTrustedProxies(src.value)
				if err != nil {
					bad(src, "%v", err)
				}
				c.TrustedProxies = p
			}
		}
	}
	if c.MetricsAddr != "" && c.MetricsAddr == c.Addr {
		bad(metricsFrom, "%q is the --addr listener: metrics need a listener of their own, never the public address", c.MetricsAddr)
	}
	if len(kekFrom) > 1 {
		errs = append(errs, fmt.Errorf("%s and %s both set a key-encryption key: set only one (the file keeps it out of the process list)", kekFrom[0], kekFrom[1]))
	}
	if _, serve := vals["addr"]; serve && c.Addr != "" {
		if c.Issuer == "" {
			c.Issuer = "http://" + c.Addr
		}
		if c.Audience == "" {
			c.Audience = c.Issuer
		}
	}
	if c.Demo && !c.CookieMode {
		errs = append(errs, errors.New("--demo (JWTAUTH_DEMO) needs --cookie-mode (JWTAUTH_COOKIE_MODE): the page keeps the refresh token in an HttpOnly cookie"))
	}
	if len(errs) > 0 {
		return config{}, &usageError{errors.Join(errs...)}
	}
	return c, nil
}

// prepublishWarning returns the warning serve logs at start when
// --prepublish is shorter than minPrepublish, or "" when it is not. Such a
// schedule is allowed (tests and demos rotate every few seconds) but remote
// verifiers following the rule would meet a kid they have never seen and
// refuse the tokens it signs, so serve says so loudly.
func (c config) prepublishWarning() string {
	least := minPrepublish(c.JWKSMaxAge)
	if c.JWKSMaxAge <= 0 || c.Prepublish <= 0 || c.Prepublish >= least {
		return ""
	}
	return fmt.Sprintf("--prepublish %s is shorter than --jwks-max-age %s plus %s, the least a verifier needs to see a new key: "+
		"remote verifiers (remote.KeySet and others) refresh the JWKS at most once every %s and may be handed a copy up to --jwks-max-age old, "+
		"so they will meet a kid they have never seen and reject the tokens it signs; "+
		"set --prepublish to at least %s or lower --jwks-max-age", c.Prepublish, c.JWKSMaxAge, remote.DefaultMinRefresh, remote.DefaultMinRefresh, least)
}

// cookieModeWarning returns the warning serve logs at start when cookie
// mode meets a plain-http issuer whose host is not loopback, or "". The
// cookies are Secure there (only loopback http is exempt), and browsers
// drop a Secure cookie set over http: logins would answer 200 and every
// refresh would then find no cookie.
func (c config) cookieModeWarning() string {
	if !c.CookieMode {
		return ""
	}
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Scheme != "http" {
		return ""
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); strings.EqualFold(host, "localhost") || err == nil && ip.Unmap().IsLoopback() {
		return ""
	}
	return fmt.Sprintf("--cookie-mode with the plain-http issuer %s: its cookies are Secure (only http to 127.0.0.1, ::1 or localhost is exempt), "+
		"and browsers drop Secure cookies set over http, so no browser session would last; publish the issuer over https (a TLS-terminating proxy, --issuer https://…)", c.Issuer)
}

// loopbackCookieWarning returns the warning serve logs at start when
// cookie mode runs with an issuer on a loopback host (127.0.0.1, ::1,
// localhost: the development default), or "". A browser sends a host's
// cookies to every port of that host (RFC 6265 §8.5), so every other web
// server on this machine (a dev server, a notebook, a tool's local UI)
// receives the session cookies, can redeem the refresh token and can set
// its own over it: see SECURITY.md, guarantee 9.
func (c config) loopbackCookieWarning() string {
	if !c.CookieMode {
		return ""
	}
	u, err := url.Parse(c.Issuer)
	if err != nil {
		return ""
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); !strings.EqualFold(host, "localhost") && (err != nil || !ip.Unmap().IsLoopback()) {
		return ""
	}
	return fmt.Sprintf("--cookie-mode on the loopback issuer %s is for development: browsers send its cookies to every port of %s, "+
		"so any other web server on this machine can read the refresh cookie, use the session and replace it with its own; "+
		"in production give cookie mode a host name that serves nothing else", c.Issuer, host)
}

// minPrepublish is the shortest --prepublish verifiers can follow: a key
// must be public for remote.KeySet's refresh floor (1 min) plus the
// JWKS max-age (the age of a copy an HTTP cache may hand it) before it signs.
// Verifiers that cache longer whatever max-age says need more, which the
// default of 1 h gives them.
func minPrepublish(jwksMaxAge time.Duration) time.Duration {
	return jwksMaxAge + remote.DefaultMinRefresh
}

// parseStore parses a --store value: "sqlite:PATH", "memory:" or a
// "postgres://" / "postgresql://" URL.
func parseStore(v string) (storeConfig, error) {
	switch {
	case strings.HasPrefix(v, "postgres://"), strings.HasPrefix(v, "postgresql://"):
		if _, err := url.Parse(v); err != nil {
			return storeConfig{}, errors.New("the PostgreSQL URL does not parse")
		}
		return storeConfig{Kind: storePostgres, Path: v}, nil
	case v == "memory:":
		return storeConfig{Kind: storeMemory}, nil
	case strings.HasPrefix(v, "sqlite:"):
		p := strings.TrimPrefix(v, "sqlite:")
		if p == "" {
			return storeConfig{}, errors.New(`"sqlite:" needs a file name, e.g. sqlite:./jwtauth.db`)
		}
		return storeConfig{Kind: storeSQLite, Path: p}, nil
	}
	return storeConfig{}, fmt.Errorf("%q is not a store; use sqlite:PATH, memory: or postgres://user@host/db", postgres.RedactDSN(v))
}

// parseTrustedProxies parses a comma-separated list of CIDR prefixes
// ("10.0.0.0/8", "fd00::/8") and single addresses ("192.0.2.7", a /32 or
// /128). Blanks around entries and empty entries are ignored, so an empty
// value (a flag overriding the variable) trusts none; IPv4-mapped
// IPv6 forms are stored as IPv4, which is how jwtauth.ClientIP compares. A
// prefix of length 0 is refused: it would let every client write its own
// address into X-Forwarded-For.
func parseTrustedProxies(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		var p netip.Prefix
		if strings.Contains(item, "/") {
			var err error
			if p, err = netip.ParsePrefix(item); err != nil {
				return nil, fmt.Errorf("%q is not a CIDR prefix or an IP address", item)
			}
			if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
			}
		} else {
			a, err := netip.ParseAddr(item)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%q is not a CIDR prefix or an IP address", item)
			}
			a = a.Unmap()
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Bits() == 0 {
			return nil, fmt.Errorf("%q trusts every address: any client could choose the address login throttling counts; name the proxies' networks", item)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// formatPrefixes returns ps as a comma-separated list, for logs.
func formatPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// checkIssuer accepts an absolute http(s) URL without query or fragment
// (OpenID Connect Discovery 1.0 §3).
func checkIssuer(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", v)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q must not have user info, a query or a fragment", v)
	}
	return nil
}

// decodeKEK decodes a base64 (standard or URL alphabet, padded or not)
// key-encryption key of exactly 32 bytes. Errors never contain the value.
func decodeKEK(v string) ([]byte, error) {
	v = strings.TrimSpace(v)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.Strict().DecodeString(v)
		if err != nil {
			continue
		}
		if len(b) != 32 {
			return nil, fmt.Errorf("decodes to %d bytes, want 32 (generate one with: openssl rand -base64 32)", len(b))
		}
		return b, nil
	}
	return nil, errors.New("is not valid base64 (generate one with: openssl rand -base64 32)")
}
