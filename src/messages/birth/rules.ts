import { capTheTeProblems } from '../../../mappings/cap-the-te.js';
import type { Catalogues } from '../../catalogues/catalogues.js';
import { addYears, compareDates, mustParseCalendarDate, type CalendarDate } from '../../domain/calendar-date.js';
import type { KhaiSinh } from '../../domain/documents.js';
import { personalNumberAgrees } from '../../domain/personal-number.js';
import { GatewayError, type ErrorDetail } from '../../errors.js';

/**
 * The rules of docs/DOMAIN.md that a schema cannot say, and the names BHXH's card dossier could
 * not carry (its card would otherwise fail at the mapping). Checked in order of what a registry
 * officer can fix: data errors first (all of them at once), then eligibility, then configuration.
 */
export function checkKhaiSinh(doc: KhaiSinh, catalogues: Pick<Catalogues, 'units' | 'facilities'>, today: CalendarDate): void {
  const { hoTich } = doc;
  const registered = mustParseCalendarDate(hoTich.ngayDangKy);
  const born = mustParseCalendarDate(hoTich.nksNgaySinh);
  const problems: ErrorDetail[] = [];
  const problem = (path: string, code: string, message: string) => problems.push({ path, code, message });

  if (compareDates(registered, today) > 0) {
    problem('/hoTich/ngayDangKy', 'DATE_IN_FUTURE', 'the registration date is after today');
  }
  if (compareDates(born, registered) > 0) {
    problem('/hoTich/nksNgaySinh', 'BIRTH_AFTER_REGISTRATION', 'the child is born after the registration date');
  }
  for (const parent of ['me', 'cha'] as const) {
    const parentBirth = hoTich[`${parent}NgaySinh`];
    if (parentBirth !== undefined && compareDates(mustParseCalendarDate(parentBirth), born) >= 0) {
      problem(`/hoTich/${parent}NgaySinh`, 'PARENT_BORN_AFTER_CHILD', 'a parent must be born before the child');
    }
  }
  if (!personalNumberAgrees(hoTich.soDinhDanh, born, hoTich.nksGioiTinh)) {
    problem('/hoTich/soDinhDanh', 'PERSONAL_NUMBER_MISMATCH', 'the 4th digit (century and sex) and 5th–6th (year of birth) must agree with nksNgaySinh and nksGioiTinh');
  }

  // nksLoaiKhaiSinh says which parents are unknown; a record that names one anyway contradicts itself.
  const motherUnknown = [2, 4, 5].includes(hoTich.nksLoaiKhaiSinh);
  const fatherUnknown = [3, 4, 5].includes(hoTich.nksLoaiKhaiSinh);
  if (motherUnknown && hoTich.meHoTen !== undefined) {
    problem('/hoTich/meHoTen', 'CONTRADICTS_LOAI_KHAI_SINH', `nksLoaiKhaiSinh ${hoTich.nksLoaiKhaiSinh} says the mother is unknown`);
  }
  if (fatherUnknown && hoTich.chaHoTen !== undefined) {
    problem('/hoTich/chaHoTen', 'CONTRADICTS_LOAI_KHAI_SINH', `nksLoaiKhaiSinh ${hoTich.nksLoaiKhaiSinh} says the father is unknown`);
  }
  const chosen = doc.bhyt?.nguoiGiamHoTheo;
  if ((chosen === 'me' && hoTich.meHoTen === undefined) || (chosen === 'cha' && hoTich.chaHoTen === undefined)) {
    problem('/bhyt/nguoiGiamHoTheo', 'GUARDIAN_UNKNOWN', `the guardian chosen (${chosen}) is not known in this record`);
  }

  const { noiDangKy } = hoTich;
  if (doc.maDonVi !== noiDangKy.maXa && doc.maDonVi !== noiDangKy.maHuyen) {
    problem('/maDonVi', 'UNIT_MISMATCH', 'maDonVi must be the commune (maXa) or district (maHuyen) of noiDangKy');
  }
  if (doc.bhyt?.noiDangKyKCB) problems.push(...catalogues.facilities.check(doc.bhyt.noiDangKyKCB, '/bhyt/noiDangKyKCB'));
  problems.push(...capTheTeProblems(hoTich));
  if (problems.length > 0) throw new GatewayError('VALIDATION_FAILED', 'The KhaiSinh document is not valid', problems);

  if (compareDates(registered, addYears(born, 6)) >= 0) {
    throw new GatewayError('NOT_ELIGIBLE_AGE', undefined, [
      { path: '/hoTich/nksNgaySinh', code: 'NOT_ELIGIBLE_AGE', message: 'the child was 6 or older on the registration day' },
    ]);
  }

  const unitProblems = catalogues.units.checkPlace(noiDangKy, registered, '/hoTich/noiDangKy');
  if (unitProblems.length > 0) throw new GatewayError('UNIT_NOT_CONFIGURED', undefined, unitProblems);
}
