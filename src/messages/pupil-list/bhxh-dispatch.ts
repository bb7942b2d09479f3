/**
 * A school's list on its way to BHXH: each row to send is a transfer of type D03_TS, whose BHXH record
 * (docs/API.md, "Pupils' and students' lists") carries the card period the gateway computed. Records
 * are batched one list at a time, the batch headed by the list's unit and period.
 */
import type { ApiClient } from '../../auth/clients.js';
import { toIsoDate } from '../../domain/calendar-date.js';
import { canonicalJson } from '../../domain/canonical-json.js';
import type { Queryable } from '../../store/database.js';
import {
  changeTransferInTx, insertTransfersInTx, lockTransfersInTx, moveTransfersInTx, type NewTransfer, type TransferStatus,
} from '../../store/transfers.js';
import type { DispatchFacts } from '../message-module.js';
import type { D03Row } from './d03-row.js';
import { listHead, type RowAtBhxh, type StoredList, type StoredRow } from './list-store.js';
import { parseRowDate, sexCode } from './row-checks.js';

export const PUPIL_LIST_TRANSFER_TYPE = 'D03_TS' as const;

const bhxhDate = (text: string) => {
  const date = parseRowDate(text);
  return date ? toIsoDate(date).replaceAll('-', '') : undefined;
};
const isoToBhxh = (iso: string) => iso.replaceAll('-', '');
/** `MM/yyyy` → `yyyyMM`. */
const bhxhMonth = (text: string) => `${text.slice(3, 7)}${text.slice(0, 2)}`;

/** A checked, valid row with its card period, as BHXH's D03_TS record. */
export function toD03TsRecord(maHoSo: string, row: D03Row, card: { from: string; to: string }): Record<string, unknown> {
  const record: Record<string, unknown> = {
    MA_HO_SO: maHoSo,
    STT: row.stt,
    HO_TEN: row.hoTen,
    MA_SO_BHXH: row.maSoBhxh,
    SO_DINH_DANH: row.soDinhDanh,
    NGAY_SINH: row.ngaySinh === undefined ? undefined : bhxhDate(row.ngaySinh),
    GIOI_TINH: row.gioiTinh === undefined ? undefined : sexCode(row.gioiTinh),
    DIA_CHI: row.diaChi,
    MA_DKBD: row.noiDangKyKCB,
    NGAY_BIEN_LAI: row.ngayBienLai === undefined ? undefined : bhxhDate(row.ngayBienLai),
    SO_BIEN_LAI: row.soBienLai,
    SO_TIEN: row.soTien,
    TU_THANG: row.tuThang === undefined ? undefined : bhxhMonth(row.tuThang),
    SO_THANG: row.soThang,
    GT_THE_TU: isoToBhxh(card.from),
    GT_THE_DEN: isoToBhxh(card.to),
    MA_NV_THU: row.maNhanVienThu,
  };
  // Fields the row leaves out are undefined here and absent from the JSON BHXH receives.
  return record;
}

const CARD_GROUP = /^(HS|SV)4/;

const sttOf = (transferId: string) => Number(transferId.slice(transferId.lastIndexOf(':') + 1));

/**
 * Records leave as BHXH's D03_TS, one list per batch. A record leaves only while its row stands valid
 * on a list that is sent: the rows of a list replaced by one that dropped them, or that waits to be
 * sent itself, stay behind.
 */
export const pupilListDispatch: DispatchFacts = {
  transferType: PUPIL_LIST_TRANSFER_TYPE,
  loai: PUPIL_LIST_TRANSFER_TYPE,
  // A row's transfer names, as its message, the list that first sent it: the batch's list.
  groupKey: 'transfers.message_id',
  // Held records leave `queued` (holdRecordsInTx); this stays as the guard for one put back to queued
  // by a lease's expiry or a replay after its list was replaced.
  heldBackWhen: `NOT EXISTS (SELECT 1 FROM pupil_list_rows r JOIN pupil_lists l ON l.list_id = r.list_id
                              WHERE r.transfer_id = transfers.id AND r.status = 'queued' AND l.status = 'queued')`,
  // Ids are `<listId>:<stt>`: as text row 10 would come before row 2; BHXH reads them in the list's order.
  orderMembers: (ids) => [...ids].sort((a, b) => sttOf(a) - sttOf(b)),
  issuesCard: true,
  cardProblem(result) {
    if (!result.MA_THE || !result.GT_THE_TU || !result.GT_THE_DEN) return 'an issued card needs MA_THE, GT_THE_TU and GT_THE_DEN';
    if (!CARD_GROUP.test(result.MA_THE)) return 'a pupil\'s or student\'s MA_THE begins HS4 or SV4';
    if (result.MA_SO_BHXH && !result.MA_THE.endsWith(result.MA_SO_BHXH)) return 'MA_THE must end with MA_SO_BHXH';
    return null;
  },
  async batchHead(db, listId) {
    return (await listHead(db, listId)) ?? {};
  },
};

