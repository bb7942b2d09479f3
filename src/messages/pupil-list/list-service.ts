/**
 * Schools' D03-TS lists, first slice: a list file comes in, is read by its codec, checked row by row
 * (row-checks.ts, with the other lists of the period looked up in one query), and stored with every
 * row, its problems, warnings and card period, in one transaction with its audit event. The school
 * reads it back (as JSON pages or as the annotated file), corrects rows one by one or sends a
 * corrected file in place of the list, and sends the valid rows on. Once a list is `queued` each
 * valid row leaves for BHXH as a D03_TS transfer made in the same transaction (bhxh-dispatch.ts);
 * the rows then show their transfer's status and BHXH's answer.
 */
import { createHash } from 'node:crypto';
import type { ApiClient } from '../../auth/clients.js';
import type { Catalogues } from '../../catalogues/catalogues.js';
import { writeD03Csv } from '../../codec/d03ts/csv-writer.js';
import { readD03List } from '../../codec/d03ts/read-list.js';
import { writeD03Xlsx } from '../../codec/d03ts/xlsx-writer.js';
import { todayInVietnam, toIsoDate } from '../../domain/calendar-date.js';
import { canonicalJson } from '../../domain/canonical-json.js';
import { newId } from '../../domain/ids.js';
import { GatewayError } from '../../errors.js';
import { isStorableText } from '../../codec/body-text.js';
import { appendAuditEventInTx } from '../../store/audit-log.js';
import type { Database, Queryable } from '../../store/database.js';
import type { D03Row, RowProblem } from './d03-row.js';
import {
  allRows, findList, findListByIdempotencyKey, insertListInTx, listedPersonKeys, listRowsPage, lockList, markReplacedInTx, rowAt,
  setRowTransfersInTx, updateListInTx, updateRowsInTx, type ListStatus, type RowStatus, type RowToStore, type StoredList, type StoredRow,
} from './list-store.js';
import { alreadyListedProblem, checkList, personKeyOf, personKeysOf, type PersonKey } from './row-checks.js';
import type { TransferStatus } from '../../store/transfers.js';
import { droppedWithBhxh, holdRecordsInTx, leftForBhxh, lockRecordsOfRowsInTx, sendRowsInTx, sendsAgainInPlace, withdrawDroppedRowsInTx } from './bhxh-dispatch.js';
import { noteFor } from './row-notes.js';
import { MAX_WAITING_LIST_JOBS, OneAtATime, withListJobTimeout } from './one-at-a-time.js';

export interface PupilListsDeps {
  db: Database;
  catalogues: Pick<Catalogues, 'facilities'>;
  now: () => Date;
}

export interface ListAnswer {
  listId: string;
  status: ListStatus;
  rows: number;
  valid: number;
  invalid: number;
  errors: RowProblem[];
  warnings: RowProblem[];
  /** With `?replaces=`: the list replaced, and how many rows were left as they were in it. */
  replaces?: string;
  unchanged?: number;
}

export interface ListUpload {
  kyKeKhai: string;
  /** The list this one takes the place of: the school's own, of the same period. */
  replaces?: string | undefined;
  idempotencyKey: string;
  contentType: string | undefined;
  body: Buffer;
}

/**
 * A row as the school sees it: invalid, waiting to be sent, where its transfer to BHXH is, or
 * `withdrawn`: dropped by the list that replaced its own before it left (its transfer `received`, for good).
 * On a list not replaced, a `received` transfer is held back until the list is sent: the row waits.
 */
export type RowViewStatus = 'invalid' | 'queued' | 'withdrawn' | Exclude<TransferStatus, 'received'>;

export function rowStatusOf(row: Pick<StoredRow, 'status' | 'bhxh'>, listStatus: ListStatus): RowViewStatus {
  if (row.status === 'invalid') return 'invalid';
  const status = row.bhxh?.status ?? 'queued';
  if (status !== 'received') return status;
  return listStatus === 'replaced' ? 'withdrawn' : 'queued';
}

const isoOf = (bhxhDate: string | undefined) => (bhxhDate ? `${bhxhDate.slice(0, 4)}-${bhxhDate.slice(4, 6)}-${bhxhDate.slice(6, 8)}` : null);

