/**
 * A virtual disk: a sparse block device with a volatile write-back cache, a linear chain of
 * VMware-like snapshots (redo logs) and changed block tracking.
 *
 * Models:
 * - Sectors of 512 or 4096 bytes over 4 KiB grains; only written grains cost memory.
 * - A volatile write-back cache (optional): writes are acknowledged and readable at once,
 *   durable after flush, at once with FUA, or when the cache destages its oldest writes.
 *   A lying cache (`ignoreFlush`) ignores flush AND FUA: both return, nothing is forced.
 *   Power loss persists nothing, or (with a plan) a random subset, maybe one write torn.
 * - Snapshots: creating one first drains the cache (the host stuns the VM and syncs; this
 *   is the host's drain, not the guest's flush, so a lying flush does not affect it), then
 *   freezes the top and pushes an empty delta. Removal consolidates the delta above the
 *   snapshot point into the layer below, in a window during which the VM keeps writing.
 *   Revert discards the layers above the point, every later snapshot and the cache.
 * - CBT per notes facts 19-20, including the three real bugs as switchable faults.
 *
 * Leaves out: latency and queueing, snapshot trees, growing a disk's snapshots (a grow
 * applies to the top; existing snapshots keep the size they were taken at), the CBT reset
 * after an unclean shutdown, other snapshot operations during a consolidation (they are
 * programmer errors, as vSphere refuses them), consolidation surviving a host crash
 * (the window is host metadata, untouched by a disk power loss).
 */

import { assert } from '../../core/assert.js';
import type { Clock } from '../../core/clock.js';
import { STORAGE_EVENTS, type HistorySink } from '../../core/history.js';
import { SnapshotId, type ChangeId, type DiskId } from '../../core/ids.js';
import type { Prng } from '../../core/prng.js';
import { err, ok, type Result } from '../../core/result.js';
import { ChangeTracker, grainsToExtents, pageOf, parseChangeId, type ExtentList } from './change-tracker.js';
import { GrainStore, MAX_CHAIN_LAYERS } from './grain-store.js';
import {
  GRAIN_BYTES,
  type BlockDevice,
  type BlockReader,
  type CbtError,
  type CbtQuery,
  type ChangeTracking,
  type DiskFaults,
  type SectorSizeBytes,
  type WriteOptions,
} from './types.js';
import { WriteCache, type PowerLossOutcome } from './write-cache.js';

export type { PowerLossOutcome } from './write-cache.js';

export type WriteCacheMode = 'none' | 'write-back';

export interface VirtualDiskOptions {
  readonly id: DiskId;
  readonly capacityBytes: number;
  readonly sectorSizeBytes?: SectorSizeBytes;
  readonly writeCache?: WriteCacheMode;
  /** Volatile cache size; past it the oldest writes destage. Default 8 MiB. */
  readonly cacheCapacityBytes?: number;
  /** Draws the power-loss outcome and CBT epoch ids (forked into one stream each). */
  readonly prng: Prng;
  readonly clock: Clock;
  readonly history?: HistorySink;
  /** Extents per QueryChangedDiskAreas page. Default 1024. */
  readonly maxExtentsPerPage?: number;
}

/** A consolidation in progress: the VM may keep writing until `finish`. */
export interface ConsolidationWindow {
  readonly snapshotId: SnapshotId;
  finish(): void;
}

export interface DiskStats {
  /** Grains held by each layer, base first; the last is the writable top. */
  readonly allocatedGrainsPerLayer: readonly number[];
  readonly allocatedGrainsTotal: number;
  /** Memory held by grain slabs (including freed slots kept for reuse). */
  readonly slabBytes: number;
  readonly pendingCacheWrites: number;
  /** Cache space in use, charged per 4 KiB line. */
  readonly cachedBytes: number;
  /** Memory held by the cache's recycled write copies (cached grains are in `slabBytes`). */
  readonly cacheMemoryBytes: number;
}

