/**
 * The engine's guest file system reader (engine/restore/guestfs) against the simulator's
 * own image reader (sim/guest/image-reader.ts, with replay), on random trees written
 * through the simulator's FileSystem: for crash-consistent images (taken from the disk's
 * durable state while the guest runs: page cache partly written back, committed
 * transactions not yet checkpointed, so replay is needed) and for clean ones (taken while
 * frozen), both readers list exactly the same tree with the same sizes and bytes, and the
 * clean image holds exactly what the workload wrote. Also: the comparison itself catches a
 * one-byte difference and a skipped replay; extent blocks, holes and unaligned sizes.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sToUs } from '../../core/clock.js';
import { unwrap } from '../../core/result.js';
import { openGuestVolume, type GuestVolume } from '../../engine/restore/guestfs/index.js';
import type { PointSource } from '../../engine/restore/source.js';
import { openImage } from '../../sim/guest/image-reader.js';
import type { BlockReader } from '../../sim/storage/types.js';
import { sourceOf } from '../support/memory-target.js';
import { makeWorld, pattern, Workload, type World } from '../sim/guest/helpers.js';

const DISK = 'd0';

function pointOf(image: Uint8Array): PointSource {
  return sourceOf({ id: 'rp-test', parent: null, disks: new Map([[DISK, image]]), meta: null });
}

function readerOf(image: Uint8Array): BlockReader {
  return { capacityBytes: image.length, sectorSizeBytes: 512, read: (o, n) => image.slice(o, o + n) };
}

interface Listed {
  readonly path: string;
  readonly type: 'file' | 'dir';
  readonly sizeBytes: number;
}

function sortByPath<T extends { path: string }>(items: T[]): T[] {
  return items.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The tree and contents the simulator's reader sees (it must open the image). */
function simTree(image: Uint8Array): { replayed: number; entries: Listed[]; files: Map<string, Uint8Array> } {
  const view = unwrap(openImage(readerOf(image)));
  const entries = sortByPath(unwrap(view.walk()).map((e) => ({ path: e.path, type: e.type, sizeBytes: e.sizeBytes })));
  const files = new Map(entries.filter((e) => e.type === 'file').map((e) => [e.path, unwrap(view.readFile(e.path))]));
  return { replayed: view.replayedTransactions, entries, files };
}

async function engineTree(volume: GuestVolume): Promise<{ entries: Listed[]; files: Map<string, Uint8Array> }> {
  const walked = await volume.walk();
  if (!walked.ok) throw new Error(`engine walk: ${JSON.stringify(walked.error)}`);
  const entries = sortByPath(walked.value.map((e) => ({ path: e.path, type: e.type, sizeBytes: e.sizeBytes })));
  const files = new Map<string, Uint8Array>();
  for (const e of walked.value) {
    if (e.type !== 'file') continue;
    const inode = unwrap(await volume.inode(e.ino));
    files.set(e.path, unwrap(await volume.readFile(inode)));
  }
  return { entries, files };
}

/**
 * Differences between what the simulator reads from `simImage` and what the engine reads
 * from `engineImage` (the same image, except in the tests that prove this can fail).
 */
async function differences(simImage: Uint8Array, engineImage: Uint8Array = simImage): Promise<string[]> {
  const expected = simTree(simImage);
  const opened = await openGuestVolume(pointOf(engineImage), DISK);
  if (!opened.ok) return [`engine cannot open: ${JSON.stringify(opened.error)}`];
  const actual = await engineTree(opened.value);
  const out: string[] = [];
  if (opened.value.replayedTransactions !== expected.replayed) out.push(`replayed ${opened.value.replayedTransactions}, simulator ${expected.replayed}`);
  const a = JSON.stringify(actual.entries);
  const e = JSON.stringify(expected.entries);
  if (a !== e) out.push(`tree differs:\n engine    ${a}\n simulator ${e}`);
  for (const [path, bytes] of expected.files) {
    const got = actual.files.get(path);
    if (got === undefined || Buffer.compare(got, bytes) !== 0) out.push(`${path}: contents differ`);
  }
  return out;
}

/** Extra shapes the random workload does not make: many extents (an extent block), holes, an unaligned size. */
function writeShapes(w: World, seed: number): void {
  const fs = w.fs;
  const dir = '/shapes';
  if (fs.stat(dir).ok) return;
  unwrap(fs.mkdir(dir));
  const sparse = unwrap(fs.create(`${dir}/sparse`));
  // One page every 9 pages: each write is its own extent (more than the 4 inline ones).
  for (let i = 0; i < 10; i++) unwrap(fs.write(sparse, i * 9 * 4096, pattern(seed + i, 4096)));
  const odd = unwrap(fs.create(`${dir}/odd`));
  unwrap(fs.write(odd, 12_345, pattern(seed + 99, 5_001)));
  unwrap(fs.create(`${dir}/empty`));
  // A directory of more than one block (63 entries a block), with names that are not ASCII.
  unwrap(fs.mkdir(`${dir}/many`));
  for (let i = 0; i < 70; i++) {
    const h = unwrap(fs.create(`${dir}/many/${['n', 'héllo wörld ', '日本語-', 'emoji-😀-', 'x'.repeat(50)][i % 5] ?? ''}${i}`));
    if (i % 3 === 0) unwrap(fs.write(h, 0, pattern(seed + 1000 + i, 100 + i)));
  }
}

