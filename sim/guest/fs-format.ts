/**
 * The on-disk format of the guest file system ("qfs", a small ext3/ext4-like journaled FS):
 * pure encoders and decoders of every block kind, CRC32, the layout, and `mkfs`.
 *
 * Layout (block size 4096, block numbers are u32):
 *
 *   0, 1            superblock copies, written alternately (copy = seq % 2), each with a
 *                   CRC over the whole block: a torn superblock write loses only the copy
 *                   being written, and mount takes the newest valid copy.
 *   journal         a circular region of full-block metadata images (see journal.ts).
 *   bitmap          one bit per block of the whole device (1 = in use); blocks before the
 *                   data area are always marked in use.
 *   inode table     fixed 128-byte inodes, 31 per block; inode 0 is never used, 1 is root.
 *   data area       file data, directory blocks and extent blocks, from one allocator.
 *
 * Every metadata block (everything except file data) starts with a 16-byte header:
 * magic u32, kind u16, reserved u16, own block number u32, CRC32 u32 (computed with the
 * CRC field as zero). The block number catches misdirected writes; the CRC catches torn
 * writes and garbage. All integers are little-endian.
 *
 * Inode (128 bytes): type u8 (0 free, 1 file, 2 dir), reserved u8, link count u16,
 * generation u32, size u64 (lo, hi), extent count u32, extent block u32 (0 = none),
 * parent inode u32 (directories; 0 for files), reserved u32, then 4 inline extents of
 * {logical block u32, physical block u32, length u32}. Extents past the fourth live in one
 * extent block (owner inode, owner generation, count, then up to 339 extents).
 * Directory block: owner inode u32, reserved u32, then 63 slots of 64 bytes:
 * inode u32 (0 = empty), name length u8, name (UTF-8, at most 59 bytes).
 *
 * Leaves out: block groups, htree directories, hard links to directories, '.'/'..'
 * entries (a directory's parent is a field of its inode), timestamps, permissions,
 * xattrs, inline data, 64-bit block numbers, checksums over file data.
 */

import { crc32 } from '../../core/crc32.js';
import { assert } from '../../core/assert.js';
import { err, ok, type Result } from '../../core/result.js';
import { utf8Length, utf8Scratch } from '../kernel/bytes.js';
import { crc32OfSealed, crc32ZeroTail } from '../kernel/crc32-combine.js';
import type { BlockDevice } from '../storage/types.js';

export const BLOCK_BYTES = 4096;
export const HEADER_BYTES = 16;
export const PAYLOAD_BYTES = BLOCK_BYTES - HEADER_BYTES;
export const FS_MAGIC = 0x5146_5342; // 'QFSB'
export const FS_VERSION = 1;
export const SUPERBLOCK_COPIES = 2;
export const ROOT_INO = 1;

export const BlockKind = {
  superblock: 1,
  bitmap: 2,
  inodeTable: 3,
  directory: 4,
  extents: 5,
  journalDescriptor: 6,
  journalCommit: 7,
} as const;
export type BlockKindName = keyof typeof BlockKind;

export const INODE_BYTES = 128;
export const INODES_PER_BLOCK = Math.floor(PAYLOAD_BYTES / INODE_BYTES); // 31
export const INLINE_EXTENTS = 4;
export const EXTENT_BYTES = 12;
const EXTENT_BLOCK_HEADER_BYTES = 12;
export const EXTENTS_PER_BLOCK = Math.floor((PAYLOAD_BYTES - EXTENT_BLOCK_HEADER_BYTES) / EXTENT_BYTES); // 339
/** Most extents one inode can hold: the inline ones plus one extent block. */
export const MAX_EXTENTS = INLINE_EXTENTS + EXTENTS_PER_BLOCK;
export const DIR_ENTRY_BYTES = 64;
const DIR_BLOCK_HEADER_BYTES = 8;
export const DIR_ENTRIES_PER_BLOCK = Math.floor((PAYLOAD_BYTES - DIR_BLOCK_HEADER_BYTES) / DIR_ENTRY_BYTES); // 63
export const MAX_NAME_BYTES = DIR_ENTRY_BYTES - 5; // 59
export const BITS_PER_BITMAP_BLOCK = PAYLOAD_BYTES * 8; // 32640
/** Targets one journal descriptor block lists (after seq and count). */
export const DESCRIPTOR_CAPACITY = Math.floor((PAYLOAD_BYTES - 8) / 4); // 1018
export const MAX_LABEL_BYTES = 32;
/** Sizes are stored as u64 but kept below 2^53 so they stay exact JS numbers. */
export const MAX_FILE_BYTES = 2 ** 48;
export const MIN_JOURNAL_BLOCKS = 32;
/**
 * Largest file system: 2^23 blocks (32 GiB). The volume model keeps a byte per block in
 * memory, and one operation may dirty every bitmap block, which the journal must hold.
 * Format a larger virtual disk with `mkfs(..., { sizeBytes })` to use part of it.
 */
export const MAX_TOTAL_BLOCKS = 2 ** 23;
export const MIN_TOTAL_BLOCKS = 256;
export const MAX_INODES = 1 << 20;

