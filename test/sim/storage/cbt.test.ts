/**
 * Changed block tracking. Properties over random histories of writes, snapshots,
 * consolidations (with writes inside the window) and reverts, paged with tiny pages:
 * - COMPLETE: every sector whose content differs between a change id's point and a
 *   snapshot (every write carries a unique value, so "differs" = "was written since")
 *   lies in a returned extent;
 * - TIGHT: every returned grain is allocated in the snapshot's view;
 * - WELL FORMED: sorted, disjoint, grain aligned, within capacity, pages tile the disk;
 * - '*' returns exactly the allocated grains.
 * Then the error cases, and each real CBT bug of notes fact 20 as a fault that breaks
 * completeness while the same scenario without it stays complete; and a check that the
 * checkers themselves can fail.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChangeId, type SnapshotId } from '../../../core/ids.js';
import { GRAIN_BYTES, type CbtFaults, type ChangedArea } from '../../../sim/storage/types.js';
import type { VirtualDisk, WriteCacheMode } from '../../../sim/storage/virtual-disk.js';
import { GiB, grainsOf, KiB, makeDisk, malformedAreas, MiB, missingRanges, payload, queryAll, unallocatedGrains } from './storage-helpers.js';

const SECTOR = 512;

// ---------------------------------------------------------------- model of what changed

/** sector -> id of the write that last set it: a content fingerprint. */
type Image = Map<number, number>;

interface View {
  readonly image: Image;
  readonly allocated: Set<number>;
}

interface Point extends View {
  readonly changeId: ChangeId;
}

interface Snap extends View {
  readonly id: SnapshotId;
  readonly pointIndex: number;
}

/** Sector ranges [startBytes, lengthBytes] whose content differs between two images. */
function differingRanges(a: Image, b: Image): [number, number][] {
  const sectors = new Set([...a.keys(), ...b.keys()]);
  const ranges: [number, number][] = [];
  for (const s of sectors) if (a.get(s) !== b.get(s)) ranges.push([s * SECTOR, SECTOR]);
  return ranges;
}

interface Tracked {
  readonly disk: VirtualDisk;
  readonly capacityBytes: number;
  image: Image;
  allocated: Set<number>;
  points: Point[];
  snaps: Snap[];
  discarded: ChangeId[];
  nextWrite: number;
}

function trackedWrite(t: Tracked, offsetBytes: number, lengthBytes: number): void {
  const id = t.nextWrite++;
  t.disk.write(offsetBytes, payload(id, lengthBytes));
  for (let pos = offsetBytes; pos < offsetBytes + lengthBytes; pos += SECTOR) {
    t.image.set(pos / SECTOR, id);
    t.allocated.add(Math.floor(pos / GRAIN_BYTES));
  }
}

function view(t: Tracked): View {
  return { image: new Map(t.image), allocated: new Set(t.allocated) };
}

function checkQuery(t: Tracked, snap: Snap, point: Point): void {
  const areas = queryAll(t.disk, snap.id, point.changeId, t.capacityBytes);
  const problems = [
    ...malformedAreas(areas, t.capacityBytes),
    ...missingRanges(areas, differingRanges(point.image, snap.image)).map((m) => `missing ${m}`),
    ...unallocatedGrains(areas, snap.allocated).map((g) => `unallocated grain ${g}`),
  ];
  if (problems.length > 0) throw new Error(`query(${snap.id}, ${point.changeId}): ${problems.slice(0, 5).join('; ')}`);
}

function checkStar(t: Tracked, snap: Snap): void {
  const grains = grainsOf(queryAll(t.disk, snap.id, '*', t.capacityBytes));
  expect([...grains].sort((a, b) => a - b)).toEqual([...snap.allocated].sort((a, b) => a - b));
}

// ---------------------------------------------------------------- the property

type Op =
  | { readonly kind: 'write'; readonly at: number; readonly lengthSectors: number }
  | { readonly kind: 'snapshot' }
  | { readonly kind: 'remove'; readonly pick: number; readonly windowWrites: readonly { at: number; lengthSectors: number }[] }
  | { readonly kind: 'revert'; readonly pick: number }
  | { readonly kind: 'query'; readonly snapPick: number; readonly pointPick: number };

const CAPACITY = 1 * MiB;
/** Half the writes hit a 32 KiB hot spot; the rest land anywhere on the 1 MiB disk. */
const at = fc.oneof(fc.nat(63), fc.nat(CAPACITY / SECTOR - 1));
const lengthSectors = fc.integer({ min: 1, max: 20 });
const write = fc.record({ kind: fc.constant('write' as const), at, lengthSectors });
const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: write, weight: 6 },
  { arbitrary: fc.constant({ kind: 'snapshot' as const }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat(15), windowWrites: fc.array(fc.record({ at, lengthSectors }), { maxLength: 3 }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('revert' as const), pick: fc.nat(15) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('query' as const), snapPick: fc.nat(15), pointPick: fc.nat(15) }), weight: 2 },
);

