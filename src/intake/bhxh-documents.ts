import type { ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { readSchema } from '../package-files.js';

const ajv = new Ajv2020({ allErrors: true, strict: true });
const capTheTe = readSchema<{ properties: { TEP_DINH_KEM: { maxItems: number } } }>('cap-the-te.schema.json');
const validators: Record<string, ValidateFunction> = {
  CapTheTe: ajv.compile(capTheTe),
  BaoGiam: ajv.compile(readSchema('bao-giam.schema.json')),
  CapLaiThe: ajv.compile(readSchema('bhxh-cap-lai-the.schema.json')),
};

/** The most files a card dossier may cite (TEP_DINH_KEM), read from BHXH's schema so no other limit can drift from it. */
export const CAP_THE_TE_MAX_ATTACHMENTS = capTheTe.properties.TEP_DINH_KEM.maxItems;

/**
 * The boundary check on what leaves for BHXH: a mapping bug must stop here, loudly, rather than
 * reach BHXH as a malformed card dossier.
 */
export function assertBhxhDocument<T>(schema: 'CapTheTe' | 'BaoGiam' | 'CapLaiThe', document: T): T {
  const validate = validators[schema] as ValidateFunction;
  if (!validate(document)) {
    const first = validate.errors?.[0];
    throw new Error(`mapping produced an invalid ${schema}: ${first?.instancePath ?? ''} ${first?.message ?? ''}`);
  }
  return document;
}
