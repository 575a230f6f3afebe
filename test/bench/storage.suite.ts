/**
 * Storage benchmarks: VirtualDisk write and read throughput, snapshot create+remove cost
 * against the size of the delta (not of the disk), CBT full-query cost against the number
 * of extents, and the memory of a sparse 2 TiB disk. Real clock, never asserted on.
 */

import { DiskId, type SnapshotId } from '../../core/ids.js';
import { createPrng } from '../../core/prng.js';
import { VirtualClock } from '../../sim/kernel/clock.js';
import { VirtualDisk, type WriteCacheMode } from '../../sim/storage/virtual-disk.js';
import type { ChangeId } from '../../core/ids.js';
import { collectGarbage, opsPerSecond, timeMs, type BenchSuite } from './harness.js';

const GRAIN = 4096;
const TiB = 2 ** 40;
const MiB = 2 ** 20;

function newDisk(capacityBytes: number, writeCache: WriteCacheMode = 'none'): VirtualDisk {
  return new VirtualDisk({ id: DiskId('bench'), capacityBytes, writeCache, prng: createPrng(7), clock: new VirtualClock() });
}

/** Distinct pseudo-random grain indexes below `limit` (xorshift32; deterministic). */
function scatteredGrains(count: number, limit: number, seed: number): number[] {
  const seen = new Set<number>();
  let x = seed >>> 0 || 1;
  while (seen.size < count) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    seen.add(Math.floor((x / 2 ** 32) * limit));
  }
  return [...seen];
}

function pattern(): Uint8Array {
  const data = new Uint8Array(GRAIN);
  for (let i = 0; i < GRAIN; i++) data[i] = (i * 31) & 0xff;
  return data;
}

/** Every page of one query; returns the number of extents. */
function fullQuery(disk: VirtualDisk, snap: SnapshotId, changeId: ChangeId | '*'): number {
  let offset = 0;
  let extents = 0;
  while (offset < disk.capacityBytes) {
    const page = disk.queryChangedDiskAreas(snap, offset, changeId);
    if (!page.ok) throw new Error(JSON.stringify(page.error));
    extents += page.value.changedAreas.length;
    offset += page.value.lengthBytes;
  }
  return extents;
}

export const suite: BenchSuite = {
  name: 'storage',
  run(report) {
    const data = pattern();
    // A 64 MiB working set on a 2 TiB disk, visited in a random order.
    const workingSet = scatteredGrains(16_384, 16_384, 1).map((g) => g * GRAIN);
    const batch = workingSet.length;

    {
      const disk = newDisk(2 * TiB);
      const writes = opsPerSecond(() => {
        for (const offset of workingSet) disk.write(offset, data);
        return batch;
      });
      report('4 KiB writes, cache off (64 MiB working set)', writes, 'ops/s');
      const reads = opsPerSecond(() => {
        for (const offset of workingSet) disk.read(offset, GRAIN);
        return batch;
      });
      report('4 KiB random reads (64 MiB working set)', reads, 'ops/s');
      disk.enableChangeTracking();
      const tracked = opsPerSecond(() => {
        for (const offset of workingSet) disk.write(offset, data);
        return batch;
      });
      report('4 KiB writes, cache off, CBT on', tracked, 'ops/s');
    }

    {
      const disk = newDisk(2 * TiB, 'write-back');
      const writes = opsPerSecond(() => {
        let n = 0;
        for (const offset of workingSet) {
          disk.write(offset, data);
          if (++n % 256 === 0) disk.flush();
        }
        disk.flush();
        return batch;
      });
      report('4 KiB writes, write-back cache, flush every 256', writes, 'ops/s');
      const small = opsPerSecond(() => {
        for (const offset of workingSet) disk.write(offset + 512, data.subarray(0, 512));
        disk.flush();
        return batch;
      });
      report('512 B writes, write-back cache (RMW, 8 MiB destage)', small, 'ops/s');
    }

    // Snapshot create + remove on a 2 TiB disk whose base holds 100k grains: the cost
    // follows the delta, not the disk (consolidation iterates the smaller map).
    {
      const disk = newDisk(2 * TiB);
      const base = scatteredGrains(100_000, (2 * TiB) / GRAIN, 2);
      for (const g of base) disk.write(g * GRAIN, data);
      for (const deltaGrains of [1_000, 10_000, 100_000]) {
        const delta = base.slice(0, deltaGrains);
        let totalMs = 0;
        const repeats = 3;
        for (let r = 0; r < repeats; r++) {
          let snap: SnapshotId | undefined;
          totalMs += timeMs(() => { snap = disk.createSnapshot(); }, 1);
          for (const g of delta) disk.write(g * GRAIN, data);
          totalMs += timeMs(() => { if (snap !== undefined) disk.removeSnapshot(snap); }, 1);
        }
        report(`snapshot create+remove, delta ${deltaGrains.toLocaleString('en-US')} grains (2 TiB disk)`, totalMs / repeats, 'ms');
      }
      const empty = timeMs(() => { disk.removeSnapshot(disk.createSnapshot()); }, 5);
      report('snapshot create+remove, empty delta (2 TiB disk)', empty, 'ms');
    }

    // CBT: a full paged query (1024 extents per page) for n isolated changed grains.
    for (const extents of [1_000, 10_000, 100_000]) {
      const disk = newDisk(2 * TiB);
      const c0 = disk.enableChangeTracking();
      // Even grain indexes only, so no two changed grains merge into one extent.
      for (const g of scatteredGrains(extents, TiB / GRAIN, 3)) disk.write(2 * g * GRAIN, data);
      const snap = disk.createSnapshot();
      let found = 0;
      const firstMs = timeMs(() => { found = fullQuery(disk, snap, c0); }, 1);
      if (found !== extents) throw new Error(`expected ${extents} extents, got ${found}`);
      report(`CBT full query, ${extents.toLocaleString('en-US')} extents (first, builds the union)`, firstMs, 'ms');
      report(`CBT full query, ${extents.toLocaleString('en-US')} extents (paging a cached union)`, timeMs(() => { fullQuery(disk, snap, c0); }, 3), 'ms');
      report(`CBT full query '*', ${extents.toLocaleString('en-US')} extents (first)`, timeMs(() => { fullQuery(disk, snap, '*'); }, 1), 'ms');
    }

    // Memory: a 2 TiB disk with 10k scattered written grains.
    {
      const grains = scatteredGrains(10_000, (2 * TiB) / GRAIN, 4);
      collectGarbage();
      const before = process.memoryUsage();
      const disk = newDisk(2 * TiB);
      for (const g of grains) disk.write(g * GRAIN, data);
      collectGarbage();
      const after = process.memoryUsage();
      const stats = disk.stats();
      report('2 TiB disk, 10k scattered grains: slab bytes', stats.slabBytes / MiB, 'MiB', `${stats.allocatedGrainsTotal} grains = ${((stats.allocatedGrainsTotal * GRAIN) / MiB).toFixed(1)} MiB of data`);
      report('2 TiB disk, 10k scattered grains: heap delta', (after.heapUsed - before.heapUsed) / MiB, 'MiB', 'JS heap after a forced GC: the grain map');
      report('2 TiB disk, 10k scattered grains: array-buffer delta', (after.arrayBuffers - before.arrayBuffers) / MiB, 'MiB');
    }
  },
};
