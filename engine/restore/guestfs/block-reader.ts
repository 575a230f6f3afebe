/**
 * Reads 4 KiB blocks of one RecoveryPoint disk asynchronously, through a small LRU cache,
 * with the journal replay as an overlay: a block that a committed transaction carries is
 * read from its newest journal copy instead of its home. Nothing is ever written (the
 * point is read-only; replay exists only in this map).
 *
 * Models: metadata reads one block at a time through the cache (directory and inode blocks
 * are read again and again during a walk); file data in runs of contiguous blocks that
 * bypass the cache (read once, so caching them would only evict metadata).
 *
 * The source is trusted to be the repository but its answers are still checked: a read
 * that throws or returns the wrong length is a `source` error, never an exception.
 */

import { assert } from '../../../core/assert.js';
import { err, ok, type Result } from '../../../core/result.js';
import type { PointSource } from '../source.js';
import { BLOCK_BYTES } from './format.js';

export const DEFAULT_CACHE_BLOCKS = 256;
/** Largest run one data read asks the source for. */
export const MAX_RUN_BLOCKS = 256;

export interface SourceError {
  readonly kind: 'source';
  readonly reason: string;
}

export interface ReadStats {
  /** Source reads issued and the bytes they returned. */
  readonly reads: number;
  readonly bytesRead: number;
  readonly cacheHits: number;
}

export class BlockReader {
  /** Home block -> absolute journal block holding its newest committed image. */
  private overlay: ReadonlyMap<number, number> = new Map();
  /** Insertion order is recency order: a hit moves the block to the end. */
  private readonly cache = new Map<number, Uint8Array>();
  private reads = 0;
  private bytesRead = 0;
  private cacheHits = 0;
  readonly capacityBlocks: number;

  constructor(
    private readonly source: PointSource,
    readonly diskId: string,
    capacityBytes: number,
    private readonly cacheBlocks = DEFAULT_CACHE_BLOCKS,
  ) {
    assert(Number.isSafeInteger(cacheBlocks) && cacheBlocks >= 1, `cache of ${cacheBlocks} blocks`);
    this.capacityBlocks = Math.floor(capacityBytes / BLOCK_BYTES);
  }

  /** Installs the journal replay (home block -> journal block). */
  setOverlay(overlay: ReadonlyMap<number, number>): void {
    this.overlay = overlay;
    this.cache.clear();
  }

  stats(): ReadStats {
    return { reads: this.reads, bytesRead: this.bytesRead, cacheHits: this.cacheHits };
  }

  /** The block as the replayed image shows it (the caller must not modify it). */
  async block(blockNo: number): Promise<Result<Uint8Array, SourceError>> {
    const physical = this.overlay.get(blockNo) ?? blockNo;
    return this.raw(physical);
  }

  /** The block as stored, ignoring the overlay (the journal scan reads these). */
  async raw(blockNo: number): Promise<Result<Uint8Array, SourceError>> {
    const cached = this.cache.get(blockNo);
    if (cached !== undefined) {
      this.cacheHits++;
      this.cache.delete(blockNo);
      this.cache.set(blockNo, cached);
      return ok(cached);
    }
    const read = await this.fetch(blockNo, 1);
    if (!read.ok) return read;
    if (this.cache.size >= this.cacheBlocks) {
      const oldest = this.cache.keys().next();
      if (oldest.done !== true) this.cache.delete(oldest.value);
    }
    this.cache.set(blockNo, read.value);
    return read;
  }

  /**
   * `count` consecutive blocks from `first` as the replayed image shows them: one source
   * read, then any block the overlay redirects is patched in.
   */
  async run(first: number, count: number): Promise<Result<Uint8Array, SourceError>> {
    assert(count >= 1 && count <= MAX_RUN_BLOCKS, `run of ${count} blocks`);
    const read = await this.fetch(first, count);
    if (!read.ok || this.overlay.size === 0) return read;
    let out = read.value;
    let copied = false;
    for (let i = 0; i < count; i++) {
      const journal = this.overlay.get(first + i);
      if (journal === undefined) continue;
      // The source may hand out its own memory: patch a copy.
      if (!copied) {
        out = out.slice();
        copied = true;
      }
      const image = await this.raw(journal);
      if (!image.ok) return image;
      out.set(image.value, i * BLOCK_BYTES);
    }
    return ok(out);
  }

  private async fetch(first: number, count: number): Promise<Result<Uint8Array, SourceError>> {
    if (!Number.isSafeInteger(first) || first < 0 || first + count > this.capacityBlocks) {
      return err({ kind: 'source', reason: `block ${first}+${count} is outside disk ${this.diskId} (${this.capacityBlocks} blocks)` });
    }
    const lengthBytes = count * BLOCK_BYTES;
    let data: Uint8Array;
    try {
      data = await this.source.read(this.diskId, first * BLOCK_BYTES, lengthBytes);
    } catch (e) {
      return err({ kind: 'source', reason: `reading block ${first} of disk ${this.diskId}: ${e instanceof Error ? e.message : String(e)}` });
    }
    this.reads++;
    this.bytesRead += data.length;
    if (data.length !== lengthBytes) return err({ kind: 'source', reason: `block ${first} of disk ${this.diskId}: read ${data.length} of ${lengthBytes} bytes` });
    return ok(data);
  }
}