/** A valid row of a sent list, ready to leave: where it stands, its values and card, and its transfer if it has one. */
export interface RowToSend {
  position: number;
  row: D03Row;
  cardFrom: string | null;
  cardTo: string | null;
  transferId: string | null;
}

/**
 * A changed row goes out again in its transfer when BHXH returned it, or it never left (queued, failed,
 * or `received`: held back while its list waited; a withdrawn one is on a replaced list, never carried).
 */
export const sendsAgainInPlace = (status: TransferStatus) => status === 'queued' || status === 'received' || status === 'returned' || status === 'failed';

/** Where a row's transfer goes to BHXH from, once it has one: `<listId>:<stt>`, its record's MA_HO_SO. */
export const transferIdOf = (listId: string, stt: number) => `${listId}:${stt}`;

/**
 * Sends rows of a sent list: each without a transfer gets one, `queued`, with its audit event; a row
 * whose transfer BHXH returned (or that failed, or has not left yet) goes out again in the same
 * transfer when its record changed (or, `resendUnchanged`, when the school corrected it even to the
 * same values), so BHXH hears of the person under one MA_HO_SO. A row whose record is as sent stays
 * as it is, and so does a transfer BHXH holds or answered with a card. Returns the links of the rows
 * given a new transfer, for the caller to write on the rows (`setRowTransfersInTx`) or with them.
 */
export async function sendRowsInTx(tx: Queryable, list: Pick<StoredList, 'listId' | 'kyKeKhai' | 'maTinh' | 'maDonVi'>, rows: readonly RowToSend[],
  client: ApiClient, options: { resendUnchanged?: boolean } = {}): Promise<Array<{ position: number; transferId: string }>> {
  const fresh: NewTransfer[] = [];
  const links: Array<{ position: number; transferId: string }> = [];
  const earlier = new Map((await lockTransfersInTx(tx, rows.flatMap((row) => (row.transferId === null ? [] : [row.transferId]))))
    .map((transfer) => [transfer.id, transfer]));
  for (const row of rows) {
    if (!row.cardFrom || !row.cardTo) continue;
    const card = { from: row.cardFrom, to: row.cardTo };
    // The row itself stays in the list's table; the transfer names it, and carries BHXH's record.
    const document = { listId: list.listId, kyKeKhai: list.kyKeKhai, stt: row.row.stt };
    const soDinhDanh = row.row.soDinhDanh ?? row.row.maSoBhxh ?? '';
    const current = row.transferId === null ? undefined : earlier.get(row.transferId);
    if (current) {
      const record = toD03TsRecord(current.id, row.row, card);
      const unchanged = canonicalJson(record) === canonicalJson(current.bhxhDocument);
      // A held record goes back to queued with its list, changed or not.
      const held = current.status === 'received';
      if (!sendsAgainInPlace(current.status) || (unchanged && !options.resendUnchanged && !held)) continue;
      await changeTransferInTx(tx, current, { status: 'queued', document, soDinhDanh, maSoBhxh: row.row.maSoBhxh ?? null, bhxhDocument: record, bhxhErrors: null },
        { actor: client.id, action: held ? 'pupil-list.row-released' : 'pupil-list.row-resent', details: { listId: list.listId, stt: row.row.stt } });
      continue;
    }
    const id = transferIdOf(list.listId, row.row.stt);
    fresh.push({
      id, type: PUPIL_LIST_TRANSFER_TYPE, clientId: client.id, messageId: list.listId, status: 'queued', maTinh: list.maTinh,
      maDonVi: list.maDonVi, soDinhDanh, document, missing: [], bhxhDocument: toD03TsRecord(id, row.row, card),
      // A row naming its person's BHXH number gets that person's card only (apply-results checks an OK's MA_SO_BHXH).
      ...(row.row.maSoBhxh !== undefined && { maSoBhxh: row.row.maSoBhxh }),
    });
    links.push({ position: row.position, transferId: id });
  }
  await insertTransfersInTx(tx, fresh, (transfer) => ({
    actor: client.id, action: 'pupil-list.row-queued', details: { listId: list.listId, stt: transfer.document.stt },
  }));
  return links;
}

