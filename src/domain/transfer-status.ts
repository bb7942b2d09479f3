/**
 * What moves a transfer from one status to another:
 * - `correction`: a PATCH by the registry or an operator (also the same status, when only its data changes);
 * - `dossier`: a one-stop dossier completes the record, or is only linked to it;
 * - `claim`: a dispatch run puts it in a batch to push, or BHXH leases it (a lease is BHXH's
 *   acknowledgement, so a leased record is `sent` at once);
 * - `acknowledged`: BHXH answered the delivery of its pushed batch with a 2xx: BHXH has it;
 * - `released`: its pushed batch provably never reached BHXH (the connection was refused), so it
 *   waits to be claimed again;
 * - `result`: BHXH's result for the record (OK or LOI);
 * - `undelivered`: its batch was not delivered after every attempt, or BHXH refused the batch;
 * - `lease-expired`: a pull lease ran out without a result;
 * - `resend`: the registry or an operator sends a returned record again;
 * - `replay`: an operator replays it;
 * - `death`: a death is registered for the card's person, at intake or at the last gate before a batch;
 * - `merge`: the record a waiting one-stop dossier belongs to arrives, or an operator links it to its birth;
 * - `close`: an operator closes a one-stop dossier that will never find its record, with a reason, or
 *   the retention sweep purges its files;
 * - `reopen`: an operator links a closed dossier to its birth after all, while its files are still kept;
 * - `withdraw`: the office (or an operator) gives up a record BHXH returned or that could not be
 *   delivered, with a reason, rather than sending it again (a card request: docs/DOMAIN.md).
 */
export type Cause =
  | 'correction' | 'dossier' | 'claim' | 'acknowledged' | 'released' | 'result' | 'undelivered' | 'lease-expired'
  | 'resend' | 'replay' | 'death' | 'merge' | 'close' | 'reopen' | 'withdraw';

interface State<S extends string> {
  /** What officers call it (docs/API.md, "Statuses"). */
  readonly vietnamese: string;
  /** A new transfer may begin in it. */
  readonly initial?: true;
  /** Where it may go, and what takes it there; its own status when only its data changes. */
  readonly to: { readonly [T in S]?: readonly Cause[] };
}

function stateTable<S extends string>(states: { readonly [K in S]: State<NoInfer<S>> }) {
  return states;
}

/**
 * Every status a transfer can have and every move between them: the one table the type, the
 * database's CHECK constraint (tests/transfer-status.test.ts holds them equal), the API's enums, the
 * metrics and the eligibility lists below are read from, and that the store refuses any other move
 * by. A new status is an entry here (its moves in and out) and a migration for the constraint.
 */
export const TRANSFER_STATES = stateTable({
  received: {
    vietnamese: 'chưa gửi',
    initial: true,
    to: { received: ['correction', 'dossier'], queued: ['correction', 'dossier'], deceased: ['death'], merged: ['merge'], closed: ['close'] },
  },
  queued: {
    vietnamese: 'chờ gửi',
    initial: true,
    to: { queued: ['correction', 'dossier'], received: ['correction', 'dossier'], sending: ['claim'], sent: ['claim'], deceased: ['death'] },
  },
  // In a pushed batch BHXH has not acknowledged yet: it may hold it already (a lost answer), so it
  // is neither correctable nor retired by a death, and its batch is resent as it is.
  sending: {
    vietnamese: 'đang gửi',
    to: { sending: ['dossier'], sent: ['acknowledged'], failed: ['undelivered'], queued: ['released'] },
  },
  sent: {
    vietnamese: 'đã gửi',
    to: { sent: ['dossier'], issued: ['result'], processed: ['result'], returned: ['result'], failed: ['undelivered'], queued: ['lease-expired'] },
  },
  issued: { vietnamese: 'đã cấp thẻ', to: { issued: ['dossier'] } },
  processed: { vietnamese: 'đã báo giảm', to: { processed: ['dossier'] } },
  returned: {
    vietnamese: 'bị trả về',
    to: { returned: ['correction', 'dossier'], queued: ['resend', 'replay'], deceased: ['death'], closed: ['withdraw'] },
  },
  failed: {
    vietnamese: 'gửi không thành công',
    to: { failed: ['dossier'], queued: ['replay'], deceased: ['death'], closed: ['withdraw'] },
  },
  deceased: { vietnamese: 'không gửi, đã khai tử', to: { deceased: ['dossier'] } },
  merged: { vietnamese: 'đã gộp', to: {} },
  closed: { vietnamese: 'đã đóng', to: { merged: ['reopen'] } },
});

export type TransferStatus = keyof typeof TRANSFER_STATES;

export const TRANSFER_STATUSES = Object.keys(TRANSFER_STATES) as readonly TransferStatus[];

const movesFrom = (from: TransferStatus): Partial<Record<TransferStatus, readonly Cause[]>> => TRANSFER_STATES[from].to;

/** Whether a transfer may go from `from` (null: it does not exist yet) to `to`. */
export function mayMove(from: TransferStatus | null, to: TransferStatus): boolean {
  if (from === null) return TRANSFER_STATES[to].initial === true;
  return movesFrom(from)[to] !== undefined;
}

/** The statuses that `cause` moves a transfer out of (or changes it in). */
export function statusesMovedBy(cause: Cause): readonly TransferStatus[] {
  return TRANSFER_STATUSES.filter((from) => Object.values(movesFrom(from)).some((causes) => causes?.includes(cause)));
}

/** A new transfer begins in one of these. */
export const INITIAL_STATUSES = TRANSFER_STATUSES.filter((status) => mayMove(null, status));
/**
 * No way out but an operator's second thought (`reopen`): nothing waits any more (the backlog counts
 * them as done).
 */
export const FINAL_STATUSES = TRANSFER_STATUSES.filter((from) =>
  TRANSFER_STATUSES.every((to) => to === from || (movesFrom(from)[to] ?? []).every((cause) => cause === 'reopen')));
/** A birth's document may still change (docs/DOMAIN.md, procedure step 3). */
export const CORRECTABLE_STATUSES = statusesMovedBy('correction');
/** An operator may send it again. */
export const REPLAYABLE_STATUSES = statusesMovedBy('replay');
/** The registry (or an operator) may send it again. */
export const RESENDABLE_STATUSES = statusesMovedBy('resend');
/** Its sender (or an operator) may give it up instead of sending it again. */
export const WITHDRAWABLE_STATUSES = statusesMovedBy('withdraw');
/** BHXH has it, or may have it already (a pushed batch not yet acknowledged): its answer is awaited. */
export const WITH_BHXH_STATUSES = [...statusesMovedBy('acknowledged'), ...statusesMovedBy('result')];
/** A card that has not reached BHXH, and so must not once its person's death is registered. */
export const CARD_NOT_YET_SENT = statusesMovedBy('death');

/**
 * A move the table does not allow. Every caller checks what it may do first and answers the client
 * (INVALID_STATE and the like), so reaching this is a bug: it is a 500, and nothing is written.
 */
export class TransitionNotAllowed extends Error {
  constructor(readonly transferId: string, readonly from: TransferStatus | null, readonly to: TransferStatus) {
    super(`transfer ${transferId}: ${from ?? '(new)'} → ${to} is not an allowed status move`);
    this.name = 'TransitionNotAllowed';
  }
}

export function assertMayMove(transferId: string, from: TransferStatus | null, to: TransferStatus): void {
  if (!mayMove(from, to)) throw new TransitionNotAllowed(transferId, from, to);
}
