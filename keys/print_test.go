package keys_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/keys"
	"github.com/jwtauth/jwtauth/keys/keystest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// printed returns v as every fmt verb and both slog handlers render it,
// alone and inside a slice and a struct.
func printed(v any) []string {
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10v"} {
		out = append(out, verb+" "+fmt.Sprintf(verb, v))
		out = append(out, verb+" slice "+fmt.Sprintf(verb, []any{v}))
		out = append(out, verb+" struct "+fmt.Sprintf(verb, struct{ V any }{v}))
	}
	out = append(out, fmt.Sprint(v), fmt.Sprintln(v))
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var buf bytes.Buffer
		l := slog.New(h(&buf))
		l.Info("k", "v", v)
		l.Info("k", slog.Any("v", v))
		l.With("v", v).Info("k")
		l.Info("k", slog.Group("g", "v", v))
		l.Info("k", "vs", []any{v}) // a slice: the JSON handler marshals it
		out = append(out, buf.String())
	}
	if j, err := json.Marshal(map[string]any{"v": v, "vs": []any{v}}); err == nil {
		out = append(out, string(j))
	}
	return out
}

// secrets returns the spellings of a private exponent and of a stored
// private-key blob that must never be printed.
func secrets(t *testing.T, d []byte, blob []byte) []string {
	t.Helper()
	out := []string{
		base64.StdEncoding.EncodeToString(d)[:40], base64.RawURLEncoding.EncodeToString(d)[:40],
		hex.EncodeToString(d)[:40], fmt.Sprint(d[:16])[1:40],
	}
	if blob != nil {
		enc := base64.StdEncoding.EncodeToString(blob)
		out = append(out, enc[len(enc)-50:len(enc)-10], hex.EncodeToString(blob[len(blob)-32:]), fmt.Sprint(blob[len(blob)-16:])[1:40])
	}
	return out
}

func TestKeyAndRecordNeverPrintPrivateKey(t *testing.T) {
	priv := keystest.Keys(t)[0]
	k, err := keys.NewKey(priv, keys.StateActive, time.Now())
	require.NoError(t, err)
	st := memory.New()
	_, err = keys.Open(context.Background(), keys.Config{Store: st, Generate: keystest.Generator(t), Logger: quiet})
	require.NoError(t, err)
	recs, _, err := st.LoadKeys(context.Background())
	require.NoError(t, err)
	require.NotEmpty(t, recs)
	r := recs[0]
	rk, err := keys.NewKey(mustParse(t, r.PrivateKey), r.State, r.CreatedAt)
	require.NoError(t, err)

	bad := append(secrets(t, priv.D.Bytes(), nil), priv.D.String()[:40])
	for _, s := range printed(k) {
		for _, b := range bad {
			assert.NotContains(t, s, b)
		}
		if !strings.HasPrefix(s, "%x") && !strings.HasPrefix(s, "%X") {
			assert.Contains(t, s, k.KID)
		}
	}
	bad = append(secrets(t, rk.Private.D.Bytes(), r.PrivateKey), rk.Private.D.String()[:40])
	for _, s := range printed(r) {
		for _, b := range bad {
			assert.NotContains(t, s, b)
		}
		if !strings.HasPrefix(s, "%x") && !strings.HasPrefix(s, "%X") {
			assert.Contains(t, s, r.KID)
		}
	}

	assert.Equal(t, "active:"+k.KID, fmt.Sprint(k))
	assert.Equal(t, `&keys.Key{KID:"`+k.KID+`", State:"active"}`, fmt.Sprintf("%#v", k))
	assert.Equal(t, string(r.State)+":"+r.KID, r.String())
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("k", "key", k)
	assert.Contains(t, buf.String(), `"key":{"kid":"`+k.KID+`","state":"active"}`)
	var nilKey *keys.Key
	assert.Equal(t, "<nil>", fmt.Sprint(nilKey))
}

func mustParse(t *testing.T, der []byte) *rsa.PrivateKey {
	t.Helper()
	p, err := x509.ParsePKCS8PrivateKey(der)
	require.NoError(t, err)
	return p.(*rsa.PrivateKey)
}
