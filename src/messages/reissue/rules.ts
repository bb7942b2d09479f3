import { capLaiTheProblems } from '../../../mappings/cap-lai-the.js';
import type { Catalogues } from '../../catalogues/catalogues.js';
import { compareDates, mustParseCalendarDate, type CalendarDate } from '../../domain/calendar-date.js';
import type { CapLaiThe } from '../../domain/documents.js';
import { personalNumberAgrees } from '../../domain/personal-number.js';
import { GatewayError, type ErrorDetail } from '../../errors.js';

/**
 * Rules for card re-issues and changes (docs/DOMAIN.md, "Card re-issue and change") that a schema
 * cannot say: the reason decides whether new values may come; the person is named by personal
 * number or BHXH number; the values the card will carry obey the birth's rules (real dates not in
 * the future, the personal number agreeing with birth date and sex, a facility of the list, a name
 * BHXH can take); the office is one of the province's (its code begins with the province's code).
 * All data errors at once; then the province and a new address against the unit list in force
 * today (UNIT_NOT_CONFIGURED).
 */
export function checkCapLaiThe(doc: CapLaiThe, catalogues: Pick<Catalogues, 'units' | 'facilities'>, today: CalendarDate): void {
  const { nguoi, thayDoi } = doc;
  const problems: ErrorDetail[] = [];
  const problem = (path: string, code: string, message: string) => problems.push({ path, code, message });

  if (doc.lyDo === 'thay_doi_thong_tin' && thayDoi === undefined) {
    problem('/thayDoi', 'REQUIRED', 'a change of information (lyDo thay_doi_thong_tin) must say the new values');
  }
  if (doc.lyDo !== 'thay_doi_thong_tin' && thayDoi !== undefined) {
    problem('/thayDoi', 'NOT_ALLOWED', `a card ${doc.lyDo === 'mat' ? 'lost' : 'damaged'} is re-issued as it was; new values are lyDo thay_doi_thong_tin`);
  }
  if (nguoi.soDinhDanh === undefined && nguoi.maSoBhxh === undefined) {
    problem('/nguoi/soDinhDanh', 'PERSON_UNIDENTIFIED', 'the person needs a personal number (soDinhDanh, preferred) or a BHXH number (maSoBhxh)');
  }

  const born = mustParseCalendarDate(nguoi.ngaySinh);
  if (compareDates(born, today) > 0) problem('/nguoi/ngaySinh', 'DATE_IN_FUTURE', 'the date of birth is after today');
  const newBirth = thayDoi?.ngaySinh === undefined ? undefined : mustParseCalendarDate(thayDoi.ngaySinh);
  if (newBirth !== undefined && compareDates(newBirth, today) > 0) problem('/thayDoi/ngaySinh', 'DATE_IN_FUTURE', 'the new date of birth is after today');
  // The card will carry the new values where there are some: the personal number must agree with those.
  const birth = newBirth ?? born;
  const sex = thayDoi?.gioiTinh ?? nguoi.gioiTinh;
  if (nguoi.soDinhDanh !== undefined && !personalNumberAgrees(nguoi.soDinhDanh, birth, sex)) {
    problem('/nguoi/soDinhDanh', 'PERSONAL_NUMBER_MISMATCH', 'the 4th digit (century and sex) and 5th–6th (year of birth) must agree with the date of birth and sex the card will carry');
  }
  if (doc.maThe !== undefined && nguoi.maSoBhxh !== undefined && !doc.maThe.endsWith(nguoi.maSoBhxh)) {
    problem('/maThe', 'CARD_MISMATCH', 'a card code ends with its holder\'s BHXH number (maSoBhxh)');
  }
  if (!doc.maCoQuan.startsWith(doc.maTinh)) {
    problem('/maCoQuan', 'OFFICE_NOT_OF_PROVINCE', `a BHXH office of province ${doc.maTinh} has a code beginning with ${doc.maTinh}`);
  }
  if (doc.hinhThucNhanThe === 'buu_chinh' && doc.diaChiNhanThe === undefined) {
    problem('/diaChiNhanThe', 'REQUIRED', 'a card sent by post (buu_chinh) needs the address to send it to');
  }
  if (thayDoi?.noiDangKyKCB !== undefined) problems.push(...catalogues.facilities.check(thayDoi.noiDangKyKCB, '/thayDoi/noiDangKyKCB'));
  problems.push(...capLaiTheProblems(doc));
  if (problems.length > 0) throw new GatewayError('VALIDATION_FAILED', 'The CapLaiThe document is not valid', problems);

  const unitProblems: ErrorDetail[] = catalogues.units.hasProvince(doc.maTinh, today)
    ? []
    : [{ path: '/maTinh', code: 'UNIT_NOT_CONFIGURED', message: `province ${doc.maTinh} is not in the unit list in force today` }];
  if (thayDoi?.diaChi !== undefined) unitProblems.push(...catalogues.units.checkPlace(thayDoi.diaChi, today, '/thayDoi/diaChi'));
  if (unitProblems.length > 0) throw new GatewayError('UNIT_NOT_CONFIGURED', undefined, unitProblems);
}
