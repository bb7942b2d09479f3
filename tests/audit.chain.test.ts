import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAuditEventInTx, appendAuditEventsInTx, hashEvent, listAuditEvents } from '../src/store/audit-log.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { khaiSinh } from './support/fixtures.js';
import { countRows, startTestGateway, TEST_DATABASE_URL, type TestGateway } from './support/gateway.js';
import type { Queryable } from '../src/store/database.js';

let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway();
});
afterAll(async () => {
  await gateway?.close();
});

const push = (target: TestGateway, doc = khaiSinh()) =>
  target.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: doc });

const verify = async () => {
  const response = await gateway.request('auditor', { method: 'GET', url: '/audit/v1/verify' });
  expect(response.statusCode).toBe(200);
  return response.json();
};

/** Changes the log the way an intruder with superuser rights would: around the append-only trigger. */
async function tamper(sql: string) {
  await gateway.db.transaction(async (tx) => {
    await tx.query("SET LOCAL session_replication_role = 'replica'");
    await tx.query(sql);
  });
}

describe('audit log', () => {
  it('lists a transfer\'s events oldest first with their hash links', async () => {
    const accepted = (await push(gateway, khaiSinh({ bhyt: null }))).json();
    await gateway.request('registry08', {
      method: 'PATCH', url: `/ngsp/v1/khai-sinh/${accepted.transferId}`,
      payload: { bhyt: { noiDangKyKCB: '08001', hinhThucNhanThe: 'tai_tru_so' } },
    });
    const response = await gateway.request('auditor', { method: 'GET', url: `/audit/v1/events?transferId=${accepted.transferId}` });
    expect(response.statusCode).toBe(200);
    const { events } = response.json();
    expect(events.map((event: { action: string }) => event.action)).toEqual(['khai-sinh.accepted', 'khai-sinh.corrected']);
    expect(events[0]).toMatchObject({ fromStatus: null, toStatus: 'received', actor: 'hotich-08', payloadSha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(events[1]).toMatchObject({ fromStatus: 'received', toStatus: 'queued', prevHash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(events[1].seq).toBeGreaterThan(events[0].seq);
    expect(await verify()).toMatchObject({ ok: true, head: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  it('stays one unbroken chain under many concurrent writers in two gateways on one database', async () => {
    const second = await startTestGateway({ schema: gateway.schema, keepSchema: true });
    try {
      const responses = await Promise.all(Array.from({ length: 40 }, (_, index) => push(index % 2 ? gateway : second)));
      expect(responses.every((response) => response.statusCode === 202)).toBe(true);
    } finally {
      await second.close();
    }
    const verdict = await verify();
    expect(verdict.ok).toBe(true);
    expect(verdict.events).toBe(await countRows(gateway.db, 'audit_events'));
  });

  it('stays one unbroken chain with several OS processes appending at once', async () => {
    const before = await countRows(gateway.db, 'audit_events');
    const writers = [1, 2, 3].map(() =>
      spawn(process.execPath, ['--import', 'tsx', 'tests/support/audit-writer.ts', TEST_DATABASE_URL, gateway.schema, '30', '4'], { stdio: 'pipe' }),
    );
    const exits = await Promise.all(writers.map(async (writer) => (await once(writer, 'exit'))[0]));
    expect(exits).toEqual([0, 0, 0]);
    expect(await countRows(gateway.db, 'audit_events')).toBe(before + 90);
    expect(await verifyAuditLog(gateway.db)).toMatchObject({ ok: true, events: before + 90 });
  });

  it('refuses UPDATE, DELETE and TRUNCATE of audit events from the gateway\'s connection', async () => {
    await push(gateway);
    await expect(gateway.db.query("UPDATE audit_events SET actor = 'mallory' WHERE seq = 1")).rejects.toThrow(/append-only/);
    await expect(gateway.db.query('DELETE FROM audit_events WHERE seq = 1')).rejects.toThrow(/append-only/);
    await expect(gateway.db.query('TRUNCATE audit_events')).rejects.toThrow(/append-only/);
    expect((await verify()).ok).toBe(true);
  });

  it('names the first event changed behind the gateway\'s back', async () => {
    await push(gateway);
    const total = await countRows(gateway.db, 'audit_events');
    const target = total - 1;
    await tamper(`UPDATE audit_events SET actor = 'mallory' WHERE seq = ${target}`);
    expect(await verify()).toMatchObject({ ok: false, brokenSeq: target, events: target - 1 });
    // Resealing the tampered row with a correct hash of its own does not help: the next link breaks.
    const [forged] = await listAuditEvents(gateway.db, { afterSeq: target - 1, limit: 1 });
    expect(forged).toBeDefined();
    const { hash: _stale, ...sealed } = forged!;
    await tamper(`UPDATE audit_events SET hash = '${hashEvent(sealed)}' WHERE seq = ${target}`);
    expect(await verify()).toMatchObject({ ok: false, brokenSeq: target + 1 });
  });

  it.each([
    ['from the middle of the chain', () => 2, 'removed-event'],
    ['off the end of the chain (the newest)', (total: number) => total, 'cut-end'],
  ])('names an event removed %s', async (_where, chosen, kind) => {
    const fresh = await startTestGateway();
    try {
      for (let i = 0; i < 3; i++) await push(fresh);
      const seq = chosen(await countRows(fresh.db, 'audit_events'));
      await fresh.db.transaction(async (tx) => {
        await tx.query("SET LOCAL session_replication_role = 'replica'");
        await tx.query('DELETE FROM audit_events WHERE seq = $1', [seq]);
      });
      // One writer at a time: every event went to the first chain, in seq order.
      const verdict = await verifyAuditLog(fresh.db);
      expect(verdict).toMatchObject({ ok: false, events: seq - 1, problems: [{ kind, chain: 1, chainSeq: seq }] });
      // Removed: the event found after the gap; cut off: the last event kept.
      expect(verdict.brokenSeq).toBe(kind === 'removed-event' ? seq + 1 : seq - 1);
    } finally {
      await fresh.close();
    }
  });

  it('is not alarmed by events committed while it walks the chain', async () => {
    const fresh = await startTestGateway();
    try {
      for (let i = 0; i < 2; i++) await push(fresh);
      let appended = false;
      // Right after the walk reads its (only) page, another transaction appends and commits, as on
      // a live gateway: the chain then ends later than the page the walk saw.
      const live: Queryable = {
        exec: (sql) => fresh.db.exec(sql),
        async query<Row>(sql: string, params?: unknown[]) {
          const result = await fresh.db.query<Row>(sql, params);
          if (!appended && sql.includes('FROM audit_events')) {
            appended = true;
            await fresh.db.transaction(async (tx) => appendAuditEventInTx(tx, { actor: 'test', action: 'test.during-walk' }));
          }
          return result;
        },
      };
      expect(await verifyAuditLog(live)).toMatchObject({ ok: true });
      expect(appended).toBe(true);
    } finally {
      await fresh.close();
    }
  });

  it('stores any text exactly as given and seals it into the chain', async () => {
    const awkward = `O'Brien \\ "quoted" {braces, commas} NULL \\' ''; DROP TABLE audit_events; -- Nguyễn 🇻🇳\n\ttab`;
    const fresh = await startTestGateway();
    try {
      await push(fresh);
      await fresh.db.transaction(async (tx) => {
        appendAuditEventsInTx(tx, [
          { actor: awkward, action: 'test.awkward-text', details: { reason: awkward, nested: { list: [awkward, null, 'NULL', ''] } } },
          { actor: 'test', action: 'NULL', details: { empty: '' } },
        ]);
      });
      const [first, second] = (await listAuditEvents(fresh.db, { afterSeq: 0, limit: 1000 })).slice(-2);
      expect(first).toMatchObject({ actor: awkward, action: 'test.awkward-text', details: { reason: awkward, nested: { list: [awkward, null, 'NULL', ''] } } });
      expect(second).toMatchObject({ actor: 'test', action: 'NULL', transferId: null, details: { empty: '' } });
      expect(await verifyAuditLog(fresh.db)).toMatchObject({ ok: true });
    } finally {
      await fresh.close();
    }
  });

  it('rolls the event back with the change it records', async () => {
    const before = await countRows(gateway.db, 'audit_events');
    await expect(
      gateway.db.transaction(async (tx) => {
        appendAuditEventInTx(tx, { actor: 'test', action: 'test.rolled-back' });
        // The idempotency record's key to its transfer is checked at COMMIT, after the event is sealed.
        await tx.query(
          `INSERT INTO inbound_messages (client_id, message_id, message_type, content_sha256, transfer_id, response)
           VALUES ('test', 'rolled-back', 'KhaiSinh', '', 'no-such-transfer', '{}')`,
        );
      }),
    ).rejects.toThrow(/foreign key/);
    expect(await countRows(gateway.db, 'audit_events')).toBe(before);
  });
});
