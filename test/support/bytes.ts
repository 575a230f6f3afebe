/** Deterministic test bytes: xorshift32 from `state` (0 is replaced by 1), one byte a step. */
export function xorshiftBytes(state: number, lengthBytes: number): Uint8Array {
  const out = new Uint8Array(lengthBytes);
  let x = state >>> 0 || 1;
  for (let i = 0; i < lengthBytes; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}
