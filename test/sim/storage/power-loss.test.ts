/**
 * The volatile cache under faults: a power-loss plan leaves every sector at its durable
 * value or the value of a pending write to it (at most one torn sector, a prefix of new
 * bytes over old ones), deterministically per seed; a lying flush (and FUA) loses data;
 * FUA is never undone by older cached writes; the cache destages oldest first when full.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../../../core/assert.js';
import type { SectorSizeBytes } from '../../../sim/storage/types.js';
import { bytesEqual, expectSameBytes, KiB, makeDisk, payload } from './storage-helpers.js';

const CAPACITY = 64 * KiB;

interface CrashWrite {
  readonly sector: number;
  readonly lengthSectors: number;
  readonly fua: boolean;
  readonly flushAfter: boolean;
}

interface CrashCase {
  readonly seed: number;
  readonly sectorSizeBytes: SectorSizeBytes;
  readonly writes: readonly CrashWrite[];
  readonly persistFraction: number;
  readonly tearOneSector: boolean;
}

const crashCase: fc.Arbitrary<CrashCase> = fc.record({
  seed: fc.nat(),
  sectorSizeBytes: fc.constantFrom<SectorSizeBytes>(512, 4096),
  writes: fc.array(
    fc.record({
      // A 16 KiB hot spot so pending writes overlap.
      sector: fc.nat(31),
      lengthSectors: fc.integer({ min: 1, max: 9 }),
      fua: fc.nat(6).map((n) => n === 0),
      flushAfter: fc.nat(9).map((n) => n === 0),
    }),
    { minLength: 1, maxLength: 40 },
  ),
  persistFraction: fc.constantFrom(0, 0.3, 0.5, 0.9, 1),
  tearOneSector: fc.boolean(),
});

interface CrashResult {
  readonly image: Uint8Array;
  readonly durableBefore: Uint8Array;
  readonly acknowledgedBefore: Uint8Array;
  /** Per sector: values of pending (not yet superseded or flushed) writes to it. */
  readonly pendingValues: Map<number, Uint8Array[]>;
  readonly outcome: { dropped: number; persisted: number; torn: number };
  readonly pendingWrites: number;
}

function runCrash(c: CrashCase): CrashResult {
  const ss = c.sectorSizeBytes;
  const { disk } = makeDisk({ capacityBytes: CAPACITY, sectorSizeBytes: ss, writeCache: 'write-back', seed: c.seed });
  const sectors = CAPACITY / ss;
  const pendingValues = new Map<number, Uint8Array[]>();
  c.writes.forEach((w, i) => {
    const first = w.sector % sectors;
    const length = Math.min(w.lengthSectors, sectors - first);
    const data = payload(c.seed * 1000 + i, length * ss);
    disk.write(first * ss, data, { fua: w.fua });
    for (let s = 0; s < length; s++) {
      const value = data.slice(s * ss, (s + 1) * ss);
      // A FUA write is durable and supersedes older pending bytes of the same sector.
      if (w.fua) pendingValues.delete(first + s);
      else pendingValues.set(first + s, [...(pendingValues.get(first + s) ?? []), value]);
    }
    if (w.flushAfter) {
      disk.flush();
      pendingValues.clear();
    }
  });
  const durableBefore = disk.durableReader().read(0, CAPACITY);
  const acknowledgedBefore = disk.read(0, CAPACITY);
  const pendingWrites = disk.stats().pendingCacheWrites;
  disk.setFaults({ powerLoss: { persistFraction: c.persistFraction, tearOneSector: c.tearOneSector } });
  const outcome = disk.powerLoss();
  return { image: disk.read(0, CAPACITY), durableBefore, acknowledgedBefore, pendingValues, outcome, pendingWrites };
}

/**
 * Whether `actual` is a prefix (1..ss-1 bytes) of a pending write's value over the rest of
 * another candidate (the durable value or an earlier pending write).
 */
function isTornMix(actual: Uint8Array, pending: readonly Uint8Array[], candidates: readonly Uint8Array[]): boolean {
  for (const top of pending) {
    let k = 0;
    while (k < actual.length && actual[k] === top[k]) k++;
    if (k === 0 || k === actual.length) continue;
    // Everything from the first differing byte on must come from one other candidate.
    for (const under of candidates) {
      if (under !== top && bytesEqual(actual.subarray(k), under.subarray(k))) return true;
    }
  }
  return false;
}