export const DEFAULT_CACHE_CAPACITY_BYTES = 8 * 1024 * 1024;
export const DEFAULT_MAX_EXTENTS_PER_PAGE = 1024;
/** vSphere's largest virtual disk is 62 TiB; 64 TiB keeps grain indexes exact. */
export const MAX_CAPACITY_BYTES = 64 * 2 ** 40;
/** Largest single read or write, bounding every per-grain loop. */
export const MAX_IO_BYTES = 64 * 1024 * 1024;
export const MAX_SNAPSHOTS = MAX_CHAIN_LAYERS - 1;
/** The boundary of the ESX 4.x/5.x grow bug (notes fact 20). */
export const CBT_GROW_BOUNDARY_BYTES = 128 * 2 ** 30;
/** Not in STORAGE_EVENTS: disabling CBT is rare and only this module records it. */
export const CBT_DISABLE_EVENT = 'cbt.disable';

interface SnapshotRecord {
  readonly id: SnapshotId;
  readonly capacityBytes: number;
  readonly changeId: ChangeId | undefined;
  /** Removal started: no longer listed, read or queried. */
  removing: boolean;
}

export class VirtualDisk implements BlockDevice, ChangeTracking {
  readonly id: DiskId;
  readonly sectorSizeBytes: SectorSizeBytes;
  readonly writeCacheMode: WriteCacheMode;
  /** Kept for the layers that model latency on top of this disk. */
  readonly clock: Clock;
  private capacity: number;
  private readonly store = new GrainStore();
  private readonly cache: WriteCache | undefined;
  private readonly tracker = new ChangeTracker();
  /** Chain order: snapshots[i] views layers 0..i; layer i+1 is the delta above it. */
  private readonly snapshots: SnapshotRecord[] = [];
  private readonly byId = new Map<SnapshotId, SnapshotRecord>();
  private nextSnapshotNumber = 1;
  private activeFaults: DiskFaults = {};
  private readonly powerLossPrng: Prng;
  private readonly epochPrng: Prng;
  private readonly history: HistorySink | undefined;
  private readonly maxExtentsPerPage: number;
  private consolidating: SnapshotRecord | undefined;
  /** Bumped by anything that may change a query's answer; writes never do (see query). */
  private cbtVersion = 0;
  private queryCache: { readonly key: string; readonly extents: ExtentList } | undefined;

  constructor(options: VirtualDiskOptions) {
    this.id = options.id;
    this.sectorSizeBytes = options.sectorSizeBytes ?? 512;
    assertCapacity(options.capacityBytes, this.sectorSizeBytes);
    this.capacity = options.capacityBytes;
    this.writeCacheMode = options.writeCache ?? 'none';
    this.clock = options.clock;
    this.history = options.history;
    this.maxExtentsPerPage = options.maxExtentsPerPage ?? DEFAULT_MAX_EXTENTS_PER_PAGE;
    assert(Number.isSafeInteger(this.maxExtentsPerPage) && this.maxExtentsPerPage >= 1, 'maxExtentsPerPage must be >= 1');
    this.powerLossPrng = options.prng.fork('power-loss');
    this.epochPrng = options.prng.fork('cbt-epoch');
    if (this.writeCacheMode === 'write-back') {
      const store = this.store;
      this.cache = new WriteCache(options.cacheCapacityBytes ?? DEFAULT_CACHE_CAPACITY_BYTES, this.sectorSizeBytes, {
        pool: store.pool,
        readDurableGrain: (grain, out, outOffset) => { store.readGrain(store.depth, grain, out, outOffset); },
        writeDurable: (offsetBytes, data) => { store.writeTop(offsetBytes, data); },
        adoptDurableGrain: (grain, slot) => { store.adoptTop(grain, slot); },
      });
    }
    this.record(STORAGE_EVENTS.diskCreate, {
      capacityBytes: this.capacity,
      sectorSizeBytes: this.sectorSizeBytes,
      writeCache: this.writeCacheMode,
    });
  }

  get capacityBytes(): number {
    return this.capacity;
  }

  // ---------------------------------------------------------------- block device

  read(offsetBytes: number, lengthBytes: number): Uint8Array {
    checkRange(offsetBytes, lengthBytes, this.capacity, this.sectorSizeBytes, 'read');
    const overlay = this.cache !== undefined && this.cache.pendingWrites > 0 ? this.cache.overlay : undefined;
    if (lengthBytes === GRAIN_BYTES && offsetBytes % GRAIN_BYTES === 0 && overlay === undefined) {
      return this.store.copyGrain(this.store.depth, offsetBytes / GRAIN_BYTES);
    }
    const out = new Uint8Array(lengthBytes);
    this.store.readInto(this.store.depth, offsetBytes, out, overlay);
    return out;
  }

