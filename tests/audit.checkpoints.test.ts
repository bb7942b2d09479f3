import { createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { CheckpointRefused, CheckpointSchedule, copyCheckpointsOut, devCheckpointDir, readNewestFiled, ensureSigningKey, keyIdOf, loadAuditKeys, publicKeyPem, writeCheckpoint, type CheckpointBody } from '../src/audit/checkpoints.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { canonicalJson, sha256Hex } from '../src/domain/canonical-json.js';
import { appendAuditEventsInTx, hashEvent, listAuditEvents } from '../src/store/audit-log.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

let keysDir: string;
let signingKeyFile: string;
beforeAll(() => {
  keysDir = mkdtempSync(join(tmpdir(), 'lt-audit-keys-'));
  signingKeyFile = join(keysDir, 'signing-key.pem');
  writeFileSync(signingKeyFile, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
});
afterAll(() => rmSync(keysDir, { recursive: true, force: true }));

interface Signed {
  gateway: TestGateway;
  dir: string;
  /** Writes a checkpoint now (the periodic job's work) and copies it out. */
  checkpoint(): Promise<number | undefined>;
  append(count: number, action?: string): Promise<void>;
  verify(): Promise<Record<string, any>>;
  close(): Promise<void>;
}

/** A gateway of its own that signs checkpoints with the test key into a directory of its own. */
async function signedGateway(): Promise<Signed> {
  const dir = mkdtempSync(join(tmpdir(), 'lt-audit-checkpoints-'));
  const gateway = await startTestGateway({ env: { AUDIT_SIGNING_KEY_FILE: signingKeyFile, AUDIT_CHECKPOINT_DIR: dir } });
  const { signing } = loadAuditKeys({ signingKeyFile });
  return {
    gateway, dir,
    async checkpoint() {
      const written = await writeCheckpoint(gateway.db, signing!);
      await copyCheckpointsOut(gateway.db, dir);
      return written?.number;
    },
    async append(count, action = 'test.event') {
      await gateway.db.transaction(async (tx) => appendAuditEventsInTx(tx, Array.from({ length: count }, (_, index) => ({
        actor: 'test', action, details: { index },
      }))));
    },
    async verify() {
      const response = await gateway.request('auditor', { method: 'GET', url: '/audit/v1/verify' });
      expect(response.statusCode).toBe(200);
      return response.json();
    },
    async close() {
      await gateway.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Changes the database the way its superuser would: around the append-only triggers. */
async function tamper(gateway: TestGateway, ...statements: string[]) {
  await gateway.db.transaction(async (tx) => {
    await tx.query("SET LOCAL session_replication_role = 'replica'");
    for (const sql of statements) await tx.query(sql);
  });
}

const kinds = (verdict: Record<string, any>) => (verdict.problems as Array<{ kind: string }>).map((problem) => problem.kind);

describe('signed audit checkpoints', () => {
  let log: Signed;
  beforeAll(async () => {
    log = await signedGateway();
  });
  afterAll(() => log?.close());

  it('signs every chain\'s head, links each checkpoint to the one before, and copies each to a file of its own', async () => {
    await log.append(5);
    expect(await log.checkpoint()).toBe(1);
    // Nothing moved: nothing to sign.
    expect(await log.checkpoint()).toBeUndefined();
    await log.append(3);
    expect(await log.checkpoint()).toBe(2);
    await log.append(2);

    expect(readdirSync(log.dir).sort()).toEqual(['000000000001.json', '000000000002.json']);
    const [first, second] = ['000000000001.json', '000000000002.json']
      .map((name) => JSON.parse(readFileSync(join(log.dir, name), 'utf8')) as { body: string; signature: string })
      .map(({ body }) => JSON.parse(body) as CheckpointBody);
    expect(first).toMatchObject({ number: 1, events: 5, previous: '0'.repeat(64) });
    expect(second).toMatchObject({ number: 2, events: 8 });
    expect(second!.previous).not.toBe(first!.previous);
    expect(second!.chains.map((head) => head.chain)).toEqual([...Array(17).keys()]);

    expect(await log.verify()).toMatchObject({
      ok: true, events: 10, problems: [], chains: 17,
      checkpoints: { count: 2, checked: true, last: { number: 2 }, unsignedEvents: 2 },
    });
  });
});

describe('the checkpoint schedule and its keys', () => {
  it('writes a checkpoint on a tick when a chain moved, and copies every one the directory lacks', async () => {
    const log = await signedGateway();
    try {
      const schedule = new CheckpointSchedule({
        db: log.gateway.db, signing: loadAuditKeys({ signingKeyFile }).signing!, dir: log.dir, intervalMs: 3_600_000, logger: pino({ level: 'silent' }),
      });
      await log.append(2);
      await schedule.tick();
      await log.append(1);
      // Another process's tick within the same period writes none: one checkpoint a period.
      await schedule.tick();
      expect(readdirSync(log.dir)).toEqual(['000000000001.json']);
      await log.checkpoint();
      // A file lost before it was copied off (or a process that died before copying) is made good.
      rmSync(join(log.dir, '000000000002.json'));
      await schedule.tick();
      await schedule.close();
      expect(readdirSync(log.dir).sort()).toEqual(['000000000001.json', '000000000002.json']);
      expect(await log.verify()).toMatchObject({ ok: true, checkpoints: { count: 2, unsignedEvents: 0 } });
    } finally {
      await log.close();
    }
  });

  it('keeps dev mode\'s copies in a folder of each database\'s own, so a fresh database does not meet old checkpoints', async () => {
    const [one, other] = [await signedGateway(), await signedGateway()];
    try {
      const parent = join(keysDir, 'dev-checkpoints');
      const dir = await devCheckpointDir(one.gateway.db, parent);
      expect(dir.startsWith(`${parent}/`)).toBe(true);
      expect(await devCheckpointDir(one.gateway.db, parent)).toBe(dir);
      expect(await devCheckpointDir(other.gateway.db, parent)).not.toBe(dir);
    } finally {
      await one.close();
      await other.close();
    }
  });

  it('makes dev mode\'s signing key once, and takes the public key from a file of its own when given one', () => {
    const file = join(keysDir, 'dev', 'signing-key.pem');
    expect(ensureSigningKey(file)).toBe(true);
    const made = readFileSync(file, 'utf8');
    expect(ensureSigningKey(file)).toBe(false);
    expect(readFileSync(file, 'utf8')).toBe(made);
    // Written aside and linked into place: nothing is left beside it.
    expect(readdirSync(join(keysDir, 'dev'))).toEqual(['signing-key.pem']);
    const { signing, verifying } = loadAuditKeys({ signingKeyFile: file });
    const publicKeyFile = join(keysDir, 'dev', 'public-key.pem');
    writeFileSync(publicKeyFile, publicKeyPem(verifying[0]!));
    expect(loadAuditKeys({ publicKeyFile }).verifying.map(publicKeyPem)).toEqual([publicKeyPem(verifying[0]!)]);
    expect(loadAuditKeys({ publicKeyFile }).signing).toBeUndefined();
    expect(signing?.asymmetricKeyType).toBe('ed25519');
    const rsa = join(keysDir, 'dev', 'rsa.pem');
    writeFileSync(rsa, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    expect(() => loadAuditKeys({ signingKeyFile: rsa })).toThrow(/Ed25519/);
  });
});

describe('audit public keys', () => {
  const pem = (key: KeyObject) => publicKeyPem(createPublicKey(key));

  it('are read several from one file or from a directory, and refused at start when the signing key is not among them', () => {
    const dir = mkdtempSync(join(keysDir, 'public-'));
    const older = generateKeyPairSync('ed25519').privateKey;
    const signing = loadAuditKeys({ signingKeyFile }).signing!;
    const both = join(dir, 'both.pem');
    writeFileSync(both, `${pem(older)}${pem(signing)}`);
    expect(loadAuditKeys({ signingKeyFile, publicKeyFile: both }).verifying.map(keyIdOf)).toEqual([older, signing].map((key) => keyIdOf(createPublicKey(key))));
    const asDir = join(dir, 'keys');
    mkdirSync(asDir);
    writeFileSync(join(asDir, '2025.pem'), pem(older));
    writeFileSync(join(asDir, '2026.pem'), pem(signing));
    expect(loadAuditKeys({ publicKeyFile: asDir }).verifying).toHaveLength(2);

    const onlyOlder = join(dir, 'older.pem');
    writeFileSync(onlyOlder, pem(older));
    expect(() => loadAuditKeys({ signingKeyFile, publicKeyFile: onlyOlder })).toThrow(/does not hold the public key/);
    writeFileSync(join(dir, 'empty.pem'), 'nothing here');
    expect(() => loadAuditKeys({ publicKeyFile: join(dir, 'empty.pem') })).toThrow(/holds no public key/);
  });

  it('check each checkpoint with the key it names, so a rotation does not turn verification red; problems listed are capped', async () => {
    const log = await signedGateway();
    try {
      await log.append(2);
      expect(await log.checkpoint()).toBe(1);
      const rotated = generateKeyPairSync('ed25519').privateKey;
      await log.append(2);
      const oldKey = createPublicKey(loadAuditKeys({ signingKeyFile }).signing!);
      expect((await writeCheckpoint(log.gateway.db, rotated, { verifying: [oldKey] }))?.number).toBe(2);
      expect(await verifyAuditLog(log.gateway.db, { verifying: [oldKey, createPublicKey(rotated)] })).toMatchObject({ ok: true, problems: [], moreProblems: 0 });

      const withNewOnly = await verifyAuditLog(log.gateway.db, { verifying: [createPublicKey(rotated)] });
      expect(withNewOnly).toMatchObject({ ok: false, problems: [{ kind: 'bad-signature', checkpoint: 1 }], moreProblems: 0 });
      expect(withNewOnly.problems[0]!.detail).toMatch(/not among the audit public keys/);
      expect(await verifyAuditLog(log.gateway.db, { verifying: [createPublicKey(rotated)], maxProblems: 0 })).toMatchObject({ ok: false, problems: [], moreProblems: 1 });
    } finally {
      await log.close();
    }
  });
});

describe('verification of many checkpoints', () => {
  it('reads them a page at a time, the directory\'s copies with them, and still finds one removed from a later page', async () => {
    const log = await signedGateway();
    try {
      for (let i = 0; i < 5; i++) {
        await log.append(1);
        await log.checkpoint();
      }
      const reads: unknown[][] = [];
      const db = {
        exec: (sql: string) => log.gateway.db.exec(sql),
        query: <Row>(sql: string, params?: unknown[]) => {
          if (sql.includes('FROM audit_checkpoints')) reads.push(params ?? []);
          return log.gateway.db.query<Row>(sql, params);
        },
      };
      const verifying = loadAuditKeys({ signingKeyFile }).verifying;
      expect(await verifyAuditLog(db, { verifying, checkpointDir: log.dir, pageSize: 2, yieldEvery: 1 }))
        .toMatchObject({ ok: true, checkpoints: { count: 5, last: { number: 5 } } });
      // After 0, 2 and 4, two at a time: never the whole table in one result.
      expect(reads).toEqual([[0, 2], [2, 2], [4, 2]]);

      await tamper(log.gateway, 'DELETE FROM audit_checkpoints WHERE number = 4');
      const verdict = await verifyAuditLog(db, { verifying, checkpointDir: log.dir, pageSize: 2 });
      expect(verdict).toMatchObject({ ok: false, checkpoints: { count: 5 } });
      expect(verdict.problems).toMatchObject([{ kind: 'removed-checkpoint', checkpoint: 4 }]);
    } finally {
      await log.close();
    }
  });
});

describe('the checkpoint writer refuses to sign over a log that no longer holds what it signed', () => {
  const cases: Array<[string, (log: Signed, signed: CheckpointBody) => Promise<void>, RegExp]> = [
    ['a cut end with its head row set back', async (log) => {
      const [third] = await listAuditEvents(log.gateway.db, { afterSeq: 2, limit: 1 });
      await tamper(log.gateway, 'DELETE FROM audit_events WHERE seq > 3', `UPDATE audit_chains SET head_seq = 3, head_hash = '${third!.hash}' WHERE chain_id = 1`);
    }, /chain 1's head is at 3, behind 4/],
    ['the signed event rewritten in place', async (log, signed) => {
      const head = signed.chains.find((chain) => chain.chain === 1)!;
      await tamper(log.gateway, `UPDATE audit_events SET hash = '${'f'.repeat(64)}' WHERE chain_id = 1 AND chain_seq = ${head.seq}`);
    }, /not the one checkpoint 1 signed/],
    ['the previous checkpoint rewritten, where there is no copy to compare with', async (log, signed) => {
      rmSync(join(log.dir, '000000000001.json'));
      await tamper(log.gateway, `UPDATE audit_checkpoints SET body = '${canonicalJson({ ...signed, events: 3 })}' WHERE number = 1`);
    }, /signature does not hold/],
    ['the previous checkpoint rewritten, with its copy in the directory', async (log, signed) => {
      await tamper(log.gateway, `UPDATE audit_checkpoints SET body = '${canonicalJson({ ...signed, events: 3 })}' WHERE number = 1`);
    }, /differs from its copy/],
    ['the previous checkpoint removed from the database, its copy still in the directory', async (log) => {
      await tamper(log.gateway, 'DELETE FROM audit_checkpoints WHERE number = 1');
    }, /directory holds checkpoint 1, the database none/],
  ];

  it.each(cases)('%s', async (_case, rewrite, refusal) => {
    const log = await signedGateway();
    try {
      await log.append(4);
      await log.checkpoint();
      const { rows: [row] } = await log.gateway.db.query<{ body: string }>('SELECT body FROM audit_checkpoints WHERE number = 1');
      await rewrite(log, JSON.parse(row!.body) as CheckpointBody);
      const lines: string[] = [];
      const schedule = new CheckpointSchedule({
        // A period of 1 ms: the last checkpoint is old enough for the tick to sign another.
        db: log.gateway.db, signing: loadAuditKeys({ signingKeyFile }).signing!, dir: log.dir, intervalMs: 1,
        logger: pino({ level: 'info' }, { write: (line: string) => lines.push(line) }),
      });
      await schedule.tick();
      await schedule.close();
      const { rows: [count] } = await log.gateway.db.query<{ n: string }>('SELECT count(*) AS n FROM audit_checkpoints WHERE number > 1');
      expect(Number(count?.n)).toBe(0);
      expect(lines.map((line) => JSON.parse(line) as { alarm?: string; msg: string })).toEqual([
        expect.objectContaining({ alarm: 'audit-log-tampered', msg: expect.stringMatching(refusal) }),
      ]);
      await expect(writeCheckpoint(log.gateway.db, loadAuditKeys({ signingKeyFile }).signing!, { filed: readNewestFiled(log.dir) })).rejects.toThrow(CheckpointRefused);
    } finally {
      await log.close();
    }
  });
});

describe('verification against checkpoints names each kind of tampering', () => {
  /** Ten events, a checkpoint over them, and two more not yet signed: all on chain 1. */
  async function prepared() {
    const log = await signedGateway();
    await log.append(10);
    await log.checkpoint();
    await log.append(2);
    return log;
  }

  it('a changed event, even resealed with a hash of its own', async () => {
    const log = await prepared();
    try {
      const [tenth] = await listAuditEvents(log.gateway.db, { afterSeq: 9, limit: 1 });
      const { hash: _stale, ...sealed } = { ...tenth!, actor: 'mallory' };
      await tamper(log.gateway, `UPDATE audit_events SET actor = 'mallory', hash = '${hashEvent(sealed)}' WHERE seq = 10`);
      const verdict = await log.verify();
      expect(verdict).toMatchObject({ ok: false, brokenSeq: 10, problems: [{ kind: 'changed-event', chain: 1, chainSeq: 10, seq: 10 }] });
    } finally {
      await log.close();
    }
  });

  it('a removed event', async () => {
    const log = await prepared();
    try {
      await tamper(log.gateway, 'DELETE FROM audit_events WHERE seq = 4');
      expect(await log.verify()).toMatchObject({ ok: false, events: 3, problems: [{ kind: 'removed-event', chain: 1, chainSeq: 4, seq: 5 }] });
    } finally {
      await log.close();
    }
  });

  it('a cut end with its head row rewritten to match, which the chain alone cannot show', async () => {
    const log = await prepared();
    try {
      const [eighth] = await listAuditEvents(log.gateway.db, { afterSeq: 7, limit: 1 });
      await tamper(
        log.gateway,
        'DELETE FROM audit_events WHERE seq > 8',
        `UPDATE audit_chains SET head_seq = 8, head_hash = '${eighth!.hash}' WHERE chain_id = 1`,
      );
      const verdict = await log.verify();
      // Every event left links and hashes as it should, and the head row names the last of them.
      expect(verdict.events).toBe(8);
      // The contract's `brokenSeq` is there too: the last event kept.
      expect(verdict).toMatchObject({
        ok: false,
        brokenSeq: 8,
        problems: [
          { kind: 'cut-end', chain: 1, chainSeq: 9, seq: 8, checkpoint: 1 },
          { kind: 'rewritten-head', chain: 1, chainSeq: 8, seq: 8, checkpoint: 1 },
        ],
      });
    } finally {
      await log.close();
    }
  });

  it('a rewritten checkpoint, and one removed from the database but kept in the directory', async () => {
    const log = await prepared();
    try {
      await log.checkpoint();
      // Whoever cut the end would also set the first checkpoint's events back to match.
      const { rows: [row] } = await log.gateway.db.query<{ body: string }>('SELECT body FROM audit_checkpoints WHERE number = 1');
      const forged = canonicalJson({ ...JSON.parse(row!.body), events: 8 });
      await tamper(
        log.gateway,
        `UPDATE audit_checkpoints SET body = '${forged}' WHERE number = 1`,
        'DELETE FROM audit_checkpoints WHERE number = 2',
      );
      const verdict = await log.verify();
      expect(verdict.ok).toBe(false);
      expect(kinds(verdict)).toEqual(['rewritten-checkpoint', 'removed-checkpoint']);
      expect(verdict.problems).toMatchObject([{ checkpoint: 1 }, { checkpoint: 2 }]);
    } finally {
      await log.close();
    }
  });

  it('a copy in the directory that cannot be read, and nothing else', async () => {
    const log = await prepared();
    try {
      writeFileSync(join(log.dir, '000000000001.json'), '{"body": "trunc');
      // No event is wrong: brokenSeq is 0, as documented, not missing.
      expect(await log.verify()).toMatchObject({ ok: false, brokenSeq: 0, events: 12, problems: [{ kind: 'rewritten-checkpoint', checkpoint: 1 }] });
    } finally {
      await log.close();
    }
  });

  it('a checkpoint rewritten where there is no copy is refused by its signature', async () => {
    const log = await prepared();
    try {
      rmSync(join(log.dir, '000000000001.json'));
      const { rows: [row] } = await log.gateway.db.query<{ body: string }>('SELECT body FROM audit_checkpoints WHERE number = 1');
      await tamper(log.gateway, `UPDATE audit_checkpoints SET body = '${canonicalJson({ ...JSON.parse(row!.body), events: 8 })}' WHERE number = 1`);
      expect(await log.verify()).toMatchObject({ ok: false, problems: [{ kind: 'bad-signature', checkpoint: 1 }] });
    } finally {
      await log.close();
    }
  });

  it('a checkpoint signed with another key', async () => {
    const log = await prepared();
    try {
      // Someone with the database but not the key cuts the end and signs a checkpoint of his own over it.
      const [tenth] = await listAuditEvents(log.gateway.db, { afterSeq: 9, limit: 1 });
      await tamper(
        log.gateway,
        'DELETE FROM audit_events WHERE seq > 10',
        `UPDATE audit_chains SET head_seq = 10, head_hash = '${tenth!.hash}' WHERE chain_id = 1`,
      );
      const { rows: [row] } = await log.gateway.db.query<{ body: string }>('SELECT body FROM audit_checkpoints WHERE number = 1');
      const { privateKey: otherKey } = generateKeyPairSync('ed25519');
      const first = JSON.parse(row!.body) as CheckpointBody;
      const body = canonicalJson({ ...first, number: 2, previous: sha256Hex(row!.body) });
      await log.gateway.db.query('INSERT INTO audit_checkpoints (number, at, body, signature) VALUES (2, now(), $1, $2)',
        [body, sign(null, Buffer.from(body), otherKey).toString('base64')]);
      expect(await log.verify()).toMatchObject({ ok: false, problems: [{ kind: 'bad-signature', checkpoint: 2 }] });
    } finally {
      await log.close();
    }
  });
});

/**
 * A writer that seals its events and then holds its chain, uncommitted, until released: what a
 * transaction between its seal and its COMMIT looks like to everyone else.
 */
async function holdingWriter(gateway: TestGateway, action: string) {
  let release!: () => void;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let sealed!: () => void;
  const isSealed = new Promise<void>((resolve) => {
    sealed = resolve;
  });
  const committed = gateway.db.transaction(async (tx) => {
    appendAuditEventsInTx(tx, [{ actor: 'test', action }]);
    // Registered after the seal, so it runs after it, before COMMIT.
    tx.beforeCommit!(async () => {
      sealed();
      await held;
    });
  });
  await isSealed;
  return { commit: async () => { release(); await committed; } };
}

describe('audit chains', () => {
  it('let a second writer seal and commit while the first holds its chain', async () => {
    const log = await signedGateway();
    try {
      const first = await holdingWriter(log.gateway, 'test.first');
      // With one chain head for all, this would wait for the first writer's commit, which waits for it.
      await log.append(1, 'test.second');
      await first.commit();
      const events = await listAuditEvents(log.gateway.db, { afterSeq: 0, limit: 10 });
      expect(events.map(({ action, chain }) => ({ action, chain }))).toEqual([
        { action: 'test.first', chain: 1 }, { action: 'test.second', chain: 2 },
      ]);
      expect(await log.verify()).toMatchObject({ ok: true, events: 2 });
    } finally {
      await log.close();
    }
  });

  it('page one transfer\'s events with the cursor too, across chains', async () => {
    const log = await signedGateway();
    const append = (action: string) => log.gateway.db.transaction(async (tx) => appendAuditEventsInTx(tx, [{ actor: 'test', action, transferId: 'transfer-a' }]));
    try {
      await append('test.one');
      // Held while the next is sealed: the transfer's events are on two chains.
      const other = await holdingWriter(log.gateway, 'test.elsewhere');
      await append('test.two');
      await other.commit();
      await append('test.three');
      const seen: string[] = [];
      let after = '';
      for (let more = true; more;) {
        const response = await log.gateway.request('auditor', { method: 'GET', url: `/audit/v1/events?transferId=transfer-a&limit=2${after ? `&after=${after}` : ''}` });
        const answer = response.json() as { events: Array<{ action: string; chain: number }>; nextCursor: string };
        seen.push(...answer.events.map((event) => `${event.action}@${event.chain}`));
        more = answer.events.length > 0;
        after = answer.nextCursor;
      }
      expect(seen).toEqual(['test.one@1', 'test.two@2', 'test.three@1']);
    } finally {
      await log.close();
    }
  });

  it('are read by a cursor that never skips an event committed after a later seq was read', async () => {
    const log = await signedGateway();
    const page = async (after?: string, limit = 1000) => {
      const response = await log.gateway.request('auditor', { method: 'GET', url: `/audit/v1/events?limit=${limit}${after ? `&after=${after}` : ''}` });
      expect(response.statusCode).toBe(200);
      return response.json() as { events: Array<{ seq: number; action: string }>; nextCursor: string };
    };
    try {
      await log.append(1, 'test.before');
      // The slow writer's event has the lower seq, but commits after the other is read.
      const slow = await holdingWriter(log.gateway, 'test.slow');
      await log.append(1, 'test.fast');
      const first = await page(undefined, 2);
      expect(first.events.map((event) => event.action)).toEqual(['test.before', 'test.fast']);
      await slow.commit();

      const cursor = first.nextCursor!;
      expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(cursor).not.toMatch(/^\d+$/);
      const next = await page(cursor);
      expect(next.events.map((event) => event.action)).toEqual(['test.slow']);
      // Past the end the cursor stays, for a poller to ask again with; on an empty page it is the one passed.
      const end = await page(next.nextCursor);
      expect(end).toEqual({ events: [], nextCursor: next.nextCursor });
      await log.append(1, 'test.later');
      expect((await page(end.nextCursor)).events.map((event) => event.action)).toEqual(['test.later']);

      // A numeric `after` is read as before chains: the events with a higher seq, which misses the slow one.
      const lastSeen = first.events[first.events.length - 1]!.seq;
      expect((await page(String(lastSeen))).events.map((event) => event.action)).toEqual(['test.later']);
      expect((await page('0')).events.map((event) => event.action)).toEqual(['test.before', 'test.slow', 'test.fast', 'test.later']);

      for (const after of ['not-a-cursor', '99999999999999999999999']) {
        const refused = await log.gateway.request('auditor', { method: 'GET', url: `/audit/v1/events?after=${after}` });
        expect(refused.statusCode).toBe(400);
        expect(refused.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED', details: [{ path: '/querystring/after', code: 'BAD_CURSOR' }] } });
      }
    } finally {
      await log.close();
    }
  });

  it('answer a numeric `after` with a cursor that goes on to an event committed late with a lower seq', async () => {
    const log = await signedGateway();
    const page = async (after: string) => {
      const response = await log.gateway.request('auditor', { method: 'GET', url: `/audit/v1/events?limit=1000&after=${after}` });
      expect(response.statusCode).toBe(200);
      return response.json() as { events: Array<{ seq: number; action: string }>; nextCursor: string };
    };
    try {
      await log.append(1, 'test.before');
      const slow = await holdingWriter(log.gateway, 'test.slow');
      await log.append(1, 'test.fast');
      const first = await page('0');
      expect(first.events.map((event) => event.action)).toEqual(['test.before', 'test.fast']);
      expect(first.nextCursor).not.toMatch(/^\d+$/);
      await slow.commit();
      expect((await page(first.nextCursor)).events.map((event) => event.action)).toEqual(['test.slow']);
      // An empty numeric page gives a cursor too: of the events up to that seq.
      const past = await page('999999');
      expect(past.events).toEqual([]);
      expect((await page(past.nextCursor)).events).toEqual([]);
    } finally {
      await log.close();
    }
  });
});