function rowView(row: StoredRow, listStatus: ListStatus): ListRowView {
  const status = rowStatusOf(row, listStatus);
  const card = status === 'issued' ? row.bhxh?.card : null;
  return {
    stt: row.stt, status, ghiChu: noteFor({ ...row, status }), problems: row.problems, warnings: row.warnings,
    cardPeriod: row.cardFrom && row.cardTo ? { from: row.cardFrom, to: row.cardTo } : null,
    maThe: card?.maThe ?? null, gtTheTu: isoOf(card?.gtTheTu), gtTheDen: isoOf(card?.gtTheDen),
    bhxhErrors: status === 'invalid' ? [] : row.bhxh?.errors ?? [],
  };
}

export interface ListRowView {
  stt: number;
  status: RowViewStatus;
  /** The card BHXH issued (ISO dates), once issued. */
  maThe: string | null;
  gtTheTu: string | null;
  gtTheDen: string | null;
  /** What BHXH said of a returned row. */
  bhxhErrors: Array<{ MA_LOI: string; MO_TA?: string }>;
  /** What the school reads in column Q: the problems in words, or that the row waits to be sent. */
  ghiChu: string;
  problems: RowProblem[];
  warnings: RowProblem[];
  cardPeriod: { from: string; to: string } | null;
}

export interface ListView {
  listId: string;
  status: ListStatus;
  /** The list that took this one's place (status replaced). */
  replacedBy: string | null;
  maTinh: string;
  maDonVi: string;
  tenDonVi: string | null;
  kyKeKhai: string;
  format: string;
  rows: number;
  valid: number;
  invalid: number;
  createdAt: string;
  updatedAt: string;
  items: ListRowView[];
  /** Pass as `cursor` for the next page of rows; null after the last row. */
  nextCursor: string | null;
}

export type ListFileType = 'xlsx' | 'csv';

/** A school's unit and its one province, as its client entry gives them. */
function schoolOf(client: ApiClient): { maDonVi: string; maTinh: string } {
  const maTinh = client.units[0];
  if (!client.roles.includes('school') || !client.maDonVi || client.units.length !== 1 || maTinh === undefined || maTinh === '*') {
    throw new GatewayError('FORBIDDEN', 'Only a school with its unit code (maDonVi) and one province sends lists');
  }
  return { maDonVi: client.maDonVi, maTinh };
}

/** A school sees its own unit's lists; operators and auditors those of their provinces; nobody else any. */
function maySee(client: ApiClient, list: StoredList): boolean {
  if (client.roles.includes('school') && client.maDonVi === list.maDonVi) return true;
  const readsProvince = client.roles.includes('operator') || client.roles.includes('auditor');
  return readsProvince && (client.units.includes('*') || client.units.includes(list.maTinh));
}

/**
 * Only the school that sent a list changes it (corrects, sends, replaces it): reading a province's lists,
 * as an operator or auditor does, is not enough, even for a client that is also a school.
 */
function mayChange(client: ApiClient, list: StoredList): boolean {
  return client.roles.includes('school') && client.maDonVi === list.maDonVi && client.units.includes(list.maTinh);
}

const notFound = () => new GatewayError('NOT_FOUND', 'No such list');

/** A list the client does not see is unknown to it (404); one it reads but may not change is 403. */
function refuseChange(client: ApiClient, list: StoredList | null): asserts list is StoredList {
  if (!list || !maySee(client, list)) throw notFound();
  if (!mayChange(client, list)) throw new GatewayError('FORBIDDEN', 'Only the school that sent this list changes it');
}

/** The door's schema types a correction's fields but not their characters: text PostgreSQL cannot store is a 400, not a 500. */
function refuseUnstorableText(fields: Partial<D03Row>): void {
  const details = Object.entries(fields)
    .filter(([, value]) => typeof value === 'string' && !isStorableText(value))
    .map(([field]) => ({ path: `/${field}`, code: 'INVALID_TEXT', message: 'contains a NUL or an unpaired surrogate' }));
  if (details.length > 0) throw new GatewayError('VALIDATION_FAILED', 'The correction holds text that is not valid Unicode', details);
}

/** A replaced list is history: it is read, never changed, sent or replaced again. */
function refuseReplaced(list: StoredList): void {
  if (list.status === 'replaced') {
    throw new GatewayError('INVALID_STATE', `This list was replaced by ${list.replacedBy}`, [
      { path: '', code: 'LIST_REPLACED', message: 'work on the list that replaced it' },
    ]);
  }
}

/**
 * The rows whose person the store found on another list of the period, made invalid for it. Run after
 * `evaluate`, under the period's lock: only this part of the checks depends on other lists.
 */
