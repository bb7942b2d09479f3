import type { CapLaiThe } from '../../src/domain/documents.js';
import { clean } from './death-fixtures.js';
import { messageId, personalNumber } from './fixtures.js';

let bhxhSerial = 0;

/** A fresh BHXH number (10 digits, the province first), unique in this process. */
export function maSoBhxh(): string {
  bhxhSerial += 1;
  return `08${String((process.pid * 1000 + bhxhSerial) % 100_000_000).padStart(8, '0')}`;
}

type Overrides = { nguoi?: Partial<Record<keyof CapLaiThe['nguoi'], unknown>> } & Partial<Record<Exclude<keyof CapLaiThe, 'nguoi'>, unknown>>;

/**
 * A valid request to re-issue a lost card in Tuyên Quang (08), at a district office: a man born
 * 12.05.1990 (personal number digit 4 = 0, male 1900–1999, digits 5–6 = 90), named by both his
 * numbers, with his old card. Overrides set to undefined remove a field.
 */
export function capLaiThe(overrides: Overrides = {}): CapLaiThe {
  const { nguoi, ...top } = overrides;
  const bhxh = maSoBhxh();
  return clean({
    messageId: messageId(),
    maCoQuan: '08BHXH071',
    maTinh: '08',
    lyDo: 'mat',
    nguoi: {
      soDinhDanh: personalNumber('008', 90, 0),
      maSoBhxh: bhxh,
      hoTen: 'Nguyễn Văn Bình',
      ngaySinh: '12.05.1990',
      gioiTinh: 1,
      ...nguoi,
    },
    maThe: `GD408${bhxh}`,
    hinhThucNhanThe: 'tai_tru_so',
    ...top,
  }) as CapLaiThe;
}

/** A change of name and facility for the same kind of person: lyDo thay_doi_thong_tin. */
export function thayDoiThongTin(overrides: Overrides = {}): CapLaiThe {
  return capLaiThe({ lyDo: 'thay_doi_thong_tin', thayDoi: { hoTen: 'Nguyễn Văn Bình An', noiDangKyKCB: '08001' }, ...overrides });
}
