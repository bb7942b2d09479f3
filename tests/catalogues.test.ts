import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Catalogues } from '../src/catalogues/catalogues.js';
import { FacilityCatalogue } from '../src/catalogues/facility-catalogue.js';
import { UnitCatalogue } from '../src/catalogues/unit-catalogue.js';
import { loadConfig } from '../src/config.js';
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
  const files = { units: join(dir, 'units.json'), facilities: join(dir, 'facilities.json') };
  copyFileSync(config.unitsFile, files.units);
  copyFileSync(config.facilitiesFile, files.facilities);
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

describe('reloading without a restart', () => {
  async function gatewayOn(files: { units: string; facilities: string }): Promise<{ gateway: TestGateway; catalogues: Catalogues }> {
    const catalogues = Catalogues.fromFiles(files);
    const gateway = await startTestGateway({ catalogues });
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
