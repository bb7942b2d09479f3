import type { ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { GatewayError } from '../errors.js';
import { readSchema } from '../package-files.js';
import { isStorableText } from '../codec/body-text.js';
import { DISPATCH_FACTS } from '../messages/registry.js';
import {
  batchMembersInTx,
  findBatch,
  setMemberOutcomesInTx,
  settleBatchStatusInTx,
  type Batch,
  type BatchMember,
} from '../store/batches.js';
import type { Queryable } from '../store/database.js';
import { moveTransfersInTx, type StatusMove } from '../store/transfers.js';

const validateResult: ValidateFunction = new Ajv2020({ allErrors: false, strict: true }).compile(
  readSchema('bhxh-result.schema.json'),
);

export interface BhxhResult {
  MA_HO_SO: string;
  KET_QUA: 'OK' | 'LOI';
  MA_SO_BHXH?: string;
  MA_THE?: string;
  GT_THE_TU?: string;
  GT_THE_DEN?: string;
  LOI?: Array<{ MA_LOI: string; MO_TA?: string }>;
}

export interface Rejection {
  MA_HO_SO: string | null;
  reason: string;
}

export interface AppliedResults {
  accepted: number;
  /** Records of the batch still without an outcome after this answer. */
  unanswered: number;
  rejected: Rejection[];
  issued: number;
  processed: number;
  returned: number;
  returnedCodes: string[];
}

/** Every string in a result is text PostgreSQL can keep: one bad result must not fail the answer. */
function storable(value: unknown): boolean {
  if (typeof value === 'string') return isStorableText(value);
  if (value !== null && typeof value === 'object') return Object.values(value).every(storable);
  return true;
}

/** Whether BHXH's OK for a record of this document issues a card (DispatchFacts.issuesCard). */
const issuesCard = (loai: Batch['loai']) => DISPATCH_FACTS.some((facts) => facts.loai === loai && facts.issuesCard);

/**
 * Why a well-formed result still cannot be applied to this member, or null if it can: the card an OK
 * must carry, by the rule of the record's type when it has its own (DispatchFacts.cardProblem).
 */
function cardProblem(result: BhxhResult, loai: Batch['loai'], member: BatchMember): string | null {
  if (result.KET_QUA !== 'OK' || !issuesCard(loai)) return null;
  const ownRule = DISPATCH_FACTS.find((facts) => facts.loai === loai)?.cardProblem;
  if (ownRule) {
    const problem = ownRule(result);
    if (problem) return problem;
  } else {
    if (!result.MA_SO_BHXH || !result.MA_THE || !result.GT_THE_TU || !result.GT_THE_DEN) {
      return 'an issued card needs MA_SO_BHXH, MA_THE, GT_THE_TU and GT_THE_DEN';
    }
    if (!result.MA_THE.endsWith(result.MA_SO_BHXH)) return 'MA_THE must end with MA_SO_BHXH';
  }
  // A record that named its person by BHXH number (a card asked for again) gets that person's card only.
  if (member.maSoBhxh !== null && result.MA_SO_BHXH !== undefined && result.MA_SO_BHXH !== member.maSoBhxh) return 'MA_SO_BHXH is not the BHXH number of the record\'s person';
  return null;
}

/**
 * Applies BHXH's answers, each to its own record, in one transaction: OK → issued (with the card)
 * or processed, LOI → returned with BHXH's errors. Only a record `sent` in this batch takes a result;
 * one that is unknown, already answered, final, back in `queued` after its lease ran out, or not yet
 * acknowledged by BHXH (`sending`) is rejected with the reason, never applied. The batch row is
 * locked first, so two posts of the same results apply them once: the second finds them answered.
 */
export async function applyResultsInTx(tx: Queryable, batchId: string, results: unknown[], actor: string): Promise<AppliedResults> {
  const batch = await findBatch(tx, batchId, true);
  if (!batch) throw new GatewayError('NOT_FOUND', `No batch ${batchId}`);
  const outcome: AppliedResults = { accepted: 0, unanswered: 0, rejected: [], issued: 0, processed: 0, returned: 0, returnedCodes: [] };
  const idOf = (result: unknown) => {
    const id = (result as { MA_HO_SO?: unknown } | null)?.MA_HO_SO;
    return typeof id === 'string' ? id : null;
  };
  // A batch that ended without its results (failed, lease expired…) refuses them all. A closed one
  // does not: each of its records says it was answered already, so a repeat of the answer that
  // closed it reads the same as a repeat of one that did not.
  if (batch.status !== 'open' && batch.status !== 'delivered' && batch.status !== 'closed') {
    outcome.rejected = results.map((result) => ({ MA_HO_SO: idOf(result), reason: `batch is ${batch.status}` }));
    return outcome;
  }
  const members = new Map((await batchMembersInTx(tx, batchId)).map((member) => [member.transferId, member]));
  const seen = new Set<string>();
  const moves: StatusMove[] = [];
  // Shared by every record answered OK: the audit log seals a run of events with the same details at once.
  const answeredOk = { actor, action: 'bhxh.answered', details: { batchId, ketQua: 'OK' } };
  const outcomes: Array<{ transferId: string; outcome: string }> = [];
  for (const raw of results) {
    const id = idOf(raw);
    if (!validateResult(raw) || !storable(raw)) {
      const first = validateResult.errors?.[0];
      outcome.rejected.push({ MA_HO_SO: id, reason: `malformed result: ${first?.instancePath || '/'} ${first?.message ?? ''}`.trim() });
      continue;
    }
    const result = raw as BhxhResult;
    const member = members.get(result.MA_HO_SO);
    const problem =
      !member ? 'not a record of this batch'
      : seen.has(result.MA_HO_SO) ? 'answered twice in this answer'
      : member.outcome !== null ? `already answered (${member.outcome})`
      : member.transferStatus !== 'sent' || member.transferBatchId !== batchId ? `not awaiting a result (${member.transferStatus})`
      : cardProblem(result, batch.loai, member);
    if (problem) {
      outcome.rejected.push({ MA_HO_SO: result.MA_HO_SO, reason: problem });
      continue;
    }
    seen.add(result.MA_HO_SO);
    if (result.KET_QUA === 'OK') {
      const toStatus = issuesCard(batch.loai) ? 'issued' : 'processed';
      if (toStatus === 'issued') outcome.issued += 1;
      else outcome.processed += 1;
      moves.push({
        id: result.MA_HO_SO, fromStatus: 'sent', toStatus, batchId: null,
        card: toStatus === 'issued'
          ? { ...(result.MA_SO_BHXH && { maSoBHXH: result.MA_SO_BHXH }), maThe: result.MA_THE, gtTheTu: result.GT_THE_TU, gtTheDen: result.GT_THE_DEN }
          : undefined,
        event: answeredOk,
      });
      outcomes.push({ transferId: result.MA_HO_SO, outcome: toStatus });
    } else {
      const errors = result.LOI ?? [];
      outcome.returned += 1;
      outcome.returnedCodes.push(...errors.map((error) => error.MA_LOI));
      moves.push({
        id: result.MA_HO_SO, fromStatus: 'sent', toStatus: 'returned', batchId: null, bhxhErrors: errors,
        event: { actor, action: 'bhxh.answered', details: { batchId, ketQua: 'LOI', errors } },
      });
      outcomes.push({ transferId: result.MA_HO_SO, outcome: 'returned' });
    }
  }
  await moveTransfersInTx(tx, moves);
  await setMemberOutcomesInTx(tx, batchId, outcomes);
  await settleBatchStatusInTx(tx, batchId);
  outcome.accepted = moves.length;
  outcome.unanswered = [...members.values()].filter((member) => member.outcome === null && !seen.has(member.transferId)).length;
  return outcome;
}
