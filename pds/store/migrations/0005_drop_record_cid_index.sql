-- Records are found by path; getBlocks maps CIDs to paths through the MST.
-- Dropping this index saves a random b-tree write per record.
DROP INDEX record_cid;
