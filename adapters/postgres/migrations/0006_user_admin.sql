-- 0006: the operator's user management (account.UserAdminStore): a disabled
-- flag and the time of the last login (Unix nanoseconds, NULL: none) per
-- user, and the tombstones of deleted users, whose names CreateUser refuses
-- for good so that a token's sub is never reassigned. CreateRefreshToken
-- reads the flag FOR SHARE, which waits for a SetUserDisabled in progress,
-- so no family starts after a user was disabled.

ALTER TABLE users ADD COLUMN IF NOT EXISTS disabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN IF NOT EXISTS last_login_at BIGINT;

CREATE TABLE IF NOT EXISTS deleted_users (
	username   TEXT   PRIMARY KEY,
	deleted_at BIGINT
);
