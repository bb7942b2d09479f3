import type { ErrorDetail } from '../src/errors.js';

/** BHXH wants names in capitals; Vietnamese letters must survive, so no ASCII folding. */
export function upperName(name: string): string {
  return name.toLocaleUpperCase('vi').normalize('NFC');
}

/** Length as JSON Schema (and ajv) counts it: code points, not UTF-16 units. */
function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

/**
 * A name that would not fit BHXH's field once in capitals. Capitals can be longer than the name,
 * up to three code points for one ('ß' → 'SS', 'ﬃ' → 'FFI', 'ᾷ' → 'Α͂Ι'), so a name within intake's
 * limit can exceed BHXH's: the check measures the very text the mapping would send.
 */
export function upperNameProblems(path: string, name: string | undefined, maxLength: number): ErrorDetail[] {
  if (name === undefined) return [];
  const length = codePoints(upperName(name));
  if (length <= maxLength) return [];
  return [{ path, code: 'BHXH_MAXLENGTH', message: `in capitals, as BHXH receives it, this name is ${length} characters; BHXH takes at most ${maxLength}` }];
}