// ---------------------------------------------------------------------------------------
// CRC32 lives in core/ (the engine checks the same sums); re-exported for the guest.
export { crc32 };

const ZERO4 = new Uint8Array(4);

/** CRC of a block with its header CRC field (bytes 12..16) read as zero. */
export function blockCrc(block: Uint8Array): number {
  let c = crc32(block.subarray(0, 12));
  c = crc32(ZERO4, c);
  return crc32(block.subarray(16), c);
}

function view(block: Uint8Array): DataView {
  return new DataView(block.buffer, block.byteOffset, block.byteLength);
}

/**
 * Zeroed 4 KiB blocks carved from 256 KiB slabs: one ArrayBuffer allocation per 64 blocks
 * instead of one per block (metadata encoding allocates a few blocks per journal commit).
 * A slab lives while any of its blocks is referenced.
 */
const SLAB_BLOCKS = 64;
let slab = new Uint8Array(0);
let slabNext = 0;

export function zeroBlock(): Uint8Array {
  if (slabNext >= slab.length) {
    slab = new Uint8Array(SLAB_BLOCKS * BLOCK_BYTES);
    slabNext = 0;
  }
  const block = slab.subarray(slabNext, slabNext + BLOCK_BYTES);
  slabNext += BLOCK_BYTES;
  return block;
}

/** A fresh block with the header filled in; the caller seals it after writing the payload. */
function newBlock(kind: number, blockNo: number): { block: Uint8Array; dv: DataView } {
  const block = zeroBlock();
  const dv = view(block);
  dv.setUint32(0, FS_MAGIC, true);
  dv.setUint16(4, kind, true);
  dv.setUint32(8, blockNo, true);
  return { block, dv };
}

/** Writes the CRC into the header. Call last. */
function seal(block: Uint8Array, dv: DataView): Uint8Array {
  dv.setUint32(12, blockCrc(block), true);
  return block;
}

/**
 * seal for a block whose bytes from `usedBytes` on are known to be zeros (descriptors,
 * commit records): the CRC of the used part, extended over the zeros arithmetically.
 */
function sealSparse(block: Uint8Array, dv: DataView, usedBytes: number): Uint8Array {
  dv.setUint32(12, 0, true);
  dv.setUint32(12, crc32ZeroTail(block, usedBytes, BLOCK_BYTES), true);
  return block;
}

/**
 * CRC32 of a whole block sealed by this module (CRC field filled in), computed from the
 * seal instead of the block's bytes: what a journal commit's checksum needs per image.
 */
export function sealedBlockCrc(block: Uint8Array): number {
  const seal = ((block[12] as number) | ((block[13] as number) << 8) | ((block[14] as number) << 16) | ((block[15] as number) << 24)) >>> 0;
  return crc32OfSealed(seal, 12, BLOCK_BYTES);
}

/** A block's header, in place over `block` (zeroed first): for encoders reusing a buffer. */
function resetBlock(block: Uint8Array, kind: number, blockNo: number): DataView {
  if (block.length !== BLOCK_BYTES) assert(false, `block buffer of ${block.length} bytes`);
  block.fill(0);
  const dv = view(block);
  dv.setUint32(0, FS_MAGIC, true);
  dv.setUint16(4, kind, true);
  dv.setUint32(8, blockNo, true);
  return dv;
}

/** Checks magic, kind, own block number and CRC. Returns a problem text or undefined. */
export function checkHeader(block: Uint8Array, kind: number, blockNo: number): string | undefined {
  if (block.length !== BLOCK_BYTES) return `block ${blockNo}: short read (${block.length} bytes)`;
  const dv = view(block);
  const name = kindName(kind);
  if (dv.getUint32(0, true) !== FS_MAGIC) return `block ${blockNo} (${name}): bad magic`;
  if (dv.getUint16(4, true) !== kind) return `block ${blockNo} (${name}): holds kind ${dv.getUint16(4, true)}`;
  if (dv.getUint32(8, true) !== blockNo) return `block ${blockNo} (${name}): claims to be block ${dv.getUint32(8, true)}`;
  if (dv.getUint32(12, true) !== blockCrc(block)) return `block ${blockNo} (${name}): CRC mismatch`;
  return undefined;
}

function kindName(kind: number): string {
  for (const [name, value] of Object.entries(BlockKind)) if (value === kind) return name;
  return `kind-${kind}`;
}

// ---------------------------------------------------------------------------------------
// Geometry

export interface Geometry {
  readonly totalBlocks: number;
  readonly journalStart: number;
  readonly journalBlocks: number;
  readonly bitmapStart: number;
  readonly bitmapBlocks: number;
  readonly inodeTableStart: number;
  readonly inodeTableBlocks: number;
  /** Usable inodes are 1..inodeCount. */
  readonly inodeCount: number;
  readonly dataStart: number;
}

export interface GeometryRequest {
  readonly totalBlocks: number;
  readonly inodeCount?: number;
  readonly journalBlocks?: number;
}

/** The most metadata blocks one transaction may carry for a journal of `journalBlocks`. */
export function maxTransactionBlocks(journalBlocks: number): number {
  // Half the journal, so after a checkpoint the next full transaction always fits.
  return Math.min(DESCRIPTOR_CAPACITY, Math.floor(journalBlocks / 2) - 2);
}

