/**
 * Changed block tracking (CBT) bookkeeping for one disk: epochs, change-id points and the
 * grains written between consecutive points; plus turning grain sets into the paged
 * extents of QueryChangedDiskAreas (notes facts 19-20).
 *
 * Models: an epoch starts when CBT is enabled (a random 8-hex-digit id, sequence 0); each
 * snapshot taken while CBT is on adds a point `<epoch>/<seq>`. Interval k holds the grains
 * acknowledged between point k and point k+1; the last interval is the current one. A
 * query between two points is the union of the intervals between them, so it is exact
 * for any pair of points, which a single "last changed at" map could not be.
 *
 * Leaves out: the ctk file and its on-disk format, tracking at block sizes other than the
 * 4 KiB grain, the CBT reset after an unclean shutdown, memory compaction of old intervals
 * (every interval is kept for the life of the epoch).
 */

import { assert } from '../../core/assert.js';
import { ChangeId } from '../../core/ids.js';
import { sortedUnique } from './grain-store.js';
import { GRAIN_BYTES, type ChangedArea, type ChangedAreasPage } from './types.js';

/** A runaway snapshot loop fails loudly rather than growing the point list forever. */
export const MAX_POINTS_PER_EPOCH = 1_000_000;

const CHANGE_ID_PATTERN = /^([0-9a-f]{8})\/(0|[1-9][0-9]{0,14})$/;

export interface ParsedChangeId {
  readonly epoch: string;
  readonly seq: number;
}

export function parseChangeId(changeId: string): ParsedChangeId | undefined {
  const match = CHANGE_ID_PATTERN.exec(changeId);
  if (match === null) return undefined;
  const [, epoch, seq] = match;
  if (epoch === undefined || seq === undefined) return undefined;
  return { epoch, seq: Number(seq) };
}

export class ChangeTracker {
  private epochId: string | undefined;
  /** Sequence number of each point, strictly increasing. */
  private seqs: number[] = [];
  /** intervals[k]: grains acknowledged after point k and before point k+1. */
  private intervals: Set<number>[] = [];
  private current: Set<number> | undefined;
  private nextSeq = 0;
  private readonly usedEpochs = new Set<string>();

  get enabled(): boolean {
    return this.epochId !== undefined;
  }

  get epoch(): string | undefined {
    return this.epochId;
  }

  /** Starts epoch `epochId` (never used before on this disk) at sequence 0. */
  enable(epochId: string): ChangeId {
    assert(/^[0-9a-f]{8}$/.test(epochId), `epoch id ${epochId} is not 8 hex digits`);
    assert(!this.usedEpochs.has(epochId), `epoch id ${epochId} reused`);
    this.usedEpochs.add(epochId);
    this.epochId = epochId;
    this.seqs = [];
    this.intervals = [];
    this.current = undefined;
    this.nextSeq = 0;
    return this.addPoint();
  }

  isUsedEpoch(epochId: string): boolean {
    return this.usedEpochs.has(epochId);
  }

  disable(): void {
    this.epochId = undefined;
    this.seqs = [];
    this.intervals = [];
    this.current = undefined;
  }

  /** A new change-id point: the current interval closes and a new one opens. */
  addPoint(): ChangeId {
    const epoch = this.epochId;
    assert(epoch !== undefined, 'change-id point while CBT is off');
    assert(this.seqs.length < MAX_POINTS_PER_EPOCH, `more than ${MAX_POINTS_PER_EPOCH} change-id points in one epoch`);
    const seq = this.nextSeq++;
    this.seqs.push(seq);
    this.current = new Set();
    this.intervals.push(this.current);
    return ChangeId(`${epoch}/${seq}`);
  }

  /** Records an acknowledged write covering grains first..last (hot path: no allocation). */
  record(firstGrain: number, lastGrain: number): void {
    const set = this.current;
    if (set === undefined) return;
    set.add(firstGrain);
    for (let g = firstGrain + 1; g <= lastGrain; g++) set.add(g);
  }

