-- 0005: the retention of the servers' schedule (keys.Schedule.Retain), so
-- that a key the keys CLI retires leaves the JWKS when the servers'
-- settings say. Nanoseconds; NULL (unknown) in a database whose schedule
-- was stored before, until a server stores it again.

ALTER TABLE key_set_version ADD COLUMN IF NOT EXISTS retain BIGINT DEFAULT NULL;
