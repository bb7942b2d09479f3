import { duplicatePerson, personDeceased, type GatewayError } from '../../errors.js';
import type { Queryable } from '../../store/database.js';
import { isUniqueViolation } from '../../store/transfers.js';

/** Whether a death is registered for the person whose number is the SQL expression `person`. */
export const registeredDeathOf = (person: string) =>
  `EXISTS (SELECT 1 FROM transfers death WHERE death.type = 'KHAI_TU' AND death.so_dinh_danh = ${person})`;

/**
 * The store's checks of a birth, written once in SQL for both its paths: the group commit's one
 * statement evaluates them per row, the single path for its one birth. Each reads the birth as `i`
 * (its so_dinh_danh, ma_tinh, ma_ho_so).
 */
const DEAD = registeredDeathOf('i.so_dinh_danh');
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
  if (standing.dead) return birthOfDeceased();
  if (standing.waiting_dossier) return 'merge-dossiers';
  if (standing.held) return birthAlreadyHeld();
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

/** A death is registered for the child: no card is issued. */
export function birthOfDeceased(): GatewayError {
  return personDeceased('/hoTich/soDinhDanh');
}

/** A birth is already held for this person: one card per person. */
export function birthAlreadyHeld(): GatewayError {
  return duplicatePerson('birth', '/hoTich/soDinhDanh');
}

/**
 * The one-birth-per-person index refusing a birth stored or corrected, as the contract says it;
 * any other error as it came. The person's lock makes this rare: a writer that does not take it
 * (an earlier version during a rolling upgrade, a hand-made UPDATE) may still get there first.
 */
export function asBirthAlreadyHeld(error: unknown): unknown {
  return isUniqueViolation(error, 'transfers_one_birth_per_person') ? birthAlreadyHeld() : error;
}

/** Whether a death is registered for this person: a correction to their number is refused then, as a birth would be. */
export async function isRegisteredDeadInTx(tx: Queryable, soDinhDanh: string): Promise<boolean> {
  const { rows } = await tx.query<{ dead: boolean }>(`SELECT ${registeredDeathOf('$1::text')} AS dead`, [soDinhDanh]);
  return rows[0]?.dead === true;
}
