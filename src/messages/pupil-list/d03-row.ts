/**
 * The D03-TS row shape lives with the file codecs (src/codec/d03ts/d03-row.ts), which may not import
 * from src/messages/; the row checks and the list service take it from here.
 */
export * from '../../codec/d03ts/d03-row.js';
