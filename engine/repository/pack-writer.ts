/**
 * Stores the new chunks of one commit (a RecoveryPoint's, or a log record's) in packs.
 * Chunks come in batches, in order; each is hashed; one the repository's index already
 * holds, or that this writer took earlier, is reused; a new one is compressed (chunks that
 * look incompressible are stored raw without trying) and appended to the open pack; a pack
 * that reaches the target size is read back (its trailer must parse to what was added),
 * named by its hash and published; the writer lock is refreshed at each pack.
 *
 * Where the work runs (Repository's compressionInFlight; the same bytes in every case):
 * - 0: everything in the calling thread, in call order (the simulator).
 * - zstd repositories: hashing, CRC32 and compression on the chunk workers
 *   (chunk-workers.ts), the batches' bytes moved there and back. A batch is compressed
 *   along with its hashing while chunks keep turning out new (a full backup: one trip to
 *   a worker), else only once the hashes say which chunks are new (an incremental that
 *   re-reads everything: chunks already stored are never compressed). Packs are hashed
 *   there too. Up to IN_FLIGHT_BYTES_PER_WORKER of chunks per worker are in flight, so a
 *   worker finds its next job queued and the calling thread waits only when the workers
 *   are the slower side.
 * - brotli repositories: hashing here, compression on libuv's thread pool.
 * Up to PACK_PUTS_AT_ONCE pack puts run at once (a slow fsync does not stop the writer);
 * the index lists packs in the order they were cut whatever order their puts end in.
 *
 * finish() publishes the last pack and then one index file listing every pack this writer
 * wrote, each step after the previous returned ok (every pack put has ended before the
 * index is written). The caller publishes its commit point (a manifest, a log record)
 * after that and only then adds the packs to the in-memory index
 * (`Repository.addToIndex`). A failure anywhere leaves garbage (packs, an index file) that
 * prune removes; after an error the writer must not be used.
 *
 * Leaves out: what the chunks mean (disk maps and log records are the callers').
 */

import { assert } from '../../core/assert.js';
import { err, ok, type Result } from '../../core/result.js';
import type { StoreLock } from '../store/lock.js';
import { allocateUnpooled, BufferPool, type Allocate } from './buffers.js';
import type { ChunkWorkers } from './chunk-workers.js';
import { brotliCompressAsync, compressChunk, compressedLimit, looksIncompressible, rawBlob, storedForm, type StoredBlob } from './compression.js';
import { ChunkId, indexName, PackId, packName, sha256Hex } from './hash.js';
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

/** Chunk bytes in flight (hashed or compressed) per worker or unit of compressionInFlight. */
const IN_FLIGHT_BYTES_PER_WORKER = 16 * 1024 * 1024;
/** Batches answered but waiting for an older one may hold this many windows of bytes. */
const HELD_WINDOWS = 3;
/** Chunks whose stored form is still being computed that may wait in the queue, per worker. */
const QUEUED_PER_WORKER = 8;
/** Room past the target size a pack's buffer starts with (entries, footer). */
const PACK_SLACK_BYTES = 64 * 1024;
/** The first buffer of a pack written without chunk workers (newPack says why). */
const UNPOOLED_PACK_START_BYTES = 256 * 1024;
/** Pack puts running at once. */
const PACK_PUTS_AT_ONCE = 4;

/**
 * A chunk's stored form; `crc` when it was computed with it (else the pack computes it);
 * `hold`: the pooled buffer its bytes are in, given back once every such blob is in a pack.
 */
interface Stored {
  readonly blob: StoredBlob;
  readonly crc: number | undefined;
  readonly hold?: ArrayBufferLike;
}

/** A batch once hashed: ids, the bytes (moved back from a worker), and stored forms computed along. */
interface Hashed {
  readonly ids: readonly ChunkId[];
  readonly views: readonly Uint8Array[];
  readonly stored: readonly (Stored | undefined)[] | undefined;
}

interface Batch {
  readonly bytes: number;
  readonly hashed: Promise<Hashed> | Hashed;
  readonly onIds: (ids: readonly ChunkId[]) => void;
  /** Hashed (and compressed, if asked) already: it waits only for the batches before it. */
  done: boolean;
}

