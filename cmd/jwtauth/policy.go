package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/account"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
)

// The rotation policy stored with the key set (SPEC §3, issue 22): every
// server on a store runs the same schedule, and the keys verbs follow it.
// A server's settings meet the stored policy in adoptPolicy.

// policyAction says what serve does with the key set's stored policy.
type policyAction int

const (
	policyNew      policyAction = iota // none stored: this server's is stored
	policyAdopted                      // stored: this server runs it
	policyReplaced                     // --replace-policy: this server's replaces it
)

// adoptPolicy reconciles the settings of c with the policy stored with the
// key set and returns the configuration serve runs with:
//
//   - with nothing stored, or with --replace-policy, c's own;
//   - otherwise the stored --rotate-every and --prepublish in place of those
//     left at their defaults, and the stored retention when it is longer
//     than the one c's tokens need (access TTL + leeway + JWKS max-age).
//     Settings left at their defaults are fitted to the stored policy: a
//     defaulted --jwks-max-age is lowered to the stored --prepublish, and a
//     defaulted --access-ttl to what the stored retention covers (when that
//     max-age leaves the tokens under a second, both share the retention
//     after the leeway equally), so a server started without settings runs
//     the stored policy whenever the retention leaves each at least 1s.
//
// It refuses, with a *usageError naming both values and --replace-policy,
// a setting given explicitly (flag or environment variable) that differs
// from the stored one; a retention that differs when --access-ttl or
// --jwks-max-age was given; a retention the defaults cannot fit (the
// server's tokens would outlive their key); and an adopted --prepublish
// shorter than an explicit --jwks-max-age. A retention of zero (stored
// before retention was part of the policy) is not compared: the server
// stores its own. Key size is not part of the policy.
func adoptPolicy(c config, stored keys.Schedule) (config, policyAction, error) {
	if stored.IsZero() {
		return c, policyNew, nil
	}
	if c.ReplacePolicy {
		if c.Policy().Schedule() == stored {
			return c, policyAdopted, nil
		}
		return c, policyReplaced, nil
	}
	var errs []error
	differs := func(name string, own, want time.Duration) {
		errs = append(errs, fmt.Errorf("serve: %s %s differs from the key set's stored policy (%s); pass --replace-policy to replace it", name, own, want))
	}
	for _, d := range []struct {
		flag   string
		own    *time.Duration
		stored time.Duration
	}{
		{"rotate-every", &c.RotateEvery, stored.RotateEvery},
		{"prepublish", &c.Prepublish, stored.Prepublish},
	} {
		if name, ok := c.Given[d.flag]; !ok {
			*d.own = d.stored
		} else if *d.own != d.stored {
			differs(name, *d.own, d.stored)
		}
	}
	_, ttlGiven := c.Given["access-ttl"]
	_, maxAgeGiven := c.Given["jwks-max-age"]
	if _, ok := c.Given["prepublish"]; !ok && !maxAgeGiven && c.Prepublish < c.JWKSMaxAge {
		c.JWKSMaxAge = c.Prepublish // fitted: a defaulted max-age never outlasts the stored lead
	}
	if stored.Retain > 0 && !ttlGiven && !maxAgeGiven && c.tokenRetention() > stored.Retain {
		// Fitted: a defaulted token lifetime is what the stored retention covers.
		// When the max-age (at most the stored lead) leaves the tokens less
		// than a second, the time after the leeway is split between the two
		// (serve --access-ttl 1m --jwks-max-age 1m --prepublish 2m stores a
		// retention of 2m30s, which a max-age of 2m cannot fit).
		avail := stored.Retain - token.DefaultLeeway
		maxAge := c.JWKSMaxAge
		if avail-maxAge < time.Second {
			maxAge = min(maxAge, (avail / 2).Truncate(time.Second))
		}
		if fit := avail - maxAge; fit >= time.Second && maxAge >= time.Second {
			c.AccessTTL, c.JWKSMaxAge = fit.Truncate(time.Second), maxAge
		}
	}
	if _, ok := c.Given["prepublish"]; !ok && c.Prepublish < c.JWKSMaxAge {
		errs = append(errs, fmt.Errorf("serve: the key set's stored policy has a --prepublish of %s, shorter than %s %s: a verifier's cached JWKS would lack a key when it starts signing; "+
			"set --jwks-max-age to at most %s, or pass --prepublish and --replace-policy to replace the stored policy", c.Prepublish, c.name("jwks-max-age"), c.JWKSMaxAge, c.Prepublish))
	}
	if stored.Retain > 0 {
		own := c.tokenRetention()
		what := fmt.Sprintf("retention of %s (%s %s + %s leeway + %s %s)", own, c.name("access-ttl"), c.AccessTTL, token.DefaultLeeway, c.name("jwks-max-age"), c.JWKSMaxAge)
		switch {
		case (ttlGiven || maxAgeGiven) && own != stored.Retain:
			errs = append(errs, fmt.Errorf("serve: %s differs from the key set's stored policy (%s); pass --replace-policy to replace it", what, stored.Retain))
		case own > stored.Retain:
			errs = append(errs, fmt.Errorf("serve: %s exceeds the key set's stored policy (%s): this server's tokens would outlive the key that signed them; "+
				"set --access-ttl and --jwks-max-age to the other servers' values, or pass --replace-policy to replace it", what, stored.Retain))
		default:
			c.Retain = stored.Retain
		}
	}
	if len(errs) > 0 {
		return config{}, policyAdopted, &usageError{errors.Join(errs...)}
	}
	return c, policyAdopted, nil
}

// name returns where the setting flag came from ("--access-ttl" or
// "JWTAUTH_ACCESS_TTL"), its flag when it was left at its default.
func (c config) name(flag string) string {
	if n, ok := c.Given[flag]; ok {
		return n
	}
	return "--" + flag
}

// applyStoredPolicy loads the policy stored with the key set in store,
// reconciles cfg with it (adoptPolicy) and logs the outcome: the policy
// adopted, or the one replaced (a warning, with both). A store that keeps
// no policy (not a keys.ScheduleStore) leaves cfg as it is.
func applyStoredPolicy(ctx context.Context, cfg config, store account.Store, log *slog.Logger) (config, error) {
	ss, ok := store.(keys.ScheduleStore)
	if !ok {
		return cfg, nil
	}
	stored, err := ss.LoadSchedule(ctx)
	if err != nil {
		return cfg, fmt.Errorf("load the key set's rotation policy from %s: %w", cfg.Store, err)
	}
	cfg, action, err := adoptPolicy(cfg, stored)
	if err != nil {
		return cfg, err
	}
	p := cfg.Policy()
	switch action {
	case policyAdopted:
		log.Info("adopted the key set's stored rotation policy", "rotate_every", p.RotateEvery, "prepublish", p.Prepublish, "retain", p.Retain,
			"access_ttl", cfg.AccessTTL, "jwks_max_age", cfg.JWKSMaxAge)
	case policyReplaced:
		log.Warn("replaced the key set's stored rotation policy", "rotate_every", p.RotateEvery, "prepublish", p.Prepublish, "retain", p.Retain,
			"stored_rotate_every", stored.RotateEvery, "stored_prepublish", stored.Prepublish, "stored_retain", stored.Retain)
	}
	return cfg, nil
}
