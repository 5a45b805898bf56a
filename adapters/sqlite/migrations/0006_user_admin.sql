-- 0006: the operator's user management (account.UserAdminStore): a disabled
-- flag (0 or 1) and the time of the last login (Unix nanoseconds, NULL:
-- none) per user, and the tombstones of deleted users, whose names
-- CreateUser refuses for good so that a token's sub is never reassigned.

ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN last_login_at INTEGER;

CREATE TABLE deleted_users (
	username   TEXT    PRIMARY KEY,
	deleted_at INTEGER
) STRICT;