interface Queued {
  readonly chunkId: ChunkId;
  readonly rawBytes: number;
  readonly stored: Promise<Stored> | Stored;
}

/** Keeps a promise nobody may await (the writer died first) from counting as unhandled; awaiting it still throws. */
function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

export class PackWriter {
  readonly counters: PackCounters = { bytesNew: 0, chunksNew: 0, bytesNewStored: 0, bytesReused: 0, chunksReused: 0, packsWritten: 0 };
  private pack: PackBuilder;
  private readonly packs: IndexedPack[] = [];
  /** Chunks this writer stores: queued, in the open pack, or in a published pack. */
  private readonly newChunks = new Set<ChunkId>();
  private readonly batches: Batch[] = [];
  private batchBytes = 0;
  /** Bytes of batches a worker has not answered yet. */
  private unfinishedBytes = 0;
  private readonly queue: Queued[] = [];
  /** Pack puts still running, oldest first. */
  private readonly packPuts: Promise<Result<IndexedPack, RepoError>>[] = [];
  /**
   * Settles once the last pack's put has been issued to the store: each put is issued after
   * the one before (packs hashed on two workers may come back in either order), so the
   * store sees a writer's calls in the same order every time, whatever the threads do
   * (the scenarios' crash at store call k depends on it).
   */
  private lastPutIssued: Promise<void> = Promise.resolve();
  /** Compress along with hashing (the last batch hashed was mostly new). */
  private speculate = true;
  private finished = false;
  private readonly workers: ChunkWorkers | undefined;
  private readonly inFlightBytes: number;
  /** With workers: buffers of chunks and packs, given back once nothing refers to their bytes. */
  private readonly pool: BufferPool | undefined;
  /** Pooled buffers still holding blobs that wait for the pack, and how many. */
  private readonly holds = new Map<ArrayBufferLike, number>();
  /** Where the buffers of the chunks to submit should come from. */
  readonly allocate: Allocate;
  /** Takes back a buffer from `allocate` that was never submitted (nothing refers to it any more). */
  readonly release: (buffer: ArrayBufferLike) => void = (buffer) => { this.pool?.give(buffer); };

  constructor(
    private readonly repo: Repository,
    private readonly lock: StoreLock,
  ) {
    // The workers load while the first bytes are read and cut.
    this.workers = repo.workers();
    this.inFlightBytes = IN_FLIGHT_BYTES_PER_WORKER * repo.compressionInFlight;
    this.pool = this.workers === undefined ? undefined : new BufferPool();
    this.allocate = this.pool?.allocate ?? allocateUnpooled;
    this.pack = this.newPack();
  }

  /**
   * Takes chunks, in order: their bytes are the writer's from now on (they may be moved to
   * a worker: no other view of their buffers may be used, and the buffers hold nothing
   * else anyone needs). `onIds` gets their ids (SHA-256 of each), in the order batches
   * were submitted, once hashed. Resolves when the writer may take more.
   */
  async submit(chunks: readonly Uint8Array[], onIds: (ids: readonly ChunkId[]) => void): Promise<Result<void, RepoError>> {
    assert(!this.finished, 'the pack writer is finished');
    if (chunks.length === 0) return ok(undefined);
    const bytes = chunks.reduce((sum, c) => sum + c.length, 0);
    const hashed = this.hash(chunks);
    const batch: Batch = { bytes, hashed, onIds, done: !(hashed instanceof Promise) };
    if (hashed instanceof Promise) {
      this.unfinishedBytes += bytes;
      void hashed.then(() => { batch.done = true; this.unfinishedBytes -= bytes; }, () => undefined);
    }
    this.batches.push(batch);
    this.batchBytes += bytes;
    return this.settle(this.inFlightBytes);
  }

