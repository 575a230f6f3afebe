/**
 * Turns one contiguous run of a disk's bytes, fed in pieces of any size, into chunks:
 *
 * 1. Zero runs: whole aligned blocks (`zeroBlockBytes`, by disk offset) that are all zero
 *    and form a run of at least `zeroRunMinBytes` are holes: never stored, and they end
 *    the data segment before them. Shorter zero runs stay inside the data (they compress
 *    to almost nothing, and cutting at each would make many tiny chunks).
 * 2. Each data segment is cut with the content-defined Chunker; a segment's last chunk may
 *    be short. A chunk that is all zeros is dropped (it reads back as a hole).
 *
 * The result does not depend on how the run was split into pieces: undecided bytes (a
 * trailing partial block, a zero run shorter than the minimum so far, bytes past the last
 * cut) are carried to the next piece.
 *
 * Leaves out: cutting across runs (a new run starts a new segment, so an incremental's
 * changed extents chunk independently of their neighbours).
 */

import { assert, assertInt } from '../../core/assert.js';
import { isAllZero } from '../../core/zero.js';
import { allocateUnpooled, type Allocate } from './buffers.js';
import type { Chunker } from './chunker.js';

export interface ZeroParams {
  readonly zeroBlockBytes: number;
  /** A multiple of zeroBlockBytes. */
  readonly zeroRunMinBytes: number;
}

export interface CutChunk {
  readonly offsetBytes: number;
  /**
   * Owned by the receiver: never reused by the chunker, and its ArrayBuffer holds only
   * chunks handed out by the same push or finish (so the receiver may move the buffers of
   * one call's chunks to another thread).
   */
  readonly bytes: Uint8Array;
}

const EMPTY = Buffer.alloc(0);
/** Zero runs of at most this many bytes are carried between pieces (a run is a count, not bytes). */
const ZERO_FILL_MAX_BYTES = 1 << 30;
/** Zero blocks are compared against this natively (a block is at most 64 KiB). */
const ZERO_PAGE = Buffer.alloc(64 * 1024);

