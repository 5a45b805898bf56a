package keys_test

import (
	"context"
	"crypto/rsa"
	"fmt"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	simTTL    = 15 * time.Minute
	simLeeway = 30 * time.Second
	simMaxAge = 5 * time.Minute
	simDays   = 90
)

// remoteVerifier is a copy of the JWKS refreshed every `every`, first at
// start+phase, and, when refetch is set, at once on an unknown kid (as
// go-oidc, mod_auth_openidc and jwks-rsa do); otherwise never on one.
type remoteVerifier struct {
	name         string
	every, phase time.Duration
	refetch      bool
}

// scenario is one schedule of the 90-day simulation.
type scenario struct {
	policy  keys.Policy
	remotes []remoteVerifier
	// revokeNextLead, when set, revokes the next key once a week this long
	// before the active key's scheduled rotation, so that a fresh next key
	// is published less than Prepublish before the rotation is due. (Once a
	// week: revoked keys stay in the set, and there are 20 fixed test keys.)
	// For 10 min after each of these revocations Maintain runs every
	// minute, not only when NextDue says so, as on servers whose Run loop
	// wakes for other reasons (the store's change notifications, another
	// instance's writes, a retired key's removal, a restart).
	revokeNextLead time.Duration
	// wantRotations is the expected number of scheduled rotations (±2).
	wantRotations float64
}

// TestNinetyDaysOfHourlyRotation runs the schedule for 90 days of hourly
// rotations on an injected clock, issuing a token every minute and checking
// every live token each minute against three verifiers:
//
//	local: this server's current key set;
//	maxage: a remote copy of the JWKS refreshed every max-age (5 min);
//	hourly: a remote copy refreshed every hour, never on an unknown kid;
//	go-oidc: a remote copy refreshed only on an unknown kid (coreos/go-oidc);
//	jwks-rsa: refreshed every 10 min and on an unknown kid.
//
// A verifier accepts a token when its copy publishes the token's kid. On day
// 45 the active key is revoked.
func TestNinetyDaysOfHourlyRotation(t *testing.T) {
	simulate(t, scenario{
		policy: keys.Policy{Bits: 2048, RotateEvery: time.Hour, Prepublish: time.Hour, Retain: simTTL + simLeeway + simMaxAge},
		remotes: []remoteVerifier{{name: "maxage", every: simMaxAge}, {name: "hourly", every: time.Hour},
			{name: "go-oidc", every: simDays * 24 * time.Hour, refetch: true}, {name: "jwks-rsa", every: 10 * time.Minute, refetch: true}},
		wantRotations: simDays*24 - 1,
	})
}

// TestNinetyDaysWithNextKeyRevocations runs the simulation with Prepublish
// equal to the JWKS max-age (5 min) and, once a week, a revocation of the next
// key 2 min before the scheduled rotation: the fresh next key may sign only
// from 5 min after its publication, so that rotation is held back 3 min, and
// every remote verifier refreshing every max-age, whatever its phase, knows
// the key before the first token it signs. Promoting at the scheduled time
// (2 min after the publication) would make the verifiers that refreshed
// just before the revocation reject valid tokens.
func TestNinetyDaysWithNextKeyRevocations(t *testing.T) {
	var remotes []remoteVerifier
	for phase := time.Duration(0); phase < simMaxAge; phase += time.Minute {
		remotes = append(remotes, remoteVerifier{name: fmt.Sprintf("maxage+%s", phase), every: simMaxAge, phase: phase})
	}
	simulate(t, scenario{
		policy:         keys.Policy{Bits: 2048, RotateEvery: time.Hour, Prepublish: simMaxAge, Retain: simTTL + simLeeway + simMaxAge},
		remotes:        remotes,
		revokeNextLead: 2 * time.Minute,
		// One rotation a week is held back 3 min: 39 min in 90 days.
		wantRotations: simDays*24 - 1 - 13*3.0/60,
	})
}

