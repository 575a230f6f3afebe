/**
 * Unit tests of VirtualDisk's structure: sparseness and memory, snapshot ids and views,
 * the consolidation window, revert, grow, stats and the history it records. The
 * model-based test covers data correctness across random command sequences; these pin
 * down the individual promises and the programmer-error asserts.
 */

import { describe, expect, it } from 'vitest';
import { AssertionError } from '../../../core/assert.js';
import { SLAB_BYTES } from '../../../sim/storage/grain-store.js';
import { MAX_SNAPSHOTS } from '../../../sim/storage/virtual-disk.js';
import { expectSameBytes, GiB, KiB, makeDisk, MiB, payload, TiB } from './storage-helpers.js';

describe('sparse storage', () => {
  it('a 2 TiB disk costs nothing until written, and one slab for the first grains', () => {
    const { disk } = makeDisk({ capacityBytes: 2 * TiB });
    expect(disk.stats()).toMatchObject({ allocatedGrainsTotal: 0, slabBytes: 0 });
    expectSameBytes(disk.read(2 * TiB - 8192, 8192), new Uint8Array(8192), 'unwritten end reads zeros');
    disk.write(2 * TiB - 4096, payload(1, 4096));
    disk.write(0, payload(2, 512));
    expect(disk.stats()).toMatchObject({ allocatedGrainsTotal: 2, slabBytes: SLAB_BYTES });
    expectSameBytes(disk.read(2 * TiB - 4096, 4096), payload(1, 4096), 'last grain');
    // A sub-grain write keeps the rest of its grain at zero.
    const expected = new Uint8Array(4096);
    expected.set(payload(2, 512));
    expectSameBytes(disk.read(0, 4096), expected, 'first grain');
  });

  it('overwrites reuse their grain; freed grains are reused after a consolidation', () => {
    const { disk } = makeDisk({ capacityBytes: 64 * MiB });
    for (let i = 0; i < 1000; i++) disk.write((i % 10) * 4096, payload(i, 4096));
    expect(disk.stats().allocatedGrainsTotal).toBe(10);
    const s = disk.createSnapshot();
    for (let i = 0; i < 10; i++) disk.write(i * 4096, payload(i, 4096));
    expect(disk.stats().allocatedGrainsPerLayer).toEqual([10, 10]);
    disk.removeSnapshot(s);
    expect(disk.stats().allocatedGrainsPerLayer).toEqual([10]);
    expect(disk.stats().slabBytes).toBe(SLAB_BYTES);
  });
});

