/**
 * Writes one RecoveryPoint. The caller declares disks, copies ranges of the parent's
 * maps (an incremental: what did not change) and writes extents (what it read). Written
 * bytes are cut into chunks (stream-chunker.ts), hashed, looked up in the index (a chunk
 * already stored is reused), compressed and appended to a pack; a full pack is published.
 *
 * commit() publishes, in this order, each step only after the previous one returned ok:
 *   1. the last pack,
 *   2. one index file listing every pack this point wrote,
 *   3. (the lock is checked to be still ours: a fence) the manifest — the commit point.
 * A crash or an error anywhere before step 3 leaves garbage (packs, an index file) and no
 * new point; the earlier points' objects are never touched.
 *
 * Rules: writes to one disk may not overlap each other (a programmer error); they override
 * whatever copyFromParent put there. A range written is wholly defined by the write: its
 * zero runs override the parent's data. After an error the writer is dead.
 */

import { assert, assertInt } from '../../core/assert.js';
import type { DiskId } from '../../core/ids.js';
import { err, ok, type Result } from '../../core/result.js';
import type { StoreLock } from '../store/lock.js';
import { compressChunk, compressChunkAsync, type StoredBlob } from './compression.js';
import {
  clipToRanges, endOf, mergeMaps, normaliseRanges, subtractRanges, type ByteRange, type MappedExtent,
} from './extent-map.js';
import { ChunkId, indexName, manifestName, PackId, packName, RecoveryPointId, sha256Hex } from './hash.js';
import { encodeIndex, type IndexedPack } from './index-file.js';
import {
  decodeManifest, DISK_MAX_CAPACITY_BYTES, encodeManifest, MANIFEST_MAX_DISKS,
  type CommitStats, type DiskManifest, type Manifest, type RecoveryPointMeta,
} from './manifest.js';
import { PackBuilder, parsePack } from './pack.js';
import type { Repository, RepoError } from './repository.js';
import { StreamChunker } from './stream-chunker.js';

export interface CommitResult {
  readonly id: RecoveryPointId;
  readonly manifest: Manifest;
}

interface DiskState {
  readonly capacityBytes: number;
  readonly copied: ByteRange[];
  /** Ranges written (each wholly defined by its write), in call order. */
  readonly covered: ByteRange[];
  readonly written: MappedExtent[];
  stream: StreamChunker | undefined;
}

interface Queued {
  readonly chunkId: ChunkId;
  readonly rawBytes: number;
  readonly blob: Promise<StoredBlob> | StoredBlob;
}

interface Counters {
  bytesScanned: number;
  bytesChunked: number;
  bytesNew: number;
  bytesNewStored: number;
  bytesReused: number;
  chunksNew: number;
  chunksReused: number;
  packsWritten: number;
}

/** An extent handed to writeExtent is at most this long (the caller streams larger ones). */
export const WRITE_MAX_BYTES = 256 * 1024 * 1024;

export class PointWriter {
  private readonly disks = new Map<string, DiskState>();
  private readonly diskOrder: DiskId[] = [];
  private pack = new PackBuilder();
  private readonly packs: IndexedPack[] = [];
  /** Chunks this point stores: queued, in the open pack, or in a published pack. */
  private readonly newChunks = new Set<ChunkId>();
  private readonly queue: Queued[] = [];
  /** The pack put still running (one at a time, so chunking goes on during its fsync). */
  private packPut: Promise<Result<void, RepoError>> | undefined;
  private readonly counters: Counters = {
    bytesScanned: 0, bytesChunked: 0, bytesNew: 0, bytesNewStored: 0, bytesReused: 0, chunksNew: 0, chunksReused: 0, packsWritten: 0,
  };
  private state: 'open' | 'failed' | 'committed' | 'aborted' = 'open';
  private readonly startedAtUs: number;
  private meta: RecoveryPointMeta;
  private readonly sequence: number;
  private readonly parentId: RecoveryPointId | null;
  private readonly parent: Manifest | undefined;

  constructor(
    private readonly repo: Repository,
    private readonly lock: StoreLock,
    init: { readonly meta: RecoveryPointMeta; readonly sequence: number; readonly parentId: RecoveryPointId | null; readonly parent: Manifest | undefined },
  ) {
    this.meta = init.meta;
    this.sequence = init.sequence;
    this.parentId = init.parentId;
    this.parent = init.parent;
    this.startedAtUs = repo.clock.nowUs();
    repo.setWriterOpen(true);
  }

  writeDisk(diskId: DiskId, capacityBytes: number): void {
    this.assertOpen();
    assert(!this.disks.has(diskId), `disk ${diskId} declared twice`);
    assert(this.disks.size < MANIFEST_MAX_DISKS, `a point holds at most ${MANIFEST_MAX_DISKS} disks`);
    assertInt(capacityBytes, 0, DISK_MAX_CAPACITY_BYTES, 'capacityBytes');
    this.disks.set(diskId, { capacityBytes, copied: [], covered: [], written: [], stream: undefined });
    this.diskOrder.push(diskId);
  }

