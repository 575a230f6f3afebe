/**
 * On-disk format of the ESE model (the Extensible Storage Engine under Exchange and Active
 * Directory), as pure encoders and parsers over bytes, so a backup engine (which cannot
 * import sim/) can reimplement them from this description alone and read items out of raw
 * files for item-level restore.
 *
 * All integers are little-endian u32. A "frame" is
 *     u32 payloadBytes | u32 crc32(payload) | payload (UTF-8 JSON)
 * with CRC32 as zlib's (IEEE 802.3, reflected). payloadBytes 0 means "no record here".
 *
 * Database file (`DB1.edb`, `ntds.dit`):
 *   [0, 4096)     header slot 0: magic "QESEDB01" (8 ASCII bytes) then one frame
 *   [4096, 8192)  header slot 1: the same. Header updates alternate slots (seq % 2), so a
 *                 torn header write leaves the other, older, copy; the valid slot with the
 *                 highest `seq` is the header.
 *   [8192, dataEndBytes)  data records, frames whose JSON is { "k": key, "v": value | null }
 *                 (null deletes the key). Later records win. Bytes past the header's
 *                 dataEndBytes are pages the lazy writer wrote after the last checkpoint:
 *                 not yet covered by the header, ignored (the logs hold them).
 *   Header JSON: { seq, state: "clean" | "dirty", checkpointGen, lastGen, dataEndBytes,
 *                  logBase, backups: { full?|incremental?|differential?|copy?: { timeUs, gen } } }
 *   `clean` (clean shutdown, or made consistent by a writer's freeze): the data records are
 *   the whole database. `dirty`: replay the log generations from checkpointGen on.
 *
 * Log generation (`E00000001.log`: logBase + the generation in upper-case hex, fixed
 * digits; every generation has the same fixed size, preallocated with zeros):
 *   [0, 512)      magic "QESELOG1" then a frame { gen, base, sizeBytes }
 *   [512, size)   transaction frames { lsn, t: timeUs, ops: [{ k, v }] }, appended; a
 *                 frame { end: true } or payloadBytes 0 ends the generation. The last
 *                 generation may end in a torn frame (bad CRC or length): its end.
 *
 * Checkpoint file (`E00.chk`): two 512-byte slots, magic "QESECHK1" then a frame
 *   { seq, checkpointGen, highestGen }; the valid slot with the highest seq counts.
 *   highestGen is the newest generation created (so a missing tail generation is noticed).
 *
 * Leaves out: ESE's B-trees, pages and page checksums (records stand in for pages), long
 * values, the shadow header's other fields (signatures, dbtime), log sectors and shadow
 * sectors, reserved log files (E00res*.jrs), online defragmentation (the data area only
 * grows).
 */

import { crc32 } from '../../../core/crc32.js';
import { assert } from '../../../core/assert.js';
import { err, ok, type Result } from '../../../core/result.js';
import { allocBytes, copyBytes, utf8Scratch } from '../../kernel/bytes.js';

export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

export const FRAME_HEADER_BYTES = 8;
/** Largest frame payload: a bound against a garbage length field. */
export const MAX_FRAME_PAYLOAD_BYTES = 1 << 20;
export const MAGIC_BYTES = 8;

export const DB_MAGIC = 'QESEDB01';
export const DB_HEADER_SLOT_BYTES = 4096;
export const DB_DATA_START_BYTES = 2 * DB_HEADER_SLOT_BYTES;

export const LOG_MAGIC = 'QESELOG1';
export const LOG_HEADER_BYTES = 512;

export const CHK_MAGIC = 'QESECHK1';
export const CHK_SLOT_BYTES = 512;

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The frame of `value` in the shared scratch buffer (see sim/kernel/bytes.ts): valid only
 * until the next encoding; copy it or write it before encoding anything else.
 */
export function encodeFrameScratch(value: JsonValue): Uint8Array {
  return encodeJsonTextScratch(JSON.stringify(value));
}

