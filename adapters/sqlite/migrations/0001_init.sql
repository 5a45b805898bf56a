-- 0001: users, the key set with its version counter, refresh-token families.
-- Times are Unix nanoseconds (UTC); NULL is the zero time.

CREATE TABLE users (
	id            INTEGER PRIMARY KEY,
	username      TEXT    NOT NULL UNIQUE,
	password_hash TEXT    NOT NULL,
	created_at    INTEGER
) STRICT;

CREATE TABLE signing_keys (
	kid          TEXT    PRIMARY KEY,
	state        TEXT    NOT NULL,
	bits         INTEGER NOT NULL,
	private_key  BLOB,
	created_at   INTEGER,
	published_at INTEGER,
	activated_at INTEGER,
	retired_at   INTEGER,
	remove_at    INTEGER,
	revoked_at   INTEGER
) STRICT;

-- One row: the key-set version that ApplyKeys checks and bumps.
CREATE TABLE key_set_version (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	version INTEGER NOT NULL
) STRICT;
INSERT INTO key_set_version (id, version) VALUES (1, 0);

CREATE TABLE refresh_tokens (
	hash        BLOB    PRIMARY KEY,
	family_id   TEXT    NOT NULL,
	parent_hash BLOB,
	username    TEXT    NOT NULL REFERENCES users (username) ON DELETE CASCADE,
	issued_at   INTEGER,
	expires_at  INTEGER NOT NULL,
	used_at     INTEGER,
	revoked_at  INTEGER
) STRICT;
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id, expires_at);
CREATE INDEX refresh_tokens_username ON refresh_tokens (username);
