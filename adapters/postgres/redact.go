package postgres

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// RedactDSN returns dsn with every password it carries replaced by "xxxxx",
// for messages and logs. It reads dsn as pgx does (pgconn.ParseConfig) and
// masks every value pgx would take as a secret: the userinfo password of a
// postgres:// or postgresql:// URL (user:pw@host, the last '@' ending it),
// each query parameter whose URL-decoded name is password or sslpassword
// (so ?pass%77ord=pw too), and password=… and sslpassword=… of a key=value
// string, quoted or not, with backslash escapes. A DSN that does not parse
// is still masked as far as it reads. It returns dsn unchanged when it holds
// no password.
func RedactDSN(dsn string) string {
	spans, _ := secretSpans(dsn)
	for i := len(spans) - 1; i >= 0; i-- { // from the end: earlier offsets stay valid
		dsn = dsn[:spans[i][0]] + "xxxxx" + dsn[spans[i][1]:]
	}
	return dsn
}

// isSecretKey reports whether a DSN parameter name (decoded) holds a secret.
func isSecretKey(key string) bool {
	key = strings.ToLower(key)
	return key == "password" || key == "sslpassword"
}

// isURL reports whether dsn starts with a URL scheme and "://" (pgx takes
// postgres:// and postgresql://; any other is masked the same way, for
// messages that quote a mistyped store).
func isURL(dsn string) bool {
	i := strings.Index(dsn, "://")
	if i <= 0 {
		return false
	}
	for j, c := range dsn[:i] {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || j > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

// uriDecode percent-decodes s after trimming spaces, as pgconn does; an
// undecodable s is returned as it is.
func uriDecode(s string) string {
	s = strings.Trim(s, " ")
	if dec, err := url.PathUnescape(s); err == nil {
		return dec
	}
	return s
}

// secretSpans returns the byte ranges [start, end) of dsn that hold secret
// values, in order, and the values as pgx reads them (decoded, unescaped).
func secretSpans(dsn string) (spans [][2]int, values []string) {
	add := func(start, end int, value string) {
		if end > start {
			spans = append(spans, [2]int{start, end})
			values = append(values, value)
		}
	}
	if isURL(dsn) {
		// As pgconn's parseURLSettings reads it: the userinfo ends at the
		// first '@' before any '/', the password after its first ':'; the
		// query runs from the first '?' after that, pairs split at '&',
		// names and values percent-decoded, no '+' for space, no fragment.
		rest := strings.Index(dsn, "://") + 3
		authEnd := len(dsn)
		if i := strings.IndexAny(dsn[rest:], "/?"); i >= 0 {
			authEnd = rest + i
		}
		// net/url would end the userinfo at the last '@' instead: mask up
		// to that one, which covers both readings.
		if at := strings.LastIndex(dsn[rest:authEnd], "@"); at >= 0 {
			if colon := strings.Index(dsn[rest:rest+at], ":"); colon >= 0 {
				add(rest+colon+1, rest+at, uriDecode(dsn[rest+colon+1:rest+at]))
			}
		}
		q := strings.Index(dsn[authEnd:], "?")
		if q < 0 {
			return spans, values
		}
		for pos := authEnd + q + 1; pos < len(dsn); {
			pairEnd := len(dsn)
			if amp := strings.IndexByte(dsn[pos:], '&'); amp >= 0 {
				pairEnd = pos + amp
			}
			k, v, hasValue := strings.Cut(dsn[pos:pairEnd], "=")
			if hasValue && (isSecretKey(k) || isSecretKey(uriDecode(k))) {
				add(pos+len(k)+1, pairEnd, uriDecode(v))
			}
			pos = pairEnd + 1
		}
		return spans, values
	}
	// key=value, read as pgconn reads it: a key, '=', then a value that is
	// either quoted ('…', backslash escapes) or runs to the next space
	// (backslash escapes a space too).
	const space = " \t\n\r\v\f"
	pos := 0
	for {
		for pos < len(dsn) && strings.IndexByte(space, dsn[pos]) >= 0 {
			pos++
		}
		eq := strings.IndexByte(dsn[pos:], '=')
		if pos >= len(dsn) || eq < 0 {
			return spans, values
		}
		key := strings.Trim(dsn[pos:pos+eq], space)
		pos += eq + 1
		for pos < len(dsn) && strings.IndexByte(space, dsn[pos]) >= 0 {
			pos++
		}
		start, quoted := pos, pos < len(dsn) && dsn[pos] == '\''
		if quoted {
			pos++
		}
		var val strings.Builder
		for pos < len(dsn) {
			c := dsn[pos]
			if quoted && c == '\'' || !quoted && strings.IndexByte(space, c) >= 0 {
				break
			}
			if c == '\\' && pos+1 < len(dsn) {
				pos++
				c = dsn[pos]
			}
			val.WriteByte(c)
			pos++
		}
		if quoted && pos < len(dsn) {
			pos++ // the closing quote
		}
		if isSecretKey(key) {
			add(start, pos, val.String())
		}
	}
}

// passwords returns the secrets of dsn in every spelling an error message
// may quote (as written, decoded, and URL-decoded), longest first.
func passwords(dsn string) []string {
	spans, values := secretSpans(dsn)
	var out []string
	addOne := func(pw string) {
		pw = strings.Trim(pw, "'")
		if pw != "" && pw != "xxxxx" && !slices.Contains(out, pw) {
			out = append(out, pw)
		}
	}
	for i, sp := range spans {
		addOne(dsn[sp[0]:sp[1]])
		addOne(values[i])
		if dec, err := url.PathUnescape(values[i]); err == nil {
			addOne(dec)
		}
	}
	// Replace longer strings first so a password that contains another
	// candidate is masked whole.
	slices.SortStableFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// redactedError is err with the DSN's password masked in its message; errors.Is
// and errors.As see through it.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact masks the passwords of dsn in err's message.
func redact(dsn string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	masked := msg
	for _, pw := range passwords(dsn) {
		masked = strings.ReplaceAll(masked, pw, "xxxxx")
	}
	if masked == msg {
		return err
	}
	return &redactedError{msg: masked, err: err}
}

// ErrInvalidDSN is returned by Open for a DSN that does not parse.
var ErrInvalidDSN = errors.New("postgres: invalid DSN")

// parseError reports a DSN that pgx cannot parse. pgx's own error carries the
// DSN (masked only on a best-effort basis) and, through url.Error, the raw
// URL; so neither its text nor its chain is kept, only the innermost cause,
// masked.
func parseError(dsn string, err error) error {
	cause := err
	for {
		var ue *url.Error
		if errors.As(cause, &ue) {
			cause = ue.Err
			continue
		}
		inner := errors.Unwrap(cause)
		if inner == nil {
			break
		}
		cause = inner
	}
	reason := cause.Error()
	if cause == err { // no inner cause: pgx's message, which quotes the DSN
		reason = RedactDSN(err.Error())
	}
	for _, pw := range passwords(dsn) {
		reason = strings.ReplaceAll(reason, pw, "xxxxx")
	}
	return fmt.Errorf("%w %s: %s (want postgres://user[:password]@host[:port]/database[?param=value…] or host=… user=… dbname=…)",
		ErrInvalidDSN, RedactDSN(dsn), reason)
}
