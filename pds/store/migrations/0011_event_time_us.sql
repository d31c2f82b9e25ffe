-- /subscribe (the Jetstream-compatible stream) stamps every event it sends
-- with time_us, unix microseconds, strictly increasing along the log, and
-- takes its cursor in the same unit. The event log assigns it at append
-- (eventlog.Append); events stored before this migration get their time in
-- whole milliseconds. No index: readers find a cursor by bisecting on seq.
ALTER TABLE event ADD COLUMN time_us INTEGER NOT NULL DEFAULT 0;
UPDATE event SET time_us = CAST(round(unixepoch(time, 'subsec') * 1000) AS INTEGER) * 1000;
