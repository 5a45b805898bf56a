package dpop

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"time"
)

// ProofOptions are the optional parts of a proof made by NewProof.
type ProofOptions struct {
	// AccessToken, when set, is hashed into ath: set it on every request
	// to a resource with a DPoP-bound token (RFC 9449 §4.2, §7).
	AccessToken string
	// Nonce is the server's last DPoP-Nonce, if it sent one (§8, §9).
	Nonce string
	// JTI is the proof's unique identifier; default 16 random bytes,
	// base64url.
	JTI string
	// Now is iat; default time.Now().
	Now time.Time
	// Alg picks the algorithm for an RSA key: RS256 (default) or PS256.
	// ECDSA P-256 keys sign ES256 and Ed25519 keys EdDSA.
	Alg string
}

// NewProof makes a DPoP proof (RFC 9449 §4.2), the client side of this
// package: the value of the DPoP header of one request with method htm to
// htu (whose query and fragment are left out). key is an ECDSA P-256,
// Ed25519 or RSA (2048–8192 bits) private key or any crypto.Signer over
// one, such as a key in a hardware module; its public half goes into the
// jwk header. Make a new proof for every request. Thumbprint(key.Public())
// is the jkt tokens get bound to.
func NewProof(key crypto.Signer, htm, htu string, opts ProofOptions) (string, error) {
	if key == nil {
		return "", errors.New("dpop: no key")
	}
	k, err := fromPublic(key.Public())
	if err != nil {
		return "", err
	}
	alg := map[keyKind]string{kindEC: ES256, kindOKP: EdDSA, kindRSA: RS256}[k.kind]
	if opts.Alg != "" {
		if algKinds[opts.Alg] != k.kind {
			return "", fmt.Errorf("dpop: algorithm %q does not fit a %T", opts.Alg, k.pub)
		}
		alg = opts.Alg
	}
	u, err := url.Parse(htu)
	if err != nil || !u.IsAbs() {
		return "", errors.New("dpop: htu is not an absolute URL")
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	jti := opts.JTI
	if jti == "" {
		jti = rand.Text()
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	claims := struct {
		JTI   string `json:"jti"`
		HTM   string `json:"htm"`
		HTU   string `json:"htu"`
		IAT   int64  `json:"iat"`
		ATH   string `json:"ath,omitempty"`
		Nonce string `json:"nonce,omitempty"`
	}{jti, htm, u.String(), now.Unix(), "", opts.Nonce}
	if opts.AccessToken != "" {
		claims.ATH = ATH(opts.AccessToken)
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("dpop: %w", err)
	}
	hb := `{"typ":"dpop+jwt","alg":"` + alg + `","jwk":` + k.jwkJSON() + `}`
	return sign(key, alg, []byte(hb), cb)
}

// sign returns the compact JWS of header and claims signed by key with alg.
func sign(key crypto.Signer, alg string, header, claims []byte) (string, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	input := b64(header) + "." + b64(claims)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	var err error
	switch alg {
	case ES256:
		var der []byte
		if der, err = key.Sign(rand.Reader, digest[:], crypto.SHA256); err == nil {
			sig, err = rawECDSA(der)
		}
	case EdDSA, Ed25519:
		sig, err = key.Sign(rand.Reader, []byte(input), crypto.Hash(0))
	case RS256:
		sig, err = key.Sign(rand.Reader, digest[:], crypto.SHA256)
	case PS256:
		sig, err = key.Sign(rand.Reader, digest[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
	default:
		err = fmt.Errorf("unsupported algorithm %q", alg)
	}
	if err != nil {
		return "", fmt.Errorf("dpop: signing: %w", err)
	}
	return input + "." + b64(sig), nil
}

// rawECDSA converts a DER ECDSA P-256 signature to JWS R‖S, 32 bytes each
// (RFC 7518 §3.4).
func rawECDSA(der []byte) ([]byte, error) {
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) != 0 || rs.R.Sign() <= 0 || rs.S.Sign() <= 0 || rs.R.BitLen() > 256 || rs.S.BitLen() > 256 {
		return nil, errors.New("bad ECDSA signature")
	}
	sig := make([]byte, 64)
	rs.R.FillBytes(sig[:32])
	rs.S.FillBytes(sig[32:])
	return sig, nil
}
