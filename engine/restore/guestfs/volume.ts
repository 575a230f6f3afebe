/**
 * A read-only view of the guest file system on one RecoveryPoint disk: open (superblock,
 * journal replay in memory), inodes, directory listings, path lookup, a tree walk and
 * file reads (extents; holes read as zeros; the stored size bounds every read).
 *
 * Models: lazy, defensive reading. Only the structures a call needs are read (through the
 * block cache), and each is checked before use: header (magic, kind, own block number,
 * CRC), counts against the room in the block, extents sorted, non-overlapping, inside the
 * data area and (files) within the size, directories without holes and sized by their
 * blocks, extent blocks owned by their inode and generation, entries naming an inode in
 * range and in use. A failed check is a `corrupt` error naming the block; nothing here
 * throws on any image, and every loop has a bound taken from the geometry (blocks, inode
 * count) or a constant (walk depth). A directory reached twice (a loop, or a directory
 * hard link the format does not allow) is corruption.
 *
 * Names are raw bytes (see names.ts): a name holding '/', NUL, '..' or bytes that are not
 * UTF-8 is listed as it is, with a display text; making names safe for a target is the
 * restore's job (file-restore.ts).
 *
 * Leaves out: the bitmap and link counts (a reader does not allocate, and fsck's
 * cross-structure checks do not stop reading); timestamps, permissions and any other
 * metadata the format does not have.
 */

import { assert } from '../../../core/assert.js';
import { err, ok, type Result } from '../../../core/result.js';
import type { PointSource } from '../source.js';
import { BlockReader, DEFAULT_CACHE_BLOCKS, MAX_RUN_BLOCKS, type ReadStats, type SourceError } from './block-reader.js';
import {
  BLOCK_BYTES, INLINE_EXTENTS, MAX_EXTENTS, MAX_FILE_BYTES, decodeDirBlock, decodeExtentBlock, decodeInodeSlot, decodeSuperblock, inodeBlockOf,
  type Corrupt, type Extent, type Geometry, type Superblock,
} from './format.js';
import { scanJournal } from './journal.js';
import { bytesEqual, decodeName, encodeName } from './names.js';

export type GuestFsError =
  | SourceError
  | { readonly kind: 'no-disk'; readonly diskId: string }
  | { readonly kind: 'no-filesystem'; readonly problems: readonly Corrupt[] }
  | { readonly kind: 'needs-replay'; readonly transactions: number }
  | ({ readonly kind: 'corrupt' } & Corrupt)
  | { readonly kind: 'invalid-inode'; readonly ino: number }
  | { readonly kind: 'invalid-path'; readonly path: string; readonly reason: string }
  | { readonly kind: 'not-found'; readonly path: string }
  | { readonly kind: 'not-a-directory'; readonly path: string }
  | { readonly kind: 'is-a-directory'; readonly path: string }
  | { readonly kind: 'too-large'; readonly sizeBytes: number; readonly maxBytes: number }
  | { readonly kind: 'invalid-range'; readonly offsetBytes: number; readonly lengthBytes: number };

/** An inode in use, its extents checked. */
export interface GuestInode {
  readonly ino: number;
  readonly type: 'file' | 'dir';
  readonly generation: number;
  readonly sizeBytes: number;
  readonly linkCount: number;
  /** Sorted by logical block, non-overlapping, inside the data area. */
  readonly extents: readonly Extent[];
}

/** A directory entry as stored: the name's raw bytes and the block holding the entry. */
export interface RawEntry {
  readonly ino: number;
  readonly nameBytes: Uint8Array;
  /** Display text of the name (names.ts); exact when `nameValid`. */
  readonly name: string;
  readonly nameValid: boolean;
  /** The directory block the entry sits in (what an error about the entry names). */
  readonly block: number;
}

export interface GuestEntry extends RawEntry {
  readonly type: 'file' | 'dir';
  readonly sizeBytes: number;
  readonly generation: number;
}

