import { readFileSync } from 'node:fs';
import { compareDates, mustParseCalendarDate, type CalendarDate } from '../domain/calendar-date.js';
import type { ErrorDetail } from '../errors.js';

interface NamedUnit {
  code: string;
  name: string;
}

interface District extends NamedUnit {
  communes?: NamedUnit[];
}

interface Province extends NamedUnit {
  districts?: District[];
  /** When absent, a commune code is checked for its shape only (docs/DOMAIN.md, "Units"). */
  communes?: NamedUnit[];
}

export interface UnitList {
  name: string;
  validFrom: string;
  validUntil?: string;
  provinces: Province[];
}

export interface CatalogueFile {
  lists: UnitList[];
}

interface CompiledList {
  name: string;
  from: CalendarDate;
  until: CalendarDate | null;
  provinces: Map<string, { districts: Set<string> | null; communes: Set<string> | null }>;
}

export interface UnitPlace {
  maTinh: string;
  maHuyen?: string;
  maXa: string;
}

/**
 * The national unit lists, each with the dates it is in force (the 63-province list until
 * 2025-06-30, the 34-province list from 2025-07-01). A record is checked against the list in force on
 * its registration date. The lists are data: `catalogues/units.json`, never code.
 */
export class UnitCatalogue {
  private constructor(private readonly lists: CompiledList[]) {}

  static fromFile(path: string): UnitCatalogue {
    return UnitCatalogue.fromData(JSON.parse(readFileSync(path, 'utf8')) as CatalogueFile);
  }

  static fromData(data: CatalogueFile): UnitCatalogue {
    return new UnitCatalogue(
      data.lists.map((list) => ({
        name: list.name,
        from: mustParseCalendarDate(list.validFrom),
        until: list.validUntil ? mustParseCalendarDate(list.validUntil) : null,
        provinces: new Map(
          list.provinces.map((province) => {
            const communes = [
              ...(province.communes ?? []),
              ...(province.districts ?? []).flatMap((district) => district.communes ?? []),
            ];
            return [
              province.code,
              {
                districts: province.districts ? new Set(province.districts.map((district) => district.code)) : null,
                communes: communes.length > 0 ? new Set(communes.map((commune) => commune.code)) : null,
              },
            ];
          }),
        ),
      })),
    );
  }

  listInForce(on: CalendarDate): CompiledList | undefined {
    return this.lists.find(
      (list) => compareDates(list.from, on) <= 0 && (list.until === null || compareDates(on, list.until) <= 0),
    );
  }

  /** Problems with a registering unit, as UNIT_NOT_CONFIGURED details under `basePath`. */
  checkPlace(place: UnitPlace, on: CalendarDate, basePath: string): ErrorDetail[] {
    const list = this.listInForce(on);
    if (!list) {
      return [{ path: basePath, code: 'UNIT_NOT_CONFIGURED', message: 'no unit list is in force on the registration date' }];
    }
    const province = list.provinces.get(place.maTinh);
    if (!province) {
      return [{ path: `${basePath}/maTinh`, code: 'UNIT_NOT_CONFIGURED', message: `province ${place.maTinh} is not in ${list.name}` }];
    }
    const problems: ErrorDetail[] = [];
    if (place.maHuyen !== undefined && province.districts && !province.districts.has(place.maHuyen)) {
      problems.push({ path: `${basePath}/maHuyen`, code: 'UNIT_NOT_CONFIGURED', message: `district ${place.maHuyen} is not in ${list.name}` });
    }
    if (province.communes && !province.communes.has(place.maXa)) {
      problems.push({ path: `${basePath}/maXa`, code: 'UNIT_NOT_CONFIGURED', message: `commune ${place.maXa} is not in ${list.name}` });
    }
    return problems;
  }

  hasProvince(code: string, on: CalendarDate): boolean {
    return this.listInForce(on)?.provinces.has(code) ?? false;
  }
}
