/**
 * The live, mounted guest file system (qfs): a small ext4-like journaled file system on a
 * BlockDevice, with a page cache above it. Synchronous; time moves only through the
 * injected clock and EventQueue.
 *
 * Models:
 * - Metadata journaling (journal.ts): a running transaction collects dirty metadata
 *   blocks; it commits every `commitIntervalUs` (5 s, jbd2's default), on fsync and sync,
 *   when it would outgrow the journal's transaction limit, and at once after any metadata
 *   change through a write-through handle. Checkpoint is lazy: when the next commit does
 *   not fit, when space freed by committed transactions is needed, on freeze and on unmount.
 * - Delayed allocation: a buffered write only dirties pages and reserves blocks (so
 *   writeback cannot run out of space); writeback (flusher, fsync, sync, throttling)
 *   allocates blocks, writes the data and records extents and the on-disk size in the
 *   running transaction. The on-disk size (ext4's i_disksize) grows only as data is
 *   written back (or by truncate), so a crash does not leave a file claiming an extension
 *   whose data never reached the disk; stat and read see the in-memory size. Extents
 *   never reach past the on-disk size.
 * - Data modes: 'ordered' writes new data before the commit that references it (the
 *   commit's first flush makes it durable), so no stale data appears after a crash;
 *   'writeback' defers the data of newly allocated blocks until after the next commit,
 *   so a crash can leave a committed file showing stale or garbage blocks while the file
 *   system stays consistent. Overwrites of allocated blocks go in place in both modes.
 * - Partial blocks: when the size moves off a point inside an allocated block (truncate
 *   either way, a write that leaves a gap), the bytes past it are zeroed in the cache and
 *   written home at once, as ext4 zeroes the partial block, so bytes that were cut off or
 *   never committed cannot reappear when the file grows after a crash.
 * - Freed blocks are not reused before the transaction that freed them commits, and a
 *   freed block with a journaled image stays unused until the next checkpoint (instead of
 *   jbd2's revoke records), so replay never overwrites a reused block.
 * - Write-through handles (O_DSYNC / FILE_FLAG_WRITE_THROUGH): data bypasses the cache and
 *   goes to the disk with FUA; a metadata change commits at once.
 * - Freeze (FIFREEZE): writes back every dirty page, commits, fully checkpoints, marks the
 *   superblock clean and flushes, so the disk image needs no replay; then mutations fail
 *   with 'frozen' until thaw (`onThaw` lets a caller wait) and the flusher skips.
 *   sync is weaker: it writes back, commits and flushes, but leaves the journal to replay.
 * - crash(): power loss of the guest. The page cache, the running transaction, the
 *   reservations and the timers are gone; the object is dead (every call asserts). The
 *   disk keeps what it keeps (the disk's own power loss is the disk's business). Remount
 *   with `FileSystem.mount`, which replays the journal.
 *
 * Cost (not behaviour): inode-table, bitmap and directory blocks are kept encoded and
 * sealed between commits; a commit re-encodes only the inodes, bitmap bytes and directory
 * slots that changed and updates each block's CRC from those bytes alone.
 *
 * Leaves out: hard links, symlinks, permissions, timestamps, open-but-unlinked files (an
 * unlink frees the inode at once and its handles go stale), O_DIRECT reads, multiple
 * concurrent transactions (jbd2's committing + running), the orphan list (truncate is one
 * transaction), quotas, asynchronous I/O (every call completes before it returns).
 */

import { assert } from '../../core/assert.js';
import { sToUs, type Clock, type TimeUs } from '../../core/clock.js';
import type { HistorySink } from '../../core/history.js';
import { STORAGE_EVENTS } from '../../core/history.js';
import type { FileId } from '../../core/ids.js';
import { err, ok, type Result } from '../../core/result.js';
import { sortSmall } from '../../core/sort-small.js';
import type { EventQueue, TimerHandle } from '../kernel/event-queue.js';
import type { BlockDevice } from '../storage/types.js';
import { allocBytes } from '../kernel/bytes.js';
import { crc32XorUpdate } from '../kernel/crc32-combine.js';
import {
  BLOCK_BYTES, DIR_ENTRIES_PER_BLOCK, DIR_ENTRY_BYTES, HEADER_BYTES, dirSlotOffset, encodeDirSlot, INLINE_EXTENTS, INODE_BYTES, MAX_EXTENTS, MAX_FILE_BYTES, PAYLOAD_BYTES, ROOT_INO, bitmapBlockOf,
  encodeBitmapBits, encodeDirBlock, packBitmap, encodeExtentBlock, encodeInodeBlock, encodeInodeSlot, encodeSuperblock, encodeSuperblockInto, inodeBlockOf, inodeSlotOffset,
  opMaxMetaBlocks, regionOf, type DirEntry, type Extent, type Geometry, type InodeImage, type Superblock,
} from './fs-format.js';
import { volumeProblems } from './fsck.js';
import { blocksOf, decodeVolume, freeInode, mapLogical, readSuperblock, splitPath, type DirBlock, type Inode, type Volume } from './fs-volume.js';
import { JournalWriter, OverlayReader, replayImages, scanJournal } from './journal.js';
import { PAGE_BYTES, PageCache, type PageWrite, type WritebackReport } from './page-cache.js';
import { LINUX_WRITEBACK, type WritebackPolicy } from './writeback-policy.js';

export type DataMode = 'ordered' | 'writeback';

export interface MountOptions {
  readonly clock: Clock;
  readonly queue: EventQueue;
  readonly history?: HistorySink;
  readonly dataMode?: DataMode;
  readonly writeback?: WritebackPolicy;
  /** Names the file system in history and prefixes its timers (use `<vmId>:<disk>`). */
  readonly label?: string;
  /** Periodic commit interval; 0 disables it (default 5 s). */
  readonly commitIntervalUs?: TimeUs;
  readonly cacheCapacityPages?: number;
  readonly dirtyLimitPages?: number;
  /** Run fsck's cross-structure checks at mount and refuse an inconsistent volume (default true). */
  readonly check?: boolean;
}

export type MountError =
  | { readonly kind: 'no-filesystem'; readonly problems: readonly string[] }
  | { readonly kind: 'corrupt'; readonly problems: readonly string[] };

export type FsError =
  | { readonly kind: 'not-found'; readonly path: string }
  | { readonly kind: 'exists'; readonly path: string }
  | { readonly kind: 'not-a-directory'; readonly path: string }
  | { readonly kind: 'is-a-directory'; readonly path: string }
  | { readonly kind: 'not-empty'; readonly path: string }
  | { readonly kind: 'invalid-path'; readonly path: string; readonly reason: string }
  | { readonly kind: 'invalid-argument'; readonly reason: string }
  | { readonly kind: 'busy'; readonly path: string; readonly reason: string }
  | { readonly kind: 'no-space'; readonly detail: string }
  | { readonly kind: 'no-inodes' }
  | { readonly kind: 'frozen' }
  | { readonly kind: 'already-frozen' }
  | { readonly kind: 'not-frozen' }
  | { readonly kind: 'stale-handle'; readonly fileId: FileId };

export interface OpenOptions {
  /** Create the file when it does not exist. */
  readonly create?: boolean;
  /** Bypass the page cache: FUA data, metadata committed at once. */
  readonly writeThrough?: boolean;
}

export interface FileHandle {
  readonly fileId: FileId;
  readonly ino: number;
  readonly generation: number;
  readonly path: string;
  readonly writeThrough: boolean;
}

export interface FileStat {
  readonly type: 'file' | 'dir';
  readonly ino: number;
  readonly generation: number;
  /** The size the file system shows now (in memory), which may exceed the on-disk size. */
  readonly sizeBytes: number;
  /** The size as journaled (what a crash now would leave, once committed). */
  readonly diskSizeBytes: number;
  readonly linkCount: number;
  readonly allocatedBlocks: number;
  readonly dirtyPages: number;
}

export interface FsStats {
  readonly dirtyPages: number;
  readonly dirtyBytes: number;
  readonly cachedPages: number;
  readonly journalUsedBlocks: number;
  readonly journalSizeBlocks: number;
  /** Metadata blocks in the running transaction. */
  readonly runningTransactionBlocks: number;
  /** Committed metadata blocks not yet written home. */
  readonly checkpointPendingBlocks: number;
  readonly freeBlocks: number;
  readonly reservedBlocks: number;
  readonly commits: number;
  readonly checkpoints: number;
  readonly frozen: boolean;
}

