/**
 * Cheap byte buffers for the simulator's hot paths (pure memory, no I/O).
 *
 * Why: in V8 every Uint8Array over 64 bytes gets its own off-heap ArrayBuffer, which costs
 * about as much as encoding a 4 KiB block (allocation, zero fill, GC bookkeeping), and
 * TextEncoder.encode allocates one per call. Here small arrays are carved from shared
 * 256 KiB slabs (a subarray costs a few tens of nanoseconds) and text is encoded with
 * encodeInto into a reused scratch buffer.
 *
 * Contract of a carved array: zero-filled, owned by the caller, never handed out twice;
 * its `buffer` is the shared slab, so views over it must use byteOffset/byteLength (as
 * every decoder here does). A slab lives while any of its arrays is referenced, so carve
 * only what is short-lived or small; large requests get their own buffer.
 *
 * Leaves out: reuse of freed pieces (a slab is dropped whole once nothing references it).
 */

const SLAB_BYTES = 256 * 1024;
/** Larger requests get a buffer of their own (a slab would be mostly one array). */
const MAX_CARVED_BYTES = 16 * 1024;

let slab = new Uint8Array(0);
let slabNext = 0;

/** A zero-filled array of `lengthBytes`, carved from a shared slab when small. */
export function allocBytes(lengthBytes: number): Uint8Array {
  if (lengthBytes > MAX_CARVED_BYTES) return new Uint8Array(lengthBytes);
  if (slabNext + lengthBytes > slab.length) {
    slab = new Uint8Array(SLAB_BYTES);
    slabNext = 0;
  }
  const out = slab.subarray(slabNext, slabNext + lengthBytes);
  // Eight-byte alignment keeps every carved array usable for aligned wider views.
  slabNext += (lengthBytes + 7) & ~7;
  return out;
}

/** A copy of `data` in a carved array. */
export function copyBytes(data: Uint8Array): Uint8Array {
  const out = allocBytes(data.length);
  out.set(data);
  return out;
}

const encoder = new TextEncoder();
let scratch = new Uint8Array(64 * 1024);

/**
 * Encodes `text` as UTF-8 into a scratch buffer shared by every caller and returns a view
 * of the bytes. The view is valid only until the next call of any function here that
 * uses the scratch: copy it (or write it somewhere) before encoding anything else.
 */
export function utf8Scratch(text: string, reserveBefore = 0): Uint8Array {
  // A UTF-16 code unit never takes more than 3 UTF-8 bytes.
  const worst = reserveBefore + text.length * 3;
  if (worst > scratch.length) scratch = new Uint8Array(Math.max(worst, 2 * scratch.length));
  const { written } = encoder.encodeInto(text, scratch.subarray(reserveBefore));
  return scratch.subarray(0, reserveBefore + written);
}

/** UTF-8 encoding of `text` in a carved array (what TextEncoder.encode returns, cheaper). */
export function utf8Bytes(text: string): Uint8Array {
  return copyBytes(utf8Scratch(text));
}

/** Length in bytes of the UTF-8 encoding of `text` (as TextEncoder would produce it). */
export function utf8Length(text: string): number {
  // Short strings: count in place (no encoder call); a lone surrogate counts 3 (U+FFFD).
  if (text.length > 64) return utf8Scratch(text).length;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/** An append-only byte buffer that grows by doubling and is reused after `reset`. */
export class ByteBuilder {
  private buf: Uint8Array;
  private used = 0;

  constructor(initialBytes = 4096) {
    this.buf = new Uint8Array(initialBytes);
  }

  get lengthBytes(): number {
    return this.used;
  }

  append(data: Uint8Array): void {
    const need = this.used + data.length;
    if (need > this.buf.length) {
      const grown = new Uint8Array(Math.max(need, 2 * this.buf.length));
      grown.set(this.buf.subarray(0, this.used));
      this.buf = grown;
    }
    this.buf.set(data, this.used);
    this.used = need;
  }

  /** The bytes appended since the last reset: a view, valid until the next append or reset. */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.used);
  }

  reset(): void {
    this.used = 0;
  }
}

/**
 * Length in bytes of the UTF-8 encoding of JSON.stringify(text) (quotes included), computed
 * without building the string: JSON escapes \b \t \n \f \r \" \\ as two characters, other
 * control characters and lone surrogates as six (\uXXXX); everything else is copied.
 */
export function jsonStringUtf8Length(text: string): number {
  let n = 2;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x20 && c < 0x80) n += c === 0x22 || c === 0x5c ? 2 : 1;
    else if (c < 0x20) n += c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d ? 2 : 6;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const d = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 6;
    } else if (c >= 0xdc00 && c <= 0xdfff) n += 6;
    else n += 3;
  }
  return n;
}

/** Length in bytes of JSON.stringify(value) for a finite or non-finite number. */
export function jsonNumberLength(value: number): number {
  return Number.isFinite(value) ? String(value).length : 4;
}
