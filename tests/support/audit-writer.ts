/**
 * A separate OS process that appends audit events to a shared schema as fast as it can, so tests can
 * prove the hash chain holds with several gateway processes on one database.
 * Usage: tsx tests/support/audit-writer.ts <databaseUrl> <schema> <events> <concurrency>
 */
import { appendAuditEventInTx } from '../../src/store/audit-log.js';
import { openDatabase } from '../../src/store/database.js';

const [url, schema, eventsArg, concurrencyArg] = process.argv.slice(2);
const events = Number(eventsArg);
const concurrency = Number(concurrencyArg);
const db = await openDatabase({ url, schema, dataDir: '/nonexistent', poolSize: concurrency });
let next = 0;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < events) {
      const index = next++;
      await db.transaction(async (tx) => appendAuditEventInTx(tx, { actor: `writer-${process.pid}`, action: 'test.append', details: { index } }));
    }
  }),
);
await db.close();
process.stdout.write(`appended ${events}\n`);