  readInto(offsetBytes: number, out: Uint8Array): void {
    checkRange(offsetBytes, out.length, this.capacity, this.sectorSizeBytes, 'read');
    const overlay = this.cache !== undefined && this.cache.pendingWrites > 0 ? this.cache.overlay : undefined;
    this.store.readInto(this.store.depth, offsetBytes, out, overlay, true);
  }

  write(offsetBytes: number, data: Uint8Array, options?: WriteOptions): void {
    checkRange(offsetBytes, data.length, this.capacity, this.sectorSizeBytes, 'write');
    // CBT records at acknowledgement, whether or not the write ever becomes durable.
    if (this.consolidating === undefined || this.activeFaults.cbt?.consolidationLosesChanges !== true) {
      this.tracker.record(Math.floor(offsetBytes / GRAIN_BYTES), Math.floor((offsetBytes + data.length - 1) / GRAIN_BYTES));
    }
    const cache = this.cache;
    if (cache === undefined) {
      this.store.writeTop(offsetBytes, data);
    } else if (options?.fua === true && this.activeFaults.ignoreFlush !== true) {
      cache.writeThrough(offsetBytes, data);
    } else {
      cache.write(offsetBytes, data);
    }
  }

  /** Persists the cache; a lying disk (`ignoreFlush`) returns having persisted nothing. */
  flush(): void {
    const cache = this.cache;
    // Without a cache every write is already durable: nothing to do and nothing to record.
    if (cache === undefined) return;
    const pendingWrites = cache.pendingWrites;
    const persistedWrites = this.activeFaults.ignoreFlush === true ? 0 : cache.flush();
    this.record(STORAGE_EVENTS.diskFlush, { pendingWrites, persistedWrites });
  }

  setFaults(faults: DiskFaults): void {
    this.activeFaults = faults;
  }

  get faults(): DiskFaults {
    return this.activeFaults;
  }

  /** Resolves the volatile cache as a power loss would (see DiskFaults.powerLoss). */
  powerLoss(): PowerLossOutcome {
    const outcome: PowerLossOutcome = this.cache === undefined
      ? { dropped: 0, persisted: 0, torn: 0 }
      : this.cache.powerLoss(this.activeFaults.powerLoss, this.powerLossPrng);
    this.record(STORAGE_EVENTS.diskPowerLoss, { ...outcome });
    return outcome;
  }

  /** The image a power loss that drops everything volatile would leave (the top, durable). */
  durableReader(): BlockReader {
    const capacityNow = (): number => this.capacity;
    return {
      // A getter: the durable image grows with the disk.
      get capacityBytes() {
        return capacityNow();
      },
      sectorSizeBytes: this.sectorSizeBytes,
      read: (offsetBytes, lengthBytes) => {
        checkRange(offsetBytes, lengthBytes, this.capacity, this.sectorSizeBytes, 'durable read');
        const out = new Uint8Array(lengthBytes);
        this.store.readInto(this.store.depth, offsetBytes, out, undefined);
        return out;
      },
    };
  }

  /**
   * Grows the disk (never shrinks). With CbtFaults.growPast128GiB, a grow whose new size
   * reaches or passes a multiple of 128 GiB above the old size drops every change recorded
   * so far in the epoch; change ids stay valid, so the loss is silent.
   */
  grow(newCapacityBytes: number): void {
    assert(this.consolidating === undefined, 'grow during a consolidation');
    assertCapacity(newCapacityBytes, this.sectorSizeBytes);
    assert(newCapacityBytes >= this.capacity, `cannot shrink ${this.capacity} to ${newCapacityBytes}`);
    const fromBytes = this.capacity;
    const crosses = Math.floor(fromBytes / CBT_GROW_BOUNDARY_BYTES) < Math.floor(newCapacityBytes / CBT_GROW_BOUNDARY_BYTES);
    if (crosses && this.activeFaults.cbt?.growPast128GiB === true) this.tracker.dropAll();
    this.capacity = newCapacityBytes;
    this.cbtVersion++;
    this.record(STORAGE_EVENTS.diskGrow, { fromBytes, toBytes: newCapacityBytes });
  }

  // ---------------------------------------------------------------- snapshots

