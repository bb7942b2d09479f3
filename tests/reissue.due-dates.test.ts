import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { holidayCalendarFromFile } from '../src/catalogues/holiday-catalogue.js';
import { toIsoDate } from '../src/domain/calendar-date.js';
import type { LyDoCapLai } from '../src/domain/documents.js';
import { hanTraOf } from '../src/messages/reissue/due-date.js';
import { khaiSinh } from './support/fixtures.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { capLaiThe, thayDoiThongTin } from './support/reissue-fixtures.js';

/**
 * hanTra (docs/DOMAIN.md, "Card re-issue and change"): the same working day for a lost or damaged
 * card, 3 working days for a change, counted from the day received, or the next working day after
 * 15:00 or on a day off; with the shipped holidays (catalogues/holidays.json).
 */

/** An instant written as Vietnam's wall clock reads it. */
const at = (local: string) => new Date(`${local}+07:00`);
const calendar = holidayCalendarFromFile('catalogues/holidays.json');
const due = (local: string, lyDo: LyDoCapLai) => toIsoDate(hanTraOf(calendar, at(local), lyDo));

describe('hanTra, counted', () => {
  const cases: Array<[string, string, LyDoCapLai, string]> = [
    ['a Thursday morning: the same day', '2025-03-20T10:00:00', 'mat', '2025-03-20'],
    ['a damaged card likewise', '2025-03-20T10:00:00', 'hong', '2025-03-20'],
    ['a change: 3 working days on', '2025-03-20T10:00:00', 'thay_doi_thong_tin', '2025-03-25'],
    ['a Friday at 14:59: still that day', '2025-03-21T14:59:59', 'mat', '2025-03-21'],
    ['a Friday at 15:00: past the cut-off and over the weekend', '2025-03-21T15:00:00', 'mat', '2025-03-24'],
    ['a change on Friday at 15:00: counted from Monday', '2025-03-21T15:00:00', 'thay_doi_thong_tin', '2025-03-27'],
    ['a Saturday: the Monday', '2025-03-22T09:00:00', 'hong', '2025-03-24'],
    ['a Friday after 15:00 before Giỗ Tổ (Monday 07.04.2025 off): the Tuesday', '2025-04-04T16:00:00', 'mat', '2025-04-08'],
    ['a change then: counted from the Tuesday', '2025-04-04T16:00:00', 'thay_doi_thong_tin', '2025-04-11'],
    ['a change before 30.4–2.5: the three days off and the weekend skipped', '2025-04-29T10:00:00', 'thay_doi_thong_tin', '2025-05-07'],
    ['on the Saturday worked in lieu (26.04.2025): that day', '2025-04-26T10:00:00', 'mat', '2025-04-26'],
    ['on the holiday itself: the next working day', '2025-04-30T10:00:00', 'mat', '2025-05-05'],
  ];
  for (const [name, received, lyDo, expected] of cases) {
    it(`${name}: ${received} ${lyDo} → ${expected}`, () => {
      expect(due(received, lyDo)).toBe(expected);
    });
  }
});

describe('hanTra at the door and in the backlog', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startTestGateway({ now: () => at('2025-04-04T16:00:00') });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it('a request on Friday after 15:00 before a Monday holiday is due Tuesday: answered, stored, sent as HAN_TRA', async () => {
    const response = await gateway.request('reissue08', { method: 'POST', url: '/ngsp/v1/cap-lai-the', payload: capLaiThe() });
    expect(response.statusCode, response.body).toBe(202);
    expect(response.json().hanTra).toBe('2025-04-08');
    const transfer = (await gateway.request('reissue08', { method: 'GET', url: `/ngsp/v1/transfers/${response.json().transferId}` })).json();
    expect(transfer.hanTra).toBe('2025-04-08');
    expect(transfer.bhxhDocument.HAN_TRA).toBe('20250408');
  });
});

describe('the backlog against due dates', () => {
  it('the backlog counts a re-issue late once its own due day has ended, a birth of the same day not', async () => {
    // A gateway of its own: what it counts is only what this test sends.
    let clock = at('2025-06-02T10:00:00');
    const gateway = await startTestGateway({ now: () => clock });
    try {
      const lost = await gateway.request('reissue08', { method: 'POST', url: '/ngsp/v1/cap-lai-the', payload: capLaiThe() });
      const change = await gateway.request('correction08', { method: 'POST', url: '/ngsp/v1/cap-lai-the', payload: thayDoiThongTin() });
      const birth = await gateway.request('registry08', {
        method: 'POST', url: '/ngsp/v1/khai-sinh', payload: khaiSinh({ hoTich: { ngayDangKy: '02.06.2025', nksNgaySinh: '20.05.2025' } }),
      });
      expect([lost.statusCode, change.statusCode, birth.statusCode], birth.body).toEqual([202, 202, 202]);
      expect(change.json().hanTra).toBe('2025-06-05');
      // The database stamps the registration with its own clock: put it on the test's day.
      await gateway.db.query('UPDATE transfers SET created_at = $2 WHERE id = $1', [birth.json().transferId, at('2025-06-02T10:00:00')]);

      const province = async (local: string) => {
        clock = at(local);
        const response = await gateway.request('operator', { method: 'GET', url: '/ops/v1/reports/backlog' });
        expect(response.statusCode).toBe(200);
        return response.json().provinces.find((entry: { maTinh: string }) => entry.maTinh === '08');
      };
      expect(await province('2025-06-02T23:59:00')).toMatchObject({ pastDeadline: 0, pastDueDate: 0 });
      expect(await province('2025-06-03T00:00:00')).toMatchObject({ pastDeadline: 1, pastDueDate: 1 });
      expect(await province('2025-06-06T00:00:00')).toMatchObject({ pastDeadline: 2, pastDueDate: 2 });
      // 5 working days from Monday 02.06 10:00: the birth is due by the end of Monday 09.06.
      expect(await province('2025-06-10T00:00:00')).toMatchObject({ pastDeadline: 3, pastDueDate: 2 });
    } finally {
      await gateway.close();
    }
  });
});