/** The frame of a JSON text (what encodeFrameScratch makes of the value it serialises). */
function encodeJsonTextScratch(json: string): Uint8Array {
  const framed = utf8Scratch(json, FRAME_HEADER_BYTES);
  const payloadBytes = framed.length - FRAME_HEADER_BYTES;
  if (payloadBytes <= 0 || payloadBytes > MAX_FRAME_PAYLOAD_BYTES) assert(false, `frame payload of ${payloadBytes} bytes`);
  const view = new DataView(framed.buffer, framed.byteOffset, FRAME_HEADER_BYTES);
  view.setUint32(0, payloadBytes, true);
  view.setUint32(4, crc32(framed.subarray(FRAME_HEADER_BYTES)), true);
  return framed;
}

export function encodeFrame(value: JsonValue): Uint8Array {
  return copyBytes(encodeFrameScratch(value));
}

export type FrameRead =
  | { readonly kind: 'frame'; readonly value: unknown; readonly endBytes: number }
  /** payloadBytes 0: nothing written here. */
  | { readonly kind: 'empty' }
  | { readonly kind: 'bad'; readonly reason: string };

/** Reads the frame at `offset`, not reaching past `limit`. */
export function readFrame(bytes: Uint8Array, offset: number, limit: number): FrameRead {
  if (offset + FRAME_HEADER_BYTES > limit) return offset >= limit ? { kind: 'empty' } : { kind: 'bad', reason: `frame header cut at ${offset}` };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(offset, true);
  if (length === 0) return { kind: 'empty' };
  if (length > MAX_FRAME_PAYLOAD_BYTES || offset + FRAME_HEADER_BYTES + length > limit) return { kind: 'bad', reason: `frame at ${offset}: length ${length} runs past ${limit}` };
  const payload = bytes.subarray(offset + FRAME_HEADER_BYTES, offset + FRAME_HEADER_BYTES + length);
  if (crc32(payload) !== view.getUint32(offset + 4, true)) return { kind: 'bad', reason: `frame at ${offset}: CRC mismatch` };
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(payload));
  } catch {
    return { kind: 'bad', reason: `frame at ${offset}: not JSON` };
  }
  return { kind: 'frame', value, endBytes: offset + FRAME_HEADER_BYTES + length };
}

function writeMagic(out: Uint8Array, magic: string): void {
  assert(magic.length === MAGIC_BYTES, 'a magic is 8 ASCII bytes');
  for (let i = 0; i < MAGIC_BYTES; i++) out[i] = magic.charCodeAt(i);
}

function hasMagic(bytes: Uint8Array, offset: number, magic: string): boolean {
  if (offset + MAGIC_BYTES > bytes.length) return false;
  for (let i = 0; i < MAGIC_BYTES; i++) if (bytes[offset + i] !== magic.charCodeAt(i)) return false;
  return true;
}

/** A slot: magic, then one frame, zero padded to `slotBytes`. */
export function encodeSlot(magic: string, slotBytes: number, value: JsonValue): Uint8Array {
  const frame = encodeFrameScratch(value);
  if (MAGIC_BYTES + frame.length > slotBytes) assert(false, `slot content of ${frame.length} bytes exceeds ${slotBytes}`);
  const out = allocBytes(slotBytes);
  writeMagic(out, magic);
  out.set(frame, MAGIC_BYTES);
  return out;
}