function clampWrite(atSector: number, length: number): [number, number] {
  const sectors = CAPACITY / SECTOR;
  const first = Math.min(atSector, sectors - 1);
  return [first * SECTOR, Math.min(length, sectors - first) * SECTOR];
}

function runHistory(preWrites: readonly { at: number; lengthSectors: number }[], ops: readonly Op[], maxExtentsPerPage: number, writeCache: WriteCacheMode): void {
  const { disk } = makeDisk({ capacityBytes: CAPACITY, maxExtentsPerPage, writeCache });
  const t: Tracked = { disk, capacityBytes: CAPACITY, image: new Map(), allocated: new Set(), points: [], snaps: [], discarded: [], nextWrite: 1 };
  // Writes before CBT is on: allocated (so '*' shows them), never reported as changes.
  for (const w of preWrites) trackedWrite(t, ...clampWrite(w.at, w.lengthSectors));
  t.points.push({ changeId: disk.enableChangeTracking(), ...view(t) });
  for (const o of ops) {
    switch (o.kind) {
      case 'write':
        trackedWrite(t, ...clampWrite(o.at, o.lengthSectors));
        break;
      case 'snapshot': {
        if (t.snaps.length >= 10) break;
        const id = disk.createSnapshot();
        const changeId = disk.snapshotChangeId(id);
        if (changeId === undefined) throw new Error('snapshot with CBT on has no change id');
        t.points.push({ changeId, ...view(t) });
        t.snaps.push({ id, pointIndex: t.points.length - 1, ...view(t) });
        break;
      }
      case 'remove': {
        if (t.snaps.length === 0) break;
        const [removed] = t.snaps.splice(o.pick % t.snaps.length, 1);
        if (removed === undefined) throw new Error('no snapshot');
        const window = disk.startRemoveSnapshot(removed.id);
        for (const w of o.windowWrites) trackedWrite(t, ...clampWrite(w.at, w.lengthSectors));
        window.finish();
        break;
      }
      case 'revert': {
        if (t.snaps.length === 0) break;
        const index = o.pick % t.snaps.length;
        const target = t.snaps[index];
        if (target === undefined) throw new Error('no snapshot');
        disk.revertToSnapshot(target.id);
        t.snaps.length = index + 1;
        t.discarded.push(...t.points.slice(target.pointIndex + 1).map((p) => p.changeId));
        t.points.length = target.pointIndex + 1;
        t.image = new Map(target.image);
        t.allocated = new Set(target.allocated);
        break;
      }
      case 'query': {
        if (t.snaps.length === 0) break;
        const snap = t.snaps[o.snapPick % t.snaps.length];
        if (snap === undefined) throw new Error('no snapshot');
        const point = t.points[o.pointPick % (snap.pointIndex + 1)];
        if (point === undefined) throw new Error('no point');
        checkQuery(t, snap, point);
        break;
      }
    }
  }
  // Finally every live snapshot against every valid point at or before it, and '*'.
  for (const snap of t.snaps) {
    for (const point of t.points.slice(0, snap.pointIndex + 1)) checkQuery(t, snap, point);
    checkStar(t, snap);
    for (const stale of t.discarded) {
      const result = disk.queryChangedDiskAreas(snap.id, 0, stale);
      expect(result.ok ? 'ok' : result.error.kind).toBe('invalid-change-id');
    }
  }
}

describe('CBT is complete, tight and well formed', () => {
  it('over random writes, snapshots, consolidations with writes in the window, and reverts', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ at, lengthSectors }), { maxLength: 5 }),
        fc.array(op, { minLength: 1, maxLength: 60 }),
        fc.constantFrom(1, 2, 3, 1024),
        fc.constantFrom<WriteCacheMode>('none', 'write-back'),
        (preWrites, ops, maxExtentsPerPage, writeCache) => {
          runHistory(preWrites, ops, maxExtentsPerPage, writeCache);
        },
      ),
      { numRuns: 150 },
    );
  });
});

// ---------------------------------------------------------------- examples and errors

function pages(disk: VirtualDisk, snap: SnapshotId, changeId: ChangeId | '*', start: number): { start: number; length: number; areas: ChangedArea[] } {
  const result = disk.queryChangedDiskAreas(snap, start, changeId);
  if (!result.ok) throw new Error(JSON.stringify(result.error));
  return { start: result.value.startOffsetBytes, length: result.value.lengthBytes, areas: [...result.value.changedAreas] };
}

