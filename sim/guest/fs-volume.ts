/**
 * The decoded volume: every metadata structure of a qfs image read into plain objects.
 * Mount, fsck and the image reader all load through here, so there is one parser.
 *
 * Models: superblock selection (the newest copy with a valid CRC), journal replay into a
 * read overlay (never writing), then decoding of the bitmap, the inode table, extent blocks
 * and directory blocks, with per-structure sanity checks (CRCs, owners, extents inside the
 * data area and sorted, sizes covering the extents, names). Whatever fails a check is
 * reported as a problem and left out of the model (a bad block decodes as empty), so a
 * garbage image yields problems, never an exception.
 *
 * Leaves out: the cross-structure checks (double ownership, bitmap versus references,
 * link counts, reachability); fsck.ts adds those on top of this model.
 */

import { err, ok, type Result } from '../../core/result.js';
import type { BlockReader } from '../storage/types.js';
import {
  BLOCK_BYTES, DIR_ENTRIES_PER_BLOCK, INLINE_EXTENTS, INODES_PER_BLOCK, MAX_EXTENTS, MAX_FILE_BYTES, SUPERBLOCK_COPIES,
  decodeBitmapBlock, decodeDirBlock, decodeExtentBlock, decodeInodeBlock, decodeSuperblock, geometryProblems, nameProblem,
  type DirEntry, type Extent, type Geometry, type InodeType, type Superblock,
} from './fs-format.js';
import { OverlayReader, replayImages, scanJournal, type JournalScan } from './journal.js';

/** An inode with all of its extents. Mutable: the live file system edits these in place. */
export interface Inode {
  type: InodeType;
  linkCount: number;
  generation: number;
  /** The size as stored (the live file system keeps a larger in-memory size apart). */
  sizeBytes: number;
  parentIno: number;
  /** Sorted by logical block, non-overlapping. */
  extents: Extent[];
  extentBlock: number;
}

export interface DirBlock {
  readonly block: number;
  readonly slots: (DirEntry | undefined)[];
}

export interface Volume {
  readonly geometry: Geometry;
  /** One byte per block: 1 when the bitmap marks it in use. */
  readonly used: Uint8Array;
  /** Index = inode number; index 0 is a placeholder that is always free. */
  readonly inodes: Inode[];
  /** Directory inode -> its blocks in logical order. */
  readonly dirs: Map<number, DirBlock[]>;
}

export function freeInode(generation = 0): Inode {
  return { type: 'free', linkCount: 0, generation, sizeBytes: 0, parentIno: 0, extents: [], extentBlock: 0 };
}

export function blocksOf(extents: readonly Extent[]): number {
  let n = 0;
  for (const e of extents) n += e.length;
  return n;
}

function readBlock(reader: BlockReader, blockNo: number): Uint8Array {
  return reader.read(blockNo * BLOCK_BYTES, BLOCK_BYTES);
}

export interface SuperblockChoice {
  readonly sb: Superblock;
  /** Which copy (block 0 or 1) was chosen. */
  readonly copy: number;
  /** Why the other copy was not usable, if it was not (informational: one bad copy is survivable). */
  readonly otherCopyProblem?: string;
}

/** Picks the newest superblock copy with a valid CRC whose geometry fits the device. */
export function readSuperblock(reader: BlockReader): Result<SuperblockChoice, string[]> {
  const capacityBlocks = Math.floor(reader.capacityBytes / BLOCK_BYTES);
  if (capacityBlocks < SUPERBLOCK_COPIES) return err([`device of ${reader.capacityBytes} bytes holds no superblock`]);
  const valid: { sb: Superblock; copy: number }[] = [];
  const problems: string[] = [];
  for (let copy = 0; copy < SUPERBLOCK_COPIES; copy++) {
    const decoded = decodeSuperblock(readBlock(reader, copy), copy);
    if (!decoded.ok) {
      problems.push(decoded.error);
      continue;
    }
    const bad = geometryProblems(decoded.value.geometry, capacityBlocks);
    const sb = decoded.value;
    if (sb.journalTailPos >= sb.geometry.journalBlocks) bad.push(`superblock ${copy}: journal tail ${sb.journalTailPos} outside the journal`);
    if (sb.rootIno < 1 || sb.rootIno > sb.geometry.inodeCount) bad.push(`superblock ${copy}: root inode ${sb.rootIno}`);
    if (bad.length > 0) {
      problems.push(...bad);
      continue;
    }
    valid.push({ sb, copy });
  }
  valid.sort((a, b) => b.sb.seq - a.sb.seq);
  const best = valid[0];
  if (best === undefined) return err(problems.length > 0 ? problems : ['no valid superblock']);
  const other = problems[0];
  return ok(other === undefined ? { sb: best.sb, copy: best.copy } : { sb: best.sb, copy: best.copy, otherCopyProblem: other });
}

