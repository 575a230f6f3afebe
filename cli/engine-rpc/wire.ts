/**
 * The engine protocol's encoding of values (cli/engine-rpc/README.md, "Values"): JSON, plus
 * two tagged objects that JSON has no word for.
 *
 * - Bytes: a `Uint8Array` anywhere in params or results is `{"$bytes": "<base64>"}`
 *   (standard alphabet, padded), or, between peers that agreed on binary frames, a
 *   `{"$bin": k}` naming a binary frame sent before the message (framing.ts, writer.ts),
 *   or `{"$zeros": n}`: n bytes, all zero.
 *   Decoding gives a plain `Uint8Array` with its own ArrayBuffer (never a Node Buffer,
 *   never a view of a shared pool), as in-process. The ends encode with `encodeValue`,
 *   which keeps bytes as Uint8Arrays: the frame writer chooses their form per message.
 * - References: a host object the harness lends to a call is `{"$ref": "<kind>-<n>"}`,
 *   with the object's data properties beside it (a store's `description`, a timer's
 *   `clock`). The kind is the id's prefix (REF_KINDS). Who resolves a reference is the
 *   caller's business (`decodeWire`'s `resolve`).
 *
 * Anything else that JSON cannot carry exactly is refused with a WireError naming where it
 * is (a Map, a class instance, a function, NaN or Infinity, a bigint, a key starting with
 * `$`), so a value either crosses unchanged or not at all. `undefined` behaves as in
 * JSON.stringify: an object property is left out, an array element becomes null.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };
/** A value on its way to a frame: JSON whose bytes are still Uint8Arrays (the writer gives them their wire form). */
export type WireValue = Json | Uint8Array | WireValue[] | { [key: string]: WireValue };
export type WireObject = { [key: string]: WireValue };

export class WireError extends Error {
  override readonly name = 'WireError';
  /** `reason`, at `path` below the value (`.disks[0].data`; '' for the value itself). */
  constructor(readonly reason: string, readonly path = '') {
    super(`at $${path}: ${reason}`);
  }
}

/** Host objects by kind: the id of a reference is `<kind>-<n>`. */
export const REF_KINDS = ['port', 'store', 'logstore', 'files', 'filesink', 'clock', 'timer'] as const;
export type RefKind = (typeof REF_KINDS)[number];

/** How deep a value may nest (a hostile peer's 100,000 nested arrays would overflow the stack). */
export const MAX_DEPTH = 256;

export function bytesToBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * Padded base64; the result owns its ArrayBuffer. A character outside the alphabet shows
 * as a short decode (Node's decoder skips it), which is refused; Node also reads the URL
 * alphabet's - and _, which is let pass. (A regular expression checking the alphabet cost
 * 11 ms per 4 MiB, twice the decode.)
 */
export function base64ToBytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length % 4 === 0 ? Buffer.byteLength(text, 'base64') : 0);
  const written = out.length === 0 ? 0 : Buffer.from(out.buffer, 0, out.length).write(text, 0, 'base64');
  if (written !== out.length || (out.length === 0 && text !== '')) throw new WireError(`not base64: ${JSON.stringify(text.slice(0, 24))}`);
  return out;
}

/** The largest `{"$zeros": n}` read (as the largest frame, framing.ts). */
export const MAX_ZEROS = 128 * 1024 * 1024;

/** `{"$zeros": n}`: n bytes, all zero. */
function zeros(n: unknown): Uint8Array {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > MAX_ZEROS) throw new WireError(`not a count of zero bytes (0 to ${MAX_ZEROS}): ${JSON.stringify(n)}`);
  return new Uint8Array(n);
}

/** The kind of a reference id (`store-3`), or undefined when it is not one. */
export function refKind(id: string): RefKind | undefined {
  const dash = id.lastIndexOf('-');
  const kind = id.slice(0, dash);
  return dash > 0 && /^[1-9][0-9]{0,14}$/.test(id.slice(dash + 1)) && (REF_KINDS as readonly string[]).includes(kind) ? (kind as RefKind) : undefined;
}

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describeValue(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value !== 'object' || value === null) return typeof value;
  const ctor: unknown = (value as { constructor?: unknown }).constructor;
  return typeof ctor === 'function' && ctor.name !== '' ? `a ${ctor.name}` : 'an object';
}

