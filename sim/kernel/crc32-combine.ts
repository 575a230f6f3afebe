/**
 * CRC32 algebra (zlib's crc32_combine): the CRC of a concatenation from the CRCs of its
 * parts, and the CRC of data followed by zero bytes, without reading the bytes again.
 * Pure arithmetic over GF(2) (no I/O); the CRC itself is core/crc32.ts (IEEE, as zlib).
 *
 * Why: journal commits checksum 4 KiB blocks whose CRCs are already known (each block is
 * sealed with its own CRC) or that are mostly zeros (descriptor and commit blocks);
 * combining costs a few hundred nanoseconds instead of a pass over 4 KiB per block.
 *
 * Leaves out: lengths of 2^32 bytes or more (never needed here).
 */

import { assert } from '../../core/assert.js';
import { crc32 } from '../../core/crc32.js';

const POLY = 0xedb88320;

/** a(x) * b(x) modulo the CRC polynomial, in zlib's reflected representation. */
function multmodp(a: number, b: number): number {
  let p = 0;
  let bb = b;
  for (let m = 0x80000000; m !== 0; m >>>= 1) {
    if ((a & m) !== 0) {
      p ^= bb;
      if ((a & (m - 1)) === 0) break;
    }
    bb = (bb & 1) !== 0 ? (bb >>> 1) ^ POLY : bb >>> 1;
  }
  return p >>> 0;
}

/** X2N[k] = x^(2^k) modulo the polynomial. */
const X2N: number[] = [];
{
  let p = 1 << 30; // x^1
  X2N.push(p);
  for (let n = 1; n < 32; n++) {
    p = multmodp(p, p);
    X2N.push(p);
  }
}

/** x^(n * 2^k) modulo the polynomial. */
function x2nmodp(n: number, k: number): number {
  let p = 0x80000000; // x^0
  let rest = n;
  let kk = k;
  while (rest !== 0) {
    if ((rest & 1) !== 0) p = multmodp(X2N[kk & 31] as number, p);
    rest >>>= 1;
    kk++;
  }
  return p;
}

/** x^(8 * lengthBytes), cached per length (a handful of lengths recur). */
const shiftCache = new Map<number, number>();
/** CRC32 of `lengthBytes` zero bytes, cached per length. */
const zerosCache = new Map<number, number>();
const MAX_CACHED_LENGTHS = 4096;

function shiftOf(lengthBytes: number): number {
  let op = shiftCache.get(lengthBytes);
  if (op === undefined) {
    op = x2nmodp(lengthBytes, 3);
    if (shiftCache.size < MAX_CACHED_LENGTHS) shiftCache.set(lengthBytes, op);
  }
  return op;
}

function zerosCrc(lengthBytes: number): number {
  let c = zerosCache.get(lengthBytes);
  if (c === undefined) {
    // ~(x^(8n) * ~0) is the CRC of n zero bytes (the register runs on zeros from ~0).
    c = (~multmodp(shiftOf(lengthBytes), 0xffffffff)) >>> 0;
    if (zerosCache.size < MAX_CACHED_LENGTHS) zerosCache.set(lengthBytes, c);
  }
  return c;
}

/** crc32(A ++ B) from crc32(A), crc32(B) and B's length. */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  if (!(Number.isSafeInteger(lengthB) && lengthB >= 0 && lengthB < 2 ** 32)) assert(false, `combine length ${lengthB}`);
  if (lengthB === 0) return crcA >>> 0;
  return (multmodp(shiftOf(lengthB), crcA) ^ crcB) >>> 0;
}

/** crc32(A ++ zeros(zeroBytes)) from crc32(A). */
export function crc32ZeroExtend(crcA: number, zeroBytes: number): number {
  return crc32Combine(crcA, zerosCrc(zeroBytes), zeroBytes);
}

/** crc32(data[0, dataEnd) ++ zeros(totalBytes - dataEnd)): a block whose tail is known to be zeros. */
export function crc32ZeroTail(data: Uint8Array, dataEnd: number, totalBytes: number): number {
  if (!(dataEnd >= 0 && dataEnd <= totalBytes && dataEnd <= data.length)) assert(false, `zero tail from ${dataEnd} of ${totalBytes}`);
  return crc32ZeroExtend(crc32(data.subarray(0, dataEnd)), totalBytes - dataEnd);
}

const patch = new Uint8Array(16);
const patchView = new DataView(patch.buffer);

/**
 * crc32 of a block of `blockBytes` whose CRC with bytes [fieldOffset, fieldOffset + 4)
 * read as zero is `crcWithZeroField`, and whose field holds that value (little-endian):
 * how a self-sealed block's whole-block CRC follows from its seal. CRC is affine, so
 * crc(B) = crc(Z) ^ crc(E) ^ crc(zeros), with Z the block with the field zeroed and E
 * zeros but for the field.
 */
export function crc32OfSealed(crcWithZeroField: number, fieldOffset: number, blockBytes: number): number {
  if (!(fieldOffset >= 0 && fieldOffset <= 12 && fieldOffset + 4 <= blockBytes)) assert(false, `seal field at ${fieldOffset} of ${blockBytes}`);
  patch.fill(0);
  patchView.setUint32(fieldOffset, crcWithZeroField, true);
  const e = crc32ZeroExtend(crc32(patch.subarray(0, fieldOffset + 4)), blockBytes - fieldOffset - 4);
  return (crcWithZeroField ^ e ^ zerosCrc(blockBytes)) >>> 0;
}

/**
 * The CRC32 of a `totalBytes` message after the bytes at [offset, offset + delta.length)
 * were XORed with `delta`, from its CRC before (`oldCrc`): only the changed range is read.
 * CRC is affine: crc(M ^ D) = crc(M) ^ crc(D) ^ crc(zeros).
 */
export function crc32XorUpdate(oldCrc: number, delta: Uint8Array, offset: number, totalBytes: number): number {
  const end = offset + delta.length;
  if (!(offset >= 0 && end <= totalBytes)) assert(false, `update of [${offset}, ${end}) in ${totalBytes} bytes`);
  const sparse = crc32ZeroExtend(crc32(delta, zerosCrc(offset)), totalBytes - end);
  return (oldCrc ^ sparse ^ zerosCrc(totalBytes)) >>> 0;
}