function flagAlreadyListed(rows: readonly RowToStore[], listed: Set<string>, kyKeKhai: string): RowToStore[] {
  return rows.map((row) => {
    const onAnotherList = (row.soDinhDanh !== null && listed.has(`d:${row.soDinhDanh}`)) || (row.maSoBhxh !== null && listed.has(`b:${row.maSoBhxh}`));
    if (!onAnotherList) return row;
    const key: PersonKey = row.soDinhDanh !== null ? { soDinhDanh: row.soDinhDanh } : { maSoBhxh: row.maSoBhxh as string };
    return { ...row, status: 'invalid', problems: [...row.problems, alreadyListedProblem(row.row.stt, key, kyKeKhai)], cardFrom: null, cardTo: null };
  });
}

/**
 * The reader's problems by row position. The reader names a problem by STT alone, so one goes to the
 * first row with that STT: the row a correction by STT reaches. Rows sharing an STT are invalid for it
 * anyway, and giving each of them the others' problems would grow with the square of their number.
 */
function readProblemsByPosition(rows: readonly D03Row[], problems: readonly RowProblem[]): RowProblem[][] {
  const firstWithStt = new Map<number, number>();
  rows.forEach((row, position) => {
    if (!firstWithStt.has(row.stt)) firstWithStt.set(row.stt, position);
  });
  const byPosition: RowProblem[][] = rows.map(() => []);
  for (const problem of problems) {
    const position = firstWithStt.get(problem.stt);
    if (position !== undefined) byPosition[position]?.push(problem);
  }
  return byPosition;
}

/**
 * Checks the whole list but for other lists of the period (`flagAlreadyListed`) and gives each row its
 * outcome: its own problems, by position, not by STT (which rows may share).
 */
function evaluate(rows: readonly D03Row[], readProblemsOf: readonly RowProblem[][], kyKeKhai: string, today: ReturnType<typeof todayInVietnam>,
  catalogues: PupilListsDeps['catalogues']): RowToStore[] {
  const check = checkList(rows, { kyKeKhai, today, catalogues });
  return check.rows.map((row, position): RowToStore => {
    const readProblems = readProblemsOf[position] ?? [];
    const problems = [...readProblems, ...(check.problemsOf[position] ?? [])];
    const status: RowStatus = problems.length > 0 ? 'invalid' : 'queued';
    const key = personKeyOf(row);
    const card = check.cardsOf[position];
    return {
      position, status, row, readProblems, problems, warnings: check.warningsOf[position] ?? [],
      ...(card && status === 'queued' ? { cardFrom: toIsoDate(card.from), cardTo: toIsoDate(card.to) } : { cardFrom: null, cardTo: null }),
      soDinhDanh: key?.soDinhDanh ?? null, maSoBhxh: key?.maSoBhxh ?? null, transferId: null,
    };
  });
}

/** The people of checked rows, for the store's one look-up of the other lists of the period. */
function personKeysOfChecked(rows: readonly RowToStore[]): PersonKey[] {
  return rows.flatMap((row): PersonKey[] => (row.soDinhDanh !== null ? [{ soDinhDanh: row.soDinhDanh, ...(row.maSoBhxh !== null && { maSoBhxh: row.maSoBhxh }) }]
    : row.maSoBhxh !== null ? [{ maSoBhxh: row.maSoBhxh }] : []));
}

