/**
 * The engine's guest file system reader on damaged images: random byte flips in metadata
 * blocks (raw, so CRCs catch them, and re-sealed with a fixed CRC, so the field checks must
 * catch them) never make it throw or run away: opening, walking, reading every file and a
 * whole file-level restore either succeed or return errors, within a bounded number of
 * source reads. Whenever the simulator's reader accepts the damaged image whole, the
 * engine reads exactly the same tree and bytes. Crafted damage (a directory loop, extents
 * outside the disk, a huge extent count, a journal transaction aimed at a superblock, a
 * giant sparse size) is an error naming the block, or a reported failed entry.
 */

import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { sToUs } from '../../core/clock.js';
import { ok, unwrap } from '../../core/result.js';
import { restoreFiles } from '../../engine/restore/file-restore.js';
import { MemoryFileWriter, type FileWriter } from '../../engine/restore/file-writer.js';
import { openGuestVolume, type GuestFsError } from '../../engine/restore/guestfs/index.js';
import type { PointSource } from '../../engine/restore/source.js';
import {
  BLOCK_BYTES, blockCrc, encodeCommit, encodeDescriptor, FS_MAGIC, INODES_PER_BLOCK, HEADER_BYTES, inodeBlockOf, INODE_BYTES, transactionChecksum,
} from '../../sim/guest/fs-format.js';
import { openVolume } from '../../sim/guest/fs-volume.js';
import { openImage } from '../../sim/guest/image-reader.js';
import type { BlockReader } from '../../sim/storage/types.js';
import { sourceOf } from '../support/memory-target.js';
import { makeWorld, pattern, Workload } from '../sim/guest/helpers.js';

/** Byte offset of inode `ino`'s slot in its inode-table block (after the block header). */
function inodeSlotOffset(ino: number): number {
  return HEADER_BYTES + (ino % INODES_PER_BLOCK) * INODE_BYTES;
}

const DISK = 'd0';

/** A point over `image` that counts its reads. */
function countingPoint(image: Uint8Array): { source: PointSource; reads: () => number; log: [number, number][] } {
  const inner = sourceOf({ id: 'rp-test', parent: null, disks: new Map([[DISK, image]]), meta: null });
  const log: [number, number][] = [];
  return {
    source: { ...inner, read: (diskId, offset, length) => { log.push([offset, length]); return inner.read(diskId, offset, length); } },
    reads: () => log.length,
    log,
  };
}

function readerOf(image: Uint8Array): BlockReader {
  return { capacityBytes: image.length, sectorSizeBytes: 512, read: (o, n) => image.slice(o, o + n) };
}

function u32(image: Uint8Array, at: number): number {
  return new DataView(image.buffer, image.byteOffset).getUint32(at, true);
}

function setU32(image: Uint8Array, at: number, value: number): void {
  new DataView(image.buffer, image.byteOffset).setUint32(at, value, true);
}

/** Recomputes the header CRC of block `blockNo` (what a forger or a buggy writer would do). */
function reseal(image: Uint8Array, blockNo: number): void {
  const block = image.subarray(blockNo * BLOCK_BYTES, (blockNo + 1) * BLOCK_BYTES);
  setU32(image, blockNo * BLOCK_BYTES + 12, blockCrc(block));
}

interface Base {
  readonly name: string;
  readonly image: Uint8Array;
  /**
   * The metadata blocks the engine reads on this image (superblocks, the live journal,
   * inode-table, directory and extent blocks): where damage matters. Stale journal blocks
   * and free space are left out, since flips there change nothing.
   */
  readonly metaBlocks: readonly number[];
}

async function metaBlocksOf(image: Uint8Array): Promise<number[]> {
  const { source, log } = countingPoint(image);
  const volume = unwrap(await openGuestVolume(source, DISK));
  for (const e of unwrap(await volume.walk())) if (e.type === 'file') unwrap(await volume.inode(e.ino));
  const out = new Set<number>();
  for (const [offset, length] of log) {
    const b = offset / BLOCK_BYTES;
    if (length === BLOCK_BYTES && u32(image, offset) === FS_MAGIC) out.add(b);
  }
  return [...out].sort((a, b) => a - b);
}

async function makeBases(): Promise<Base[]> {
  const bases: Base[] = [];
  for (const seed of [3, 8]) {
    const w = makeWorld({ seed, capacityBytes: 16 * 1024 * 1024, mkfs: { inodeCount: 256, journalBlocks: 64 } });
    const workload = new Workload(w, w.sim.stream('workload'), { maxGapMs: 150, fsyncShare: 0.05 });
    workload.runUntil(sToUs(12));
    const h = unwrap(w.fs.create('/fragmented'));
    for (let i = 0; i < 8; i++) unwrap(w.fs.write(h, i * 5 * 4096, pattern(seed + i, 4096)));
    unwrap(w.fs.fsync(h));
    const crash = w.disk.durableReader().read(0, w.disk.capacityBytes);
    bases.push({ name: `crash-${seed}`, image: crash, metaBlocks: await metaBlocksOf(crash) });
    unwrap(w.fs.freeze());
    const clean = w.disk.durableReader().read(0, w.disk.capacityBytes);
    bases.push({ name: `clean-${seed}`, image: clean, metaBlocks: await metaBlocksOf(clean) });
  }
  return bases;
}

