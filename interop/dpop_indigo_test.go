package interop

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/auth/oauth"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth/dpop"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A Go DPoP client nobody here wrote: bluesky-social/indigo's
// atproto/auth/oauth (the Go atproto SDK's OAuth client). NewAuthDPoP makes
// the proofs of token requests (no ath), ClientSession.NewHostDPoP those of
// resource requests (ath of the session's access token, its host nonce).

// indigoKey returns an indigo P-256 key and its RFC 7638 thumbprint, with
// full-length (32-byte) JWK coordinates. indigo writes x and y with
// big.Int.Bytes, so about one key in 128 gets a 31-byte (or shorter)
// coordinate, which RFC 7518 §6.2.1.2 forbids and our verifier refuses
// (TestDPoPIndigoShortCoordinateRefused); short is whether to return such a
// key instead.
func indigoKey(t *testing.T, short bool) (*atcrypto.PrivateKeyP256, string) {
	t.Helper()
	for range 1 << 16 {
		key, err := atcrypto.GeneratePrivateKeyP256()
		require.NoError(t, err)
		pub, err := key.PublicKey()
		require.NoError(t, err)
		jwk, err := pub.JWK()
		require.NoError(t, err)
		x, err := base64.RawURLEncoding.DecodeString(jwk.X)
		require.NoError(t, err)
		y, err := base64.RawURLEncoding.DecodeString(jwk.Y)
		require.NoError(t, err)
		if full := len(x) == 32 && len(y) == 32; full != short {
			if short {
				return key, ""
			}
			return key, jwkThumbprint(t, jwk.X, jwk.Y)
		}
	}
	t.Fatal("no key of the wanted form in 65536")
	return nil, ""
}

