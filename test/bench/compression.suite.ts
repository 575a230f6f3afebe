/**
 * Codecs on 1 MiB chunks of the repository bench's text (the half of its image that
 * compresses): ratio (stored / raw) and MB/s of one thread, to compress and to
 * decompress. zstd is the wasm build the repository uses (zstd-wasm.ts); brotli and
 * deflate are node:zlib's. Real clock, never asserted on; the engine/README.md tables come
 * from `npx tsx test/bench/run.ts --only compression`.
 */

import { brotliCompressSync, brotliDecompressSync, constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { zstdCompress, zstdDecompress } from '../../engine/repository/zstd-wasm.js';
import type { BenchSuite } from './harness.js';
import { textInto } from './repository.suite.js';

const MiB = 1024 * 1024;
const CHUNKS = 48;

interface Codec {
  readonly name: string;
  compress(raw: Uint8Array): Uint8Array;
  decompress(stored: Uint8Array, rawBytes: number): Uint8Array;
}

const brotli = (quality: number): Codec => ({
  name: `brotli q${quality}`,
  compress: (raw) => brotliCompressSync(raw, { params: { [constants.BROTLI_PARAM_QUALITY]: quality, [constants.BROTLI_PARAM_LGWIN]: 22, [constants.BROTLI_PARAM_SIZE_HINT]: raw.length } }),
  decompress: (stored) => brotliDecompressSync(stored),
});
const zstd = (level: number): Codec => ({ name: `zstd ${level} (wasm)`, compress: (raw) => zstdCompress(raw, level), decompress: (stored, n) => zstdDecompress(stored, n) });
const deflate = (level: number): Codec => ({ name: `deflate ${level}`, compress: (raw) => deflateRawSync(raw, { level }), decompress: (stored) => inflateRawSync(stored) });

const CODECS: readonly Codec[] = [
  ...[1, 2, 3, 4, 6, 7].map(zstd),
  ...[1, 2, 3, 4, 5, 6].map(brotli),
  ...[1, 6].map(deflate),
];

export const suite: BenchSuite = {
  name: 'compression',
  run(report) {
    const chunks = Array.from({ length: CHUNKS }, (_, i) => {
      const chunk = Buffer.alloc(MiB);
      textInto(chunk, 2000 + i);
      return chunk;
    });
    const rawBytes = CHUNKS * MiB;
    for (const codec of CODECS) {
      codec.compress(chunks[0] as Buffer); // warm-up (wasm tier-up, zlib tables)
      let start = process.hrtime.bigint();
      const stored = chunks.map((c) => codec.compress(c));
      const compressMs = Number(process.hrtime.bigint() - start) / 1e6;
      start = process.hrtime.bigint();
      stored.forEach((s) => codec.decompress(s, MiB));
      const decompressMs = Number(process.hrtime.bigint() - start) / 1e6;
      const ratio = stored.reduce((sum, s) => sum + s.length, 0) / rawBytes;
      report(`${codec.name}: ratio`, ratio, '', `compress ${(rawBytes / 1e6 / (compressMs / 1000)).toFixed(0)} MB/s, decompress ${(rawBytes / 1e6 / (decompressMs / 1000)).toFixed(0)} MB/s`);
    }
  },
};
