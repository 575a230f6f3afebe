/**
 * The guest file system's on-disk format ("qfs") as the engine reads it: constants and
 * pure, defensive decoders of single blocks. Written from the format (the simulator's
 * fs-format.ts is the writer's side; the engine may not import it), so this module is an
 * independent second reading of the same layout:
 *
 *   blocks of 4096 bytes, block numbers u32, integers little-endian;
 *   0, 1         superblock copies (copy = seq % 2), the newest valid one wins;
 *   journal      circular: descriptor (seq, target block numbers), one full image per
 *                target, commit (seq, count, CRC32 over descriptor and images);
 *   bitmap       (not needed for reading);
 *   inode table  128-byte inodes, 31 per block after the header; inode 1 is the root;
 *   data area    file data, directory blocks, extent blocks.
 *
 * Every metadata block starts with magic u32, kind u16, reserved u16, own block number
 * u32, CRC32 u32 (computed with the CRC field as zero).
 *
 * Every field is untrusted: a decoder checks the header, every count against the room the
 * block has, and returns a `Corrupt` naming the block; it never throws on any bytes and
 * never loops past a constant bound. Checks that need more than one block (extents inside
 * the geometry, owners) are the volume's.
 *
 * Leaves out: the bitmap (a reader does not allocate), label strictness (a label that is
 * not UTF-8 is decoded leniently: it is informational).
 */

import { crc32 } from '../../../core/crc32.js';
import { err, ok, type Result } from '../../../core/result.js';

export const BLOCK_BYTES = 4096;
export const HEADER_BYTES = 16;
export const FS_MAGIC = 0x5146_5342;
export const FS_VERSION = 1;
export const ROOT_INO = 1;

export const KIND = {
  superblock: 1,
  bitmap: 2,
  inodeTable: 3,
  directory: 4,
  extents: 5,
  journalDescriptor: 6,
  journalCommit: 7,
} as const;
export type KindName = keyof typeof KIND;

export const INODE_BYTES = 128;
export const INODES_PER_BLOCK = 31;
export const INLINE_EXTENTS = 4;
export const EXTENT_BYTES = 12;
const EXTENT_BLOCK_HEADER_BYTES = 12;
export const EXTENTS_PER_BLOCK = 339;
export const MAX_EXTENTS = INLINE_EXTENTS + EXTENTS_PER_BLOCK;
export const DIR_ENTRY_BYTES = 64;
const DIR_BLOCK_HEADER_BYTES = 8;
export const DIR_ENTRIES_PER_BLOCK = 63;
export const MAX_NAME_BYTES = DIR_ENTRY_BYTES - 5;
export const BITS_PER_BITMAP_BLOCK = (BLOCK_BYTES - HEADER_BYTES) * 8;
export const DESCRIPTOR_CAPACITY = 1018;
const MAX_LABEL_BYTES = 32;
export const MAX_FILE_BYTES = 2 ** 48;
export const MIN_TOTAL_BLOCKS = 256;
export const MAX_TOTAL_BLOCKS = 2 ** 23;
export const MIN_JOURNAL_BLOCKS = 32;
export const MAX_INODES = 1 << 20;

/** What was wrong, and where: every corruption names the block it was found in. */
export interface Corrupt {
  readonly block: number;
  readonly structure: KindName | 'file-data';
  readonly reason: string;
}

function corrupt(block: number, structure: Corrupt['structure'], reason: string): { readonly ok: false; readonly error: Corrupt } {
  return err({ block, structure, reason });
}

function dv(block: Uint8Array): DataView {
  return new DataView(block.buffer, block.byteOffset, block.byteLength);
}

const ZERO4 = new Uint8Array(4);

/** CRC32 of a block with its CRC field (bytes 12..16) taken as zero. */
export function headerCrc(block: Uint8Array): number {
  let c = crc32(block.subarray(0, 12));
  c = crc32(ZERO4, c);
  return crc32(block.subarray(16), c);
}

