import type { CapLaiThe, LyDoCapLai } from '../../domain/documents.js';
import { CARD_NOT_YET_SENT, FINAL_STATUSES, WITH_BHXH_STATUSES, type TransferStatus } from '../../domain/transfer-status.js';
import { duplicateRequest, personDeceased, type GatewayError } from '../../errors.js';
import type { Queryable } from '../../store/database.js';
import { findTransfer, isUniqueViolation, type Transfer } from '../../store/transfers.js';

/** Who a request is for, by each number the gateway knows for them. */
export interface RequestPerson {
  soDinhDanh?: string;
  maSoBhxh?: string;
}

/** Where the request names its person: the personal number, preferred, or else the BHXH number. */
export function personPath(nguoi: CapLaiThe['nguoi']): string {
  return nguoi.soDinhDanh !== undefined ? '/nguoi/soDinhDanh' : '/nguoi/maSoBhxh';
}

/**
 * The reasons that cannot be open together for one person: a lost card and a damaged one would each
 * print the person a new card, so either blocks the other; a change of information is its own.
 * Migration 019's unique indexes group them alike.
 */
export function reasonGroup(lyDo: LyDoCapLai): LyDoCapLai[] {
  return lyDo === 'thay_doi_thong_tin' ? ['thay_doi_thong_tin'] : ['mat', 'hong'];
}

/** The numbers the request itself gives: a card code ends with its holder's BHXH number. */
export function namedPerson(doc: Pick<CapLaiThe, 'nguoi' | 'maThe'>): RequestPerson {
  const maSoBhxh = doc.nguoi.maSoBhxh ?? doc.maThe?.slice(-10);
  return { ...(doc.nguoi.soDinhDanh !== undefined ? { soDinhDanh: doc.nguoi.soDinhDanh } : {}), ...(maSoBhxh !== undefined ? { maSoBhxh } : {}) };
}

/**
 * The person with the number the request lacks filled in where the gateway knows it: a birth's
 * issued card carries both, a death may give both, an earlier request (issued or not) may have. Two
 * requests naming one person by different numbers are then seen as one person's.
 */
export async function knownPersonInTx(tx: Queryable, named: RequestPerson): Promise<RequestPerson> {
  if ((named.soDinhDanh === undefined) === (named.maSoBhxh === undefined)) return named;
  const { rows } = await tx.query<{ so_dinh_danh: string; ma_so_bhxh: string }>(
    `SELECT so_dinh_danh, ma_so_bhxh FROM (
       SELECT so_dinh_danh, card->>'maSoBHXH' AS ma_so_bhxh, 1 AS rank FROM transfers
        WHERE type = 'KHAI_SINH' AND status = 'issued' AND (so_dinh_danh = $1::text OR card->>'maSoBHXH' = $2::text)
       UNION ALL
       SELECT so_dinh_danh, document->'hoTich'->>'nktMaSoBHXH', 2 FROM transfers
        WHERE type = 'KHAI_TU' AND (so_dinh_danh = $1::text OR document->'hoTich'->>'nktMaSoBHXH' = $2::text)
       UNION ALL
       SELECT so_dinh_danh, ma_so_bhxh, 3 FROM transfers
        WHERE type = 'CAP_LAI_THE' AND so_dinh_danh <> '' AND (so_dinh_danh = $1::text OR ma_so_bhxh = $2::text)
     ) known
     WHERE ma_so_bhxh IS NOT NULL
     ORDER BY rank LIMIT 1`,
    [named.soDinhDanh ?? null, named.maSoBhxh ?? null],
  );
  const known = rows[0];
  return known ? { soDinhDanh: named.soDinhDanh ?? known.so_dinh_danh, maSoBhxh: named.maSoBhxh ?? known.ma_so_bhxh } : named;
}

/**
 * The subjects a request's store works on: its person by each number known. The personal number's
 * lock is the one births and deaths take, and a death giving the BHXH number takes that one too,
 * so a death registered meanwhile is seen or waits.
 */
export function reissueLocks(person: RequestPerson): string[] {
  return [
    ...(person.soDinhDanh !== undefined ? [`person:${person.soDinhDanh}`] : []),
    ...(person.maSoBhxh !== undefined ? [bhxhNumberLock(person.maSoBhxh)] : []),
  ];
}