// TestDPoPIndigoClient: indigo's proofs log in to a jwtauth.Service, call
// /protected and refresh, without and with server nonces; replays are
// refused, and a refused /refresh proof spends nothing.
func TestDPoPIndigoClient(t *testing.T) {
	nonces, err := dpop.NewRotatingNonces(bytes.Repeat([]byte{0x3c}, 32), time.Hour, nil)
	require.NoError(t, err)
	for name, cfg := range map[string]jwtauth.Config{
		"no nonces": {},
		"nonces":    {DPoPProofs: dpop.Config{Nonce: nonces}},
	} {
		t.Run(name, func(t *testing.T) {
			base := startDPoPService(t, cfg)
			key, jkt := indigoKey(t, false)
			creds := `{"username":"indigo","password":"correct horse battery staple"}`
			status, _, _ := send(t, http.MethodPost, base+"/register", "", "", creds)
			require.Equal(t, http.StatusCreated, status)

			// With nonces, the first proof is answered use_dpop_nonce, as an
			// atproto authorization server does; the client takes the
			// DPoP-Nonce and signs again.
			nonce := ""
			authProof := func(path string) string {
				t.Helper()
				proof, err := oauth.NewAuthDPoP(http.MethodPost, base+path, nonce, key)
				require.NoError(t, err)
				return proof
			}
			proof := authProof("/login")
			status, body, hdr := sendH(t, http.MethodPost, base+"/login", "", proof, creds)
			if cfg.DPoPProofs.Nonce != nil {
				require.Equal(t, http.StatusBadRequest, status)
				require.Equal(t, "use_dpop_nonce", body.Error)
				nonce = hdr.Get("DPoP-Nonce")
				require.NotEmpty(t, nonce)
				proof = authProof("/login")
				status, body, _ = sendH(t, http.MethodPost, base+"/login", "", proof, creds)
			}
			require.Equal(t, http.StatusOK, status, body.Error)
			assert.Equal(t, "DPoP", body.TokenType)
			assert.Equal(t, jkt, cnfJKT(t, body.AccessToken))
			login := body

			// The same login proof again: a replay.
			status, body, _ = send(t, http.MethodPost, base+"/login", "", proof, creds)
			assert.Equal(t, http.StatusBadRequest, status, "replayed login proof")
			assert.Equal(t, "invalid_dpop_proof", body.Error)
			assert.Contains(t, body.Description, "replay")

			// A resource request with the session's proof (ath, host nonce).
			sess := &oauth.ClientSession{
				Data:           &oauth.ClientSessionData{AuthServerURL: base, AccessToken: login.AccessToken, DPoPHostNonce: nonce},
				DPoPPrivateKey: key,
			}
			hostProof, err := sess.NewHostDPoP(http.MethodGet, base+"/protected")
			require.NoError(t, err)
			status, body, _ = send(t, http.MethodGet, base+"/protected", "DPoP "+login.AccessToken, hostProof, "")
			require.Equal(t, http.StatusOK, status, body.Error)
			status, body, challenge := send(t, http.MethodGet, base+"/protected", "DPoP "+login.AccessToken, hostProof, "")
			assert.Equal(t, http.StatusUnauthorized, status, "replayed resource proof")
			assert.Equal(t, "invalid_dpop_proof", body.Error)
			assert.Contains(t, body.Description, "replay")
			assert.Contains(t, challenge, `DPoP error="invalid_dpop_proof"`)
			// A token-request proof (no ath) at the resource: refused.
			status, body, _ = send(t, http.MethodGet, base+"/protected", "DPoP "+login.AccessToken, authProof("/protected"), "")
			assert.Equal(t, http.StatusUnauthorized, status, "proof without ath")
			assert.Equal(t, "invalid_dpop_proof", body.Error)

			// Refresh; then the spent proof again with the new refresh
			// token: 400, and that token still works with a fresh proof.
			refreshBody := `{"refresh_token":` + quoteJSON(login.RefreshToken) + `}`
			proof = authProof("/refresh")
			status, body, _ = send(t, http.MethodPost, base+"/refresh", "", proof, refreshBody)
			require.Equal(t, http.StatusOK, status, body.Error)
			assert.Equal(t, "DPoP", body.TokenType)
			assert.Equal(t, jkt, cnfJKT(t, body.AccessToken))
			refreshBody = `{"refresh_token":` + quoteJSON(body.RefreshToken) + `}`
			status, body, _ = send(t, http.MethodPost, base+"/refresh", "", proof, refreshBody)
			assert.Equal(t, http.StatusBadRequest, status, "replayed refresh proof")
			assert.Equal(t, "invalid_dpop_proof", body.Error)
			assert.Contains(t, body.Description, "replay")
			status, body, _ = send(t, http.MethodPost, base+"/refresh", "", authProof("/refresh"), refreshBody)
			require.Equal(t, http.StatusOK, status, "the refresh token was spent by a refused proof: %s", body.Error)
			assert.Equal(t, jkt, cnfJKT(t, body.AccessToken))
		})
	}
}

// TestDPoPIndigoShortCoordinateRefused: indigo's JWK of a key whose x or y
// has leading zero bytes is shorter than 32 bytes (big.Int.Bytes), against
// RFC 7518 §6.2.1.2; the verifier refuses such a proof (400
// invalid_dpop_proof at /login), as it refuses every non-canonical key,
// rather than computing a thumbprint of a non-canonical JWK. About one
// indigo key in 128 meets this; an indigo client would need a new key.
func TestDPoPIndigoShortCoordinateRefused(t *testing.T) {
	base := startDPoPService(t, jwtauth.Config{})
	creds := `{"username":"indigo","password":"correct horse battery staple"}`
	status, _, _ := send(t, http.MethodPost, base+"/register", "", "", creds)
	require.Equal(t, http.StatusCreated, status)
	key, _ := indigoKey(t, true)
	proof, err := oauth.NewAuthDPoP(http.MethodPost, base+"/login", "", key)
	require.NoError(t, err)
	status, body, _ := send(t, http.MethodPost, base+"/login", "", proof, creds)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_dpop_proof", body.Error)
	assert.Contains(t, body.Description, "not a canonical 32-byte coordinate")
}