  /**
   * Starts a declared disk over: what was copied and written to it is dropped (chunks
   * already stored stay, as garbage or for reuse). A job uses it when CBT turns out
   * unusable halfway and it reads the disk in full instead.
   */
  restartDisk(diskId: DiskId): void {
    this.assertOpen();
    const disk = this.disk(diskId);
    this.disks.set(diskId, { capacityBytes: disk.capacityBytes, copied: [], covered: [], written: [], stream: undefined });
  }

  /** The parent's capacity of `diskId`, or undefined when the parent has no such disk. */
  parentCapacityBytes(diskId: DiskId): number | undefined {
    return this.parent?.disks.find((d) => d.diskId === diskId)?.capacityBytes;
  }

  /** Takes [offsetBytes, +lengthBytes) of the parent's map of the same disk (no bytes are read). */
  copyFromParent(diskId: DiskId, offsetBytes: number, lengthBytes: number): void {
    this.assertOpen();
    const disk = this.disk(diskId);
    const parentCapacity = this.parentCapacityBytes(diskId);
    assert(parentCapacity !== undefined, `the parent has no disk ${diskId}`);
    assert(Number.isSafeInteger(offsetBytes) && Number.isSafeInteger(lengthBytes) && offsetBytes >= 0 && lengthBytes >= 0
      && offsetBytes + lengthBytes <= Math.min(disk.capacityBytes, parentCapacity),
    `copy [${offsetBytes}, +${lengthBytes}) outside disk ${diskId} (${disk.capacityBytes} bytes, parent ${parentCapacity})`);
    disk.copied.push({ offsetBytes, lengthBytes });
  }

  /**
   * The disk's bytes at [offsetBytes, +bytes.length). A write that starts where the previous
   * write to the disk ended continues its chunking stream (stream large extents in pieces).
   * `bytes` may be reused by the caller once the promise resolves.
   */
  async writeExtent(diskId: DiskId, offsetBytes: number, bytes: Uint8Array): Promise<Result<void, RepoError>> {
    this.assertOpen();
    const disk = this.disk(diskId);
    assertInt(bytes.length, 0, WRITE_MAX_BYTES, 'extent length');
    assert(Number.isSafeInteger(offsetBytes) && offsetBytes >= 0 && offsetBytes + bytes.length <= disk.capacityBytes,
      `write [${offsetBytes}, +${bytes.length}) outside disk ${diskId} of ${disk.capacityBytes} bytes`);
    if (bytes.length === 0) return ok(undefined);
    if (disk.stream === undefined || disk.stream.endOffsetBytes !== offsetBytes) {
      const ended = await this.endStream(disk);
      if (!ended.ok) return ended;
      disk.stream = new StreamChunker(this.repo.chunker, this.repo.config.zero, offsetBytes);
      disk.covered.push({ offsetBytes, lengthBytes: bytes.length });
    } else {
      const last = disk.covered[disk.covered.length - 1];
      assert(last !== undefined && endOf(last) === offsetBytes, 'a continued stream extends its covered range');
      disk.covered[disk.covered.length - 1] = { offsetBytes: last.offsetBytes, lengthBytes: last.lengthBytes + bytes.length };
    }
    this.counters.bytesScanned += bytes.length;
    const added = await this.addChunks(disk, disk.stream.push(bytes));
    if (!added.ok) return added;
    return ok(undefined);
  }

