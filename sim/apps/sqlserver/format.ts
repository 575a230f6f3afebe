/**
 * On-disk formats of the SQL Server model: the data file (.mdf), the log file (.ldf) and
 * the native log backup (what `sqlcmd backup-log` prints). Pure encoders and decoders, so
 * a backup engine (which cannot import sim/) can reimplement them from this header alone.
 * Every integer is little-endian; every JSON text is UTF-8; CRC32 is IEEE (zlib's).
 *
 * Data file (/sql/<db>.mdf): `pageCount` pages of PAGE_BYTES (4096) bytes, page i at
 * offset i * 4096. Every page:
 *   u32 magic 0x51535047 ('QSPG') | u32 pageId | u32 pageLsn low | u32 pageLsn high |
 *   u32 payloadBytes | u32 crc32(bytes 0..20 ++ bytes 24..4096) | payload (JSON) | zero fill
 * The CRC covers the whole page but itself (the fill too, so any torn sector shows). A
 * page whose magic, id, length or CRC is wrong (a torn or lost write) is bad.
 * - Pages 0 and 1 are the boot page, two copies (written alternately by `seq`; the valid
 *   copy with the highest seq wins): payload {"boot": BootInfo}: the format, the layout,
 *   and `checkpointLsn` (the ckpt-begin record analysis starts at) and `redoLsn` (where
 *   redo starts: every page change before it is on disk). Boot pages carry pageLsn 0.
 * - Every other page is a row page: payload {"rows": [[table, key, value, txn], ...]} with
 *   at most ROWS_PER_PAGE rows of at most MAX_ROW_BYTES (JSON of the row). pageLsn is the
 *   LSN of the last log record applied to the page. Layout (BootInfo.layout):
 *   `systemPage` holds table 'sys.dbinfo' (key 'logchain': the log chain and differential
 *   base, JSON); the commit pages hold table 'sys.commits': key = block number b (decimal),
 *   value = 256 hex digits, a bitmap of the committed transaction ids b*1024 .. b*1024+1023
 *   (bit i of the id b*1024+i is bit (i % 4) of hex digit floor(i / 4)); the history pages
 *   hold table 'msdb.backupset': key = backup id, value = JSON BackupHistoryEntry; the
 *   data pages hold the user tables, txn = id of the transaction that wrote the row last.
 *   Rows of the user tables are placed at dataStart + fnv1a32(table + '\0' + key) % dataPages,
 *   or the next page with room (only a reader that wants one row needs this).
 *
 * Log file (/sql/<db>.ldf): two header copies at offsets 0 and 4096 (alternately written;
 * the valid copy with the highest seq wins):
 *   u32 magic 0x51534c48 ('QSLH') | u32 payloadBytes | u32 crc32(payload) | payload (JSON LogHeader)
 * then, from offset LOG_DATA_OFFSET (8192), log records appended back to back:
 *   u32 magic 0x51534c52 ('QSLR') | u32 payloadBytes | u32 crc32(payload) | payload (JSON LogRecord)
 * LSNs are record numbers: each record's lsn is the previous one's plus one. A reader takes
 * the longest valid prefix (magic, length, CRC, JSON and the next lsn all right): a crash can
 * leave a torn or stale tail after it. Records before the header's truncationLsn may be
 * dropped when the file is rewritten (compaction), so the first record may be any lsn.
 *
 * Log backup (stdout of `sqlcmd backup-log`):
 *   u64 magic 'QSLBAK01' (8 ASCII bytes) | u32 headerBytes | u32 crc32(header) | header (JSON
 *   LogBackupHeader) | records, framed as in the log file.
 * The header carries firstLsn and lastLsn (the records are exactly firstLsn <= lsn < lastLsn,
 * so consecutive backups of a chain have lastLsn(k) = firstLsn(k+1)), the recordsBytes and
 * recordsCrc of the framed records, and the time range.
 *
 * Leaves out: SQL Server's real formats (8 KiB pages, slot arrays, VLFs, parity bits,
 * MTF backup sets); JSON stands in for them, with the same information a real reader uses.
 */

import { crc32 } from '../../../core/crc32.js';
import { err, ok, type Result } from '../../../core/result.js';
import { allocBytes, utf8Bytes, utf8Length, utf8Scratch } from '../../kernel/bytes.js';
import { crc32ZeroExtend } from '../../kernel/crc32-combine.js';

