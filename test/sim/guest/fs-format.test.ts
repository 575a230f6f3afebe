/** The on-disk format: CRC32, encoders/decoders, geometry, mkfs. */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unwrap } from '../../../core/result.js';
import {
  BLOCK_BYTES, BlockKind, DIR_ENTRIES_PER_BLOCK, decodeBitmapBlock, encodeBitmapBlock, encodeBitmapBits, packBitmap, INODES_PER_BLOCK, MAX_NAME_BYTES, checkHeader, computeGeometry, crc32, decodeCommit,
  decodeDescriptor, decodeDirBlock, decodeExtentBlock, decodeInodeBlock, decodeSuperblock, encodeCommit, encodeDescriptor, encodeDirBlock,
  encodeExtentBlock, encodeInodeBlock, encodeSuperblock, maxTransactionBlocks, mkfs, nameProblem, opMaxMetaBlocks, transactionChecksum,
  type DirEntry, type InodeImage, type Superblock,
} from '../../../sim/guest/fs-format.js';
import { readSuperblock } from '../../../sim/guest/fs-volume.js';
import { fsck } from '../../../sim/guest/fsck.js';
import { FileSystem } from '../../../sim/guest/file-system.js';
import { Simulation } from '../../../sim/kernel/simulation.js';
import { MemDevice, MiB } from './helpers.js';

const g = unwrap(computeGeometry({ totalBlocks: 4096, inodeCount: 500, journalBlocks: 64 }));

function sb(seq: number): Superblock {
  return { seq, geometry: g, rootIno: 1, journalTailPos: 7, journalTailSeq: 42, clean: false, mountCount: 3, label: 'data-é' };
}

describe('CRC32', () => {
  it('matches the IEEE check value and chains', () => {
    const text = new TextEncoder().encode('123456789');
    expect(crc32(text)).toBe(0xcbf43926);
    expect(crc32(text.subarray(4), crc32(text.subarray(0, 4)))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });
});

describe('geometry', () => {
  it('lays out superblocks, journal, bitmap, inode table and data contiguously', () => {
    expect(g).toMatchObject({ journalStart: 2, bitmapStart: 66, bitmapBlocks: 1, inodeTableStart: 67 });
    expect(g.inodeTableBlocks).toBe(Math.ceil(501 / INODES_PER_BLOCK));
    expect(g.dataStart).toBe(67 + g.inodeTableBlocks);
  });

  it('refuses devices too small, and journals that cannot hold one operation', () => {
    expect(computeGeometry({ totalBlocks: 100 }).ok).toBe(false);
    expect(computeGeometry({ totalBlocks: 4096, journalBlocks: 8 }).ok).toBe(false);
    expect(opMaxMetaBlocks(1)).toBeLessThanOrEqual(maxTransactionBlocks(32));
  });
});

describe('superblock', () => {
  it('round-trips and lives in copy seq % 2', () => {
    const block = encodeSuperblock(sb(5));
    expect(unwrap(decodeSuperblock(block, 1))).toEqual(sb(5));
    expect(decodeSuperblock(block, 0).ok).toBe(false);
  });

  it('a torn write (new bytes up to inside any sector, old ones after) never decodes as a third superblock', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 1, max: 511 }), (sector, cut) => {
      const old = encodeSuperblock(sb(4));
      const next = encodeSuperblock({ ...sb(6), journalTailPos: 9 });
      const torn = old.slice();
      torn.set(next.subarray(0, sector * 512 + cut));
      // The CRC fails, unless the torn image equals the old or the new one byte for byte
      // (the bytes that did not land were the same in both).
      const decoded = decodeSuperblock(torn, 0);
      if (decoded.ok) expect([sb(4), { ...sb(6), journalTailPos: 9 }]).toContainEqual(decoded.value);
      if (decoded.ok) expect(torn.every((b, i) => b === old[i]) || torn.every((b, i) => b === next[i])).toBe(true);
    }));
  });

  it('mount and fsck take the newest valid copy and survive one torn copy', () => {
    const device = new MemDevice(16 * MiB);
    unwrap(mkfs(device));
    expect(unwrap(readSuperblock(device)).sb.seq).toBe(2);
    device.write(0, new Uint8Array(512).fill(0xab));
    const choice = unwrap(readSuperblock(device));
    expect(choice.sb.seq).toBe(1);
    expect(choice.otherCopyProblem).toMatch(/bad magic/);
    expect(fsck(device).state).toBe('clean');
    device.write(BLOCK_BYTES, new Uint8Array(512).fill(0xcd));
    expect(fsck(device)).toMatchObject({ state: 'corrupt' });
  });
});