describe('power loss with a fault plan', () => {
  it('every sector holds its durable value or a pending write to it; at most one torn sector', () => {
    fc.assert(
      fc.property(crashCase, (c) => {
        const ss = c.sectorSizeBytes;
        const r = runCrash(c);
        expect(r.outcome.persisted + r.outcome.dropped).toBe(r.pendingWrites);
        expect(r.outcome.torn).toBeLessThanOrEqual(c.tearOneSector && r.outcome.persisted > 0 ? 1 : 0);
        let mixed = 0;
        for (let s = 0; s < CAPACITY / ss; s++) {
          const actual = r.image.subarray(s * ss, (s + 1) * ss);
          const pending = r.pendingValues.get(s) ?? [];
          const candidates = [r.durableBefore.slice(s * ss, (s + 1) * ss), ...pending];
          if (candidates.some((v) => bytesEqual(v, actual))) continue;
          mixed++;
          expect(isTornMix(actual, pending, candidates), `sector ${s} is neither a candidate nor a torn mix`).toBe(true);
        }
        expect(mixed).toBeLessThanOrEqual(r.outcome.torn);
        if (c.persistFraction === 0) expectSameBytes(r.image, r.durableBefore, 'persist nothing');
        if (c.persistFraction === 1 && !c.tearOneSector) expectSameBytes(r.image, r.acknowledgedBefore, 'persist everything');
      }),
      { numRuns: 300 },
    );
  });

  it('is deterministic: the same seed gives the same image and outcome', () => {
    fc.assert(
      fc.property(crashCase, (c) => {
        const a = runCrash(c);
        const b = runCrash(c);
        expectSameBytes(a.image, b.image, 'same seed');
        expect(a.outcome).toEqual(b.outcome);
      }),
      { numRuns: 100 },
    );
  });

  it('tears a sector for some seeds, visibly (the property above can see a mix)', () => {
    let seen = 0;
    for (let seed = 0; seed < 50 && seen === 0; seed++) {
      const r = runCrash({
        seed,
        sectorSizeBytes: 512,
        writes: [{ sector: 0, lengthSectors: 8, fua: false, flushAfter: false }],
        persistFraction: 1,
        tearOneSector: true,
      });
      expect(r.outcome.torn).toBe(1);
      let mixed = 0;
      for (let s = 0; s < 8; s++) {
        const actual = r.image.subarray(s * 512, (s + 1) * 512);
        if (!bytesEqual(actual, r.durableBefore.subarray(s * 512, (s + 1) * 512)) && !bytesEqual(actual, r.acknowledgedBefore.subarray(s * 512, (s + 1) * 512))) mixed++;
      }
      seen += mixed;
    }
    expect(seen).toBe(1);
  });

  it('without a plan drops every pending write and records the counts', () => {
    const { disk, history } = makeDisk({ capacityBytes: CAPACITY, writeCache: 'write-back' });
    disk.write(0, payload(1, 4096));
    disk.write(8192, payload(2, 512));
    const outcome = disk.powerLoss();
    expect(outcome).toEqual({ dropped: 2, persisted: 0, torn: 0 });
    expectSameBytes(disk.read(0, CAPACITY), new Uint8Array(CAPACITY), 'all lost');
    const last = history.events().at(-1);
    expect(last?.kind).toBe('disk.power-loss');
    expect(last?.data).toEqual({ dropped: 2, persisted: 0, torn: 0 });
  });
});

