/**
 * One entry for every form a school may send its D03-TS list in: the body's content type and bytes
 * → the person rows, what the header says of the list (unit, period) and the values that could not
 * be taken. The door bounds the body's size before this is called; a file that cannot be read as a
 * list at all is refused with a `GatewayError` whose detail code says why (list-file.ts).
 */
import { GatewayError } from '../../errors.js';
import { readCsv } from './csv-reader.js';
import { readD03Json } from './json-reader.js';
import { DEFAULT_D03_LIMITS, type D03ListLimits, type D03ListRead } from './list-file.js';
import { readXlsx } from './xlsx-reader.js';
import { readD03Xml } from './xml-reader.js';

export const XLSX_CONTENT_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
export const CSV_CONTENT_TYPE = 'text/csv';

/** The media types a list is accepted in, for a door's 415 and its documentation. */
export const D03_CONTENT_TYPES = [XLSX_CONTENT_TYPE, CSV_CONTENT_TYPE, 'application/xml', 'text/xml', 'application/json'] as const;

export async function readD03List(contentType: string | undefined, body: Buffer, limits: D03ListLimits = DEFAULT_D03_LIMITS): Promise<D03ListRead> {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  switch (type) {
    case XLSX_CONTENT_TYPE:
      return readXlsx(body, limits);
    case CSV_CONTENT_TYPE:
      return readCsv(body, limits);
    case 'application/xml':
    case 'text/xml':
      return readD03Xml(body, limits);
    case 'application/json':
      return readD03Json(body, limits);
    default:
      throw new GatewayError('UNSUPPORTED_MEDIA_TYPE', `A list is sent as ${D03_CONTENT_TYPES.join(', ')}`);
  }
}
