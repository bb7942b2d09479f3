import type { CapLaiThe, LyDoCapLai } from '../../domain/documents.js';
import { CARD_NOT_YET_SENT, FINAL_STATUSES, type TransferStatus } from '../../domain/transfer-status.js';
import { duplicateRequest, personDeceased, type GatewayError } from '../../errors.js';
import type { Queryable } from '../../store/database.js';
import { registeredDeathOf } from '../birth/standing.js';

/** Where the request names its person: the personal number, preferred, or else the BHXH number. */
export function personPath(nguoi: CapLaiThe['nguoi']): string {
  return nguoi.soDinhDanh !== undefined ? '/nguoi/soDinhDanh' : '/nguoi/maSoBhxh';
}

/**
 * The subjects a request's store works on: its person by each number it gives. The personal number's
 * lock is the one births and deaths take, so a death registered meanwhile is seen or waits.
 */
export function reissueLocks(nguoi: CapLaiThe['nguoi']): string[] {
  return [
    ...(nguoi.soDinhDanh !== undefined ? [`person:${nguoi.soDinhDanh}`] : []),
    ...(nguoi.maSoBhxh !== undefined ? [bhxhNumberLock(nguoi.maSoBhxh)] : []),
  ];
}

/** The lock of a person known by BHXH number: a death giving the number takes it too. */
export const bhxhNumberLock = (maSoBhxh: string) => `bhxh-number:${maSoBhxh}`;

/**
 * Why this request cannot be stored, or null: a death is registered for the person (by either
 * number), or a request of the same reason for them is still open (anything but final). `except`
 * leaves out the request itself, when a correction checks it again.
 */
export async function reissueRefusalInTx(
  tx: Queryable,
  request: { nguoi: CapLaiThe['nguoi']; lyDo: LyDoCapLai },
  except?: string,
): Promise<GatewayError | null> {
  const { soDinhDanh, maSoBhxh } = request.nguoi;
  const { rows } = await tx.query<{ dead: boolean; open_id: string | null }>(
    `SELECT ${registeredDeathOf('$1::text')}
              OR EXISTS (SELECT 1 FROM transfers death WHERE death.type = 'KHAI_TU' AND death.document->'hoTich'->>'nktMaSoBHXH' = $2::text) AS dead,
            (SELECT open.id FROM transfers open
              WHERE open.type = 'CAP_LAI_THE' AND open.reason = $3 AND open.status <> ALL($4::text[])
                AND (open.so_dinh_danh = $1::text OR open.document->'nguoi'->>'maSoBhxh' = $2::text)
                AND ($5::text IS NULL OR open.id <> $5)
              ORDER BY open.id LIMIT 1) AS open_id`,
    [soDinhDanh ?? null, maSoBhxh ?? null, request.lyDo, FINAL_STATUSES, except ?? null],
  );
  const row = rows[0];
  if (row?.dead) return personDeceased(personPath(request.nguoi));
  if (row?.open_id) return duplicateRequest(personPath(request.nguoi), row.open_id);
  return null;
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
        AND (so_dinh_danh = $1 OR document->'nguoi'->>'maSoBhxh' = $2::text)
      ORDER BY id FOR UPDATE`,
    [person.soDinhDanh, person.maSoBhxh ?? null, CARD_NOT_YET_SENT],
  );
  return rows;
}
