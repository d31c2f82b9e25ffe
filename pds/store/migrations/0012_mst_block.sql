-- MST nodes of each account's current tree, by binary CID (pds/repos). A
-- commit adds its new nodes and deletes the ones its tree no longer holds
-- in its own transaction, so the two tables together are always exactly
-- the current tree (once its root is here: repos written before these
-- tables are filled on first use). Writes read only the nodes on their
-- keys' paths from them.
CREATE TABLE mst_block (
    did   TEXT NOT NULL,
    cid   BLOB NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (did, cid)
) WITHOUT ROWID;

-- The nodes the latest commit of an account added. The next commit mostly
-- replaces them (it rewrites the same path: new records get increasing
-- keys), so they are deleted from this small table, whose few pages stay
-- hot, instead of being inserted into and deleted from random pages of
-- mst_block; the next commit moves the ones it keeps into mst_block.
CREATE TABLE mst_block_recent (
    did   TEXT NOT NULL,
    cid   BLOB NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (did, cid)
) WITHOUT ROWID;
