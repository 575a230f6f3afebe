/**
 * Packs: many chunks (blobs) in one immutable object, named by the SHA-256 of its bytes.
 *
 * Layout (little-endian):
 *   header  16 B   magic "QLPACK" 0x00 0x01 | version u32 = 1 | reserved u32 = 0
 *   blobs          the stored (compressed or raw) bytes, back to back from offset 16
 *   entries 52 B each, one per blob in offset order:
 *                  chunk id 32 B (SHA-256 of the raw bytes) | offset u32 | stored length u32
 *                  | raw length u32 | compression u8 | reserved 3 B = 0 | CRC32 of the stored bytes u32
 *   footer  16 B   entry count u32 | CRC32 of the entries u32 | magic "QLPKEND" 0x01
 *
 * The per-blob CRC32 names a damaged blob without decompressing it; the chunk id checks
 * it end to end after decompression; the pack's name checks every byte, header and
 * trailer included. A pack is self-describing: the index can be rebuilt from trailers.
 *
 * Leaves out: encryption and MACs (restic encrypts every blob; this repository trusts
 * whoever can write to it), and packs of 4 GiB or more (u32 offsets).
 */

import { assert, assertInt } from '../../core/assert.js';
import { crc32 } from '../../core/crc32.js';
import { allocateUnpooled, type Allocate } from './buffers.js';
import { err, ok, type Result } from '../../core/result.js';
import { COMPRESSION_CODES, compressionFromCode, type Compression, type StoredBlob } from './compression.js';
import { ChunkId, HASH_BYTES } from './hash.js';

export const PACK_HEADER_BYTES = 16;
export const PACK_ENTRY_BYTES = 52;
export const PACK_FOOTER_BYTES = 16;
export const PACK_MAX_BYTES = 0xffff_ffff;
/** A pack holds at most this many blobs (64 Ki blobs of 1 KiB at the smallest test chunking). */
export const PACK_MAX_BLOBS = 1 << 20;
const HEADER_MAGIC = Uint8Array.of(0x51, 0x4c, 0x50, 0x41, 0x43, 0x4b, 0x00, 0x01); // "QLPACK\0\1"
const FOOTER_MAGIC = Uint8Array.of(0x51, 0x4c, 0x50, 0x4b, 0x45, 0x4e, 0x44, 0x01); // "QLPKEND\1"
const VERSION = 1;

export interface BlobEntry {
  readonly chunkId: ChunkId;
  readonly offsetBytes: number;
  readonly storedBytes: number;
  readonly rawBytes: number;
  readonly compression: Compression;
  readonly crc32: number;
}

/** Builds one pack; each blob is copied in as it is added (the caller may reuse its bytes). */
export class PackBuilder {
  private buffer: Uint8Array;
  private readonly entries: BlobEntry[] = [];
  private sizeBytes = PACK_HEADER_BYTES;

  /** `capacityBytes`: the size expected (it grows past it if needed). */
  constructor(capacityBytes = 64 * 1024, private readonly allocate: Allocate = allocateUnpooled) {
    this.buffer = allocate(Math.max(capacityBytes, PACK_HEADER_BYTES + PACK_FOOTER_BYTES));
  }

  get blobCount(): number {
    return this.entries.length;
  }

  /** Bytes the pack will have when finished now. */
  get projectedBytes(): number {
    return this.sizeBytes + this.entries.length * PACK_ENTRY_BYTES + PACK_FOOTER_BYTES;
  }

  /** `crc` is the CRC32 of `blob.bytes` when the caller has it already (computed on a worker). */
  add(chunkId: ChunkId, blob: StoredBlob, rawBytes: number, crc = crc32(blob.bytes)): BlobEntry {
    assert(this.entries.length < PACK_MAX_BLOBS, `a pack holds at most ${PACK_MAX_BLOBS} blobs`);
    assert(this.projectedBytes + blob.bytes.length + PACK_ENTRY_BYTES <= PACK_MAX_BYTES, 'pack would pass 4 GiB');
    const entry: BlobEntry = {
      chunkId, offsetBytes: this.sizeBytes, storedBytes: blob.bytes.length, rawBytes,
      compression: blob.compression, crc32: crc,
    };
    this.reserve(this.sizeBytes + blob.bytes.length);
    this.buffer.set(blob.bytes, this.sizeBytes);
    this.entries.push(entry);
    this.sizeBytes += blob.bytes.length;
    return entry;
  }

