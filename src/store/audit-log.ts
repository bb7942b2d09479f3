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
  /** The event's id: unique, increasing along its chain and along its transfer's events. */
  seq: number;
  /** Which chain it is sealed into (0: the single chain of before migration 016, now closed). */
  chain: number;
  /** Its place in that chain, from 1. */
  chainSeq: number;
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

/**
 * The hash of one event: the previous hash and every stored field of the event, canonically. Its
 * chain and place are not hashed: the links say them (a moved event breaks two), and the events of
 * the single chain before migration 016 keep the hash they were sealed with.
 */
export function hashEvent(event: Sealed): string {
  const { prevHash, chain: _chain, chainSeq: _chainSeq, ...fields } = event;
  return sha256Hex(`${prevHash}\n${canonicalJson(fields)}`);
}

const pendingEvents = new WeakMap<Queryable, AuditEventInput[]>();
const sealing = new WeakSet<Queryable>();

/**
 * Records events in the caller's transaction; they are sealed into a chain as the last thing before
 * its COMMIT. The transaction takes one of the chains no other transaction holds (its row lock, held
 * until commit, keeps that chain's events in commit order), so writers in this process or others on
 * the same database do not wait for each other unless every chain is taken at that moment. It is
 * taken once per transaction and as late as possible: one lock, one head read and one INSERT for all
 * of its events. A transaction that fails before its commit writes none of them.
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

type UnsealedEvent = Omit<Sealed, 'seq' | 'chain' | 'chainSeq' | 'prevHash' | 'at'>;

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

interface ChainTurn {
  chain: number;
  /** The place of the chain's newest event. */
  seq: number;
  hash: string;
  at: string;
  /** One new event id per event, ascending. */
  ids: number[];
}

/**
 * A chain's turn, its head, the time and the events' ids in one statement: the first chain no other
 * transaction holds, or, when every one is held, a wait for any one of them. The time is PostgreSQL's,
 * not this host's: gateways on hosts whose clocks differ append to the same chains, and a chain's
 * order must be time order. It is read in the outer query, which runs only on the row the lock
 * returned (FOR UPDATE waits for the previous holder's commit and then returns the row as that
 * commit left it), so it is taken once the turn is held; so are the ids, which therefore increase
 * along the chain. The time is hashed, so it is read as the exact text stored: milliseconds, UTC, as
 * toISOString() writes it, which is also how every read gives it back.
 */