  /** Drains the cache, freezes the top and pushes an empty delta. Ids: `<disk>-snap-<n>`. */
  createSnapshot(): SnapshotId {
    assert(this.consolidating === undefined, 'snapshot during a consolidation');
    assert(this.snapshots.length < MAX_SNAPSHOTS, `more than ${MAX_SNAPSHOTS} snapshots`);
    const drainedWrites = this.cache?.flush() ?? 0;
    const id = SnapshotId(`${this.id}-snap-${this.nextSnapshotNumber++}`);
    const changeId = this.tracker.enabled ? this.tracker.addPoint() : undefined;
    this.store.pushLayer();
    const record: SnapshotRecord = { id, capacityBytes: this.capacity, changeId, removing: false };
    this.snapshots.push(record);
    this.byId.set(id, record);
    this.cbtVersion++;
    this.record(STORAGE_EVENTS.snapshotCreate, { snapshotId: id, changeId: changeId ?? null, drainedWrites, depth: this.snapshots.length });
    return id;
  }

  /** Snapshots in chain order, oldest first (a snapshot being removed is not listed). */
  listSnapshots(): readonly SnapshotId[] {
    return this.snapshots.filter((s) => !s.removing).map((s) => s.id);
  }

  hasSnapshot(snapshotId: SnapshotId): boolean {
    const record = this.byId.get(snapshotId);
    return record !== undefined && !record.removing;
  }

  /**
   * The frozen view at a snapshot; it never changes while the VM writes on. Reading it
   * after its removal started is a programmer error (check `hasSnapshot`).
   */
  snapshotReader(snapshotId: SnapshotId): BlockReader {
    const record = this.liveRecord(snapshotId);
    return {
      capacityBytes: record.capacityBytes,
      sectorSizeBytes: this.sectorSizeBytes,
      read: (offsetBytes, lengthBytes) => {
        const index = this.snapshots.indexOf(record);
        assert(index >= 0 && !record.removing, `snapshot ${record.id} was removed`);
        checkRange(offsetBytes, lengthBytes, record.capacityBytes, this.sectorSizeBytes, 'snapshot read');
        const out = new Uint8Array(lengthBytes);
        this.store.readInto(index + 1, offsetBytes, out, undefined);
        return out;
      },
    };
  }

  /**
   * The grains allocated in a snapshot's view, sorted, each with a copy of its bytes: what
   * a harness keeps as the reference image (never-allocated grains read as zeros). Not
   * subject to CBT faults: it reads the chain itself.
   */
  snapshotGrains(snapshotId: SnapshotId): { readonly grains: Float64Array; copyInto(grain: number, out: Uint8Array, at: number): void } {
    const record = this.liveRecord(snapshotId);
    const depth = this.snapshots.indexOf(record) + 1;
    return {
      grains: this.store.allocatedGrains(depth),
      copyInto: (grain, out, at) => { this.store.readGrain(depth, grain, out, at); },
    };
  }

  /** Deletes a snapshot: start and finish a consolidation at once. */
  removeSnapshot(snapshotId: SnapshotId): void {
    this.startRemoveSnapshot(snapshotId).finish();
  }

  /**
   * Starts consolidating the delta above the snapshot into the layer below it. The VM may
   * write until `finish` (see CbtFaults.consolidationLosesChanges); one window at a time.
   */
  startRemoveSnapshot(snapshotId: SnapshotId): ConsolidationWindow {
    assert(this.consolidating === undefined, `a consolidation is in progress (${this.consolidating?.id ?? ''})`);
    const record = this.liveRecord(snapshotId);
    record.removing = true;
    this.consolidating = record;
    this.cbtVersion++;
    let finished = false;
    return {
      snapshotId,
      finish: () => {
        assert(!finished, `consolidation of ${snapshotId} finished twice`);
        finished = true;
        this.finishRemove(record);
      },
    };
  }

  /**
   * Back to the snapshot: the layers above it, every later snapshot and the volatile cache
   * are discarded and a fresh delta is pushed. The snapshot itself stays.
   */
  revertToSnapshot(snapshotId: SnapshotId): void {
    assert(this.consolidating === undefined, 'revert during a consolidation');
    const record = this.liveRecord(snapshotId);
    const index = this.snapshots.indexOf(record);
    const droppedWrites = this.cache?.drop() ?? 0;
    const discarded = this.snapshots.splice(index + 1);
    for (const later of discarded) this.byId.delete(later.id);
    this.store.truncate(index + 1);
    this.store.pushLayer();
    this.capacity = record.capacityBytes;
    this.cbtVersion++;
    if (this.tracker.enabled) {
      const point = record.changeId === undefined ? undefined : parseChangeId(record.changeId);
      // A point of this epoch: changes after it are discarded with the state they made.
      // Otherwise every change id of this epoch describes a state that is no longer an
      // ancestor: CBT must restart (vendors' "reset CBT after revert").
      if (point !== undefined && point.epoch === this.tracker.epoch) this.tracker.truncateAfter(point.seq);
      else this.startEpoch('revert');
    }
    this.record(STORAGE_EVENTS.snapshotRevert, {
      snapshotId,
      discardedSnapshots: discarded.map((s) => s.id),
      droppedCacheWrites: droppedWrites,
    });
  }

