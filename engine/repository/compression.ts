/**
 * Chunk compression: zstd (the default of new repositories) or brotli (repositories made
 * before zstd, or by choice), at the repository's level; chunks that look incompressible
 * are stored raw without trying, and chunks that do not shrink by at least 1/64 are
 * stored raw.
 *
 * Why zstd (measured on this machine, 1 MiB chunks of the bench's text; engine/README.md
 * has the tables): zstd level 4 reaches a ratio of 0.284 at ~200 MB/s and decompresses at
 * ~600 MB/s; brotli needs quality 4 for that ratio (0.281) and runs at ~80 MB/s; brotli
 * quality 1 runs at ~230 MB/s but only reaches 0.323, which left the repository larger
 * than restic's (zstd "auto"). Node 20 has no zstd in node:zlib, so it is zstd compiled
 * to WebAssembly (zstd-wasm.ts) — as fast as the native zstd CLI at levels 1-4 on this data,
 * and the same bytes on every Node version. zstd levels 5+ and brotli 5+ cost 3-5x the CPU for
 * 3-5% less (engine/README.md).
 *
 * Incompressible chunks (random, already compressed) are found from the byte histograms
 * of samples of 2 KiB less than 64 KiB apart: when every sample looks random (a collision
 * entropy above 7.4 bits per byte; random data has 7.8, text ~4), the chunk is stored raw
 * without trying, so a compressible run of 64 KiB or more inside a chunk always gets it
 * compressed. Leaves out: shorter compressible runs between the samples of an
 * otherwise random chunk, and a chunk that repeats a random block within itself, are
 * stored raw too.
 *
 * A writer may compress off its main thread (brotli on libuv's thread pool, zstd on worker
 * threads: chunk-workers.ts, driven by pack-writer.ts) while it reads and cuts; the
 * stored bytes are those of compressChunk.
 */

import { brotliCompress, brotliCompressSync, brotliDecompressSync, constants } from 'node:zlib';
import { err, ok, type Result } from '../../core/result.js';
import { zstdCompress, zstdDecompress } from './zstd-wasm.js';

export type Codec = 'zstd' | 'brotli';
export type Compression = 'raw' | Codec;
export const COMPRESSION_CODES: Readonly<Record<Compression, number>> = { raw: 0, brotli: 1, zstd: 2 };

export function compressionFromCode(code: number): Compression | undefined {
  return (Object.keys(COMPRESSION_CODES) as Compression[]).find((c) => COMPRESSION_CODES[c] === code);
}

export function isCompression(value: unknown): value is Compression {
  return typeof value === 'string' && Object.hasOwn(COMPRESSION_CODES, value);
}

/** How a repository compresses (from its config): the codec and its level (brotli: quality). */
export interface CodecSettings {
  readonly codec: Codec;
  readonly level: number;
}

export const DEFAULT_CODEC: CodecSettings = { codec: 'zstd', level: 4 };
export const DEFAULT_BROTLI_QUALITY = 1;
export const LEVEL_RANGE: Readonly<Record<Codec, readonly [number, number]>> = { zstd: [1, 19], brotli: [0, 11] };

export interface StoredBlob {
  readonly compression: Compression;
  readonly bytes: Uint8Array;
}

/** Samples of 2 KiB less than 64 KiB apart, the first at the chunk's start and the last at its end. */
const SAMPLE_BYTES = 2048;
const SAMPLE_EVERY_BYTES = 64 * 1024;
/**
 * A sample looks random when the sum of its squared byte counts stays under 1.5 times
 * what equally likely bytes give (N²/256): a collision entropy above 8 - log2(1.5) = 7.4
 * bits per byte. Random bytes land at 1.125 times (±0.011), text at 10+ times. Integers
 * only, so the choice is the same on every machine.
 */
const RANDOM_SQUARES_MAX = (SAMPLE_BYTES * SAMPLE_BYTES * 3) / (256 * 2);

/** True when every sample of the chunk looks random (see RANDOM_SQUARES_MAX); chunks under 128 KiB are always tried. */
export function looksIncompressible(raw: Uint8Array): boolean {
  if (raw.length < 2 * SAMPLE_EVERY_BYTES) return false;
  const samples = Math.ceil(raw.length / SAMPLE_EVERY_BYTES) + 1;
  const counts = new Uint32Array(256);
  for (let s = 0; s < samples; s++) {
    const from = Math.floor(((raw.length - SAMPLE_BYTES) * s) / (samples - 1));
    counts.fill(0);
    for (let i = from; i < from + SAMPLE_BYTES; i++) counts[raw[i] as number] = (counts[raw[i] as number] as number) + 1;
    let squares = 0;
    for (const n of counts) squares += n * n;
    if (squares >= RANDOM_SQUARES_MAX) return false;
  }
  return true;
}

function brotliOptions(rawBytes: number, quality: number): { chunkSize: number; params: Record<number, number> } {
  return {
    // One output buffer for the whole chunk: the async path otherwise hops back to the
    // main thread for every 16 KiB of output.
    chunkSize: Math.max(64 * 1024, rawBytes + 1024),
    params: {
      [constants.BROTLI_PARAM_QUALITY]: quality,
      [constants.BROTLI_PARAM_LGWIN]: 22,
      [constants.BROTLI_PARAM_SIZE_HINT]: rawBytes,
    },
  };
}

export function rawBlob(raw: Uint8Array): StoredBlob {
  return { compression: 'raw', bytes: raw };
}

/** The most bytes a chunk of `rawBytes` may compress to and be stored compressed: it must save at least 1/64 of it. */
export function compressedLimit(rawBytes: number): number {
  return rawBytes - Math.ceil(rawBytes / 64);
}

/** A chunk worth trying, stored: compressed when that saves enough (compressedLimit), else raw. */
export function storedForm(raw: Uint8Array, codec: Codec, compressed: Uint8Array): StoredBlob {
  return compressed.length <= compressedLimit(raw.length) ? { compression: codec, bytes: compressed } : rawBlob(raw);
}

/** A chunk's stored form, computed here. The writer's off-thread paths (pack-writer.ts) make the same choices. */
export function compressChunk(raw: Uint8Array, settings: CodecSettings = DEFAULT_CODEC): StoredBlob {
  if (looksIncompressible(raw)) return rawBlob(raw);
  const compressed = settings.codec === 'zstd' ? zstdCompress(raw, settings.level) : brotliCompressSync(raw, brotliOptions(raw.length, settings.level));
  return storedForm(raw, settings.codec, compressed);
}

/** Brotli on libuv's thread pool: the bytes of brotliCompressSync. */
export function brotliCompressAsync(raw: Uint8Array, quality: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    brotliCompress(raw, brotliOptions(raw.length, quality), (error, out) => {
      if (error !== null) reject(error);
      else resolve(out);
    });
  });
}

/** The raw bytes of a stored blob; an error string when the stored bytes do not decode. */
export function decompressBlob(compression: Compression, stored: Uint8Array, rawLengthBytes: number): Result<Uint8Array, string> {
  if (compression === 'raw') return stored.length === rawLengthBytes ? ok(stored) : err(`raw blob of ${stored.length} bytes, expected ${rawLengthBytes}`);
  let raw: Uint8Array;
  try {
    raw = compression === 'zstd'
      ? zstdDecompress(stored, rawLengthBytes)
      : brotliDecompressSync(stored, { maxOutputLength: Math.max(1, rawLengthBytes) });
  } catch (error) {
    return err(`${compression}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return raw.length === rawLengthBytes ? ok(raw) : err(`decompressed to ${raw.length} bytes, expected ${rawLengthBytes}`);
}
