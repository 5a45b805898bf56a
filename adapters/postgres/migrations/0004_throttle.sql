-- 0004: the login throttle's token buckets (jwtauth.ThrottleStore), shared by
-- every instance on the database: tokens at time at, and full_at, the time
-- the bucket is full again (then it is the same as an absent row and
-- purged). Times are Unix nanoseconds. The two functions run a take or a
-- refund as one statement, locking the rows in the order given.

CREATE TABLE throttle_buckets (
	kind    TEXT             NOT NULL,
	key     TEXT             NOT NULL,
	tokens  DOUBLE PRECISION NOT NULL,
	at      BIGINT           NOT NULL,
	full_at BIGINT           NOT NULL,
	PRIMARY KEY (kind, key)
);

CREATE INDEX throttle_buckets_full_at ON throttle_buckets (full_at);

-- throttle_take takes one token from each bucket in order; at the first
-- bucket holding less than one it stops, keeping the tokens already taken,
-- and returns the nanoseconds until that bucket holds one; 0 when it took a
-- token from every bucket.
CREATE FUNCTION throttle_take(kinds TEXT[], keys TEXT[], bursts BIGINT[], everys BIGINT[], now BIGINT)
RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
	i     INT;
	tok   DOUBLE PRECISION;
	t_at  BIGINT;
	avail DOUBLE PRECISION;
BEGIN
	FOR i IN 1 .. coalesce(array_length(kinds, 1), 0) LOOP
		INSERT INTO throttle_buckets AS b (kind, key, tokens, at, full_at)
			VALUES (kinds[i], keys[i], bursts[i] - 1, now, now + everys[i])
			ON CONFLICT (kind, key) DO NOTHING;
		IF FOUND THEN
			CONTINUE; -- a fresh bucket: full, one token taken
		END IF;
		SELECT b.tokens, b.at INTO tok, t_at FROM throttle_buckets b
			WHERE b.kind = kinds[i] AND b.key = keys[i] FOR UPDATE;
		IF NOT FOUND THEN -- purged since: a full bucket
			INSERT INTO throttle_buckets (kind, key, tokens, at, full_at)
				VALUES (kinds[i], keys[i], bursts[i] - 1, now, now + everys[i])
				ON CONFLICT (kind, key) DO UPDATE SET tokens = excluded.tokens, at = excluded.at, full_at = excluded.full_at;
			CONTINUE;
		END IF;
		avail := tok;
		IF now > t_at THEN
			avail := least(bursts[i]::DOUBLE PRECISION, tok + (now - t_at)::DOUBLE PRECISION / everys[i]);
		END IF;
		IF avail < 1 THEN
			RETURN ceil((1 - avail) * everys[i])::BIGINT;
		END IF;
		t_at := greatest(t_at, now);
		UPDATE throttle_buckets SET tokens = avail - 1, at = t_at,
				full_at = t_at + ceil((bursts[i] - (avail - 1)) * everys[i])::BIGINT
			WHERE kind = kinds[i] AND key = keys[i];
	END LOOP;
	RETURN 0;
END $$;

-- throttle_refund gives one token back to each bucket, up to its burst; an
-- absent bucket stays absent (it is full).
CREATE FUNCTION throttle_refund(kinds TEXT[], keys TEXT[], bursts BIGINT[], everys BIGINT[], now BIGINT)
RETURNS VOID LANGUAGE plpgsql AS $$
DECLARE
	i     INT;
	tok   DOUBLE PRECISION;
	t_at  BIGINT;
	avail DOUBLE PRECISION;
BEGIN
	FOR i IN 1 .. coalesce(array_length(kinds, 1), 0) LOOP
		SELECT b.tokens, b.at INTO tok, t_at FROM throttle_buckets b
			WHERE b.kind = kinds[i] AND b.key = keys[i] FOR UPDATE;
		CONTINUE WHEN NOT FOUND;
		avail := tok;
		IF now > t_at THEN
			avail := least(bursts[i]::DOUBLE PRECISION, tok + (now - t_at)::DOUBLE PRECISION / everys[i]);
		END IF;
		avail := least(bursts[i]::DOUBLE PRECISION, avail + 1);
		t_at := greatest(t_at, now);
		UPDATE throttle_buckets SET tokens = avail, at = t_at,
				full_at = t_at + ceil((bursts[i] - avail) * everys[i])::BIGINT
			WHERE kind = kinds[i] AND key = keys[i];
	END LOOP;
END $$;
