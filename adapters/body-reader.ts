/**
 * Raw request body → plain JS value: JSON here, XML in src/codec/xml-document.ts.
 *
 * The JSON's depth is bounded by a linear scan before a parser sees it, and keys that could reach
 * `Object.prototype` are refused; every refusal is a `MALFORMED_BODY` whose single detail names what
 * was wrong with a stable code.
 */
import sjson from 'secure-json-parse';
import { clip, decodeUtf8, DEFAULT_MAX_DEPTH, errorMessage, jsonNestsDeeperThan, malformed, stripBom, type BodyLimits } from '../src/codec/body-text.js';

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

export function readJson(body: Buffer, limits: BodyLimits = {}): unknown {
  return readJsonText(decodeUtf8(body), limits);
}

/** Same as {@link readJson} for text that is already decoded. */
function readJsonText(text: string, limits: BodyLimits = {}): unknown {
  text = stripBom(text);
  const maxDepth = limits.maxDepth ?? DEFAULT_MAX_DEPTH;
  if (jsonNestsDeeperThan(text, maxDepth)) throw malformed('TOO_DEEP', `The body nests arrays/objects deeper than ${maxDepth} levels`);
  try {
    return sjson.parse(text, null, { protoAction: 'error', constructorAction: 'error' });
  } catch (err) {
    // secure-json-parse throws SyntaxError for both broken JSON and forbidden keys; telling them
    // apart by re-parsing costs a second parse only on the failure path.
    try {
      JSON.parse(text);
    } catch (syntax) {
      throw malformed('INVALID_JSON', `The body is not valid JSON: ${clip(errorMessage(syntax))}`);
    }
    throw malformed(
      'FORBIDDEN_NAME',
      'The body contains a "__proto__" key or a "constructor.prototype" key, which are not accepted',
    );
  }
}