  // ---------------------------------------------------------------- change tracking

  get changeTrackingEnabled(): boolean {
    return this.tracker.enabled;
  }

  enableChangeTracking(): ChangeId {
    return this.startEpoch('enable');
  }

  disableChangeTracking(): void {
    this.tracker.disable();
    this.cbtVersion++;
    this.queryCache = undefined;
    this.record(CBT_DISABLE_EVENT, {});
  }

  /** Undefined when CBT was off at the snapshot, or the snapshot is unknown. */
  snapshotChangeId(snapshotId: SnapshotId): ChangeId | undefined {
    return this.byId.get(snapshotId)?.changeId;
  }

  queryChangedDiskAreas(snapshotId: SnapshotId, startOffsetBytes: number, changeId: ChangeId | '*'): CbtQuery {
    if (!this.tracker.enabled) return err({ kind: 'cbt-disabled', diskId: this.id });
    const record = this.byId.get(snapshotId);
    if (record === undefined || record.removing) return err({ kind: 'unknown-snapshot', diskId: this.id, snapshotId });
    if (!Number.isSafeInteger(startOffsetBytes) || startOffsetBytes < 0 || startOffsetBytes >= record.capacityBytes) {
      return err({ kind: 'offset-out-of-range', diskId: this.id, startOffsetBytes });
    }
    const extents = this.extentsFor(record, changeId);
    if (!extents.ok) return extents;
    return ok(pageOf(extents.value, startOffsetBytes, record.capacityBytes, this.maxExtentsPerPage));
  }

  // ---------------------------------------------------------------- stats

  stats(): DiskStats {
    const allocatedGrainsPerLayer: number[] = [];
    for (let i = 0; i < this.store.depth; i++) allocatedGrainsPerLayer.push(this.store.layer(i).grains.size);
    return {
      allocatedGrainsPerLayer,
      allocatedGrainsTotal: allocatedGrainsPerLayer.reduce((a, b) => a + b, 0),
      slabBytes: this.store.pool.slabBytes,
      pendingCacheWrites: this.cache?.pendingWrites ?? 0,
      cachedBytes: this.cache?.cachedBytes ?? 0,
      cacheMemoryBytes: this.cache?.memoryBytes ?? 0,
    };
  }

  // ---------------------------------------------------------------- internals

  private liveRecord(snapshotId: SnapshotId): SnapshotRecord {
    const record = this.byId.get(snapshotId);
    assert(record !== undefined && !record.removing, `unknown snapshot ${snapshotId} on disk ${this.id}`);
    return record;
  }

  private finishRemove(record: SnapshotRecord): void {
    const index = this.snapshots.indexOf(record);
    assert(index >= 0 && this.consolidating === record, `consolidation of ${record.id} lost its snapshot`);
    const upper = this.store.layer(index + 1);
    const mergedGrains = upper.grains.size;
    if (this.activeFaults.cbt?.enableWithSnapshots === true && upper.preExistingDelta && this.tracker.enabled) {
      this.tracker.forget(upper.grains.keys());
    }
    this.store.mergeDown(index);
    this.snapshots.splice(index, 1);
    this.byId.delete(record.id);
    this.consolidating = undefined;
    this.cbtVersion++;
    this.record(STORAGE_EVENTS.snapshotRemove, { snapshotId: record.id, mergedGrains });
  }