function decodeSlot(bytes: Uint8Array, offset: number, slotBytes: number, magic: string): unknown {
  if (!hasMagic(bytes, offset, magic)) return undefined;
  const frame = readFrame(bytes, offset + MAGIC_BYTES, Math.min(bytes.length, offset + slotBytes));
  return frame.kind === 'frame' ? frame.value : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Picks the valid slot with the highest seq among `count` slots. */
function newestSlot<T extends { readonly seq: number }>(bytes: Uint8Array, slotBytes: number, magic: string, count: number, check: (v: unknown) => T | undefined): T | undefined {
  let best: T | undefined;
  for (let i = 0; i < count; i++) {
    const value = check(decodeSlot(bytes, i * slotBytes, slotBytes, magic));
    if (value !== undefined && (best === undefined || value.seq > best.seq)) best = value;
  }
  return best;
}

// ---------------------------------------------------------------------------------------
// Database file

export const BACKUP_KINDS = ['full', 'incremental', 'differential', 'copy'] as const;
export type BackupKind = (typeof BACKUP_KINDS)[number];

export interface BackupStamp {
  readonly timeUs: number;
  readonly gen: number;
}

export type DbState = 'clean' | 'dirty';

export interface DbHeader {
  readonly seq: number;
  readonly state: DbState;
  /** The lowest generation that may hold changes the data records lack. */
  readonly checkpointGen: number;
  /** The newest generation when the header was written. */
  readonly lastGen: number;
  readonly dataEndBytes: number;
  readonly logBase: string;
  readonly backups: Readonly<Partial<Record<BackupKind, BackupStamp>>>;
}

export function dbHeaderJson(h: DbHeader): JsonValue {
  const backups: Record<string, JsonValue> = {};
  for (const kind of BACKUP_KINDS) {
    const stamp = h.backups[kind];
    if (stamp !== undefined) backups[kind] = { timeUs: stamp.timeUs, gen: stamp.gen };
  }
  return { seq: h.seq, state: h.state, checkpointGen: h.checkpointGen, lastGen: h.lastGen, dataEndBytes: h.dataEndBytes, logBase: h.logBase, backups };
}

function checkDbHeader(v: unknown): DbHeader | undefined {
  if (!isObject(v)) return undefined;
  const { seq, state, checkpointGen, lastGen, dataEndBytes, logBase, backups } = v;
  if (!isCount(seq) || (state !== 'clean' && state !== 'dirty') || !isCount(checkpointGen) || !isCount(lastGen)) return undefined;
  if (!isCount(dataEndBytes) || dataEndBytes < DB_DATA_START_BYTES || typeof logBase !== 'string' || !isObject(backups)) return undefined;
  const stamps: Partial<Record<BackupKind, BackupStamp>> = {};
  for (const kind of BACKUP_KINDS) {
    const s = backups[kind];
    if (s === undefined) continue;
    if (!isObject(s) || !isCount(s.timeUs) || !isCount(s.gen)) return undefined;
    stamps[kind] = { timeUs: s.timeUs, gen: s.gen };
  }
  return { seq, state, checkpointGen, lastGen, dataEndBytes, logBase, backups: stamps };
}

export function encodeDbHeaderSlot(h: DbHeader): Uint8Array {
  return encodeSlot(DB_MAGIC, DB_HEADER_SLOT_BYTES, dbHeaderJson(h));
}

/** The slot a header with this seq goes to (the other slot keeps the previous header). */
export function dbHeaderOffset(seq: number): number {
  return (seq % 2) * DB_HEADER_SLOT_BYTES;
}

export function parseDbHeader(bytes: Uint8Array): DbHeader | undefined {
  return newestSlot(bytes, DB_HEADER_SLOT_BYTES, DB_MAGIC, 2, checkDbHeader);
}

export interface DbRecord {
  readonly key: string;
  /** null: the key was deleted. */
  readonly value: JsonValue | null;
}

export function encodeDbRecord(key: string, value: JsonValue | null): Uint8Array {
  return encodeFrame({ k: key, v: value });
}

/** encodeDbRecord in the shared scratch buffer (valid until the next encoding). */
export function encodeDbRecordScratch(key: string, value: JsonValue | null): Uint8Array {
  return encodeFrameScratch({ k: key, v: value });
}

function checkOp(v: unknown): DbRecord | undefined {
  if (!isObject(v) || typeof v.k !== 'string' || !('v' in v)) return undefined;
  return { key: v.k, value: v.v as JsonValue | null };
}

export interface ParsedDatabase {
  readonly header: DbHeader;
  /** Every key's final value (deleted keys absent), in first-written order. */
  readonly records: Map<string, JsonValue>;
}

/** Parses a whole database file (see the header); an unreadable header or a bad record below dataEndBytes is an error. */
export function parseDatabase(bytes: Uint8Array): Result<ParsedDatabase, string> {
  const header = parseDbHeader(bytes);
  if (header === undefined) return err('no valid database header');
  if (header.dataEndBytes > bytes.length) return err(`database file is ${bytes.length} bytes, header says data ends at ${header.dataEndBytes}`);
  const records = new Map<string, JsonValue>();
  let pos = DB_DATA_START_BYTES;
  // Each frame is at least FRAME_HEADER_BYTES + 1 long, which bounds the loop.
  const maxRecords = Math.ceil((header.dataEndBytes - DB_DATA_START_BYTES) / (FRAME_HEADER_BYTES + 1));
  for (let n = 0; pos < header.dataEndBytes; n++) {
    assert(n <= maxRecords, 'database record scan did not advance');
    const frame = readFrame(bytes, pos, header.dataEndBytes);
    if (frame.kind !== 'frame') return err(`database record at ${pos}: ${frame.kind === 'bad' ? frame.reason : 'empty frame inside the data area'}`);
    const record = checkOp(frame.value);
    if (record === undefined) return err(`database record at ${pos}: not a {k, v} record`);
    if (record.value === null) records.delete(record.key);
    else records.set(record.key, record.value);
    pos = frame.endBytes;
  }
  return ok({ header, records });
}

// ---------------------------------------------------------------------------------------
// Log generations

export interface LogRecord {
  readonly lsn: number;
  readonly timeUs: number;
  readonly ops: readonly DbRecord[];
}

export function encodeLogHeader(gen: number, base: string, sizeBytes: number): Uint8Array {
  return encodeSlot(LOG_MAGIC, LOG_HEADER_BYTES, { gen, base, sizeBytes });
}

export function encodeLogRecord(record: LogRecord): Uint8Array {
  return encodeFrame({ lsn: record.lsn, t: record.timeUs, ops: record.ops.map((op) => ({ k: op.key, v: op.value })) });
}

/** `JSON.stringify({ k: op.key, v: op.value })`: an operation's text in log records and database records alike. */
export function opJson(op: DbRecord): string {
  return `{"k":${JSON.stringify(op.key)},"v":${JSON.stringify(op.value)}}`;
}

/**
 * encodeLogRecord from the operations' texts (opJson, one per operation, in order): the same
 * bytes, in the shared scratch buffer (valid until the next encoding; copy it first).
 */
export function encodeLogRecordTextScratch(lsn: number, timeUs: number, opTexts: readonly string[]): Uint8Array {
  return encodeJsonTextScratch(`{"lsn":${lsn},"t":${timeUs},"ops":[${opTexts.join(',')}]}`);
}

/** A database record frame from its text (opJson), in the shared scratch buffer. */
export function encodeDbRecordTextScratch(text: string): Uint8Array {
  return encodeJsonTextScratch(text);
}

export function encodeLogEnd(): Uint8Array {
  return encodeFrame({ end: true });
}

/** How a generation's record stream ended. */
export type LogEnd = 'empty' | 'end-marker' | 'torn' | 'full';

export interface ParsedLog {
  readonly gen: number;
  readonly records: readonly LogRecord[];
  readonly end: LogEnd;
  /** Where the next record would go (the first byte past the last valid record). */
  readonly endOffsetBytes: number;
  /** Why the stream ended torn. */
  readonly tornReason: string | null;
}

function checkLogRecord(v: unknown): LogRecord | undefined {
  if (!isObject(v) || !isCount(v.lsn) || !isCount(v.t) || !Array.isArray(v.ops)) return undefined;
  const ops: DbRecord[] = [];
  for (const op of v.ops) {
    const checked = checkOp(op);
    if (checked === undefined) return undefined;
    ops.push(checked);
  }
  return { lsn: v.lsn, timeUs: v.t, ops };
}

/** Parses a log generation file; an error when its header is unreadable. */
export function parseLog(bytes: Uint8Array): Result<ParsedLog, string> {
  const head = decodeSlot(bytes, 0, LOG_HEADER_BYTES, LOG_MAGIC);
  if (!isObject(head) || !isCount(head.gen)) return err('no valid log header');
  const gen = head.gen;
  const records: LogRecord[] = [];
  let pos = LOG_HEADER_BYTES;
  const maxRecords = Math.ceil(bytes.length / (FRAME_HEADER_BYTES + 1));
  for (let n = 0; ; n++) {
    assert(n <= maxRecords, 'log record scan did not advance');
    if (pos >= bytes.length) return ok({ gen, records, end: 'full', endOffsetBytes: pos, tornReason: null });
    const frame = readFrame(bytes, pos, bytes.length);
    if (frame.kind === 'empty') return ok({ gen, records, end: 'empty', endOffsetBytes: pos, tornReason: null });
    if (frame.kind === 'bad') return ok({ gen, records, end: 'torn', endOffsetBytes: pos, tornReason: frame.reason });
    if (isObject(frame.value) && frame.value.end === true) return ok({ gen, records, end: 'end-marker', endOffsetBytes: pos, tornReason: null });
    const record = checkLogRecord(frame.value);
    if (record === undefined) return ok({ gen, records, end: 'torn', endOffsetBytes: pos, tornReason: `record at ${pos} is not a transaction` });
    records.push(record);
    pos = frame.endBytes;
  }
}

export interface LogLayout {
  /** File name prefix: `E00` (Exchange), `edb` (Active Directory). */
  readonly base: string;
  /** Hex digits of the generation in the name. */
  readonly genDigits: number;
}

export function logFileName(layout: LogLayout, gen: number): string {
  assert(Number.isSafeInteger(gen) && gen >= 1 && gen < 16 ** layout.genDigits, `log generation ${gen} out of range`);
  return `${layout.base}${gen.toString(16).toUpperCase().padStart(layout.genDigits, '0')}.log`;
}

/** The generation a log file name stands for, or undefined when it is not one of ours. */
export function parseLogFileName(layout: LogLayout, name: string): number | undefined {
  if (!name.startsWith(layout.base) || !name.endsWith('.log')) return undefined;
  const digits = name.slice(layout.base.length, name.length - 4);
  if (digits.length !== layout.genDigits || !/^[0-9A-F]+$/.test(digits)) return undefined;
  const gen = parseInt(digits, 16);
  return gen >= 1 ? gen : undefined;
}

// ---------------------------------------------------------------------------------------
// Checkpoint file

export interface CheckpointState {
  readonly seq: number;
  readonly checkpointGen: number;
  readonly highestGen: number;
}

export function encodeCheckpointSlot(c: CheckpointState): Uint8Array {
  return encodeSlot(CHK_MAGIC, CHK_SLOT_BYTES, { seq: c.seq, checkpointGen: c.checkpointGen, highestGen: c.highestGen });
}

export function checkpointOffset(seq: number): number {
  return (seq % 2) * CHK_SLOT_BYTES;
}

export function parseCheckpoint(bytes: Uint8Array): CheckpointState | undefined {
  return newestSlot(bytes, CHK_SLOT_BYTES, CHK_MAGIC, 2, (v) => {
    if (!isObject(v) || !isCount(v.seq) || !isCount(v.checkpointGen) || !isCount(v.highestGen)) return undefined;
    return { seq: v.seq, checkpointGen: v.checkpointGen, highestGen: v.highestGen };
  });
}
