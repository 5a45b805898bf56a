-- 0007: the DPoP key a refresh-token family is bound to (RFC 9449 §5): the
-- RFC 7638 SHA-256 thumbprint (base64url) of the key whose proof came with
-- the login, required of every refresh of the family. NULL: unbound, as
-- every family issued before this migration is.

ALTER TABLE refresh_families ADD COLUMN jkt TEXT;
