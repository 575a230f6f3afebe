/**
 * SQLite write-ahead log (WAL) format, read from raw bytes (https://www.sqlite.org/fileformat2.html
 * section 4): the 32-byte header, 24-byte frame headers, salts, cumulative checksums and
 * commit boundaries. The engine never runs SQLite: shipping and roll-forward work on these
 * bytes alone (a frame is a page image; a frame whose "database size" field is nonzero ends
 * a commit).
 *
 * Header (big-endian fields): magic 0x377f0682 (checksum words little-endian) or
 * 0x377f0683 (big-endian); format version 3007000; page size; checkpoint sequence number;
 * salt-1; salt-2; checksum-1/2 over the first 24 bytes. Frame header: page number;
 * database size in pages after a commit (else 0); salt-1; salt-2; checksum-1/2, cumulative:
 * seeded by the previous frame's (the header's for the first frame), over the frame
 * header's first 8 bytes and the page. SQLite's rule for a valid frame (walDecodeFrame):
 * salts equal the header's, page number nonzero, checksum right; recovery keeps the
 * frames up to the last valid commit frame and ignores everything after the first invalid
 * frame. Each checkpoint that restarts the WAL (TRUNCATE, RESTART, or a writer restarting a
 * fully checkpointed WAL) writes the next header with checkpoint sequence + 1, salt-1 + 1
 * and a new random salt-2 (measured on the real SQLite: also when the WAL was empty).
 *
 * Repeats: with synchronous=FULL and no POWERSAFE_OVERWRITE SQLite may pad a commit to the
 * sector boundary by writing its last frame again; a commit frame identical to the commit
 * frame right before it (page number, size, page bytes) is such a repeat and belongs to
 * that commit. (A genuine commit of one page identical to the previous commit's would be
 * taken for a repeat: the database state is the same, only the commit count differs.)
 *
 * Leaves out: the wal-index (-shm) file, which the engine neither needs nor ships.
 */

import { err, ok, type Result } from '../../core/result.js';

export const WAL_HEADER_BYTES = 32;
export const WAL_FRAME_HEADER_BYTES = 24;
export const WAL_MAGIC_LITTLE_ENDIAN = 0x377f0682;
export const WAL_MAGIC_BIG_ENDIAN = 0x377f0683;
export const WAL_FORMAT_VERSION = 3007000;
const MIN_PAGE_BYTES = 512;
const MAX_PAGE_BYTES = 65536;

/** SQLite's two 32-bit running sums. */
export interface WalChecksum {
  readonly s0: number;
  readonly s1: number;
}

/** What names one WAL generation: it changes with every restart of the WAL. */
export interface WalGeneration {
  readonly checkpointSeq: number;
  readonly salt1: number;
  readonly salt2: number;
}

export interface WalHeader extends WalGeneration {
  readonly magic: number;
  readonly bigEndianChecksums: boolean;
  readonly version: number;
  readonly pageBytes: number;
  /** The header's own checksum: the seed of the first frame's. */
  readonly checksum: WalChecksum;
}

export interface WalFrame {
  /** File offset of the frame header. */
  readonly offset: number;
  readonly pgno: number;
  /** Database size in pages after this commit; 0 when the frame does not end a commit. */
  readonly dbSizePages: number;
  /** The cumulative checksum after this frame. */
  readonly checksum: WalChecksum;
  /** A padding copy of the commit frame just before it (see the header). */
  readonly repeat: boolean;
}

export interface WalCommit {
  /** Index in the scan's `frames` of the commit's first frame and one past its last (repeats included). */
  readonly firstFrame: number;
  readonly endFrame: number;
  /** File offset just past the commit (and its repeats). */
  readonly endOffset: number;
  readonly dbSizePages: number;
  readonly checksum: WalChecksum;
}

/** Why a scan stopped before the end of the bytes (SQLite's recovery stops there too). */
export type WalScanStop =
  | { readonly kind: 'end' }
  /** Fewer bytes than a whole frame remain (a torn or still-growing tail). */
  | { readonly kind: 'partial-frame'; readonly offset: number; readonly bytes: number }
  | { readonly kind: 'salt-mismatch' | 'checksum-mismatch' | 'zero-page'; readonly offset: number };

export interface WalScan {
  readonly header: WalHeader;
  /** Every valid frame from the start offset, including those of an unfinished commit. */
  readonly frames: readonly WalFrame[];
  readonly commits: readonly WalCommit[];
  /** Offset just past the last complete commit (the start offset when there is none): what may be shipped. */
  readonly committedEnd: number;
  readonly committedChecksum: WalChecksum;
  /** Valid frames after the last commit (an unfinished transaction, or one rolled back). */
  readonly uncommittedFrames: number;
  readonly stop: WalScanStop;
}

