/**
 * Refreshes a catalogue file from an official list exported as CSV, e.g.
 *   npm run catalogues:import -- units --csv dvhc.csv --name "QĐ 19/2025/QĐ-TTg" --valid-from 2025-07-01
 *   npm run catalogues:import -- facilities --csv cskcb.csv
 * The file is checked by the gateway's own loader and replaced atomically, so a running gateway
 * (which watches it) picks the new list up without a restart, or keeps the old one if it is broken.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse } from 'csv-parse/sync';
import { loadConfig } from '../config.js';
import { addDays, mustParseCalendarDate, parseCalendarDate, toIsoDate } from '../domain/calendar-date.js';
import { FacilityCatalogue } from './facility-catalogue.js';
import { UnitCatalogue, type CatalogueFile, type UnitList } from './unit-catalogue.js';

type Row = Record<string, string>;

/** The first column present among the names an export may use (ours, or the GSO's Vietnamese headers). */
function column(row: Row, names: string[]): string | undefined {
  for (const name of names) {
    const value = row[name]?.trim();
    if (value) return value;
  }
  return undefined;
}

function readCsv(path: string): Row[] {
  return parse(readFileSync(path), { columns: true, bom: true, skip_empty_lines: true, trim: true }) as Row[];
}

function writeAtomically(path: string, data: unknown): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(data, null, 1)}\n`);
  renameSync(temporary, path);
}

type UnitFile = CatalogueFile & { $comment?: string };

function importUnits(csv: string, name: string, validFrom: string, file: string): string {
  if (!parseCalendarDate(validFrom)) throw new Error(`--valid-from must be a date, got "${validFrom}"`);
  const provinces = new Map<string, { code: string; name: string; districts: Map<string, { code: string; name: string; communes: Array<{ code: string; name: string }> }>; communes: Array<{ code: string; name: string }> }>();
  for (const row of readCsv(csv)) {
    const maTinh = column(row, ['maTinh', 'Mã TP', 'Mã tỉnh']);
    const maHuyen = column(row, ['maHuyen', 'Mã QH', 'Mã huyện']);
    const maXa = column(row, ['maXa', 'Mã PX', 'Mã xã']);
    if (!maTinh) continue;
    const province = provinces.get(maTinh) ?? {
      code: maTinh, name: column(row, ['tenTinh', 'Tỉnh Thành Phố', 'Tỉnh / Thành Phố', 'Tên tỉnh']) ?? maTinh,
      districts: new Map(), communes: [] as Array<{ code: string; name: string }>,
    };
    provinces.set(maTinh, province);
    const commune = maXa ? { code: maXa, name: column(row, ['tenXa', 'Phường Xã', 'Tên xã']) ?? maXa } : undefined;
    if (maHuyen) {
      const district = province.districts.get(maHuyen) ?? {
        code: maHuyen, name: column(row, ['tenHuyen', 'Quận Huyện', 'Tên huyện']) ?? maHuyen, communes: [] as Array<{ code: string; name: string }>,
      };
      province.districts.set(maHuyen, district);
      if (commune) district.communes.push(commune);
    } else if (commune) {
      province.communes.push(commune);
    }
  }
  const list: UnitList = {
    name,
    validFrom,
    provinces: [...provinces.values()].map((province) => ({
      code: province.code,
      name: province.name,
      ...(province.districts.size > 0 ? { districts: [...province.districts.values()] } : {}),
      ...(province.communes.length > 0 ? { communes: province.communes } : {}),
    })),
  };
  const current = JSON.parse(readFileSync(file, 'utf8')) as UnitFile;
  const lists = current.lists.filter((existing) => existing.name !== name);
  // The list in force before this one ends the day before it starts.
  for (const existing of lists) {
    if (!existing.validUntil && existing.validFrom < validFrom) existing.validUntil = toIsoDate(addDays(mustParseCalendarDate(validFrom), -1));
  }
  lists.push(list);
  lists.sort((a, b) => (a.validFrom < b.validFrom ? -1 : 1));
  const next = { ...current, lists };
  UnitCatalogue.fromData(next);
  writeAtomically(file, next);
  return `${file}: list "${name}" from ${validFrom}, ${list.provinces.length} provinces`;
}

function importFacilities(csv: string, file: string): string {
  const facilities = readCsv(csv).flatMap((row) => {
    const code = column(row, ['ma', 'code', 'Mã cơ sở', 'Mã CSKCB']);
    const name = column(row, ['ten', 'name', 'Tên cơ sở', 'Tên CSKCB']);
    return code ? [{ code, name: name ?? code }] : [];
  });
  const current = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const next = { ...current, facilities };
  FacilityCatalogue.fromData(next as { facilities: Array<{ code: string; name: string }> });
  writeAtomically(file, next);
  return `${file}: ${facilities.length} facilities`;
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { csv: { type: 'string' }, name: { type: 'string' }, 'valid-from': { type: 'string' }, file: { type: 'string' } },
});
const config = loadConfig();
try {
  const [kind] = positionals;
  if (!values.csv || (kind !== 'units' && kind !== 'facilities')) {
    throw new Error('usage: catalogues:import -- units --csv F --name N --valid-from YYYY-MM-DD | facilities --csv F');
  }
  const summary = kind === 'units'
    ? importUnits(values.csv, values.name ?? values.csv, values['valid-from'] ?? '', values.file ?? config.unitsFile)
    : importFacilities(values.csv, values.file ?? config.facilitiesFile);
  process.stdout.write(`${summary}\n`);
} catch (error) {
  process.stderr.write(`catalogues:import: ${(error as Error).message}\n`);
  process.exit(1);
}