/** Checks one inode's own fields; returns problems (empty when sane). */
function inodeFieldProblems(g: Geometry, ino: number, inode: Inode): string[] {
  const problems: string[] = [];
  const where = `inode ${ino}`;
  if (inode.type === 'free') {
    if (inode.extents.length > 0 || inode.extentBlock !== 0 || inode.linkCount !== 0 || inode.sizeBytes !== 0) problems.push(`${where}: free but holds data`);
    return problems;
  }
  if (inode.sizeBytes > MAX_FILE_BYTES) problems.push(`${where}: size ${inode.sizeBytes} too large`);
  let previousEnd = 0;
  for (const e of inode.extents) {
    if (e.length < 1) problems.push(`${where}: empty extent at logical ${e.logical}`);
    if (e.physical < g.dataStart || e.physical + e.length > g.totalBlocks) problems.push(`${where}: extent ${e.physical}+${e.length} outside the data area`);
    if (e.logical < previousEnd) problems.push(`${where}: extents overlap or are unsorted at logical ${e.logical}`);
    previousEnd = e.logical + e.length;
  }
  if (inode.type === 'file') {
    if (previousEnd > Math.ceil(inode.sizeBytes / BLOCK_BYTES)) problems.push(`${where}: extents reach block ${previousEnd}, past the size ${inode.sizeBytes}`);
    if (inode.linkCount < 1) problems.push(`${where}: file with link count ${inode.linkCount}`);
  } else {
    const blocks = blocksOf(inode.extents);
    if (previousEnd !== blocks) problems.push(`${where}: directory with holes`);
    if (inode.sizeBytes !== blocks * BLOCK_BYTES) problems.push(`${where}: directory size ${inode.sizeBytes} for ${blocks} blocks`);
    if (inode.linkCount < 2) problems.push(`${where}: directory with link count ${inode.linkCount}`);
    if (inode.parentIno < 1 || inode.parentIno > g.inodeCount) problems.push(`${where}: parent ${inode.parentIno} out of range`);
  }
  return problems;
}

export interface DecodedVolume {
  readonly volume: Volume;
  readonly problems: string[];
}

/**
 * Decodes every metadata structure of the image `reader` shows (pass an OverlayReader to
 * see the replayed state). Bad structures become problems and are left out.
 */