  /**
   * Publishes the point: last pack, index file, manifest (in that order). `meta` replaces
   * the metadata given at beginPoint (a job learns its timings and faults as it goes).
   */
  async commit(options: { readonly meta?: RecoveryPointMeta } = {}): Promise<Result<CommitResult, RepoError>> {
    this.assertOpen();
    if (options.meta !== undefined) this.meta = options.meta;
    for (const diskId of this.diskOrder) {
      const ended = await this.endStream(this.disk(diskId));
      if (!ended.ok) return ended;
    }
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
      if (!put.ok) return this.fail({ kind: 'store', error: put.error });
      this.repo.noteIndexFile(bytes.length);
    }
    const disks: DiskManifest[] = this.diskOrder.map((diskId) => this.buildMap(diskId));
    let bytesCopiedFromParent = 0;
    for (const d of disks) for (const e of d.extents) bytesCopiedFromParent += e.lengthBytes;
    for (const d of this.disks.values()) for (const e of d.written) bytesCopiedFromParent -= e.lengthBytes;
    const stats: CommitStats = {
      bytesScanned: this.counters.bytesScanned,
      bytesZero: this.counters.bytesScanned - this.counters.bytesChunked,
      bytesNew: this.counters.bytesNew,
      bytesNewStored: this.counters.bytesNewStored,
      bytesReused: this.counters.bytesReused,
      chunksNew: this.counters.chunksNew,
      chunksReused: this.counters.chunksReused,
      packsWritten: this.counters.packsWritten,
      bytesCopiedFromParent,
    };
    const manifest: Manifest = {
      format: 'quiescelab-manifest', version: 1, sequence: this.sequence, parent: this.parentId,
      startedAtUs: this.startedAtUs, committedAtUs: this.repo.clock.nowUs(), meta: this.meta, stats, disks,
    };
    const bytes = encodeManifest(manifest);
    // Read back what we are about to publish: it must decode to what we meant.
    const back = decodeManifest(bytes);
    assert(back.ok && back.value.disks.length === disks.length, `manifest does not decode: ${back.ok ? 'disk count' : back.error}`);
    const id = RecoveryPointId(sha256Hex(bytes));
    const fence = await this.lock.check();
    if (!fence.ok) return this.fail({ kind: 'lock', error: fence.error });
    const put = await this.repo.store.put(manifestName(id), bytes);
    if (!put.ok) return this.fail({ kind: 'store', error: put.error });
    this.repo.addToIndex(this.packs);
    this.repo.noteManifest(id, back.value, bytes.length);
    this.state = 'committed';
    this.repo.setWriterOpen(false);
    return ok({ id, manifest: back.value });
  }

  /** Gives up the point: nothing is published; packs already written are garbage for prune. */
  abort(): void {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    this.repo.setWriterOpen(false);
  }

  private assertOpen(): void {
    assert(this.state === 'open', `the point writer is ${this.state}`);
  }

  private disk(diskId: DiskId): DiskState {
    const disk = this.disks.get(diskId);
    assert(disk !== undefined, `disk ${diskId} not declared (writeDisk first)`);
    return disk;
  }

  private fail(error: RepoError): Result<never, RepoError> {
    if (this.state === 'open') {
      this.state = 'failed';
      this.repo.setWriterOpen(false);
    }
    return err(error);
  }

  private async endStream(disk: DiskState): Promise<Result<void, RepoError>> {
    const stream = disk.stream;
    if (stream === undefined) return ok(undefined);
    disk.stream = undefined;
    return this.addChunks(disk, stream.finish());
  }

  private async addChunks(disk: DiskState, chunks: readonly { readonly offsetBytes: number; readonly bytes: Uint8Array }[]): Promise<Result<void, RepoError>> {
    for (const chunk of chunks) {
      const chunkId = ChunkId(sha256Hex(chunk.bytes));
      disk.written.push({ offsetBytes: chunk.offsetBytes, lengthBytes: chunk.bytes.length, chunkId, chunkOffsetBytes: 0 });
      this.counters.bytesChunked += chunk.bytes.length;
      if (this.repo.index.has(chunkId) || this.newChunks.has(chunkId)) {
        this.counters.chunksReused += 1;
        this.counters.bytesReused += chunk.bytes.length;
        continue;
      }
      this.newChunks.add(chunkId);
      this.counters.chunksNew += 1;
      this.counters.bytesNew += chunk.bytes.length;
      const inFlight = this.repo.compressionInFlight;
      const quality = this.repo.config.brotliQuality;
      this.queue.push({ chunkId, rawBytes: chunk.bytes.length, blob: inFlight === 0 ? compressChunk(chunk.bytes, quality) : compressChunkAsync(chunk.bytes, quality) });
      const drained = await this.drain(inFlight);
      if (!drained.ok) return drained;
    }
    return ok(undefined);
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
      if (!put.ok) return this.fail({ kind: 'store', error: put.error });
      this.packs.push({ packId, blobs: entries });
      this.counters.packsWritten += 1;
      const refreshed = await this.lock.refreshIfDue();
      return refreshed.ok ? ok(undefined) : this.fail({ kind: 'lock', error: refreshed.error });
    });
    // A put that throws (a crash) is rethrown where it is awaited; this only keeps it from
    // counting as unhandled when the writer dies before awaiting it.
    this.packPut.catch(() => undefined);
    return ok(undefined);
  }

  private buildMap(diskId: DiskId): DiskManifest {
    const disk = this.disk(diskId);
    const parentDisk = this.parent?.disks.find((d) => d.diskId === diskId);
    const base = parentDisk === undefined ? [] : clipToRanges(parentDisk.extents, normaliseRanges(disk.copied));
    const covered = disk.covered.slice().sort((a, b) => a.offsetBytes - b.offsetBytes);
    for (let i = 1; i < covered.length; i++) {
      const prev = covered[i - 1] as ByteRange;
      const cur = covered[i] as ByteRange;
      assert(endOf(prev) <= cur.offsetBytes, `writes to disk ${diskId} overlap at ${cur.offsetBytes}`);
    }
    const written = disk.written.slice().sort((a, b) => a.offsetBytes - b.offsetBytes);
    const extents = mergeMaps(subtractRanges(base, normaliseRanges(covered)), written);
    return { diskId, capacityBytes: disk.capacityBytes, extents };
  }
}
