-- 0002: the schedule the servers run with (keys.ScheduleStore), beside the
-- key-set version, so that the keys CLI decides as they do. Nanoseconds;
-- NULL until a server stored it.

ALTER TABLE key_set_version ADD COLUMN rotate_every BIGINT, ADD COLUMN prepublish BIGINT;