export interface WalkEntry extends GuestEntry {
  /** '/'-joined display names from the root ('/a/b'); names holding '/' make it ambiguous. */
  readonly path: string;
  /** The display names from the root, one per level: unambiguous. */
  readonly names: readonly string[];
  readonly parentIno: number;
}

export interface OpenOptions {
  /** Apply committed journal transactions in memory (default true). */
  readonly replay?: boolean;
  readonly cacheBlocks?: number;
}

/** Deepest tree a walk or lookup follows. */
export const MAX_DEPTH = 256;
/** Largest single read (a file may be bigger; read it in ranges). */
export const MAX_READ_BYTES = 256 * 1024 * 1024;

function corrupt(c: Corrupt): { readonly ok: false; readonly error: GuestFsError } {
  return err({ kind: 'corrupt', ...c });
}

export class GuestVolume {
  private constructor(
    private readonly reader: BlockReader,
    readonly superblock: Superblock,
    readonly replayedTransactions: number,
  ) {}

  get geometry(): Geometry {
    return this.superblock.geometry;
  }

  get label(): string {
    return this.superblock.label;
  }

  get rootIno(): number {
    return this.superblock.rootIno;
  }

  stats(): ReadStats {
    return this.reader.stats();
  }

  /**
   * Opens the file system of disk `diskId` of a point: the newest valid superblock copy,
   * the journal scan, and (unless `replay: false`) its replay as a read overlay. Refuses
   * an image whose root is not a directory.
   */
  static async open(source: PointSource, diskId: string, options: OpenOptions = {}): Promise<Result<GuestVolume, GuestFsError>> {
    const disk = source.disks().find((d) => d.diskId === diskId);
    if (disk === undefined) return err({ kind: 'no-disk', diskId });
    const reader = new BlockReader(source, diskId, disk.capacityBytes, options.cacheBlocks ?? DEFAULT_CACHE_BLOCKS);
    if (reader.capacityBlocks < 2) return err({ kind: 'no-filesystem', problems: [{ block: 0, structure: 'superblock', reason: `disk of ${disk.capacityBytes} bytes` }] });
    const problems: Corrupt[] = [];
    let best: Superblock | undefined;
    for (const copy of [0, 1]) {
      const block = await reader.raw(copy);
      if (!block.ok) return block;
      const decoded = decodeSuperblock(block.value, copy, reader.capacityBlocks);
      if (!decoded.ok) problems.push(decoded.error);
      else if (best === undefined || decoded.value.seq > best.seq) best = decoded.value;
    }
    if (best === undefined) return err({ kind: 'no-filesystem', problems });
    const journal = await scanJournal(reader, best);
    if (!journal.ok) return journal;
    if (options.replay === false && journal.value.transactions > 0) return err({ kind: 'needs-replay', transactions: journal.value.transactions });
    reader.setOverlay(journal.value.overlay);
    const volume = new GuestVolume(reader, best, journal.value.transactions);
    const root = await volume.inode(best.rootIno);
    if (!root.ok) return root;
    if (root.value.type !== 'dir') return corrupt({ block: inodeBlockOf(best.geometry, best.rootIno), structure: 'inodeTable', reason: `root inode ${best.rootIno} is not a directory` });
    return ok(volume);
  }

