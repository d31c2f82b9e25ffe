-- Blob references carry the rev of the record that made them, so the blob
-- component answers listBlobs(since) from its own table.
ALTER TABLE record_blob ADD COLUMN rev TEXT NOT NULL DEFAULT '';
UPDATE record_blob SET rev = COALESCE((SELECT r.rev FROM record r
    WHERE r.did = record_blob.did AND r.collection = record_blob.collection AND r.rkey = record_blob.rkey), '');
CREATE INDEX record_blob_rev ON record_blob (did, rev);
