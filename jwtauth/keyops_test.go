package jwtauth_test

import (
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/token"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
)

// jwksKIDs returns the kids of the JWKS the service's own handler serves.
func jwksKIDs(t *testing.T, svc *jwtauth.Service) []string {
	t.Helper()
	w := httptest.NewRecorder()
	route(t, svc, "/.well-known/jwks.json").ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/auth/.well-known/jwks.json", nil))
	require.Equal(t, http.StatusOK, w.Code)
	var doc struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &doc))
	var kids []string
	for _, k := range doc.Keys {
		kids = append(kids, k.KID)
	}
	return kids
}

// states maps each kid of ListKeys to its state.
func states(svc *jwtauth.Service) map[string]keys.State {
	m := map[string]keys.State{}
	for _, k := range svc.ListKeys() {
		m[k.KID] = k.State
	}
	return m
}

// tokenKID is the kid in the header of a compact JWS.
func tokenKID(t *testing.T, tok string) string {
	t.Helper()
	hdr, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	require.NoError(t, err)
	var h struct {
		KID string `json:"kid"`
	}
	require.NoError(t, json.Unmarshal(hdr, &h))
	return h.KID
}

// loginToken registers (once) and logs in alice, returning an access token.
func loginToken(t *testing.T, svc *jwtauth.Service) string {
	t.Helper()
	ctx := t.Context()
	_ = svc.Accounts().Register(ctx, "alice", "correct horse battery staple")
	tok, err := svc.Accounts().Login(ctx, "alice", "correct horse battery staple")
	require.NoError(t, err)
	return tok.AccessToken
}