describe('metadata blocks', () => {
  it('bitmap blocks encode alike from one byte per block or from the packed bitset, and decode back', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 4096, maxLength: 4096, max: 1 }), (used) => {
      const block = encodeBitmapBlock(g, 0, used);
      expect(encodeBitmapBits(g, 0, packBitmap(used))).toEqual(block);
      const back = new Uint8Array(4096);
      expect(decodeBitmapBlock(g, 0, block, back)).toBeUndefined();
      expect(back).toEqual(used);
    }), { numRuns: 30 });
  });

  it('inode blocks round-trip sizes above 4 GiB and inline extents', () => {
    const inode: InodeImage = { type: 'file', linkCount: 1, generation: 9, sizeBytes: 5 * 2 ** 32 + 17, extentBlock: 0, parentIno: 0, extents: [{ logical: 0, physical: 100, length: 3 }] };
    const block = encodeInodeBlock(g, 1, (ino) => (ino === INODES_PER_BLOCK + 2 ? inode : undefined));
    const records = unwrap(decodeInodeBlock(g, 1, block));
    expect(records[2]).toMatchObject({ type: 'file', linkCount: 1, generation: 9, sizeBytes: 5 * 2 ** 32 + 17, extentCount: 1, inline: inode.extents });
    expect(records[3]?.type).toBe('free');
    expect(decodeInodeBlock(g, 0, block).ok).toBe(false); // misdirected: claims another block number
  });

  it('directory blocks round-trip UTF-8 names; bad names are refused', () => {
    const slots: (DirEntry | undefined)[] = new Array<DirEntry | undefined>(DIR_ENTRIES_PER_BLOCK).fill(undefined);
    slots[0] = { ino: 5, name: 'données.db' };
    slots[62] = { ino: 6, name: 'x'.repeat(MAX_NAME_BYTES) };
    const decoded = unwrap(decodeDirBlock(900, encodeDirBlock(900, 2, slots)));
    expect(decoded.ownerIno).toBe(2);
    expect(decoded.slots).toEqual(slots);
    expect(nameProblem('x'.repeat(MAX_NAME_BYTES + 1))).toMatch(/longer/);
    expect(nameProblem('a/b')).toMatch(/contains/);
    expect(nameProblem('..')).toMatch(/reserved/);
    expect(nameProblem('')).toMatch(/empty/);
  });

  it('extent blocks round-trip and name their owner', () => {
    const extents = Array.from({ length: 50 }, (_, i) => ({ logical: i * 2, physical: 1000 + i * 3, length: 1 }));
    expect(unwrap(decodeExtentBlock(700, encodeExtentBlock(700, { ownerIno: 8, ownerGeneration: 2, extents })))).toEqual({ ownerIno: 8, ownerGeneration: 2, extents });
  });

  it('any flipped byte in any metadata block is caught by its header check', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: BLOCK_BYTES - 1 }), fc.integer({ min: 1, max: 255 }), (at, flip) => {
      const block = encodeExtentBlock(700, { ownerIno: 8, ownerGeneration: 2, extents: [{ logical: 0, physical: 800, length: 4 }] });
      expect(checkHeader(block, BlockKind.extents, 700)).toBeUndefined();
      block[at] = (block[at] as number) ^ flip;
      expect(checkHeader(block, BlockKind.extents, 700)).toBeDefined();
    }));
  });

  it('journal descriptor and commit round-trip; the checksum covers every image byte', () => {
    const descriptor = encodeDescriptor(10, 77, [66, 70, 500]);
    expect(unwrap(decodeDescriptor(10, descriptor))).toEqual({ seq: 77, targets: [66, 70, 500] });
    const images = [new Uint8Array(BLOCK_BYTES).fill(1), new Uint8Array(BLOCK_BYTES).fill(2)];
    const sum = transactionChecksum(descriptor, images);
    expect(unwrap(decodeCommit(14, encodeCommit(14, 77, 3, sum)))).toEqual({ seq: 77, count: 3, checksum: sum });
    (images[1] as Uint8Array)[4095] = 3;
    expect(transactionChecksum(descriptor, images)).not.toBe(sum);
  });
});

describe('mkfs', () => {
  it('formats a volume fsck calls clean with an empty root', () => {
    const device = new MemDevice(16 * MiB);
    const geometry = unwrap(mkfs(device, { label: 'vol1' }));
    expect(geometry.totalBlocks).toBe(4096);
    expect(fsck(device)).toMatchObject({ state: 'clean', problems: [], files: 0, dirs: 1, cleanFlag: true });
  });

  it('zeroes the journal, so a reformat never replays the old file system', () => {
    const device = new MemDevice(16 * MiB);
    unwrap(mkfs(device));
    const sim = new Simulation({ seed: 1 });
    const fs = unwrap(FileSystem.mount(device, { clock: sim.clock, queue: sim.queue }));
    unwrap(fs.mkdir('/old'));
    unwrap(fs.sync());
    fs.crash();
    expect(fsck(device).state).toBe('needs-replay');
    unwrap(mkfs(device));
    expect(fsck(device)).toMatchObject({ state: 'clean', dirs: 1 });
  });

  it('formats only the requested part of a large device, and refuses impossible requests', () => {
    const device = new MemDevice(64 * MiB);
    expect(unwrap(mkfs(device, { sizeBytes: 8 * MiB })).totalBlocks).toBe(2048);
    expect(mkfs(device, { sizeBytes: 128 * MiB })).toMatchObject({ ok: false });
    expect(mkfs(new MemDevice(512 * 1024))).toMatchObject({ ok: false, error: { kind: 'bad-geometry' } });
  });
});
