package postgres

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// RedactDSN returns dsn with every password it carries replaced by "xxxxx",
// for messages and logs. It masks the forms pgx accepts: the userinfo
// password of a postgres:// or postgresql:// URL (user:pw@host), the
// password and sslpassword query parameters (?password=pw), and
// password=… and sslpassword=… of a key=value string, quoted or not; the
// URL-decoded spelling of a password is masked too. A DSN that does not
// parse as a URL is still masked. It returns dsn unchanged when it holds no
// password.
func RedactDSN(dsn string) string {
	for _, pw := range passwords(dsn) {
		dsn = strings.ReplaceAll(dsn, pw, "xxxxx")
	}
	return dsn
}

var (
	// kvPassword matches password=… (and sslpassword=…) in a key=value DSN
	// or a URL query.
	kvPassword = regexp.MustCompile(`password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&]*)`)
	// urlPassword matches the userinfo password of a URL that may not parse.
	urlPassword = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*://[^:@/]*:([^@]*)@`)
)

// passwords returns the password-like substrings of dsn, longest first, in
// the forms they may take in an error message (raw and URL-decoded).
func passwords(dsn string) []string {
	var out []string
	add := func(pw string) {
		pw = strings.Trim(pw, "'")
		if pw == "" || pw == "xxxxx" {
			return
		}
		out = append(out, pw)
		if dec, err := url.PathUnescape(pw); err == nil && dec != pw {
			out = append(out, dec)
		}
	}
	if m := urlPassword.FindStringSubmatch(dsn); m != nil {
		add(m[1])
	}
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			add(pw)
		}
	}
	for _, m := range kvPassword.FindAllStringSubmatch(dsn, -1) {
		add(m[1])
	}
	// Replace longer strings first so a password that contains another
	// candidate is masked whole.
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if len(out[j]) > len(out[i]) {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
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
