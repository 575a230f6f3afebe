/**
 * Decoded chunks a read session keeps: a restore, or a PointSource reading a point back
 * range by range. An incremental's map slices an old chunk around each changed area, so
 * one chunk backs many extents; without a cache each extent would fetch, CRC-check,
 * decompress and SHA-256 the whole chunk again (measured: a scenario's read-backs hashed
 * 10x the bytes the points hold).
 *
 * A chunk enters only after its end-to-end check passed. The cache lives as long as the
 * session that made it, never longer: damage done to the store after a session began is
 * found by the next session (and by verify, which never reads through a cache).
 *
 * Least recently used goes first once the decoded bytes pass `maxBytes`.
 */

import { assertInt } from '../../core/assert.js';
import type { Compression } from './compression.js';
import type { ChunkId } from './hash.js';

/** A read session's default budget: four maximal chunks of the default chunker, and more. */
export const CHUNK_CACHE_DEFAULT_BYTES = 32 * 1024 * 1024;

/** Entries under a byte budget, least recently used evicted first (Map order is insertion order). */
class BudgetLru<V> {
  private readonly entries = new Map<ChunkId, { readonly value: V; readonly cost: number }>();
  bytes = 0;

  constructor(readonly maxBytes: number, what: string) {
    assertInt(maxBytes, 0, Number.MAX_SAFE_INTEGER, `${what} maxBytes`);
  }

  /** The entry, made the most recent. */
  get(id: ChunkId): V | undefined {
    const e = this.entries.get(id);
    if (e === undefined) return undefined;
    this.entries.delete(id);
    this.entries.set(id, e);
    return e.value;
  }

  /** Keeps `value` at `cost` bytes; one larger than the whole budget is not kept. */
  set(id: ChunkId, value: V, cost: number): void {
    if (cost > this.maxBytes) return;
    const old = this.entries.get(id);
    if (old !== undefined) {
      this.bytes -= old.cost;
      this.entries.delete(id);
    }
    this.entries.set(id, { value, cost });
    this.bytes += cost;
    for (const [oldest, e] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= e.cost;
    }
  }

  get size(): number {
    return this.entries.size;
  }
}

export class ChunkCache {
  private readonly lru: BudgetLru<Uint8Array>;
  hits = 0;
  misses = 0;

  constructor(readonly maxBytes: number = CHUNK_CACHE_DEFAULT_BYTES) {
    this.lru = new BudgetLru(maxBytes, 'chunk cache');
  }

  get(id: ChunkId): Uint8Array | undefined {
    const bytes = this.lru.get(id);
    if (bytes === undefined) this.misses += 1;
    else this.hits += 1;
    return bytes;
  }

  /** Keeps a checked chunk; one larger than the whole budget is not kept. */
  put(id: ChunkId, bytes: Uint8Array): void {
    this.lru.set(id, bytes, bytes.length);
  }

  get size(): number {
    return this.lru.size;
  }

  get sizeBytes(): number {
    return this.lru.bytes;
  }
}

/**
 * A repository's memo of chunks it already checked end to end: the stored bytes as read,
 * and the raw bytes they decoded to. A later read whose stored bytes are byte for byte the
 * same (they still pass the CRC32 first) skips decompression and SHA-256: decoding is a
 * function of the stored bytes, so it would give the same raw bytes and the same verdict.
 * Any change to the stored bytes (damage, a rewritten pack) misses the memo and is checked
 * in full. Chunks enter only from the read path, never from the writer: a codec that
 * cannot decode what it wrote is still caught on the first read. Only random-access reads
 * (Repository.readDisk, which PointSources use) go through it: a streaming restore reads
 * each chunk once, and copying its stored bytes in would only cost.
 */
export class CheckedChunks {
  private readonly lru: BudgetLru<{ readonly compression: Compression; readonly stored: Uint8Array; readonly raw: Uint8Array }>;

  constructor(readonly maxBytes: number = CHUNK_CACHE_DEFAULT_BYTES) {
    this.lru = new BudgetLru(maxBytes, 'checked chunks');
  }

  /** The raw bytes of `id` if `stored`, under `compression`, equals what was checked before. */
  rawFor(id: ChunkId, compression: Compression, stored: Uint8Array): Uint8Array | undefined {
    const e = this.lru.get(id);
    if (e === undefined || e.compression !== compression || !sameBytes(e.stored, stored)) return undefined;
    return e.raw;
  }

  /** Remembers a chunk that just passed its check (`stored` is copied; `raw` is kept as is). */
  remember(id: ChunkId, compression: Compression, stored: Uint8Array, raw: Uint8Array): void {
    const cost = stored.length + raw.length;
    if (cost > this.maxBytes) return;
    this.lru.set(id, { compression, stored: stored.slice(), raw }, cost);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}
