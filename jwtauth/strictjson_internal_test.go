package jwtauth

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// maxNestingTest is the nesting limit of token.SkipValue.
const maxNestingTest = 32

// worstCaseBodies are request bodies of close to MaxBodySize built to cost
// decodeFields the most: many distinct members (the duplicate check), long
// member names, one huge array of tiny values (the token loop of skipValue)
// and nested brackets at the depth limit.
func worstCaseBodies() map[string][]byte {
	out := map[string][]byte{}
	var b bytes.Buffer
	b.WriteByte('{')
	for i := 0; b.Len() < MaxBodySize-16; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + strconv.Itoa(i) + `":0`)
	}
	b.WriteByte('}')
	out["distinct-members"] = bytes.Clone(b.Bytes())

	b.Reset()
	b.WriteByte('{')
	name := strings.Repeat("n", MaxBodySize/(2*maxBodyMembers))
	for i := range maxBodyMembers {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + name[:len(name)-4] + strconv.Itoa(1000+i) + `":0`)
	}
	b.WriteByte('}')
	out["long-names"] = bytes.Clone(b.Bytes())

	b.Reset()
	b.WriteString(`{"username":"alice","password":"correct horse battery","x":[0`)
	for b.Len() < MaxBodySize-8 {
		b.WriteString(",0")
	}
	b.WriteString("]}")
	out["long-array"] = bytes.Clone(b.Bytes())

	b.Reset()
	b.WriteString(`{"username":"alice","password":"correct horse battery","x":[`)
	open, closing := strings.Repeat("[", maxNestingTest-1), strings.Repeat("]", maxNestingTest-1)
	for i := 0; b.Len() < MaxBodySize-2*maxNestingTest-8; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(open + closing)
	}
	b.WriteString("]}")
	out["nested"] = bytes.Clone(b.Bytes())
	return out
}

// BenchmarkDecodeFieldsWorstCase measures decodeFields on the bodies of
// worstCaseBodies, each close to 1 MiB.
func BenchmarkDecodeFieldsWorstCase(b *testing.B) {
	for name, body := range worstCaseBodies() {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/login", bytes.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				_, _ = decodeFields(httptest.NewRecorder(), r, "username", "password")
			}
		})
	}
}

func postJSON(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

// withMembers returns valid credentials followed by extra ignored members,
// n members in all.
func withMembers(n int) string {
	var b strings.Builder
	b.WriteString(`{"username":"alice","password":"correct horse battery"`)
	for i := range n - 2 {
		b.WriteString(`,"m` + strconv.Itoa(i) + `":0`)
	}
	b.WriteString("}")
	return b.String()
}

func TestDecodeFieldsMemberCap(t *testing.T) {
	got, e := decodeFields(httptest.NewRecorder(), postJSON(withMembers(maxBodyMembers)), "username", "password")
	require.Nil(t, e)
	assert.Equal(t, map[string]string{"username": "alice", "password": "correct horse battery"}, got)

	// 90 000 members make about 1 MiB, the shape of the issue.
	for _, n := range []int{maxBodyMembers + 1, 1000, 90_000} {
		_, e := decodeFields(httptest.NewRecorder(), postJSON(withMembers(n)), "username", "password")
		require.NotNil(t, e, "%d members", n)
		assert.Equal(t, http.StatusBadRequest, e.Status)
		assert.Equal(t, "invalid_request", e.Code)
		assert.Contains(t, e.Description, "too many members")
	}
}

func TestDecodeFieldsNesting(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, tc := range []struct {
		extra string
		ok    bool
	}{
		{deep(maxNestingTest), true},
		{deep(maxNestingTest + 1), false},
		{`{"a":` + deep(maxNestingTest-1) + `}`, true},
		{`{"a":` + deep(maxNestingTest) + `}`, false},
		{`"` + strings.Repeat("[{", 100) + `"`, true},           // brackets in a string
		{`["\"[[[[` + strings.Repeat("[", 100) + `", 1]`, true}, // after an escaped quote
		{`["\\", ` + deep(maxNestingTest) + `]`, false},         // an escaped backslash ends no string
	} {
		body := `{"username":"alice","password":"correct horse battery","x":` + tc.extra + `}`
		_, e := decodeFields(httptest.NewRecorder(), postJSON(body), "username", "password")
		if tc.ok {
			assert.Nil(t, e, "%s", tc.extra)
		} else if assert.NotNil(t, e, "%s", tc.extra) {
			assert.Contains(t, e.Description, "nested deeper than")
		}
	}
}

func TestLoneSurrogate(t *testing.T) {
	for _, tc := range []struct {
		json string
		lone bool
	}{
		{`{"p":"\ud800"}`, true},
		{`{"p":"\udfff\udc00"}`, true}, // low, then low
		{`{"p":"\uDBFF"}`, true},
		{`{"p":"\ud800\ud800\udc00"}`, true}, // high before a pair
		{`{"p":"\ud800A\udc00"}`, true},
		{`{"p":"\ud800\\udc00"}`, true}, // an escaped backslash, then text
		{`{"p":"\ud800\u0041"}`, true},
		{`{"p":"\ud800\udbff"}`, true}, // high, then high
		{`{"\udc00":1}`, true},
		{`{"p":"\ud800`, true}, // cut short after a high surrogate
		{`{"p":"\ud800\u`, true},
		{`{"p":"\ud800\udc0`, true},
		{`{"p":"\ud83d\ude00"}`, false},
		{`{"p":"\uD83D\uDE00\uDBFF\uDFFF"}`, false},
		{`{"p":"\ud7ff\ue000\ufffd\u0000"}`, false},
		{`{"p":"\\ud800"}`, false}, // an escaped backslash, then text
		{`{"p":"\\\\ud800"}`, false},
		{`{"p":"\"\ud83d\ude00"}`, false},
		{"{\"p\":\"\uFFFD\"}", false}, // a real U+FFFD
		{`{"p":"\u12"}`, false},       // malformed: the decoder refuses it
		{`\`, false},
		{``, false},
	} {
		assert.Equal(t, tc.lone, loneSurrogate([]byte(tc.json)), "%s", tc.json)
	}
}