  /**
   * The pack's bytes (a plain Uint8Array view of the builder's buffer, which is the
   * caller's from now on: never a Node Buffer, whose `slice` would not copy) and its entries.
   */
  finish(): { readonly bytes: Uint8Array; readonly entries: readonly BlobEntry[] } {
    assert(this.entries.length > 0, 'an empty pack is never written');
    this.reserve(this.projectedBytes);
    const out = new Uint8Array(this.buffer.buffer, this.buffer.byteOffset, this.projectedBytes);
    const view = new DataView(out.buffer, out.byteOffset, out.length);
    // Every byte is written: the buffer is not zeroed.
    out.set(HEADER_MAGIC, 0);
    view.setUint32(8, VERSION, true);
    view.setUint32(12, 0, true);
    let at = this.sizeBytes;
    const entriesStart = at;
    for (const e of this.entries) {
      out.set(Buffer.from(e.chunkId, 'hex'), at);
      view.setUint32(at + 32, e.offsetBytes, true);
      view.setUint32(at + 36, e.storedBytes, true);
      view.setUint32(at + 40, e.rawBytes, true);
      view.setUint32(at + 44, COMPRESSION_CODES[e.compression], true); // code u8, reserved 3 bytes 0
      view.setUint32(at + 48, e.crc32, true);
      at += PACK_ENTRY_BYTES;
    }
    view.setUint32(at, this.entries.length, true);
    view.setUint32(at + 4, crc32(out.subarray(entriesStart, at)), true);
    out.set(FOOTER_MAGIC, at + 8);
    assert(at + PACK_FOOTER_BYTES === out.length, 'pack layout arithmetic');
    return { bytes: out, entries: this.entries.slice() };
  }

  /** Grows the buffer (doubling) to hold at least `bytes`, keeping what was written. */
  private reserve(bytes: number): void {
    if (bytes <= this.buffer.length) return;
    const grown = this.allocate(Math.max(bytes, 2 * this.buffer.length));
    grown.set(this.buffer.subarray(0, this.sizeBytes));
    this.buffer = grown;
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

/** Reads a pack's header, entries and footer; an error says what is wrong. Blob bytes are not checked here. */
export function parsePack(bytes: Uint8Array): Result<readonly BlobEntry[], string> {
  if (bytes.length < PACK_HEADER_BYTES + PACK_FOOTER_BYTES) return err(`${bytes.length} bytes is shorter than a pack's header and footer`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  if (!equalBytes(bytes.subarray(0, 8), HEADER_MAGIC)) return err('bad header magic');
  if (view.getUint32(8, true) !== VERSION || view.getUint32(12, true) !== 0) return err('unknown pack version');
  const footer = bytes.length - PACK_FOOTER_BYTES;
  if (!equalBytes(bytes.subarray(footer + 8), FOOTER_MAGIC)) return err('bad footer magic');
  const count = view.getUint32(footer, true);
  if (count === 0 || count > PACK_MAX_BLOBS) return err(`bad blob count ${count}`);
  const entriesStart = footer - count * PACK_ENTRY_BYTES;
  if (entriesStart < PACK_HEADER_BYTES) return err(`blob count ${count} does not fit the pack`);
  if (crc32(bytes.subarray(entriesStart, footer)) !== view.getUint32(footer + 4, true)) return err('entries checksum mismatch');
  const entries: BlobEntry[] = [];
  let expectedOffset = PACK_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    const at = entriesStart + i * PACK_ENTRY_BYTES;
    const compression = compressionFromCode(view.getUint8(at + 44));
    if (compression === undefined) return err(`blob ${i}: unknown compression ${view.getUint8(at + 44)}`);
    if (view.getUint8(at + 45) !== 0 || view.getUint16(at + 46, true) !== 0) return err(`blob ${i}: reserved bytes set`);
    const entry: BlobEntry = {
      chunkId: ChunkId(Buffer.from(bytes.subarray(at, at + HASH_BYTES)).toString('hex')),
      offsetBytes: view.getUint32(at + 32, true),
      storedBytes: view.getUint32(at + 36, true),
      rawBytes: view.getUint32(at + 40, true),
      compression,
      crc32: view.getUint32(at + 48, true),
    };
    if (entry.offsetBytes !== expectedOffset) return err(`blob ${i}: offset ${entry.offsetBytes}, expected ${expectedOffset}`);
    expectedOffset += entry.storedBytes;
    if (expectedOffset > entriesStart) return err(`blob ${i}: runs into the entries`);
    entries.push(entry);
  }
  if (expectedOffset !== entriesStart) return err(`blobs end at ${expectedOffset}, entries start at ${entriesStart}`);
  return ok(entries);
}

/** Whether two entries describe the same blob the same way (an index entry against its pack's trailer). */
export function sameBlobEntry(a: BlobEntry, b: BlobEntry): boolean {
  return a.chunkId === b.chunkId && a.offsetBytes === b.offsetBytes && a.storedBytes === b.storedBytes
    && a.rawBytes === b.rawBytes && a.compression === b.compression && a.crc32 === b.crc32;
}

/** The stored bytes of one blob, checked against its CRC32. */
export function blobBytes(pack: Uint8Array, entry: BlobEntry): Result<Uint8Array, string> {
  assertInt(entry.offsetBytes, 0, PACK_MAX_BYTES, 'blob offset');
  if (entry.offsetBytes + entry.storedBytes > pack.length) return err('blob runs past the end of the pack');
  const stored = pack.subarray(entry.offsetBytes, entry.offsetBytes + entry.storedBytes);
  return crc32(stored) === entry.crc32 ? ok(stored) : err('blob CRC32 mismatch');
}
