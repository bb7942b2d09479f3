import { readFileSync } from 'node:fs';
import { packagePath } from '../src/package-files.js';

/**
 * Example requests shown at /docs, one per body. They are real: tests/openapi.test.ts sends each to
 * its route and expects it accepted, so a schema or rule change that would refuse one fails there.
 * The messages are the files of examples/, the ones the README has a newcomer send first.
 */

const example = (file: string): string => readFileSync(packagePath('examples', file), 'utf8');

/** A girl born in Tuyên Quang (08), both parents known, her card posted to her mother. */
export const khaiSinhExample: unknown = JSON.parse(example('khai-sinh.json'));

/** A man born in 1950 who died in Tuyên Quang (08). */
export const khaiTuExample: unknown = JSON.parse(example('khai-tu.json'));

/** A man of Tuyên Quang (08) who lost his card, at a BHXH office of the province. */
export const capLaiTheExample: unknown = JSON.parse(example('cap-lai-the.json'));

/** A one-stop-shop dossier for a birth: it supplies the BHYT part, the declarant's address and a file. */
export const hoSoMotCuaExample: unknown = JSON.parse(example('mot-cua.json'));

/** GuiKhaiSinh carrying another birth: the same fields as at the JSON door, as elements. */
export const soapExample = example('khai-sinh.soap.xml');

export const khaiSinhCorrectionExample = {
  bhyt: { noiDangKyKCB: '08001', hinhThucNhanThe: 'tai_tru_so' },
  hoTich: { nksHoTen: 'Nguyễn Thị Ánh Dương' },
};

export const capLaiTheCorrectionExample = { nguoi: { hoTen: 'Nguyễn Văn Bính' }, hinhThucNhanThe: 'buu_chinh', diaChiNhanThe: 'Số 5, phường Minh Xuân' };

export const leaseExample = { maTinh: '08', loai: 'CAP_THE_TE', max: 100, leaseSeconds: 300 };

export const resultsExample = {
  results: [
    { MA_HO_SO: '0195b4c2-7a10-7000-8000-0000000000a1', KET_QUA: 'OK', MA_SO_BHXH: '0825000123', MA_THE: 'TE1080825000123', GT_THE_TU: '20250301', GT_THE_DEN: '20310930' },
    { MA_HO_SO: '0195b4c2-7a10-7000-8000-0000000000a2', KET_QUA: 'LOI', LOI: [{ MA_LOI: 'TRUNG_NHAN_KHAU', MO_TA: 'Trùng nhân khẩu' }] },
  ],
};

export const replayExample = { reason: 'BHXH corrected its check of guardian names' };

export const bulkReplayExample = { status: 'returned', unit: '08', errorCode: 'TRUNG_NHAN_KHAU', reason: 'BHXH merged the duplicate households', dryRun: true };

export const pauseExample = { maTinh: '08' };
