package account

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// A device token is base64url(version || issued || nonce || mac), 57 bytes:
// version 1 (1 byte), issued (Unix seconds, 8 bytes big-endian), nonce (16
// random bytes) and mac = HMAC-SHA256(key, label || username || 0 ||
// issued || nonce), where key = HMAC-SHA256("jwtauth device key v1", the
// user's stored password hash).
//
// Keying by the stored hash needs no new secret: it is already persisted,
// shared by every instance on the store and never leaves the server, and a
// password change (a new hash) ends every device token of the user. A
// rehash on login also ends them; that login gets a fresh token.
const (
	deviceTokenVersion = 1
	deviceNonceBytes   = 16
	deviceTokenBytes   = 1 + 8 + deviceNonceBytes + sha256.Size
	deviceMACLabel     = "jwtauth device token v1\x00"
)

// deviceToken is a parsed device token whose MAC is not checked yet.
type deviceToken struct {
	issued time.Time
	nonce  []byte
	mac    []byte
	signed []byte // issued || nonce, as the MAC covers them
}

// parseDeviceToken checks raw's form and age (issued at most ttl before
// now, and not after it) without its MAC.
func parseDeviceToken(raw string, now time.Time, ttl time.Duration) (deviceToken, bool) {
	if len(raw) != base64.RawURLEncoding.EncodedLen(deviceTokenBytes) {
		return deviceToken{}, false
	}
	b, err := strictB64.DecodeString(raw)
	if err != nil || len(b) != deviceTokenBytes || b[0] != deviceTokenVersion {
		return deviceToken{}, false
	}
	secs := binary.BigEndian.Uint64(b[1:9])
	if secs > uint64(now.Unix()) {
		return deviceToken{}, false
	}
	issued := time.Unix(int64(secs), 0)
	if now.Sub(issued) > ttl {
		return deviceToken{}, false
	}
	return deviceToken{issued: issued, nonce: b[9 : 9+deviceNonceBytes], mac: b[9+deviceNonceBytes:], signed: b[1 : 9+deviceNonceBytes]}, true
}

// deviceMAC returns the MAC of a device token of username over signed
// (issued || nonce), keyed by the user's stored password hash.
func deviceMAC(passwordHash, username string, signed []byte) []byte {
	k := hmac.New(sha256.New, []byte("jwtauth device key v1"))
	k.Write([]byte(passwordHash))
	m := hmac.New(sha256.New, k.Sum(nil))
	m.Write([]byte(deviceMACLabel))
	m.Write([]byte(username))
	m.Write([]byte{0})
	m.Write(signed)
	return m.Sum(nil)
}

// valid reports whether d was issued to username with passwordHash.
func (d deviceToken) valid(passwordHash, username string) bool {
	return hmac.Equal(d.mac, deviceMAC(passwordHash, username, d.signed))
}

// newDeviceToken issues a device token for username at now.
func newDeviceToken(passwordHash, username string, now time.Time) (string, error) {
	b := make([]byte, 1, deviceTokenBytes)
	b[0] = deviceTokenVersion
	b = binary.BigEndian.AppendUint64(b, uint64(now.Unix()))
	nonce := make([]byte, deviceNonceBytes)
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	b = append(b, nonce...)
	b = append(b, deviceMAC(passwordHash, username, b[1:])...)
	return base64.RawURLEncoding.EncodeToString(b), nil
}