/** The parts, back to back, in a buffer of their own. */
function ownedCopy(allocate: Allocate, ...parts: readonly Uint8Array[]): Buffer {
  const length = parts.reduce((n, p) => n + p.length, 0);
  const into = allocate(length);
  const out = Buffer.from(into.buffer, into.byteOffset, length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export class StreamChunker {
  private nextOffsetBytes: number;
  /** A trailing partial block, undecided until the next piece. */
  private carry: Buffer = EMPTY;
  /** The current zero run: where it starts and how long it is so far (0: none). */
  private runStartBytes = 0;
  private runBytes = 0;
  private inHole = false;
  /** Data of the current segment not yet cut. */
  private pending: Buffer = EMPTY;
  private pendingOffsetBytes = 0;
  private out: CutChunk[] = [];
  private finished = false;

  constructor(
    private readonly chunker: Chunker,
    private readonly zero: ZeroParams,
    readonly startOffsetBytes: number,
    /** Where the buffers of the chunks handed out come from. */
    private readonly allocate: Allocate = allocateUnpooled,
    /** Takes back a buffer from `allocate` that no chunk was handed out from. */
    private readonly release: (buffer: ArrayBufferLike) => void = () => undefined,
  ) {
    assertInt(zero.zeroBlockBytes, 512, 64 * 1024, 'zeroBlockBytes');
    assert(zero.zeroRunMinBytes >= zero.zeroBlockBytes && zero.zeroRunMinBytes % zero.zeroBlockBytes === 0,
      `zeroRunMinBytes ${zero.zeroRunMinBytes} must be a multiple of zeroBlockBytes ${zero.zeroBlockBytes}`);
    assertInt(startOffsetBytes, 0, Number.MAX_SAFE_INTEGER, 'startOffsetBytes');
    this.nextOffsetBytes = startOffsetBytes;
  }

  /** The offset the next piece must start at. */
  get endOffsetBytes(): number {
    return this.nextOffsetBytes;
  }

  push(bytes: Uint8Array): CutChunk[] {
    assert(!this.finished, 'push after finish');
    this.split(bytes, false);
    return this.take();
  }

  finish(): CutChunk[] {
    assert(!this.finished, 'finish twice');
    this.split(EMPTY, true);
    this.finished = true;
    return this.take();
  }

  private take(): CutChunk[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  /** Stage 1: whole aligned blocks are sorted into data and zero runs. */
  private split(bytes: Uint8Array, final: boolean): void {
    const B = this.zero.zeroBlockBytes;
    const input = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    const data = this.carry.length > 0 ? Buffer.concat([this.carry, input]) : input;
    const base = this.nextOffsetBytes - this.carry.length;
    this.nextOffsetBytes += bytes.length;
    this.carry = EMPTY;
    let pieceStart = -1;
    let pos = 0;
    const emitPiece = (end: number): void => {
      if (pieceStart >= 0 && end > pieceStart) this.cutData(base + pieceStart, data.subarray(pieceStart, end));
      pieceStart = -1;
    };
    /** The pending short zero run turns out to be data: bytes before this piece are re-created as zeros. */
    const runIsData = (): void => {
      if (this.runStartBytes < base) {
        assert(pieceStart < 0, 'a zero run from an earlier piece cannot follow data of this piece');
        const before = base - this.runStartBytes;
        assert(before <= ZERO_FILL_MAX_BYTES, 'zero run bookkeeping');
        this.cutData(this.runStartBytes, Buffer.alloc(before));
        pieceStart = 0;
      } else if (pieceStart < 0) {
        pieceStart = this.runStartBytes - base;
      }
      this.runBytes = 0;
    };
    while (pos < data.length) {
      const abs = base + pos;
      const into = abs % B;
      if (into !== 0) {
        // The partial first block of an unaligned run: always data.
        assert(this.runBytes === 0, 'a zero run is always block aligned');
        if (pieceStart < 0) pieceStart = pos;
        pos = Math.min(data.length, pos + (B - into));
        continue;
      }
      if (pos + B > data.length) {
        if (!final) {
          this.carry = Buffer.from(data.subarray(pos)); // copy: the caller's buffer is not ours
          break;
        }
        // The partial last block of the run: data.
        if (this.runBytes > 0) {
          if (this.inHole) { this.inHole = false; this.runBytes = 0; } else runIsData();
        }
        if (pieceStart < 0) pieceStart = pos;
        pos = data.length;
        break;
      }
      if (data.compare(ZERO_PAGE, 0, B, pos, pos + B) === 0) {
        if (this.runBytes === 0) this.runStartBytes = abs;
        this.runBytes += B;
        if (!this.inHole && this.runBytes >= this.zero.zeroRunMinBytes) {
          emitPiece(Math.max(0, this.runStartBytes - base));
          this.endSegment();
          this.inHole = true;
        }
      } else {
        if (this.runBytes > 0) {
          if (this.inHole) {
            this.inHole = false;
            this.runBytes = 0;
          } else {
            runIsData();
          }
        }
        if (pieceStart < 0) pieceStart = pos;
      }
      pos += B;
    }
    // What is decided goes to the cutter; a pending short zero run waits.
    if (this.runBytes > 0 && !this.inHole) {
      if (final) {
        runIsData();
        emitPiece(pos);
      } else {
        emitPiece(Math.max(0, this.runStartBytes - base));
      }
    } else {
      emitPiece(pos);
    }
    if (final) {
      this.runBytes = 0;
      this.inHole = false;
      this.endSegment();
    }
  }

  /** Stage 2: content-defined cuts within a data segment. */
  private cutData(offsetBytes: number, bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.pending.length > 0 && this.pendingOffsetBytes + this.pending.length !== offsetBytes) this.endSegment();
    if (this.pending.length === 0) this.pendingOffsetBytes = offsetBytes;
    // One copy of every byte: chunks handed out are views of buffers the chunker owns.
    const work = ownedCopy(this.allocate, this.pending, bytes);
    // The old pending bytes (a tail copied off, or a buffer nothing was cut from) are copied: its buffer goes back.
    if (this.pending.length > 0) this.release(this.pending.buffer);
    this.pending = EMPTY;
    this.cutLoop(work, false);
  }

  private endSegment(): void {
    if (this.pending.length === 0) return;
    const work = this.pending;
    this.pending = EMPTY;
    this.cutLoop(work, true);
  }

  private cutLoop(work: Buffer, final: boolean): void {
    let at = 0;
    const maxCuts = Math.ceil(work.length / Math.max(1, this.chunker.params.minBytes)) + 2;
    for (let cuts = 0; at < work.length; cuts++) {
      assert(cuts <= maxCuts, 'chunk cutting did not progress');
      const n = this.chunker.cut(work, at, work.length, final);
      if (n === 0) break;
      const bytes = work.subarray(at, at + n);
      if (!isAllZero(bytes)) this.out.push({ offsetBytes: this.pendingOffsetBytes + at, bytes });
      at += n;
    }
    this.pendingOffsetBytes += at;
    // Bytes past the last cut: the whole buffer if nothing was cut from it, else a copy
    // (the buffer now belongs to the chunks handed out).
    this.pending = at === 0 ? work : at < work.length ? ownedCopy(this.allocate, work.subarray(at)) : EMPTY;
  }
}