  /** Publishes the last pack, then the index file of every pack written; returns those packs. */
  async finish(): Promise<Result<readonly IndexedPack[], RepoError>> {
    assert(!this.finished, 'the pack writer is finished');
    this.finished = true;
    const settled = await this.settle(0);
    if (!settled.ok) return settled;
    const drained = await this.drain(0);
    if (!drained.ok) return drained;
    if (this.pack.blobCount > 0) {
      const flushed = await this.flushPack();
      if (!flushed.ok) return flushed;
    }
    // Every pack is durable before the index that lists it is written.
    const lastPuts = await this.awaitPackPuts(0);
    if (!lastPuts.ok) return lastPuts;
    if (this.packs.length > 0) {
      const bytes = encodeIndex(this.packs);
      const put = await this.repo.store.put(indexName(sha256Hex(bytes)), bytes);
      if (!put.ok) return err({ kind: 'store', error: put.error });
      this.repo.noteIndexFile(bytes.length);
    }
    return ok(this.packs.slice());
  }

  /** Starts hashing a batch (and, on workers while chunks keep turning out new, compressing it). */
  private hash(chunks: readonly Uint8Array[]): Promise<Hashed> | Hashed {
    const workers = this.workers;
    if (workers === undefined) return { ids: chunks.map((c) => ChunkId(sha256Hex(c))), views: chunks, stored: undefined };
    if (!this.speculate) {
      return quiet(workers.run({ views: chunks, hash: true, compressLevel: chunks.map(() => 0), compressLimit: chunks.map(() => 0), crc: chunks.map(() => false) })
        .then((r) => ({ ids: r.hexes.map(ChunkId), views: r.views, stored: undefined })));
    }
    return quiet(this.storeOnWorkers(workers, chunks, true).then(({ ids, stored }) => ({ ids, views: stored.map((s) => s.raw), stored })));
  }

  /**
   * Stored forms (with their CRC32) computed on a worker, in order: a chunk that looks
   * incompressible is stored raw without trying, else compressed when that saves enough.
   */
  private async storeOnWorkers(workers: ChunkWorkers, views: readonly Uint8Array[], hash: boolean): Promise<{ ids: ChunkId[]; stored: (Stored & { readonly raw: Uint8Array })[] }> {
    const { codec, level } = this.repo.codec;
    const tries = views.map((v) => !looksIncompressible(v));
    const r = await workers.run({
      views, hash, compressLevel: tries.map((t) => (t ? level : 0)), compressLimit: views.map((v) => compressedLimit(v.length)), crc: views.map(() => true),
    });
    return {
      ids: r.hexes.map(ChunkId),
      stored: r.views.map((view, i) => {
        const n = r.compressedBytes[i] as number;
        // A kept compressed form is at the view's start (its raw bytes are gone: only their length counts from here).
        return { raw: view, blob: n < 0 ? rawBlob(view) : { compression: codec, bytes: view.subarray(0, n) }, crc: r.crcs[i] as number };
      }),
    };
  }

  /**
   * Takes hashed batches in order (reused, or queued to be stored): every one that is done,
   * then waits for the oldest only while more than `keepBytes` are unanswered (the workers
   * have enough) or more than HELD_WINDOWS times that are held. A slow batch at the head
   * does not stop the writer from feeding a worker that has finished its own.
   */
  private async settle(keepBytes: number): Promise<Result<void, RepoError>> {
    while (this.batches.length > 0) {
      const head = this.batches[0] as Batch;
      if (!head.done && this.unfinishedBytes <= keepBytes && this.batchBytes <= HELD_WINDOWS * keepBytes) break;
      const batch = this.batches.shift() as Batch;
      this.batchBytes -= batch.bytes;
      const { ids, views, stored } = await batch.hashed;
      batch.onIds(ids);
      // A chunk is reused only where a read would find it intact (its pack checked once).
      const checked = await this.repo.checkForReuse(ids.filter((id) => !this.newChunks.has(id)));
      if (!checked.ok) return checked;
      const fresh: number[] = [];
      let freshBytes = 0;
      ids.forEach((chunkId, i) => {
        const length = (views[i] as Uint8Array).length;
        if (this.newChunks.has(chunkId) || this.repo.reusable(chunkId)) {
          this.counters.chunksReused += 1;
          this.counters.bytesReused += length;
          return;
        }
        this.newChunks.add(chunkId);
        this.counters.chunksNew += 1;
        this.counters.bytesNew += length;
        freshBytes += length;
        fresh.push(i);
      });
      this.speculate = freshBytes * 2 >= batch.bytes;
      const freshViews = fresh.map((i) => views[i] as Uint8Array);
      // Lengths first: storeLater may move the views' buffers to a worker, which detaches
      // them here (a detached view has length 0: read after the move, every new chunk of an
      // incremental was indexed with a raw length of 0 and could not be decompressed).
      const rawLengths = freshViews.map((v) => v.length);
      const freshStored = stored === undefined ? this.storeLater(freshViews) : this.held(freshViews, fresh.map((i) => stored[i] as Stored), views);
      fresh.forEach((i, k) => {
        this.queue.push({ chunkId: ids[i] as ChunkId, rawBytes: rawLengths[k] as number, stored: freshStored[k] as Promise<Stored> | Stored });
      });
      // Buffers none of whose chunks is new are not needed any more (the new ones' move on).
      if (stored === undefined) this.giveBack(views, new Set(freshViews.map((v) => v.buffer)));
      // Blobs are appended (and full packs put) as batches come in: at the end of a commit
      // the last packs' puts run while the last batches are still being compressed.
      const drained = await this.drain(this.queueKeep());
      if (!drained.ok) return drained;
    }
    // Stored forms still being computed are taken while the caller reads and cuts.
    return this.drain(this.queueKeep());
  }

