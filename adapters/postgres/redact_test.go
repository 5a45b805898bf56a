package postgres

import (
	"errors"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRedactDSNEverySpelling: every way of writing a password that pgx reads
// as the password (checked with pgconn.ParseConfig) is masked by RedactDSN
// and in errors; the masked DSN still parses, with the password "xxxxx".
// Before, ?pass%77ord=… set the password and stayed in the log line.
func TestRedactDSNEverySpelling(t *testing.T) {
	tests := []struct{ dsn, secret string }{
		{"postgres://app:s3cret@db:5432/auth", "s3cret"},
		{"postgres://app:p%40ss@db/auth", "p@ss"},
		{"postgres://app@db/auth?password=hunter2", "hunter2"},
		{"postgres://app@db/auth?pass%77ord=hunter2", "hunter2"},
		{"postgres://app@db/auth?%70%61%73%73%77%6f%72%64=hunter2&sslmode=disable", "hunter2"},
		{"postgresql://app@db/auth?sslmode=disable&password=hun%26ter2", "hun&ter2"},
		{"postgres://app@db/auth?password=two+words", "two+words"}, // no '+' for space
		{"postgres://app@db/auth?password=%20padded%20", " padded "},
		{"postgres://app@db/auth?password=first&password=second", "second"},
		{"host=db user=app password=kv-secret dbname=auth", "kv-secret"},
		{"host=db user=app password = 'quoted secret' dbname=auth", "quoted secret"},
		{"host=db user=app password='it\\'s' dbname=auth", "it's"},
		{"host=db user=app password=esc\\ aped dbname=auth", "esc aped"},
		{"password=first-thing host=db", "first-thing"},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			cfg, err := pgconn.ParseConfig(tt.dsn)
			require.NoError(t, err)
			require.Equal(t, tt.secret, cfg.Password, "pgx reads this spelling as the password")

			got := RedactDSN(tt.dsn)
			for _, spelling := range []string{tt.secret, url.QueryEscape(tt.secret), url.PathEscape(tt.secret)} {
				assert.NotContains(t, got, spelling)
			}
			masked, err := pgconn.ParseConfig(got)
			require.NoError(t, err, "masked DSN %q", got)
			assert.Equal(t, "xxxxx", masked.Password, "masked DSN %q", got)
			assert.Equal(t, cfg.Host, masked.Host)
			assert.Equal(t, cfg.Database, masked.Database)

			e := redact(tt.dsn, errors.New("cannot connect with "+tt.dsn+" ("+tt.secret+")"))
			assert.NotContains(t, e.Error(), tt.secret)
		})
	}
	// Both secrets of one DSN; sslpassword in both forms.
	for _, dsn := range []string{
		"postgres://app:pw1@db/auth?sslpassword=key%70ass",
		"host=db user=app password=pw1 sslpassword=keypass",
	} {
		got := RedactDSN(dsn)
		assert.NotContains(t, got, "pw1")
		assert.NotContains(t, got, "keyp")
	}
	// pgx ends the userinfo at the first '@', net/url at the last: both masked.
	assert.Equal(t, "postgres://app:xxxxx@db/auth", RedactDSN("postgres://app:p@ss@db/auth"))
	assert.Equal(t, "postgres://app@db/auth?sslmode=disable", RedactDSN("postgres://app@db/auth?sslmode=disable"), "nothing to mask")
}