describe('CBT semantics', () => {
  it('reports changes since the change id only; "*" reports everything allocated', () => {
    const { disk } = makeDisk({ capacityBytes: CAPACITY });
    disk.write(0, payload(1, 8192)); // before CBT: grains 0-1
    const c0 = disk.enableChangeTracking();
    disk.write(40960, payload(2, 512)); // grain 10
    const s1 = disk.createSnapshot();
    expect(queryAll(disk, s1, c0, CAPACITY)).toEqual([{ startBytes: 40960, lengthBytes: 4096 }]);
    expect(queryAll(disk, s1, '*', CAPACITY)).toEqual([{ startBytes: 0, lengthBytes: 8192 }, { startBytes: 40960, lengthBytes: 4096 }]);
    const c1 = disk.snapshotChangeId(s1);
    expect(c1).toBeDefined();
    expect(queryAll(disk, s1, c1 ?? ChangeId('x'), CAPACITY)).toEqual([]);
  });

  it('change ids look like vSphere ones and come from the seed', () => {
    const a = makeDisk({ capacityBytes: CAPACITY, seed: 42 }).disk.enableChangeTracking();
    const b = makeDisk({ capacityBytes: CAPACITY, seed: 42 }).disk.enableChangeTracking();
    const c = makeDisk({ capacityBytes: CAPACITY, seed: 43 }).disk.enableChangeTracking();
    expect(a).toMatch(/^[0-9a-f]{8}\/0$/);
    expect(a).toBe(b);
    expect(a).not.toBe(c);
  });

  it('pages hold at most maxExtentsPerPage and cover up to their last extent, the last page to the capacity', () => {
    const { disk } = makeDisk({ capacityBytes: CAPACITY, maxExtentsPerPage: 2 });
    const c0 = disk.enableChangeTracking();
    for (const g of [3, 4, 10, 20, 30, 40]) disk.write(g * 4096, payload(g, 4096));
    const s = disk.createSnapshot();
    const p1 = pages(disk, s, c0, 0);
    expect(p1).toEqual({ start: 0, length: 11 * 4096, areas: [{ startBytes: 3 * 4096, lengthBytes: 8192 }, { startBytes: 10 * 4096, lengthBytes: 4096 }] });
    const p2 = pages(disk, s, c0, 11 * 4096);
    expect(p2.length).toBe(31 * 4096 - 11 * 4096);
    expect(p2.areas.length).toBe(2);
    // The last extents: the page covers the rest of the disk.
    expect(pages(disk, s, c0, 31 * 4096)).toEqual({ start: 31 * 4096, length: CAPACITY - 31 * 4096, areas: [{ startBytes: 40 * 4096, lengthBytes: 4096 }] });
    // Exactly full with nothing after it: also to the capacity.
    expect(pages(disk, s, c0, 25 * 4096).length).toBe(CAPACITY - 25 * 4096);
    expect(pages(disk, s, c0, 41 * 4096)).toEqual({ start: 41 * 4096, length: CAPACITY - 41 * 4096, areas: [] });
    // A start inside an extent clips it.
    expect(pages(disk, s, c0, 4 * 4096 + 512).areas[0]).toEqual({ startBytes: 4 * 4096 + 512, lengthBytes: 4096 - 512 });
  });

  it('extents are clipped to a capacity that is not whole grains', () => {
    const capacity = CAPACITY - 512;
    const { disk } = makeDisk({ capacityBytes: capacity });
    const c0 = disk.enableChangeTracking();
    disk.write(capacity - 1024, payload(1, 1024));
    const s = disk.createSnapshot();
    expect(queryAll(disk, s, c0, capacity)).toEqual([{ startBytes: capacity - 3584, lengthBytes: 3584 }]);
  });

  it('stays tight after a power loss drops a cached write to a new grain', () => {
    const { disk } = makeDisk({ capacityBytes: CAPACITY, writeCache: 'write-back' });
    const c0 = disk.enableChangeTracking();
    disk.write(5 * 4096, payload(1, 4096));
    disk.powerLoss();
    const s = disk.createSnapshot();
    expect(queryAll(disk, s, c0, CAPACITY)).toEqual([]);
  });

  it('returns typed errors', () => {
    const { disk } = makeDisk({ capacityBytes: CAPACITY });
    const before = disk.createSnapshot();
    expect(disk.queryChangedDiskAreas(before, 0, '*')).toMatchObject({ ok: false, error: { kind: 'cbt-disabled' } });
    expect(disk.snapshotChangeId(before)).toBeUndefined();
    const c0 = disk.enableChangeTracking();
    const s1 = disk.createSnapshot();
    const c1 = disk.snapshotChangeId(s1) ?? ChangeId('');
    const kindOf = (snap: SnapshotId, start: number, changeId: ChangeId | '*'): string => {
      const r = disk.queryChangedDiskAreas(snap, start, changeId);
      return r.ok ? 'ok' : r.error.kind;
    };
    expect(kindOf(s1, 0, c0)).toBe('ok');
    expect(kindOf(before, 0, '*')).toBe('ok');
    expect(kindOf('nope' as SnapshotId, 0, c0)).toBe('unknown-snapshot');
    expect(kindOf(s1, CAPACITY, c0)).toBe('offset-out-of-range');
    expect(kindOf(s1, -1, c0)).toBe('offset-out-of-range');
    expect(kindOf(s1, 0.5, c0)).toBe('offset-out-of-range');
    expect(kindOf(s1, 0, ChangeId('garbage'))).toBe('invalid-change-id');
    expect(kindOf(s1, 0, ChangeId('0000000g/1'))).toBe('invalid-change-id');
    expect(kindOf(s1, 0, ChangeId(`${c0.split('/')[0] ?? ''}/99`))).toBe('invalid-change-id');
    expect(kindOf(before, 0, c0)).toBe('invalid-change-id'); // snapshot older than the epoch
    const s2 = disk.createSnapshot();
    const c2 = disk.snapshotChangeId(s2) ?? ChangeId('');
    expect(kindOf(s1, 0, c2)).toBe('invalid-change-id'); // change id after the snapshot
    // Re-enabling starts a new epoch: every earlier id is invalid.
    disk.enableChangeTracking();
    const s3 = disk.createSnapshot();
    expect(kindOf(s3, 0, c1)).toBe('invalid-change-id');
    const error = disk.queryChangedDiskAreas(s3, 0, c1);
    expect(error.ok ? '' : error.error.kind === 'invalid-change-id' ? error.error.reason : '').toMatch(/epoch/);
    // A snapshot being consolidated is gone for queries and listings.
    const window = disk.startRemoveSnapshot(s2);
    expect(kindOf(s2, 0, '*')).toBe('unknown-snapshot');
    expect(disk.listSnapshots()).not.toContain(s2);
    window.finish();
    disk.disableChangeTracking();
    expect(kindOf(s3, 0, '*')).toBe('cbt-disabled');
  });

  it('a revert to a snapshot older than the epoch restarts CBT (old ids no longer describe an ancestor)', () => {
    const { disk } = makeDisk({ capacityBytes: CAPACITY });
    const old = disk.createSnapshot();
    const c0 = disk.enableChangeTracking();
    disk.write(0, payload(1, 4096));
    disk.revertToSnapshot(old);
    expect(disk.changeTrackingEnabled).toBe(true);
    disk.write(8192, payload(2, 4096));
    const s = disk.createSnapshot();
    const r = disk.queryChangedDiskAreas(s, 0, c0);
    expect(r.ok ? 'ok' : r.error.kind).toBe('invalid-change-id');
  });
});