/** The lock of a person known by BHXH number: a death giving the number takes it too. */
export const bhxhNumberLock = (maSoBhxh: string) => `bhxh-number:${maSoBhxh}`;

/** Whether a death is registered for the person of a card request, a row of `transfers` named `request`. */
export const deathOfRequestPerson = (request: string) =>
  `EXISTS (SELECT 1 FROM transfers death
            WHERE death.type = 'KHAI_TU'
              AND (death.so_dinh_danh = ${request}.so_dinh_danh OR death.document->'hoTich'->>'nktMaSoBHXH' = ${request}.ma_so_bhxh))`;

/**
 * Whether a card request of the person with these numbers (SQL expressions) is with BHXH (being
 * sent or sent): a death of theirs waits until BHXH has answered it.
 */
export const requestWithBhxhOf = (soDinhDanh: string, maSoBhxh: string) =>
  `EXISTS (SELECT 1 FROM transfers request
            WHERE request.type = 'CAP_LAI_THE' AND request.status IN (${WITH_BHXH_STATUSES.map((status) => `'${status}'`).join(', ')})
              AND (request.so_dinh_danh = ${soDinhDanh} OR request.ma_so_bhxh = ${maSoBhxh}))`;

/**
 * Why this request cannot be stored, or null: a death is registered for the person (by either
 * number), or a request of the same reason group for them is still open (anything but final). The
 * open request's id is told only to a sender that may read it (`mayRead`). `except` leaves out the request
 * itself, when a correction checks it again.
 */
export async function reissueRefusalInTx(
  tx: Queryable,
  request: { nguoi: CapLaiThe['nguoi']; person: RequestPerson; lyDo: LyDoCapLai },
  mayRead: (transfer: Transfer) => boolean,
  except?: string,
): Promise<GatewayError | null> {
  const { soDinhDanh, maSoBhxh } = request.person;
  const { rows } = await tx.query<{ dead: boolean; open_id: string | null }>(
    `SELECT EXISTS (SELECT 1 FROM transfers death WHERE death.type = 'KHAI_TU'
                      AND (death.so_dinh_danh = $1::text OR death.document->'hoTich'->>'nktMaSoBHXH' = $2::text)) AS dead,
            (SELECT open.id FROM transfers open
              WHERE open.type = 'CAP_LAI_THE' AND open.reason = ANY($3::text[]) AND open.status <> ALL($4::text[])
                AND (open.so_dinh_danh = $1::text OR open.ma_so_bhxh = $2::text)
                AND ($5::text IS NULL OR open.id <> $5)
              ORDER BY open.id LIMIT 1) AS open_id`,
    [soDinhDanh ?? null, maSoBhxh ?? null, reasonGroup(request.lyDo), FINAL_STATUSES, except ?? null],
  );
  const row = rows[0];
  if (row?.dead) return personDeceased(personPath(request.nguoi));
  if (row?.open_id) {
    const open = await findTransfer(tx, row.open_id);
    return duplicateRequest(personPath(request.nguoi), open !== null && mayRead(open) ? open.id : null);
  }
  return null;
}

/** Migration 019's indexes refusing a second open request (one that slipped past the check), as the contract says it. */
export function asDuplicateRequest(error: unknown, path: string): unknown {
  const duplicate = isUniqueViolation(error, 'transfers_one_open_card_request_per_person')
    || isUniqueViolation(error, 'transfers_one_open_card_request_per_bhxh_number');
  return duplicate ? duplicateRequest(path, null) : error;
}

/**
 * A person's card requests that have not reached BHXH, by either number, locked: a death registered
 * for the person stops them, as it stops a birth's card (docs/DOMAIN.md, "Deaths").
 */
export async function unsentRequestsOfInTx(
  tx: Queryable, person: { soDinhDanh: string; maSoBhxh?: string },
): Promise<Array<{ id: string; status: TransferStatus }>> {
  const { rows } = await tx.query<{ id: string; status: TransferStatus }>(
    `SELECT id, status FROM transfers
      WHERE type = 'CAP_LAI_THE' AND status = ANY($3::text[])
        AND (so_dinh_danh = $1 OR ma_so_bhxh = $2::text)
      ORDER BY id FOR UPDATE`,
    [person.soDinhDanh, person.maSoBhxh ?? null, CARD_NOT_YET_SENT],
  );
  return rows;
}
