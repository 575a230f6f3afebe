/**
 * The metadata journal (jbd2-like, full-block journaling): the scanner that mount, fsck
 * and the image reader share, the read overlay that replays without writing, and the
 * writer the live file system commits and checkpoints through.
 *
 * Models: a circular region of transactions; each is a descriptor (sequence number and the
 * home block numbers), the full images of those blocks, and a commit record whose CRC32
 * covers the descriptor and every image. Commit writes descriptor and images, flushes, then
 * writes the commit record with FUA, so a commit record on the platter implies its images
 * are there too (on an honest disk). Checkpoint writes the newest committed image of every
 * journaled block home, flushes, then advances the tail in the superblock and flushes again;
 * only after that is the journal space reused. Replay, from the superblock's tail, applies
 * transactions in sequence order and stops at the first missing or invalid one.
 *
 * Cost (not behaviour): the writer keeps no copy of an image; a checkpoint reads each
 * block's newest committed image back from the journal region, which is not reused before
 * the checkpoint. The commit checksum is computed from the blocks' own seals and the
 * descriptor's zero fill (CRC32 algebra) instead of another pass over every byte.
 *
 * Leaves out: revoke records (the file system instead keeps a freed block that has a
 * journaled image unallocated until the next checkpoint, so replay can never overwrite a
 * reused block), asynchronous commit, checksums per block tag, partial checkpoints (a
 * checkpoint always empties the journal), multiple descriptors per transaction.
 */

import { assert } from '../../core/assert.js';
import type { BlockDevice, BlockReader } from '../storage/types.js';
import { crc32Combine, crc32ZeroTail } from '../kernel/crc32-combine.js';
import {
  BLOCK_BYTES, decodeCommit, decodeDescriptor, descriptorUsedBytes, encodeCommitInto, encodeDescriptorInto, maxTransactionBlocks, regionOf,
  sealedBlockCrc, transactionChecksum, type Geometry, type Superblock,
} from './fs-format.js';


export interface JournalTransaction {
  readonly seq: number;
  /** Journal-relative position of the descriptor. */
  readonly startPos: number;
  readonly targets: readonly number[];
  readonly images: readonly Uint8Array[];
}

export interface JournalScan {
  /** Valid committed transactions from the tail, in sequence order. */
  readonly transactions: readonly JournalTransaction[];
  /** Journal-relative position just after the last valid transaction. */
  readonly endPos: number;
  /** Journal blocks the valid transactions occupy. */
  readonly usedBlocks: number;
  /** The sequence number the next transaction must use (past a torn one, if any). */
  readonly nextSeq: number;
  /**
   * Why the scan stopped: 'end' (no descriptor of the next sequence), 'uncommitted' (a
   * descriptor without a valid commit record: a crash during commit), 'wrapped' (the whole
   * journal was read), 'bad-target' (a committed transaction names a non-metadata block).
   */
  readonly stopReason: 'end' | 'uncommitted' | 'wrapped' | 'bad-target';
  /** Committed transactions that are themselves invalid (a target outside the metadata). */
  readonly problems: readonly string[];
}

function readBlock(reader: BlockReader, blockNo: number): Uint8Array {
  return reader.read(blockNo * BLOCK_BYTES, BLOCK_BYTES);
}

/**
 * Finds the committed transactions from the superblock's tail. Never writes. Stops at the
 * first descriptor that is invalid or carries another sequence number (the end of the log),
 * at a transaction without a valid commit record (a crash during commit), or when the
 * whole journal was read once.
 */