function world(seed: number, journalBlocks: number): World {
  return makeWorld({ seed, capacityBytes: 16 * 1024 * 1024, mkfs: { inodeCount: 512, journalBlocks } });
}

describe('the engine reads exactly what the simulator reads', () => {
  it('random trees: crash-consistent images (replay needed) and clean frozen images', async () => {
    let replayedImages = 0;
    let runs = 0;
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: 3, max: 30 }), fc.constantFrom(32, 96), fc.boolean(),
      async (seed, seconds, journalBlocks, shapes) => {
        runs++;
        const w = world(seed, journalBlocks);
        const workload = new Workload(w, w.sim.stream('workload'), { fsyncShare: 0.05, syncShare: 0.01, maxGapMs: 150 });
        workload.runUntil(sToUs(seconds));
        if (shapes) writeShapes(w, seed);
        w.sim.runFor(sToUs(1));
        // Crash-consistent: what is durable now, with the guest still running.
        const crash = w.disk.durableReader().read(0, w.disk.capacityBytes);
        expect(await differences(crash)).toEqual([]);
        if (simTree(crash).replayed > 0) replayedImages++;
        // Clean: frozen, everything written back and checkpointed.
        unwrap(w.fs.freeze());
        const clean = w.disk.durableReader().read(0, w.disk.capacityBytes);
        unwrap(w.fs.thaw());
        expect(await differences(clean)).toEqual([]);
        const volume = unwrap(await openGuestVolume(pointOf(clean), DISK, { replay: false }));
        expect(volume.replayedTransactions).toBe(0);
        // And the clean image holds exactly what the workload wrote.
        for (const [path, file] of workload.files) {
          const inode = unwrap(await volume.lookup(path));
          const bytes = unwrap(await volume.readFile(inode));
          expect(Buffer.compare(bytes, file.content), path).toBe(0);
        }
      }), { numRuns: 30 });
    expect(replayedImages, `${replayedImages} of ${runs} crash images needed replay`).toBeGreaterThanOrEqual(runs / 3);
  });

  it('extent blocks, holes and unaligned sizes read back as written', async () => {
    const w = world(77, 96);
    writeShapes(w, 77);
    unwrap(w.fs.freeze());
    const image = w.disk.durableReader().read(0, w.disk.capacityBytes);
    const volume = unwrap(await openGuestVolume(pointOf(image), DISK));
    const sparse = unwrap(await volume.lookup('/shapes/sparse'));
    expect(sparse.extents.length).toBeGreaterThan(4);
    const bytes = unwrap(await volume.readFile(sparse));
    expect(bytes.length).toBe((9 * 9 + 1) * 4096);
    for (let i = 0; i < 10; i++) expect(Buffer.compare(bytes.subarray(i * 9 * 4096, i * 9 * 4096 + 4096), pattern(77 + i, 4096))).toBe(0);
    expect(bytes.subarray(4096, 9 * 4096).every((b) => b === 0)).toBe(true);
    const odd = unwrap(await volume.readFile(unwrap(await volume.lookup('/shapes/odd'))));
    expect(odd.length).toBe(12_345 + 5_001);
    expect(odd.subarray(0, 12_345).every((b) => b === 0)).toBe(true);
    expect(Buffer.compare(odd.subarray(12_345), pattern(77 + 99, 5_001))).toBe(0);
    // A range in the middle, across a hole and a mapped page.
    const range = unwrap(await volume.readRange(sparse, 9 * 4096 - 10, 20));
    expect([...range.subarray(0, 10)]).toEqual(new Array(10).fill(0));
    expect(Buffer.compare(range.subarray(10), pattern(78, 4096).subarray(0, 10))).toBe(0);
    expect(await differences(image)).toEqual([]);
  });

  it('the comparison can fail: a flipped data byte, or an engine that skips the replay, is caught', async () => {
    const w = world(5, 96);
    const h = unwrap(w.fs.create('/a'));
    unwrap(w.fs.write(h, 0, pattern(5, 3 * 4096)));
    unwrap(w.fs.fsync(h)); // commits the metadata; no checkpoint yet, so the image needs replay
    unwrap(w.fs.mkdir('/d'));
    unwrap(w.fs.fsync(h));
    const image = w.disk.durableReader().read(0, w.disk.capacityBytes);
    expect(await differences(image)).toEqual([]);
    // A flipped byte of /a's data in the engine's copy only.
    const volume = unwrap(await openGuestVolume(pointOf(image), DISK));
    const a = unwrap(await volume.lookup('/a'));
    const physical = a.extents[0]?.physical ?? 0;
    const broken = image.slice();
    broken[physical * 4096 + 100] = (broken[physical * 4096 + 100] ?? 0) ^ 0xff;
    expect(await differences(image, broken)).toEqual(['/a: contents differ']);
    // Without replay the tree is not there yet: the engine refuses rather than show a stale tree.
    expect(volume.replayedTransactions).toBeGreaterThan(0);
    const stale = await openGuestVolume(pointOf(image), DISK, { replay: false });
    expect(stale.ok ? null : stale.error.kind).toBe('needs-replay');
  });
});