func simulate(t *testing.T, sc scenario) {
	pol := sc.policy
	c := newClock()
	ctx := context.Background()
	// The generator hands out the fixed keys in turn, skipping those the set
	// holds: revoked keys stay in it for good.
	var (
		m     *keys.Manager
		pool  = keystest.Keys(t)
		drawn int
	)
	gen := func(int) (*rsa.PrivateKey, error) {
		for range pool {
			k := pool[drawn%len(pool)]
			drawn++
			kid, err := keys.Thumbprint(&k.PublicKey)
			if err != nil {
				return nil, err
			}
			if m == nil {
				return k, nil
			}
			if _, held := m.Current().Lookup(kid); !held {
				return k, nil
			}
		}
		return nil, fmt.Errorf("all %d fixed test keys are in the set", len(pool))
	}
	m, err := keys.Open(ctx, keys.Config{Store: memory.New(), Policy: pol, Now: c.Now, Generate: gen, Logger: quiet})
	require.NoError(t, err)

	type token struct {
		kid      string
		iat, exp time.Time
	}
	type remote struct {
		remoteVerifier
		at   time.Time
		kids map[string]bool
	}
	var remotes []*remote
	for _, rv := range sc.remotes {
		remotes = append(remotes, &remote{remoteVerifier: rv})
	}
	snapshot := func(r *remote, now time.Time) {
		r.kids, r.at = map[string]bool{}, now
		for _, k := range m.Current().Published() {
			r.kids[k.KID] = true
		}
	}
	start := c.Now()
	for _, r := range remotes {
		snapshot(r, start)
		r.at = start.Add(r.phase - r.every) // next refresh at start+phase
	}
	revokeAt := start.Add(45*24*time.Hour + 17*time.Minute)
	var (
		revokedKID      string
		live            []token
		issued          int
		rotations       int
		heldBack        int // scheduled rotations the prepublication delayed
		earlyPromotions int // promotions of a key public for less than Prepublish
		nextRevoked     int
		lastNextRevoke  time.Time
		rejectedValid   = map[string]int{}
		acceptedRevokd  = map[string]int{}
		afterRevoke     = map[string]int{}       // valid tokens rejected in the hour after the revocation
		lastRejected    = map[string]time.Time{} // when the last of those was rejected
		lastAccepted    = map[string]time.Time{} // when a token of the revoked key was last accepted
		refreshedAfter  = map[string]time.Time{} // a verifier's first refresh after the revocation
		maxPublished    int
	)
	for now := start; now.Before(start.Add(simDays * 24 * time.Hour)); now = c.Now() {
		cur := m.Current()
		if sc.revokeNextLead > 0 && now.Equal(cur.Active().ActivatedAt.Add(pol.RotateEvery-sc.revokeNextLead)) &&
			(lastNextRevoke.IsZero() || now.Sub(lastNextRevoke) >= 7*24*time.Hour) {
			require.NoError(t, m.Revoke(ctx, cur.Next().KID))
			lastNextRevoke = now
			nextRevoked++
		}
		before := m.Current().Active()
		woken := !lastNextRevoke.IsZero() && now.Sub(lastNextRevoke) < 10*time.Minute
		if woken || !now.Before(m.NextDue(m.Current())) {
			require.NoError(t, m.Maintain(ctx))
		}
		if revokedKID == "" && !now.Before(revokeAt) {
			revokedKID = m.Current().Active().KID
			require.NoError(t, m.Revoke(ctx, revokedKID))
		} else if a := m.Current().Active(); a.KID != before.KID {
			rotations++
			if now.After(before.ActivatedAt.Add(pol.RotateEvery)) {
				heldBack++
			}
			if now.Before(a.PublishedAt.Add(pol.Prepublish)) {
				earlyPromotions++
			}
		}
		for _, r := range remotes {
			if now.Sub(r.at) >= r.every {
				snapshot(r, now)
			}
		}
		live = append(live, token{kid: m.Current().Active().KID, iat: now, exp: now.Add(simTTL)})
		issued++
		for len(live) > 0 && !now.Before(live[0].exp.Add(simLeeway)) {
			live = live[1:]
		}
		for _, tok := range live {
			_, err := m.Current().VerificationKey(ctx, tok.kid)
			results := map[string]bool{"local": err == nil}
			seen := map[string]bool{"local": true}
			for _, r := range remotes {
				if r.refetch && !r.kids[tok.kid] {
					snapshot(r, now)
				}
				if revokedKID != "" && refreshedAfter[r.name].IsZero() && !r.at.Before(revokeAt) {
					refreshedAfter[r.name] = r.at
				}
				results[r.name] = r.kids[tok.kid]
				seen[r.name] = !r.at.Before(revokeAt)
			}
			for name, ok := range results {
				switch {
				case tok.kid == revokedKID:
					if ok && seen[name] {
						acceptedRevokd[name]++
					}
					if ok {
						lastAccepted[name] = now
					}
				case !ok && now.Before(revokeAt.Add(time.Hour)) && !now.Before(revokeAt):
					afterRevoke[name]++
					lastRejected[name] = now
				case !ok:
					rejectedValid[name]++
				}
			}
		}
		maxPublished = max(maxPublished, len(m.Current().Published()))
		c.Add(time.Minute)
	}
	t.Logf("%d days, %d tokens, %d scheduled rotations (%d held back by the prepublication), %d next keys revoked, max keys in JWKS %d, rejected valid %v, accepted revoked %v, rejected in the hour after the emergency revoke %v",
		simDays, issued, rotations, heldBack, nextRevoked, maxPublished, rejectedValid, acceptedRevokd, afterRevoke)
	assert.Equal(t, simDays*24*60, issued)
	assert.InDelta(t, sc.wantRotations, rotations, 2, "one rotation an hour")
	assert.Zero(t, earlyPromotions, "no key signs before it has been published for Prepublish")
	if sc.revokeNextLead > 0 {
		assert.Equal(t, 13, nextRevoked, "a next-key revocation a week")
		assert.Equal(t, nextRevoked, heldBack, "each revocation of the next key holds one rotation back")
	}
	assert.Empty(t, rejectedValid, "no valid token is ever rejected outside the emergency revocation")
	assert.Empty(t, acceptedRevokd, "no token of the revoked key verifies once a verifier has refreshed")
	// The emergency revocation promotes a key no verifier has cached: one
	// that refetches on an unknown kid drops the revoked key at the first
	// new token and rejects no valid token; one that does not rejects the
	// new tokens until its next scheduled refresh, and not after.
	for _, r := range remotes {
		stillAccepted := lastAccepted[r.name].Sub(revokeAt)
		t.Logf("%s: revoked-key tokens accepted for %s after the revocation; %d valid tokens rejected in the hour after it", r.name, max(stillAccepted, 0), afterRevoke[r.name])
		require.False(t, refreshedAfter[r.name].IsZero(), r.name)
		if r.refetch {
			assert.Equal(t, revokeAt, refreshedAfter[r.name], "%s reloads the JWKS at the first token of the new key", r.name)
			assert.LessOrEqual(t, stillAccepted, time.Duration(0), r.name)
			assert.Zero(t, afterRevoke[r.name], r.name)
			continue
		}
		assert.Less(t, lastRejected[r.name], refreshedAfter[r.name], "%s rejects new tokens only until its next refresh", r.name)
		assert.Less(t, stillAccepted, refreshedAfter[r.name].Sub(revokeAt), r.name)
		assert.LessOrEqual(t, refreshedAfter[r.name].Sub(revokeAt), r.every, r.name)
	}
	assert.Zero(t, afterRevoke["local"])
	assert.LessOrEqual(t, maxPublished, 3, "next, active and one retired key at most")
}
