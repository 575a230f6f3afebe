/**
 * fsck and the image reader. Shows the checker can fail: hand-made damage (a flipped byte,
 * re-encoded but inconsistent structures with valid CRCs) is reported as corrupt, and
 * random damage never makes fsck throw or accept an image the reader cannot read.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unwrap } from '../../../core/result.js';
import {
  BLOCK_BYTES, INODES_PER_BLOCK, encodeBitmapBlock, encodeDescriptor, encodeCommit, encodeInodeBlock, mkfs, transactionChecksum,
  type Geometry,
} from '../../../sim/guest/fs-format.js';
import { openVolume, type Volume } from '../../../sim/guest/fs-volume.js';
import { FileSystem } from '../../../sim/guest/file-system.js';
import { fsck } from '../../../sim/guest/fsck.js';
import { openImage } from '../../../sim/guest/image-reader.js';
import { Simulation } from '../../../sim/kernel/simulation.js';
import { checkImage, expectBytes, MemDevice, MiB, pattern } from './helpers.js';

/** A volume with a small tree, unmounted cleanly (no replay needed). */
function cleanImage(): MemDevice {
  const device = new MemDevice(8 * MiB);
  unwrap(mkfs(device, { inodeCount: 128 }));
  const sim = new Simulation({ seed: 1 });
  const fs = unwrap(FileSystem.mount(device, { clock: sim.clock, queue: sim.queue }));
  unwrap(fs.mkdir('/etc'));
  unwrap(fs.mkdir('/var'));
  unwrap(fs.mkdir('/var/lib'));
  const a = unwrap(fs.create('/etc/hosts'));
  unwrap(fs.write(a, 0, pattern(1, 300)));
  const b = unwrap(fs.create('/var/lib/db'));
  unwrap(fs.write(b, 0, pattern(2, 5 * 4096 + 10)));
  unwrap(fs.write(b, 20 * 4096, pattern(3, 4096))); // a hole, then one more block
  unwrap(fs.unmount());
  return device;
}

function volumeOf(device: MemDevice): { volume: Volume; g: Geometry } {
  const opened = unwrap(openVolume(device));
  return { volume: opened.volume, g: opened.sb.geometry };
}

function rewriteInodeBlockOf(device: MemDevice, volume: Volume, g: Geometry, ino: number): void {
  const index = Math.floor(ino / INODES_PER_BLOCK);
  device.write((g.inodeTableStart + index) * BLOCK_BYTES, encodeInodeBlock(g, index, (i) => (i > 0 && i <= g.inodeCount ? volume.inodes[i] : undefined)));
}

function inoOf(device: MemDevice, path: string): number {
  return unwrap(unwrap(openImage(device)).stat(path)).ino;
}