  /** Queued chunks whose stored form may still be computing when the writer goes on. */
  private queueKeep(): number {
    return this.inFlightBytes > 0 ? QUEUED_PER_WORKER * this.repo.compressionInFlight : 0;
  }

  /** Stored forms of new chunks whose hashing did not compute them, in order. */
  private storeLater(views: readonly Uint8Array[]): (Promise<Stored> | Stored)[] {
    const { codec, level } = this.repo.codec;
    if (this.repo.compressionInFlight === 0) return views.map((v) => ({ blob: compressChunk(v, this.repo.codec), crc: undefined }));
    const workers = this.workers;
    if (workers === undefined) {
      return views.map((v) => (looksIncompressible(v) ? { blob: rawBlob(v), crc: undefined } : quiet(brotliCompressAsync(v, level).then((c) => ({ blob: storedForm(v, codec, c), crc: undefined })))));
    }
    if (views.length === 0) return [];
    // One job: the views share buffers, which move together.
    const job = this.storeOnWorkers(workers, views, false).then((r) => this.held(r.stored.map((s) => s.raw), r.stored, r.stored.map((s) => s.raw)));
    return views.map((_, i) => quiet(job.then((stored) => stored[i] as Stored)));
  }

  /**
   * The stored forms of new chunks, each marked as holding its (pooled) buffer until it is
   * in a pack (a worker leaves a chunk's stored form in the chunk's own bytes, raw or
   * compressed); buffers of `all` (the views their job moved back) that hold none are
   * given back at once.
   */
  private held(views: readonly Uint8Array[], stored: readonly Stored[], all: readonly Uint8Array[]): Stored[] {
    if (this.pool === undefined) return stored.slice();
    const holding = new Set<ArrayBufferLike>();
    const out = stored.map((s, i) => {
      const buffer = (views[i] as Uint8Array).buffer;
      holding.add(buffer);
      this.holds.set(buffer, (this.holds.get(buffer) ?? 0) + 1);
      return { ...s, hold: buffer };
    });
    this.giveBack(all, holding);
    return out;
  }

  /** Gives the buffers of `views` back to the pool, but for those in `keep`. */
  private giveBack(views: readonly Uint8Array[], keep: ReadonlySet<ArrayBufferLike>): void {
    if (this.pool === undefined) return;
    const done = new Set<ArrayBufferLike>();
    for (const { buffer } of views) {
      if (keep.has(buffer) || done.has(buffer)) continue;
      done.add(buffer);
      this.pool.give(buffer);
    }
  }

  private releaseHold(buffer: ArrayBufferLike): void {
    const left = (this.holds.get(buffer) ?? 0) - 1;
    if (left > 0) {
      this.holds.set(buffer, left);
      return;
    }
    this.holds.delete(buffer);
    this.pool?.give(buffer);
  }

