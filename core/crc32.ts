/**
 * CRC32 (IEEE 802.3, reflected, as zlib): chainable, crc32(b, crc32(a)) = crc32(a ++ b).
 * node:zlib's crc32 is pure computation (no I/O), and far faster than a table loop.
 */

import { crc32 as zlibCrc32 } from 'node:zlib';

export function crc32(data: Uint8Array, previous = 0): number {
  return zlibCrc32(data, previous);
}
