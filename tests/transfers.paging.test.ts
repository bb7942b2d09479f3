import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../src/domain/ids.js';
import { openDatabase, type Queryable } from '../src/store/database.js';
import { migrate } from '../src/store/migrate.js';
import { insertTransferInTx, listTransfers, moveTransfersInTx, type TransferStatus } from '../src/store/transfers.js';
import { personalNumber } from './support/fixtures.js';
import { startTestGateway, type ClientName, type TestGateway } from './support/gateway.js';

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway();
});
afterAll(async () => {
  await gateway?.close();
});

/** Writers a failed test left open: committed, so the gateway can close. */
const stillOpen = new Set<() => Promise<unknown>>();
afterEach(async () => {
  await Promise.allSettled([...stillOpen].map((commit) => commit()));
});

/** A birth as intake stores it, for the registry client registry08 (hotich-08) in province 08. */
async function insertBirth(tx: Queryable, status: 'received' | 'queued' = 'queued'): Promise<string> {
  const id = newId();
  await insertTransferInTx(
    tx,
    {
      id, type: 'KHAI_SINH', clientId: 'hotich-08', messageId: `paging-${id}`, status, maTinh: '08', maDonVi: '02215',
      soDinhDanh: personalNumber(), document: {}, missing: [], bhxhDocument: {},
    },
    { actor: 'hotich-08', action: 'khai-sinh.accepted' },
  );
  return id;
}

async function move(tx: Queryable, id: string, fromStatus: TransferStatus, toStatus: TransferStatus): Promise<void> {
  const { moved } = await moveTransfersInTx(tx, [{
    id, fromStatus, toStatus, batchId: null, ...(toStatus === 'returned' ? { bhxhErrors: [{ MA_LOI: 'SAI_HO_TEN' }] } : {}),
    event: { actor: 'bhxh', action: 'test.move' },
  }]);
  expect(moved).toEqual([id]);
}

const committed = <T>(work: (tx: Queryable) => Promise<T>) => gateway.db.transaction(work);

/**
 * A transaction that does its work now and commits only when told: a writer that took its id (and
 * its transaction) before another one committed, and commits after it.
 */
function heldOpen<T>(work: (tx: Queryable) => Promise<T>) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => { release = resolve; });
  let markWritten!: (value: T) => void;
  const written = new Promise<T>((resolve) => { markWritten = resolve; });
  const done = gateway.db.transaction(async (tx) => {
    const value = await work(tx);
    markWritten(value);
    await released;
    return value;
  });
  const commit = () => {
    stillOpen.delete(commit);
    release();
    return done;
  };
  stillOpen.add(commit);
  return {
    /** Resolves once the work is written, uncommitted; rejects if the transaction failed first. */
    written: Promise.race([written, done]),
    commit,
  };
}

interface Page {
  items: Array<{ transferId: string; status: string }>;
  nextCursor: string | null;
}

async function page(as: ClientName, url: string): Promise<Page> {
  const response = await gateway.request(as, { method: 'GET', url });
  expect(response.statusCode, response.body).toBe(200);
  return response.json() as Page;
}

/**
 * A registry polling a list: follows nextCursor until it is null, and remembers the last cursor it
 * was given, to resume from there next time.
 */
class Poller {
  readonly seen: string[] = [];
  private cursor: string | null = null;

  constructor(private readonly as: ClientName, private readonly query: string) {}

  async poll(): Promise<void> {
    for (let pages = 0; pages < 100; pages += 1) {
      const cursor = this.cursor === null ? '' : `&cursor=${encodeURIComponent(this.cursor)}`;
      const answer = await page(this.as, `/ngsp/v1/transfers?${this.query}${cursor}`);
      this.seen.push(...answer.items.map((item) => item.transferId));
      if (answer.nextCursor === null) return;
      this.cursor = answer.nextCursor;
    }
    throw new Error('paging does not end');
  }
}

