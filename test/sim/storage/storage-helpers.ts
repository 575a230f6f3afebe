/**
 * Shared helpers for the storage tests: building disks, deterministic write payloads,
 * byte comparison with a useful message, and the CBT checkers (complete, tight, well
 * formed) as pure functions over extents, so a test can also show that they can fail.
 */

import { DiskId, type ChangeId, type SnapshotId } from '../../../core/ids.js';
import { createPrng } from '../../../core/prng.js';
import { VirtualClock } from '../../../sim/kernel/clock.js';
import { HistoryRecorder } from '../../../sim/kernel/history-recorder.js';
import { GRAIN_BYTES, type ChangedArea, type SectorSizeBytes } from '../../../sim/storage/types.js';
import { VirtualDisk, type VirtualDiskOptions, type WriteCacheMode } from '../../../sim/storage/virtual-disk.js';
import { xorshiftBytes } from '../../support/bytes.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const TiB = 1024 * GiB;

export interface DiskSetup {
  readonly capacityBytes: number;
  readonly sectorSizeBytes?: SectorSizeBytes;
  readonly writeCache?: WriteCacheMode;
  readonly cacheCapacityBytes?: number;
  readonly maxExtentsPerPage?: number;
  readonly seed?: number;
}

export function makeDisk(setup: DiskSetup): { disk: VirtualDisk; history: HistoryRecorder } {
  const clock = new VirtualClock();
  const history = new HistoryRecorder(clock);
  const options: VirtualDiskOptions = {
    id: DiskId('d0'),
    capacityBytes: setup.capacityBytes,
    prng: createPrng(setup.seed ?? 1).fork('disk'),
    clock,
    history,
    ...(setup.sectorSizeBytes === undefined ? {} : { sectorSizeBytes: setup.sectorSizeBytes }),
    ...(setup.writeCache === undefined ? {} : { writeCache: setup.writeCache }),
    ...(setup.cacheCapacityBytes === undefined ? {} : { cacheCapacityBytes: setup.cacheCapacityBytes }),
    ...(setup.maxExtentsPerPage === undefined ? {} : { maxExtentsPerPage: setup.maxExtentsPerPage }),
  };
  return { disk: new VirtualDisk(options), history };
}

/** `lengthBytes` of bytes that depend on `seed` and position (xorshift32, never all zero). */
export function payload(seed: number, lengthBytes: number): Uint8Array {
  return xorshiftBytes(seed * 2654435761 + 0x9e3779b9, lengthBytes);
}

/** Throws naming the first differing byte (a plain toEqual on 256 KiB is slow and noisy). */
export function expectSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length} != ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) {
      throw new Error(`${what}: byte ${i} is ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Every page of QueryChangedDiskAreas from 0 to the capacity, checking the paging itself. */
export function queryAll(disk: VirtualDisk, snapshotId: SnapshotId, changeId: ChangeId | '*', capacityBytes: number): ChangedArea[] {
  const areas: ChangedArea[] = [];
  let offset = 0;
  for (let pages = 0; offset < capacityBytes; pages++) {
    if (pages > 1_000_000) throw new Error('paging does not advance');
    const result = disk.queryChangedDiskAreas(snapshotId, offset, changeId);
    if (!result.ok) throw new Error(`query failed: ${JSON.stringify(result.error)}`);
    const page = result.value;
    if (page.startOffsetBytes !== offset) throw new Error(`page starts at ${page.startOffsetBytes}, asked ${offset}`);
    if (page.lengthBytes <= 0) throw new Error(`page at ${offset} covers nothing`);
    for (const area of page.changedAreas) {
      if (area.startBytes < offset || area.startBytes + area.lengthBytes > offset + page.lengthBytes) {
        throw new Error(`area ${JSON.stringify(area)} outside its page [${offset}, ${offset + page.lengthBytes})`);
      }
      areas.push(area);
    }
    offset += page.lengthBytes;
  }
  if (offset !== capacityBytes) throw new Error(`pages end at ${offset}, capacity ${capacityBytes}`);
  return areas;
}

/** Problems with the shape of a result: order, overlap, alignment, range. Empty when fine. */
export function malformedAreas(areas: readonly ChangedArea[], capacityBytes: number): string[] {
  const problems: string[] = [];
  let previousEnd = -1;
  for (const area of areas) {
    const end = area.startBytes + area.lengthBytes;
    if (area.lengthBytes <= 0) problems.push(`empty area at ${area.startBytes}`);
    if (area.startBytes < previousEnd) problems.push(`area at ${area.startBytes} overlaps or is out of order`);
    if (area.startBytes % GRAIN_BYTES !== 0 && area.startBytes !== 0) problems.push(`area at ${area.startBytes} not grain aligned`);
    if (end % GRAIN_BYTES !== 0 && end !== capacityBytes) problems.push(`area end ${end} not grain aligned`);
    if (end > capacityBytes) problems.push(`area end ${end} past the capacity`);
    previousEnd = end;
  }
  return problems;
}

/** Complete: the byte ranges (start, length) not covered by `areas`. Empty when complete. */
export function missingRanges(areas: readonly ChangedArea[], changed: readonly (readonly [number, number])[]): string[] {
  const sorted = [...areas].sort((a, b) => a.startBytes - b.startBytes);
  const missing: string[] = [];
  for (const [start, length] of changed) {
    // Walk the covering areas from `start` (areas are disjoint after the malformed check).
    let pos = start;
    const end = start + length;
    for (const area of sorted) {
      const areaEnd = area.startBytes + area.lengthBytes;
      if (areaEnd <= pos) continue;
      if (area.startBytes > pos) break;
      pos = areaEnd;
      if (pos >= end) break;
    }
    if (pos < end) missing.push(`[${pos}, ${end})`);
  }
  return missing;
}

/** Tight: grains inside `areas` that are not allocated. Empty when tight. */
export function unallocatedGrains(areas: readonly ChangedArea[], allocated: ReadonlySet<number>): number[] {
  const extra: number[] = [];
  for (const area of areas) {
    const first = Math.floor(area.startBytes / GRAIN_BYTES);
    const last = Math.floor((area.startBytes + area.lengthBytes - 1) / GRAIN_BYTES);
    for (let g = first; g <= last; g++) if (!allocated.has(g)) extra.push(g);
  }
  return extra;
}

/** The grains covered by `areas`, as a set. */
export function grainsOf(areas: readonly ChangedArea[]): Set<number> {
  const grains = new Set<number>();
  for (const area of areas) {
    const first = Math.floor(area.startBytes / GRAIN_BYTES);
    const last = Math.floor((area.startBytes + area.lengthBytes - 1) / GRAIN_BYTES);
    for (let g = first; g <= last; g++) grains.add(g);
  }
  return grains;
}