// TestServiceListKeys: ListKeys shows the key set this process uses, active
// first, with states, sizes and times and no private material.
func TestServiceListKeys(t *testing.T) {
	svc, _ := newTestService(t, jwtauth.Config{})
	list := svc.ListKeys()
	require.Len(t, list, 2)
	assert.Equal(t, keys.StateActive, list[0].State)
	assert.Equal(t, keys.StateNext, list[1].State)
	assert.Equal(t, svc.Keys().Current().Active().KID, list[0].KID)
	for _, k := range list {
		assert.Equal(t, 2048, k.Bits)
		assert.False(t, k.CreatedAt.IsZero())
		assert.False(t, k.PublishedAt.IsZero())
	}
	assert.False(t, list[0].ActivatedAt.IsZero(), "the active key has signed since")
	b, err := json.Marshal(list)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"state":"active"`)
	assert.NotContains(t, string(b), "PRIVATE")
	assert.NotContains(t, string(b), `"d"`)
}

// TestServiceRotateKeysNow: RotateKeys(ctx, true) makes the next key sign at
// once; the old active key is retired and stays in the JWKS this process
// serves, so the tokens it signed still verify; a new next key is
// published; another instance on the store picks the change up at its next
// reload.
func TestServiceRotateKeysNow(t *testing.T) {
	store := memory.New()
	svc, _ := newTestService(t, jwtauth.Config{Store: store})
	other, _ := newTestService(t, jwtauth.Config{Store: store})
	ctx := t.Context()
	oldActive, oldNext := svc.ListKeys()[0].KID, svc.ListKeys()[1].KID
	old := loginToken(t, svc)
	require.Equal(t, oldActive, tokenKID(t, old))

	res, err := svc.RotateKeys(ctx, true)
	require.NoError(t, err)
	assert.Equal(t, oldNext, res.Promoted)
	assert.Equal(t, oldActive, res.Retired)
	require.NotEmpty(t, res.Next)
	assert.NotContains(t, []string{oldActive, oldNext}, res.Next)

	assert.Equal(t, map[string]keys.State{oldNext: keys.StateActive, res.Next: keys.StateNext, oldActive: keys.StateRetired}, states(svc))
	assert.ElementsMatch(t, []string{oldNext, res.Next, oldActive}, jwksKIDs(t, svc), "the retired key stays published")
	assert.Equal(t, oldNext, tokenKID(t, loginToken(t, svc)), "the promoted key signs")
	_, err = svc.Verifier().Verify(ctx, old)
	require.NoError(t, err, "a token of the retired key still verifies")

	changed, err := other.Keys().Refresh(ctx) // what its Run loop does every 2 s
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, states(svc), states(other))
}

// TestServiceRotateKeysScheduled: RotateKeys(ctx, false) before the next key
// has been published for Config.Prepublish stores the request and says
// when (no error); the service's own schedule promotes the key then.
func TestServiceRotateKeysScheduled(t *testing.T) {
	gen := keystest.Generator(t)
	synctest.Test(t, func(t *testing.T) {
		svc, err := jwtauth.New(t.Context(), jwtauth.Config{
			Store: memory.New(), Issuer: "https://app.example.test/auth",
			GenerateKey: gen, Logger: slog.New(slog.DiscardHandler),
		})
		require.NoError(t, err)
		defer svc.Close()
		active, next := svc.ListKeys()[0], svc.ListKeys()[1]

		time.Sleep(10 * time.Minute)
		res, err := svc.RotateKeys(t.Context(), false)
		require.NoError(t, err, "a scheduled rotation is a success")
		assert.Empty(t, res.Promoted)
		assert.Empty(t, res.Retired)
		assert.Equal(t, next.KID, res.Next)
		assert.Equal(t, next.PublishedAt.Add(time.Hour).UTC(), res.PromoteAt.UTC(), "Prepublish after its publication")
		list := svc.ListKeys()
		assert.Equal(t, active.KID, list[0].KID, "the active key still signs")
		assert.Equal(t, res.PromoteAt.UTC(), list[1].ActivatedAt.UTC(), "the request is stored as the next key's ActivatedAt")

		time.Sleep(time.Until(res.PromoteAt) + 3*time.Second) // past PromoteAt and one poll
		synctest.Wait()
		assert.Equal(t, keys.StateActive, states(svc)[next.KID], "promoted by the schedule")
		assert.Equal(t, keys.StateRetired, states(svc)[active.KID])
	})
}

// TestServiceRevokeKey: revoking the active key makes a freshly generated
// key sign at once; the revoked kid is gone from the JWKS this process
// serves and its tokens no longer verify; the next key stays next.
func TestServiceRevokeKey(t *testing.T) {
	svc, _ := newTestService(t, jwtauth.Config{})
	ctx := t.Context()
	active, next := svc.ListKeys()[0].KID, svc.ListKeys()[1].KID
	old := loginToken(t, svc)

	res, err := svc.RevokeKey(ctx, active)
	require.NoError(t, err)
	assert.Equal(t, active, res.Revoked)
	assert.True(t, res.Fresh, "a fresh key, not the pre-published one")
	assert.Equal(t, res.Promoted, res.Active)
	assert.NotContains(t, []string{active, next}, res.Active)
	assert.Equal(t, next, res.Next)

	assert.Equal(t, map[string]keys.State{res.Active: keys.StateActive, next: keys.StateNext, active: keys.StateRevoked}, states(svc))
	kids := jwksKIDs(t, svc)
	assert.NotContains(t, kids, active)
	assert.ElementsMatch(t, []string{res.Active, next}, kids)
	assert.Equal(t, res.Active, tokenKID(t, loginToken(t, svc)), "the fresh key signs")
	_, err = svc.Verifier().Verify(ctx, old)
	require.ErrorIs(t, err, token.ErrUnknownKey, "a token of the revoked key no longer verifies")
	assert.Contains(t, err.Error(), "was revoked")
}

// TestServiceRevokeKeyErrors: an unknown kid and a key already revoked are
// clear errors and change nothing.
func TestServiceRevokeKeyErrors(t *testing.T) {
	svc, _ := newTestService(t, jwtauth.Config{})
	ctx := t.Context()
	before := states(svc)
	for _, kid := range []string{"no-such-kid", ""} {
		_, err := svc.RevokeKey(ctx, kid)
		require.ErrorIs(t, err, keys.ErrUnknownKey, kid)
		assert.Contains(t, err.Error(), `no key "`+kid+`" in the key set`)
	}
	assert.Equal(t, before, states(svc), "nothing changed")

	active := svc.ListKeys()[0].KID
	_, err := svc.RevokeKey(ctx, active)
	require.NoError(t, err)
	_, err = svc.RevokeKey(ctx, active)
	require.ErrorIs(t, err, keys.ErrInvalidTransition)
	assert.Contains(t, err.Error(), "already revoked")
}