export function scanJournal(reader: BlockReader, sb: Superblock): JournalScan {
  const g = sb.geometry;
  const size = g.journalBlocks;
  const abs = (pos: number): number => g.journalStart + (pos % size);
  const transactions: JournalTransaction[] = [];
  const problems: string[] = [];
  let pos = sb.journalTailPos % size;
  let seq = sb.journalTailSeq;
  let used = 0;
  let nextSeq = seq;
  let stopReason: JournalScan['stopReason'] = 'wrapped';
  // Each transaction takes at least 3 blocks, so size/3 + 1 bounds the loop.
  for (let step = 0; step <= size / 3 + 1; step++) {
    if (used + 3 > size) break;
    const descriptor = readBlock(reader, abs(pos));
    const decoded = decodeDescriptor(abs(pos), descriptor);
    if (!decoded.ok || decoded.value.seq !== seq) {
      stopReason = 'end';
      break;
    }
    const targets = decoded.value.targets;
    const n = targets.length;
    // A valid descriptor of the expected sequence: the next transaction must not reuse it.
    nextSeq = seq + 1;
    if (used + n + 2 > size) {
      stopReason = 'uncommitted';
      break;
    }
    const images: Uint8Array[] = [];
    for (let i = 0; i < n; i++) images.push(readBlock(reader, abs(pos + 1 + i)));
    const commitBlock = readBlock(reader, abs(pos + 1 + n));
    const commit = decodeCommit(abs(pos + 1 + n), commitBlock);
    if (!commit.ok || commit.value.seq !== seq || commit.value.count !== n || commit.value.checksum !== transactionChecksum(descriptor, images)) {
      stopReason = 'uncommitted';
      break;
    }
    const bad = targets.find((t) => {
      const region = regionOf(g, t);
      return region !== 'bitmap' && region !== 'inode-table' && region !== 'data';
    });
    if (bad !== undefined) {
      problems.push(`journal transaction ${seq} targets block ${bad} outside the metadata regions`);
      stopReason = 'bad-target';
      break;
    }
    transactions.push({ seq, startPos: pos, targets, images });
    pos = (pos + n + 2) % size;
    used += n + 2;
    seq++;
    nextSeq = seq;
  }
  return { transactions, endPos: pos, usedBlocks: used, nextSeq, stopReason, problems };
}

/** The newest image of every block the transactions carry (what replay would write). */
export function replayImages(transactions: readonly JournalTransaction[]): Map<number, Uint8Array> {
  const images = new Map<number, Uint8Array>();
  for (const tx of transactions) tx.targets.forEach((t, i) => { images.set(t, tx.images[i] as Uint8Array); });
  return images;
}

/** A reader that sees `overlay` (whole blocks by block number) over `base`. Never writes. */
export class OverlayReader implements BlockReader {
  readonly capacityBytes: number;
  readonly sectorSizeBytes: BlockReader['sectorSizeBytes'];

  constructor(
    private readonly base: BlockReader,
    private readonly overlay: ReadonlyMap<number, Uint8Array>,
  ) {
    this.capacityBytes = base.capacityBytes;
    this.sectorSizeBytes = base.sectorSizeBytes;
  }

  read(offsetBytes: number, lengthBytes: number): Uint8Array {
    const out = this.base.read(offsetBytes, lengthBytes);
    if (this.overlay.size === 0 || lengthBytes === 0) return out;
    const first = Math.floor(offsetBytes / BLOCK_BYTES);
    const last = Math.floor((offsetBytes + lengthBytes - 1) / BLOCK_BYTES);
    for (let b = first; b <= last; b++) {
      const image = this.overlay.get(b);
      if (image === undefined) continue;
      const from = Math.max(offsetBytes, b * BLOCK_BYTES);
      const to = Math.min(offsetBytes + lengthBytes, (b + 1) * BLOCK_BYTES);
      out.set(image.subarray(from - b * BLOCK_BYTES, to - b * BLOCK_BYTES), from - offsetBytes);
    }
    return out;
  }
}

export interface JournalWriterOptions {
  readonly device: BlockDevice;
  readonly geometry: Geometry;
  /** An empty journal starts at this position with this sequence number. */
  readonly startPos: number;
  readonly startSeq: number;
  /**
   * Makes a new tail durable (writes the superblock and flushes). Called by checkpoint after
   * the home writes are flushed and before any journal space is reused.
   */
  readonly persistTail: (tailPos: number, tailSeq: number) => void;
}

export interface CommitOutcome {
  readonly seq: number;
  readonly blocks: number;
}

export class JournalWriter {
  private readonly device: BlockDevice;
  private readonly g: Geometry;
  private readonly persistTail: (tailPos: number, tailSeq: number) => void;
  private head: number;
  private tail: number;
  private tailSeqValue: number;
  private seq: number;
  private used = 0;
  /**
   * Committed images not yet written home: block number -> the device block (in the
   * journal region) holding its newest committed image. Checkpoint reads the image back
   * from there: journal space is reused only after a checkpoint, so it is still intact,
   * and the caller may reuse its buffers as soon as a commit returns.
   */
  private readonly pending = new Map<number, number>();
  private readonly descriptorScratch = new Uint8Array(BLOCK_BYTES);
  private readonly commitScratch = new Uint8Array(BLOCK_BYTES);
  readonly maxTransactionBlocks: number;