/**
 * The most metadata blocks one file-system operation may dirty: a few inode-table,
 * directory and extent blocks (a rename touches two directories, three inodes and a
 * replaced file) plus, at worst, every bitmap block (freeing a fragmented file).
 */
export function opMaxMetaBlocks(bitmapBlocks: number): number {
  return 10 + bitmapBlocks;
}

/** Default journal: 1/64 of the device within [128, 4096] blocks, at least what one op needs. */
export function defaultJournalBlocks(totalBlocks: number): number {
  const bitmapBlocks = Math.ceil(totalBlocks / BITS_PER_BITMAP_BLOCK);
  const needed = 2 * (opMaxMetaBlocks(bitmapBlocks) + 2) + 4;
  const preferred = Math.min(4096, Math.max(128, Math.floor(totalBlocks / 64)), Math.floor(totalBlocks / 4));
  return Math.max(MIN_JOURNAL_BLOCKS, needed, preferred);
}

export function computeGeometry(request: GeometryRequest): Result<Geometry, string> {
  const totalBlocks = request.totalBlocks;
  if (!Number.isSafeInteger(totalBlocks) || totalBlocks < MIN_TOTAL_BLOCKS || totalBlocks > MAX_TOTAL_BLOCKS) {
    return err(`file system of ${totalBlocks} blocks is outside [${MIN_TOTAL_BLOCKS}, ${MAX_TOTAL_BLOCKS}]`);
  }
  const journalBlocks = request.journalBlocks ?? defaultJournalBlocks(totalBlocks);
  const inodeCount = request.inodeCount ?? Math.max(INODES_PER_BLOCK, Math.min(65_536, Math.floor(totalBlocks / 4)));
  if (!Number.isSafeInteger(journalBlocks) || journalBlocks < MIN_JOURNAL_BLOCKS) return err(`journal of ${journalBlocks} blocks is below ${MIN_JOURNAL_BLOCKS}`);
  if (!Number.isSafeInteger(inodeCount) || inodeCount < 2 || inodeCount > MAX_INODES) return err(`inode count ${inodeCount} outside [2, ${MAX_INODES}]`);
  const journalStart = SUPERBLOCK_COPIES;
  const bitmapStart = journalStart + journalBlocks;
  const bitmapBlocks = Math.ceil(totalBlocks / BITS_PER_BITMAP_BLOCK);
  if (opMaxMetaBlocks(bitmapBlocks) > maxTransactionBlocks(journalBlocks)) {
    return err(`journal of ${journalBlocks} blocks cannot hold one operation (${opMaxMetaBlocks(bitmapBlocks)} blocks)`);
  }
  const inodeTableStart = bitmapStart + bitmapBlocks;
  const inodeTableBlocks = Math.ceil((inodeCount + 1) / INODES_PER_BLOCK);
  const dataStart = inodeTableStart + inodeTableBlocks;
  if (dataStart + 16 > totalBlocks) return err(`metadata (${dataStart} blocks) leaves no data area in ${totalBlocks} blocks`);
  return ok({ totalBlocks, journalStart, journalBlocks, bitmapStart, bitmapBlocks, inodeTableStart, inodeTableBlocks, inodeCount, dataStart });
}

/** The geometry a superblock claims is self-consistent and fits the device. */
export function geometryProblems(g: Geometry, capacityBlocks: number): string[] {
  const problems: string[] = [];
  const expected = computeGeometry({ totalBlocks: g.totalBlocks, inodeCount: g.inodeCount, journalBlocks: g.journalBlocks });
  if (!expected.ok) return [`superblock geometry invalid: ${expected.error}`];
  const e = expected.value;
  for (const key of Object.keys(e) as (keyof Geometry)[]) {
    if (e[key] !== g[key]) problems.push(`superblock geometry: ${key} is ${g[key]}, layout says ${e[key]}`);
  }
  if (g.totalBlocks > capacityBlocks) problems.push(`file system of ${g.totalBlocks} blocks exceeds the device (${capacityBlocks})`);
  return problems;
}

/** Which region a block number falls in. */
export type Region = 'superblock' | 'journal' | 'bitmap' | 'inode-table' | 'data' | 'outside';

export function regionOf(g: Geometry, blockNo: number): Region {
  if (blockNo < 0 || blockNo >= g.totalBlocks) return 'outside';
  if (blockNo < g.journalStart) return 'superblock';
  if (blockNo < g.bitmapStart) return 'journal';
  if (blockNo < g.inodeTableStart) return 'bitmap';
  if (blockNo < g.dataStart) return 'inode-table';
  return 'data';
}

export function inodeBlockOf(g: Geometry, ino: number): number {
  return g.inodeTableStart + Math.floor(ino / INODES_PER_BLOCK);
}

export function bitmapBlockOf(g: Geometry, blockNo: number): number {
  return g.bitmapStart + Math.floor(blockNo / BITS_PER_BITMAP_BLOCK);
}

// ---------------------------------------------------------------------------------------
// Superblock

