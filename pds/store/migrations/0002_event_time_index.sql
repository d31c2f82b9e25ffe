-- Pruning the event log by age scans by time.
CREATE INDEX event_time ON event (time);
