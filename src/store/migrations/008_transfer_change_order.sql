-- Lists page by the transaction that last wrote each transfer, against the readers' snapshots
-- (src/store/transfers.ts, listTransfers): a row committed late, or changed after a reader passed
-- it, is not skipped. Rows already here count as written before any snapshot (0), in id order.
-- A logical dump loaded into another server brings this server's transaction ids with it: set
-- change_xid back to '0' there, or lists would leave out the rows until its ids catch up.
ALTER TABLE transfers ADD COLUMN change_xid xid8 NOT NULL DEFAULT '0';
ALTER TABLE transfers ALTER COLUMN change_xid SET DEFAULT pg_current_xact_id();
CREATE INDEX transfers_by_change ON transfers (change_xid, id);
-- A registry client reads only its own transfers, in the same order.
DROP INDEX transfers_by_client;
CREATE INDEX transfers_by_client ON transfers (client_id, change_xid, id);