  /**
   * A writer with chunk workers (a bulk backup) takes a pooled buffer of the full target
   * size. One without starts small and lets the pack grow (doubling): its commits are
   * often a few chunks, and a fresh 16 MiB buffer per pack — two per commit, counting the
   * one opened after the flush — was external memory that drove the collector (measured:
   * 2% of a scenario's CPU in the allocation alone, more in the GCs it forced).
   */
  private newPack(): PackBuilder {
    const target = this.repo.config.packTargetBytes + PACK_SLACK_BYTES;
    return new PackBuilder(this.workers === undefined ? Math.min(target, UNPOOLED_PACK_START_BYTES) : target, this.allocate);
  }

  /** Appends queued blobs to the pack, in order, until at most `keep` remain. */
  private async drain(keep: number): Promise<Result<void, RepoError>> {
    while (this.queue.length > keep) {
      const head = this.queue.shift() as Queued;
      const { blob, crc, hold } = await head.stored;
      if (this.pack.blobCount > 0 && this.pack.projectedBytes + blob.bytes.length > this.repo.config.packTargetBytes) {
        const flushed = await this.flushPack();
        if (!flushed.ok) return flushed;
      }
      // A chunk is never empty (the chunker drops nothing but all-zero chunks, and cuts at
      // least one byte); a stored form is never longer than its raw bytes plus a frame.
      assert(head.rawBytes > 0 && blob.bytes.length > 0, `chunk ${head.chunkId}: raw ${head.rawBytes} bytes, stored ${blob.bytes.length}`);
      assert(blob.compression !== 'raw' || blob.bytes.length === head.rawBytes, `chunk ${head.chunkId}: stored raw ${blob.bytes.length} bytes of ${head.rawBytes}`);
      // The pack copies the blob in: a buffer it held can go back.
      this.pack.add(head.chunkId, blob, head.rawBytes, crc);
      if (hold !== undefined) this.releaseHold(hold);
      this.counters.bytesNewStored += blob.bytes.length;
    }
    return ok(undefined);
  }

  /** Waits for the oldest pack puts until at most `keep` run; their packs join the list in cut order. */
  private async awaitPackPuts(keep: number): Promise<Result<void, RepoError>> {
    while (this.packPuts.length > keep) {
      const put = await (this.packPuts.shift() as Promise<Result<IndexedPack, RepoError>>);
      if (!put.ok) return put;
      this.packs.push(put.value);
    }
    return ok(undefined);
  }

  private async flushPack(): Promise<Result<void, RepoError>> {
    const previous = await this.awaitPackPuts(PACK_PUTS_AT_ONCE - 1);
    if (!previous.ok) return previous;
    const refreshed = await this.lock.refreshIfDue();
    if (!refreshed.ok) return err({ kind: 'lock', error: refreshed.error });
    const { bytes, entries } = this.pack.finish();
    this.pack = this.newPack();
    // Read back before publishing: the encoded trailer must list exactly what we added.
    const back = parsePack(bytes);
    assert(back.ok && back.value.length === entries.length && back.value.every((e, i) => e.chunkId === entries[i]?.chunkId && e.offsetBytes === entries[i].offsetBytes),
      `pack does not parse back: ${back.ok ? 'entries differ' : back.error}`);
    const workers = this.workers;
    const before = this.lastPutIssued;
    let issued: () => void = () => undefined;
    this.lastPutIssued = new Promise((resolve) => { issued = resolve; });
    this.packPuts.push(quiet((async (): Promise<Result<IndexedPack, RepoError>> => {
      // Named by its hash, computed on a worker when there are workers (the bytes go there and back).
      const named = workers === undefined
        ? { hex: sha256Hex(bytes), bytes }
        : await workers.run({ views: [bytes], hash: true, compressLevel: [0], compressLimit: [0], crc: [false] })
          .then((r) => ({ hex: r.hexes[0] as string, bytes: r.views[0] as Uint8Array }), (error: unknown) => { issued(); throw error; });
      await before;
      const packId = PackId(named.hex);
      const putting = this.repo.store.put(packName(packId), named.bytes);
      issued();
      const put = await putting;
      // A store keeps no view of what it was given (byte-store.ts): the buffer can go back.
      this.pool?.give(named.bytes.buffer);
      if (!put.ok) return err({ kind: 'store', error: put.error });
      this.counters.packsWritten += 1;
      return ok({ packId, blobs: entries });
    })()));
    return ok(undefined);
  }
}