/** Checks size, magic, kind, own block number and CRC. */
export function checkHeader(block: Uint8Array, kindName: KindName, blockNo: number): Result<DataView, Corrupt> {
  if (block.length !== BLOCK_BYTES) return corrupt(blockNo, kindName, `short block (${block.length} bytes)`);
  const v = dv(block);
  if (v.getUint32(0, true) !== FS_MAGIC) return corrupt(blockNo, kindName, 'bad magic');
  const kind = v.getUint16(4, true);
  if (kind !== KIND[kindName]) return corrupt(blockNo, kindName, `holds block kind ${kind}`);
  const own = v.getUint32(8, true);
  if (own !== blockNo) return corrupt(blockNo, kindName, `claims to be block ${own}`);
  if (v.getUint32(12, true) !== headerCrc(block)) return corrupt(blockNo, kindName, 'CRC mismatch');
  return ok(v);
}

// ---------------------------------------------------------------------------------------
// Geometry and superblock

export interface Geometry {
  readonly totalBlocks: number;
  readonly journalStart: number;
  readonly journalBlocks: number;
  readonly bitmapStart: number;
  readonly bitmapBlocks: number;
  readonly inodeTableStart: number;
  readonly inodeTableBlocks: number;
  readonly inodeCount: number;
  readonly dataStart: number;
}

export interface Superblock {
  readonly seq: number;
  readonly geometry: Geometry;
  readonly rootIno: number;
  readonly journalTailPos: number;
  readonly journalTailSeq: number;
  readonly clean: boolean;
  readonly label: string;
}

/**
 * Why a claimed geometry is not the layout the format derives from its three free
 * parameters (total blocks, journal blocks, inode count), or undefined when it is.
 */
export function geometryProblem(g: Geometry, capacityBlocks: number): string | undefined {
  if (g.totalBlocks < MIN_TOTAL_BLOCKS || g.totalBlocks > MAX_TOTAL_BLOCKS) return `total blocks ${g.totalBlocks} outside [${MIN_TOTAL_BLOCKS}, ${MAX_TOTAL_BLOCKS}]`;
  if (g.totalBlocks > capacityBlocks) return `file system of ${g.totalBlocks} blocks exceeds the disk (${capacityBlocks})`;
  if (g.journalBlocks < MIN_JOURNAL_BLOCKS || g.journalBlocks > g.totalBlocks) return `journal of ${g.journalBlocks} blocks`;
  if (g.inodeCount < 2 || g.inodeCount > MAX_INODES) return `inode count ${g.inodeCount}`;
  const expected: Geometry = {
    totalBlocks: g.totalBlocks,
    journalStart: 2,
    journalBlocks: g.journalBlocks,
    bitmapStart: 2 + g.journalBlocks,
    bitmapBlocks: Math.ceil(g.totalBlocks / BITS_PER_BITMAP_BLOCK),
    inodeTableStart: 2 + g.journalBlocks + Math.ceil(g.totalBlocks / BITS_PER_BITMAP_BLOCK),
    inodeTableBlocks: Math.ceil((g.inodeCount + 1) / INODES_PER_BLOCK),
    inodeCount: g.inodeCount,
    dataStart: 0,
  };
  const dataStart = expected.inodeTableStart + expected.inodeTableBlocks;
  for (const key of ['journalStart', 'bitmapStart', 'bitmapBlocks', 'inodeTableStart', 'inodeTableBlocks'] as const) {
    if (g[key] !== expected[key]) return `${key} is ${g[key]}, the layout says ${expected[key]}`;
  }
  if (g.dataStart !== dataStart) return `dataStart is ${g.dataStart}, the layout says ${dataStart}`;
  if (dataStart + 16 > g.totalBlocks) return `metadata of ${dataStart} blocks leaves no data area`;
  return undefined;
}

const lenientDecoder = new TextDecoder('utf-8');