/**
 * The rows with their records locked until the transaction ends, each showing its record as locked. A
 * claim skips locked records, so none leaves between this read and what is decided on it (a change
 * sent in place, or a warning that BHXH has the row already); an unlocked read could be stale by then.
 */
export async function lockRecordsOfRowsInTx(tx: Queryable, rows: readonly StoredRow[]): Promise<StoredRow[]> {
  const locked = new Map((await lockTransfersInTx(tx, rows.flatMap((row) => (row.transferId === null ? [] : [row.transferId]))))
    .map((transfer) => [transfer.id, transfer]));
  return rows.map((row) => {
    const transfer = row.transferId === null ? undefined : locked.get(row.transferId);
    if (!transfer) return row;
    return { ...row, bhxh: { status: transfer.status, card: transfer.card as RowAtBhxh['card'], errors: transfer.bhxhErrors as RowAtBhxh['errors'] } };
  });
}

/** A dropped row whose record left already: it cannot be withdrawn, and the school hears so. */
export function droppedWithBhxh(stt: number, status: TransferStatus): { stt: number; path: string; code: string; message: string } {
  return {
    stt, path: '', code: 'DROPPED_ALREADY_WITH_BHXH',
    message: `the replaced list's row ${stt} is not in this list, but BHXH already has it (${status}): it is not withdrawn`,
  };
}

/** Whether a dropped row's record is with BHXH (or answered): it stays, and the school is told. */
export const leftForBhxh = (row: StoredRow, kept: ReadonlySet<string>) => row.transferId !== null && !kept.has(row.transferId)
  && row.bhxh !== null && row.bhxh.status !== 'queued' && row.bhxh.status !== 'received';

/**
 * Records still `queued` that must not leave yet (carried onto a list that waits to be sent, or onto a
 * row now invalid) go to `received`, audited, so the claim's index of queued records never holds them:
 * a claim walking thousands of held records grew with their number. `sendRowsInTx` queues them again.
 * Their status is the one `lockRecordsOfRowsInTx` read from `earlierRows`, locked.
 */
export async function holdRecordsInTx(tx: Queryable, rows: ReadonlyArray<{ transferId: string | null }>, earlierRows: readonly StoredRow[],
  event: { actor: string; listId: string }): Promise<void> {
  const queued = new Set(earlierRows.flatMap((row) => (row.transferId !== null && row.bhxh?.status === 'queued' ? [row.transferId] : [])));
  const ids = new Set(rows.flatMap((row) => (row.transferId !== null && queued.has(row.transferId) ? [row.transferId] : [])));
  const held = { actor: event.actor, action: 'pupil-list.row-held', details: { listId: event.listId } };
  await moveTransfersInTx(tx, [...ids].map((id) => ({ id, fromStatus: 'queued' as const, toStatus: 'received' as const, batchId: null, event: held })));
}

/**
 * The rows of a replaced list that its replacement dropped and that have not left yet never leave:
 * their transfers go back to `received` (not sent) for good, audited, rather than wait `queued`
 * where every claim would walk past them.
 */
export async function withdrawDroppedRowsInTx(tx: Queryable, earlierRows: readonly StoredRow[], kept: ReadonlySet<string>,
  event: { actor: string; listId: string; replacedBy: string }): Promise<void> {
  const withdrawn = { actor: event.actor, action: 'pupil-list.row-withdrawn', details: { listId: event.listId, replacedBy: event.replacedBy } };
  await moveTransfersInTx(tx, earlierRows.flatMap((row) => (row.transferId !== null && row.bhxh?.status === 'queued' && !kept.has(row.transferId)
    ? [{ id: row.transferId, fromStatus: 'queued' as const, toStatus: 'received' as const, batchId: null, event: withdrawn }]
    : [])));
}
