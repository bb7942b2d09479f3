import { setImmediate } from 'node:timers/promises';
import { canonicalJson, sha256Hex } from '../domain/canonical-json.js';
import type { Queryable } from './database.js';

export const GENESIS_HASH = '0'.repeat(64);

export interface AuditEventInput {
  actor: string;
  action: string;
  transferId?: string;
  fromStatus?: string | null;
  toStatus?: string | null;
  /** Hashed, never stored: proves which document a step saw without keeping personal data twice. */
  payload?: unknown;
  /** The payload's hash when the caller already has it (intake hashes every document once). */
  payloadSha256?: string;
  /** Small, non-personal facts (a reason, error codes); stored and covered by the hash. */
  details?: Record<string, unknown>;
}

export interface AuditEvent {
  seq: number;
  at: string;
  actor: string;
  action: string;
  transferId: string | null;
  fromStatus: string | null;
  toStatus: string | null;
  payloadSha256: string | null;
  details: Record<string, unknown> | null;
  prevHash: string;
  hash: string;
}

type Sealed = Omit<AuditEvent, 'hash'>;

/** The hash of one event: the previous hash and every stored field of the event, canonically. */
export function hashEvent(event: Sealed): string {
  const { prevHash, ...fields } = event;
  return sha256Hex(`${prevHash}\n${canonicalJson(fields)}`);
}

const pendingEvents = new WeakMap<Queryable, AuditEventInput[]>();
const sealing = new WeakSet<Queryable>();

/**
 * Records events in the caller's transaction; they are sealed into the chain as the last thing
 * before its COMMIT. The chain head's row lock makes every writer, in this process or others on the
 * same database, take turns at the head from the moment it is taken until commit, so it is taken
 * once per transaction and as late as possible, whatever order the transaction's other statements
 * ran in: one lock, one head read and one INSERT for all of its events. A transaction that fails
 * before its commit writes none of them.
 */
export function appendAuditEventsInTx(tx: Queryable, inputs: AuditEventInput[]): void {
  if (inputs.length === 0) return;
  // An event recorded once its transaction's events are being sealed would be lost without a word.
  if (sealing.has(tx)) throw new Error('audit events recorded after their transaction began to commit');
  const pending = pendingEvents.get(tx);
  if (pending) {
    pending.push(...inputs);
    return;
  }
  if (!tx.beforeCommit) throw new Error('audit events are written inside a transaction');
  const queued = [...inputs];
  pendingEvents.set(tx, queued);
  tx.beforeCommit(() => sealInTx(tx, queued));
}

export function appendAuditEventInTx(tx: Queryable, input: AuditEventInput): void {
  appendAuditEventsInTx(tx, [input]);
}

type UnsealedEvent = Omit<Sealed, 'seq' | 'prevHash' | 'at'>;

/**
 * What consecutive events of a transaction share: a batch's claim, acknowledgement or answer gives
 * hundreds of events the same actor, action, statuses and details, and differs only in the transfer.
 * They are stored from one row of values each, and their canonical text is built once around the
 * transfer id.
 */
interface EventRun {
  shared: Omit<UnsealedEvent, 'transferId'>;
  /** canonicalJson of the shared details. */
  detailsText: string;
  parts: [string, string, string];
  /** Each event's transfer id, in the run's order. */
  transferIds: Array<string | null>;
}

function sameRun(run: EventRun, shared: EventRun['shared'], detailsText: string): boolean {
  const { shared: other } = run;
  return other.actor === shared.actor && other.action === shared.action && other.fromStatus === shared.fromStatus
    && other.toStatus === shared.toStatus && other.payloadSha256 === shared.payloadSha256 && run.detailsText === detailsText;
}

/**
 * The canonical text of a run's events (what hashEvent hashes after the previous hash) in four
 * parts, around each event's time, sequence number and transfer id. Time and sequence are known only
 * once the chain's lock is held: everything else is serialised before the lock, so writers wait for
 * each other only for a concatenation and a SHA-256. The keys are in canonicalJson's order; the
 * chain tests verify every event with hashEvent.
 */
function canonicalTextParts(shared: EventRun['shared'], detailsText: string): [string, string, string] {
  const text = JSON.stringify;
  return [
    `{"action":${text(shared.action)},"actor":${text(shared.actor)},"at":`,
    `,"details":${detailsText},"fromStatus":${text(shared.fromStatus)},"payloadSha256":${text(shared.payloadSha256)},"seq":`,
    `,"toStatus":${text(shared.toStatus)},"transferId":`,
  ];
}

