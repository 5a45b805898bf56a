package keys_test

import (
	"context"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNinetyDaysOfHourlyRotation runs the schedule for 90 days of hourly
// rotations on an injected clock, issuing a token every minute and checking
// every live token each minute against three verifiers:
//
//	local: this server's current key set;
//	maxage: a remote copy of the JWKS refreshed every max-age (5 min);
//	hourly: a remote copy refreshed every hour, never on an unknown kid.
//
// A verifier accepts a token when its copy publishes the token's kid. On day
// 45 the active key is revoked.
func TestNinetyDaysOfHourlyRotation(t *testing.T) {
	const (
		ttl    = 15 * time.Minute
		leeway = 30 * time.Second
		maxAge = 5 * time.Minute
		days   = 90
	)
	pol := keys.Policy{Bits: 2048, RotateEvery: time.Hour, Prepublish: time.Hour, Retain: ttl + leeway + maxAge}
	c := newClock()
	ctx := context.Background()
	m, err := keys.Open(ctx, keys.Config{Store: memory.New(), Policy: pol, Now: c.Now, Generate: keystest.Generator(t), Logger: quiet})
	require.NoError(t, err)

	type token struct {
		kid      string
		iat, exp time.Time
	}
	type remote struct {
		name  string
		every time.Duration
		at    time.Time
		kids  map[string]bool
	}
	remotes := []*remote{{name: "maxage", every: maxAge}, {name: "hourly", every: time.Hour}}
	snapshot := func(r *remote, now time.Time) {
		r.kids, r.at = map[string]bool{}, now
		for _, k := range m.Current().Published() {
			r.kids[k.KID] = true
		}
	}
	start := c.Now()
	for _, r := range remotes {
		snapshot(r, start)
	}
	revokeAt := start.Add(45*24*time.Hour + 17*time.Minute)
	var (
		revokedKID     string
		live           []token
		issued         int
		rotations      int
		rejectedValid  = map[string]int{}
		acceptedRevokd = map[string]int{}
		afterRevoke    = map[string]int{} // valid tokens rejected in the hour after the revocation
		maxPublished   int
	)
	for now := start; now.Before(start.Add(days * 24 * time.Hour)); now = c.Now() {
		before := m.Current().Active().KID
		if !now.Before(m.NextDue(m.Current())) {
			require.NoError(t, m.Maintain(ctx))
		}
		if revokedKID == "" && !now.Before(revokeAt) {
			revokedKID = m.Current().Active().KID
			require.NoError(t, m.Revoke(ctx, revokedKID))
		} else if m.Current().Active().KID != before {
			rotations++
		}
		for _, r := range remotes {
			if now.Sub(r.at) >= r.every {
				snapshot(r, now)
			}
		}
		live = append(live, token{kid: m.Current().Active().KID, iat: now, exp: now.Add(ttl)})
		issued++
		for len(live) > 0 && !now.Before(live[0].exp.Add(leeway)) {
			live = live[1:]
		}
		for _, tok := range live {
			_, err := m.Current().VerificationKey(ctx, tok.kid)
			results := map[string]bool{"local": err == nil}
			seen := map[string]bool{"local": true}
			for _, r := range remotes {
				results[r.name] = r.kids[tok.kid]
				seen[r.name] = !r.at.Before(revokeAt)
			}
			for name, ok := range results {
				switch {
				case tok.kid == revokedKID:
					if ok && seen[name] {
						acceptedRevokd[name]++
					}
				case !ok && now.Before(revokeAt.Add(time.Hour)) && !now.Before(revokeAt):
					afterRevoke[name]++
				case !ok:
					rejectedValid[name]++
				}
			}
		}
		maxPublished = max(maxPublished, len(m.Current().Published()))
		c.Add(time.Minute)
	}
	t.Logf("%d days, %d tokens, %d scheduled rotations, max keys in JWKS %d, rejected valid %v, accepted revoked %v, rejected in the hour after the emergency revoke %v",
		days, issued, rotations, maxPublished, rejectedValid, acceptedRevokd, afterRevoke)
	assert.Equal(t, days*24*60, issued)
	assert.InDelta(t, days*24-1, rotations, 2, "one rotation an hour")
	assert.Empty(t, rejectedValid, "no valid token is ever rejected outside the emergency revocation")
	assert.Empty(t, acceptedRevokd, "no token of the revoked key verifies once a verifier has refreshed")
	assert.Zero(t, afterRevoke["local"]+afterRevoke["maxage"], "the promoted next key was published before the verifiers' last refresh")
	assert.LessOrEqual(t, maxPublished, 3, "next, active and one retired key at most")
}