export function decodeVolume(reader: BlockReader, g: Geometry): DecodedVolume {
  const problems: string[] = [];
  const used = new Uint8Array(g.totalBlocks);
  for (let i = 0; i < g.bitmapBlocks; i++) {
    const bad = decodeBitmapBlock(g, i, readBlock(reader, g.bitmapStart + i), used);
    if (bad !== undefined) problems.push(bad);
  }
  const inodes: Inode[] = [];
  for (let i = 0; i < g.inodeTableBlocks; i++) {
    const decoded = decodeInodeBlock(g, i, readBlock(reader, g.inodeTableStart + i));
    for (let slot = 0; slot < INODES_PER_BLOCK; slot++) {
      const ino = i * INODES_PER_BLOCK + slot;
      if (ino > g.inodeCount) break;
      const record = decoded.ok ? decoded.value[slot] : undefined;
      if (record === undefined || (ino === 0 && record.type !== 'free')) {
        if (ino === 0 && record !== undefined) problems.push('inode 0 is in use');
        inodes.push(freeInode());
        continue;
      }
      let extents = [...record.inline];
      let extentBlock = record.extentBlock;
      if (record.extentCount > MAX_EXTENTS) {
        problems.push(`inode ${ino}: ${record.extentCount} extents (max ${MAX_EXTENTS})`);
        extents = [];
        extentBlock = 0;
      } else if (record.extentCount > INLINE_EXTENTS) {
        if (extentBlock < g.dataStart || extentBlock >= g.totalBlocks) {
          problems.push(`inode ${ino}: extent block ${extentBlock} outside the data area`);
          extents = [];
          extentBlock = 0;
        } else {
          const eb = decodeExtentBlock(extentBlock, readBlock(reader, extentBlock));
          if (!eb.ok) {
            problems.push(`inode ${ino}: ${eb.error}`);
            extents = [];
            extentBlock = 0;
          } else if (eb.value.ownerIno !== ino || eb.value.ownerGeneration !== record.generation || eb.value.extents.length !== record.extentCount - INLINE_EXTENTS) {
            problems.push(`inode ${ino}: extent block ${extentBlock} belongs to inode ${eb.value.ownerIno} generation ${eb.value.ownerGeneration} with ${eb.value.extents.length} extents`);
            extents = [];
            extentBlock = 0;
          } else {
            extents.push(...eb.value.extents);
          }
        }
      } else if (extentBlock !== 0) {
        problems.push(`inode ${ino}: extent block ${extentBlock} with only ${record.extentCount} extents`);
        extentBlock = 0;
      }
      const inode: Inode = {
        type: record.type, linkCount: record.linkCount, generation: record.generation, sizeBytes: record.sizeBytes,
        parentIno: record.parentIno, extents, extentBlock,
      };
      const bad = inodeFieldProblems(g, ino, inode);
      if (bad.length > 0) {
        problems.push(...bad);
        inode.extents = [];
        inode.extentBlock = 0;
      }
      inodes.push(inode);
    }
    if (!decoded.ok) problems.push(decoded.error);
  }
  const dirs = new Map<number, DirBlock[]>();
  for (let ino = 1; ino <= g.inodeCount; ino++) {
    const inode = inodes[ino];
    if (inode?.type !== 'dir') continue;
    const blocks: DirBlock[] = [];
    const names = new Set<string>();
    for (const e of inode.extents) {
      for (let k = 0; k < e.length; k++) {
        const blockNo = e.physical + k;
        const decoded = decodeDirBlock(blockNo, readBlock(reader, blockNo));
        const slots: (DirEntry | undefined)[] = new Array<DirEntry | undefined>(DIR_ENTRIES_PER_BLOCK).fill(undefined);
        if (!decoded.ok) {
          problems.push(`directory ${ino}: ${decoded.error}`);
        } else if (decoded.value.ownerIno !== ino) {
          problems.push(`directory ${ino}: block ${blockNo} belongs to inode ${decoded.value.ownerIno}`);
        } else {
          decoded.value.slots.forEach((entry, i) => {
            if (entry === undefined) return;
            if (entry.ino < 1 || entry.ino > g.inodeCount) {
              problems.push(`directory ${ino}: entry '${entry.name}' names inode ${entry.ino} out of range`);
            } else if (names.has(entry.name)) {
              problems.push(`directory ${ino}: duplicate name '${entry.name}'`);
            } else {
              names.add(entry.name);
              slots[i] = entry;
            }
          });
        }
        blocks.push({ block: blockNo, slots });
      }
    }
    dirs.set(ino, blocks);
  }
  return { volume: { geometry: g, used, inodes, dirs }, problems };
}

export interface OpenedVolume {
  readonly sb: Superblock;
  readonly superblockCopy: number;
  readonly scan: JournalScan;
  /** The image as decoded: the replay overlay over the raw reader when replay was applied. */
  readonly reader: BlockReader;
  readonly replayedTransactions: number;
  readonly volume: Volume;
  /** Problems of decoding (and of the journal); empty when every structure decoded. */
  readonly problems: string[];
}