async function sealInTx(tx: Queryable, inputs: AuditEventInput[]): Promise<void> {
  sealing.add(tx);
  const runs: EventRun[] = [];
  let lastDetails: Record<string, unknown> | null | undefined;
  let lastDetailsText = '';
  for (const input of inputs) {
    const shared = {
      actor: input.actor,
      action: input.action,
      fromStatus: input.fromStatus ?? null,
      toStatus: input.toStatus ?? null,
      payloadSha256: input.payloadSha256 ?? (input.payload === undefined ? null : sha256Hex(canonicalJson(input.payload))),
      details: input.details ?? null,
    };
    // A batch's events usually carry the very same details object: serialised once.
    const detailsText = shared.details === lastDetails ? lastDetailsText : canonicalJson(shared.details);
    lastDetails = shared.details;
    lastDetailsText = detailsText;
    const run = runs[runs.length - 1];
    if (run && sameRun(run, shared, detailsText)) {
      run.transferIds.push(input.transferId ?? null);
    } else {
      runs.push({ shared, transferIds: [input.transferId ?? null], detailsText, parts: canonicalTextParts(shared, detailsText) });
    }
  }
  // The chain's turn, its head and the time in one statement. The time is PostgreSQL's, not this
  // host's: gateways on hosts whose clocks differ append to one chain, and sequence order must be
  // time order. It is read in the outer query, which runs only on the row the lock returned (FOR
  // UPDATE waits for the previous holder's commit and then returns the row as that commit left it),
  // so it is taken once the turn is held. It is hashed, so it is read as the exact text stored:
  // milliseconds, UTC, as toISOString() writes it, which is also how every read gives it back.
  const head = await tx.query<{ seq: string | number; hash: string; at: string }>(
    `SELECT head.seq, head.hash, to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at
       FROM (SELECT seq, hash FROM audit_chain_head FOR UPDATE) AS head`,
  );
  const previous = head.rows[0];
  if (!previous) throw new Error('audit_chain_head has no row: the audit log cannot be appended to');
  const firstSeq = Number(previous.seq) + 1;
  const { at } = previous;
  const atText = JSON.stringify(at);
  const transferIds: Array<string | null> = [];
  const runOf: number[] = [];
  const hashes: string[] = [];
  let prevHash = previous.hash;
  let seq = firstSeq;
  runs.forEach(({ transferIds: ids, parts: [beforeAt, beforeSeq, beforeTransfer] }, run) => {
    const stamped = `${beforeAt}${atText}${beforeSeq}`;
    for (const transferId of ids) {
      prevHash = sha256Hex(`${prevHash}\n${stamped}${seq}${beforeTransfer}${JSON.stringify(transferId)}}`);
      seq += 1;
      transferIds.push(transferId);
      runOf.push(run + 1);
      hashes.push(prevHash);
    }
  });
  const column = <T>(value: (run: EventRun) => T) => runs.map(value);
  // Each event's link (prev_hash) is the hash of the event before it, the head's for the first: the
  // statement takes it with lag() instead of receiving it, so per event only its transfer, run and
  // hash travel; what a run shares travels once.
  await tx.query(
    `WITH runs AS (
       SELECT * FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::jsonb[])
         WITH ORDINALITY AS r(actor, action, from_status, to_status, payload_sha256, details, run)
     ),
     events AS (
       SELECT e.ord, e.transfer_id, e.run, e.hash, lag(e.hash, 1, $9::text) OVER (ORDER BY e.ord) AS prev_hash
         FROM unnest($10::text[], $11::int[], $12::text[]) WITH ORDINALITY AS e(transfer_id, run, hash, ord)
     ),
     appended AS (
       INSERT INTO audit_events (seq, at, actor, action, transfer_id, from_status, to_status, payload_sha256, details, prev_hash, hash)
       SELECT $1::bigint + e.ord - 1, $2::timestamptz, r.actor, r.action, e.transfer_id, r.from_status, r.to_status, r.payload_sha256,
              r.details, e.prev_hash, e.hash
         FROM events e JOIN runs r ON r.run = e.run
        ORDER BY e.ord
     )
     UPDATE audit_chain_head SET seq = $13, hash = $14`,
    [
      firstSeq, at, column((run) => run.shared.actor), column((run) => run.shared.action), column((run) => run.shared.fromStatus),
      column((run) => run.shared.toStatus), column((run) => run.shared.payloadSha256),
      column((run) => (run.shared.details === null ? null : run.detailsText)), previous.hash, transferIds, runOf, hashes,
      seq - 1, prevHash,
    ],
  );
}

interface AuditRow {
  seq: string | number;
  at: Date | string;
  actor: string;
  action: string;
  transfer_id: string | null;
  from_status: string | null;
  to_status: string | null;
  payload_sha256: string | null;
  details: Record<string, unknown> | null;
  prev_hash: string;
  hash: string;
}