  /** Inode `ino`, checked; a free inode is corruption (only references ask for inodes). */
  async inode(ino: number): Promise<Result<GuestInode, GuestFsError>> {
    const g = this.geometry;
    if (!Number.isSafeInteger(ino) || ino < 1 || ino > g.inodeCount) return err({ kind: 'invalid-inode', ino });
    const blockNo = inodeBlockOf(g, ino);
    const block = await this.reader.block(blockNo);
    if (!block.ok) return block;
    const decoded = decodeInodeSlot(block.value, blockNo, ino);
    if (!decoded.ok) return corrupt(decoded.error);
    const slot = decoded.value;
    const bad = (reason: string): { readonly ok: false; readonly error: GuestFsError } => corrupt({ block: blockNo, structure: 'inodeTable', reason: `inode ${ino}: ${reason}` });
    if (slot.type === 'free') return bad('is free but referenced');
    if (slot.sizeBytes > MAX_FILE_BYTES) return bad(`size ${slot.sizeBytes}`);
    if (slot.extentCount > MAX_EXTENTS) return bad(`${slot.extentCount} extents (at most ${MAX_EXTENTS})`);
    const extents: Extent[] = [...slot.inline];
    if (slot.extentCount > INLINE_EXTENTS) {
      const at = slot.extentBlock;
      if (at < g.dataStart || at >= g.totalBlocks) return bad(`extent block ${at} outside the data area`);
      const eb = await this.reader.block(at);
      if (!eb.ok) return eb;
      const decodedBlock = decodeExtentBlock(eb.value, at);
      if (!decodedBlock.ok) return corrupt(decodedBlock.error);
      const { ownerIno, ownerGeneration } = decodedBlock.value;
      if (ownerIno !== ino || ownerGeneration !== slot.generation) {
        return corrupt({ block: at, structure: 'extents', reason: `belongs to inode ${ownerIno} generation ${ownerGeneration}, not inode ${ino} generation ${slot.generation}` });
      }
      if (decodedBlock.value.extents.length !== slot.extentCount - INLINE_EXTENTS) {
        return corrupt({ block: at, structure: 'extents', reason: `holds ${decodedBlock.value.extents.length} extents, inode ${ino} expects ${slot.extentCount - INLINE_EXTENTS}` });
      }
      extents.push(...decodedBlock.value.extents);
    } else if (slot.extentBlock !== 0) {
      return bad(`extent block ${slot.extentBlock} with only ${slot.extentCount} extents`);
    }
    let end = 0;
    let blocks = 0;
    for (const e of extents) {
      if (e.length < 1) return bad(`empty extent at logical block ${e.logical}`);
      if (e.physical < g.dataStart || e.physical + e.length > g.totalBlocks) return bad(`extent ${e.physical}+${e.length} outside the data area`);
      if (e.logical < end) return bad(`extents overlap or are unsorted at logical block ${e.logical}`);
      end = e.logical + e.length;
      blocks += e.length;
    }
    if (slot.type === 'file') {
      if (end > Math.ceil(slot.sizeBytes / BLOCK_BYTES)) return bad(`extents reach block ${end}, past the size ${slot.sizeBytes}`);
    } else {
      if (end !== blocks) return bad('directory with holes');
      if (slot.sizeBytes !== blocks * BLOCK_BYTES) return bad(`directory size ${slot.sizeBytes} for ${blocks} blocks`);
    }
    return ok({ ino, type: slot.type, generation: slot.generation, sizeBytes: slot.sizeBytes, linkCount: slot.linkCount, extents });
  }

  /**
   * The entries of a directory as stored, in block and slot order, without reading their
   * inodes. Every directory block must decode and belong to the directory, and every entry
   * must name an inode in range.
   */
  async listRaw(dir: GuestInode): Promise<Result<RawEntry[], GuestFsError>> {
    assert(dir.type === 'dir', `listRaw of a ${dir.type}`);
    const out: RawEntry[] = [];
    // Extents were checked to lie inside the data area: the loop reads at most the device.
    for (const e of dir.extents) {
      for (let k = 0; k < e.length; k++) {
        const blockNo = e.physical + k;
        const block = await this.reader.block(blockNo);
        if (!block.ok) return block;
        const decoded = decodeDirBlock(block.value, blockNo);
        if (!decoded.ok) return corrupt(decoded.error);
        if (decoded.value.ownerIno !== dir.ino) return corrupt({ block: blockNo, structure: 'directory', reason: `belongs to inode ${decoded.value.ownerIno}, not directory ${dir.ino}` });
        for (const entry of decoded.value.entries) {
          if (entry.ino < 1 || entry.ino > this.geometry.inodeCount) {
            return corrupt({ block: blockNo, structure: 'directory', reason: `entry names inode ${entry.ino}, outside [1, ${this.geometry.inodeCount}]` });
          }
          const name = decodeName(entry.nameBytes);
          out.push({ ino: entry.ino, nameBytes: entry.nameBytes, name: name.text, nameValid: name.valid, block: blockNo });
        }
      }
    }
    return ok(out);
  }

