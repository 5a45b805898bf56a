-- 0004: the login throttle's token buckets (jwtauth.ThrottleStore), shared by
-- every process on the file: tokens at time at, and full_at, the time the
-- bucket is full again (then it is the same as an absent row and purged).
-- Times are Unix nanoseconds.

CREATE TABLE throttle_buckets (
	kind    TEXT    NOT NULL,
	key     TEXT    NOT NULL,
	tokens  REAL    NOT NULL,
	at      INTEGER NOT NULL,
	full_at INTEGER NOT NULL,
	PRIMARY KEY (kind, key)
) WITHOUT ROWID;

CREATE INDEX throttle_buckets_full_at ON throttle_buckets (full_at);
