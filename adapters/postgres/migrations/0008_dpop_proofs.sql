-- 0008: the DPoP replay cache (dpop.ReplayCache, RFC 9449 §11.1) shared by
-- every instance on the database: the key of each accepted proof (43 bytes
-- of base64url, a SHA-256 of its key's thumbprint and its jti) until
-- expires_at (Unix nanoseconds, inclusive). Expired rows are deleted by the
-- inserts themselves (every sweep-th insert of an instance).

CREATE TABLE dpop_proofs (
	key        TEXT   NOT NULL PRIMARY KEY,
	expires_at BIGINT NOT NULL
);

CREATE INDEX dpop_proofs_expires_at ON dpop_proofs (expires_at);