/** Largest single read or write (a caller bug, not a file size limit). */
export const MAX_IO_BYTES = 64 * 1024 * 1024;
/** Blocks in one inode preallocation window (ext4's default inode preallocation is 512 KiB; smaller here). */
const WINDOW_BLOCKS = 32;
/** Most pages one buffered write handles between two throttling checks. */
const MAX_WRITE_CHUNK_PAGES = 256;
/** Callers that may wait for a thaw at once: a runaway waiter loop fails loudly. */
const MAX_THAW_WAITERS = 10_000;
/** Open handles at once. */
const MAX_HANDLES = 1_000_000;

/** Zeros to copy from (never written: the page cache copies what it is given). */
const ZERO_PAGE = new Uint8Array(PAGE_BYTES);

/** Above this many changed bitmap bytes in one transaction, bitmap blocks are re-encoded whole. */
const MAX_BITMAP_BYTE_UPDATES = 256;

/**
 * A sealed metadata block image (its CRC field filled in) and a view of it. The CRC field
 * lies outside every inode slot and bitmap byte, so updates to those never touch it.
 */
interface CachedImage {
  readonly image: Uint8Array;
  readonly view: DataView;
}

/** Caches a freshly encoded, sealed block (the file system's own buffer: the journal copies, never keeps). */
function cacheImage(sealed: Uint8Array): CachedImage {
  return { image: sealed, view: new DataView(sealed.buffer, sealed.byteOffset, BLOCK_BYTES) };
}

/** The seal (the CRC with the field read as zero) of a cached image. */
function sealOf(cached: CachedImage): number {
  return cached.view.getUint32(12, true);
}

type MetaOwner = { readonly kind: 'dir'; readonly ino: number; readonly block: DirBlock } | { readonly kind: 'extent'; readonly ino: number };

interface HandleState {
  readonly ino: number;
  readonly generation: number;
  readonly writeThrough: boolean;
}

export class FileSystem {
  readonly label: string;
  readonly dataMode: DataMode;
  private readonly device: BlockDevice;
  private readonly clock: Clock;
  private readonly queue: EventQueue;
  private readonly history: HistorySink | undefined;
  private readonly g: Geometry;
  private sb: Superblock;
  private readonly volume: Volume;
  /** `volume.used` packed as on disk, kept in step by allocBlock/freeBlock: commits copy it. */
  private readonly bitmapBits: Uint8Array;
  /**
   * Inode-table and bitmap blocks as last encoded (by block number), kept current at each
   * commit from the inodes and bitmap bytes changed since (`dirtyInodes`, `dirtyBitmapBytes`):
   * a commit re-encodes and re-checksums only what changed.
   */
  private readonly inodeImages = new Map<number, CachedImage>();
  private readonly bitmapImages = new Map<number, CachedImage>();
  private readonly dirtyInodes = new Set<number>();
  private readonly dirtyBitmapBytes = new Set<number>();
  /** Directory blocks as last encoded (by block number), and the (block, slot) pairs changed since. */
  private readonly dirImages = new Map<number, CachedImage>();
  private readonly dirtyDirSlots: number[] = [];
  private readonly superblockScratch = new Uint8Array(BLOCK_BYTES);
  private readonly slotScratch = new Uint8Array(INODE_BYTES);
  private readonly slotView = new DataView(this.slotScratch.buffer);
  private readonly slotDelta = new Uint8Array(INODE_BYTES);
  private readonly journal: JournalWriter;
  private readonly cache: PageCache;
  private readonly commitIntervalUs: TimeUs;

  /** Directory inode -> name -> where its entry sits. */
  private readonly names = new Map<number, Map<string, { readonly block: DirBlock; readonly slot: number }>>();
  /** Data-area blocks that hold metadata: directory and extent blocks. */
  private readonly metaOwner = new Map<number, MetaOwner>();
  /** In-memory sizes of files whose size differs from the on-disk one. */
  private readonly liveSize = new Map<number, number>();
  /** Dirty pages without a block yet (delayed allocation), per file. */
  private readonly delalloc = new Map<number, Set<number>>();
  /** Blocks reserved per file: its delalloc pages plus one for an extent block it may need. */
  private readonly reservation = new Map<number, number>();
  private reservedBlocks = 0;
  private freeBlocks = 0;
  /** Freed in the running transaction: unusable until it commits. */
  private readonly freedRunning = new Set<number>();
  /** Freed and committed, but a journaled image exists: unusable until the next checkpoint. */
  private readonly quarantine = new Set<number>();
  /** Metadata blocks dirty in the running transaction. */
  private readonly dirtyMeta = new Set<number>();
  /** 'writeback' mode: data of newly allocated blocks, written after the next commit. */
  private readonly pendingData = new Map<number, Uint8Array>();
  private allocCursor: number;
  /**
   * Per-inode preallocation windows (ext4 mballoc's inode preallocation, in memory only):
   * a file growing by appends takes the next block of its window, so files written in
   * turn do not interleave block by block. `windowOwner` maps each reserved, still free
   * block to its inode; other allocations skip those blocks unless nothing else is free.
   */
  private readonly windows = new Map<number, { next: number; end: number }>();
  private readonly windowOwner = new Map<number, number>();
  private inodeCursor = ROOT_INO + 1;
  private readonly handles = new Map<number, HandleState>();
  private nextFileId = 1;
  private frozen = false;
  private dead = false;
  private readonly thawWaiters: (() => void)[] = [];
  private commitTimer: TimerHandle | undefined;
  private commitCount = 0;
  private checkpointCount = 0;
  private readonly opMaxMeta: number;

  private constructor(device: BlockDevice, options: MountOptions, sb: Superblock, volume: Volume, journalStart: { pos: number; seq: number }) {
    this.device = device;
    this.clock = options.clock;
    this.queue = options.queue;
    this.history = options.history;
    this.label = options.label ?? 'fs';
    this.dataMode = options.dataMode ?? 'ordered';
    this.commitIntervalUs = options.commitIntervalUs ?? sToUs(5);
    assert(this.commitIntervalUs >= 0, 'commit interval must not be negative');
    this.sb = sb;
    this.g = sb.geometry;
    this.volume = volume;
    this.bitmapBits = packBitmap(volume.used);
    this.allocCursor = this.g.dataStart;
    this.opMaxMeta = opMaxMetaBlocks(this.g.bitmapBlocks);
    this.journal = new JournalWriter({
      device, geometry: this.g, startPos: journalStart.pos, startSeq: journalStart.seq,
      persistTail: (tailPos, tailSeq) => {
        this.writeSuperblock({ journalTailPos: tailPos, journalTailSeq: tailSeq });
        this.device.flush();
      },
    });
    assert(this.opMaxMeta <= this.journal.maxTransactionBlocks, 'journal cannot hold one operation');
    for (let b = this.g.dataStart; b < this.g.totalBlocks; b++) if (volume.used[b] === 0) this.freeBlocks++;
    for (let ino = 1; ino < volume.inodes.length; ino++) {
      const inode = volume.inodes[ino] as Inode;
      if (inode.type === 'free') continue;
      if (inode.extentBlock !== 0) this.metaOwner.set(inode.extentBlock, { kind: 'extent', ino });
    }
    for (const [ino, blocks] of volume.dirs) {
      const index = new Map<string, { block: DirBlock; slot: number }>();
      for (const block of blocks) {
        this.metaOwner.set(block.block, { kind: 'dir', ino, block });
        block.slots.forEach((entry, slot) => { if (entry !== undefined) index.set(entry.name, { block, slot }); });
      }
      this.names.set(ino, index);
    }
    this.cache = new PageCache({
      clock: this.clock, queue: this.queue, policy: options.writeback ?? LINUX_WRITEBACK, timerLabel: `${this.label}:flusher`,
      backend: { readPage: (key, index, into) => this.readPage(key, index, into), writePages: (key, pages) => this.writePages(key, pages) },
      ...options.cacheCapacityPages === undefined ? {} : { capacityPages: options.cacheCapacityPages },
      ...options.dirtyLimitPages === undefined ? {} : { dirtyLimitPages: options.dirtyLimitPages },
    });
    if (this.commitIntervalUs > 0) this.scheduleCommit();
  }

