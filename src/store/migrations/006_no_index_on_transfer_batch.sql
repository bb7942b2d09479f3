-- No query finds transfers by batch_id: batches list their members in batch_members. The index
-- still cost a B-tree insert each time a claim moved a record into a batch (docs/PERFORMANCE.md).
DROP INDEX transfers_by_batch;
