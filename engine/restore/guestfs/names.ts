/**
 * Guest names as text. A directory entry's name is raw bytes from the image: usually
 * UTF-8, but nothing guarantees it. `decodeName` turns any bytes into a string
 * deterministically and reversibly enough to tell names apart: valid UTF-8 sequences
 * become their characters, every byte that is not part of a valid sequence (stray
 * continuation bytes, truncated or overlong sequences, encoded surrogates, code points
 * past U+10FFFF) becomes `%XX` (upper-case hex). The result is always well-formed UTF-16.
 */

const strict = new TextDecoder('utf-8', { fatal: true });

export interface DecodedName {
  readonly text: string;
  /** The bytes were valid UTF-8 (the text is exactly them). */
  readonly valid: boolean;
}

function hex2(byte: number): string {
  return `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
}

/** Length of the valid UTF-8 sequence starting at `i`, or 0 when the byte there starts none. */
function sequenceLength(bytes: Uint8Array, i: number): number {
  const b0 = bytes[i] ?? 0;
  if (b0 < 0x80) return 1;
  let n: number;
  let min: number;
  if (b0 >= 0xc2 && b0 <= 0xdf) { n = 2; min = 0x80; } else if (b0 >= 0xe0 && b0 <= 0xef) { n = 3; min = 0x800; } else if (b0 >= 0xf0 && b0 <= 0xf4) { n = 4; min = 0x10000; } else return 0;
  if (i + n > bytes.length) return 0;
  let cp = b0 & (0xff >> (n + 1));
  for (let k = 1; k < n; k++) {
    const b = bytes[i + k] ?? 0;
    if ((b & 0xc0) !== 0x80) return 0;
    cp = (cp << 6) | (b & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

export function decodeName(bytes: Uint8Array): DecodedName {
  try {
    return { text: strict.decode(bytes), valid: true };
  } catch {
    // fall through to the escaping decoder
  }
  let text = '';
  for (let i = 0; i < bytes.length;) {
    const n = sequenceLength(bytes, i);
    if (n === 0) {
      text += hex2(bytes[i] ?? 0);
      i++;
    } else {
      text += strict.decode(bytes.subarray(i, i + n));
      i += n;
    }
  }
  return { text, valid: false };
}

const encoder = new TextEncoder();

export function encodeName(text: string): Uint8Array {
  return encoder.encode(text);
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Byte-wise order (shorter first on a common prefix): the order entries are processed in. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}