  /**
   * Mounts the file system on `device`: picks the newest valid superblock, replays the
   * committed journal transactions (written home and flushed), checks the volume, and
   * starts the periodic commit and the flusher.
   */
  static mount(device: BlockDevice, options: MountOptions): Result<FileSystem, MountError> {
    const choice = readSuperblock(device);
    if (!choice.ok) return err({ kind: 'no-filesystem', problems: choice.error });
    const sb = choice.value.sb;
    const scan = scanJournal(device, sb);
    if (scan.problems.length > 0) return err({ kind: 'corrupt', problems: scan.problems });
    const images = replayImages(scan.transactions);
    const view = images.size > 0 ? new OverlayReader(device, images) : device;
    const decoded = decodeVolume(view, sb.geometry);
    const problems = [...decoded.problems];
    if (problems.length === 0 && options.check !== false) problems.push(...volumeProblems(decoded.volume, sb.rootIno));
    if (problems.length > 0) return err({ kind: 'corrupt', problems });
    // Replay for real: home writes, flush, then the superblock with the tail past them.
    const targets = [...images.keys()].sort((a, b) => a - b);
    for (const t of targets) device.write(t * BLOCK_BYTES, images.get(t) as Uint8Array);
    if (targets.length > 0) device.flush();
    // The superblock goes to the other copy than the one read (seq % 2), before any timer
    // starts: a crash during mount leaves nothing running.
    const mounted: Superblock = { ...sb, seq: sb.seq + 1, journalTailPos: scan.endPos, journalTailSeq: scan.nextSeq, clean: false, mountCount: (sb.mountCount + 1) >>> 0 };
    device.write((mounted.seq % 2) * BLOCK_BYTES, encodeSuperblock(mounted));
    device.flush();
    const fs = new FileSystem(device, options, mounted, decoded.volume, { pos: scan.endPos, seq: scan.nextSeq });
    fs.record(STORAGE_EVENTS.fsMount, { replayedTransactions: scan.transactions.length, mountCount: mounted.mountCount, dataMode: fs.dataMode });
    return ok(fs);
  }

  // -------------------------------------------------------------------------------------
  // Namespace

  mkdir(path: string): Result<void, FsError> {
    const start = this.beginMutation();
    if (!start.ok) return start;
    const parent = this.parentOf(path);
    if (!parent.ok) return parent;
    const { dirIno, name } = parent.value;
    if (this.names.get(dirIno)?.has(name) === true) return err({ kind: 'exists', path });
    const room = this.prepareEntry(dirIno, path);
    if (!room.ok) return room;
    const ino = this.allocInode();
    if (ino === undefined) return err({ kind: 'no-inodes' });
    const inode = this.inode(ino);
    Object.assign(inode, { type: 'dir', linkCount: 2, generation: (inode.generation + 1) >>> 0, sizeBytes: 0, parentIno: dirIno, extents: [], extentBlock: 0 });
    this.volume.dirs.set(ino, []);
    this.names.set(ino, new Map());
    this.markInode(ino);
    this.addEntry(dirIno, { ino, name });
    this.inode(dirIno).linkCount++;
    this.markInode(dirIno);
    return ok(undefined);
  }

  /** Creates a new file (fails with 'exists') and opens it. */
  create(path: string, options: Omit<OpenOptions, 'create'> = {}): Result<FileHandle, FsError> {
    this.assertAlive();
    const existing = this.lookup(path);
    if (existing.ok) return err({ kind: 'exists', path });
    return this.open(path, { ...options, create: true });
  }

  open(path: string, options: OpenOptions = {}): Result<FileHandle, FsError> {
    this.assertAlive();
    const found = this.lookup(path);
    let ino: number;
    if (found.ok) {
      if (this.inode(found.value).type === 'dir') return err({ kind: 'is-a-directory', path });
      ino = found.value;
    } else {
      if (found.error.kind !== 'not-found' || options.create !== true) return found;
      const start = this.beginMutation();
      if (!start.ok) return start;
      const parent = this.parentOf(path);
      if (!parent.ok) return parent;
      const room = this.prepareEntry(parent.value.dirIno, path);
      if (!room.ok) return room;
      const allocated = this.allocInode();
      if (allocated === undefined) return err({ kind: 'no-inodes' });
      ino = allocated;
      const inode = this.inode(ino);
      Object.assign(inode, { type: 'file', linkCount: 1, generation: (inode.generation + 1) >>> 0, sizeBytes: 0, parentIno: 0, extents: [], extentBlock: 0 });
      this.markInode(ino);
      this.addEntry(parent.value.dirIno, { ino, name: parent.value.name });
      if (options.writeThrough === true) this.commit('write-through');
    }
    assert(this.handles.size < MAX_HANDLES, `more than ${MAX_HANDLES} open handles`);
    const fileId = this.nextFileId++ as FileId;
    const writeThrough = options.writeThrough === true;
    const generation = this.inode(ino).generation;
    this.handles.set(fileId, { ino, generation, writeThrough });
    return ok({ fileId, ino, generation, path, writeThrough });
  }

  /** Forgets a handle (closing flushes nothing, as on Linux). */
  close(handle: FileHandle): void {
    this.assertAlive();
    this.handles.delete(handle.fileId);
  }

  unlink(path: string): Result<void, FsError> {
    const start = this.beginMutation();
    if (!start.ok) return start;
    const parent = this.parentOf(path);
    if (!parent.ok) return parent;
    const at = this.names.get(parent.value.dirIno)?.get(parent.value.name);
    if (at === undefined) return err({ kind: 'not-found', path });
    const ino = (at.block.slots[at.slot] as DirEntry).ino;
    if (this.inode(ino).type === 'dir') return err({ kind: 'is-a-directory', path });
    this.removeEntry(parent.value.dirIno, parent.value.name);
    this.releaseFile(ino);
    return ok(undefined);
  }

  /** Removes an empty directory. */
  rmdir(path: string): Result<void, FsError> {
    const start = this.beginMutation();
    if (!start.ok) return start;
    const parent = this.parentOf(path);
    if (!parent.ok) return parent;
    const at = this.names.get(parent.value.dirIno)?.get(parent.value.name);
    if (at === undefined) return err({ kind: 'not-found', path });
    const ino = (at.block.slots[at.slot] as DirEntry).ino;
    if (this.inode(ino).type !== 'dir') return err({ kind: 'not-a-directory', path });
    if ((this.names.get(ino)?.size ?? 0) > 0) return err({ kind: 'not-empty', path });
    this.removeEntry(parent.value.dirIno, parent.value.name);
    this.releaseDir(ino);
    return ok(undefined);
  }

  /** Moves `from` to `to`, replacing a file or an empty directory there (atomic: one transaction). */
  rename(from: string, to: string): Result<void, FsError> {
    const start = this.beginMutation();
    if (!start.ok) return start;
    const src = this.parentOf(from);
    if (!src.ok) return src;
    const dst = this.parentOf(to);
    if (!dst.ok) return dst;
    const srcAt = this.names.get(src.value.dirIno)?.get(src.value.name);
    if (srcAt === undefined) return err({ kind: 'not-found', path: from });
    const ino = (srcAt.block.slots[srcAt.slot] as DirEntry).ino;
    const moving = this.inode(ino);
    if (moving.type === 'dir') {
      // A directory may not move below itself: walk up from the destination (bounded by depth).
      let up = dst.value.dirIno;
      for (let depth = 0; depth <= this.g.inodeCount; depth++) {
        if (up === ino) return err({ kind: 'busy', path: to, reason: 'a directory cannot move below itself' });
        if (up === ROOT_INO) break;
        up = this.inode(up).parentIno;
      }
    }
    const dstAt = this.names.get(dst.value.dirIno)?.get(dst.value.name);
    if (dstAt !== undefined) {
      const targetIno = (dstAt.block.slots[dstAt.slot] as DirEntry).ino;
      if (targetIno === ino) return ok(undefined);
      const target = this.inode(targetIno);
      if (target.type === 'dir' && moving.type !== 'dir') return err({ kind: 'is-a-directory', path: to });
      if (target.type !== 'dir' && moving.type === 'dir') return err({ kind: 'not-a-directory', path: to });
      if (target.type === 'dir' && (this.names.get(targetIno)?.size ?? 0) > 0) return err({ kind: 'not-empty', path: to });
      this.removeEntry(dst.value.dirIno, dst.value.name);
      if (target.type === 'dir') this.releaseDir(targetIno);
      else this.releaseFile(targetIno);
    } else {
      const room = this.prepareEntry(dst.value.dirIno, to);
      if (!room.ok) return room;
    }
    this.removeEntry(src.value.dirIno, src.value.name);
    this.addEntry(dst.value.dirIno, { ino, name: dst.value.name });
    if (moving.type === 'dir' && src.value.dirIno !== dst.value.dirIno) {
      moving.parentIno = dst.value.dirIno;
      this.markInode(ino);
      this.inode(src.value.dirIno).linkCount--;
      this.markInode(src.value.dirIno);
      this.inode(dst.value.dirIno).linkCount++;
      this.markInode(dst.value.dirIno);
    }
    return ok(undefined);
  }