/** Every problem (or warning) of the rows in row order, once: rows sharing an STT each have the same DUPLICATE_STT. */
function allOf(rows: readonly RowToStore[], of: 'problems' | 'warnings'): RowProblem[] {
  const seen = new Set<string>();
  return rows.flatMap((row) => row[of]).filter((problem) => {
    const key = JSON.stringify([problem.stt, problem.path, problem.code, problem.message]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** A row's values as they bear on its checks: not its STT (where it stands) nor Ghi chú (which holds our own note when a school sends our file back). */
function checkedValues(row: D03Row): string {
  const { stt: _stt, ghiChu: _ghiChu, ...values } = row;
  return canonicalJson(values);
}

/**
 * Whether two rows standing at the same STT may be one person: neither carries a personal or BHXH
 * number, or a number they both carry is the same and none differs. Another person at a dropped
 * person's place is a new row, never heir to that person's record (and card).
 */
function mayBeSamePerson(now: D03Row, before: D03Row): boolean {
  const pairs = [[now.soDinhDanh, before.soDinhDanh], [now.maSoBhxh, before.maSoBhxh]] as const;
  if (pairs.every(([a, b]) => !a && !b)) return true;
  return pairs.some(([a, b]) => a && a === b) && !pairs.some(([a, b]) => a && b && a !== b);
}

/**
 * A list that replaces an earlier one keeps the earlier outcome of every valid row it did not change:
 * a row already accepted is not judged again. Rows are matched by personal number, else BHXH number,
 * else (for the rows left) STT when the numbers allow one person (`mayBeSamePerson`), each earlier row once. A row left unchanged that was invalid is
 * checked again with the rest, as its problems (another list of the period) may have gone since.
 */
function carryOver(rows: readonly RowToStore[], earlier: readonly StoredRow[]): { rows: RowToStore[]; unchanged: number } {
  const unmatched = new Set(earlier);
  const byPersonalNumber = new Map(earlier.flatMap((row) => (row.row.soDinhDanh ? [[row.row.soDinhDanh, row] as const] : [])));
  const byBhxhNumber = new Map(earlier.flatMap((row) => (row.row.maSoBhxh ? [[row.row.maSoBhxh, row] as const] : [])));
  const take = (row: StoredRow | undefined) => (row && unmatched.delete(row) ? row : undefined);
  const matches = rows.map((row) => take(row.soDinhDanh ? byPersonalNumber.get(row.soDinhDanh) : undefined) ?? take(row.maSoBhxh ? byBhxhNumber.get(row.maSoBhxh) : undefined));
  // The earlier rows left, by STT, last first: pop() hands them out in file order, each once.
  const leftByStt = new Map<number, StoredRow[]>();
  for (const row of [...unmatched].reverse()) {
    const sharing = leftByStt.get(row.stt);
    if (sharing) sharing.push(row);
    else leftByStt.set(row.stt, [row]);
  }
  rows.forEach((row, index) => {
    if (matches[index]) return;
    // Only the next earlier row with that STT is looked at: rows sharing an STT are invalid anyway, and
    // searching among thousands of them for each would grow with the square of their number.
    const sharing = leftByStt.get(row.row.stt);
    const candidate = sharing?.at(-1);
    if (candidate && mayBeSamePerson(row.row, candidate.row)) matches[index] = take(sharing?.pop());
  });
  let unchanged = 0;
  const carried = rows.map((row, index) => {
    const match = matches[index];
    if (!match || row.readProblems.length > 0 || match.readProblems.length > 0 || checkedValues(match.row) !== checkedValues(row.row)) {
      // A changed row keeps the transfer of the row it changes, so BHXH hears of the person under one
      // MA_HO_SO: it goes out again in it when BHXH returned that one (or it never left); while BHXH
      // holds it or has issued the card, the change is not sent, and the school is told so.
      // (A `received` record on a list not replaced is one held back, not one withdrawn: it is carried too.)
      if (!match?.transferId || !match.bhxh) return row;
      if (sendsAgainInPlace(match.bhxh.status) || row.status !== 'queued') return { ...row, transferId: match.transferId };
      return { ...row, transferId: match.transferId, warnings: [...row.warnings, withBhxhWarning(row.row.stt, match.bhxh.status)] };
    }
    unchanged += 1;
    // An invalid row keeps its record too (one BHXH may hold): corrected later, it must not get a second.
    if (match.status !== 'queued') return match.transferId ? { ...row, transferId: match.transferId } : row;
    const relabel = (problem: RowProblem) => ({ ...problem, stt: row.row.stt });
    return {
      ...row, status: match.status, problems: match.problems.map(relabel), warnings: match.warnings.map(relabel), cardFrom: match.cardFrom, cardTo: match.cardTo,
      transferId: match.transferId,
    };
  });
  return { rows: carried, unchanged };
}

/** A changed row whose earlier record BHXH holds or answered with a card: the change stays with the school. */
function withBhxhWarning(stt: number, status: TransferStatus): RowProblem {
  return { stt, path: '', code: 'ALREADY_WITH_BHXH', message: `BHXH already has this person's row as first sent (${status}): the change is not sent` };
}

/** How many different notes the rows sharing an STT show together in the file. */
const MAX_NOTES_PER_STT = 3;

const countValid = (rows: readonly { status: RowStatus }[]) => rows.filter((row) => row.status === 'queued').length;

export class PupilLists {
  private readonly wholeListJobs = new OneAtATime(MAX_WAITING_LIST_JOBS);

  constructor(private readonly deps: PupilListsDeps) {}

  private today() {
    return todayInVietnam(this.deps.now());
  }

  /** 202 with a new list, or 200 with the first answer when this client sent this key with the same file before. */
  upload(client: ApiClient, upload: ListUpload): Promise<{ statusCode: 200 | 202; answer: ListAnswer }> {
    return this.wholeListJobs.run(() => this.uploadNow(client, upload));
  }

  private async uploadNow(client: ApiClient, upload: ListUpload): Promise<{ statusCode: 200 | 202; answer: ListAnswer }> {
    const { maDonVi, maTinh } = schoolOf(client);
    const contentType = (upload.contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    const contentSha256 = createHash('sha256').update(`${contentType}\n${upload.kyKeKhai}\n${upload.replaces ?? ''}\n`).update(upload.body).digest('hex');
    const repeated = await this.repeatedUpload(this.deps.db, client, upload.idempotencyKey, contentSha256);
    if (repeated) return repeated;
    if (upload.replaces !== undefined) {
      // The list is named in the query, not the path: one the school cannot see is a wrong value, not a missing resource.
      const earlier = await findList(this.deps.db, upload.replaces);
      if (!earlier || !mayChange(client, earlier)) {
        throw new GatewayError('VALIDATION_FAILED', 'The list to replace is not one of this school\'s', [
          { path: '/querystring/replaces', code: 'UNKNOWN_LIST', message: 'name a list this school sent' },
        ]);
      }
      if (earlier.kyKeKhai !== upload.kyKeKhai) {
        throw new GatewayError('VALIDATION_FAILED', 'A list replaces one of its own period', [
          { path: '/querystring/replaces', code: 'PERIOD_MISMATCH', message: `the list replaced is of period ${earlier.kyKeKhai}` },
        ]);
      }
      refuseReplaced(earlier);
    }

    const read = await readD03List(upload.contentType, upload.body);
    const mismatches = [
      ...(read.header.kyKeKhai && read.header.kyKeKhai !== upload.kyKeKhai
        ? [{ path: '/kyKeKhai', code: 'PERIOD_MISMATCH', message: `the list says period ${read.header.kyKeKhai}, the request ${upload.kyKeKhai}` }] : []),
      ...(read.header.maDonVi && read.header.maDonVi !== maDonVi
        ? [{ path: '/maDonVi', code: 'UNIT_MISMATCH', message: `the list names unit ${read.header.maDonVi}, this school is ${maDonVi}` }] : []),
    ];
    if (mismatches.length > 0) throw new GatewayError('VALIDATION_FAILED', 'The list is not for this school or period', mismatches);

    // Checking up to 50,000 rows is done before the transaction, holding no connection and no lock. Only
    // the look-up of other lists, the rows it flags and the insert wait for the period's lock, so uploads
    // of one period check their rows side by side and queue only to store them. The cost: a list that
    // turns out to be a twin of one stored meanwhile (same key) was checked for nothing.
    const checked = evaluate(read.rows, readProblemsByPosition(read.rows, read.problems), upload.kyKeKhai, this.today(), this.deps.catalogues);
    // The rows as read are not needed past here: only their checked, normalised copies are kept.
    const { format, header } = read;
    read.rows.length = 0;
    const personKeys = personKeysOfChecked(checked);

    // One period at a time: a person cannot slip onto two lists of the period by arriving at once.
    return this.deps.db.transaction(async (tx) => {
      await withListJobTimeout(tx);
      const twin = await this.repeatedUpload(tx, client, upload.idempotencyKey, contentSha256);
      if (twin) return twin;
      const earlier = upload.replaces === undefined ? null : await lockList(tx, upload.replaces);
      if (earlier) refuseReplaced(earlier);
      const listed = await listedPersonKeys(tx, upload.kyKeKhai, personKeys, earlier?.listId);
      let rows = flagAlreadyListed(checked, listed, upload.kyKeKhai);
      let unchanged: number | undefined;
      // Decided on the earlier records as locked: what carryOver and the withdrawal read is what they are.
      const earlierRows = earlier ? await lockRecordsOfRowsInTx(tx, await allRows(tx, earlier.listId)) : [];
      if (earlier) ({ rows, unchanged } = carryOver(rows, earlierRows));
      const kept = new Set(rows.flatMap((row) => (row.transferId === null ? [] : [row.transferId])));
      const droppedSent = earlierRows.flatMap((row) => (leftForBhxh(row, kept) ? [droppedWithBhxh(row.stt, row.bhxh?.status as TransferStatus)] : []));
      const valid = countValid(rows);
      const invalid = rows.length - valid;
      const listId = newId();
      const status: ListStatus = invalid === 0 ? 'queued' : 'checked';
      const answer: ListAnswer = {
        listId, status, rows: rows.length, valid, invalid, errors: allOf(rows, 'problems'), warnings: [...allOf(rows, 'warnings'), ...droppedSent],
        ...(earlier && { replaces: earlier.listId, unchanged }),
      };
      const list = {
        listId, clientId: client.id, idempotencyKey: upload.idempotencyKey, contentSha256, answer, maTinh, maDonVi,
        tenDonVi: header.tenDonVi, kyKeKhai: upload.kyKeKhai, format, status, validCount: valid, invalidCount: invalid,
      };
      // Records carried onto a list that waits, or onto a row now invalid, wait out of the claim's way.
      await holdRecordsInTx(tx, rows.filter((row) => status === 'checked' || row.status === 'invalid'), earlierRows, { actor: client.id, listId });
      // A sent list's rows are queued for BHXH first, so each row is written with its transfer.
      if (status === 'queued') {
        // A row taken over unchanged keeps its record as sent: only changed rows go to BHXH again.
        const links = await sendRowsInTx(tx, list, rows.filter((row) => row.status === 'queued'), client);
        const transferOf = new Map(links.map((link) => [link.position, link.transferId]));
        if (transferOf.size > 0) rows = rows.map((row) => (transferOf.has(row.position) ? { ...row, transferId: transferOf.get(row.position) ?? null } : row));
      }
      await insertListInTx(tx, list, rows);
      appendAuditEventInTx(tx, {
        actor: client.id, action: 'pupil-list.received', toStatus: status, payloadSha256: contentSha256,
        details: { listId, maTinh, rows: rows.length, valid, invalid, ...(earlier && { replaces: earlier.listId }) },
      });
      if (earlier) {
        await markReplacedInTx(tx, earlier.listId, listId);
        appendAuditEventInTx(tx, {
          actor: client.id, action: 'pupil-list.replaced', fromStatus: earlier.status, toStatus: 'replaced',
          details: { listId: earlier.listId, maTinh: earlier.maTinh, replacedBy: listId },
        });
        await withdrawDroppedRowsInTx(tx, earlierRows, kept, { actor: client.id, listId: earlier.listId, replacedBy: listId });
      }
      return { statusCode: 202 as const, answer };
    }, { locks: [`pupil-list-period:${upload.kyKeKhai}`, `pupil-list-key:${client.id}:${upload.idempotencyKey}`] });
  }

  private async repeatedUpload(db: Queryable, client: ApiClient, key: string, contentSha256: string) {
    const existing = await findListByIdempotencyKey(db, client.id, key);
    if (!existing) return null;
    if (existing.contentSha256 !== contentSha256) {
      throw new GatewayError('DUPLICATE_MESSAGE', 'This Idempotency-Key was already used with a different list', [
        { path: '', code: 'IDEMPOTENCY_KEY_REUSED', message: 'send a new list with a new Idempotency-Key' },
      ]);
    }
    return { statusCode: 200 as const, answer: existing.answer as ListAnswer };
  }

  private async visibleList(client: ApiClient, listId: string): Promise<StoredList> {
    const list = await findList(this.deps.db, listId);
    if (!list || !maySee(client, list)) throw notFound();
    return list;
  }

  /** The list and one page of its rows in file order. */
  async read(client: ApiClient, listId: string, page: { limit: number; cursor?: string | undefined }): Promise<ListView> {
    const list = await this.visibleList(client, listId);
    // The door lets only digits through: the position of the last row of the page before.
    const after = page.cursor === undefined ? -1 : Number(page.cursor);
    const rows = await listRowsPage(this.deps.db, listId, after, page.limit);
    const last = rows.at(-1);
    return {
      listId: list.listId, status: list.status, replacedBy: list.replacedBy, maTinh: list.maTinh, maDonVi: list.maDonVi, tenDonVi: list.tenDonVi,
      kyKeKhai: list.kyKeKhai, format: list.format, rows: list.rowCount, valid: list.validCount, invalid: list.invalidCount,
      createdAt: list.createdAt, updatedAt: list.updatedAt,
      items: rows.map((row) => rowView(row, list.status)),
      nextCursor: rows.length === page.limit && last ? String(last.position) : null,
    };
  }

  /** The list back in the form's 17 columns, column Q holding each row's note. */
  file(client: ApiClient, listId: string, type: ListFileType): Promise<Buffer> {
    return this.wholeListJobs.run(() => this.fileNow(client, listId, type));
  }

  private async fileNow(client: ApiClient, listId: string, type: ListFileType): Promise<Buffer> {
    const list = await this.visibleList(client, listId);
    const rows = await allRows(this.deps.db, listId);
    // The writers match notes to rows by STT. Rows sharing one are all invalid for it; they show the
    // distinct notes of the first few of them, so thousands of rows sharing an STT do not each carry all.
    const notesByStt = new Map<number, string[]>();
    for (const row of rows) {
      const note = noteFor({ ...row, status: rowStatusOf(row, list.status) });
      const sharing = notesByStt.get(row.stt);
      if (!sharing) notesByStt.set(row.stt, [note]);
      else if (sharing.length < MAX_NOTES_PER_STT && !sharing.includes(note)) sharing.push(note);
    }
    const notes = new Map([...notesByStt].map(([stt, sharing]) => [stt, sharing.join(' ')]));
    const annotated = {
      header: { tenDonVi: list.tenDonVi ?? undefined, maDonVi: list.maDonVi, kyKeKhai: list.kyKeKhai },
      rows: rows.map((row) => row.row),
      notes,
      rowsToFix: new Set(rows.filter((row) => ['invalid', 'returned'].includes(rowStatusOf(row, list.status))).map((row) => row.stt)),
    };
    return type === 'csv' ? writeD03Csv(annotated) : writeD03Xlsx(annotated);
  }

  /**
   * Replaces fields of one row (the first with that STT) and checks the whole list again, so a
   * duplicate fixed on one row clears the other row too. While the list is `checked` any row may be
   * corrected; once `queued`, only the rows left invalid and those BHXH returned, since the others are
   * BHXH's. A row of a sent list that now passes goes to BHXH at once (sendRowsInTx).
   */
  correctRow(client: ApiClient, listId: string, stt: number, fields: Partial<D03Row>): Promise<ListRowView & { list: ListAnswerSummary }> {
    return this.wholeListJobs.run(() => this.correctRowNow(client, listId, stt, fields));
  }

  private async correctRowNow(client: ApiClient, listId: string, stt: number, fields: Partial<D03Row>): Promise<ListRowView & { list: ListAnswerSummary }> {
    schoolOf(client);
    refuseUnstorableText(fields);
    const today = this.today();
    const { kyKeKhai } = await this.visibleList(client, listId);
    // The period's lock, as an upload takes it: a person corrected in cannot slip onto another list meanwhile.
    return this.deps.db.transaction(async (tx) => {
      await withListJobTimeout(tx);
      const list = await lockList(tx, listId);
      refuseChange(client, list);
      refuseReplaced(list);
      const rows = await allRows(tx, listId);
      const found = rows.findIndex((row) => row.stt === stt);
      if (found < 0) throw new GatewayError('NOT_FOUND', `The list has no row with STT ${stt}`);
      // Its record locked, so a replay or claim cannot move it between this read and the change decided on it.
      const target = (await lockRecordsOfRowsInTx(tx, [rows[found] as StoredRow]))[0] as StoredRow;
      rows[found] = target;
      // Once the list is sent, a row BHXH returned may be corrected too: it goes out again in its own transfer.
      const returned = target.bhxh?.status === 'returned';
      const sentBefore = (row: StoredRow) => list.status === 'queued' && row.status === 'queued' && !(row === target && returned);
      if (list.status === 'queued' && target.status !== 'invalid' && !returned) {
        throw new GatewayError('INVALID_STATE', 'This row is valid and the list is sent: it waits for BHXH and cannot be changed', [
          { path: '/stt', code: 'ROW_SENT', message: 'only rows left invalid or returned by BHXH may be corrected once the list is sent' },
        ]);
      }
      // A sent row's STT names its record at BHXH (MA_HO_SO `<listId>:<stt>`): it keeps it.
      if (target.transferId !== null && fields.stt !== undefined && fields.stt !== target.stt) {
        throw new GatewayError('INVALID_STATE', 'This row was sent to BHXH under its STT, which can no longer change', [
          { path: '/stt', code: 'ROW_SENT', message: 'correct the other fields; the STT stays' },
        ]);
      }
      const corrected: D03Row = { ...target.row, ...fields };
      for (const [field, value] of Object.entries(fields)) if (value === null) delete (corrected as unknown as Record<string, unknown>)[field];
      const rowsNow = rows.map((row) => (row === target ? corrected : row.row));
      // A corrected row's values are the school's now: what the reader could not take of them is gone.
      const readProblemsOf = rows.map((row) => (row === target ? [] : row.readProblems));
      const listed = await listedPersonKeys(tx, list.kyKeKhai, personKeysOf(rowsNow), listId);
      const rechecked = flagAlreadyListed(evaluate(rowsNow, readProblemsOf, list.kyKeKhai, today, this.deps.catalogues), listed, list.kyKeKhai)
        .map((row, index) => ({ ...row, transferId: rows[index]?.transferId ?? null }));

      // In a sent list, a valid row stays as it was sent; only invalid rows may change outcome.
      const changed = rechecked.filter((row, index) => {
        const before = rows[index] as StoredRow;
        if (sentBefore(before)) return false;
        return row.position === target.position || row.status !== before.status || JSON.stringify(row.problems) !== JSON.stringify(before.problems);
      });
      await updateRowsInTx(tx, listId, list.kyKeKhai, changed);
      const statuses = rechecked.map((row, index) => (sentBefore(rows[index] as StoredRow) ? 'queued' : row.status));
      const valid = statuses.filter((status) => status === 'queued').length;
      const invalid = statuses.length - valid;
      const status: ListStatus = list.status === 'queued' || invalid === 0 ? 'queued' : 'checked';
      await updateListInTx(tx, listId, status, valid, invalid);
      const after = rechecked[target.position] as RowToStore;
      if (list.status === 'queued') {
        // The correction may make other rows valid too (a duplicate gone): they leave with it, or never would.
        const becameValid = changed.filter((row) => row.status === 'queued' && row.position !== target.position && rows[row.position]?.status === 'invalid');
        const links = await sendRowsInTx(tx, list, becameValid, client);
        if (after.status === 'queued') links.push(...await sendRowsInTx(tx, list, [after], client, { resendUnchanged: true }));
        await setRowTransfersInTx(tx, listId, links);
      } else if (status === 'queued') {
        // The last invalid row fixed: the list is whole and leaves as a send would send it.
        await setRowTransfersInTx(tx, listId, await sendRowsInTx(tx, list, rechecked.filter((row) => row.status === 'queued'), client));
        appendAuditEventInTx(tx, {
          actor: client.id, action: 'pupil-list.sent', fromStatus: list.status, toStatus: 'queued',
          details: { listId, maTinh: list.maTinh, rows: rechecked.length, valid, invalid },
        });
      }
      appendAuditEventInTx(tx, {
        actor: client.id, action: 'pupil-list.row-corrected', fromStatus: list.status, toStatus: status,
        details: { listId, maTinh: list.maTinh, stt, rowStatus: after.status, codes: after.problems.map((problem) => problem.code), valid, invalid },
      });
      return { ...rowView(await rowAt(tx, listId, target.position) as StoredRow, status), list: { listId, status, rows: rechecked.length, valid, invalid } };
    }, { locks: [`pupil-list-period:${kyKeKhai}`] });
  }

  /**
   * The list becomes `queued`, its valid rows leaving for BHXH in the same transaction; with invalid
   * rows only when the school says to send the valid ones alone.
   */
  send(client: ApiClient, listId: string, validOnly: boolean): Promise<ListAnswerSummary> {
    return this.wholeListJobs.run(() => this.sendNow(client, listId, validOnly));
  }

  private async sendNow(client: ApiClient, listId: string, validOnly: boolean): Promise<ListAnswerSummary> {
    schoolOf(client);
    return this.deps.db.transaction(async (tx) => {
      await withListJobTimeout(tx);
      const list = await lockList(tx, listId);
      refuseChange(client, list);
      refuseReplaced(list);
      const summary = { listId, status: 'queued' as const, rows: list.rowCount, valid: list.validCount, invalid: list.invalidCount };
      if (list.status === 'queued') return summary;
      if (list.validCount === 0) throw new GatewayError('INVALID_STATE', 'No row of the list is valid: correct the rows first');
      if (list.invalidCount > 0 && !validOnly) {
        throw new GatewayError('INVALID_STATE', `${list.invalidCount} rows are invalid: correct them, or send with validOnly to send the valid rows alone`);
      }
      await updateListInTx(tx, listId, 'queued', list.validCount, list.invalidCount);
      const rows = await allRows(tx, listId);
      // Rows a replaced list handed on keep their records as sent, unless they changed.
      await setRowTransfersInTx(tx, listId, await sendRowsInTx(tx, list, rows.filter((row) => row.status === 'queued'), client));
      appendAuditEventInTx(tx, {
        actor: client.id, action: 'pupil-list.sent', fromStatus: list.status, toStatus: 'queued',
        details: { listId, maTinh: list.maTinh, rows: list.rowCount, valid: list.validCount, invalid: list.invalidCount },
      });
      return summary;
    });
  }
}

export type ListAnswerSummary = Omit<ListAnswer, 'errors' | 'warnings'>;