async function takeChain(tx: Queryable, events: number): Promise<ChainTurn> {
  const turn = (lock: string) => tx.query<{ chain_id: number; head_seq: string | number; head_hash: string; at: string; ids: Array<string | number> }>(
    `SELECT head.chain_id, head.head_seq, head.head_hash,
            to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at,
            ARRAY(SELECT nextval('audit_event_ids') FROM generate_series(1, $1::int)) AS ids
       FROM (SELECT chain_id, head_seq, head_hash FROM audit_chains WHERE chain_id > 0 ${lock}) AS head`,
    [events],
  );
  const { rows: [free] } = await turn('ORDER BY chain_id LIMIT 1 FOR UPDATE SKIP LOCKED');
  const row = free ?? (await turn('ORDER BY random() LIMIT 1 FOR UPDATE')).rows[0];
  if (!row) throw new Error('audit_chains has no open chain: the audit log cannot be appended to');
  return {
    chain: row.chain_id, seq: Number(row.head_seq), hash: row.head_hash, at: row.at,
    ids: row.ids.map(Number).sort((a, b) => a - b),
  };
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
  const previous = await takeChain(tx, inputs.length);
  const firstPlace = previous.seq + 1;
  const { at, ids } = previous;
  const atText = JSON.stringify(at);
  const transferIds: Array<string | null> = [];
  const runOf: number[] = [];
  const hashes: string[] = [];
  let prevHash = previous.hash;
  let place = firstPlace;
  runs.forEach(({ transferIds: runTransfers, parts: [beforeAt, beforeSeq, beforeTransfer] }, run) => {
    const stamped = `${beforeAt}${atText}${beforeSeq}`;
    for (const transferId of runTransfers) {
      prevHash = sha256Hex(`${prevHash}\n${stamped}${ids[place - firstPlace]}${beforeTransfer}${JSON.stringify(transferId)}}`);
      place += 1;
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
       INSERT INTO audit_events (seq, chain_id, chain_seq, at, actor, action, transfer_id, from_status, to_status, payload_sha256, details, prev_hash, hash)
       SELECT ($16::bigint[])[e.ord], $15, $1::bigint + e.ord - 1, $2::timestamptz, r.actor, r.action, e.transfer_id, r.from_status,
              r.to_status, r.payload_sha256, r.details, e.prev_hash, e.hash
         FROM events e JOIN runs r ON r.run = e.run
        ORDER BY e.ord
     )
     UPDATE audit_chains SET head_seq = $13, head_hash = $14 WHERE chain_id = $15`,
    [
      firstPlace, at, column((run) => run.shared.actor), column((run) => run.shared.action), column((run) => run.shared.fromStatus),
      column((run) => run.shared.toStatus), column((run) => run.shared.payloadSha256),
      column((run) => (run.shared.details === null ? null : run.detailsText)), previous.hash, transferIds, runOf, hashes,
      place - 1, prevHash, previous.chain, ids,
    ],
  );
}

interface AuditRow {
  seq: string | number;
  chain_id: number;
  chain_seq: string | number | null;
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
    chain: row.chain_id,
    chainSeq: Number(row.chain_seq ?? row.seq),
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

/** Per chain, the place of the last event a reader has seen; a chain not named: none yet. */
export type ChainPositions = Record<string, number>;

export interface AuditQuery {
  transferId?: string;
  /** Events whose seq is above this, in seq order: the feed's numeric cursor of before chains. */
  afterSeq?: number;
  /** Events after these places in their chains (the feed's cursor); wins over afterSeq. */
  after?: ChainPositions;
  limit: number;
  /**
   * Only events of transfers registered in one of these provinces, and events of no transfer whose
   * `details.maTinh` is one of them; undefined for all.
   */
  provinces?: string[];
}

const IN_SCOPE = `($1::text IS NULL OR e.transfer_id = $1)
        AND ($4::text[] IS NULL OR CASE
          WHEN e.transfer_id IS NULL THEN e.details->>'maTinh' = ANY($4)
          ELSE EXISTS (SELECT 1 FROM transfers t WHERE t.id = e.transfer_id AND t.ma_tinh = ANY($4)) END)`;

/**
 * Events oldest first. With `after`, each chain is read on from its own place: a chain's events
 * become visible in their order (each waited for the previous one's commit), so a reader that goes
 * on from the places it has seen never skips an event, however the chains' commits interleave. The
 * pages of the chains are merged by seq, which increases along each chain, so what a page takes of a
 * chain is again the start of what was left of it.
 */
export async function listAuditEvents(db: Queryable, query: AuditQuery): Promise<AuditEvent[]> {
  const scope = (from: unknown) => [query.transferId ?? null, from, query.limit, query.provinces ?? null];
  let sql: string;
  let params: unknown[];
  if (!query.after) {
    sql = `SELECT * FROM audit_events e WHERE e.seq > $2 AND ${IN_SCOPE} ORDER BY e.seq LIMIT $3`;
    params = scope(query.afterSeq ?? 0);
  } else if (query.transferId !== undefined) {
    // One transfer's events, few, through their index; taken by seq, they are again the start of
    // what was left of each chain.
    sql = `SELECT * FROM audit_events e
            WHERE COALESCE(e.chain_seq, e.seq) > COALESCE(($2::jsonb ->> e.chain_id::text)::bigint, 0) AND ${IN_SCOPE}
            ORDER BY e.seq LIMIT $3`;
    params = scope(JSON.stringify(query.after));
  } else {
    sql = `SELECT e.* FROM audit_chains c CROSS JOIN LATERAL (
             SELECT * FROM audit_events e
              WHERE e.chain_id = c.chain_id AND COALESCE(e.chain_seq, e.seq) > COALESCE(($2::jsonb ->> c.chain_id::text)::bigint, 0)
                AND ${IN_SCOPE}
              ORDER BY COALESCE(e.chain_seq, e.seq) LIMIT $3) e
            ORDER BY e.seq LIMIT $3`;
    params = scope(JSON.stringify(query.after));
  }
  const { rows } = await db.query<AuditRow>(sql, params);
  return rows.map(fromRow);
}

/**
 * Events whose seq is above `afterSeq`, in seq order, and, read in the same statement, the cursor
 * that goes on from them: per chain, the place of its newest event whose seq is at most the page's
 * last (or `afterSeq` on an empty page). An event with a lower seq that commits later is then still
 * ahead of that cursor: nothing after it in its chain can have committed before it.
 */
export async function listAuditEventsBySeq(db: Queryable, query: AuditQuery & { afterSeq: number }): Promise<{ events: AuditEvent[]; positions: ChainPositions }> {
  const { rows } = await db.query<AuditRow & { positions: ChainPositions; seq: string | number | null }>(
    `WITH page AS (
       SELECT * FROM audit_events e WHERE e.seq > $2 AND ${IN_SCOPE} ORDER BY e.seq LIMIT $3
     ),
     seen AS (
       SELECT COALESCE(jsonb_object_agg(c.chain_id::text, last.place), '{}'::jsonb) AS positions
         FROM audit_chains c CROSS JOIN LATERAL (
           SELECT COALESCE(e.chain_seq, e.seq) AS place FROM audit_events e
            WHERE e.chain_id = c.chain_id AND e.seq <= COALESCE((SELECT max(seq) FROM page), $2)
            ORDER BY e.seq DESC LIMIT 1) last
     )
     SELECT seen.positions, page.* FROM seen LEFT JOIN page ON true ORDER BY page.seq`,
    [query.transferId ?? null, query.afterSeq, query.limit, query.provinces ?? null],
  );
  const positions = rows[0]?.positions ?? {};
  return {
    events: rows.filter((row) => row.seq !== null).map(fromRow),
    positions: Object.fromEntries(Object.entries(positions).map(([chain, place]) => [chain, Number(place)])),
  };
}

/** The places a reader has seen once it has read these events after `from`. */
export function positionsAfter(from: ChainPositions, events: AuditEvent[]): ChainPositions {
  const positions = { ...from };
  for (const event of events) positions[event.chain] = Math.max(positions[event.chain] ?? 0, event.chainSeq);
  return positions;
}

export interface ChainHead {
  chain: number;
  /** The place of its newest event; 0 for none. */
  seq: number;
  hash: string;
}

/** Every chain's head, as one snapshot (one statement) sees them. */
export async function readChainHeads(db: Queryable): Promise<ChainHead[]> {
  const { rows } = await db.query<{ chain_id: number; head_seq: string | number; head_hash: string }>(
    'SELECT chain_id, head_seq, head_hash FROM audit_chains ORDER BY chain_id',
  );
  return rows.map((row) => ({ chain: row.chain_id, seq: Number(row.head_seq), hash: row.head_hash }));
}

/** A chain's events after place `after` up to place `until`, in their order. */
export async function readChainEvents(db: Queryable, chain: number, after: number, until: number, limit: number): Promise<AuditEvent[]> {
  const { rows } = await db.query<AuditRow>(
    `SELECT * FROM audit_events
      WHERE chain_id = $1 AND COALESCE(chain_seq, seq) > $2 AND COALESCE(chain_seq, seq) <= $3
      ORDER BY COALESCE(chain_seq, seq) LIMIT $4`,
    [chain, after, until, limit],
  );
  return rows.map(fromRow);
}
