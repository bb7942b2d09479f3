import { duplicatePerson, personDeceased, type GatewayError } from '../../errors.js';
import type { Queryable } from '../../store/database.js';

/**
 * The store's checks of a birth, written once in SQL for both its paths: the group commit's one
 * statement evaluates them per row, the single path for its one birth. Each reads the birth as `i`
 * (its so_dinh_danh, ma_tinh, ma_ho_so).
 */
const DEAD = `EXISTS (SELECT 1 FROM transfers d WHERE d.type = 'KHAI_TU' AND d.so_dinh_danh = i.so_dinh_danh)`;
const HELD = `EXISTS (SELECT 1 FROM transfers b WHERE b.type = 'KHAI_SINH' AND b.so_dinh_danh = i.so_dinh_danh)`;
/** One-stop dossiers of the birth's province that arrived first for it: by the child's number or by its dossier code. */
const WAITING_DOSSIERS = `FROM transfers h
  WHERE h.type = 'HO_SO_MOT_CUA' AND h.status = 'received' AND h.document->>'module' = 'KS' AND h.ma_tinh = i.ma_tinh
    AND (h.so_dinh_danh = i.so_dinh_danh OR h.ma_ho_so = i.ma_ho_so)`;

/** The checks as columns of a SELECT over `i`: dead, held and waiting_dossier. */
export const BIRTH_STANDING_COLUMNS = `${DEAD} AS dead, ${HELD} AS held, EXISTS (SELECT 1 ${WAITING_DOSSIERS}) AS waiting_dossier`;

export interface BirthStanding {
  dead: boolean;
  held: boolean;
  waiting_dossier: boolean;
}

/**
 * What a birth's standing decides, in precedence order: a registered death refuses it; dossiers
 * waiting for it are merged into it, so it is stored alone; a birth already held refuses it.
 */
export function birthDecision(standing: BirthStanding): GatewayError | 'merge-dossiers' | 'store' {
  if (standing.dead) return personDeceased();
  if (standing.waiting_dossier) return 'merge-dossiers';
  if (standing.held) return duplicatePerson('birth');
  return 'store';
}

/** The single path's view of one birth: its standing, and the ids of the dossiers waiting for it, oldest first. */
export async function birthStandingInTx(
  tx: Queryable,
  birth: { soDinhDanh: string; maTinh: string; maHoSo: string | undefined },
): Promise<BirthStanding & { dossierIds: string[] }> {
  const { rows } = await tx.query<BirthStanding & { dossier_ids: string[] }>(
    `SELECT ${BIRTH_STANDING_COLUMNS}, ARRAY(SELECT h.id ${WAITING_DOSSIERS} ORDER BY h.id) AS dossier_ids
       FROM (VALUES ($1::text, $2::text, $3::text)) AS i (so_dinh_danh, ma_tinh, ma_ho_so)`,
    [birth.soDinhDanh, birth.maTinh, birth.maHoSo ?? null],
  );
  const row = rows[0];
  if (!row) throw new Error('the birth standing query returned no row');
  return { dead: row.dead, held: row.held, waiting_dossier: row.waiting_dossier, dossierIds: row.dossier_ids };
}