export interface Superblock {
  /** Increases by one with every superblock write; the copy written is seq % 2. */
  readonly seq: number;
  readonly geometry: Geometry;
  readonly rootIno: number;
  /** Journal position (0-based, relative to journalStart) of the oldest live transaction. */
  readonly journalTailPos: number;
  /** Sequence number the transaction at the tail must carry. */
  readonly journalTailSeq: number;
  /** True when written by unmount or freeze with the journal fully checkpointed. */
  readonly clean: boolean;
  readonly mountCount: number;
  readonly label: string;
}

const strictDecoder = new TextDecoder('utf-8', { fatal: true });

export function encodeSuperblock(sb: Superblock): Uint8Array {
  return encodeSuperblockInto(zeroBlock(), sb);
}

/** encodeSuperblock into `block` (BLOCK_BYTES long, overwritten whole). Returns `block`. */
export function encodeSuperblockInto(block: Uint8Array, sb: Superblock): Uint8Array {
  assert(Number.isSafeInteger(sb.seq) && sb.seq >= 0 && sb.seq <= 0xffff_ffff, `superblock seq ${sb.seq}`);
  const copy = sb.seq % SUPERBLOCK_COPIES;
  const dv = resetBlock(block, BlockKind.superblock, copy);
  const g = sb.geometry;
  let o = HEADER_BYTES;
  for (const value of [FS_VERSION, sb.seq, BLOCK_BYTES, g.totalBlocks, g.journalStart, g.journalBlocks, g.bitmapStart, g.bitmapBlocks,
    g.inodeTableStart, g.inodeTableBlocks, g.inodeCount, g.dataStart, sb.rootIno, sb.journalTailPos, sb.journalTailSeq,
    sb.clean ? 1 : 0, sb.mountCount]) {
    dv.setUint32(o, value, true);
    o += 4;
  }
  const label = utf8Scratch(sb.label);
  if (label.length > MAX_LABEL_BYTES) assert(false, `label '${sb.label}' longer than ${MAX_LABEL_BYTES} bytes`);
  block[o] = label.length;
  block.set(label, o + 1);
  // Fields and label fill the first bytes; the rest of the fresh block is zeros.
  return sealSparse(block, dv, o + 1 + label.length);
}

/** Decodes the superblock copy stored at block `copy` (0 or 1). */
export function decodeSuperblock(block: Uint8Array, copy: number): Result<Superblock, string> {
  const bad = checkHeader(block, BlockKind.superblock, copy);
  if (bad !== undefined) return err(bad);
  const dv = view(block);
  const u = (i: number): number => dv.getUint32(HEADER_BYTES + 4 * i, true);
  if (u(0) !== FS_VERSION) return err(`superblock ${copy}: version ${u(0)}`);
  if (u(2) !== BLOCK_BYTES) return err(`superblock ${copy}: block size ${u(2)}`);
  const seq = u(1);
  if (seq % SUPERBLOCK_COPIES !== copy) return err(`superblock ${copy}: seq ${seq} belongs in the other copy`);
  const geometry: Geometry = {
    totalBlocks: u(3), journalStart: u(4), journalBlocks: u(5), bitmapStart: u(6), bitmapBlocks: u(7),
    inodeTableStart: u(8), inodeTableBlocks: u(9), inodeCount: u(10), dataStart: u(11),
  };
  const labelOffset = HEADER_BYTES + 4 * 17;
  const labelBytes = block[labelOffset] ?? 0;
  if (labelBytes > MAX_LABEL_BYTES) return err(`superblock ${copy}: label length ${labelBytes}`);
  let label: string;
  try {
    label = strictDecoder.decode(block.subarray(labelOffset + 1, labelOffset + 1 + labelBytes));
  } catch {
    return err(`superblock ${copy}: label is not UTF-8`);
  }
  const clean = u(15);
  if (clean > 1) return err(`superblock ${copy}: clean flag ${clean}`);
  return ok({ seq, geometry, rootIno: u(12), journalTailPos: u(13), journalTailSeq: u(14), clean: clean === 1, mountCount: u(16), label });
}

// ---------------------------------------------------------------------------------------
// Bitmap: `used` holds one byte per block (0 free, 1 used), the on-disk form one bit.

export function encodeBitmapBlock(g: Geometry, index: number, used: Uint8Array): Uint8Array {
  assert(index >= 0 && index < g.bitmapBlocks, `bitmap block index ${index}`);
  const { block, dv } = newBlock(BlockKind.bitmap, g.bitmapStart + index);
  const first = index * BITS_PER_BITMAP_BLOCK;
  const count = Math.min(g.totalBlocks, first + BITS_PER_BITMAP_BLOCK) - first;
  // Eight blocks per output byte (bits past the device's end stay 0).
  for (let byte = 0; byte * 8 < count; byte++) {
    const base = first + byte * 8;
    const n = Math.min(8, count - byte * 8);
    let v = 0;
    for (let k = 0; k < n; k++) v |= ((used[base + k] as number) & 1) << k;
    block[HEADER_BYTES + byte] = v;
  }
  return seal(block, dv);
}