  /** Names in a directory, sorted. */
  readdir(path: string): Result<string[], FsError> {
    this.assertAlive();
    const found = this.lookup(path);
    if (!found.ok) return found;
    if (this.inode(found.value).type !== 'dir') return err({ kind: 'not-a-directory', path });
    return ok([...(this.names.get(found.value)?.keys() ?? [])].sort());
  }

  stat(path: string): Result<FileStat, FsError> {
    this.assertAlive();
    const found = this.lookup(path);
    if (!found.ok) return found;
    const ino = found.value;
    const inode = this.inode(ino);
    const type = inode.type === 'dir' ? 'dir' : 'file';
    return ok({
      type, ino, generation: inode.generation, sizeBytes: this.sizeOf(ino), diskSizeBytes: inode.sizeBytes,
      linkCount: inode.linkCount, allocatedBlocks: blocksOf(inode.extents), dirtyPages: this.cache.dirtyIndexes(ino).length,
    });
  }

  // -------------------------------------------------------------------------------------
  // File data

  write(handle: FileHandle, offsetBytes: number, data: Uint8Array): Result<number, FsError> {
    this.assertAlive();
    if (this.frozen) return err({ kind: 'frozen' });
    const state = this.handleState(handle);
    if (!state.ok) return state;
    const ino = state.value.ino;
    if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0 || offsetBytes + data.length > MAX_FILE_BYTES || data.length > MAX_IO_BYTES) {
      return err({ kind: 'invalid-argument', reason: `write of ${data.length} bytes at ${offsetBytes}` });
    }
    if (data.length === 0) return ok(0);
    // A gap between the end and this write must read as zeros, on disk too.
    if (offsetBytes > this.sizeOf(ino)) this.zeroBlockTail(ino, this.sizeOf(ino));
    if (state.value.writeThrough) return this.writeThrough(ino, offsetBytes, data);
    const firstPage = Math.floor(offsetBytes / PAGE_BYTES);
    const lastPage = Math.floor((offsetBytes + data.length - 1) / PAGE_BYTES);
    let written = 0;
    // Half the dirty limit per chunk keeps the dirty count within 1.5 times the limit.
    const chunkPages = Math.max(1, Math.min(MAX_WRITE_CHUNK_PAGES, Math.floor(this.cache.dirtyLimitPages / 2)));
    for (let chunkStart = firstPage; chunkStart <= lastPage; chunkStart += chunkPages) {
      const chunkEnd = Math.min(lastPage, chunkStart + chunkPages - 1);
      // balance_dirty_pages: a writer over the dirty limit writes back first. A failure
      // here (no space) leaves pages dirty; this write still proceeds within its reservation.
      this.cache.throttle();
      const inode = this.inode(ino);
      const pending = this.delalloc.get(ino);
      let newPages = 0;
      for (let p = chunkStart; p <= chunkEnd; p++) {
        if (mapLogical(inode.extents, p) === undefined && pending?.has(p) !== true) newPages++;
      }
      const extra = newPages > 0 && inode.extentBlock === 0 && (pending === undefined || pending.size === 0) ? 1 : 0;
      const space = this.ensureSpace(newPages + extra);
      if (!space.ok) return written > 0 ? ok(written) : space;
      for (let p = chunkStart; p <= chunkEnd; p++) {
        const from = Math.max(offsetBytes, p * PAGE_BYTES);
        const to = Math.min(offsetBytes + data.length, (p + 1) * PAGE_BYTES);
        const mapped = mapLogical(inode.extents, p) !== undefined;
        this.cache.write(ino, p, from - p * PAGE_BYTES, data.subarray(from - offsetBytes, to - offsetBytes));
        if (!mapped) this.addDelalloc(ino, p);
        written += to - from;
        this.setLiveSize(ino, Math.max(this.sizeOf(ino), to));
      }
      this.updateReservation(ino);
    }
    return ok(written);
  }

  read(handle: FileHandle, offsetBytes: number, lengthBytes: number): Result<Uint8Array, FsError> {
    this.assertAlive();
    const state = this.handleState(handle);
    if (!state.ok) return state;
    if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0 || !Number.isSafeInteger(lengthBytes) || lengthBytes < 0) {
      return err({ kind: 'invalid-argument', reason: `read of ${lengthBytes} bytes at ${offsetBytes}` });
    }
    const ino = state.value.ino;
    const end = Math.min(this.sizeOf(ino), offsetBytes + lengthBytes);
    if (end - offsetBytes > MAX_IO_BYTES) return err({ kind: 'invalid-argument', reason: `read of ${end - offsetBytes} bytes exceeds ${MAX_IO_BYTES}` });
    if (end <= offsetBytes) return ok(new Uint8Array(0));
    const out = new Uint8Array(end - offsetBytes);
    for (let p = Math.floor(offsetBytes / PAGE_BYTES); p * PAGE_BYTES < end; p++) {
      const page = this.cache.read(ino, p);
      const from = Math.max(offsetBytes, p * PAGE_BYTES);
      const to = Math.min(end, (p + 1) * PAGE_BYTES);
      out.set(page.subarray(from - p * PAGE_BYTES, to - p * PAGE_BYTES), from - offsetBytes);
    }
    return ok(out);
  }

  size(handle: FileHandle): Result<number, FsError> {
    this.assertAlive();
    const state = this.handleState(handle);
    if (!state.ok) return state;
    return ok(this.sizeOf(state.value.ino));
  }

  truncate(handle: FileHandle, sizeBytes: number): Result<void, FsError> {
    const start = this.beginMutation();
    if (!start.ok) return start;
    const state = this.handleState(handle);
    if (!state.ok) return state;
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0 || sizeBytes > MAX_FILE_BYTES) return err({ kind: 'invalid-argument', reason: `truncate to ${sizeBytes}` });
    const ino = state.value.ino;
    const inode = this.inode(ino);
    const old = this.sizeOf(ino);
    const keepPages = Math.ceil(sizeBytes / PAGE_BYTES);
    // Before any metadata change (the writeback inside may commit the running transaction).
    if (sizeBytes !== old) this.zeroBlockTail(ino, Math.min(sizeBytes, old));
    inode.sizeBytes = sizeBytes;
    this.liveSize.delete(ino);
    this.markInode(ino);
    if (sizeBytes < old) {
      this.cache.truncate(ino, keepPages);
      const pending = this.delalloc.get(ino);
      if (pending !== undefined) for (const p of [...pending]) if (p >= keepPages) pending.delete(p);
      this.trimExtents(ino, keepPages);
      this.updateReservation(ino);
    }
    if (state.value.writeThrough) this.commit('write-through');
    return ok(undefined);
  }

  /** Writes back the file's dirty pages, commits the journal and flushes the disk. */
  fsync(handle: FileHandle): Result<void, FsError> {
    this.assertAlive();
    const state = this.handleState(handle);
    if (!state.ok) return state;
    const report = this.cache.writebackFile(state.value.ino);
    if (report.error !== undefined) return err(report.error);
    this.commit('fsync');
    this.device.flush();
    this.record(STORAGE_EVENTS.fsFsync, { ino: state.value.ino, pages: report.writtenPages });
    return ok(undefined);
  }

  /** Writes back everything, commits and flushes. Does not checkpoint (replay may be needed). */
  sync(): Result<void, FsError> {
    this.assertAlive();
    const report = this.cache.writebackAll();
    if (report.error !== undefined) return err(report.error);
    this.commit('sync');
    this.device.flush();
    this.record(STORAGE_EVENTS.fsSync, { pages: report.writtenPages });
    return ok(undefined);
  }

  // -------------------------------------------------------------------------------------
  // Freeze, unmount, crash

  get isFrozen(): boolean {
    return this.frozen;
  }

  /** FIFREEZE: after it returns the disk image needs no journal replay, and mutations wait. */
  freeze(): Result<void, FsError> {
    this.assertAlive();
    if (this.frozen) return err({ kind: 'already-frozen' });
    const quiesced = this.quiesce();
    if (!quiesced.ok) return quiesced;
    this.frozen = true;
    this.cache.setPaused(true);
    this.record(STORAGE_EVENTS.fsFreeze, { superblockSeq: this.sb.seq });
    return ok(undefined);
  }

  thaw(): Result<void, FsError> {
    this.assertAlive();
    if (!this.frozen) return err({ kind: 'not-frozen' });
    this.frozen = false;
    this.cache.setPaused(false);
    this.record(STORAGE_EVENTS.fsThaw, { waiters: this.thawWaiters.length });
    const waiters = this.thawWaiters.splice(0);
    for (const waiter of waiters) this.queue.after(0, `${this.label}:thaw-waiter`, waiter);
    return ok(undefined);
  }

  /** Runs `callback` (from the event queue) once the file system is not frozen. */
  onThaw(callback: () => void): void {
    this.assertAlive();
    if (!this.frozen) {
      this.queue.after(0, `${this.label}:thaw-waiter`, callback);
      return;
    }
    assert(this.thawWaiters.length < MAX_THAW_WAITERS, `more than ${MAX_THAW_WAITERS} thaw waiters`);
    this.thawWaiters.push(callback);
  }

  /** Clean unmount: like freeze, then the object is closed. A frozen file system is busy. */
  unmount(): Result<void, FsError> {
    this.assertAlive();
    if (this.frozen) return err({ kind: 'frozen' });
    const quiesced = this.quiesce();
    if (!quiesced.ok) return quiesced;
    this.stopTimers();
    this.cache.stop();
    this.dead = true;
    return ok(undefined);
  }

  /** Power loss of the guest: memory and timers are lost; the object is dead. */
  crash(): void {
    if (this.dead) return;
    this.stopTimers();
    this.cache.crash();
    this.dead = true;
  }

  /** The volume's layout, as mkfs wrote it. */
  get geometry(): Geometry {
    return this.g;
  }

  /** Pages written and not yet on the disk (cheap: stats() also walks the dirty pages for the oldest). */
  get dirtyPages(): number {
    return this.cache.dirtyPages;
  }

  get isDead(): boolean {
    return this.dead;
  }

  stats(): FsStats {
    const cache = this.cache.stats();
    return {
      dirtyPages: cache.dirtyPages, dirtyBytes: cache.dirtyBytes, cachedPages: cache.cachedPages,
      journalUsedBlocks: this.journal.usedBlocks, journalSizeBlocks: this.journal.sizeBlocks,
      runningTransactionBlocks: this.dirtyMeta.size, checkpointPendingBlocks: this.journal.checkpointBlocks,
      freeBlocks: this.freeBlocks, reservedBlocks: this.reservedBlocks, commits: this.commitCount,
      checkpoints: this.checkpointCount, frozen: this.frozen,
    };
  }

  // -------------------------------------------------------------------------------------
  // Internals: lifecycle

  private assertAlive(): void {
    assert(!this.dead, `file system ${this.label} used after crash or unmount`);
  }

  /** Every mutation starts here: alive, not frozen, and room in the running transaction. */
  private beginMutation(): Result<void, FsError> {
    this.assertAlive();
    if (this.frozen) return err({ kind: 'frozen' });
    this.ensureJournalRoom();
    return ok(undefined);
  }

  /** Commits first when the next operation might not fit in the running transaction. */
  private ensureJournalRoom(): void {
    if (this.dirtyMeta.size + this.opMaxMeta > this.journal.maxTransactionBlocks) this.commit('full');
  }

  private quiesce(): Result<void, FsError> {
    const report = this.cache.writebackAll();
    if (report.error !== undefined) return err(report.error);
    this.commit('quiesce');
    this.sb = { ...this.sb, clean: true };
    this.checkpoint();
    return ok(undefined);
  }

  private stopTimers(): void {
    if (this.commitTimer !== undefined) this.queue.cancel(this.commitTimer);
    this.commitTimer = undefined;
  }

  private scheduleCommit(): void {
    this.commitTimer = this.queue.after(this.commitIntervalUs, `${this.label}:commit`, () => {
      this.commitTimer = undefined;
      if (this.dead) return;
      if (!this.frozen) this.commit('timer');
      this.scheduleCommit();
    });
  }

  private record(kind: string, data: { readonly [key: string]: number | string | boolean }): void {
    this.history?.record({ kind, subject: this.label, data });
  }

  // -------------------------------------------------------------------------------------
  // Internals: journal

  private writeSuperblock(changes: Partial<Omit<Superblock, 'seq' | 'geometry'>>): void {
    this.sb = { ...this.sb, ...changes, seq: this.sb.seq + 1 };
    // Encoded into a reused buffer: the device copies it.
    const image = encodeSuperblockInto(this.superblockScratch, this.sb);
    this.device.write((this.sb.seq % 2) * BLOCK_BYTES, image);
  }

  /** Commits the running transaction (no-op when it is empty). */
  private commit(reason: string): void {
    if (this.dirtyMeta.size === 0 && this.freedRunning.size === 0 && this.pendingData.size === 0) return;
    this.refreshCachedImages();
    const images: [number, Uint8Array][] = [];
    for (const b of sortSmall([...this.dirtyMeta])) {
      const image = this.encodeMeta(b);
      if (image !== undefined) images.push([b, image]);
    }
    this.dirtyMeta.clear();
    let seq = -1;
    if (images.length > 0) {
      if (!this.journal.fits(images.length)) this.checkpoint();
      // A superblock still marked clean (after a freeze or mkfs) must not claim so once the
      // journal holds a transaction; the commit's flush makes this durable along with it.
      if (this.sb.clean) this.writeSuperblock({ clean: false });
      seq = this.journal.commit(images).seq;
      this.commitCount++;
    }
    for (const b of this.freedRunning) {
      if (this.journal.holdsImageOf(b)) this.quarantine.add(b);
    }
    this.freedRunning.clear();
    // 'writeback' mode: data of new blocks goes out after the metadata that points at it.
    if (this.pendingData.size > 0) {
      const pending = [...this.pendingData.entries()].sort((a, b) => a[0] - b[0]);
      for (const [b, data] of pending) this.device.write(b * BLOCK_BYTES, data);
      this.pendingData.clear();
    }
    if (seq >= 0) this.record(STORAGE_EVENTS.fsCommit, { seq, blocks: images.length, reason, journalUsedBlocks: this.journal.usedBlocks });
  }

  private checkpoint(): void {
    const blocks = this.journal.checkpoint();
    this.quarantine.clear();
    this.checkpointCount++;
    this.record(STORAGE_EVENTS.fsCheckpoint, { blocks, tailSeq: this.journal.tailSeq, clean: this.sb.clean });
  }

  /** The current image of a metadata block, or undefined when it is no longer metadata. */
  private encodeMeta(b: number): Uint8Array | undefined {
    const region = regionOf(this.g, b);
    if (region === 'bitmap') {
      const cached = this.bitmapImages.get(b);
      if (cached !== undefined) return cached.image;
      const image = encodeBitmapBits(this.g, b - this.g.bitmapStart, this.bitmapBits);
      this.bitmapImages.set(b, cacheImage(image));
      return image;
    }
    if (region === 'inode-table') {
      const cached = this.inodeImages.get(b);
      if (cached !== undefined) return cached.image;
      const image = encodeInodeBlock(this.g, b - this.g.inodeTableStart, (ino) => this.inodeImageAt(ino));
      this.inodeImages.set(b, cacheImage(image));
      return image;
    }
    if (region !== 'data') assert(false, `metadata block ${b} in region ${region}`);
    const owner = this.metaOwner.get(b);
    if (owner === undefined) return undefined; // freed in this transaction
    if (owner.kind === 'dir') {
      const cached = this.dirImages.get(b);
      if (cached !== undefined) return cached.image;
      const image = encodeDirBlock(b, owner.ino, owner.block.slots);
      this.dirImages.set(b, cacheImage(image));
      return image;
    }
    const inode = this.inode(owner.ino);
    return encodeExtentBlock(b, { ownerIno: owner.ino, ownerGeneration: inode.generation, extents: inode.extents.slice(INLINE_EXTENTS) });
  }

  /** What encodeInodeBlock stores for inode number `ino` (undefined: the slot is never used). */
  private inodeImageAt(ino: number): InodeImage | undefined {
    return ino <= this.g.inodeCount && ino > 0 ? this.volume.inodes[ino] : undefined;
  }

  /**
   * Brings the cached inode-table, bitmap and directory images up to date with the inodes,
   * bitmap bytes and directory slots changed in the running transaction: only those are
   * re-encoded, and each block's CRC is updated from the changed bytes alone (crc32XorUpdate).
   */
  private refreshCachedImages(): void {
    const delta = this.slotDelta;
    for (const ino of this.dirtyInodes) {
      const cached = this.inodeImages.get(inodeBlockOf(this.g, ino));
      if (cached === undefined) continue; // encoded whole at its first commit
      const o = inodeSlotOffset(ino);
      encodeInodeSlot(this.slotView, 0, this.inodeImageAt(ino));
      let changed = 0;
      for (let i = 0; i < INODE_BYTES; i++) {
        const d = (this.slotScratch[i] as number) ^ (cached.image[o + i] as number);
        delta[i] = d;
        changed |= d;
      }
      if (changed === 0) continue;
      cached.view.setUint32(12, crc32XorUpdate(sealOf(cached), delta, o, BLOCK_BYTES), true);
      cached.image.set(this.slotScratch, o);
    }
    this.dirtyInodes.clear();
    if (this.dirtyBitmapBytes.size > MAX_BITMAP_BYTE_UPDATES) {
      // A large free or allocation: re-encoding the blocks whole is cheaper.
      this.bitmapImages.clear();
    } else {
      const one = delta.subarray(0, 1);
      for (const byte of this.dirtyBitmapBytes) {
        const cached = this.bitmapImages.get(this.g.bitmapStart + Math.floor(byte / PAYLOAD_BYTES));
        if (cached === undefined) continue;
        const o = HEADER_BYTES + (byte % PAYLOAD_BYTES);
        const now = this.bitmapBits[byte] as number;
        const d = now ^ (cached.image[o] as number);
        if (d === 0) continue;
        one[0] = d;
        cached.view.setUint32(12, crc32XorUpdate(sealOf(cached), one, o, BLOCK_BYTES), true);
        cached.image[o] = now;
      }
    }
    this.dirtyBitmapBytes.clear();
    const dirs = this.dirtyDirSlots;
    for (let i = 0; i + 1 < dirs.length; i += 2) {
      const b = dirs[i] as number;
      const cached = this.dirImages.get(b);
      const owner = this.metaOwner.get(b);
      if (cached === undefined || owner?.kind !== 'dir') continue; // encoded whole at its first commit
      const o = dirSlotOffset(dirs[i + 1] as number);
      encodeDirSlot(this.slotScratch, this.slotView, 0, owner.block.slots[dirs[i + 1] as number]);
      let changed = 0;
      for (let k = 0; k < DIR_ENTRY_BYTES; k++) {
        const d = (this.slotScratch[k] as number) ^ (cached.image[o + k] as number);
        delta[k] = d;
        changed |= d;
      }
      if (changed === 0) continue;
      cached.view.setUint32(12, crc32XorUpdate(sealOf(cached), delta.subarray(0, DIR_ENTRY_BYTES), o, BLOCK_BYTES), true);
      cached.image.set(this.slotScratch.subarray(0, DIR_ENTRY_BYTES), o);
    }
    dirs.length = 0;
  }

  private markInode(ino: number): void {
    this.dirtyInodes.add(ino);
    this.dirtyMeta.add(inodeBlockOf(this.g, ino));
    const inode = this.inode(ino);
    if (inode.extentBlock !== 0) this.dirtyMeta.add(inode.extentBlock);
  }

  // -------------------------------------------------------------------------------------
  // Internals: space

  /** Blocks the allocator may hand out now. */
  private allocatable(): number {
    return this.freeBlocks - this.freedRunning.size - this.quarantine.size;
  }

  /**
   * Makes sure `blocks` more can be allocated beyond what is reserved. When freed blocks
   * wait for a commit or checkpoint, does those first (between operations, so every
   * transaction still holds whole operations).
   */
  private ensureSpace(blocks: number): Result<void, FsError> {
    if (this.allocatable() - this.reservedBlocks >= blocks) return ok(undefined);
    if (this.freedRunning.size + this.quarantine.size > 0) {
      this.commit('space');
      if (this.quarantine.size > 0) this.checkpoint();
    }
    if (this.allocatable() - this.reservedBlocks >= blocks) return ok(undefined);
    return err({ kind: 'no-space', detail: `${blocks} blocks needed, ${Math.max(0, this.allocatable() - this.reservedBlocks)} available` });
  }

  private usable(b: number): boolean {
    return this.volume.used[b] === 0 && !this.freedRunning.has(b) && !this.quarantine.has(b);
  }

  /**
   * Allocates one block, the first usable at or after `goal` (wrapping), skipping blocks in
   * other inodes' preallocation windows unless nothing else is left. Caller checked space.
   */
  private allocBlock(goal: number, ino = 0): number {
    const g = this.g;
    const start = goal >= g.dataStart && goal < g.totalBlocks ? goal : this.allocCursor;
    const free = (b: number): boolean => {
      if (!this.usable(b)) return false;
      const owner = this.windowOwner.get(b);
      return owner === undefined || owner === ino;
    };
    let found = -1;
    for (let b = start; b < g.totalBlocks && found < 0; b++) if (free(b)) found = b;
    for (let b = g.dataStart; b < start && found < 0; b++) if (free(b)) found = b;
    if (found < 0) {
      // Only other files' windows are left: take from them (preallocation is advisory).
      for (let b = g.dataStart; b < g.totalBlocks && found < 0; b++) if (this.usable(b)) found = b;
    }
    assert(found >= 0, 'no usable block although space was checked');
    this.takeBlock(found);
    this.allocCursor = found + 1 < g.totalBlocks ? found + 1 : g.dataStart;
    return found;
  }

  private takeBlock(b: number): void {
    this.windowOwner.delete(b);
    this.volume.used[b] = 1;
    this.bitmapBits[b >>> 3] = (this.bitmapBits[b >>> 3] as number) | (1 << (b & 7));
    this.dirtyBitmapBytes.add(b >>> 3);
    this.freeBlocks--;
    this.dirtyMeta.add(bitmapBlockOf(this.g, b));
  }

  /** The next data block of `ino` after `goal`: the goal itself, its window, or a new window. */
  private allocDataBlock(ino: number, goal: number): number {
    const g = this.g;
    const owner = this.windowOwner.get(goal);
    if (goal >= g.dataStart && goal < g.totalBlocks && this.usable(goal) && (owner === undefined || owner === ino)) {
      const w = this.windows.get(ino);
      if (w !== undefined && goal >= w.next && goal < w.end) w.next = goal + 1;
      this.takeBlock(goal);
      return goal;
    }
    const w = this.windows.get(ino);
    if (w !== undefined) {
      while (w.next < w.end && !(this.usable(w.next) && this.windowOwner.get(w.next) === ino)) w.next++;
      if (w.next < w.end) {
        const b = w.next++;
        this.takeBlock(b);
        return b;
      }
      this.dropWindow(ino);
    }
    // A new window: the first run of WINDOW_BLOCKS free, unreserved blocks from the cursor.
    let run = 0;
    for (let i = 0, b = this.allocCursor; i < g.totalBlocks - g.dataStart; i++, b = b + 1 < g.totalBlocks ? b + 1 : g.dataStart) {
      if (b === g.dataStart) run = 0;
      run = this.usable(b) && !this.windowOwner.has(b) ? run + 1 : 0;
      if (run === WINDOW_BLOCKS) {
        const first = b - WINDOW_BLOCKS + 1;
        for (let x = first + 1; x <= b; x++) this.windowOwner.set(x, ino);
        this.windows.set(ino, { next: first + 1, end: b + 1 });
        this.takeBlock(first);
        this.allocCursor = b + 1 < g.totalBlocks ? b + 1 : g.dataStart;
        return first;
      }
    }
    return this.allocBlock(goal, ino);
  }

  private dropWindow(ino: number): void {
    const w = this.windows.get(ino);
    if (w === undefined) return;
    for (let b = w.next; b < w.end; b++) if (this.windowOwner.get(b) === ino) this.windowOwner.delete(b);
    this.windows.delete(ino);
  }

  private freeBlock(b: number): void {
    assert(this.volume.used[b] === 1 && b >= this.g.dataStart, `freeing block ${b} that is not in use`);
    this.volume.used[b] = 0;
    this.bitmapBits[b >>> 3] = (this.bitmapBits[b >>> 3] as number) & ~(1 << (b & 7));
    this.dirtyBitmapBytes.add(b >>> 3);
    this.freeBlocks++;
    this.freedRunning.add(b);
    this.dirtyMeta.add(bitmapBlockOf(this.g, b));
    this.pendingData.delete(b);
    this.metaOwner.delete(b);
    this.dirImages.delete(b);
  }

  private addDelalloc(ino: number, page: number): void {
    let set = this.delalloc.get(ino);
    if (set === undefined) {
      set = new Set();
      this.delalloc.set(ino, set);
    }
    set.add(page);
  }

  /** Recomputes a file's reservation: its delalloc pages, plus one extent block if it has none. */
  private updateReservation(ino: number): void {
    const pages = this.delalloc.get(ino)?.size ?? 0;
    if (pages === 0) this.delalloc.delete(ino);
    const wanted = pages === 0 ? 0 : pages + (this.inode(ino).extentBlock === 0 ? 1 : 0);
    const had = this.reservation.get(ino) ?? 0;
    this.reservedBlocks += wanted - had;
    if (wanted === 0) this.reservation.delete(ino);
    else this.reservation.set(ino, wanted);
    assert(this.reservedBlocks >= 0, 'negative reservation');
  }

  /**
   * Maps file block `logical` of `ino` to a new physical block, next to its neighbour when
   * possible. Fails (allocating nothing) when the inode would need more extents than fit.
   */
  private placeBlock(ino: number, logical: number): Result<number, FsError> {
    const inode = this.inode(ino);
    const before = mapLogical(inode.extents, logical - 1);
    const last = inode.extents[inode.extents.length - 1];
    const goal = before !== undefined ? before + 1 : last !== undefined ? last.physical + last.length : this.allocCursor;
    const b = this.allocDataBlock(ino, goal);
    const added = insertExtent(inode.extents, logical, b);
    if (added.length > MAX_EXTENTS) {
      this.freeBlock(b);
      return err({ kind: 'no-space', detail: `inode ${ino} would need more than ${MAX_EXTENTS} extents` });
    }
    inode.extents = added;
    if (added.length > INLINE_EXTENTS && inode.extentBlock === 0) {
      inode.extentBlock = this.allocBlock(b + 1);
      this.metaOwner.set(inode.extentBlock, { kind: 'extent', ino });
    }
    this.markInode(ino);
    return ok(b);
  }

  /** Frees every block of `ino` at file block `fromLogical` and later. */
  private trimExtents(ino: number, fromLogical: number): void {
    const inode = this.inode(ino);
    const kept: Extent[] = [];
    for (const e of inode.extents) {
      if (e.logical + e.length <= fromLogical) {
        kept.push(e);
        continue;
      }
      const keep = Math.max(0, fromLogical - e.logical);
      for (let k = keep; k < e.length; k++) this.freeBlock(e.physical + k);
      if (keep > 0) kept.push({ logical: e.logical, physical: e.physical, length: keep });
    }
    const hadBlock = inode.extentBlock;
    inode.extents = kept;
    if (kept.length <= INLINE_EXTENTS && hadBlock !== 0) {
      this.markInode(ino);
      inode.extentBlock = 0;
      this.freeBlock(hadBlock);
    }
    this.markInode(ino);
  }

  // -------------------------------------------------------------------------------------
  // Internals: page cache backend

  /** The page's stored content, in `into` (a page the cache reuses) when given. */
  private readPage(ino: number, index: number, into?: Uint8Array): Uint8Array {
    const inode = this.inode(ino);
    const size = this.sizeOf(ino);
    // A page wholly past the end reads as zeros, mapped or not (an append's new page).
    if (index * PAGE_BYTES >= size) return into === undefined ? allocBytes(PAGE_BYTES) : into.fill(0);
    const b = mapLogical(inode.extents, index);
    if (b === undefined) return into === undefined ? allocBytes(PAGE_BYTES) : into.fill(0);
    let data: Uint8Array;
    const pending = this.pendingData.get(b);
    if (pending !== undefined) {
      data = into ?? new Uint8Array(PAGE_BYTES);
      data.set(pending);
    } else if (into !== undefined && this.device.readInto !== undefined) {
      data = into;
      this.device.readInto(b * BLOCK_BYTES, data);
    } else {
      data = this.device.read(b * BLOCK_BYTES, BLOCK_BYTES);
    }
    // Bytes past the end (left over from before a truncate) read as zeros.
    if ((index + 1) * PAGE_BYTES > size) data.fill(0, Math.max(0, size - index * PAGE_BYTES));
    return data;
  }

  private writePages(ino: number, pages: readonly PageWrite[]): WritebackReport {
    this.assertAlive();
    const inode = this.inode(ino);
    assert(inode.type === 'file', `writeback of inode ${ino} (${inode.type})`);
    this.ensureJournalRoom();
    const pending = this.delalloc.get(ino);
    let written = 0;
    let error: WritebackReport['error'];
    for (const page of pages) {
      let b = mapLogical(inode.extents, page.index);
      if (b === undefined) {
        assert(pending?.has(page.index) === true, `dirty hole page ${page.index} of inode ${ino} has no reservation`);
        // The page's reservation covers this allocation (and the extent block, if needed).
        const placed = this.placeBlock(ino, page.index);
        if (!placed.ok) {
          error = { kind: 'no-space', detail: placed.error.kind === 'no-space' ? placed.error.detail : placed.error.kind };
          break;
        }
        pending.delete(page.index);
        this.updateReservation(ino);
        b = placed.value;
        if (this.dataMode === 'writeback') this.pendingData.set(b, page.data.slice());
        else this.device.write(b * BLOCK_BYTES, page.data);
      } else if (this.pendingData.has(b)) {
        this.pendingData.set(b, page.data.slice());
      } else {
        this.device.write(b * BLOCK_BYTES, page.data);
      }
      written++;
    }
    if (written > 0) {
      const lastIndex = (pages[written - 1] as PageWrite).index;
      const diskEnd = Math.min(this.sizeOf(ino), (lastIndex + 1) * PAGE_BYTES);
      if (diskEnd > inode.sizeBytes) {
        const live = this.sizeOf(ino);
        inode.sizeBytes = diskEnd;
        this.setLiveSize(ino, live);
        this.markInode(ino);
      }
      this.record(STORAGE_EVENTS.fsWriteback, { ino, pages: written });
    }
    return error === undefined ? { writtenPages: written } : { writtenPages: written, error };
  }

  /**
   * Zeroes the bytes of the block holding `fromBytes` from there to the block's end, in the
   * cache and (when the block is allocated) on disk at once. Called before the size moves
   * off `fromBytes` (truncate either way, a write leaving a gap): the block may hold bytes
   * past the end that were never committed (an extension lost in a crash, or bytes a
   * truncate cut off), and growing the file must not bring them back (ext4 zeroes the
   * partial block the same way). Call before changing metadata: the writeback may commit.
   */
  private zeroBlockTail(ino: number, fromBytes: number): void {
    const tail = fromBytes % PAGE_BYTES;
    if (tail === 0) return;
    const p = Math.floor(fromBytes / PAGE_BYTES);
    const mapped = mapLogical(this.inode(ino).extents, p) !== undefined;
    if (mapped || this.cache.isDirty(ino, p)) this.cache.write(ino, p, tail, ZERO_PAGE.subarray(tail));
    else this.cache.dropPage(ino, p);
    if (mapped) {
      const report = this.cache.writebackPage(ino, p);
      assert(report.error === undefined, 'writeback of a mapped page cannot fail');
    }
  }

  private writeThrough(ino: number, offsetBytes: number, data: Uint8Array): Result<number, FsError> {
    // Coherence with buffered handles: their dirty pages go first, then the cache forgets the file.
    const report = this.cache.writebackFile(ino);
    if (report.error !== undefined) return err(report.error);
    this.cache.drop(ino);
    this.ensureJournalRoom();
    const inode = this.inode(ino);
    const first = Math.floor(offsetBytes / PAGE_BYTES);
    const last = Math.floor((offsetBytes + data.length - 1) / PAGE_BYTES);
    let holes = 0;
    for (let p = first; p <= last; p++) if (mapLogical(inode.extents, p) === undefined) holes++;
    const space = this.ensureSpace(holes + (holes > 0 && inode.extentBlock === 0 ? 1 : 0));
    if (!space.ok) return space;
    let metadataChanged = false;
    for (let p = first; p <= last; p++) {
      const from = Math.max(offsetBytes, p * PAGE_BYTES);
      const to = Math.min(offsetBytes + data.length, (p + 1) * PAGE_BYTES);
      const whole = from === p * PAGE_BYTES && to === (p + 1) * PAGE_BYTES;
      // A whole page goes to the device as it is (the device copies); a partial one is merged first.
      const page = whole ? data.subarray(from - offsetBytes, to - offsetBytes) : this.readPage(ino, p);
      if (!whole) page.set(data.subarray(from - offsetBytes, to - offsetBytes), from - p * PAGE_BYTES);
      let b = mapLogical(inode.extents, p);
      if (b === undefined) {
        const placed = this.placeBlock(ino, p);
        if (!placed.ok) {
          if (metadataChanged) this.commit('write-through');
          return placed;
        }
        b = placed.value;
        metadataChanged = true;
      }
      this.pendingData.delete(b);
      this.device.write(b * BLOCK_BYTES, page, { fua: true });
    }
    const end = offsetBytes + data.length;
    if (end > this.sizeOf(ino)) this.setLiveSize(ino, end);
    if (end > inode.sizeBytes) {
      inode.sizeBytes = end;
      this.liveSize.delete(ino);
      this.markInode(ino);
      metadataChanged = true;
    }
    // O_DSYNC: the metadata needed to read the data back commits now, together with
    // whatever else the running transaction holds (as jbd2 would).
    if (metadataChanged || this.dirtyMeta.size > 0) this.commit('write-through');
    return ok(data.length);
  }

  // -------------------------------------------------------------------------------------
  // Internals: inodes and directories

  private inode(ino: number): Inode {
    const inode = this.volume.inodes[ino];
    assert(inode !== undefined && ino > 0, `inode ${ino} out of range`);
    return inode;
  }

  private sizeOf(ino: number): number {
    return this.liveSize.get(ino) ?? this.inode(ino).sizeBytes;
  }

  private setLiveSize(ino: number, sizeBytes: number): void {
    if (sizeBytes === this.inode(ino).sizeBytes) this.liveSize.delete(ino);
    else this.liveSize.set(ino, sizeBytes);
  }

  private handleState(handle: FileHandle): Result<HandleState, FsError> {
    const state = this.handles.get(handle.fileId);
    if (state === undefined) return err({ kind: 'stale-handle', fileId: handle.fileId });
    const inode = this.volume.inodes[state.ino];
    if (inode?.type !== 'file' || inode.generation !== state.generation) return err({ kind: 'stale-handle', fileId: handle.fileId });
    return ok(state);
  }

  private allocInode(): number | undefined {
    const count = this.g.inodeCount;
    for (let i = 0; i < count; i++) {
      const ino = ((this.inodeCursor - 1 + i) % count) + 1;
      if (ino !== ROOT_INO && this.volume.inodes[ino]?.type === 'free') {
        this.inodeCursor = (ino % count) + 1;
        return ino;
      }
    }
    return undefined;
  }

  private lookup(path: string): Result<number, FsError> {
    const parts = splitPath(path);
    if (!parts.ok) return err({ kind: 'invalid-path', path, reason: parts.error });
    let ino = ROOT_INO;
    let walked = '';
    for (const part of parts.value) {
      if (this.inode(ino).type !== 'dir') return err({ kind: 'not-a-directory', path: walked === '' ? '/' : walked });
      walked = `${walked}/${part}`;
      const at = this.names.get(ino)?.get(part);
      if (at === undefined) return err({ kind: 'not-found', path: walked });
      ino = (at.block.slots[at.slot] as DirEntry).ino;
    }
    return ok(ino);
  }

  private parentOf(path: string): Result<{ dirIno: number; name: string }, FsError> {
    const parts = splitPath(path);
    if (!parts.ok) return err({ kind: 'invalid-path', path, reason: parts.error });
    const name = parts.value[parts.value.length - 1];
    if (name === undefined) return err({ kind: 'busy', path, reason: 'the root directory' });
    const parentPath = `/${parts.value.slice(0, -1).join('/')}`;
    const dir = this.lookup(parentPath);
    if (!dir.ok) return dir;
    if (this.inode(dir.value).type !== 'dir') return err({ kind: 'not-a-directory', path: parentPath });
    return ok({ dirIno: dir.value, name });
  }

  /** Makes sure an entry can be added to `dirIno` (a free slot, or room for a new block). */
  private prepareEntry(dirIno: number, path: string): Result<void, FsError> {
    const blocks = this.volume.dirs.get(dirIno) ?? [];
    if (blocks.some((b) => b.slots.includes(undefined))) return ok(undefined);
    if (this.inode(dirIno).extents.length >= MAX_EXTENTS - 1) return err({ kind: 'no-space', detail: `directory of '${path}' is full` });
    return this.ensureSpace(2);
  }

  private addEntry(dirIno: number, entry: DirEntry): void {
    const blocks = this.volume.dirs.get(dirIno);
    assert(blocks !== undefined, `inode ${dirIno} is not a directory`);
    let target: DirBlock | undefined;
    let slot = -1;
    for (const block of blocks) {
      slot = block.slots.indexOf(undefined);
      if (slot >= 0) {
        target = block;
        break;
      }
    }
    if (target === undefined) {
      const dir = this.inode(dirIno);
      const placed = this.placeBlock(dirIno, blocks.length);
      assert(placed.ok, 'directory block allocation failed after prepareEntry');
      target = { block: placed.value, slots: new Array<DirEntry | undefined>(DIR_ENTRIES_PER_BLOCK).fill(undefined) };
      blocks.push(target);
      this.metaOwner.set(target.block, { kind: 'dir', ino: dirIno, block: target });
      dir.sizeBytes = blocks.length * BLOCK_BYTES;
      this.markInode(dirIno);
      slot = 0;
    }
    target.slots[slot] = entry;
    this.dirtyMeta.add(target.block);
    this.dirtyDirSlots.push(target.block, slot);
    (this.names.get(dirIno) as Map<string, { block: DirBlock; slot: number }>).set(entry.name, { block: target, slot });
  }

  private removeEntry(dirIno: number, name: string): void {
    const index = this.names.get(dirIno);
    const at = index?.get(name);
    assert(index !== undefined && at !== undefined, `no entry '${name}' in directory ${dirIno}`);
    at.block.slots[at.slot] = undefined;
    index.delete(name);
    this.dirtyMeta.add(at.block.block);
    this.dirtyDirSlots.push(at.block.block, at.slot);
  }

  private releaseFile(ino: number): void {
    this.dropWindow(ino);
    const inode = this.inode(ino);
    inode.linkCount--;
    assert(inode.linkCount === 0, 'files have one link');
    this.cache.drop(ino);
    this.delalloc.delete(ino);
    this.updateReservation(ino);
    this.liveSize.delete(ino);
    this.trimExtents(ino, 0);
    Object.assign(inode, freeInode(inode.generation));
    this.markInode(ino);
  }

  private releaseDir(ino: number): void {
    const inode = this.inode(ino);
    const parent = inode.parentIno;
    this.trimExtents(ino, 0);
    this.volume.dirs.delete(ino);
    this.names.delete(ino);
    Object.assign(inode, freeInode(inode.generation));
    this.markInode(ino);
    this.inode(parent).linkCount--;
    this.markInode(parent);
  }
}

