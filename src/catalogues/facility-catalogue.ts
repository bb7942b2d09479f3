import { readFileSync } from 'node:fs';
import type { ErrorDetail } from '../errors.js';

interface FacilityFile {
  facilities: Array<{ code: string; name: string }>;
}

/**
 * The national list of initial health-care facilities (nơi đăng ký KCB ban đầu). A code is 5
 * characters, the first two its province. Where the file lists a province's facilities, a code of
 * that province must be one of them; elsewhere only its shape is checked (the schema does that).
 */
export class FacilityCatalogue {
  private readonly byProvince = new Map<string, Set<string>>();

  private constructor(data: FacilityFile) {
    for (const facility of data.facilities) {
      if (!/^[0-9]{2}[0-9A-Z]{3}$/.test(facility.code)) throw new Error(`facility code "${facility.code}" is not 5 characters`);
      const province = facility.code.slice(0, 2);
      const codes = this.byProvince.get(province) ?? new Set<string>();
      codes.add(facility.code);
      this.byProvince.set(province, codes);
    }
  }

  static fromFile(path: string): FacilityCatalogue {
    return FacilityCatalogue.fromData(JSON.parse(readFileSync(path, 'utf8')) as FacilityFile);
  }

  static fromData(data: FacilityFile): FacilityCatalogue {
    if (!Array.isArray(data?.facilities)) throw new Error('a facility file needs a "facilities" list');
    return new FacilityCatalogue(data);
  }

  get size(): number {
    let count = 0;
    for (const codes of this.byProvince.values()) count += codes.size;
    return count;
  }

  check(code: string, path: string): ErrorDetail[] {
    const listed = this.byProvince.get(code.slice(0, 2));
    return listed && !listed.has(code)
      ? [{ path, code: 'FACILITY_UNKNOWN', message: `facility ${code} is not in the facility list of province ${code.slice(0, 2)}` }]
      : [];
  }
}
