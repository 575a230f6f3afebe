/**
 * Index files: which pack holds each chunk, at which offset, how long, how compressed.
 * One index file is written per commit (covering the packs that commit wrote) and prune
 * replaces them all by one. Named `index/<SHA-256 of the bytes>`.
 *
 * Format (JSON, UTF-8, one line):
 *   {"format":"quiescelab-index","version":1,
 *    "packs":[{"id":"<pack sha256>","blobs":[["<chunk sha256>",offset,storedBytes,rawBytes,"zstd"|"brotli"|"raw",crc32],…]},…]}
 *
 * The same chunk may be listed by two index files (after a crash inside prune); both
 * places hold the same bytes, and the first one loaded is used.
 */

import { assert } from '../../core/assert.js';
import { err, ok, type Result } from '../../core/result.js';
import { isCompression, type Compression } from './compression.js';
import { ChunkId, isHashHex, PackId } from './hash.js';
import { PACK_MAX_BLOBS, PACK_MAX_BYTES, type BlobEntry } from './pack.js';

/** An index file lists at most this many packs (~1.6 PiB at 100 MiB packs). */
export const INDEX_MAX_PACKS = 1 << 24;

export interface IndexedPack {
  readonly packId: PackId;
  readonly blobs: readonly BlobEntry[];
}

export interface ChunkLocation extends BlobEntry {
  readonly packId: PackId;
}

type BlobTuple = [string, number, number, number, Compression, number];

export function encodeIndex(packs: readonly IndexedPack[]): Uint8Array {
  assert(packs.length > 0 && packs.length <= INDEX_MAX_PACKS, `an index file lists 1..${INDEX_MAX_PACKS} packs`);
  const body = {
    format: 'quiescelab-index',
    version: 1,
    packs: packs.map((p) => ({
      id: p.packId,
      blobs: p.blobs.map((b): BlobTuple => [b.chunkId, b.offsetBytes, b.storedBytes, b.rawBytes, b.compression, b.crc32]),
    })),
  };
  return new TextEncoder().encode(JSON.stringify(body));
}

const isCount = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max;

export function decodeIndex(bytes: Uint8Array): Result<readonly IndexedPack[], string> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    return err(`not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  const body = value as { format?: unknown; version?: unknown; packs?: unknown } | null;
  if (body === null || typeof body !== 'object' || body.format !== 'quiescelab-index' || body.version !== 1) return err('not a version 1 index file');
  if (!Array.isArray(body.packs) || body.packs.length === 0 || body.packs.length > INDEX_MAX_PACKS) return err('bad pack list');
  const packs: IndexedPack[] = [];
  for (const [i, raw] of (body.packs as unknown[]).entries()) {
    const p = raw as { id?: unknown; blobs?: unknown } | null;
    if (p === null || typeof p !== 'object' || typeof p.id !== 'string' || !isHashHex(p.id)) return err(`pack ${i}: bad id`);
    if (!Array.isArray(p.blobs) || p.blobs.length === 0 || p.blobs.length > PACK_MAX_BLOBS) return err(`pack ${p.id}: bad blob list`);
    const blobs: BlobEntry[] = [];
    for (const t of p.blobs as unknown[]) {
      if (!Array.isArray(t) || t.length !== 6) return err(`pack ${p.id}: bad blob entry`);
      const [id, offset, stored, rawBytes, compression, crc] = t as unknown[];
      if (typeof id !== 'string' || !isHashHex(id) || !isCount(offset, PACK_MAX_BYTES) || !isCount(stored, PACK_MAX_BYTES)
        || !isCount(rawBytes, PACK_MAX_BYTES) || !isCompression(compression) || !isCount(crc, 0xffff_ffff)) {
        return err(`pack ${p.id}: bad blob entry ${JSON.stringify(t).slice(0, 100)}`);
      }
      blobs.push({ chunkId: ChunkId(id), offsetBytes: offset, storedBytes: stored, rawBytes, compression, crc32: crc });
    }
    packs.push({ packId: PackId(p.id), blobs });
  }
  return ok(packs);
}
