/**
 * Chunk compression: brotli (node:zlib, pure computation) at the repository's quality
 * (default 1; 4 for a smaller repository), and chunks that do not shrink by at least 1/64
 * are stored raw.
 *
 * Why (measured on this machine, 1 MiB chunks; engine/README.md has the table): on
 * text-like data brotli q1 reaches a ratio of 0.323 at ~180-200 MB/s, where deflate level 1
 * reaches 0.360 at ~110 MB/s and deflate level 6 0.290 at 25 MB/s; brotli q4 reaches 0.281
 * at ~70 MB/s (q2 and q3 buy nothing over q1). Brotli gives up on random data at ~1.7 GB/s
 * (deflate spends 54 MB/s on it), so trying it on every chunk is cheaper than any sampling
 * heuristic; it decompresses at ~385 MB/s. Node 20 has no zstd (restic's choice) and no
 * lz4 (borg's default).
 *
 * The async variant runs the same compression on libuv's thread pool, so a writer can
 * chunk and hash on the main thread while earlier chunks compress; its output is byte for
 * byte the sync one's.
 */

import { brotliCompress, brotliCompressSync, brotliDecompressSync, constants } from 'node:zlib';
import { err, ok, type Result } from '../../core/result.js';

export const COMPRESSION_NAME = 'brotli';
export const DEFAULT_BROTLI_QUALITY = 1;

export type Compression = 'raw' | 'brotli';
export const COMPRESSION_CODES: Readonly<Record<Compression, number>> = { raw: 0, brotli: 1 };

export function compressionFromCode(code: number): Compression | undefined {
  return code === 0 ? 'raw' : code === 1 ? 'brotli' : undefined;
}

export interface StoredBlob {
  readonly compression: Compression;
  readonly bytes: Uint8Array;
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

function choose(raw: Uint8Array, compressed: Uint8Array): StoredBlob {
  // Keep the compressed form only when it saves at least 1/64 of the chunk.
  return compressed.length <= raw.length - Math.ceil(raw.length / 64)
    ? { compression: 'brotli', bytes: compressed }
    : { compression: 'raw', bytes: raw };
}

export function compressChunk(raw: Uint8Array, quality = DEFAULT_BROTLI_QUALITY): StoredBlob {
  return choose(raw, brotliCompressSync(raw, brotliOptions(raw.length, quality)));
}

export function compressChunkAsync(raw: Uint8Array, quality = DEFAULT_BROTLI_QUALITY): Promise<StoredBlob> {
  return new Promise((resolve, reject) => {
    brotliCompress(raw, brotliOptions(raw.length, quality), (error, compressed) => {
      if (error !== null) reject(error);
      else resolve(choose(raw, compressed));
    });
  });
}

/** The raw bytes of a stored blob; an error string when the stored bytes do not decode. */
export function decompressBlob(compression: Compression, stored: Uint8Array, rawLengthBytes: number): Result<Uint8Array, string> {
  if (compression === 'raw') return stored.length === rawLengthBytes ? ok(stored) : err(`raw blob of ${stored.length} bytes, expected ${rawLengthBytes}`);
  let raw: Buffer;
  try {
    raw = brotliDecompressSync(stored, { maxOutputLength: Math.max(1, rawLengthBytes) });
  } catch (error) {
    return err(`brotli: ${error instanceof Error ? error.message : String(error)}`);
  }
  return raw.length === rawLengthBytes ? ok(raw) : err(`decompressed to ${raw.length} bytes, expected ${rawLengthBytes}`);
}