  /** The entries of a directory with their inodes; any bad entry fails the listing. */
  async list(dir: GuestInode): Promise<Result<GuestEntry[], GuestFsError>> {
    const raw = await this.listRaw(dir);
    if (!raw.ok) return raw;
    const out: GuestEntry[] = [];
    for (const entry of raw.value) {
      const inode = await this.inode(entry.ino);
      if (!inode.ok) return inode.error.kind === 'invalid-inode' ? corrupt({ block: entry.block, structure: 'directory', reason: `entry '${entry.name}' names inode ${entry.ino}` }) : inode;
      out.push({ ...entry, type: inode.value.type, sizeBytes: inode.value.sizeBytes, generation: inode.value.generation });
    }
    return ok(out);
  }

  /**
   * Resolves an absolute guest path ('/a/b'; '/' is the root) by comparing each component's
   * UTF-8 bytes with the stored names. Empty components are ignored; '.' and '..' are refused
   * (the format has no such entries).
   */
  async lookup(path: string): Promise<Result<GuestInode, GuestFsError>> {
    if (!path.startsWith('/')) return err({ kind: 'invalid-path', path, reason: 'not absolute' });
    const parts = path.split('/').filter((p) => p !== '');
    if (parts.length > MAX_DEPTH) return err({ kind: 'invalid-path', path, reason: `deeper than ${MAX_DEPTH}` });
    if (parts.some((p) => p === '.' || p === '..')) return err({ kind: 'invalid-path', path, reason: "'.' and '..' are not names" });
    let current = await this.inode(this.rootIno);
    let walked = '';
    for (const part of parts) {
      if (!current.ok) return current;
      if (current.value.type !== 'dir') return err({ kind: 'not-a-directory', path: walked === '' ? '/' : walked });
      walked = `${walked}/${part}`;
      const entries = await this.listRaw(current.value);
      if (!entries.ok) return entries;
      const want = encodeName(part);
      const found = entries.value.find((e) => bytesEqual(e.nameBytes, want));
      if (found === undefined) return err({ kind: 'not-found', path: walked });
      current = await this.inode(found.ino);
    }
    return current;
  }

  /**
   * Every entry below `from` (default the root), parents before children, each directory
   * read once. A directory reached a second time is corruption (named by the block of the
   * entry that reaches it); so is a tree deeper than MAX_DEPTH.
   */
  async walk(from?: GuestInode): Promise<Result<WalkEntry[], GuestFsError>> {
    let start = from;
    if (start === undefined) {
      const root = await this.inode(this.rootIno);
      if (!root.ok) return root;
      start = root.value;
    }
    if (start.type !== 'dir') return err({ kind: 'not-a-directory', path: '(walk start)' });
    const out: WalkEntry[] = [];
    const seen = new Set<number>([start.ino]);
    const queue: { dir: GuestInode; names: readonly string[] }[] = [{ dir: start, names: [] }];
    // Each directory is queued once (seen), and there are at most inodeCount of them.
    for (let head = 0; head < queue.length; head++) {
      const { dir, names } = queue[head] as { dir: GuestInode; names: readonly string[] };
      const entries = await this.list(dir);
      if (!entries.ok) return entries;
      for (const entry of entries.value) {
        const childNames = [...names, entry.name];
        out.push({ ...entry, names: childNames, path: `/${childNames.join('/')}`, parentIno: dir.ino });
        if (entry.type !== 'dir') continue;
        if (seen.has(entry.ino)) return corrupt({ block: entry.block, structure: 'directory', reason: `directory inode ${entry.ino} is reached twice (a loop or a directory hard link)` });
        if (childNames.length >= MAX_DEPTH) return corrupt({ block: entry.block, structure: 'directory', reason: `tree deeper than ${MAX_DEPTH}` });
        seen.add(entry.ino);
        const child = await this.inode(entry.ino);
        if (!child.ok) return child;
        queue.push({ dir: child.value, names: childNames });
      }
    }
    return ok(out);
  }

