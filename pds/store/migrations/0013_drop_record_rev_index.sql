-- Only getRepo with `since` (records changed after a rev) read this index.
-- Such an export already streams every MST node of the account (O(repo)),
-- so it now also scans the account's records by primary key. Dropping the
-- index saves an entry per record (about 90 bytes: a sixth of the database
-- at 100k records) and a b-tree write per create, which pays for the MST
-- block tables (0011).
DROP INDEX record_rev;