/** Rethrows a WireError from below `key` with the key in its path. */
function at(key: string | number, error: unknown): never {
  if (error instanceof WireError) throw new WireError(error.reason, `${typeof key === 'number' ? `[${key}]` : `.${key}`}${error.path}`);
  throw error;
}

/** A value as JSON carries it, bytes as base64 (`{"$bytes": ...}`); throws WireError for what JSON cannot hold exactly. */
export function encodeWire(value: unknown): Json {
  return encode(value, true, 0) as Json;
}

/**
 * `encodeWire` leaving bytes as they are (the frame writer writes them as base64 or as
 * binary frames, whichever the connection speaks). The arrays are the caller's, not
 * copies: the writer copies them into the frame when the message is sent.
 */
export function encodeValue(value: unknown): WireValue {
  return encode(value, false, 0);
}

function encode(value: unknown, base64: boolean, depth: number): WireValue {
  if (depth > MAX_DEPTH) throw new WireError(`nested deeper than ${MAX_DEPTH}`);
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new WireError(`${value} has no JSON form`);
      return value;
    case 'undefined':
      return null;
    case 'object':
      if (value === null) return null;
      if (value instanceof Uint8Array) return base64 ? { $bytes: bytesToBase64(value) } : value;
      if (Array.isArray(value)) return encodeArray(value, base64, depth);
      if (isPlainObject(value)) return encodeObject(value as Record<string, unknown>, base64, depth);
      throw new WireError(`cannot send ${describeValue(value)}`);
    default:
      throw new WireError(`cannot send a ${typeof value}`);
  }
}

function encodeArray(value: readonly unknown[], base64: boolean, depth: number): WireValue[] {
  const out: WireValue[] = new Array<WireValue>(value.length);
  for (let i = 0; i < value.length; i++) {
    try {
      out[i] = encode(value[i], base64, depth + 1);
    } catch (e) {
      at(i, e);
    }
  }
  return out;
}

function encodeObject(value: Record<string, unknown>, base64: boolean, depth: number): WireObject {
  const out: WireObject = {};
  for (const key of Object.keys(value)) {
    const v = value[key];
    if (v === undefined) continue;
    if (key.startsWith('$') || key === '__proto__') throw new WireError(`the key '${key}' is reserved`);
    try {
      out[key] = encode(v, base64, depth + 1);
    } catch (e) {
      at(key, e);
    }
  }
  return out;
}

/** Resolves a reference object (`{"$ref": id, ...data}`) to what stands for it on this side. */
export type RefResolver = (ref: JsonObject & { readonly $ref: string }) => unknown;

const noRefs: RefResolver = (ref) => {
  throw new WireError(`a reference ('${ref.$ref}') where none may be`);
};

/**
 * The value a wire value stands for: `$bytes` become Uint8Arrays, `$ref`s what `resolve`
 * says. Decodes in place (the input is a fresh JSON.parse result, whose binary frames the
 * reader already put in as Uint8Arrays) and returns it.
 */
export function decodeWire(value: unknown, resolve: RefResolver = noRefs, depth = 0): unknown {
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return value;
  if (depth > MAX_DEPTH) throw new WireError(`nested deeper than ${MAX_DEPTH}`);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      try {
        value[i] = decodeWire(value[i], resolve, depth + 1);
      } catch (e) {
        at(i, e);
      }
    }
    return value;
  }
  const obj = value as Record<string, unknown>;
  if (typeof obj['$bytes'] === 'string' && Object.keys(obj).length === 1) return base64ToBytes(obj['$bytes']);
  if (obj['$zeros'] !== undefined && Object.keys(obj).length === 1) return zeros(obj['$zeros']);
  if (typeof obj['$ref'] === 'string') return resolve(obj as JsonObject & { readonly $ref: string });
  for (const key of Object.keys(obj)) {
    if (key.startsWith('$') || key === '__proto__') throw new WireError(`the key '${key}' is reserved`);
    try {
      obj[key] = decodeWire(obj[key], resolve, depth + 1);
    } catch (e) {
      at(key, e);
    }
  }
  return obj;
}
