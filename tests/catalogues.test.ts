import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Catalogues } from '../src/catalogues/catalogues.js';
import { FacilityCatalogue } from '../src/catalogues/facility-catalogue.js';
import { holidayCalendarFromData, holidayCalendarFromFile } from '../src/catalogues/holiday-catalogue.js';
import { UnitCatalogue } from '../src/catalogues/unit-catalogue.js';
import { loadConfig } from '../src/config.js';
import { addDays, mustParseCalendarDate, toIsoDate } from '../src/domain/calendar-date.js';
import { StartupError } from '../src/startup-error.js';
import { khaiSinh } from './support/fixtures.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

const run = promisify(execFile);
const config = loadConfig({});
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempCopies() {
  const dir = mkdtempSync(join(tmpdir(), 'lienthong-catalogues-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const files = { units: join(dir, 'units.json'), facilities: join(dir, 'facilities.json'), holidays: join(dir, 'holidays.json') };
  copyFileSync(config.unitsFile, files.units);
  copyFileSync(config.facilitiesFile, files.facilities);
  copyFileSync(config.holidaysFile, files.holidays);
  return { dir, files };
}

describe('unit lists', () => {
  const catalogue = UnitCatalogue.fromData({
    lists: [
      { name: 'old', validFrom: '2004-01-01', validUntil: '2025-06-30', provinces: [
        { code: '02', name: 'Hà Giang', districts: [{ code: '024', name: 'TP Hà Giang', communes: [{ code: '00688', name: 'P. Quang Trung' }] }] },
        { code: '08', name: 'Tuyên Quang' },
      ] },
      { name: 'new', validFrom: '2025-07-01', provinces: [{ code: '08', name: 'Tuyên Quang', communes: [{ code: '02215', name: 'P. Minh Xuân' }] }] },
    ],
  });
  const on = (year: number, month: number, day: number) => ({ year, month, day });

  it.each([
    ['a district and commune of a list with districts', { maTinh: '02', maHuyen: '024', maXa: '00688' }, on(2024, 5, 1), []],
    ['an unknown district of a list with districts', { maTinh: '02', maHuyen: '099', maXa: '00688' }, on(2024, 5, 1), ['/p/maHuyen']],
    ['a commune not under a province that lists its communes', { maTinh: '02', maXa: '99999' }, on(2024, 5, 1), ['/p/maXa']],
    ['any well-shaped commune of a province listing none', { maTinh: '08', maXa: '12345' }, on(2024, 5, 1), []],
    ['a province merged away once the new list is in force', { maTinh: '02', maXa: '00688' }, on(2025, 7, 1), ['/p/maTinh']],
    ['a commune of a list without districts', { maTinh: '08', maXa: '02215' }, on(2025, 7, 1), []],
    ['an unknown commune of a list without districts', { maTinh: '08', maXa: '02216' }, on(2025, 7, 1), ['/p/maXa']],
    ['a date before any list', { maTinh: '08', maXa: '02215' }, on(2003, 1, 1), ['/p']],
  ])('checks %s', (_name, place, date, paths) => {
    expect(catalogue.checkPlace(place, date, '/p').map((problem) => problem.path)).toEqual(paths);
  });

  it('ships the 63-province list until 2025-06-30 and the 34-province list from 2025-07-01', () => {
    const shipped = UnitCatalogue.fromFile(config.unitsFile);
    expect(shipped.hasProvince('02', on(2025, 6, 30))).toBe(true);
    expect(shipped.hasProvince('02', on(2025, 7, 1))).toBe(false);
    expect(shipped.hasProvince('08', on(2025, 7, 1))).toBe(true);
  });
});

describe('facility list', () => {
  it('checks a code against its province\'s list, and only the shape where none is listed', () => {
    const facilities = FacilityCatalogue.fromData({ facilities: [{ code: '08001', name: 'BV tỉnh' }, { code: '08C51', name: 'TYT' }] });
    expect(facilities.check('08001', '/x')).toEqual([]);
    expect(facilities.check('08C51', '/x')).toEqual([]);
    expect(facilities.check('08002', '/x')).toEqual([expect.objectContaining({ path: '/x', code: 'FACILITY_UNKNOWN' })]);
    expect(facilities.check('01001', '/x')).toEqual([]);
  });

  it('refuses a malformed code in the file itself', () => {
    expect(() => FacilityCatalogue.fromData({ facilities: [{ code: '8001', name: 'x' }] })).toThrow(/5 characters/);
  });
});

describe('holidays file', () => {
  const shipped = holidayCalendarFromFile(config.holidaysFile);
  const weekdaysOff = (from: string, until: string) => {
    const off: string[] = [];
    for (let day = mustParseCalendarDate(from); toIsoDate(day) <= until; day = addDays(day, 1)) {
      const weekday = new Date(Date.UTC(day.year, day.month - 1, day.day)).getUTCDay();
      if (weekday !== 0 && weekday !== 6 && !shipped.isWorkingDay(day)) off.push(toIsoDate(day));
    }
    return off;
  };

  it.each([2024, 2025, 2026, 2027])('ships %i: the fixed holidays off, five weekdays of Tết and two of Quốc khánh', (year) => {
    for (const fixed of ['01-01', '04-30', '09-02']) {
      const date = mustParseCalendarDate(`${year}-${fixed}`);
      const weekday = new Date(Date.UTC(date.year, date.month - 1, date.day)).getUTCDay();
      if (weekday !== 0 && weekday !== 6) expect(shipped.isWorkingDay(date), `${year}-${fixed}`).toBe(false);
    }
    expect(weekdaysOff(`${year}-01-15`, `${year}-02-28`)).toHaveLength(5);
    // 2 September and the day before or after it, each a weekday in these years.
    expect(weekdaysOff(`${year}-08-31`, `${year}-09-04`)).toHaveLength(2);
  });

  it('refuses a file with every problem named, so it is fixed in one pass', () => {
    const load = () => holidayCalendarFromData({
      daysOff: [
        { date: '2025-02-30', name: 'not a day', source: 'x' },
        { date: '30.04.2025', name: 'another format', source: 'x' },
        { date: '2025-05-01', name: 'Quốc tế Lao động', source: 'x' },
        { date: '2025-05-01', name: 'Quốc tế Lao động', source: 'x' },
        { date: '2025-09-02', name: 'Quốc khánh', source: ' ' },
        { date: '2025-04-26', name: 'both', source: 'x' },
      ],
      makeUpWorkingDays: [{ date: '2025-04-28', name: 'a Monday', source: 'x' }, { date: '2025-04-26', name: 'both', source: 'x' }],
    });
    expect(load).toThrow(/daysOff\[0\]: "date" must be a real day/);
    expect(load).toThrow(/daysOff\[1\]: "date" must be a real day/);
    expect(load).toThrow(/daysOff\[3\]: 2025-05-01 is listed twice/);
    expect(load).toThrow(/daysOff\[4\] \(2025-09-02\): "source" must be a non-empty text/);
    expect(load).toThrow(/2025-04-28 is a weekday/);
    expect(load).toThrow(/2025-04-26 is both a day off and a make-up working day/);
    expect(() => holidayCalendarFromData({ daysOff: [] })).toThrow(/"makeUpWorkingDays" must be a list/);
  });

  it('stops the start with one line naming the file when it is not valid', () => {
    const { files } = tempCopies();
    writeFileSync(files.holidays, JSON.stringify({ daysOff: [{ date: '2026-02-30', name: 'x', source: 'x' }], makeUpWorkingDays: [] }));
    const start = () => Catalogues.fromFiles(files);
    expect(start).toThrow(StartupError);
    expect(start).toThrow(`${files.holidays}: the holidays file is not valid: daysOff[0]: "date" must be a real day written YYYY-MM-DD, got "2026-02-30"`);
  });
});

describe('reloading without a restart', () => {
  async function gatewayOn(files: { units: string; facilities: string; holidays?: string }): Promise<{ gateway: TestGateway; catalogues: Catalogues }> {
    const catalogues = Catalogues.fromFiles(files);
    const gateway = await startTestGateway({ catalogues, now: () => new Date('2026-11-30T03:00:00Z') });
    cleanups.push(() => gateway.close());
    return { gateway, catalogues };
  }
  const push = (gateway: TestGateway, noiDangKyKCB: string) =>
    gateway.request('registry08', {
      method: 'POST', url: '/ngsp/v1/khai-sinh',
      payload: khaiSinh({ bhyt: { noiDangKyKCB, nguoiGiamHoTheo: 'me', hinhThucNhanThe: 'buu_chinh' } }),
    });

  it('applies a new facility list on POST /ops/v1/catalogues/reload, and keeps the old on a broken file', async () => {
    const { files } = tempCopies();
    const { gateway } = await gatewayOn(files);
    expect((await push(gateway, '08002')).statusCode).toBe(202);

    writeFileSync(files.facilities, JSON.stringify({ facilities: [{ code: '08001', name: 'Bệnh viện Đa khoa tỉnh' }] }));
    const reload = await gateway.request('operator', { method: 'POST', url: '/ops/v1/catalogues/reload' });
    expect(reload.statusCode).toBe(200);
    expect(reload.json()).toMatchObject({ reloaded: true, facilities: 1 });
    const refused = await push(gateway, '08002');
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error.details).toEqual([expect.objectContaining({ path: '/bhyt/noiDangKyKCB', code: 'FACILITY_UNKNOWN' })]);
    expect((await push(gateway, '08001')).statusCode).toBe(202);

    writeFileSync(files.facilities, '{"facilities": [');
    const broken = await gateway.request('operator', { method: 'POST', url: '/ops/v1/catalogues/reload' });
    expect(broken.statusCode).toBe(400);
    expect((await push(gateway, '08002')).statusCode).toBe(400);
  });

  it('counts the backlog with a holidays file reloaded, and keeps the days in use on a broken one', async () => {
    const { files } = tempCopies();
    const { gateway } = await gatewayOn(files);
    const deadline = async () => (await gateway.request('operator', { method: 'GET', url: '/ops/v1/reports/backlog' })).json().deadline;
    expect(await deadline()).toBe('2026-11-20T15:00:00+07:00');

    // Friday 27.11.2026 declared a day off: on Monday 30.11 the limit reaches a working day further back.
    const days = JSON.parse(readFileSync(files.holidays, 'utf8'));
    days.daysOff.push({ date: '2026-11-27', name: 'a day off for the test', source: 'this test' });
    writeFileSync(files.holidays, JSON.stringify(days));
    expect((await gateway.request('operator', { method: 'POST', url: '/ops/v1/catalogues/reload' })).statusCode).toBe(200);
    expect(await deadline()).toBe('2026-11-19T15:00:00+07:00');

    writeFileSync(files.holidays, '{"daysOff": [');
    const broken = await gateway.request('operator', { method: 'POST', url: '/ops/v1/catalogues/reload' });
    expect(broken.statusCode).toBe(400);
    expect(broken.json().error.message).toContain(files.holidays);
    expect(await deadline()).toBe('2026-11-19T15:00:00+07:00');
  });

  it('picks up a list refreshed by the import command while running', async () => {
    const { dir, files } = tempCopies();
    const { gateway, catalogues } = await gatewayOn(files);
    catalogues.watch(pino({ level: 'silent' }));
    cleanups.push(() => catalogues.close());
    expect((await push(gateway, '08002')).statusCode).toBe(202);

    const csv = join(dir, 'cskcb.csv');
    writeFileSync(csv, 'ma,ten\n08001,Bệnh viện Đa khoa tỉnh Tuyên Quang\n08C51,Trạm y tế phường Minh Xuân\n');
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/catalogues/import-cli.ts', 'facilities', '--csv', csv, '--file', files.facilities]);
    expect(stdout).toMatch(/2 facilities/);
    await vi.waitFor(async () => expect((await push(gateway, '08002')).statusCode).toBe(400), { timeout: 5000, interval: 50 });
    expect((await push(gateway, '08C51')).statusCode).toBe(202);
  });

  it('follows lists mounted from a Kubernetes ConfigMap, whose update swaps the hidden ..data symlink', async () => {
    const mount = mkdtempSync(join(tmpdir(), 'lienthong-configmap-'));
    cleanups.push(() => rmSync(mount, { recursive: true, force: true }));
    const generation = (name: string, facilities: Array<{ code: string; name: string }>) => {
      mkdirSync(join(mount, name));
      copyFileSync(config.unitsFile, join(mount, name, 'units.json'));
      copyFileSync(config.holidaysFile, join(mount, name, 'holidays.json'));
      writeFileSync(join(mount, name, 'facilities.json'), JSON.stringify({ facilities }));
    };
    generation('..2026_11_29_01', []);
    symlinkSync('..2026_11_29_01', join(mount, '..data'));
    const files = { units: join(mount, 'units.json'), facilities: join(mount, 'facilities.json'), holidays: join(mount, 'holidays.json') };
    for (const file of Object.values(files)) symlinkSync(join('..data', file.slice(mount.length + 1)), file);
    const catalogues = Catalogues.fromFiles(files);
    catalogues.watch(pino({ level: 'silent' }));
    cleanups.push(() => catalogues.close());
    expect(catalogues.facilities.size).toBe(0);

    generation('..2026_11_29_02', [{ code: '08C51', name: 'Trạm y tế phường Minh Xuân' }]);
    symlinkSync('..2026_11_29_02', join(mount, '..data_tmp'));
    renameSync(join(mount, '..data_tmp'), join(mount, '..data'));
    await vi.waitFor(() => expect(catalogues.facilities.size).toBe(1), { timeout: 5000, interval: 50 });
  });

  it('imports a unit list from CSV, ending the list before it', async () => {
    const { dir, files } = tempCopies();
    const csv = join(dir, 'dvhc.csv');
    writeFileSync(csv, 'maTinh,tenTinh,maXa,tenXa\n08,Tuyên Quang,02215,Phường Minh Xuân\n');
    await run(process.execPath, ['--import', 'tsx', 'src/catalogues/import-cli.ts', 'units', '--csv', csv, '--name', 'test', '--valid-from', '2030-01-01', '--file', files.units]);
    const units = UnitCatalogue.fromFile(files.units);
    expect(units.hasProvince('01', { year: 2029, month: 12, day: 31 })).toBe(true);
    expect(units.hasProvince('01', { year: 2030, month: 1, day: 1 })).toBe(false);
    expect(units.checkPlace({ maTinh: '08', maXa: '02216' }, { year: 2030, month: 1, day: 1 }, '')).toHaveLength(1);
  });
});
