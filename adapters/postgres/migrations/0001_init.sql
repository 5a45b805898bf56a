-- 0001: users, the key set with its version counter, refresh-token families.
-- Times are Unix nanoseconds (UTC) in BIGINT columns, not timestamptz, whose
-- microsecond resolution would round them; NULL is the zero time.

CREATE TABLE users (
	username      TEXT   PRIMARY KEY, -- the UNIQUE constraint that decides concurrent registrations
	password_hash TEXT   NOT NULL,
	created_at    BIGINT
);

CREATE TABLE signing_keys (
	kid          TEXT    PRIMARY KEY,
	state        TEXT    NOT NULL,
	bits         INTEGER NOT NULL,
	private_key  BYTEA,
	created_at   BIGINT,
	published_at BIGINT,
	activated_at BIGINT,
	retired_at   BIGINT,
	remove_at    BIGINT,
	revoked_at   BIGINT
);

-- One row: the key-set version that ApplyKeys locks (SELECT … FOR UPDATE),
-- checks and bumps.
CREATE TABLE key_set_version (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	version BIGINT  NOT NULL
);
INSERT INTO key_set_version (id, version) VALUES (1, 0);

CREATE TABLE refresh_tokens (
	hash        BYTEA  PRIMARY KEY,
	family_id   TEXT   NOT NULL,
	parent_hash BYTEA,
	username    TEXT   NOT NULL REFERENCES users (username) ON DELETE CASCADE,
	issued_at   BIGINT,
	expires_at  BIGINT NOT NULL,
	used_at     BIGINT,
	revoked_at  BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id, expires_at);
CREATE INDEX refresh_tokens_username ON refresh_tokens (username);