export const PAGE_BYTES = 4096;
export const PAGE_MAGIC = 0x51535047;
export const PAGE_HEADER_BYTES = 24;
export const BOOT_PAGE_IDS = [0, 1] as const;
export const ROWS_PER_PAGE = 7;
export const MAX_ROW_BYTES = 512;
export const COMMIT_BLOCK_IDS = 1024;
export const DATA_FORMAT = 'qsql-mdf/1';

export const LOG_HEADER_MAGIC = 0x51534c48;
export const LOG_RECORD_MAGIC = 0x51534c52;
export const LOG_HEADER_COPY_OFFSETS = [0, 4096] as const;
export const LOG_DATA_OFFSET = 8192;
export const FRAME_HEADER_BYTES = 12;
/** Largest record payload a reader accepts (a full-page image is about 4 KiB of JSON). */
export const MAX_RECORD_BYTES = 64 * 1024;
export const BACKUP_MAGIC = 'QSLBAK01';

export const TABLE_DBINFO = 'sys.dbinfo';
export const TABLE_COMMITS = 'sys.commits';
export const TABLE_HISTORY = 'msdb.backupset';

const decoder = new TextDecoder('utf-8', { fatal: true });

export function utf8(text: string): Uint8Array {
  return utf8Bytes(text);
}

// ---------------------------------------------------------------------------------------
// Types

/** A row as stored: [table, key, value, txn]. */
export type PageRow = readonly [table: string, key: string, value: string, txn: number];
/** A row image in a log record: [value, txn], or null when the row does not exist. */
export type RowImage = readonly [value: string, txn: number] | null;

export type RecoveryModel = 'full' | 'simple';

export interface PageLayout {
  readonly systemPage: number;
  readonly commitStart: number;
  readonly commitPages: number;
  readonly historyStart: number;
  readonly historyPages: number;
  readonly dataStart: number;
  readonly dataPages: number;
}

export interface BootInfo {
  readonly format: string;
  readonly dbName: string;
  readonly seq: number;
  readonly pageCount: number;
  readonly layout: PageLayout;
  readonly checkpointLsn: number;
  readonly redoLsn: number;
}

/**
 * The log file header. `state`: 'open' (in use: a crash needs recovery), 'clean' (shut
 * down cleanly), 'frozen' (left consistent by a writer freeze), 'restoring' (RESTORE ...
 * WITH NORECOVERY in progress). The last three hold only while the log still ends at
 * `consistentEndLsn` (the next lsn when the state was written).
 */
export interface LogHeader {
  readonly seq: number;
  readonly dbName: string;
  readonly recoveryModel: RecoveryModel;
  readonly state: 'open' | 'clean' | 'frozen' | 'restoring';
  readonly consistentEndLsn: number;
  readonly checkpointLsn: number;
  readonly truncationLsn: number;
  readonly nextTxnId: number;
  /** The writer freeze that wrote this header ('frozen' only). */
  readonly frozen: { readonly backupId: string | null; readonly backupType: string | null; readonly checkpointLsn: number; readonly timeUs: number } | null;
  /** RESTORING: the next lsn the database needs, and the lsn a STOPAT stopped at. */
  readonly restore: { readonly nextLsn: number; readonly stoppedAtLsn: number | null; readonly timeUs: number } | null;
}

export interface ActiveTxnInfo {
  readonly txn: number;
  readonly firstLsn: number;
  readonly lastLsn: number;
}

export interface SysOp {
  readonly page: number;
  readonly table: string;
  readonly key: string;
  readonly after: RowImage;
}

export type LogRecord =
  | { readonly type: 'begin'; readonly lsn: number; readonly timeUs: number; readonly txn: number }
  /** A row change of a transaction: redo sets `after`, undo sets `before`. */
  | { readonly type: 'row'; readonly lsn: number; readonly timeUs: number; readonly txn: number; readonly page: number; readonly table: string; readonly key: string; readonly before: RowImage; readonly after: RowImage }
  /** Compensation (redo-only): the undo of record `undoes`. */
  | { readonly type: 'clr'; readonly lsn: number; readonly timeUs: number; readonly txn: number; readonly page: number; readonly table: string; readonly key: string; readonly after: RowImage; readonly undoes: number }
  /** Commit: sets the transaction's bit in the commit table row on `page`. */
  | { readonly type: 'commit'; readonly lsn: number; readonly timeUs: number; readonly txn: number; readonly page: number }
  /** End of a rollback (every change compensated). */
  | { readonly type: 'abort'; readonly lsn: number; readonly timeUs: number; readonly txn: number }
  /** Full-page image of `page` before its first change after a checkpoint began (repairs a torn page). */
  | { readonly type: 'fpi'; readonly lsn: number; readonly timeUs: number; readonly page: number; readonly pageLsn: number; readonly rows: readonly PageRow[] }
  /** Atomic system change (backup history, log chain), redo-only. */
  | { readonly type: 'sys'; readonly lsn: number; readonly timeUs: number; readonly ops: readonly SysOp[] }
  | { readonly type: 'ckpt-begin'; readonly lsn: number; readonly timeUs: number; readonly active: readonly ActiveTxnInfo[]; readonly dirtyPages: readonly number[]; readonly nextTxnId: number }
  | { readonly type: 'ckpt-end'; readonly lsn: number; readonly timeUs: number; readonly beginLsn: number };