export type WalFormatError =
  | { readonly kind: 'short'; readonly bytes: number }
  | { readonly kind: 'bad-magic'; readonly magic: number }
  | { readonly kind: 'bad-version'; readonly version: number }
  | { readonly kind: 'bad-page-size'; readonly pageBytes: number }
  | { readonly kind: 'bad-header-checksum' }
  | { readonly kind: 'bad-start'; readonly reason: string };

function u32be(bytes: Uint8Array, at: number): number {
  return ((bytes[at] ?? 0) * 0x1000000) + (((bytes[at + 1] ?? 0) << 16) | ((bytes[at + 2] ?? 0) << 8) | (bytes[at + 3] ?? 0));
}

/**
 * SQLite's WAL checksum (walChecksumBytes) over bytes [from, to) (a multiple of 8), seeded
 * with `seed`, reading 32-bit words in the header's byte order.
 */
export function walChecksum(bytes: Uint8Array, from: number, to: number, seed: WalChecksum, bigEndian: boolean): WalChecksum {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const littleEndian = !bigEndian;
  let s0 = seed.s0;
  let s1 = seed.s1;
  // (to - from) / 8 steps: bounded by the range.
  for (let i = from; i + 8 <= to; i += 8) {
    s0 = (s0 + view.getUint32(i, littleEndian) + s1) >>> 0;
    s1 = (s1 + view.getUint32(i + 4, littleEndian) + s0) >>> 0;
  }
  return { s0, s1 };
}

export function sameGeneration(a: WalGeneration, b: WalGeneration): boolean {
  return a.checkpointSeq === b.checkpointSeq && a.salt1 === b.salt1 && a.salt2 === b.salt2;
}

export function sameChecksum(a: WalChecksum, b: WalChecksum): boolean {
  return a.s0 === b.s0 && a.s1 === b.s1;
}

export function generationOf(header: WalHeader): WalGeneration {
  return { checkpointSeq: header.checkpointSeq, salt1: header.salt1, salt2: header.salt2 };
}

/** `gen 3 (salts 3fb9fe7f/16e72fe5)`: how reasons name a generation. */
export function describeGeneration(g: WalGeneration): string {
  return `gen ${g.checkpointSeq} (salts ${g.salt1.toString(16)}/${g.salt2.toString(16)})`;
}

/** Parses and checks the 32-byte WAL header at the start of `bytes`. */
export function parseWalHeader(bytes: Uint8Array): Result<WalHeader, WalFormatError> {
  if (bytes.length < WAL_HEADER_BYTES) return err({ kind: 'short', bytes: bytes.length });
  const magic = u32be(bytes, 0);
  if (magic !== WAL_MAGIC_LITTLE_ENDIAN && magic !== WAL_MAGIC_BIG_ENDIAN) return err({ kind: 'bad-magic', magic });
  const version = u32be(bytes, 4);
  if (version !== WAL_FORMAT_VERSION) return err({ kind: 'bad-version', version });
  const pageBytes = u32be(bytes, 8);
  if (pageBytes < MIN_PAGE_BYTES || pageBytes > MAX_PAGE_BYTES || (pageBytes & (pageBytes - 1)) !== 0) return err({ kind: 'bad-page-size', pageBytes });
  const bigEndianChecksums = (magic & 1) === 1;
  const checksum = { s0: u32be(bytes, 24), s1: u32be(bytes, 28) };
  if (!sameChecksum(walChecksum(bytes, 0, 24, { s0: 0, s1: 0 }, bigEndianChecksums), checksum)) return err({ kind: 'bad-header-checksum' });
  return ok({
    magic, bigEndianChecksums, version, pageBytes, checkpointSeq: u32be(bytes, 12), salt1: u32be(bytes, 16), salt2: u32be(bytes, 20), checksum,
  });
}

export function frameBytesOf(header: WalHeader): number {
  return WAL_FRAME_HEADER_BYTES + header.pageBytes;
}

/** Where a scan starts: a frame boundary of the file and the running checksum there. */
export interface ScanStart {
  /** File offset of bytes[0]; a frame boundary (32 + n * frameBytes). */
  readonly fileOffset: number;
  readonly checksum: WalChecksum;
  /** The frame right before fileOffset, when known (detects a repeat at the very start). */
  readonly previousFrame?: Uint8Array;
}

function isRepeatOf(bytes: Uint8Array, at: number, previous: Uint8Array, frameBytes: number): boolean {
  // Page number, database size and page bytes equal; salts and checksum necessarily differ.
  for (let i = 0; i < 8; i++) if (bytes[at + i] !== previous[i]) return false;
  for (let i = WAL_FRAME_HEADER_BYTES; i < frameBytes; i++) if (bytes[at + i] !== previous[i]) return false;
  return true;
}