  private startEpoch(reason: 'enable' | 'revert'): ChangeId {
    let epoch = '';
    // 2^32 ids: a repeat is rare; 64 draws bound the loop.
    for (let tries = 0; epoch === '' || this.tracker.isUsedEpoch(epoch); tries++) {
      assert(tries < 64, 'no fresh CBT epoch id in 64 draws');
      epoch = this.epochPrng.int(0, 0xffffffff).toString(16).padStart(8, '0');
    }
    const changeId = this.tracker.enable(epoch);
    // Deltas that exist now are "pre-existing" for fact 20's enable-with-snapshots bug.
    for (let i = 0; i < this.store.depth; i++) this.store.layer(i).preExistingDelta = i >= 1;
    this.cbtVersion++;
    this.queryCache = undefined;
    this.record(STORAGE_EVENTS.cbtEnable, { changeId, reason, snapshots: this.snapshots.length });
    return changeId;
  }

  /**
   * The sorted extents of one (snapshot, change id) query, cached so that paging through
   * them is linear. Writes cannot change an answer: they land in the current interval,
   * after every snapshot's point, and in the top layer, above every snapshot's view.
   */
  private extentsFor(record: SnapshotRecord, changeId: ChangeId | '*'): Result<ExtentList, CbtError> {
    const key = `${record.id}\u0000${changeId}\u0000${this.cbtVersion}`;
    if (this.queryCache?.key === key) return ok(this.queryCache.extents);
    const depth = this.snapshots.indexOf(record) + 1;
    assert(depth >= 1, `snapshot ${record.id} not in the chain`);
    let grains: Float64Array;
    if (changeId === '*') {
      grains = this.store.allocatedGrains(depth);
    } else {
      const invalid = (reason: string): Result<ExtentList, CbtError> =>
        err({ kind: 'invalid-change-id', diskId: this.id, changeId, reason });
      const from = parseChangeId(changeId);
      if (from === undefined) return invalid('malformed: expected <8 hex digits>/<sequence>');
      if (from.epoch !== this.tracker.epoch) return invalid('from another CBT epoch (CBT was re-enabled or reset since)');
      const fromIndex = this.tracker.pointIndex(from.seq);
      if (fromIndex < 0) return invalid('never issued, or discarded by a revert');
      const to = record.changeId === undefined ? undefined : parseChangeId(record.changeId);
      if (to?.epoch !== from.epoch) return invalid('the snapshot was taken before this CBT epoch began');
      const toIndex = this.tracker.pointIndex(to.seq);
      assert(toIndex >= 0, `snapshot ${record.id} lost its change-id point`);
      if (fromIndex > toIndex) return invalid('the change id is after the snapshot');
      const changed = this.tracker.changedGrains(fromIndex, toIndex);
      // Tight: a grain written but never allocated in this view (its write was lost in a
      // power loss) did not change the snapshot's image.
      let n = 0;
      for (let i = 0; i < changed.length; i++) {
        const grain = changed[i] as number;
        if (this.store.isAllocated(depth, grain)) changed[n++] = grain;
      }
      grains = changed.subarray(0, n);
    }
    const extents = grainsToExtents(grains, record.capacityBytes);
    this.queryCache = { key, extents };
    return ok(extents);
  }

  private record(kind: string, data: { readonly [key: string]: string | number | boolean | null | readonly string[] }): void {
    this.history?.record({ kind, subject: this.id, data });
  }
}

function assertCapacity(capacityBytes: number, sectorSizeBytes: number): void {
  assert(Number.isSafeInteger(capacityBytes) && capacityBytes > 0 && capacityBytes <= MAX_CAPACITY_BYTES,
    `capacity ${capacityBytes} out of (0, ${MAX_CAPACITY_BYTES}]`);
  assert(capacityBytes % sectorSizeBytes === 0, `capacity ${capacityBytes} is not whole ${sectorSizeBytes}-byte sectors`);
}

/** Sector-aligned, in range, at most MAX_IO_BYTES: anything else is a caller's bug. */
function checkRange(offsetBytes: number, lengthBytes: number, capacityBytes: number, sectorSizeBytes: number, what: string): void {
  const valid = Number.isSafeInteger(offsetBytes) && offsetBytes >= 0 && lengthBytes > 0 && lengthBytes <= MAX_IO_BYTES
    && offsetBytes % sectorSizeBytes === 0 && lengthBytes % sectorSizeBytes === 0 && offsetBytes + lengthBytes <= capacityBytes;
  if (!valid) {
    assert(false, `${what} of ${lengthBytes} bytes at ${offsetBytes}: not ${sectorSizeBytes}-byte aligned or outside [0, ${capacityBytes})`);
  }
}