interface Outcome {
  /** null when everything read; else the first error kind. */
  readonly error: GuestFsError | null;
  readonly tree: string;
  readonly reads: number;
  readonly restoredFiles: number;
  /** Entries the restore reported failed, except files over the memory writer's cap (a limit of the test, not damage). */
  readonly restoreFailed: number;
}

/** Opens, walks, reads every file, then restores everything into memory. Must never throw. */
async function explore(image: Uint8Array): Promise<Outcome> {
  const { source, reads } = countingPoint(image);
  let error: GuestFsError | null = null;
  let tree = '';
  const opened = await openGuestVolume(source, DISK);
  if (!opened.ok) {
    error = opened.error;
  } else {
    const walked = await opened.value.walk();
    if (!walked.ok) {
      error = walked.error;
    } else {
      const parts: string[] = [];
      for (const e of [...walked.value].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
        parts.push(`${e.path} ${e.type} ${e.sizeBytes}`);
        if (e.type !== 'file') continue;
        const inode = await opened.value.inode(e.ino);
        const bytes = inode.ok ? await opened.value.readFile(inode.value) : inode;
        if (!bytes.ok) {
          error ??= bytes.error;
          continue;
        }
        parts.push(Buffer.from(bytes.value).toString('base64'));
      }
      tree = parts.join('\n');
    }
  }
  const restored = await restoreFiles(source, DISK, { all: true }, new MemoryFileWriter({ maxTotalBytes: 64 * 1024 * 1024 }));
  return {
    error, tree, reads: reads(),
    restoredFiles: restored.ok ? restored.value.filesRestored : 0,
    restoreFailed: restored.ok ? restored.value.failed.filter((f) => f.error.kind !== 'too-large').length : -1,
  };
}

/** The same as `explore`'s tree, by the simulator's reader; undefined when it refuses anything. */
function simTree(image: Uint8Array): string | undefined {
  const view = openImage(readerOf(image));
  if (!view.ok) return undefined;
  const walked = view.value.walk();
  if (!walked.ok) return undefined;
  const parts: string[] = [];
  for (const e of walked.value) {
    parts.push(`${e.path} ${e.type} ${e.sizeBytes}`);
    if (e.type !== 'file') continue;
    const bytes = view.value.readFile(e.path);
    if (!bytes.ok) return undefined;
    parts.push(Buffer.from(bytes.value).toString('base64'));
  }
  return parts.join('\n');
}

let bases: Base[] = [];
beforeAll(async () => { bases = await makeBases(); });

describe('random damage to metadata', () => {
  it('never throws or runs away; when the simulator accepts the image, the engine reads the same', async () => {
    const tally = { ok: 0, error: 0, simAccepts: 0, tooLarge: 0 };
    await fc.assert(fc.asyncProperty(
      fc.nat(), fc.array(fc.record({ block: fc.nat(), offset: fc.integer({ min: 0, max: BLOCK_BYTES - 1 }), xor: fc.integer({ min: 1, max: 255 }), reseal: fc.boolean() }), { minLength: 1, maxLength: 6 }),
      async (pick, flips) => {
        const base = bases[pick % bases.length] as Base;
        const image = base.image.slice();
        for (const f of flips) {
          const blockNo = base.metaBlocks[f.block % base.metaBlocks.length] as number;
          // Offsets mostly inside the used front of a block (headers, inodes, entries).
          const at = blockNo * BLOCK_BYTES + (f.offset % (f.reseal ? 512 : BLOCK_BYTES));
          image[at] = (image[at] ?? 0) ^ f.xor;
          if (f.reseal) reseal(image, blockNo);
        }
        const outcome = await explore(image);
        // A damaged size can claim a (sparse) file over readFile's documented 256 MiB bound:
        // refusing to read it whole is the bound working (restore streams such files).
        if (outcome.error?.kind === 'too-large') {
          tally.tooLarge++;
          return;
        }
        if (outcome.error === null) tally.ok++;
        else if (outcome.error.kind !== 'corrupt' && outcome.error.kind !== 'no-filesystem') throw new Error(`unexpected error ${JSON.stringify(outcome.error)}`);
        else tally.error++;
        // Bound: open, walk and read touch each block a few times; the restore as often again.
        expect(outcome.reads).toBeLessThan(12 * (image.length / BLOCK_BYTES));
        const expected = simTree(image);
        if (expected !== undefined) {
          tally.simAccepts++;
          expect(outcome.error).toBeNull();
          expect(outcome.tree).toBe(expected);
          expect(outcome.restoreFailed).toBe(0);
        }
      }), { numRuns: 300 });
    // Not vacuous: some damage is caught, some images still read, some are accepted by both.
    expect(tally.error, JSON.stringify(tally)).toBeGreaterThan(30);
    expect(tally.ok, JSON.stringify(tally)).toBeGreaterThan(10);
    expect(tally.simAccepts, JSON.stringify(tally)).toBeGreaterThan(10);
  });
});