describe('snapshots', () => {
  it('ids come from a counter and the chain lists oldest first', () => {
    const { disk } = makeDisk({ capacityBytes: MiB });
    const a = disk.createSnapshot();
    const b = disk.createSnapshot();
    expect([a, b]).toEqual(['d0-snap-1', 'd0-snap-2']);
    expect(disk.listSnapshots()).toEqual([a, b]);
    disk.removeSnapshot(a);
    expect(disk.createSnapshot()).toBe('d0-snap-3');
    expect(disk.listSnapshots()).toEqual([b, 'd0-snap-3']);
  });

  it('a snapshot view never changes while the VM writes on, or when other snapshots go', () => {
    const { disk } = makeDisk({ capacityBytes: MiB });
    disk.write(0, payload(1, 8192));
    const s1 = disk.createSnapshot();
    disk.write(4096, payload(2, 4096));
    const s2 = disk.createSnapshot();
    disk.write(0, payload(3, 8192));
    const r1 = disk.snapshotReader(s1);
    const r2 = disk.snapshotReader(s2);
    const want1 = payload(1, 8192);
    const want2 = want1.slice();
    want2.set(payload(2, 4096), 4096);
    expectSameBytes(r1.read(0, 8192), want1, 's1');
    expectSameBytes(r2.read(0, 8192), want2, 's2');
    disk.removeSnapshot(s1); // merges s2's delta below it
    expectSameBytes(r2.read(0, 8192), want2, 's2 after removing s1');
    expectSameBytes(disk.read(0, 8192), payload(3, 8192), 'the VM view');
    expect(() => r1.read(0, 512)).toThrow(AssertionError);
    expect(disk.hasSnapshot(s1)).toBe(false);
  });

  it('the VM keeps writing during a consolidation window; the result is the same', () => {
    const { disk, history } = makeDisk({ capacityBytes: MiB });
    disk.write(0, payload(1, 4096));
    const s1 = disk.createSnapshot();
    disk.write(4096, payload(2, 4096));
    const window = disk.startRemoveSnapshot(s1);
    expect(disk.listSnapshots()).toEqual([]);
    expect(() => disk.createSnapshot()).toThrow(AssertionError);
    disk.write(8192, payload(3, 4096));
    expectSameBytes(disk.read(8192, 4096), payload(3, 4096), 'write during the window');
    window.finish();
    expect(() => { window.finish(); }).toThrow(AssertionError);
    expect(disk.stats().allocatedGrainsPerLayer).toEqual([3]);
    for (let g = 0; g < 3; g++) expectSameBytes(disk.read(g * 4096, 4096), payload(g + 1, 4096), `grain ${g}`);
    expect(history.events().map((e) => e.kind)).toEqual(['disk.create', 'snapshot.create', 'snapshot.remove']);
  });

  it('consolidation merges the smaller map into the larger either way', () => {
    // Upper larger than lower: the lower's surviving grains move up.
    const { disk } = makeDisk({ capacityBytes: MiB });
    disk.write(0, payload(1, 4096));
    disk.write(4096, payload(2, 4096));
    const s = disk.createSnapshot();
    for (let g = 1; g < 6; g++) disk.write(g * 4096, payload(10 + g, 4096));
    disk.removeSnapshot(s);
    expectSameBytes(disk.read(0, 4096), payload(1, 4096), 'lower-only grain survives');
    for (let g = 1; g < 6; g++) expectSameBytes(disk.read(g * 4096, 4096), payload(10 + g, 4096), `upper wins at ${g}`);
    expect(disk.stats().allocatedGrainsTotal).toBe(6);
  });

  it('revert discards later layers, later snapshots and the cache; the target stays', () => {
    const { disk, history } = makeDisk({ capacityBytes: MiB, writeCache: 'write-back' });
    disk.write(0, payload(1, 4096));
    const s1 = disk.createSnapshot();
    disk.write(0, payload(2, 4096));
    const s2 = disk.createSnapshot();
    disk.write(0, payload(3, 4096)); // cached
    disk.revertToSnapshot(s1);
    expect(disk.listSnapshots()).toEqual([s1]);
    expect(disk.hasSnapshot(s2)).toBe(false);
    expectSameBytes(disk.read(0, 4096), payload(1, 4096), 'back to s1');
    expect(disk.stats()).toMatchObject({ pendingCacheWrites: 0, allocatedGrainsPerLayer: [1, 0] });
    expect(history.events().at(-1)?.data).toEqual({ snapshotId: s1, discardedSnapshots: [s2], droppedCacheWrites: 1 });
  });

  it(`at most ${MAX_SNAPSHOTS} snapshots; unknown ids are programmer errors`, () => {
    const { disk } = makeDisk({ capacityBytes: MiB });
    for (let i = 0; i < MAX_SNAPSHOTS; i++) disk.createSnapshot();
    expect(() => disk.createSnapshot()).toThrow(AssertionError);
    expect(() => { disk.removeSnapshot('x' as never); }).toThrow(AssertionError);
    expect(() => disk.snapshotReader('x' as never)).toThrow(AssertionError);
  });
});

describe('grow', () => {
  it('grows the disk; snapshots keep the size they were taken at; no shrink', () => {
    const { disk, history } = makeDisk({ capacityBytes: 100 * GiB });
    const s = disk.createSnapshot();
    const durable = disk.durableReader();
    disk.grow(200 * GiB);
    expect(disk.capacityBytes).toBe(200 * GiB);
    expect(durable.capacityBytes).toBe(200 * GiB);
    expect(disk.snapshotReader(s).capacityBytes).toBe(100 * GiB);
    disk.write(200 * GiB - 4096, payload(1, 4096));
    expectSameBytes(durable.read(200 * GiB - 4096, 4096), payload(1, 4096), 'written past the old end');
    expect(() => { disk.grow(150 * GiB); }).toThrow(AssertionError);
    expect(history.events().at(-1)).toMatchObject({ kind: 'disk.grow', data: { fromBytes: 100 * GiB, toBytes: 200 * GiB } });
    disk.revertToSnapshot(s);
    expect(disk.capacityBytes).toBe(100 * GiB);
  });

  it('rejects capacities that are not whole sectors', () => {
    expect(() => makeDisk({ capacityBytes: 64 * KiB + 512, sectorSizeBytes: 4096 })).toThrow(AssertionError);
    expect(() => makeDisk({ capacityBytes: 0 })).toThrow(AssertionError);
  });
});
