import { readFileSync } from 'node:fs';
import type { ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';

const schemaDir = new URL('../../schemas/', import.meta.url);
const ajv = new Ajv2020({ allErrors: true, strict: true });
const validators: Record<string, ValidateFunction> = {
  CapTheTe: ajv.compile(JSON.parse(readFileSync(new URL('cap-the-te.schema.json', schemaDir), 'utf8'))),
  BaoGiam: ajv.compile(JSON.parse(readFileSync(new URL('bao-giam.schema.json', schemaDir), 'utf8'))),
};

/**
 * The boundary check on what leaves for BHXH: a mapping bug must stop here, loudly, rather than
 * reach BHXH as a malformed card dossier.
 */
export function assertBhxhDocument<T>(schema: 'CapTheTe' | 'BaoGiam', document: T): T {
  const validate = validators[schema] as ValidateFunction;
  if (!validate(document)) {
    const first = validate.errors?.[0];
    throw new Error(`mapping produced an invalid ${schema}: ${first?.instancePath ?? ''} ${first?.message ?? ''}`);
  }
  return document;
}