  /** The index of the point with sequence `seq` in the current epoch, or -1. */
  pointIndex(seq: number): number {
    // Binary search: seqs is strictly increasing.
    let lo = 0;
    let hi = this.seqs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const value = this.seqs[mid] as number;
      if (value === seq) return mid;
      if (value < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Grains written between point indexes `from` and `to` (to > from), sorted, each once. */
  changedGrains(fromIndex: number, toIndex: number): Float64Array {
    assert(fromIndex >= 0 && fromIndex <= toIndex && toIndex < this.seqs.length, `bad point range ${fromIndex}..${toIndex}`);
    let total = 0;
    for (let k = fromIndex; k < toIndex; k++) total += this.interval(k).size;
    const all = new Float64Array(total);
    let n = 0;
    for (let k = fromIndex; k < toIndex; k++) {
      for (const grain of this.interval(k)) all[n++] = grain;
    }
    return sortedUnique(all);
  }

  /** Revert to the point `seq`: later points are discarded and tracking restarts there. */
  truncateAfter(seq: number): void {
    const index = this.pointIndex(seq);
    assert(index >= 0, `revert to unknown point ${seq}`);
    this.seqs.length = index + 1;
    this.intervals.length = index + 1;
    this.current = new Set();
    this.intervals[index] = this.current;
  }

  /** Fault: forget every change recorded so far in this epoch (points stay valid). */
  dropAll(): void {
    for (const set of this.intervals) set.clear();
  }

  /** Fault: forget that `grains` changed, in every interval of this epoch. */
  forget(grains: Iterable<number>): void {
    for (const grain of grains) {
      for (const set of this.intervals) set.delete(grain);
    }
  }

  private interval(index: number): Set<number> {
    const set = this.intervals[index];
    assert(set !== undefined, `no interval ${index}`);
    return set;
  }
}

/** Sorted, disjoint byte extents, grain aligned except where clipped to the capacity. */
export interface ExtentList {
  readonly startsBytes: Float64Array;
  readonly endsBytes: Float64Array;
  readonly count: number;
}

/** Merges sorted unique grains into extents, clipped to `capacityBytes`. */
export function grainsToExtents(grains: Float64Array, capacityBytes: number): ExtentList {
  const startsBytes = new Float64Array(grains.length);
  const endsBytes = new Float64Array(grains.length);
  let count = 0;
  let runStart = -1;
  let runEnd = -1;
  for (let i = 0; i < grains.length; i++) {
    const grain = grains[i] as number;
    if (grain === runEnd) {
      runEnd = grain + 1;
      continue;
    }
    if (runStart >= 0) {
      startsBytes[count] = runStart * GRAIN_BYTES;
      endsBytes[count] = Math.min(runEnd * GRAIN_BYTES, capacityBytes);
      count++;
    }
    runStart = grain;
    runEnd = grain + 1;
  }
  if (runStart >= 0) {
    startsBytes[count] = runStart * GRAIN_BYTES;
    endsBytes[count] = Math.min(runEnd * GRAIN_BYTES, capacityBytes);
    count++;
  }
  for (let i = 0; i < count; i++) {
    assert((startsBytes[i] as number) < (endsBytes[i] as number), 'extent beyond the capacity');
  }
  return { startsBytes, endsBytes, count };
}

/**
 * One page from `startOffsetBytes`: at most `maxExtents` extents (the first one clipped to
 * start there); the page covers up to the end of its last extent when more follow, else
 * up to the capacity.
 */
export function pageOf(extents: ExtentList, startOffsetBytes: number, capacityBytes: number, maxExtents: number): ChangedAreasPage {
  assert(startOffsetBytes >= 0 && startOffsetBytes < capacityBytes, `page start ${startOffsetBytes} out of range`);
  // First extent ending after the start (binary search).
  let lo = 0;
  let hi = extents.count;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((extents.endsBytes[mid] as number) <= startOffsetBytes) lo = mid + 1;
    else hi = mid;
  }
  const changedAreas: ChangedArea[] = [];
  let i = lo;
  for (; i < extents.count && changedAreas.length < maxExtents; i++) {
    const start = Math.max(extents.startsBytes[i] as number, startOffsetBytes);
    const end = extents.endsBytes[i] as number;
    changedAreas.push({ startBytes: start, lengthBytes: end - start });
  }
  const last = changedAreas[changedAreas.length - 1];
  const coveredTo = i < extents.count && last !== undefined ? last.startBytes + last.lengthBytes : capacityBytes;
  return { startOffsetBytes, lengthBytes: coveredTo - startOffsetBytes, changedAreas };
}
