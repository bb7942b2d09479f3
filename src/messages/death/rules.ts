import { baoGiamProblems } from '../../../mappings/bao-giam.js';
import type { Catalogues } from '../../catalogues/catalogues.js';
import { compareDates, mustParseCalendarDate, type CalendarDate } from '../../domain/calendar-date.js';
import type { KhaiTu } from '../../domain/documents.js';
import { personalNumberAgrees } from '../../domain/personal-number.js';
import { GatewayError, type ErrorDetail } from '../../errors.js';

/** Rules for deaths (docs/DOMAIN.md): dates in order, the person's number agreeing, a name BHXH can take, the unit known. */
export function checkKhaiTu(doc: KhaiTu, catalogues: Pick<Catalogues, 'units'>, today: CalendarDate): void {
  const { hoTich } = doc;
  const registered = mustParseCalendarDate(hoTich.ngayDangKy);
  const born = mustParseCalendarDate(hoTich.nktNgaySinh);
  const died = mustParseCalendarDate(hoTich.nktNgayChet);
  const problems: ErrorDetail[] = [];
  const problem = (path: string, code: string, message: string) => problems.push({ path, code, message });

  if (compareDates(registered, today) > 0) problem('/hoTich/ngayDangKy', 'DATE_IN_FUTURE', 'the registration date is after today');
  if (compareDates(died, today) > 0) problem('/hoTich/nktNgayChet', 'DATE_IN_FUTURE', 'the date of death is after today');
  if (compareDates(died, born) < 0) problem('/hoTich/nktNgayChet', 'DEATH_BEFORE_BIRTH', 'the date of death is before the date of birth');
  if (compareDates(registered, died) < 0) problem('/hoTich/ngayDangKy', 'REGISTERED_BEFORE_DEATH', 'a death cannot be registered before it happened');
  if (hoTich.gbtNgay !== undefined) {
    const notice = mustParseCalendarDate(hoTich.gbtNgay);
    if (compareDates(notice, died) < 0) problem('/hoTich/gbtNgay', 'NOTICE_BEFORE_DEATH', 'the death notice is dated before the death');
    if (compareDates(notice, today) > 0) problem('/hoTich/gbtNgay', 'DATE_IN_FUTURE', 'the death notice is dated after today');
  }
  if (!personalNumberAgrees(hoTich.nktSoDDCN, born, hoTich.nktGioiTinh)) {
    problem('/hoTich/nktSoDDCN', 'PERSONAL_NUMBER_MISMATCH', 'the 4th digit (century and sex) and 5th–6th (year of birth) must agree with nktNgaySinh and nktGioiTinh');
  }
  const { noiDangKy } = hoTich;
  if (doc.maDonVi !== noiDangKy.maXa && doc.maDonVi !== noiDangKy.maHuyen) {
    problem('/maDonVi', 'UNIT_MISMATCH', 'maDonVi must be the commune (maXa) or district (maHuyen) of noiDangKy');
  }
  problems.push(...baoGiamProblems(hoTich));
  if (problems.length > 0) throw new GatewayError('VALIDATION_FAILED', 'The KhaiTu document is not valid', problems);

  const unitProblems = catalogues.units.checkPlace(noiDangKy, registered, '/hoTich/noiDangKy');
  if (unitProblems.length > 0) throw new GatewayError('UNIT_NOT_CONFIGURED', undefined, unitProblems);
}