// ---------------------------------------------------------------- the real bugs (fact 20)

interface Verdict {
  readonly missing: string[];
  readonly unallocated: number[];
}

function verdict(disk: VirtualDisk, snap: SnapshotId, changeId: ChangeId, changed: [number, number][], capacityBytes: number, allocated: Set<number>): Verdict {
  const areas = queryAll(disk, snap, changeId, capacityBytes);
  expect(malformedAreas(areas, capacityBytes)).toEqual([]);
  return { missing: missingRanges(areas, changed), unallocated: unallocatedGrains(areas, allocated) };
}

/** Grow across 128 GiB: writes made before the grow vanish from the answer. */
function growScenario(cbt: CbtFaults, toBytes: number): Verdict {
  const from = 100 * GiB;
  const { disk } = makeDisk({ capacityBytes: from });
  const c0 = disk.enableChangeTracking();
  disk.write(90 * GiB, payload(1, 4096));
  disk.setFaults({ cbt });
  disk.grow(toBytes);
  disk.write(toBytes - 4096, payload(2, 4096));
  const s = disk.createSnapshot();
  const grains = new Set([(90 * GiB) / 4096, toBytes / 4096 - 1]);
  return verdict(disk, s, c0, [[90 * GiB, 4096], [toBytes - 4096, 4096]], toBytes, grains);
}

