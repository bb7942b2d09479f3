import type { KeyObject } from 'node:crypto';
import { setImmediate } from 'node:timers/promises';
import { canonicalJson, sha256Hex } from '../domain/canonical-json.js';
import { GENESIS_HASH, hashEvent, readChainEvents, readChainHeads, type ChainHead } from '../store/audit-log.js';
import type { Queryable } from '../store/database.js';
import {
  keyIdOf, listFiledCheckpoints, merkleRoot, readFiledCheckpoint, readStoredCheckpoints, signatureHolds, type CheckpointBody, type SignedCheckpoint,
} from './checkpoints.js';

/** What verification can find wrong (docs/API.md, "Audit"). */
export type AuditProblemKind =
  | 'changed-event' | 'removed-event' | 'cut-end' | 'rewritten-head'
  | 'bad-signature' | 'broken-checkpoint-link' | 'rewritten-checkpoint' | 'removed-checkpoint';

export interface AuditProblem {
  kind: AuditProblemKind;
  detail: string;
  chain?: number;
  /** The place in the chain where it shows. */
  chainSeq?: number;
  /**
   * The event where it shows: the one changed; for a removed event, the one found after the gap
   * (the removed one's seq is gone with it); for a cut end or a head row that does not name its
   * chain's end, the chain's last event kept (0 for none).
   */
  seq?: number;
  checkpoint?: number;
}

export interface AuditVerdict {
  ok: boolean;
  /** Events whose hashes and links were recomputed and hold. */
  events: number;
  /** The Merkle root over the chains' heads as walked (one hash for all chains). */
  head: string;
  /** Not ok: the `seq` of the first problem that names an event; 0 when only checkpoints are wrong. */
  brokenSeq?: number;
  /** Not ok: the first problem, in words. */
  reason?: string;
  problems: AuditProblem[];
  /** Problems found beyond those listed. */
  moreProblems: number;
  chains: number;
  checkpoints: {
    count: number;
    /** Whether signatures were checked: false without a public key. */
    checked: boolean;
    last: { number: number; at: string } | null;
    /** Events after the last valid checkpoint: verified as a chain, not yet signed. */
    unsignedEvents: number;
  };
}

export interface VerifyOptions {
  /** The audit public keys, chosen by each checkpoint's `keyId`; none: signatures are not checked. */
  verifying?: KeyObject[];
  /** Problems listed at most; the rest are counted (`moreProblems`). */
  maxProblems?: number;
  /** The directory of copied checkpoints: a checkpoint missing or changed in the database shows. */
  checkpointDir?: string;
  /** Give the event loop a turn after this many events (a walk on the gateway's own thread). */
  yieldEvery?: number;
  pageSize?: number;
}

interface Anchor {
  hash: string;
  checkpoint: number;
}

/**
 * The checkpoints to trust, in order: the directory's copy where it has one (the database's row
 * must then be the same), the database's beyond it (not copied yet).
 */
function reconcile(stored: SignedCheckpoint[], filed: SignedCheckpoint[], problems: AuditProblem[]): SignedCheckpoint[] {
  const byNumber = new Map(stored.map((checkpoint) => [checkpoint.number, checkpoint]));
  for (const copy of filed) {
    const row = byNumber.get(copy.number);
    if (copy.body === '') {
      problems.push({ kind: 'rewritten-checkpoint', checkpoint: copy.number, detail: `checkpoint ${copy.number}'s copy in the checkpoint directory cannot be read` });
      continue;
    }
    if (!row) {
      problems.push({ kind: 'removed-checkpoint', checkpoint: copy.number, detail: `checkpoint ${copy.number} is in the checkpoint directory but not in the database` });
    } else if (row.body !== copy.body || row.signature !== copy.signature) {
      problems.push({ kind: 'rewritten-checkpoint', checkpoint: copy.number, detail: `checkpoint ${copy.number} in the database differs from its copy in the checkpoint directory` });
    }
    byNumber.set(copy.number, copy);
  }
  return [...byNumber.values()].sort((a, b) => a.number - b.number);
}

/**
 * Every checkpoint in number order, a page at a time: the database's rows reconciled with the
 * directory's copies of the same numbers, so neither is ever held whole (a year at one a minute is
 * half a million).
 */
async function* checkpointsInOrder(db: Queryable, dir: string | undefined, filed: number[], pageSize: number, problems: AuditProblem[]) {
  let after = 0;
  let next = 0;
  for (;;) {
    const page = await readStoredCheckpoints(db, after, pageSize);
    const last = page.length < pageSize ? Infinity : page[page.length - 1]!.number;
    const copies: SignedCheckpoint[] = [];
    while (dir && next < filed.length && filed[next]! <= last) copies.push(await readFiledCheckpoint(dir, filed[next++]!));
    yield* reconcile(page, copies, problems);
    if (last === Infinity) return;
    after = last;
  }
}