/** `extents` with file block `logical` mapped to `physical`, merged with neighbours. */
function insertExtent(extents: readonly Extent[], logical: number, physical: number): Extent[] {
  let i = 0;
  while (i < extents.length && (extents[i] as Extent).logical < logical) i++;
  const prev = extents[i - 1];
  const next = extents[i];
  assert(prev === undefined || prev.logical + prev.length <= logical, `logical block ${logical} already mapped`);
  assert(next === undefined || next.logical > logical, `logical block ${logical} already mapped`);
  const joinsPrev = prev !== undefined && prev.logical + prev.length === logical && prev.physical + prev.length === physical;
  const joinsNext = next !== undefined && next.logical === logical + 1 && next.physical === physical + 1;
  const out = extents.slice(0, Math.max(0, i - 1));
  if (joinsPrev && joinsNext) {
    out.push({ logical: prev.logical, physical: prev.physical, length: prev.length + 1 + next.length });
    out.push(...extents.slice(i + 1));
  } else if (joinsPrev) {
    out.push({ logical: prev.logical, physical: prev.physical, length: prev.length + 1 });
    out.push(...extents.slice(i));
  } else if (joinsNext) {
    if (prev !== undefined) out.push(prev);
    out.push({ logical, physical, length: next.length + 1 });
    out.push(...extents.slice(i + 1));
  } else {
    if (prev !== undefined) out.push(prev);
    out.push({ logical, physical, length: 1 });
    out.push(...extents.slice(i));
  }
  return out;
}