  /**
   * `lengthBytes` of a file from `offsetBytes`, clipped to its size; holes read as zeros.
   * At most MAX_READ_BYTES at once.
   */
  async readRange(file: GuestInode, offsetBytes: number, lengthBytes: number): Promise<Result<Uint8Array, GuestFsError>> {
    if (file.type !== 'file') return err({ kind: 'is-a-directory', path: `(inode ${file.ino})` });
    if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0 || !Number.isSafeInteger(lengthBytes) || lengthBytes < 0) {
      return err({ kind: 'invalid-range', offsetBytes, lengthBytes });
    }
    const end = Math.min(file.sizeBytes, offsetBytes + lengthBytes);
    if (end <= offsetBytes) return ok(new Uint8Array(0));
    if (end - offsetBytes > MAX_READ_BYTES) return err({ kind: 'too-large', sizeBytes: end - offsetBytes, maxBytes: MAX_READ_BYTES });
    const out = new Uint8Array(end - offsetBytes);
    const first = Math.floor(offsetBytes / BLOCK_BYTES);
    const last = Math.floor((end - 1) / BLOCK_BYTES);
    for (const run of mappedRuns(file.extents, first, last)) {
      const data = await this.reader.run(run.physical, run.blocks);
      if (!data.ok) return data;
      // Copy the part of the run inside [offsetBytes, end).
      const runStart = run.logical * BLOCK_BYTES;
      const from = Math.max(offsetBytes, runStart);
      const to = Math.min(end, runStart + run.blocks * BLOCK_BYTES);
      out.set(data.value.subarray(from - runStart, to - runStart), from - offsetBytes);
    }
    return ok(out);
  }

  /** The byte ranges of a file its extents map (clipped to its size), in order: everything else is a hole. */
  mappedByteRanges(file: GuestInode): { readonly startBytes: number; readonly endBytes: number }[] {
    const out: { startBytes: number; endBytes: number }[] = [];
    for (const e of file.extents) {
      const startBytes = e.logical * BLOCK_BYTES;
      const endBytes = Math.min(file.sizeBytes, (e.logical + e.length) * BLOCK_BYTES);
      if (endBytes > startBytes) out.push({ startBytes, endBytes });
    }
    return out;
  }

  /** The whole file (at most MAX_READ_BYTES). */
  async readFile(file: GuestInode): Promise<Result<Uint8Array, GuestFsError>> {
    if (file.sizeBytes > MAX_READ_BYTES) return err({ kind: 'too-large', sizeBytes: file.sizeBytes, maxBytes: MAX_READ_BYTES });
    return this.readRange(file, 0, file.sizeBytes);
  }
}

interface Run {
  readonly logical: number;
  readonly physical: number;
  readonly blocks: number;
}

/** The mapped parts of logical blocks [first, last], as runs of at most MAX_RUN_BLOCKS. */
function mappedRuns(extents: readonly Extent[], first: number, last: number): Run[] {
  const runs: Run[] = [];
  for (const e of extents) {
    const from = Math.max(first, e.logical);
    const to = Math.min(last, e.logical + e.length - 1);
    for (let b = from; b <= to; b += MAX_RUN_BLOCKS) {
      runs.push({ logical: b, physical: e.physical + (b - e.logical), blocks: Math.min(MAX_RUN_BLOCKS, to - b + 1) });
    }
  }
  return runs;
}

/** Opens the guest file system on `diskId` of a point (see GuestVolume.open). */
export function openGuestVolume(source: PointSource, diskId: string, options: OpenOptions = {}): Promise<Result<GuestVolume, GuestFsError>> {
  return GuestVolume.open(source, diskId, options);
}