/**
 * Scans frames in `bytes` (file bytes from `start.fileOffset`) as SQLite's recovery does:
 * valid frames up to the first invalid one, commits at nonzero size fields, repeats folded
 * into their commit. Never throws; every loop is bounded by the byte count.
 */
export function scanWalFrames(bytes: Uint8Array, header: WalHeader, start: ScanStart): Result<WalScan, WalFormatError> {
  const frameBytes = frameBytesOf(header);
  if (start.fileOffset < WAL_HEADER_BYTES || (start.fileOffset - WAL_HEADER_BYTES) % frameBytes !== 0) {
    return err({ kind: 'bad-start', reason: `offset ${start.fileOffset} is not a frame boundary of ${frameBytes}-byte frames` });
  }
  const frames: WalFrame[] = [];
  const commits: WalCommit[] = [];
  let checksum = start.checksum;
  let committedEnd = start.fileOffset;
  let committedChecksum = start.checksum;
  let commitStart = 0;
  let previousFrame: { readonly bytes: Uint8Array; readonly commit: boolean } | undefined =
    start.previousFrame === undefined ? undefined : { bytes: start.previousFrame, commit: u32be(start.previousFrame, 4) !== 0 };
  let stop: WalScanStop = { kind: 'end' };
  let at = 0;
  for (; at < bytes.length; at += frameBytes) {
    const offset = start.fileOffset + at;
    if (bytes.length - at < frameBytes) {
      stop = { kind: 'partial-frame', offset, bytes: bytes.length - at };
      break;
    }
    if (u32be(bytes, at + 8) !== header.salt1 || u32be(bytes, at + 12) !== header.salt2) {
      stop = { kind: 'salt-mismatch', offset };
      break;
    }
    const pgno = u32be(bytes, at);
    if (pgno === 0) {
      stop = { kind: 'zero-page', offset };
      break;
    }
    const afterHeader = walChecksum(bytes, at, at + 8, checksum, header.bigEndianChecksums);
    const next = walChecksum(bytes, at + WAL_FRAME_HEADER_BYTES, at + frameBytes, afterHeader, header.bigEndianChecksums);
    if (!sameChecksum(next, { s0: u32be(bytes, at + 16), s1: u32be(bytes, at + 20) })) {
      stop = { kind: 'checksum-mismatch', offset };
      break;
    }
    checksum = next;
    const dbSizePages = u32be(bytes, at + 4);
    const repeat = dbSizePages !== 0 && previousFrame !== undefined && previousFrame.commit && isRepeatOf(bytes, at, previousFrame.bytes, frameBytes);
    frames.push({ offset, pgno, dbSizePages, checksum, repeat });
    const endOffset = offset + frameBytes;
    if (repeat) {
      const last = commits.pop();
      if (last !== undefined) commits.push({ ...last, endFrame: frames.length, endOffset, checksum });
      // A repeat of a commit shipped earlier (at the very start) extends nothing here but still moves the end.
      committedEnd = endOffset;
      committedChecksum = checksum;
      commitStart = frames.length;
    } else if (dbSizePages !== 0) {
      commits.push({ firstFrame: commitStart, endFrame: frames.length, endOffset, dbSizePages, checksum });
      committedEnd = endOffset;
      committedChecksum = checksum;
      commitStart = frames.length;
    }
    previousFrame = { bytes: bytes.subarray(at, at + frameBytes), commit: dbSizePages !== 0 };
  }
  return ok({ header, frames, commits, committedEnd, committedChecksum, uncommittedFrames: frames.length - commitStart, stop });
}

/** A whole WAL file from offset 0: the header, then the frames after it. */
export function scanWal(file: Uint8Array): Result<WalScan, WalFormatError> {
  const header = parseWalHeader(file);
  if (!header.ok) return header;
  return scanWalFrames(file.subarray(WAL_HEADER_BYTES), header.value, { fileOffset: WAL_HEADER_BYTES, checksum: header.value.checksum });
}

/** The 32 header bytes of a parsed header (exactly what SQLite wrote: every field is kept). */
export function encodeWalHeader(header: WalHeader): Uint8Array {
  const out = new Uint8Array(WAL_HEADER_BYTES);
  const view = new DataView(out.buffer);
  const fields = [header.magic, header.version, header.pageBytes, header.checkpointSeq, header.salt1, header.salt2, header.checksum.s0, header.checksum.s1];
  for (const [i, value] of fields.entries()) view.setUint32(i * 4, value, false);
  return out;
}