/**
 * Checks each checkpoint's signature and its link to the one before, and that no chain goes back
 * from one to the next. Returns, per chain, the hashes the valid checkpoints signed at each place:
 * the walk then sees that each checkpoint's head lies on the chain, so each is an ancestor of the next.
 */
async function checkCheckpoints(
  checkpoints: AsyncIterable<SignedCheckpoint>, verifying: KeyObject[] | undefined, problems: AuditProblem[], yieldEvery: number | undefined,
) {
  const keys = verifying?.length ? new Map(verifying.map((key) => [keyIdOf(key), key])) : undefined;
  const anchors = new Map<number, Map<number, Anchor>>();
  let previousText: string | undefined;
  let previous: CheckpointBody | undefined;
  let last: CheckpointBody | undefined;
  let count = 0;
  for await (const checkpoint of checkpoints) {
    // A signature check is most of a millisecond: on the gateway's own thread, others get turns.
    count += 1;
    if (yieldEvery && count % yieldEvery === 0) await setImmediate();
    const n = checkpoint.number;
    let body: CheckpointBody;
    try {
      body = JSON.parse(checkpoint.body) as CheckpointBody;
    } catch {
      problems.push({ kind: 'rewritten-checkpoint', checkpoint: n, detail: `checkpoint ${n} is not JSON` });
      continue;
    }
    const key = keys?.get(String(body.keyId));
    const signed = keys ? key !== undefined && signatureHolds(checkpoint, key) : true;
    if (!signed) {
      problems.push({
        kind: 'bad-signature', checkpoint: n,
        detail: key
          ? `checkpoint ${n}'s signature does not hold with the audit public key ${String(body.keyId)}`
          : `checkpoint ${n} names key ${String(body.keyId)}, which is not among the audit public keys`,
      });
    } else if (body.number !== n || canonicalJson(body) !== checkpoint.body || merkleRoot(body.chains) !== body.root) {
      problems.push({ kind: 'rewritten-checkpoint', checkpoint: n, detail: `checkpoint ${n}'s body does not agree with itself` });
    }
    const expectedPrevious = previousText === undefined ? GENESIS_HASH : sha256Hex(previousText);
    if ((previous ? previous.number + 1 : 1) !== n || body.previous !== expectedPrevious) {
      problems.push({
        kind: 'broken-checkpoint-link', checkpoint: n,
        detail: `checkpoint ${n} does not follow ${previous ? `checkpoint ${previous.number}` : 'the start'}: a checkpoint between them was removed or changed`,
      });
    }
    if (previous) {
      for (const before of previous.chains) {
        const after = body.chains.find((head) => head.chain === before.chain);
        if (!after || after.seq < before.seq) {
          problems.push({
            kind: 'rewritten-head', checkpoint: n, chain: before.chain, chainSeq: before.seq,
            detail: `checkpoint ${n} has chain ${before.chain} ${after ? `at ${after.seq}, behind ${before.seq}` : 'no more'} where checkpoint ${previous.number} had it`,
          });
        }
      }
    }
    previousText = checkpoint.body;
    previous = body;
    if (!signed) continue;
    last = body;
    for (const head of body.chains) {
      if (head.seq === 0) continue;
      let places = anchors.get(head.chain);
      if (!places) anchors.set(head.chain, (places = new Map()));
      places.set(head.seq, { hash: head.hash, checkpoint: n });
    }
  }
  return { anchors, last, count };
}

const PAGE = 2000;
/** Enough to see what was done; a log rewritten wholesale would otherwise answer megabytes. */
const MAX_PROBLEMS = 100;

/**
 * Verifies the whole audit log: the checkpoints first (signatures, links, heads only moving on), then
 * every chain from its first event, each event's hash and link, each place a checkpoint signed, and
 * each chain's end against its head row. It names every chain's first problem rather than only the
 * first of all, so an auditor sees at once whether one event or a whole end was touched.
 */