describe('flush, FUA and the lying cache', () => {
  it('ignoreFlush: flush returns but a power loss still loses the data (the lie shows)', () => {
    const honest = makeDisk({ capacityBytes: CAPACITY, writeCache: 'write-back' }).disk;
    const lying = makeDisk({ capacityBytes: CAPACITY, writeCache: 'write-back' }).disk;
    lying.setFaults({ ignoreFlush: true });
    for (const disk of [honest, lying]) {
      disk.write(0, payload(7, 4096));
      disk.flush();
      expectSameBytes(disk.read(0, 4096), payload(7, 4096), 'acknowledged before the crash');
      disk.powerLoss();
    }
    expectSameBytes(honest.read(0, 4096), payload(7, 4096), 'honest flush survives');
    expectSameBytes(lying.read(0, 4096), new Uint8Array(4096), 'lying flush lost it');
  });

  it('a lying cache ignores FUA too; without a cache there is nothing to lie about', () => {
    const lying = makeDisk({ capacityBytes: CAPACITY, writeCache: 'write-back' }).disk;
    lying.setFaults({ ignoreFlush: true });
    lying.write(0, payload(3, 4096), { fua: true });
    lying.powerLoss();
    expectSameBytes(lying.read(0, 4096), new Uint8Array(4096), 'FUA lied');
    const uncached = makeDisk({ capacityBytes: CAPACITY, writeCache: 'none' }).disk;
    uncached.setFaults({ ignoreFlush: true });
    uncached.write(0, payload(3, 4096));
    uncached.powerLoss();
    expectSameBytes(uncached.read(0, 4096), payload(3, 4096), 'no cache, durable on return');
  });

  it('FUA is durable at once and older cached writes never undo it, wholly or partly', () => {
    for (const persist of ['flush', 'power-loss-all'] as const) {
      const { disk } = makeDisk({ capacityBytes: CAPACITY, writeCache: 'write-back' });
      const older = payload(10, 4096);
      const fua = payload(11, 1024);
      disk.write(0, older); // sectors 0..7, cached
      disk.write(1024, fua, { fua: true }); // sectors 2..3, durable now
      expectSameBytes(disk.durableReader().read(1024, 1024), fua, 'FUA durable on return');
      expectSameBytes(disk.durableReader().read(0, 1024), new Uint8Array(1024), 'the older write is still volatile');
      if (persist === 'flush') disk.flush();
      else {
        disk.setFaults({ powerLoss: { persistFraction: 1, tearOneSector: false } });
        disk.powerLoss();
      }
      const expected = older.slice();
      expected.set(fua, 1024);
      expectSameBytes(disk.read(0, 4096), expected, `after ${persist}`);
    }
  });

  it('a full cache destages its oldest writes to the platter', () => {
    const { disk } = makeDisk({ capacityBytes: CAPACITY, writeCache: 'write-back', cacheCapacityBytes: 16 * KiB });
    for (let g = 0; g < 6; g++) disk.write(g * 4096, payload(g, 4096));
    expect(disk.stats().pendingCacheWrites).toBe(4);
    expect(disk.stats().cachedBytes).toBe(16 * KiB);
    disk.powerLoss();
    for (let g = 0; g < 6; g++) {
      expectSameBytes(disk.read(g * 4096, 4096), g < 2 ? payload(g, 4096) : new Uint8Array(4096), `grain ${g}`);
    }
  });

  it('a snapshot drains the cache (the host syncs), even when the disk lies about flush', () => {
    const { disk } = makeDisk({ capacityBytes: CAPACITY, writeCache: 'write-back' });
    disk.setFaults({ ignoreFlush: true });
    disk.write(0, payload(5, 4096));
    const snap = disk.createSnapshot();
    disk.powerLoss();
    expectSameBytes(disk.snapshotReader(snap).read(0, 4096), payload(5, 4096), 'snapshot holds it');
    expectSameBytes(disk.read(0, 4096), payload(5, 4096), 'and the disk too');
  });

  it('records coarse events only: never one per write', () => {
    const { disk, history } = makeDisk({ capacityBytes: CAPACITY, writeCache: 'write-back' });
    for (let i = 0; i < 1000; i++) disk.write((i % 16) * 4096, payload(i, 4096));
    disk.flush();
    expect(history.events().map((e) => e.kind)).toEqual(['disk.create', 'disk.flush']);
    expect(history.events()[1]?.data).toEqual({ pendingWrites: 1000, persistedWrites: 1000 });
  });

  it('misaligned or out-of-range I/O is a programmer error', () => {
    const { disk } = makeDisk({ capacityBytes: CAPACITY, sectorSizeBytes: 4096 });
    expect(() => { disk.write(512, new Uint8Array(4096)); }).toThrow(AssertionError);
    expect(() => { disk.write(0, new Uint8Array(512)); }).toThrow(AssertionError);
    expect(() => disk.read(CAPACITY - 4096, 8192)).toThrow(AssertionError);
    expect(() => disk.read(-4096, 4096)).toThrow(AssertionError);
    expect(() => disk.read(0, 0)).toThrow(AssertionError);
  });
});
