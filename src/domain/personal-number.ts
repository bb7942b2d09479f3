import type { CalendarDate } from './calendar-date.js';
import type { GioiTinh } from './documents.js';

/**
 * Số định danh cá nhân (docs/DOMAIN.md, "Identifiers"): 3 digits place of registration, 1 digit
 * century and sex (0/1 male/female born 1900–1999, 2/3 for 2000–2099, 4/5 for 2100–2199), 2 digits
 * year of birth, 6 digits serial. A sex not determined (3) checks the century only.
 */
export function personalNumberAgrees(number: string, birth: CalendarDate, sex: GioiTinh): boolean {
  if (!/^\d{12}$/.test(number)) return false;
  const century = Math.floor((birth.year - 1900) / 100);
  if (century < 0 || century > 2) return false;
  const centuryAndSex = Number(number[3]);
  const male = century * 2;
  const sexAgrees =
    sex === 1 ? centuryAndSex === male : sex === 2 ? centuryAndSex === male + 1 : centuryAndSex === male || centuryAndSex === male + 1;
  return sexAgrees && number.slice(4, 6) === String(birth.year % 100).padStart(2, '0');
}