describe('paging while writers commit out of order', () => {
  it('a birth whose transaction began first but committed last is still listed to a reader already past the later one', async () => {
    const early = heldOpen((tx) => insertBirth(tx));
    const earlyId = await early.written;
    const laterId = await committed((tx) => insertBirth(tx));
    const latestId = await committed((tx) => insertBirth(tx));

    const reader = new Poller('registry08', 'limit=1');
    await reader.poll();
    expect(reader.seen).toEqual(expect.arrayContaining([laterId, latestId]));
    expect(reader.seen).not.toContain(earlyId);

    await early.commit();
    await reader.poll();
    expect(reader.seen).toContain(earlyId);
    expect(new Set(reader.seen).size).toBe(reader.seen.length);
  });

  it('a record returned after a poller of status=returned passed its position appears at the next poll', async () => {
    const [first, second, third] = await committed(async (tx) => {
      const ids = [await insertBirth(tx), await insertBirth(tx), await insertBirth(tx)];
      for (const id of ids) await move(tx, id, 'queued', 'sent');
      return ids as [string, string, string];
    });
    // The first record's result is applied in a transaction that began before the others' and ends last.
    const slow = heldOpen((tx) => move(tx, first, 'sent', 'returned'));
    await slow.written;
    await committed((tx) => move(tx, second, 'sent', 'returned'));
    await committed((tx) => move(tx, third, 'sent', 'returned'));

    const warnings = new Poller('registry08', 'status=returned&limit=1');
    await warnings.poll();
    expect(warnings.seen).toEqual([second, third]);

    await slow.commit();
    await warnings.poll();
    expect(warnings.seen).toEqual([second, third, first]);

    // Later again: a record returned after the poller caught up, though created before all of them.
    const older = await committed(async (tx) => {
      const id = await insertBirth(tx);
      await move(tx, id, 'queued', 'sent');
      return id;
    });
    await committed((tx) => move(tx, older, 'sent', 'returned'));
    await warnings.poll();
    expect(warnings.seen).toEqual([second, third, first, older]);
  });

  it('six writers committing in shuffled order, a reader polling after each commit: every birth listed once', async () => {
    const writers = [];
    for (let index = 0; index < 6; index += 1) {
      const writer = heldOpen((tx) => insertBirth(tx, index % 2 === 0 ? 'queued' : 'received'));
      await writer.written;
      writers.push(writer);
    }
    const reader = new Poller('operator', 'unit=08&limit=2');
    await reader.poll();
    const before = new Set(reader.seen);
    const ids: string[] = [];
    for (const index of [3, 0, 5, 1, 4, 2]) {
      ids.push(await (writers[index] as (typeof writers)[number]).commit());
      await reader.poll();
      expect(reader.seen.filter((id) => !before.has(id))).toEqual(expect.arrayContaining(ids));
    }
    const fresh = reader.seen.filter((id) => !before.has(id));
    expect([...fresh].sort()).toEqual([...ids].sort());
  });
});

describe('cursors', () => {
  it('a cursor of the earlier paging by id is 400 VALIDATION_FAILED, saying to start again', async () => {
    const response = await gateway.request('registry08', { method: 'GET', url: `/ngsp/v1/transfers?cursor=${newId()}` });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: [expect.objectContaining({ path: '/querystring/cursor', message: expect.stringMatching(/start again without a cursor/) })],
    });
  });

  it.each(['x', '1~2.1~3~abc', '~0.3~4~abc', '~3.5.5~4~abc', '~3.5.1.0~4~abc', '~zzzzzzzzzzzzz.1~4~abc', '~3.5~-1~abc', '~3.5~4~', '~3.5~4~a~b', '~3.5~4~a%b'])(
    'a cursor the gateway did not make (%s) is 400 VALIDATION_FAILED at /querystring/cursor',
    async (cursor) => {
      const response = await gateway.request('operator', { method: 'GET', url: `/ops/v1/transfers?cursor=${encodeURIComponent(cursor)}` });
      expect(response.statusCode).toBe(400);
      expect(response.json().error).toMatchObject({ code: 'VALIDATION_FAILED', details: [expect.objectContaining({ path: '/querystring/cursor' })] });
    },
  );
});

describe('on PGlite', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'lienthong-paging-'));
  });
  afterAll(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('pages by change and resumes after a status change', async () => {
    const db = await openDatabase({ dataDir });
    try {
      await migrate(db);
      const ids = await db.transaction(async (tx) => [await insertBirth(tx), await insertBirth(tx), await insertBirth(tx)]);
      const walked: string[] = [];
      let cursor: string | undefined;
      for (;;) {
        const { items, nextCursor } = await listTransfers(db, { status: 'queued' }, { limit: 2, after: cursor });
        walked.push(...items.map((item) => item.id));
        if (nextCursor === null) break;
        cursor = nextCursor;
      }
      expect(walked).toEqual(ids);
      await db.transaction((tx) => move(tx, ids[0] as string, 'queued', 'received'));
      await db.transaction((tx) => move(tx, ids[0] as string, 'received', 'queued'));
      expect((await listTransfers(db, { status: 'queued' }, { limit: 2, after: cursor })).items.map((item) => item.id)).toEqual([ids[0]]);
    } finally {
      await db.close();
    }
  }, 90_000); // an embedded database's start and migrations, on a busy machine
});
