-- MST nodes of each account's current tree, by binary CID (pds/repos). A
-- commit adds its new nodes and deletes the ones its tree no longer holds
-- in its own transaction, so the table is always exactly the current tree
-- (once its root is here: repos written before this table are filled on
-- first use). Writes read only the nodes on their keys' paths from it.
CREATE TABLE mst_block (
    did   TEXT NOT NULL,
    cid   BLOB NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (did, cid)
) WITHOUT ROWID;