/** Decodes the superblock copy at block `copy` (0 or 1), geometry checked against the disk. */
export function decodeSuperblock(block: Uint8Array, copy: number, capacityBlocks: number): Result<Superblock, Corrupt> {
  const header = checkHeader(block, 'superblock', copy);
  if (!header.ok) return header;
  const v = header.value;
  const u = (i: number): number => v.getUint32(HEADER_BYTES + 4 * i, true);
  if (u(0) !== FS_VERSION) return corrupt(copy, 'superblock', `version ${u(0)}`);
  if (u(2) !== BLOCK_BYTES) return corrupt(copy, 'superblock', `block size ${u(2)}`);
  const seq = u(1);
  if (seq % 2 !== copy) return corrupt(copy, 'superblock', `seq ${seq} belongs in the other copy`);
  const geometry: Geometry = {
    totalBlocks: u(3), journalStart: u(4), journalBlocks: u(5), bitmapStart: u(6), bitmapBlocks: u(7),
    inodeTableStart: u(8), inodeTableBlocks: u(9), inodeCount: u(10), dataStart: u(11),
  };
  const problem = geometryProblem(geometry, capacityBlocks);
  if (problem !== undefined) return corrupt(copy, 'superblock', problem);
  const rootIno = u(12);
  if (rootIno < 1 || rootIno > geometry.inodeCount) return corrupt(copy, 'superblock', `root inode ${rootIno}`);
  const journalTailPos = u(13);
  if (journalTailPos >= geometry.journalBlocks) return corrupt(copy, 'superblock', `journal tail ${journalTailPos} outside the journal`);
  const clean = u(15);
  if (clean > 1) return corrupt(copy, 'superblock', `clean flag ${clean}`);
  const labelAt = HEADER_BYTES + 4 * 17;
  const labelBytes = Math.min(block[labelAt] ?? 0, MAX_LABEL_BYTES);
  const label = lenientDecoder.decode(block.subarray(labelAt + 1, labelAt + 1 + labelBytes));
  return ok({ seq, geometry, rootIno, journalTailPos, journalTailSeq: u(14), clean: clean === 1, label });
}

// ---------------------------------------------------------------------------------------
// Inodes and extents

export type InodeType = 'file' | 'dir';

export interface Extent {
  readonly logical: number;
  readonly physical: number;
  readonly length: number;
}

/** One inode slot as stored (extents: only the inline ones). */
export interface InodeSlot {
  readonly type: 'free' | InodeType;
  readonly linkCount: number;
  readonly generation: number;
  readonly sizeBytes: number;
  readonly extentCount: number;
  readonly extentBlock: number;
  readonly parentIno: number;
  readonly inline: readonly Extent[];
}

function readExtent(v: DataView, offset: number): Extent {
  return { logical: v.getUint32(offset, true), physical: v.getUint32(offset + 4, true), length: v.getUint32(offset + 8, true) };
}

export function inodeBlockOf(g: Geometry, ino: number): number {
  return g.inodeTableStart + Math.floor(ino / INODES_PER_BLOCK);
}

/** Decodes inode `ino`'s slot out of its inode-table block `blockNo`. */
export function decodeInodeSlot(block: Uint8Array, blockNo: number, ino: number): Result<InodeSlot, Corrupt> {
  const header = checkHeader(block, 'inodeTable', blockNo);
  if (!header.ok) return header;
  const v = header.value;
  const o = HEADER_BYTES + (ino % INODES_PER_BLOCK) * INODE_BYTES;
  const code = v.getUint8(o);
  const type = code === 0 ? 'free' : code === 1 ? 'file' : code === 2 ? 'dir' : undefined;
  if (type === undefined) return corrupt(blockNo, 'inodeTable', `inode ${ino}: type code ${code}`);
  const extentCount = v.getUint32(o + 16, true);
  const inline: Extent[] = [];
  for (let i = 0; i < Math.min(INLINE_EXTENTS, extentCount); i++) inline.push(readExtent(v, o + 32 + i * EXTENT_BYTES));
  return ok({
    type,
    linkCount: v.getUint16(o + 2, true),
    generation: v.getUint32(o + 4, true),
    sizeBytes: v.getUint32(o + 8, true) + v.getUint32(o + 12, true) * 2 ** 32,
    extentCount,
    extentBlock: v.getUint32(o + 20, true),
    parentIno: v.getUint32(o + 24, true),
    inline,
  });
}