export type LogRecordType = LogRecord['type'];

export interface BackupHistoryEntry {
  readonly seq: number;
  readonly id: string;
  readonly type: 'full' | 'differential' | 'log';
  readonly copyOnly: boolean;
  /** A log backup written to NUL: it truncated the log and kept nothing. */
  readonly toNul: boolean;
  readonly firstLsn: number;
  readonly lastLsn: number;
  /** Full and differential: the checkpoint the snapshot holds. */
  readonly checkpointLsn: number;
  /** The differential base's checkpoint LSN this backup depends on (0: none). */
  readonly databaseBackupLsn: number;
  readonly timeUs: number;
}

/** sys.dbinfo 'logchain'. */
export interface LogChainInfo {
  /** A full backup completed: the log is kept until log backups (full recovery). */
  readonly started: boolean;
  /** The first lsn no log backup has covered yet (the next log backup's firstLsn). */
  readonly backupLsn: number;
  readonly diffBase: { readonly backupId: string; readonly checkpointLsn: number } | null;
}

export interface LogBackupHeader {
  readonly format: 'qsql-logbackup/1';
  readonly dbName: string;
  readonly backupId: string;
  readonly copyOnly: boolean;
  readonly firstLsn: number;
  readonly lastLsn: number;
  /** The differential base's checkpoint LSN when the backup was taken (0: none). */
  readonly databaseBackupLsn: number;
  readonly firstRecordTimeUs: number | null;
  readonly lastRecordTimeUs: number | null;
  /** When the backup was taken: every record logged up to this instant is in it. */
  readonly backupTimeUs: number;
  readonly recordCount: number;
  readonly recordsBytes: number;
  readonly recordsCrc: number;
}

// ---------------------------------------------------------------------------------------
// Small helpers

