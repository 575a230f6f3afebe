/**
 * Writes one RecoveryPoint. The caller declares disks, copies ranges of the parent's
 * maps (an incremental: what did not change) and writes extents (what it read). Written
 * bytes are cut into chunks (stream-chunker.ts) and handed to a PackWriter, which hashes
 * them (a chunk already stored is reused; new ones are compressed into packs).
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
import {
  clipToRanges, endOf, mergeMaps, normaliseRanges, subtractRanges, type ByteRange, type MappedExtent,
} from './extent-map.js';
import { manifestName, RecoveryPointId, sha256Hex } from './hash.js';
import {
  decodeManifest, DISK_MAX_CAPACITY_BYTES, encodeManifest, MANIFEST_MAX_DISKS,
  type CommitStats, type DiskManifest, type Manifest, type RecoveryPointMeta,
} from './manifest.js';
import { PackWriter } from './pack-writer.js';
import type { Repository, RepoError } from './repository.js';
import { StreamChunker, type CutChunk } from './stream-chunker.js';

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

interface Counters {
  bytesScanned: number;
  bytesChunked: number;
}

/** An extent handed to writeExtent is at most this long (the caller streams larger ones). */
export const WRITE_MAX_BYTES = 256 * 1024 * 1024;

export class PointWriter {
  private readonly disks = new Map<string, DiskState>();
  private readonly diskOrder: DiskId[] = [];
  private readonly packs: PackWriter;
  private readonly counters: Counters = { bytesScanned: 0, bytesChunked: 0 };
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
    this.packs = new PackWriter(repo, lock);
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
   * `bytes` is copied before this returns: the caller may reuse it at once, before the
   * promise resolves (a reader can fill it with the next piece meanwhile).
   */
  writeExtent(diskId: DiskId, offsetBytes: number, bytes: Uint8Array): Promise<Result<void, RepoError>> {
    this.assertOpen();
    const disk = this.disk(diskId);
    assertInt(bytes.length, 0, WRITE_MAX_BYTES, 'extent length');
    assert(Number.isSafeInteger(offsetBytes) && offsetBytes >= 0 && offsetBytes + bytes.length <= disk.capacityBytes,
      `write [${offsetBytes}, +${bytes.length}) outside disk ${diskId} of ${disk.capacityBytes} bytes`);
    if (bytes.length === 0) return Promise.resolve(ok(undefined));
    const chunks: CutChunk[] = [];
    if (disk.stream === undefined || disk.stream.endOffsetBytes !== offsetBytes) {
      if (disk.stream !== undefined) chunks.push(...disk.stream.finish());
      disk.stream = new StreamChunker(this.repo.chunker, this.repo.config.zero, offsetBytes, this.packs.allocate, this.packs.release);
      disk.covered.push({ offsetBytes, lengthBytes: bytes.length });
    } else {
      const last = disk.covered[disk.covered.length - 1];
      assert(last !== undefined && endOf(last) === offsetBytes, 'a continued stream extends its covered range');
      disk.covered[disk.covered.length - 1] = { offsetBytes: last.offsetBytes, lengthBytes: last.lengthBytes + bytes.length };
    }
    this.counters.bytesScanned += bytes.length;
    // The stream copies what it keeps: from here on `bytes` is the caller's again.
    chunks.push(...disk.stream.push(bytes));
    return this.addChunks(disk, chunks);
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
    // Steps 1 and 2: the last pack, then the index file.
    const packs = await this.packs.finish();
    if (!packs.ok) return this.fail(packs.error);
    const disks: DiskManifest[] = this.diskOrder.map((diskId) => this.buildMap(diskId));
    let bytesCopiedFromParent = 0;
    for (const d of disks) for (const e of d.extents) bytesCopiedFromParent += e.lengthBytes;
    for (const d of this.disks.values()) for (const e of d.written) bytesCopiedFromParent -= e.lengthBytes;
    const c = this.packs.counters;
    const stats: CommitStats = {
      bytesScanned: this.counters.bytesScanned,
      bytesZero: this.counters.bytesScanned - this.counters.bytesChunked,
      bytesNew: c.bytesNew,
      bytesNewStored: c.bytesNewStored,
      bytesReused: c.bytesReused,
      chunksNew: c.chunksNew,
      chunksReused: c.chunksReused,
      packsWritten: c.packsWritten,
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
    this.repo.addToIndex(packs.value);
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

  /** Hands cut chunks (the stream's own buffers) to the pack writer; their ids join the disk's map once hashed. */
  private async addChunks(disk: DiskState, chunks: readonly CutChunk[]): Promise<Result<void, RepoError>> {
    if (chunks.length === 0) return ok(undefined);
    for (const chunk of chunks) this.counters.bytesChunked += chunk.bytes.length;
    const offsets = chunks.map((c) => c.offsetBytes);
    const lengths = chunks.map((c) => c.bytes.length);
    const submitted = await this.packs.submit(chunks.map((c) => c.bytes), (ids) => {
      ids.forEach((chunkId, i) => {
        disk.written.push({ offsetBytes: offsets[i] as number, lengthBytes: lengths[i] as number, chunkId, chunkOffsetBytes: 0 });
      });
    });
    return submitted.ok ? submitted : this.fail(submitted.error);
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
