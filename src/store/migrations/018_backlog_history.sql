-- The console's backlog chart (src/transfers/backlog-report.ts, backlogHistory) asks which records
-- reached a final status since its window began. Each record reaches one at most once (a final status
-- moves nowhere else), so this index holds one entry per finished record and costs the audit log's
-- writers nothing for the other changes. The list is FINAL_STATUSES (src/domain/transfer-status.ts);
-- tests/backlog.report.test.ts checks they agree.
CREATE INDEX audit_events_final_by_time ON audit_events (at)
  WHERE to_status IN ('issued', 'processed', 'deceased', 'merged', 'closed');