/** ESXi 6.0: writes made while a snapshot consolidates are not tracked. */
function consolidationScenario(cbt: CbtFaults): Verdict {
  const { disk } = makeDisk({ capacityBytes: CAPACITY });
  disk.setFaults({ cbt });
  disk.enableChangeTracking();
  const s1 = disk.createSnapshot();
  const c1 = disk.snapshotChangeId(s1) ?? ChangeId('');
  disk.write(0, payload(1, 4096));
  const window = disk.startRemoveSnapshot(s1);
  disk.write(8192, payload(2, 4096)); // during consolidation
  window.finish();
  const s2 = disk.createSnapshot();
  return verdict(disk, s2, c1, [[0, 4096], [8192, 4096]], CAPACITY, new Set([0, 2]));
}

/** CBT enabled while a snapshot exists: consolidating that delta loses its changes. */
function enableWithSnapshotsScenario(cbt: CbtFaults): Verdict {
  const { disk } = makeDisk({ capacityBytes: CAPACITY });
  disk.setFaults({ cbt });
  const existing = disk.createSnapshot();
  const c0 = disk.enableChangeTracking();
  disk.write(0, payload(1, 4096)); // lands in the pre-existing delta
  const s1 = disk.createSnapshot();
  disk.removeSnapshot(existing); // consolidates that delta
  return verdict(disk, s1, c0, [[0, 4096]], CAPACITY, new Set([0]));
}

describe('CBT faults of notes fact 20 break completeness; without them it holds', () => {
  it('growPast128GiB', () => {
    expect(growScenario({}, 200 * GiB)).toEqual({ missing: [], unallocated: [] });
    expect(growScenario({ growPast128GiB: true }, 120 * GiB)).toEqual({ missing: [], unallocated: [] }); // no boundary crossed
    expect(growScenario({ growPast128GiB: true }, 200 * GiB).missing).toEqual([`[${90 * GiB}, ${90 * GiB + 4096})`]);
  });

  it('consolidationLosesChanges', () => {
    expect(consolidationScenario({})).toEqual({ missing: [], unallocated: [] });
    expect(consolidationScenario({ consolidationLosesChanges: true }).missing).toEqual([`[8192, ${8192 + 4096})`]);
  });

  it('enableWithSnapshots', () => {
    expect(enableWithSnapshotsScenario({})).toEqual({ missing: [], unallocated: [] });
    expect(enableWithSnapshotsScenario({ enableWithSnapshots: true }).missing).toEqual(['[0, 4096)']);
  });

  it('enableWithSnapshots spares deltas created after CBT was enabled', () => {
    const { disk } = makeDisk({ capacityBytes: CAPACITY });
    disk.setFaults({ cbt: { enableWithSnapshots: true } });
    const c0 = disk.enableChangeTracking();
    const s0 = disk.createSnapshot();
    disk.write(0, payload(1, 4096));
    const s1 = disk.createSnapshot();
    disk.removeSnapshot(s0);
    expect(verdict(disk, s1, c0, [[0, 4096]], CAPACITY, new Set([0]))).toEqual({ missing: [], unallocated: [] });
  });
});

describe('the checkers can fail', () => {
  const areas: ChangedArea[] = [{ startBytes: 0, lengthBytes: 8192 }, { startBytes: 16384, lengthBytes: 4096 }];
  const changed: [number, number][] = [[512, 512], [16384, 4096]];

  it('completeness reports a hand-dropped extent', () => {
    expect(missingRanges(areas, changed)).toEqual([]);
    expect(missingRanges(areas.slice(0, 1), changed)).toEqual(['[16384, 20480)']);
    // An off-by-one-grain extent (a classic engine mutant) is caught too.
    expect(missingRanges([{ startBytes: 4096, lengthBytes: 4096 }, areas[1] ?? areas[0] ?? { startBytes: 0, lengthBytes: 0 }], changed)).toEqual(['[512, 1024)']);
  });

  it('tightness reports a hand-added unallocated grain, and the shape check a bad extent', () => {
    expect(unallocatedGrains(areas, new Set([0, 1, 4]))).toEqual([]);
    expect(unallocatedGrains([...areas, { startBytes: 40960, lengthBytes: 4096 }], new Set([0, 1, 4]))).toEqual([10]);
    expect(malformedAreas(areas, 64 * KiB)).toEqual([]);
    expect(malformedAreas([{ startBytes: 512, lengthBytes: 4096 }], 64 * KiB).length).toBeGreaterThan(0);
    expect(malformedAreas([areas[1] ?? { startBytes: 0, lengthBytes: 1 }, areas[0] ?? { startBytes: 0, lengthBytes: 1 }], 64 * KiB).length).toBeGreaterThan(0);
  });
});