export type OpenVolumeError =
  | { readonly kind: 'no-filesystem'; readonly problems: readonly string[] }
  | { readonly kind: 'needs-replay'; readonly pendingTransactions: number };

/**
 * Reads a raw image: superblock, journal scan, and (with `replay`, the default) the
 * committed transactions applied in a read overlay; then decodes the volume. Without
 * `replay`, an image with committed transactions pending is refused (reading it as it
 * stands would show a stale or inconsistent tree).
 */
export function openVolume(reader: BlockReader, options: { readonly replay?: boolean } = {}): Result<OpenedVolume, OpenVolumeError> {
  const choice = readSuperblock(reader);
  if (!choice.ok) return err({ kind: 'no-filesystem', problems: choice.error });
  const { sb, copy } = choice.value;
  const scan = scanJournal(reader, sb);
  if (options.replay === false && scan.transactions.length > 0) return err({ kind: 'needs-replay', pendingTransactions: scan.transactions.length });
  const view = scan.transactions.length > 0 ? new OverlayReader(reader, replayImages(scan.transactions)) : reader;
  const decoded = decodeVolume(view, sb.geometry);
  return ok({
    sb, superblockCopy: copy, scan, reader: view, replayedTransactions: scan.transactions.length,
    volume: decoded.volume, problems: [...scan.problems, ...decoded.problems],
  });
}

/** The physical block that holds file block `logical`, or undefined for a hole. */
export function mapLogical(extents: readonly Extent[], logical: number): number | undefined {
  let lo = 0;
  let hi = extents.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const e = extents[mid] as Extent;
    if (logical < e.logical) hi = mid - 1;
    else if (logical >= e.logical + e.length) lo = mid + 1;
    else return e.physical + (logical - e.logical);
  }
  return undefined;
}

/** Reads `lengthBytes` of a file from `offsetBytes` (clipped to its size); holes read as zeros. */
export function readFileBytes(reader: BlockReader, inode: Inode, offsetBytes: number, lengthBytes: number): Uint8Array {
  const end = Math.min(inode.sizeBytes, offsetBytes + lengthBytes);
  if (end <= offsetBytes) return new Uint8Array(0);
  const out = new Uint8Array(end - offsetBytes);
  const first = Math.floor(offsetBytes / BLOCK_BYTES);
  const last = Math.floor((end - 1) / BLOCK_BYTES);
  for (let b = first; b <= last; b++) {
    const physical = mapLogical(inode.extents, b);
    if (physical === undefined) continue;
    const block = readBlock(reader, physical);
    const from = Math.max(offsetBytes, b * BLOCK_BYTES);
    const to = Math.min(end, (b + 1) * BLOCK_BYTES);
    out.set(block.subarray(from - b * BLOCK_BYTES, to - b * BLOCK_BYTES), from - offsetBytes);
  }
  return out;
}

/** Deepest path the file system resolves: bounds every path walk. */
export const MAX_PATH_DEPTH = 64;

/** Splits '/a/b' into ['a', 'b'] ('/' is []). Paths are absolute; empty components are refused. */
export function splitPath(path: string): Result<string[], string> {
  if (!path.startsWith('/')) return err(`path '${path}' is not absolute`);
  if (path === '/') return ok([]);
  const parts = path.slice(1).split('/');
  if (parts.length > MAX_PATH_DEPTH) return err(`path '${path}' deeper than ${MAX_PATH_DEPTH}`);
  for (const part of parts) {
    const problem = nameProblem(part);
    if (problem !== undefined) return err(`path '${path}': ${problem}`);
  }
  return ok(parts);
}

/** The entry named `name` in directory `dirIno`, if any (a linear scan of its blocks). */
export function findEntry(volume: Volume, dirIno: number, name: string): DirEntry | undefined {
  for (const block of volume.dirs.get(dirIno) ?? []) {
    for (const entry of block.slots) if (entry?.name === name) return entry;
  }
  return undefined;
}
