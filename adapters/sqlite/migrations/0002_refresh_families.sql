-- 0002: one row per refresh-token family, holding its absolute end
-- (expires_at: login + family lifetime, which caps every token of the
-- family) and its revocation, which rotation checks. Writes are serialized
-- by BEGIN IMMEDIATE, so the row is not needed as a lock here as it is on
-- PostgreSQL; the two stores keep one model.

CREATE TABLE refresh_families (
	family_id  TEXT    PRIMARY KEY,
	username   TEXT    NOT NULL REFERENCES users (username) ON DELETE CASCADE,
	created_at INTEGER,
	expires_at INTEGER, -- NULL: no absolute end
	revoked_at INTEGER
) STRICT;
CREATE INDEX refresh_families_username ON refresh_families (username);

-- Families issued before this migration started with their first token and
-- get the default lifetime, 90 days from then; a family with a revoked token
-- is revoked whole.
INSERT INTO refresh_families (family_id, username, created_at, expires_at, revoked_at)
	SELECT family_id, min(username), min(issued_at),
		min(coalesce(issued_at, expires_at)) + 7776000000000000, min(revoked_at)
	FROM refresh_tokens GROUP BY family_id;
UPDATE refresh_tokens SET revoked_at = (SELECT f.revoked_at FROM refresh_families AS f WHERE f.family_id = refresh_tokens.family_id)
	WHERE revoked_at IS NULL
		AND (SELECT f.revoked_at FROM refresh_families AS f WHERE f.family_id = refresh_tokens.family_id) IS NOT NULL;
UPDATE refresh_tokens SET expires_at = (SELECT f.expires_at FROM refresh_families AS f WHERE f.family_id = refresh_tokens.family_id)
	WHERE expires_at > (SELECT f.expires_at FROM refresh_families AS f WHERE f.family_id = refresh_tokens.family_id);