function fromRow(row: AuditRow): AuditEvent {
  return {
    seq: Number(row.seq),
    at: new Date(row.at).toISOString(),
    actor: row.actor,
    action: row.action,
    transferId: row.transfer_id,
    fromStatus: row.from_status,
    toStatus: row.to_status,
    payloadSha256: row.payload_sha256,
    details: row.details,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

export interface AuditQuery {
  transferId?: string;
  afterSeq?: number;
  limit: number;
  /**
   * Only events of transfers registered in one of these provinces, and events of no transfer whose
   * `details.maTinh` is one of them; undefined for all.
   */
  provinces?: string[];
}

export async function listAuditEvents(db: Queryable, query: AuditQuery): Promise<AuditEvent[]> {
  const { rows } = await db.query<AuditRow>(
    `SELECT * FROM audit_events e
      WHERE ($1::text IS NULL OR e.transfer_id = $1) AND e.seq > $2
        AND ($4::text[] IS NULL OR CASE
          WHEN e.transfer_id IS NULL THEN e.details->>'maTinh' = ANY($4)
          ELSE EXISTS (SELECT 1 FROM transfers t WHERE t.id = e.transfer_id AND t.ma_tinh = ANY($4)) END)
      ORDER BY e.seq LIMIT $3`,
    [query.transferId ?? null, query.afterSeq ?? 0, query.limit, query.provinces ?? null],
  );
  return rows.map(fromRow);
}

export type ChainVerdict =
  | { ok: true; events: number; head: string }
  | { ok: false; events: number; brokenSeq: number; reason: string };

/** Events hashed between two turns of the event loop: about a millisecond of work. */
const VERIFY_SLICE = 200;
const VERIFY_PAGE = 2000;

/**
 * Walks the whole chain in pages and recomputes every hash. It names the first event whose stored
 * hash, link to its predecessor or sequence number does not hold: a row changed, inserted or
 * removed behind the gateway's back.
 *
 * A long chain is minutes of hashing, and the gateway keeps answering meanwhile: the walk gives the
 * event loop a turn after every slice of VERIFY_SLICE events, however fast the pages come (PGlite
 * answers on this thread, and a page may already be waiting). A worker thread was the other choice;
 * it would still receive and parse every row on this thread, and would copy each page across to
 * hash it, so the cost to other requests would not go away, only move. The next page is read while
 * this one is hashed, so the walk takes about as long as the slower of the two.
 */
export async function verifyAuditChain(db: Queryable, pageSize = VERIFY_PAGE): Promise<ChainVerdict> {
  // Where the chain ended before the walk began: events written during the walk only add to it.
  const { rows: [head] } = await db.query<{ seq: string | number; hash: string }>('SELECT seq, hash FROM audit_chain_head');
  const headSeq = head ? Number(head.seq) : 0;
  const readPage = (afterSeq: number) => {
    const page = listAuditEvents(db, { afterSeq, limit: pageSize });
    // Awaited only once the page before it is hashed (or never, if that one is broken): a failure
    // meanwhile is not an unhandled rejection; the await still throws it.
    page.catch(() => undefined);
    return page;
  };
  let hashAtHead: string | undefined;
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let nextPage: Promise<AuditEvent[]> | undefined = readPage(0);
  while (nextPage) {
    const page: AuditEvent[] = await nextPage;
    const last = page[page.length - 1];
    nextPage = last && page.length === pageSize ? readPage(last.seq) : undefined;
    for (const [index, event] of page.entries()) {
      if (index % VERIFY_SLICE === 0) await setImmediate();
      const broken = (reason: string, brokenSeq = event.seq): ChainVerdict => ({ ok: false, events: expectedSeq - 1, brokenSeq, reason });
      if (event.seq !== expectedSeq) return broken('sequence gap: an event is missing', expectedSeq);
      if (event.prevHash !== prevHash) return broken('prevHash does not match the previous event');
      const { hash, ...sealed } = event;
      if (hashEvent(sealed) !== hash) return broken('hash does not match the event');
      if (event.seq === headSeq) hashAtHead = hash;
      prevHash = hash;
      expectedSeq += 1;
    }
  }
  // The walk cannot see events cut off the end of the chain; the head row remembers where it ended.
  const events = expectedSeq - 1;
  if (head && (events < headSeq || (headSeq > 0 && hashAtHead !== head.hash))) {
    return { ok: false, events, brokenSeq: events + 1, reason: `the chain ends at event ${events}, its head row at ${headSeq}: the newest events were removed` };
  }
  return { ok: true, events, head: prevHash };
}