describe('crafted damage is an error naming the block', () => {
  /** A clean image with a directory /d holding a file /d/f, and the simulator's decoded view of it. */
  function crafted() {
    const w = makeWorld({ seed: 41, capacityBytes: 16 * 1024 * 1024, mkfs: { inodeCount: 256, journalBlocks: 64 } });
    unwrap(w.fs.mkdir('/d'));
    const h = unwrap(w.fs.create('/d/f'));
    unwrap(w.fs.write(h, 0, pattern(41, 3 * 4096)));
    unwrap(w.fs.create('/g'));
    unwrap(w.fs.freeze());
    const image = w.disk.durableReader().read(0, w.disk.capacityBytes);
    const opened = unwrap(openVolume(readerOf(image)));
    const dIno = unwrap(openImage(readerOf(image))).stat('/d');
    const fIno = unwrap(openImage(readerOf(image))).stat('/d/f');
    return { image, volume: opened.volume, g: opened.volume.geometry, d: unwrap(dIno).ino, f: unwrap(fIno).ino };
  }

  /** Byte offset of inode `ino`'s slot in the image. */
  function slotAt(c: ReturnType<typeof crafted>, ino: number): number {
    return inodeBlockOf(c.g, ino) * BLOCK_BYTES + inodeSlotOffset(ino);
  }

  it('a directory entry that points back at the root (a loop) stops the walk and the restore', async () => {
    const c = crafted();
    const dirBlock = c.volume.dirs.get(c.d)?.[0]?.block ?? -1;
    // Slot 1 of /d's block: an entry 'up' naming inode 1 (the root).
    const o = dirBlock * BLOCK_BYTES + 16 + 8 + 64;
    setU32(c.image, o, 1);
    c.image[o + 4] = 2;
    c.image.set([0x75, 0x70], o + 5);
    reseal(c.image, dirBlock);
    const volume = unwrap(await openGuestVolume(countingPoint(c.image).source, DISK));
    const walked = await volume.walk();
    expect(walked.ok ? null : walked.error).toMatchObject({ kind: 'corrupt', block: dirBlock, structure: 'directory' });
    const writer = new MemoryFileWriter();
    const report = unwrap(await restoreFiles(countingPoint(c.image).source, DISK, { all: true }, writer));
    expect(report.failed).toHaveLength(1);
    expect(report.failed[0]).toMatchObject({ guestNames: ['d', 'up'], error: { kind: 'corrupt', block: dirBlock } });
    expect([...writer.files().keys()].sort()).toEqual(['d/f', 'g']);
  });

  it('extents outside the data area, too many extents, a free inode and a giant size each fail only their file', async () => {
    const cases: [string, (c: ReturnType<typeof crafted>) => void, RegExp][] = [
      ['extent past the disk', (c) => { setU32(c.image, slotAt(c, c.f) + 32 + 4, 0xffff_fff0); }, /outside the data area/],
      ['extent in the inode table', (c) => { setU32(c.image, slotAt(c, c.f) + 32 + 4, c.g.inodeTableStart); }, /outside the data area/],
      ['extent count 2^32-1', (c) => { setU32(c.image, slotAt(c, c.f) + 16, 0xffff_ffff); }, /extents \(at most/],
      ['free inode named by an entry', (c) => { c.image[slotAt(c, c.f)] = 0; }, /is free but referenced/],
      ['type code 7', (c) => { c.image[slotAt(c, c.f)] = 7; }, /type code 7/],
    ];
    for (const [what, damage, reason] of cases) {
      const c = crafted();
      damage(c);
      reseal(c.image, inodeBlockOf(c.g, c.f));
      const report = unwrap(await restoreFiles(countingPoint(c.image).source, DISK, { all: true }, new MemoryFileWriter()));
      expect(report.failed, what).toHaveLength(1);
      expect(report.failed[0]?.guestNames, what).toEqual(['d', 'f']);
      expect(report.failed[0]?.error, what).toMatchObject({ kind: 'corrupt', block: inodeBlockOf(c.g, c.f) });
      expect(JSON.stringify(report.failed[0]?.error), what).toMatch(reason);
      expect(report.filesRestored, what).toBe(1); // /g
    }
    // A size of 2^48 bytes over the file's 3 blocks: a giant sparse file. The memory writer's
    // cap refuses it; a writer that takes it gets only the mapped bytes, at once.
    const c = crafted();
    setU32(c.image, slotAt(c, c.f) + 8, 0);
    setU32(c.image, slotAt(c, c.f) + 12, 2 ** 16);
    reseal(c.image, inodeBlockOf(c.g, c.f));
    const report = unwrap(await restoreFiles(countingPoint(c.image).source, DISK, { all: true }, new MemoryFileWriter()));
    expect(report.failed[0]?.error).toMatchObject({ kind: 'too-large', sizeBytes: 2 ** 48 });
    const writes: [string, number, number][] = [];
    const counting: FileWriter = {
      mkdir: () => Promise.resolve(ok(undefined)),
      createFile: (parts) => Promise.resolve(ok({
        write: (offset, data) => { writes.push([parts.join('/'), offset, data.length]); return Promise.resolve(ok(undefined)); },
        close: () => Promise.resolve(ok(undefined)),
        abort: () => Promise.resolve(),
      })),
    };
    const sparse = unwrap(await restoreFiles(countingPoint(c.image).source, DISK, { all: true }, counting));
    expect(sparse.failed).toEqual([]);
    expect(sparse.bytesRestored).toBe(2 ** 48);
    expect(sparse.bytesWritten).toBe(3 * 4096);
    expect(writes).toEqual([['d/f', 0, 3 * 4096]]);
  });

  it('a bad root, bad superblocks, and a committed journal transaction aimed at a superblock refuse the volume', async () => {
    const c = crafted();
    const rootBlock = inodeBlockOf(c.g, 1);
    const root = c.image.slice();
    root[rootBlock * BLOCK_BYTES + inodeSlotOffset(1)] = 1; // the root is a file
    reseal(root, rootBlock);
    expect((await openGuestVolume(countingPoint(root).source, DISK)).ok ? null : 'refused').toBe('refused');
    const noSb = c.image.slice();
    noSb[100] = (noSb[100] ?? 0) ^ 1;
    noSb[BLOCK_BYTES + 100] = (noSb[BLOCK_BYTES + 100] ?? 0) ^ 1;
    const opened = await openGuestVolume(countingPoint(noSb).source, DISK);
    expect(opened.ok ? null : opened.error).toMatchObject({ kind: 'no-filesystem', problems: [{ block: 0, reason: 'CRC mismatch' }, { block: 1, reason: 'CRC mismatch' }] });
    // A journal transaction at the tail of the newest superblock: descriptor targeting block 0, one image, a valid commit.
    const j = c.image.slice();
    const seqs = [u32(j, 16 + 4), u32(j, BLOCK_BYTES + 16 + 4)];
    const newest = (seqs[0] ?? 0) > (seqs[1] ?? 0) ? 0 : 1;
    const sb = newest * BLOCK_BYTES;
    const tailPos = u32(j, sb + 16 + 4 * 13);
    const tailSeq = u32(j, sb + 16 + 4 * 14);
    const at = (pos: number): number => c.g.journalStart + (pos % c.g.journalBlocks);
    const descriptor = encodeDescriptor(at(tailPos), tailSeq, [0]);
    const image = new Uint8Array(BLOCK_BYTES).fill(0xab);
    j.set(descriptor, at(tailPos) * BLOCK_BYTES);
    j.set(image, at(tailPos + 1) * BLOCK_BYTES);
    j.set(encodeCommit(at(tailPos + 2), tailSeq, 1, transactionChecksum(descriptor, [image])), at(tailPos + 2) * BLOCK_BYTES);
    const journal = await openGuestVolume(countingPoint(j).source, DISK);
    expect(journal.ok ? null : journal.error).toMatchObject({ kind: 'corrupt', block: at(tailPos), structure: 'journalDescriptor' });
    expect(openImage(readerOf(j)).ok).toBe(false); // the simulator refuses it too
  });

  it('an inode table block with a broken CRC names that block', async () => {
    const c = crafted();
    const block = inodeBlockOf(c.g, c.f);
    c.image[block * BLOCK_BYTES + 20] = (c.image[block * BLOCK_BYTES + 20] ?? 0) ^ 0x10;
    const volume = await openGuestVolume(countingPoint(c.image).source, DISK);
    // The root lives in the same block when both inode numbers are below 31.
    const expected = { kind: 'corrupt', block, structure: 'inodeTable', reason: 'CRC mismatch' };
    if (Math.floor(c.f / INODES_PER_BLOCK) === 0) expect(volume.ok ? null : volume.error).toMatchObject(expected);
    else expect(volume.ok ? await volume.value.walk() : null).toMatchObject({ ok: false, error: expected });
  });
});