export interface ExtentBlock {
  readonly ownerIno: number;
  readonly ownerGeneration: number;
  readonly extents: readonly Extent[];
}

export function decodeExtentBlock(block: Uint8Array, blockNo: number): Result<ExtentBlock, Corrupt> {
  const header = checkHeader(block, 'extents', blockNo);
  if (!header.ok) return header;
  const v = header.value;
  const count = v.getUint32(HEADER_BYTES + 8, true);
  if (count > EXTENTS_PER_BLOCK) return corrupt(blockNo, 'extents', `count ${count} (at most ${EXTENTS_PER_BLOCK})`);
  const extents: Extent[] = [];
  for (let i = 0; i < count; i++) extents.push(readExtent(v, HEADER_BYTES + EXTENT_BLOCK_HEADER_BYTES + i * EXTENT_BYTES));
  return ok({ ownerIno: v.getUint32(HEADER_BYTES, true), ownerGeneration: v.getUint32(HEADER_BYTES + 4, true), extents });
}

// ---------------------------------------------------------------------------------------
// Directories. Names are kept as raw bytes: nothing about them is trusted here (a name
// may hold '/', NUL, '..' or bytes that are not UTF-8); restore sanitises them.

export interface RawDirEntry {
  readonly ino: number;
  readonly nameBytes: Uint8Array;
}

export interface DirBlock {
  readonly ownerIno: number;
  readonly entries: readonly RawDirEntry[];
}

export function decodeDirBlock(block: Uint8Array, blockNo: number): Result<DirBlock, Corrupt> {
  const header = checkHeader(block, 'directory', blockNo);
  if (!header.ok) return header;
  const v = header.value;
  const entries: RawDirEntry[] = [];
  for (let i = 0; i < DIR_ENTRIES_PER_BLOCK; i++) {
    const o = HEADER_BYTES + DIR_BLOCK_HEADER_BYTES + i * DIR_ENTRY_BYTES;
    const ino = v.getUint32(o, true);
    if (ino === 0) continue;
    const length = v.getUint8(o + 4);
    if (length === 0 || length > MAX_NAME_BYTES) return corrupt(blockNo, 'directory', `slot ${i}: name length ${length}`);
    entries.push({ ino, nameBytes: block.slice(o + 5, o + 5 + length) });
  }
  return ok({ ownerIno: v.getUint32(HEADER_BYTES, true), entries });
}

// ---------------------------------------------------------------------------------------
// Journal blocks

export interface Descriptor {
  readonly seq: number;
  readonly targets: readonly number[];
}

export function decodeDescriptor(block: Uint8Array, blockNo: number): Result<Descriptor, Corrupt> {
  const header = checkHeader(block, 'journalDescriptor', blockNo);
  if (!header.ok) return header;
  const v = header.value;
  const count = v.getUint32(HEADER_BYTES + 4, true);
  if (count === 0 || count > DESCRIPTOR_CAPACITY) return corrupt(blockNo, 'journalDescriptor', `count ${count}`);
  const targets: number[] = [];
  for (let i = 0; i < count; i++) targets.push(v.getUint32(HEADER_BYTES + 8 + 4 * i, true));
  return ok({ seq: v.getUint32(HEADER_BYTES, true), targets });
}

export interface Commit {
  readonly seq: number;
  readonly count: number;
  readonly checksum: number;
}

export function decodeCommit(block: Uint8Array, blockNo: number): Result<Commit, Corrupt> {
  const header = checkHeader(block, 'journalCommit', blockNo);
  if (!header.ok) return header;
  const v = header.value;
  return ok({ seq: v.getUint32(HEADER_BYTES, true), count: v.getUint32(HEADER_BYTES + 4, true), checksum: v.getUint32(HEADER_BYTES + 8, true) });
}