describe('fsck verdicts', () => {
  it('a cleanly unmounted volume is clean; fsck reports what it saw', () => {
    expect(fsck(cleanImage())).toEqual({ state: 'clean', problems: [], replayedTransactions: 0, cleanFlag: true, files: 2, dirs: 4, usedBlocks: expect.any(Number) as number });
  });

  it('committed but not checkpointed transactions: needs-replay, and fsck never writes', () => {
    const device = cleanImage();
    const sim = new Simulation({ seed: 1 });
    const fs = unwrap(FileSystem.mount(device, { clock: sim.clock, queue: sim.queue }));
    unwrap(fs.mkdir('/tmp'));
    unwrap(fs.sync());
    fs.crash();
    const before = device.clone();
    const writes = device.writes;
    const report = fsck(device);
    expect(report).toMatchObject({ state: 'needs-replay', problems: [], replayedTransactions: 1, dirs: 5 });
    expect(device.writes).toBe(writes);
    expectBytes(device.read(0, 8 * MiB), before.read(0, 8 * MiB), 'image after fsck');
    // Without replay the image reader refuses; with it, it sees the new directory.
    expect(openImage(device, { replay: false })).toMatchObject({ ok: false, error: { kind: 'needs-replay', pendingTransactions: 1 } });
    expect(unwrap(unwrap(openImage(device)).list('/')).map((e) => e.name)).toEqual(['etc', 'tmp', 'var']);
  });

  it('a flipped byte in an inode table block makes fsck say corrupt (the checker can fail)', () => {
    const device = cleanImage();
    const { g } = volumeOf(device);
    const at = g.inodeTableStart * BLOCK_BYTES + 16 + 2 * 128 + 9;
    device.write(at - (at % 512), (() => { const s = device.read(at - (at % 512), 512); s[at % 512] = (s[at % 512] as number) ^ 0x40; return s; })());
    const report = fsck(device);
    expect(report.state).toBe('corrupt');
    expect(report.problems.join('\n')).toMatch(/CRC mismatch/);
    expect(openImage(device)).toMatchObject({ ok: false, error: { kind: 'corrupt' } });
  });

  it('a flipped byte of file data goes unseen (qfs has no data checksums)', () => {
    const device = cleanImage();
    const { volume } = volumeOf(device);
    const physical = (volume.inodes[inoOf(device, '/etc/hosts')]?.extents[0]?.physical ?? 0) * BLOCK_BYTES;
    device.write(physical, new Uint8Array(512).fill(7));
    expect(fsck(device).state).toBe('clean');
  });

  it('a referenced block marked free in the bitmap (valid CRC) is found', () => {
    const device = cleanImage();
    const { volume, g } = volumeOf(device);
    const block = volume.inodes[inoOf(device, '/var/lib/db')]?.extents[0]?.physical ?? 0;
    volume.used[block] = 0;
    device.write(g.bitmapStart * BLOCK_BYTES, encodeBitmapBlock(g, 0, volume.used));
    expect(fsck(device).problems).toEqual([`block ${block} referenced by inode ${inoOf(device, '/var/lib/db')} but marked free`]);
  });

  it('a leaked block (in use, unreferenced) is found', () => {
    const device = cleanImage();
    const { volume, g } = volumeOf(device);
    volume.used[g.totalBlocks - 1] = 1;
    device.write(g.bitmapStart * BLOCK_BYTES, encodeBitmapBlock(g, 0, volume.used));
    expect(fsck(device).problems).toEqual([`block ${g.totalBlocks - 1} marked in use but not referenced`]);
  });

  it('a block owned by two files is found', () => {
    const device = cleanImage();
    const { volume, g } = volumeOf(device);
    const hosts = inoOf(device, '/etc/hosts');
    const db = volume.inodes[inoOf(device, '/var/lib/db')];
    const inode = volume.inodes[hosts];
    if (inode === undefined || db === undefined) throw new Error('missing inode');
    const stolen = db.extents[0]?.physical ?? 0;
    const own = inode.extents[0]?.physical ?? 0;
    inode.extents = [{ logical: 0, physical: stolen, length: 1 }];
    rewriteInodeBlockOf(device, volume, g, hosts);
    const problems = fsck(device).problems.join('\n');
    expect(problems).toMatch(new RegExp(`block ${stolen} owned twice`));
    expect(problems).toMatch(new RegExp(`block ${own} marked in use but not referenced`));
  });

  it('a directory entry naming a freed inode, a wrong link count, an unreachable inode: all found', () => {
    const device = cleanImage();
    const { volume, g } = volumeOf(device);
    const hosts = inoOf(device, '/etc/hosts');
    const dir = inoOf(device, '/var/lib');
    const freed = volume.inodes[hosts];
    const lib = volume.inodes[dir];
    if (freed === undefined || lib === undefined) throw new Error('missing inode');
    Object.assign(freed, { type: 'free', linkCount: 0, sizeBytes: 0, extents: [], extentBlock: 0 });
    lib.linkCount = 5;
    const orphan = volume.inodes[100];
    if (orphan === undefined) throw new Error('missing inode');
    Object.assign(orphan, { type: 'file', linkCount: 1, generation: 1, sizeBytes: 0, parentIno: 0, extents: [], extentBlock: 0 });
    rewriteInodeBlockOf(device, volume, g, hosts);
    rewriteInodeBlockOf(device, volume, g, dir);
    rewriteInodeBlockOf(device, volume, g, 100);
    const report = fsck(device);
    expect(report.state).toBe('corrupt');
    expect(report.problems).toEqual(expect.arrayContaining([
      expect.stringMatching(new RegExp(`entry 'hosts' names free inode ${hosts}`)) as string,
      `directory ${dir}: link count 5, expected 2`,
      'inode 100 (file) is not reachable from the root',
    ]));
    expect(unwrap(openImage(device)).readFile('/etc/hosts')).toMatchObject({ ok: false, error: { kind: 'corrupt' } });
  });

  it('extents past the file size are refused by the shared decoder (fsck, reader and mount alike)', () => {
    const device = cleanImage();
    const { volume, g } = volumeOf(device);
    const ino = inoOf(device, '/etc/hosts');
    const inode = volume.inodes[ino];
    if (inode === undefined) throw new Error('missing inode');
    inode.sizeBytes = 0;
    rewriteInodeBlockOf(device, volume, g, ino);
    expect(fsck(device).problems).toEqual(expect.arrayContaining([`inode ${ino}: extents reach block 1, past the size 0`]));
    const sim = new Simulation({ seed: 1 });
    expect(FileSystem.mount(device, { clock: sim.clock, queue: sim.queue })).toMatchObject({ ok: false, error: { kind: 'corrupt' } });
  });

  it('a committed journal transaction that targets the journal itself is corruption, not replay', () => {
    const device = cleanImage();
    const { g } = volumeOf(device);
    const sb = unwrap(openVolume(device)).sb;
    const pos = g.journalStart + sb.journalTailPos;
    const descriptor = encodeDescriptor(pos, sb.journalTailSeq, [g.journalStart + 20]);
    const image = new Uint8Array(BLOCK_BYTES);
    device.write(pos * BLOCK_BYTES, descriptor);
    device.write((pos + 1) * BLOCK_BYTES, image);
    device.write((pos + 2) * BLOCK_BYTES, encodeCommit(pos + 2, sb.journalTailSeq, 1, transactionChecksum(descriptor, [image])));
    expect(fsck(device).problems.join()).toMatch(/outside the metadata regions/);
  });

  it('a torn commit record ends replay before its transaction (a crash during commit)', () => {
    const device = cleanImage();
    const sim = new Simulation({ seed: 1 });
    const fs = unwrap(FileSystem.mount(device, { clock: sim.clock, queue: sim.queue }));
    unwrap(fs.mkdir('/one'));
    unwrap(fs.sync());
    unwrap(fs.mkdir('/two'));
    unwrap(fs.sync());
    fs.crash();
    expect(fsck(device)).toMatchObject({ state: 'needs-replay', replayedTransactions: 2 });
    // The second transaction's commit record: descriptor, 1..n images, commit.
    const opened = unwrap(openVolume(device));
    const last = opened.scan.transactions[1];
    if (last === undefined) throw new Error('no second transaction');
    const commitAt = opened.sb.geometry.journalStart + last.startPos + last.targets.length + 1;
    device.write(commitAt * BLOCK_BYTES + 512, new Uint8Array(512).fill(0xee));
    const report = fsck(device);
    expect(report).toMatchObject({ state: 'needs-replay', replayedTransactions: 1, problems: [] });
    expect(unwrap(unwrap(openImage(device)).list('/')).map((e) => e.name)).toEqual(['etc', 'one', 'var']);
  });
});

