/**
 * Stores the new chunks of one commit (a RecoveryPoint's, or a log record's) in packs: a
 * chunk the repository's index already holds, or that this writer took earlier, is reused;
 * a new one is compressed (on libuv's thread pool when `compressionInFlight` > 0, in call
 * order either way) and appended to the open pack; a pack that reaches the target size is
 * read back (its trailer must parse to what was added) and published, one put at a time so
 * chunking goes on during its fsync; the writer lock is refreshed at each pack.
 *
 * finish() publishes the last pack and then one index file listing every pack this writer
 * wrote, each step after the previous returned ok. The caller publishes its commit point
 * (a manifest, a log record) after that and only then adds the packs to the in-memory
 * index (`Repository.addToIndex`). A failure anywhere leaves garbage (packs, an index
 * file) that prune removes; after an error the writer must not be used.
 *
 * Leaves out: what the chunks mean (disk maps and log records are the callers').
 */

import { assert } from '../../core/assert.js';
import { err, ok, type Result } from '../../core/result.js';
import type { StoreLock } from '../store/lock.js';
import type { StoredBlob } from './compression.js';
import { indexName, PackId, packName, sha256Hex, type ChunkId } from './hash.js';
import { encodeIndex, type IndexedPack } from './index-file.js';
import { PackBuilder, parsePack } from './pack.js';
import type { Repository, RepoError } from './repository.js';

export interface PackCounters {
  /** Raw bytes and count of chunks this writer stored. */
  bytesNew: number;
  chunksNew: number;
  /** Their stored (compressed) size. */
  bytesNewStored: number;
  /** Raw bytes and count of chunks that were already stored. */
  bytesReused: number;
  chunksReused: number;
  packsWritten: number;
}

interface Queued {
  readonly chunkId: ChunkId;
  readonly rawBytes: number;
  readonly blob: Promise<StoredBlob> | StoredBlob;
}

export class PackWriter {
  readonly counters: PackCounters = { bytesNew: 0, chunksNew: 0, bytesNewStored: 0, bytesReused: 0, chunksReused: 0, packsWritten: 0 };
  private pack = new PackBuilder();
  private readonly packs: IndexedPack[] = [];
  /** Chunks this writer stores: queued, in the open pack, or in a published pack. */
  private readonly newChunks = new Set<ChunkId>();
  private readonly queue: Queued[] = [];
  /** The pack put still running (one at a time). */
  private packPut: Promise<Result<void, RepoError>> | undefined;
  private finished = false;

  constructor(
    private readonly repo: Repository,
    private readonly lock: StoreLock,
  ) {}

  /** Takes one chunk (`chunkId` = SHA-256 of `bytes`); stores it unless it is stored already. */
  async add(chunkId: ChunkId, bytes: Uint8Array): Promise<Result<void, RepoError>> {
    assert(!this.finished, 'the pack writer is finished');
    if (this.repo.index.has(chunkId) || this.newChunks.has(chunkId)) {
      this.counters.chunksReused += 1;
      this.counters.bytesReused += bytes.length;
      return ok(undefined);
    }
    this.newChunks.add(chunkId);
    this.counters.chunksNew += 1;
    this.counters.bytesNew += bytes.length;
    const inFlight = this.repo.compressionInFlight;
    this.queue.push({ chunkId, rawBytes: bytes.length, blob: this.repo.compress(bytes) });
    return this.drain(inFlight);
  }

  /** Publishes the last pack, then the index file of every pack written; returns those packs. */
  async finish(): Promise<Result<readonly IndexedPack[], RepoError>> {
    assert(!this.finished, 'the pack writer is finished');
    this.finished = true;
    const drained = await this.drain(0);
    if (!drained.ok) return drained;
    if (this.pack.blobCount > 0) {
      const flushed = await this.flushPack();
      if (!flushed.ok) return flushed;
    }
    // Every pack is durable before the index that lists it is written.
    const lastPut = await this.awaitPackPut();
    if (!lastPut.ok) return lastPut;
    if (this.packs.length > 0) {
      const bytes = encodeIndex(this.packs);
      const put = await this.repo.store.put(indexName(sha256Hex(bytes)), bytes);
      if (!put.ok) return err({ kind: 'store', error: put.error });
      this.repo.noteIndexFile(bytes.length);
    }
    return ok(this.packs.slice());
  }

  /** Appends queued blobs to the pack, in order, until at most `keep` remain in flight. */
  private async drain(keep: number): Promise<Result<void, RepoError>> {
    while (this.queue.length > keep) {
      const head = this.queue.shift() as Queued;
      const blob = await head.blob;
      if (this.pack.blobCount > 0 && this.pack.projectedBytes + blob.bytes.length > this.repo.config.packTargetBytes) {
        const flushed = await this.flushPack();
        if (!flushed.ok) return flushed;
      }
      this.pack.add(head.chunkId, blob, head.rawBytes);
      this.counters.bytesNewStored += blob.bytes.length;
    }
    return ok(undefined);
  }

  private async awaitPackPut(): Promise<Result<void, RepoError>> {
    const running = this.packPut;
    this.packPut = undefined;
    return running === undefined ? ok(undefined) : running;
  }

  private async flushPack(): Promise<Result<void, RepoError>> {
    const previous = await this.awaitPackPut();
    if (!previous.ok) return previous;
    const { bytes, entries } = this.pack.finish();
    this.pack = new PackBuilder();
    // Read back before publishing: the encoded trailer must list exactly what we added.
    const back = parsePack(bytes);
    assert(back.ok && back.value.length === entries.length && back.value.every((e, i) => e.chunkId === entries[i]?.chunkId && e.offsetBytes === entries[i].offsetBytes),
      `pack does not parse back: ${back.ok ? 'entries differ' : back.error}`);
    const packId = PackId(sha256Hex(bytes));
    this.packPut = this.repo.store.put(packName(packId), bytes).then(async (put): Promise<Result<void, RepoError>> => {
      if (!put.ok) return err({ kind: 'store', error: put.error });
      this.packs.push({ packId, blobs: entries });
      this.counters.packsWritten += 1;
      const refreshed = await this.lock.refreshIfDue();
      return refreshed.ok ? ok(undefined) : err({ kind: 'lock', error: refreshed.error });
    });
    // A put that throws (a crash) is rethrown where it is awaited; this only keeps it from
    // counting as unhandled when the writer dies before awaiting it.
    this.packPut.catch(() => undefined);
    return ok(undefined);
  }
}