export async function verifyAuditLog(db: Queryable, options: VerifyOptions = {}): Promise<AuditVerdict> {
  const problems: AuditProblem[] = [];
  // The directory's listing first: each copy was made after its row committed, so the database shows
  // every one of them unless it was removed (a copy's file, once there, never changes). Then the
  // checkpoints before the heads: a checkpoint signed meanwhile could otherwise claim more than the
  // heads read.
  const pageSize = options.pageSize ?? PAGE;
  const filed = options.checkpointDir ? await listFiledCheckpoints(options.checkpointDir) : [];
  const checkpoints = checkpointsInOrder(db, options.checkpointDir, filed, pageSize, problems);
  const { anchors, last, count } = await checkCheckpoints(checkpoints, options.verifying, problems, options.yieldEvery);
  const heads = await readChainHeads(db);
  const walked: ChainHead[] = [];
  let events = 0;
  let unsignedEvents = 0;
  let sinceYield = 0;
  for (const head of heads) {
    const signedAt = anchors.get(head.chain) ?? new Map<number, Anchor>();
    let place = 0;
    let prevHash = GENESIS_HASH;
    let lastSeq = 0;
    let problem: AuditProblem | undefined;
    const chain = head.chain;
    walk: while (place < head.seq) {
      const page = await readChainEvents(db, chain, place, head.seq, pageSize);
      if (page.length === 0) break;
      for (const event of page) {
        if (options.yieldEvery && ++sinceYield >= options.yieldEvery) {
          sinceYield = 0;
          await setImmediate();
        }
        const at = { chain, chainSeq: event.chainSeq, seq: event.seq };
        const anchor = signedAt.get(event.chainSeq);
        const { hash, ...sealed } = event;
        if (event.chainSeq !== place + 1) {
          problem = { kind: 'removed-event', chain, chainSeq: place + 1, seq: event.seq, detail: `chain ${chain} has no event at place ${place + 1}: it was removed` };
        } else if (event.prevHash !== prevHash) {
          problem = { kind: 'changed-event', ...at, detail: `event ${event.seq} (chain ${chain}, place ${event.chainSeq}) does not link to the event before it: one of the two was changed, or one removed` };
        } else if (hashEvent(sealed) !== hash) {
          problem = { kind: 'changed-event', ...at, detail: `event ${event.seq} (chain ${chain}, place ${event.chainSeq}) does not match its hash: it was changed` };
        } else if (anchor && anchor.hash !== hash) {
          problem = { kind: 'changed-event', ...at, detail: `event ${event.seq} (chain ${chain}, place ${event.chainSeq}) is not the one checkpoint ${anchor.checkpoint} signed: the chain was rewritten` };
        }
        if (problem) break walk;
        place += 1;
        prevHash = event.hash;
        lastSeq = event.seq;
        events += 1;
      }
    }
    let signedTo = 0;
    for (const signedPlace of signedAt.keys()) signedTo = Math.max(signedTo, signedPlace);
    if (!problem && place < head.seq) {
      problem = { kind: 'cut-end', chain, chainSeq: place + 1, seq: lastSeq, detail: `chain ${chain} ends at place ${place}, its head row at ${head.seq}: its newest events were removed` };
    } else if (!problem && prevHash !== head.hash) {
      problem = { kind: 'rewritten-head', chain, chainSeq: head.seq, seq: lastSeq, detail: `chain ${chain}'s head row does not name its last event` };
    }
    if (problem) problems.push(problem);
    if (signedTo > place && problem?.kind !== 'removed-event' && problem?.kind !== 'changed-event') {
      const by = signedAt.get(signedTo)!.checkpoint;
      problems.push({ kind: 'cut-end', chain, chainSeq: place + 1, seq: lastSeq, checkpoint: by, detail: `checkpoint ${by} signed chain ${chain} up to place ${signedTo}; it now ends at ${place}: its newest events were removed` });
      if (head.seq < signedTo) {
        problems.push({ kind: 'rewritten-head', chain, chainSeq: head.seq, seq: lastSeq, checkpoint: by, detail: `chain ${chain}'s head row was set back to place ${head.seq}, before what checkpoint ${by} signed` });
      }
    }
    unsignedEvents += Math.max(0, head.seq - signedTo);
    walked.push({ chain, seq: place, hash: prevHash });
  }
  for (const chain of anchors.keys()) {
    if (!heads.some((head) => head.chain === chain)) {
      problems.push({ kind: 'rewritten-head', chain, detail: `chain ${chain} is in the checkpoints but its head row is gone` });
    }
  }
  const first = problems[0];
  const listed = options.maxProblems ?? MAX_PROBLEMS;
  return {
    ok: problems.length === 0,
    events,
    head: merkleRoot(walked),
    ...(first ? { brokenSeq: problems.find((problem) => problem.seq !== undefined)?.seq ?? 0, reason: first.detail } : {}),
    problems: problems.slice(0, listed),
    moreProblems: Math.max(0, problems.length - listed),
    chains: heads.length,
    checkpoints: {
      count,
      checked: (options.verifying?.length ?? 0) > 0,
      last: last ? { number: last.number, at: last.at } : null,
      unsignedEvents,
    },
  };
}
