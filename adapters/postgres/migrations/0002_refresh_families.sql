-- 0002: one row per refresh-token family. Rotation and every revocation lock
-- the family's row (SELECT … FOR UPDATE) before they touch its tokens, and
-- rotation refuses a family whose revoked_at is set: under READ COMMITTED a
-- revocation could otherwise miss the successor a concurrent rotation was
-- inserting, and that successor would keep refreshing after a logout. The
-- row also holds the family's absolute end (expires_at: login + family
-- lifetime), which caps every token of the family.

CREATE TABLE refresh_families (
	family_id  TEXT   PRIMARY KEY,
	username   TEXT   NOT NULL REFERENCES users (username) ON DELETE CASCADE,
	created_at BIGINT,
	expires_at BIGINT, -- NULL: no absolute end
	revoked_at BIGINT
);
CREATE INDEX refresh_families_username ON refresh_families (username);

-- Families issued before this migration started with their first token and
-- get the default lifetime, 90 days from then. A family with a revoked token
-- is revoked whole, which also closes the families the race above left
-- half revoked.
INSERT INTO refresh_families (family_id, username, created_at, expires_at, revoked_at)
	SELECT family_id, min(username), min(issued_at),
		min(coalesce(issued_at, expires_at)) + 7776000000000000, min(revoked_at)
	FROM refresh_tokens GROUP BY family_id;
UPDATE refresh_tokens AS t SET revoked_at = f.revoked_at FROM refresh_families AS f
	WHERE t.family_id = f.family_id AND f.revoked_at IS NOT NULL AND t.revoked_at IS NULL;
UPDATE refresh_tokens AS t SET expires_at = f.expires_at FROM refresh_families AS f
	WHERE t.family_id = f.family_id AND t.expires_at > f.expires_at;

ALTER TABLE refresh_tokens ADD CONSTRAINT refresh_tokens_family_fkey
	FOREIGN KEY (family_id) REFERENCES refresh_families (family_id) ON DELETE CASCADE;