describe('random damage', () => {
  it('fsck never throws; whenever it accepts an image, the reader reads every file and mount succeeds', () => {
    const base = cleanImage();
    const { g } = volumeOf(base);
    // Metadata blocks (superblocks, journal, bitmap, inode table) plus the first data blocks
    // (directory and extent blocks live there).
    const blockArb = fc.oneof(
      fc.integer({ min: 0, max: 1 }),
      fc.integer({ min: g.journalStart, max: g.bitmapStart - 1 }),
      fc.integer({ min: g.bitmapStart, max: g.dataStart + 24 }),
    );
    const damage = fc.array(fc.record({ block: blockArb, at: fc.integer({ min: 0, max: BLOCK_BYTES - 1 }), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }), { minLength: 1, maxLength: 4 });
    const seen = { clean: 0, 'needs-replay': 0, corrupt: 0 };
    fc.assert(fc.property(damage, (hits) => {
      const device = base.clone();
      for (const hit of hits) {
        const start = hit.block * BLOCK_BYTES + Math.min(hit.at, BLOCK_BYTES - hit.bytes.length);
        device.write(start, hit.bytes);
      }
      const checked = checkImage(device);
      seen[checked.state]++;
      const sim = new Simulation({ seed: 1 });
      expect(FileSystem.mount(device.clone(), { clock: sim.clock, queue: sim.queue }).ok).toBe(checked.state !== 'corrupt');
    }), { numRuns: 400 });
    expect(seen.corrupt).toBeGreaterThan(80);
    expect(seen.clean).toBeGreaterThan(20);
  });
});

describe('image reader', () => {
  it('lists, walks, stats and reads files (holes read as zeros); typed errors for bad paths', () => {
    const image = unwrap(openImage(cleanImage()));
    expect(image.replayedTransactions).toBe(0);
    expect(unwrap(image.walk()).map((e) => [e.path, e.type, e.sizeBytes])).toEqual([
      ['/etc', 'dir', 4096], ['/etc/hosts', 'file', 300], ['/var', 'dir', 4096], ['/var/lib', 'dir', 4096], ['/var/lib/db', 'file', 21 * 4096],
    ]);
    const db = unwrap(image.readFile('/var/lib/db'));
    expectBytes(db.subarray(0, 5 * 4096 + 10), pattern(2, 5 * 4096 + 10), 'db head');
    expect(db.subarray(5 * 4096 + 10, 20 * 4096).every((b) => b === 0)).toBe(true);
    expectBytes(db.subarray(20 * 4096), pattern(3, 4096), 'db tail');
    expectBytes(unwrap(image.readRange('/var/lib/db', 20 * 4096 + 100, 50)), pattern(3, 4096).subarray(100, 150), 'range');
    expect(unwrap(image.stat('/etc/hosts'))).toMatchObject({ type: 'file', sizeBytes: 300, linkCount: 1 });
    expect(image.readFile('/etc')).toMatchObject({ ok: false, error: { kind: 'is-a-directory' } });
    expect(image.list('/etc/hosts')).toMatchObject({ ok: false, error: { kind: 'not-a-directory' } });
    expect(image.stat('/etc/hosts/x')).toMatchObject({ ok: false, error: { kind: 'not-a-directory', path: '/etc/hosts' } });
    expect(image.stat('/nope')).toMatchObject({ ok: false, error: { kind: 'not-found', path: '/nope' } });
    expect(image.stat('relative')).toMatchObject({ ok: false, error: { kind: 'invalid-path' } });
  });

  it('an image without a file system is refused', () => {
    expect(openImage(new MemDevice(MiB))).toMatchObject({ ok: false, error: { kind: 'no-filesystem' } });
  });
});