/** FNV-1a over UTF-16 code units: the placement hash of user rows. */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function rowBytes(row: PageRow): number {
  return utf8Length(JSON.stringify(row));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isRowImage(v: unknown): v is RowImage {
  return v === null || (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && isInt(v[1]));
}

export function isPageRow(v: unknown): v is PageRow {
  return Array.isArray(v) && v.length === 4 && typeof v[0] === 'string' && typeof v[1] === 'string' && typeof v[2] === 'string' && isInt(v[3]);
}

/** Frames `payload` into `out` at `offset`; returns the frame's length. */
function frameInto(out: Uint8Array, offset: number, magic: number, payload: Uint8Array): number {
  const view = new DataView(out.buffer, out.byteOffset + offset, FRAME_HEADER_BYTES);
  view.setUint32(0, magic, true);
  view.setUint32(4, payload.length, true);
  view.setUint32(8, crc32(payload), true);
  out.set(payload, offset + FRAME_HEADER_BYTES);
  return FRAME_HEADER_BYTES + payload.length;
}

function frame(magic: number, text: string): Uint8Array {
  const payload = utf8Scratch(text);
  const out = allocBytes(FRAME_HEADER_BYTES + payload.length);
  frameInto(out, 0, magic, payload);
  return out;
}

/**
 * Appends framed log records to a growing buffer (one copy per record, no array per
 * record): what the log writer and log backups write.
 */
export class RecordWriter {
  private buf = new Uint8Array(16 * 1024);
  private used = 0;

  get lengthBytes(): number {
    return this.used;
  }

  /** Appends one framed record (`json`: its JSON text when known already); returns its length in bytes. */
  append(record: LogRecord, json?: string): number {
    const payload = utf8Scratch(json ?? JSON.stringify(record));
    const need = this.used + FRAME_HEADER_BYTES + payload.length;
    if (need > this.buf.length) {
      const grown = new Uint8Array(Math.max(need, 2 * this.buf.length));
      grown.set(this.buf.subarray(0, this.used));
      this.buf = grown;
    }
    const n = frameInto(this.buf, this.used, LOG_RECORD_MAGIC, payload);
    this.used += n;
    return n;
  }

  /** The bytes appended since the last reset (a view, valid until the next append or reset). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.used);
  }

  reset(): void {
    this.used = 0;
  }
}

/** The JSON payload of a frame at `pos`, or undefined when anything is wrong. */
function unframe(bytes: Uint8Array, pos: number, magic: number, maxBytes: number): { json: unknown; next: number } | undefined {
  if (pos + FRAME_HEADER_BYTES > bytes.length) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(pos, true) !== magic) return undefined;
  const length = view.getUint32(pos + 4, true);
  if (length > maxBytes || pos + FRAME_HEADER_BYTES + length > bytes.length) return undefined;
  const payload = bytes.subarray(pos + FRAME_HEADER_BYTES, pos + FRAME_HEADER_BYTES + length);
  if (crc32(payload) !== view.getUint32(pos + 8, true)) return undefined;
  try {
    return { json: JSON.parse(decoder.decode(payload)) as unknown, next: pos + FRAME_HEADER_BYTES + length };
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------
// Pages

export function encodePage(pageId: number, pageLsn: number, payload: unknown): Uint8Array {
  return encodePageInto(new Uint8Array(PAGE_BYTES), pageId, pageLsn, payload);
}

/** encodePage into `out` (PAGE_BYTES long; every byte is written). Returns `out`. */
export function encodePageInto(out: Uint8Array, pageId: number, pageLsn: number, payload: unknown): Uint8Array {
  return encodePageTextInto(out, pageId, pageLsn, JSON.stringify(payload));
}

/** encodePageInto with the payload's JSON text given (`JSON.stringify(payload)`). */
export function encodePageTextInto(out: Uint8Array, pageId: number, pageLsn: number, payloadJson: string): Uint8Array {
  const body = utf8Scratch(payloadJson);
  if (body.length > PAGE_BYTES - PAGE_HEADER_BYTES) throw new RangeError(`page ${pageId} payload of ${body.length} bytes does not fit`);
  if (out.length !== PAGE_BYTES) throw new RangeError(`page buffer of ${out.length} bytes`);
  out.fill(0, PAGE_HEADER_BYTES + body.length);
  const view = new DataView(out.buffer, out.byteOffset, PAGE_BYTES);
  view.setUint32(0, PAGE_MAGIC, true);
  view.setUint32(4, pageId, true);
  view.setUint32(8, pageLsn % 2 ** 32, true);
  view.setUint32(12, Math.floor(pageLsn / 2 ** 32), true);
  view.setUint32(16, body.length, true);
  out.set(body, PAGE_HEADER_BYTES);
  // pageCrc(out), without a pass over the zero fill after the payload.
  const end = PAGE_HEADER_BYTES + body.length;
  view.setUint32(20, crc32ZeroExtend(crc32(out.subarray(PAGE_HEADER_BYTES, end), crc32(out.subarray(0, 20))), PAGE_BYTES - end), true);
  return out;
}

/** CRC32 of a page without its CRC field (bytes 20..24). */
export function pageCrc(page: Uint8Array): number {
  return crc32(page.subarray(PAGE_HEADER_BYTES), crc32(page.subarray(0, 20)));
}

export type DecodedPage =
  | { readonly ok: true; readonly pageId: number; readonly pageLsn: number; readonly payload: unknown }
  | { readonly ok: false; readonly reason: string };

export function decodePage(bytes: Uint8Array, expectedPageId: number): DecodedPage {
  if (bytes.length !== PAGE_BYTES) return { ok: false, reason: `short page (${bytes.length} bytes)` };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== PAGE_MAGIC) return { ok: false, reason: bytes.every((b) => b === 0) ? 'zeroed' : 'bad magic' };
  const pageId = view.getUint32(4, true);
  if (pageId !== expectedPageId) return { ok: false, reason: `page id ${pageId} at slot ${expectedPageId}` };
  const length = view.getUint32(16, true);
  if (length > PAGE_BYTES - PAGE_HEADER_BYTES) return { ok: false, reason: 'bad length' };
  const body = bytes.subarray(PAGE_HEADER_BYTES, PAGE_HEADER_BYTES + length);
  if (pageCrc(bytes) !== view.getUint32(20, true)) return { ok: false, reason: 'CRC mismatch (torn or damaged)' };
  try {
    const payload = JSON.parse(decoder.decode(body)) as unknown;
    return { ok: true, pageId, pageLsn: view.getUint32(8, true) + view.getUint32(12, true) * 2 ** 32, payload };
  } catch {
    return { ok: false, reason: 'bad JSON' };
  }
}

export function rowsOfPayload(payload: unknown): PageRow[] | undefined {
  if (!isObject(payload) || !Array.isArray(payload.rows)) return undefined;
  const rows: PageRow[] = [];
  for (const r of payload.rows as unknown[]) {
    if (!isPageRow(r)) return undefined;
    rows.push(r);
  }
  return rows.length <= ROWS_PER_PAGE ? rows : undefined;
}

export function bootOfPayload(payload: unknown): BootInfo | undefined {
  if (!isObject(payload) || !isObject(payload.boot)) return undefined;
  const b = payload.boot;
  const l = b.layout;
  if (b.format !== DATA_FORMAT || typeof b.dbName !== 'string' || !isInt(b.seq) || !isInt(b.pageCount) || !isInt(b.checkpointLsn) || !isInt(b.redoLsn) || !isObject(l)) return undefined;
  const keys = ['systemPage', 'commitStart', 'commitPages', 'historyStart', 'historyPages', 'dataStart', 'dataPages'] as const;
  if (!keys.every((k) => isInt(l[k]))) return undefined;
  return payload.boot as unknown as BootInfo;
}

// ---------------------------------------------------------------------------------------
// Log file

export function encodeLogHeader(header: LogHeader): Uint8Array {
  return frame(LOG_HEADER_MAGIC, JSON.stringify(header));
}

function logHeaderOf(json: unknown): LogHeader | undefined {
  if (!isObject(json)) return undefined;
  const states = ['open', 'clean', 'frozen', 'restoring'];
  if (!isInt(json.seq) || typeof json.dbName !== 'string' || (json.recoveryModel !== 'full' && json.recoveryModel !== 'simple')) return undefined;
  if (typeof json.state !== 'string' || !states.includes(json.state)) return undefined;
  if (!isInt(json.consistentEndLsn) || !isInt(json.checkpointLsn) || !isInt(json.truncationLsn) || !isInt(json.nextTxnId)) return undefined;
  if (json.frozen !== null && !isObject(json.frozen)) return undefined;
  if (json.restore !== null && !isObject(json.restore)) return undefined;
  return json as unknown as LogHeader;
}

/** The newest valid header copy of a log file, or undefined. */
export function decodeLogHeader(bytes: Uint8Array): LogHeader | undefined {
  let best: LogHeader | undefined;
  for (const offset of LOG_HEADER_COPY_OFFSETS) {
    const got = unframe(bytes, offset, LOG_HEADER_MAGIC, LOG_HEADER_COPY_OFFSETS[1] - FRAME_HEADER_BYTES);
    const header = got === undefined ? undefined : logHeaderOf(got.json);
    if (header !== undefined && (best === undefined || header.seq > best.seq)) best = header;
  }
  return best;
}

export function encodeRecord(record: LogRecord): Uint8Array {
  return frame(LOG_RECORD_MAGIC, JSON.stringify(record));
}

const RECORD_CHECKS: Readonly<Record<LogRecordType, (r: Record<string, unknown>) => boolean>> = {
  'begin': (r) => isInt(r.txn),
  'row': (r) => isInt(r.txn) && isInt(r.page) && typeof r.table === 'string' && typeof r.key === 'string' && isRowImage(r.before) && isRowImage(r.after),
  'clr': (r) => isInt(r.txn) && isInt(r.page) && typeof r.table === 'string' && typeof r.key === 'string' && isRowImage(r.after) && isInt(r.undoes),
  'commit': (r) => isInt(r.txn) && isInt(r.page),
  'abort': (r) => isInt(r.txn),
  'fpi': (r) => isInt(r.page) && isInt(r.pageLsn) && Array.isArray(r.rows) && (r.rows as unknown[]).every(isPageRow),
  'sys': (r) => Array.isArray(r.ops) && (r.ops as unknown[]).every((o) => isObject(o) && isInt(o.page) && typeof o.table === 'string' && typeof o.key === 'string' && isRowImage(o.after)),
  'ckpt-begin': (r) => Array.isArray(r.active) && Array.isArray(r.dirtyPages) && isInt(r.nextTxnId)
    && (r.active as unknown[]).every((a) => isObject(a) && isInt(a.txn) && isInt(a.firstLsn) && isInt(a.lastLsn)),
  'ckpt-end': (r) => isInt(r.beginLsn),
};

export function recordOf(json: unknown): LogRecord | undefined {
  if (!isObject(json) || !isInt(json.lsn) || !isInt(json.timeUs) || typeof json.type !== 'string') return undefined;
  const check = (RECORD_CHECKS as Partial<Record<string, (r: Record<string, unknown>) => boolean>>)[json.type];
  if (check === undefined || !check(json)) return undefined;
  return json as unknown as LogRecord;
}

export interface ScannedRecord {
  readonly record: LogRecord;
  readonly offset: number;
  readonly bytes: number;
}

export interface LogScan {
  readonly records: ScannedRecord[];
  /** Offset just past the last valid record. */
  readonly endOffset: number;
}

/** The longest valid prefix of framed records from `startOffset` (lsns consecutive). */
export function scanRecords(bytes: Uint8Array, startOffset: number, maxRecords = 10_000_000): LogScan {
  const records: ScannedRecord[] = [];
  let pos = startOffset;
  for (let i = 0; i < maxRecords; i++) {
    const got = unframe(bytes, pos, LOG_RECORD_MAGIC, MAX_RECORD_BYTES);
    const record = got === undefined ? undefined : recordOf(got.json);
    if (got === undefined || record === undefined) break;
    const prev = records[records.length - 1];
    if (prev !== undefined && record.lsn !== prev.record.lsn + 1) break;
    records.push({ record, offset: pos, bytes: got.next - pos });
    pos = got.next;
  }
  return { records, endOffset: pos };
}

// ---------------------------------------------------------------------------------------
// Log backups

export function encodeLogBackup(header: Omit<LogBackupHeader, 'recordCount' | 'recordsBytes' | 'recordsCrc' | 'format'>, records: readonly LogRecord[]): Uint8Array {
  const writer = new RecordWriter();
  for (const r of records) writer.append(r);
  const body = writer.bytes();
  const recordsBytes = body.length;
  const full: LogBackupHeader = { format: 'qsql-logbackup/1', ...header, recordCount: records.length, recordsBytes, recordsCrc: crc32(body) };
  const head = utf8(JSON.stringify(full));
  const out = new Uint8Array(8 + 8 + head.length + body.length);
  out.set(utf8(BACKUP_MAGIC), 0);
  const view = new DataView(out.buffer);
  view.setUint32(8, head.length, true);
  view.setUint32(12, crc32(head), true);
  out.set(head, 16);
  out.set(body, 16 + head.length);
  return out;
}

export interface LogBackup {
  readonly header: LogBackupHeader;
  readonly records: readonly LogRecord[];
}

export function decodeLogBackup(bytes: Uint8Array): Result<LogBackup, string> {
  if (bytes.length < 16 || decoder.decode(bytes.subarray(0, 8)) !== BACKUP_MAGIC) return err('not a log backup (bad magic)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headBytes = view.getUint32(8, true);
  if (16 + headBytes > bytes.length) return err('log backup header truncated');
  const head = bytes.subarray(16, 16 + headBytes);
  if (crc32(head) !== view.getUint32(12, true)) return err('log backup header CRC mismatch');
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(head));
  } catch {
    return err('log backup header is not JSON');
  }
  if (!isObject(json) || json.format !== 'qsql-logbackup/1' || !isInt(json.firstLsn) || !isInt(json.lastLsn) || !isInt(json.recordsBytes)
    || !isInt(json.recordsCrc) || !isInt(json.recordCount) || !isInt(json.backupTimeUs) || typeof json.dbName !== 'string') {
    return err('log backup header is malformed');
  }
  const header = json as unknown as LogBackupHeader;
  const body = bytes.subarray(16 + headBytes);
  if (body.length !== header.recordsBytes || crc32(body) !== header.recordsCrc) return err('log backup records are damaged (length or CRC)');
  const scan = scanRecords(body, 0);
  const records = scan.records.map((r) => r.record);
  if (scan.endOffset !== body.length || records.length !== header.recordCount || records.length !== header.lastLsn - header.firstLsn) {
    return err('log backup records do not match the header');
  }
  if (records.length > 0 && records[0]?.lsn !== header.firstLsn) return err('log backup records do not start at firstLsn');
  return ok({ header, records });
}