  constructor(options: JournalWriterOptions) {
    this.device = options.device;
    this.g = options.geometry;
    this.persistTail = options.persistTail;
    assert(options.startPos >= 0 && options.startPos < this.g.journalBlocks, `journal start ${options.startPos}`);
    this.head = options.startPos;
    this.tail = options.startPos;
    this.seq = options.startSeq;
    this.tailSeqValue = options.startSeq;
    this.maxTransactionBlocks = maxTransactionBlocks(this.g.journalBlocks);
    assert(this.maxTransactionBlocks >= 8, `journal of ${this.g.journalBlocks} blocks is too small`);
  }

  get usedBlocks(): number {
    return this.used;
  }

  get sizeBlocks(): number {
    return this.g.journalBlocks;
  }

  get nextSeq(): number {
    return this.seq;
  }

  get tailPos(): number {
    return this.tail;
  }

  get tailSeq(): number {
    return this.tailSeqValue;
  }

  /** Blocks with committed images that a checkpoint has still to write home. */
  get checkpointBlocks(): number {
    return this.pending.size;
  }

  /** True when `blockNo` has a committed image in the live part of the journal. */
  holdsImageOf(blockNo: number): boolean {
    return this.pending.has(blockNo);
  }

  /** Whether a transaction of `count` images fits without a checkpoint first. */
  fits(count: number): boolean {
    return this.used + count + 2 <= this.g.journalBlocks;
  }

  /**
   * Commits one transaction of full block images (block number -> image). The caller
   * checkpoints first when it does not fit; data that must precede the commit (ordered
   * mode) was written before this call, so the first flush makes it durable too. The
   * images are copied by the device: the caller may change them once this returns.
   */
  commit(images: readonly (readonly [number, Uint8Array])[]): CommitOutcome {
    const n = images.length;
    assert(n > 0 && n <= this.maxTransactionBlocks, `transaction of ${n} blocks (max ${this.maxTransactionBlocks})`);
    assert(this.fits(n), 'transaction does not fit the journal: checkpoint first');
    const g = this.g;
    const seq = this.seq;
    const targets: number[] = [];
    for (const [target] of images) targets.push(target);
    // Descriptor and commit record are encoded into reused buffers: the device copies what
    // it is given (BlockDevice.write), and the journal keeps neither.
    const descriptorAt = g.journalStart + (this.head % g.journalBlocks);
    const descriptor = encodeDescriptorInto(this.descriptorScratch, descriptorAt, seq, targets);
    this.device.write(descriptorAt * BLOCK_BYTES, descriptor);
    // transactionChecksum(descriptor, images), from the CRCs already known: the descriptor
    // is zeros past its targets, and every image is a sealed metadata block.
    let checksum = crc32ZeroTail(descriptor, descriptorUsedBytes(n), BLOCK_BYTES);
    for (let i = 0; i < n; i++) {
      const [target, image] = images[i] as readonly [number, Uint8Array];
      const at = g.journalStart + ((this.head + 1 + i) % g.journalBlocks);
      this.device.write(at * BLOCK_BYTES, image);
      checksum = crc32Combine(checksum, sealedBlockCrc(image), BLOCK_BYTES);
      this.pending.set(target, at);
    }
    this.device.flush();
    const commitAt = g.journalStart + ((this.head + 1 + n) % g.journalBlocks);
    this.device.write(commitAt * BLOCK_BYTES, encodeCommitInto(this.commitScratch, commitAt, seq, n, checksum), { fua: true });
    this.head = (this.head + n + 2) % this.g.journalBlocks;
    this.used += n + 2;
    this.seq++;
    return { seq, blocks: n + 2 };
  }

  /**
   * Writes every committed image home, flushes, and moves the tail to the head (through
   * `persistTail`). Afterwards the journal is empty. Returns the blocks written home.
   */
  checkpoint(): number {
    const blocks = [...this.pending.keys()].sort((a, b) => a - b);
    const scratch = this.commitScratch;
    for (const b of blocks) {
      const at = (this.pending.get(b) as number) * BLOCK_BYTES;
      // The device copies on write: one reused buffer carries every image home.
      if (this.device.readInto !== undefined) this.device.readInto(at, scratch);
      else scratch.set(this.device.read(at, BLOCK_BYTES));
      this.device.write(b * BLOCK_BYTES, scratch);
    }
    this.device.flush();
    this.tail = this.head;
    this.tailSeqValue = this.seq;
    this.used = 0;
    this.pending.clear();
    this.persistTail(this.tail, this.tailSeqValue);
    return blocks.length;
  }
}
