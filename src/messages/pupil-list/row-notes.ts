/**
 * Column Q ("Ghi chú") of a list sent back: what a school's clerk reads beside each row, in
 * Vietnamese. The API's problems keep their English messages for the developers who call it; the
 * note names the column by the form's own header and says the problem in a school's words, with
 * the stable code in brackets so a clerk and the help desk can speak of the same thing.
 */
import { D03_COLUMNS, type RowProblem } from './d03-row.js';
import type { RowAtBhxh } from './list-store.js';

const COLUMN_OF = new Map<string, string>([...D03_COLUMNS.map((column) => [`/${column.field}`, column.header] as const), ['/lop', 'Lớp']]);

const IN_WORDS: Record<string, string> = {
  REQUIRED: 'chưa có, cần điền',
  MAXLENGTH: 'quá dài',
  PATTERN: 'không đúng dạng',
  FORMAT: 'không đúng dạng (ngày dd/MM/yyyy, tháng MM/yyyy)',
  DATE_IN_FUTURE: 'là ngày sau hôm nay',
  AGE_IMPLAUSIBLE: 'tuổi không phù hợp với học sinh, sinh viên',
  ENUM: 'chỉ ghi Nam hoặc Nữ',
  PERSONAL_NUMBER_MISMATCH: 'số định danh không khớp với năm sinh hoặc giới tính',
  BHXH_NUMBER_ONLY: 'nên bổ sung số định danh cá nhân (chỉ có mã số BHXH vẫn được nhận)',
  FACILITY_UNKNOWN: 'mã cơ sở KCB không có trong danh mục của tỉnh',
  TYPE: 'kiểu giá trị không đúng',
  MINIMUM: 'không được là số âm',
  OUTSIDE_SCHOOL_YEAR: 'không thuộc năm học của kỳ kê khai',
  PAID_MONTHS_INVALID: 'số tháng đóng chỉ được là 3, 6 hoặc 12',
  GRADE_INVALID: 'lớp phải từ 1 đến 12, hoặc SV1 đến SV6, SVCUOI',
  PERIOD_EMPTY: 'các tháng đóng không cấp được thẻ (thẻ trẻ dưới 6 tuổi hoặc thẻ trước còn hạn)',
  DUPLICATE_PERSON: 'trùng người với dòng khác của danh sách',
  DUPLICATE_STT: 'trùng STT với dòng khác',
  ALREADY_LISTED: 'người này đã có trong danh sách khác của cùng kỳ',
  NOT_A_NUMBER: 'phải là số nguyên, chỉ gồm chữ số',
  NOT_A_DATE: 'ô số không phải là ngày',
  NOT_A_CODE: 'mã nhập vào ô số không đúng',
  FORMULA_WITHOUT_VALUE: 'công thức chưa được tính, hãy lưu lại tệp trong Excel',
  CELL_ERROR: 'ô đang báo lỗi (#N/A, #REF!…)',
  ADDITIONALPROPERTIES: 'mẫu D03-TS không có cột này',
  INVALID_TEXT: 'có ký tự không hợp lệ (ký tự điều khiển hoặc lỗi mã hoá), hãy gõ lại',
  ALREADY_WITH_BHXH: 'BHXH đã nhận dòng gửi trước của người này, phần sửa không được gửi lại',
};

// The duplicate's message names the other rows; the note keeps them, since the clerk must find them.
const OTHER_ROWS = /on row (.+) of this list/;

function inWords(problem: RowProblem): string {
  const column = COLUMN_OF.get(problem.path) ?? problem.path.replace(/^\//, '');
  let words = IN_WORDS[problem.code] ?? problem.message;
  const others = problem.code === 'DUPLICATE_PERSON' ? OTHER_ROWS.exec(problem.message)?.[1] : undefined;
  if (others) words = `trùng người với dòng ${others.replace(' and ', ' và ').replace(' more', ' dòng nữa')}`;
  return `${column ? `${column}: ` : ''}${words} (${problem.code})`;
}

const ddMMyyyy = (iso: string) => `${iso.slice(8, 10)}/${iso.slice(5, 7)}/${iso.slice(0, 4)}`;

export interface NotedRow {
  /** Invalid, waiting to be sent, or where its transfer to BHXH is. */
  status: string;
  /** Once sent: the card BHXH issued, or BHXH's errors. */
  bhxh?: RowAtBhxh | null;
  problems: readonly RowProblem[];
  warnings: readonly RowProblem[];
  /** ISO dates; valid rows only. */
  cardFrom: string | null;
  cardTo: string | null;
}

const yyyyMMdd = (text: string) => `${text.slice(6, 8)}/${text.slice(4, 6)}/${text.slice(0, 4)}`;

/**
 * A row to correct lists what to correct; a row BHXH answered says what it said (its errors, or the
 * card issued); a valid row says it waits to be sent or for BHXH, with its card's dates.
 */
export function noteFor(row: NotedRow): string {
  const warnings = row.warnings.length > 0 ? ` Lưu ý: ${row.warnings.map(inWords).join('; ')}.` : '';
  if (row.status === 'invalid') return `Cần sửa: ${row.problems.map(inWords).join('; ')}.${warnings}`;
  const issued = row.bhxh?.card;
  if (row.status === 'issued' && issued?.maThe && issued.gtTheTu && issued.gtTheDen) {
    return `Đã cấp thẻ ${issued.maThe} từ ${yyyyMMdd(issued.gtTheTu)} đến ${yyyyMMdd(issued.gtTheDen)}`;
  }
  if (row.status === 'returned') {
    const errors = (row.bhxh?.errors ?? []).map((error) => (error.MO_TA ? `${error.MO_TA} (${error.MA_LOI})` : error.MA_LOI));
    return `BHXH trả lại, cần sửa: ${errors.join('; ') || 'không ghi lý do'}.`;
  }
  if (row.status === 'sending' || row.status === 'sent') return 'Đã gửi BHXH, chờ kết quả.';
  if (row.status === 'failed') return 'Chưa gửi được tới BHXH, sẽ gửi lại.';
  if (row.status === 'withdrawn') return 'Không gửi BHXH: danh sách thay thế không còn dòng này.';
  const card = row.cardFrom && row.cardTo ? `, thẻ BHYT từ ${ddMMyyyy(row.cardFrom)} đến ${ddMMyyyy(row.cardTo)}` : '';
  return `Hợp lệ, chờ gửi BHXH${card}.${warnings}`;
}