/** A packed bitset of `used` (bit b = block b), the form bitmap block payloads take. */
export function packBitmap(used: Uint8Array): Uint8Array {
  const bits = new Uint8Array(Math.ceil(used.length / 8));
  for (let b = 0; b < used.length; b++) if (used[b] === 1) bits[b >>> 3] = (bits[b >>> 3] as number) | (1 << (b & 7));
  return bits;
}

/**
 * Encodes bitmap block `index` from a packed bitset of the whole device (`packBitmap`):
 * block i's payload is bytes i*4080 .. (i+1)*4080 of it, so this is one copy.
 */
export function encodeBitmapBits(g: Geometry, index: number, bits: Uint8Array): Uint8Array {
  assert(index >= 0 && index < g.bitmapBlocks, `bitmap block index ${index}`);
  const { block, dv } = newBlock(BlockKind.bitmap, g.bitmapStart + index);
  block.set(bits.subarray(index * PAYLOAD_BYTES, (index + 1) * PAYLOAD_BYTES), HEADER_BYTES);
  return seal(block, dv);
}

/** Decodes bitmap block `index` into `used`. Returns a problem or undefined. */
export function decodeBitmapBlock(g: Geometry, index: number, block: Uint8Array, used: Uint8Array): string | undefined {
  const blockNo = g.bitmapStart + index;
  const bad = checkHeader(block, BlockKind.bitmap, blockNo);
  if (bad !== undefined) return bad;
  const first = index * BITS_PER_BITMAP_BLOCK;
  const count = Math.min(g.totalBlocks, first + BITS_PER_BITMAP_BLOCK) - first;
  for (let byte = 0; byte * 8 < count; byte++) {
    const v = block[HEADER_BYTES + byte] as number;
    const base = first + byte * 8;
    const n = Math.min(8, count - byte * 8);
    for (let k = 0; k < n; k++) used[base + k] = (v >>> k) & 1;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Inodes and extents

export type InodeType = 'free' | 'file' | 'dir';

export interface Extent {
  /** First file block (in units of BLOCK_BYTES) the extent maps. */
  readonly logical: number;
  readonly physical: number;
  /** Blocks, at least 1. */
  readonly length: number;
}

/** An inode as stored: the extents here are only the inline ones. */
export interface InodeRecord {
  readonly type: InodeType;
  readonly linkCount: number;
  readonly generation: number;
  readonly sizeBytes: number;
  /** Total extents of the inode (inline plus those in the extent block). */
  readonly extentCount: number;
  readonly extentBlock: number;
  readonly parentIno: number;
  readonly inline: readonly Extent[];
}

/** An inode with all its extents, as the volume model keeps it. */
export interface InodeImage {
  readonly type: InodeType;
  readonly linkCount: number;
  readonly generation: number;
  readonly sizeBytes: number;
  readonly extentBlock: number;
  readonly parentIno: number;
  readonly extents: readonly Extent[];
}

const TYPE_CODES: Record<InodeType, number> = { free: 0, file: 1, dir: 2 };

function writeExtent(dv: DataView, offset: number, e: Extent): void {
  dv.setUint32(offset, e.logical, true);
  dv.setUint32(offset + 4, e.physical, true);
  dv.setUint32(offset + 8, e.length, true);
}

function readExtent(dv: DataView, offset: number): Extent {
  return { logical: dv.getUint32(offset, true), physical: dv.getUint32(offset + 4, true), length: dv.getUint32(offset + 8, true) };
}

/**
 * Encodes inode table block `index`: inodes index*31 .. index*31+30. `inodeAt` returns the
 * image of an inode number (undefined: free, generation 0).
 */
export function encodeInodeBlock(g: Geometry, index: number, inodeAt: (ino: number) => InodeImage | undefined): Uint8Array {
  assert(index >= 0 && index < g.inodeTableBlocks, `inode block index ${index}`);
  const { block, dv } = newBlock(BlockKind.inodeTable, g.inodeTableStart + index);
  for (let slot = 0; slot < INODES_PER_BLOCK; slot++) {
    const inode = inodeAt(index * INODES_PER_BLOCK + slot);
    if (inode !== undefined) writeInodeSlot(dv, HEADER_BYTES + slot * INODE_BYTES, inode);
  }
  return seal(block, dv);
}

/** Byte offset of inode `ino`'s 128-byte slot inside its inode-table block. */
export function inodeSlotOffset(ino: number): number {
  return HEADER_BYTES + (ino % INODES_PER_BLOCK) * INODE_BYTES;
}

/**
 * Writes one inode's 128-byte slot at `offset` of `dv` (undefined: a never-used slot, all
 * zeros), exactly as encodeInodeBlock lays it out. Every byte of the slot is written.
 */
export function encodeInodeSlot(dv: DataView, offset: number, inode: InodeImage | undefined): void {
  for (let i = 0; i < INODE_BYTES; i += 4) dv.setUint32(offset + i, 0, true);
  if (inode !== undefined) writeInodeSlot(dv, offset, inode);
}

/** The fields of a slot that is zeros. */
function writeInodeSlot(dv: DataView, o: number, inode: InodeImage): void {
  const extents = inode.extents;
  const size = inode.sizeBytes;
  if (extents.length > MAX_EXTENTS) assert(false, `inode with ${extents.length} extents`);
  if (extents.length > INLINE_EXTENTS && inode.extentBlock === 0) assert(false, 'extents past the inline ones need an extent block');
  if (!(Number.isSafeInteger(size) && size >= 0 && size <= MAX_FILE_BYTES)) assert(false, `inode size ${size}`);
  dv.setUint8(o, TYPE_CODES[inode.type]);
  dv.setUint16(o + 2, inode.linkCount, true);
  dv.setUint32(o + 4, inode.generation, true);
  dv.setUint32(o + 8, size % 2 ** 32, true);
  dv.setUint32(o + 12, Math.floor(size / 2 ** 32), true);
  dv.setUint32(o + 16, extents.length, true);
  dv.setUint32(o + 20, inode.extentBlock, true);
  dv.setUint32(o + 24, inode.parentIno, true);
  const inline = Math.min(INLINE_EXTENTS, extents.length);
  for (let i = 0; i < inline; i++) writeExtent(dv, o + 32 + i * EXTENT_BYTES, extents[i] as Extent);
}

/** Decodes inode table block `index` into 31 records. Field sanity is the volume's job. */
export function decodeInodeBlock(g: Geometry, index: number, block: Uint8Array): Result<InodeRecord[], string> {
  const bad = checkHeader(block, BlockKind.inodeTable, g.inodeTableStart + index);
  if (bad !== undefined) return err(bad);
  const dv = view(block);
  const out: InodeRecord[] = [];
  for (let slot = 0; slot < INODES_PER_BLOCK; slot++) {
    const o = HEADER_BYTES + slot * INODE_BYTES;
    const code = block[o] ?? 0;
    const type: InodeType | undefined = code === 0 ? 'free' : code === 1 ? 'file' : code === 2 ? 'dir' : undefined;
    if (type === undefined) return err(`inode ${index * INODES_PER_BLOCK + slot}: type code ${code}`);
    const extentCount = dv.getUint32(o + 16, true);
    const inline: Extent[] = [];
    for (let i = 0; i < Math.min(INLINE_EXTENTS, extentCount); i++) inline.push(readExtent(dv, o + 32 + i * EXTENT_BYTES));
    out.push({
      type,
      linkCount: dv.getUint16(o + 2, true),
      generation: dv.getUint32(o + 4, true),
      sizeBytes: dv.getUint32(o + 8, true) + dv.getUint32(o + 12, true) * 2 ** 32,
      extentCount,
      extentBlock: dv.getUint32(o + 20, true),
      parentIno: dv.getUint32(o + 24, true),
      inline,
    });
  }
  return ok(out);
}

export interface ExtentBlockImage {
  readonly ownerIno: number;
  readonly ownerGeneration: number;
  readonly extents: readonly Extent[];
}

export function encodeExtentBlock(blockNo: number, image: ExtentBlockImage): Uint8Array {
  assert(image.extents.length <= EXTENTS_PER_BLOCK, `extent block with ${image.extents.length} extents`);
  const { block, dv } = newBlock(BlockKind.extents, blockNo);
  dv.setUint32(HEADER_BYTES, image.ownerIno, true);
  dv.setUint32(HEADER_BYTES + 4, image.ownerGeneration, true);
  dv.setUint32(HEADER_BYTES + 8, image.extents.length, true);
  image.extents.forEach((e, i) => { writeExtent(dv, HEADER_BYTES + EXTENT_BLOCK_HEADER_BYTES + i * EXTENT_BYTES, e); });
  return seal(block, dv);
}

export function decodeExtentBlock(blockNo: number, block: Uint8Array): Result<ExtentBlockImage, string> {
  const bad = checkHeader(block, BlockKind.extents, blockNo);
  if (bad !== undefined) return err(bad);
  const dv = view(block);
  const count = dv.getUint32(HEADER_BYTES + 8, true);
  if (count > EXTENTS_PER_BLOCK) return err(`extent block ${blockNo}: count ${count}`);
  const extents: Extent[] = [];
  for (let i = 0; i < count; i++) extents.push(readExtent(dv, HEADER_BYTES + EXTENT_BLOCK_HEADER_BYTES + i * EXTENT_BYTES));
  return ok({ ownerIno: dv.getUint32(HEADER_BYTES, true), ownerGeneration: dv.getUint32(HEADER_BYTES + 4, true), extents });
}

// ---------------------------------------------------------------------------------------
// Directories

export interface DirEntry {
  readonly ino: number;
  readonly name: string;
}

/** Why a name cannot be stored, or undefined when it can. */
export function nameProblem(name: string): string | undefined {
  if (name.length === 0) return 'empty name';
  if (name === '.' || name === '..') return `reserved name '${name}'`;
  if (name.includes('/') || name.includes('\0')) return `name '${name}' contains '/' or NUL`;
  if (name.length > MAX_NAME_BYTES || (name.length * 3 > MAX_NAME_BYTES && utf8Length(name) > MAX_NAME_BYTES)) return `name '${name}' longer than ${MAX_NAME_BYTES} bytes`;
  return undefined;
}

export function encodeDirBlock(blockNo: number, ownerIno: number, slots: readonly (DirEntry | undefined)[]): Uint8Array {
  assert(slots.length === DIR_ENTRIES_PER_BLOCK, `directory block with ${slots.length} slots`);
  const { block, dv } = newBlock(BlockKind.directory, blockNo);
  dv.setUint32(HEADER_BYTES, ownerIno, true);
  for (let i = 0; i < slots.length; i++) {
    const entry = slots[i];
    if (entry !== undefined) writeDirEntry(block, dv, dirSlotOffset(i), entry);
  }
  return seal(block, dv);
}

/** Byte offset of directory slot `slot` inside its block. */
export function dirSlotOffset(slot: number): number {
  return HEADER_BYTES + DIR_BLOCK_HEADER_BYTES + slot * DIR_ENTRY_BYTES;
}

/**
 * Writes one directory slot (DIR_ENTRY_BYTES at `offset` of `bytes`, viewed by `dv`) as
 * encodeDirBlock lays it out; undefined is an empty slot (all zeros). Every byte is written.
 */
export function encodeDirSlot(bytes: Uint8Array, dv: DataView, offset: number, entry: DirEntry | undefined): void {
  bytes.fill(0, offset, offset + DIR_ENTRY_BYTES);
  if (entry !== undefined) writeDirEntry(bytes, dv, offset, entry);
}

/** The fields of a slot that is zeros. */
function writeDirEntry(block: Uint8Array, dv: DataView, o: number, entry: DirEntry): void {
  const name = utf8Scratch(entry.name);
  if (!(entry.ino > 0 && name.length > 0 && name.length <= MAX_NAME_BYTES)) assert(false, `bad directory entry ${entry.name}`);
  dv.setUint32(o, entry.ino, true);
  block[o + 4] = name.length;
  block.set(name, o + 5);
}

export interface DirBlockImage {
  readonly ownerIno: number;
  readonly slots: readonly (DirEntry | undefined)[];
}

export function decodeDirBlock(blockNo: number, block: Uint8Array): Result<DirBlockImage, string> {
  const bad = checkHeader(block, BlockKind.directory, blockNo);
  if (bad !== undefined) return err(bad);
  const dv = view(block);
  const slots: (DirEntry | undefined)[] = [];
  for (let i = 0; i < DIR_ENTRIES_PER_BLOCK; i++) {
    const o = HEADER_BYTES + DIR_BLOCK_HEADER_BYTES + i * DIR_ENTRY_BYTES;
    const ino = dv.getUint32(o, true);
    if (ino === 0) {
      slots.push(undefined);
      continue;
    }
    const length = block[o + 4] ?? 0;
    if (length === 0 || length > MAX_NAME_BYTES) return err(`directory block ${blockNo} slot ${i}: name length ${length}`);
    let name: string;
    try {
      name = strictDecoder.decode(block.subarray(o + 5, o + 5 + length));
    } catch {
      return err(`directory block ${blockNo} slot ${i}: name is not UTF-8`);
    }
    const problem = nameProblem(name);
    if (problem !== undefined) return err(`directory block ${blockNo} slot ${i}: ${problem}`);
    slots.push({ ino, name });
  }
  return ok({ ownerIno: dv.getUint32(HEADER_BYTES, true), slots });
}

// ---------------------------------------------------------------------------------------
// Journal blocks. A transaction is: descriptor (seq, target block numbers), one full image
// per target, commit (seq, count, CRC32 over the descriptor block and every image).

export function encodeDescriptor(blockNo: number, seq: number, targets: readonly number[]): Uint8Array {
  return encodeDescriptorInto(zeroBlock(), blockNo, seq, targets);
}

/** Bytes of a descriptor block that can be non-zero (the rest is zero fill). */
export function descriptorUsedBytes(count: number): number {
  return HEADER_BYTES + 8 + 4 * count;
}

/** encodeDescriptor into `block` (BLOCK_BYTES long, overwritten whole). Returns `block`. */
export function encodeDescriptorInto(block: Uint8Array, blockNo: number, seq: number, targets: readonly number[]): Uint8Array {
  if (!(targets.length > 0 && targets.length <= DESCRIPTOR_CAPACITY)) assert(false, `descriptor with ${targets.length} targets`);
  const dv = resetBlock(block, BlockKind.journalDescriptor, blockNo);
  dv.setUint32(HEADER_BYTES, seq, true);
  dv.setUint32(HEADER_BYTES + 4, targets.length, true);
  for (let i = 0; i < targets.length; i++) dv.setUint32(HEADER_BYTES + 8 + 4 * i, targets[i] as number, true);
  return sealSparse(block, dv, descriptorUsedBytes(targets.length));
}

export interface DescriptorImage {
  readonly seq: number;
  readonly targets: readonly number[];
}

export function decodeDescriptor(blockNo: number, block: Uint8Array): Result<DescriptorImage, string> {
  const bad = checkHeader(block, BlockKind.journalDescriptor, blockNo);
  if (bad !== undefined) return err(bad);
  const dv = view(block);
  const count = dv.getUint32(HEADER_BYTES + 4, true);
  if (count === 0 || count > DESCRIPTOR_CAPACITY) return err(`descriptor at ${blockNo}: count ${count}`);
  const targets: number[] = [];
  for (let i = 0; i < count; i++) targets.push(dv.getUint32(HEADER_BYTES + 8 + 4 * i, true));
  return ok({ seq: dv.getUint32(HEADER_BYTES, true), targets });
}

export function encodeCommit(blockNo: number, seq: number, count: number, checksum: number): Uint8Array {
  return encodeCommitInto(zeroBlock(), blockNo, seq, count, checksum);
}

/** encodeCommit into `block` (BLOCK_BYTES long, overwritten whole). Returns `block`. */
export function encodeCommitInto(block: Uint8Array, blockNo: number, seq: number, count: number, checksum: number): Uint8Array {
  const dv = resetBlock(block, BlockKind.journalCommit, blockNo);
  dv.setUint32(HEADER_BYTES, seq, true);
  dv.setUint32(HEADER_BYTES + 4, count, true);
  dv.setUint32(HEADER_BYTES + 8, checksum, true);
  return sealSparse(block, dv, HEADER_BYTES + 12);
}

export interface CommitImage {
  readonly seq: number;
  readonly count: number;
  readonly checksum: number;
}

export function decodeCommit(blockNo: number, block: Uint8Array): Result<CommitImage, string> {
  const bad = checkHeader(block, BlockKind.journalCommit, blockNo);
  if (bad !== undefined) return err(bad);
  const dv = view(block);
  return ok({ seq: dv.getUint32(HEADER_BYTES, true), count: dv.getUint32(HEADER_BYTES + 4, true), checksum: dv.getUint32(HEADER_BYTES + 8, true) });
}

/** The checksum a commit record carries: CRC32 over the descriptor and every image. */
export function transactionChecksum(descriptor: Uint8Array, images: readonly Uint8Array[]): number {
  let c = crc32(descriptor);
  for (const image of images) c = crc32(image, c);
  return c;
}

// ---------------------------------------------------------------------------------------
// mkfs

export interface MkfsOptions {
  /** Format only the first `sizeBytes` of the device (default: all of it, up to the maximum). */
  readonly sizeBytes?: number;
  readonly inodeCount?: number;
  readonly journalBlocks?: number;
  readonly label?: string;
}

export type MkfsError = { readonly kind: 'bad-geometry'; readonly reason: string };

/**
 * Formats `device`: zeroes the journal (so no stale transaction of an earlier file system
 * replays), writes the bitmap, the inode table with an empty root directory, and both
 * superblock copies, then flushes.
 */
export function mkfs(device: BlockDevice, options: MkfsOptions = {}): Result<Geometry, MkfsError> {
  const deviceBlocks = Math.floor(device.capacityBytes / BLOCK_BYTES);
  if (options.sizeBytes !== undefined && (options.sizeBytes > device.capacityBytes || options.sizeBytes < 0)) {
    return err({ kind: 'bad-geometry', reason: `size ${options.sizeBytes} exceeds the device (${device.capacityBytes})` });
  }
  const totalBlocks = options.sizeBytes === undefined ? Math.min(deviceBlocks, MAX_TOTAL_BLOCKS) : Math.floor(options.sizeBytes / BLOCK_BYTES);
  const request: GeometryRequest = { totalBlocks, ...options.inodeCount === undefined ? {} : { inodeCount: options.inodeCount }, ...options.journalBlocks === undefined ? {} : { journalBlocks: options.journalBlocks } };
  const geometry = computeGeometry(request);
  if (!geometry.ok) return err({ kind: 'bad-geometry', reason: geometry.error });
  const g = geometry.value;
  const label = options.label ?? 'qfs';
  if (utf8Length(label) > MAX_LABEL_BYTES) return err({ kind: 'bad-geometry', reason: `label longer than ${MAX_LABEL_BYTES} bytes` });
  const zero = new Uint8Array(BLOCK_BYTES);
  for (let j = 0; j < g.journalBlocks; j++) device.write((g.journalStart + j) * BLOCK_BYTES, zero);
  const used = new Uint8Array(g.totalBlocks);
  used.fill(1, 0, g.dataStart);
  for (let i = 0; i < g.bitmapBlocks; i++) device.write((g.bitmapStart + i) * BLOCK_BYTES, encodeBitmapBlock(g, i, used));
  const root: InodeImage = { type: 'dir', linkCount: 2, generation: 1, sizeBytes: 0, extentBlock: 0, parentIno: ROOT_INO, extents: [] };
  for (let i = 0; i < g.inodeTableBlocks; i++) {
    device.write((g.inodeTableStart + i) * BLOCK_BYTES, encodeInodeBlock(g, i, (ino) => (ino === ROOT_INO ? root : undefined)));
  }
  const base = { geometry: g, rootIno: ROOT_INO, journalTailPos: 0, journalTailSeq: 1, clean: true, mountCount: 0, label };
  device.write(1 * BLOCK_BYTES, encodeSuperblock({ ...base, seq: 1 }));
  device.write(0 * BLOCK_BYTES, encodeSuperblock({ ...base, seq: 2 }));
  device.flush();
  return ok(g);
}
