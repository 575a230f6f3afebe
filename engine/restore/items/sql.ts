/**
 * SQL Server rows straight from a RecoveryPoint (no VM restore): `findSqlRow` reads the
 * data file (/sql/<db>.mdf, first volume) and the log (/sql/<db>.ldf, last volume) with
 * the engine's guest file-system reader and answers the value of one row (table, key) as
 * the database would hold it after recovery at the point — the committed value.
 *
 * Formats (sim/apps/sqlserver/format.ts header, reimplemented here; engine/ never imports
 * sim/): 4 KiB pages `magic 'QSPG' | pageId | pageLsn lo | hi | payloadBytes | crc32 |
 * JSON`; boot page copies 0 and 1 (highest valid seq) with the layout and redoLsn; user
 * rows [table, key, value, txn] on the data pages, placed at dataStart + fnv1a32(table
 * '\0' key) % dataPages or a later page (wrapping); commit bitmaps in 'sys.commits' rows
 * on the commit pages; the log's framed JSON records from offset 8192 (longest valid
 * prefix with consecutive LSNs) and its header copies at 0 and 4096.
 *
 * How a row is resolved (ARIES, for one key, in memory):
 * 1. Redo. The key's page is the page its log records name (a row never moves) or, if the
 *    log has none, the first data page holding it, probing every data page from its home.
 *    A page that is bad on disk is rebuilt from the first full-page image in the log at or
 *    after the boot page's redoLsn; the key's row/clr records after the page's pageLSN are
 *    applied in LSN order. So a crash-consistent point's committed changes after the last
 *    checkpoint are found too.
 * 2. Commit status of the image's writing transaction: its bit in the on-disk commit
 *    bitmap, or a commit record in the log.
 * 3. Undo. At a writer-frozen (application-consistent) point the data file may hold
 *    changes of transactions in flight at the freeze. For such a row we do what recovery
 *    does (roll the loser back): the before image of the loser's first record for the key
 *    in the log is the value before it touched the row — committed, since a row is locked
 *    by one transaction at a time. We check that image's own writer is committed; when the
 *    loser's records are not in the log (cannot happen with the model's truncation rule,
 *    but the image is untrusted) the answer is the error 'uncommitted-at-point' rather than
 *    a guess. A deleted or never-committed row is 'not-found'.
 *
 * Damage: a needed page that is bad without an image, a log that ends before the header's
 * consistent end (frozen/clean), starts after redoLsn, or is older than a page's pageLSN,
 * is a 'damaged' error naming the file and page or record: never a stale value.
 *
 * Leaves out: 'sys' records (system tables), database names other than the caller's,
 * reading log backups (the point alone is the source), and tables whose values exceed the
 * model's row bound (not checked).
 */

import { crc32 } from '../../../core/crc32.js';
import { err, ok, type Result } from '../../../core/result.js';
import type { PointSource } from '../source.js';
import { isNat, isObject, parseJson, readGuestFile, unframe, type GuestFile, type ItemError, type Provenance } from './common.js';

export const SQL_PAGE_BYTES = 4096;
const PAGE_MAGIC = 0x51535047;
const PAGE_HEADER_BYTES = 24;
const ROWS_PER_PAGE = 7;
const COMMIT_BLOCK_IDS = 1024;
const DATA_FORMAT = 'qsql-mdf/1';
const LOG_HEADER_MAGIC = 0x51534c48;
const LOG_RECORD_MAGIC = 0x51534c52;
const LOG_HEADER_COPY_OFFSETS = [0, 4096] as const;
export const LOG_DATA_OFFSET = 8192;
const MAX_RECORD_BYTES = 64 * 1024;
const MAX_KEY_CHARS = 1024;
const TABLE_COMMITS = 'sys.commits';

export interface SqlRowQuery {
  readonly table: string;
  readonly key: string;
  /** Database name (files /sql/<db>.mdf and .ldf); default 'db'. */
  readonly db?: string;
}

export interface SqlRow {
  readonly table: string;
  readonly key: string;
  readonly value: string;
  /** The committed transaction that wrote the value. */
  readonly txn: number;
  readonly provenance: Provenance;
}

type Row = readonly [table: string, key: string, value: string, txn: number];
type Image = readonly [value: string, txn: number] | null;

interface Layout {
  readonly commitStart: number;
  readonly commitPages: number;
  readonly dataStart: number;
  readonly dataPages: number;
}

interface Boot {
  readonly seq: number;
  readonly pageCount: number;
  readonly redoLsn: number;
  readonly layout: Layout;
}

type KeyRecord =
  | { readonly type: 'row'; readonly lsn: number; readonly txn: number; readonly page: number; readonly before: Image; readonly after: Image }
  | { readonly type: 'clr'; readonly lsn: number; readonly txn: number; readonly page: number; readonly after: Image };

interface Fpi {
  readonly lsn: number;
  readonly page: number;
  readonly pageLsn: number;
  readonly rows: unknown;
}

interface LogView {
  readonly firstLsn: number | undefined;
  /** The lsn after the last valid record (undefined: empty log). */
  readonly endLsn: number | undefined;
  readonly keyRecords: KeyRecord[];
  readonly commits: Set<number>;
  readonly fpis: Fpi[];
  readonly header: { readonly state: string; readonly consistentEndLsn: number } | undefined;
}

/** FNV-1a over UTF-16 code units (the format's placement hash). */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function isImage(v: unknown): v is Image {
  return v === null || (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && isNat(v[1]));
}

function isRow(v: unknown): v is Row {
  return Array.isArray(v) && v.length === 4 && typeof v[0] === 'string' && typeof v[1] === 'string' && typeof v[2] === 'string' && isNat(v[3]);
}

type PageRead = { readonly ok: true; readonly pageLsn: number; readonly payload: unknown } | { readonly ok: false; readonly reason: string };

/** Decodes page `id` of the data file (untrusted). */
function readPage(mdf: Uint8Array, id: number): PageRead {
  const start = id * SQL_PAGE_BYTES;
  if (start + SQL_PAGE_BYTES > mdf.length) return { ok: false, reason: `beyond the end of the file (${mdf.length} bytes)` };
  const page = mdf.subarray(start, start + SQL_PAGE_BYTES);
  const view = new DataView(page.buffer, page.byteOffset, SQL_PAGE_BYTES);
  if (view.getUint32(0, true) !== PAGE_MAGIC) return { ok: false, reason: page.every((b) => b === 0) ? 'zeroed' : 'bad magic' };
  const pageId = view.getUint32(4, true);
  if (pageId !== id) return { ok: false, reason: `holds page id ${pageId}` };
  const length = view.getUint32(16, true);
  if (length > SQL_PAGE_BYTES - PAGE_HEADER_BYTES) return { ok: false, reason: `bad payload length ${length}` };
  if (crc32(page.subarray(PAGE_HEADER_BYTES), crc32(page.subarray(0, 20))) !== view.getUint32(20, true)) return { ok: false, reason: 'CRC mismatch (torn or damaged)' };
  const payload = parseJson(page.subarray(PAGE_HEADER_BYTES, PAGE_HEADER_BYTES + length));
  if (payload === undefined) return { ok: false, reason: 'payload is not JSON' };
  return { ok: true, pageLsn: view.getUint32(8, true) + view.getUint32(12, true) * 2 ** 32, payload };
}

function rowsOf(payload: unknown): Row[] | undefined {
  const list = isObject(payload) ? payload.rows : undefined;
  if (!Array.isArray(list) || list.length > ROWS_PER_PAGE) return undefined;
  const rows: Row[] = [];
  for (const r of list as unknown[]) {
    if (!isRow(r)) return undefined;
    rows.push(r);
  }
  return rows;
}

function bootOf(payload: unknown): Boot | undefined {
  if (!isObject(payload) || !isObject(payload.boot)) return undefined;
  const b = payload.boot;
  const l = b.layout;
  if (b.format !== DATA_FORMAT || !isNat(b.seq) || !isNat(b.pageCount) || !isNat(b.redoLsn) || !isObject(l)) return undefined;
  const { commitStart, commitPages, dataStart, dataPages } = l;
  if (!isNat(commitStart) || !isNat(commitPages) || !isNat(dataStart) || !isNat(dataPages)) return undefined;
  if (commitStart < 2 || commitPages < 1 || dataStart < 2 || dataPages < 1) return undefined;
  if (commitStart + commitPages > b.pageCount || dataStart + dataPages > b.pageCount) return undefined;
  return { seq: b.seq, pageCount: b.pageCount, redoLsn: b.redoLsn, layout: { commitStart, commitPages, dataStart, dataPages } };
}

type Damaged = Extract<ItemError, { kind: 'damaged' }>;

function readBoot(mdf: GuestFile): Result<Boot, ItemError> {
  let best: Boot | undefined;
  const reasons: string[] = [];
  for (const id of [0, 1]) {
    const page = readPage(mdf.bytes, id);
    const boot = page.ok ? bootOf(page.payload) : undefined;
    if (!page.ok) reasons.push(`page ${id}: ${page.reason}`);
    else if (boot === undefined) reasons.push(`page ${id}: not a boot page`);
    if (boot !== undefined && (best === undefined || boot.seq > best.seq)) best = boot;
  }
  if (best === undefined) return err({ kind: 'damaged', file: mdf.path, page: 0, reason: `no valid boot page (${reasons.join('; ')})` });
  if (best.pageCount * SQL_PAGE_BYTES > mdf.bytes.length) return err({ kind: 'damaged', file: mdf.path, page: 0, reason: `boot page claims ${best.pageCount} pages, the file holds ${Math.floor(mdf.bytes.length / SQL_PAGE_BYTES)}` });
  return ok(best);
}

function logHeaderOf(ldf: Uint8Array): LogView['header'] {
  let best: { seq: number; state: string; consistentEndLsn: number } | undefined;
  for (const offset of LOG_HEADER_COPY_OFFSETS) {
    const got = unframe(ldf, offset, LOG_HEADER_MAGIC, 4096 - 12);
    const h = got?.json;
    if (!isObject(h) || !isNat(h.seq) || typeof h.state !== 'string' || !isNat(h.consistentEndLsn)) continue;
    if (best === undefined || h.seq > best.seq) best = { seq: h.seq, state: h.state, consistentEndLsn: h.consistentEndLsn };
  }
  return best;
}

/** Scans the log's longest valid prefix, keeping what one key needs. */
function scanLog(ldf: Uint8Array, table: string, key: string): LogView {
  const keyRecords: KeyRecord[] = [];
  const commits = new Set<number>();
  const fpis: Fpi[] = [];
  let firstLsn: number | undefined;
  let prevLsn: number | undefined;
  let pos = LOG_DATA_OFFSET;
  const maxRecords = Math.floor(ldf.length / 12) + 1;
  for (let i = 0; i < maxRecords; i++) {
    const got = unframe(ldf, pos, LOG_RECORD_MAGIC, MAX_RECORD_BYTES);
    const r = got?.json;
    if (got === undefined || !isObject(r) || !isNat(r.lsn) || typeof r.type !== 'string') break;
    if (prevLsn !== undefined && r.lsn !== prevLsn + 1) break;
    const { lsn } = r;
    if (r.type === 'row' || r.type === 'clr') {
      if (!isNat(r.txn) || !isNat(r.page) || typeof r.table !== 'string' || typeof r.key !== 'string' || !isImage(r.after)) break;
      if (r.type === 'row' && !isImage(r.before)) break;
      if (r.type === 'clr' && !isNat(r.undoes)) break;
      if (r.table === table && r.key === key) {
        keyRecords.push(r.type === 'row'
          ? { type: 'row', lsn, txn: r.txn, page: r.page, before: r.before as Image, after: r.after }
          : { type: 'clr', lsn, txn: r.txn, page: r.page, after: r.after });
      }
    } else if (r.type === 'commit') {
      if (!isNat(r.txn) || !isNat(r.page)) break;
      commits.add(r.txn);
    } else if (r.type === 'fpi') {
      if (!isNat(r.page) || !isNat(r.pageLsn) || !Array.isArray(r.rows)) break;
      fpis.push({ lsn, page: r.page, pageLsn: r.pageLsn, rows: r.rows });
    } else if (!['begin', 'abort', 'sys', 'ckpt-begin', 'ckpt-end'].includes(r.type)) {
      break;
    }
    firstLsn ??= lsn;
    prevLsn = lsn;
    pos = got.next;
  }
  return { firstLsn, endLsn: prevLsn === undefined ? undefined : prevLsn + 1, keyRecords, commits, fpis, header: logHeaderOf(ldf) };
}

interface PageState {
  readonly pageLsn: number;
  readonly rows: Row[];
  readonly via: 'page' | 'fpi';
}

/** A page's state at redo start: the data file's page or, if bad, its first image in the log. */
function pageState(mdf: GuestFile, log: LogView, boot: Boot, id: number): Result<PageState, Damaged> {
  const page = readPage(mdf.bytes, id);
  if (page.ok) {
    const rows = rowsOf(page.payload);
    if (rows === undefined) return err({ kind: 'damaged', file: mdf.path, page: id, reason: 'not a row page' });
    if (log.endLsn !== undefined && page.pageLsn >= log.endLsn) {
      return err({ kind: 'damaged', file: mdf.path, page: id, reason: `pageLSN ${page.pageLsn} is at or past the log's end ${log.endLsn} (data and log are not from one instant)` });
    }
    return ok({ pageLsn: page.pageLsn, rows, via: 'page' });
  }
  const image = log.fpis.find((f) => f.page === id && f.lsn >= boot.redoLsn);
  if (image !== undefined) {
    const rows = rowsOf({ rows: image.rows });
    if (rows !== undefined) return ok({ pageLsn: image.pageLsn, rows, via: 'fpi' });
  }
  return err({ kind: 'damaged', file: mdf.path, page: id, reason: `${page.reason}, and the log holds no image of it` });
}

type Committed = Result<boolean, Damaged>;

/** Whether `txn` committed: its bit on the commit pages, or a commit record in the log. */
function isCommitted(mdf: GuestFile, log: LogView, boot: Boot, txn: number): Committed {
  if (log.commits.has(txn)) return ok(true);
  const block = Math.floor(txn / COMMIT_BLOCK_IDS);
  const bit = txn % COMMIT_BLOCK_IDS;
  const { commitStart, commitPages } = boot.layout;
  const blockKey = String(block);
  for (let i = 0; i < commitPages; i++) {
    const id = commitStart + ((block + i) % commitPages);
    const state = pageState(mdf, log, boot, id);
    // A bad commit page without an image: we cannot tell whether its bitmap has the bit.
    if (!state.ok) return err({ ...state.error, reason: `commit page: ${state.error.reason}` });
    const row = state.value.rows.find((r) => r[0] === TABLE_COMMITS && r[1] === blockKey);
    if (row === undefined) continue;
    const hex = row[2];
    if (!/^[0-9a-f]{256}$/.test(hex)) return err({ kind: 'damaged', file: mdf.path, page: id, reason: `commit bitmap ${blockKey} is malformed` });
    const digit = parseInt(hex.charAt(Math.floor(bit / 4)), 16);
    return ok(((digit >> (bit % 4)) & 1) === 1);
  }
  return ok(false);
}

function logRecordName(ldf: GuestFile, lsn: number): string {
  return `${ldf.path} lsn ${lsn}`;
}

/** Finds the committed value of one row at the point. */
export async function findSqlRow(source: PointSource, query: SqlRowQuery): Promise<Result<SqlRow, ItemError>> {
  const { table, key } = query;
  const db = query.db ?? 'db';
  if (!/^[a-z][a-z0-9_]{0,15}$/.test(db)) return err({ kind: 'bad-request', reason: `bad database name '${db}'` });
  if (table.length === 0 || table.length > MAX_KEY_CHARS || key.length > MAX_KEY_CHARS) return err({ kind: 'bad-request', reason: 'table or key empty or too long' });
  if (table.startsWith('sys.') || table.startsWith('msdb.')) return err({ kind: 'bad-request', reason: `'${table}' is a system table` });
  const mdfRead = await readGuestFile(source, 'first', `/sql/${db}.mdf`);
  if (!mdfRead.ok) return mdfRead;
  const ldfRead = await readGuestFile(source, 'last', `/sql/${db}.ldf`);
  if (!ldfRead.ok) return ldfRead;
  const mdf = mdfRead.value;
  const ldf = ldfRead.value;
  const bootRead = readBoot(mdf);
  if (!bootRead.ok) return bootRead;
  const boot = bootRead.value;
  const log = scanLog(ldf.bytes, table, key);
  const prov = (page: number, via: string, lsn?: number): Provenance => ({ diskId: mdf.diskId, file: mdf.path, page, via, ...(lsn === undefined ? {} : { record: logRecordName(ldf, lsn) }) });

  // The log must reach where its header says a consistent image ends, and start by redoLsn.
  const h = log.header;
  if (h !== undefined && h.state !== 'open' && (log.endLsn ?? boot.redoLsn) < h.consistentEndLsn) {
    return err({ kind: 'damaged', file: ldf.path, record: `lsn ${log.endLsn ?? boot.redoLsn}`, reason: `the log ends before its consistent end ${h.consistentEndLsn} (state '${h.state}')` });
  }
  if (log.firstLsn !== undefined && log.firstLsn > boot.redoLsn) {
    return err({ kind: 'damaged', file: ldf.path, record: `lsn ${log.firstLsn}`, reason: `the log starts after the redo start ${boot.redoLsn}` });
  }

  const { dataStart, dataPages } = boot.layout;
  const inData = (p: number): boolean => p >= dataStart && p < dataStart + dataPages;

  // 1. The key's page, and its state at redo start.
  let pageId: number | undefined;
  let state: PageState | undefined;
  const first = log.keyRecords[0];
  if (first !== undefined) {
    if (!log.keyRecords.every((r) => r.page === first.page) || !inData(first.page)) {
      return err({ kind: 'damaged', file: ldf.path, record: `lsn ${first.lsn}`, reason: `log records of ${table}/${key} name pages outside the data region or more than one page` });
    }
    pageId = first.page;
    const s = pageState(mdf, log, boot, pageId);
    if (!s.ok) return s;
    state = s.value;
  } else {
    const home = fnv1a32(`${table}\0${key}`) % dataPages;
    for (let i = 0; i < dataPages && pageId === undefined; i++) {
      const id = dataStart + ((home + i) % dataPages);
      const s = pageState(mdf, log, boot, id);
      // The key might sit on this page: a damaged page means we cannot answer.
      if (!s.ok) return s;
      if (s.value.rows.some((r) => r[0] === table && r[1] === key)) {
        pageId = id;
        state = s.value;
      }
    }
  }
  if (pageId === undefined || state === undefined) return err({ kind: 'not-found', what: `${table}/${key}`, file: mdf.path });
  const page = pageId;
  const rows = state.rows.filter((r) => r[0] === table && r[1] === key);
  if (rows.length > 1) return err({ kind: 'damaged', file: mdf.path, page, reason: `${table}/${key} appears ${rows.length} times` });
  const onPage = rows[0];

  // 2. Redo the key's records after the page's LSN.
  let image: Image = onPage === undefined ? null : [onPage[2], onPage[3]];
  let last: KeyRecord | undefined;
  for (const r of log.keyRecords) {
    if (r.lsn <= state.pageLsn) continue;
    image = r.after;
    last = r;
  }
  const via = last === undefined ? state.via : `${state.via}+redo`;

  // 3. Commit status of the image's writer; undo a loser's change from its before image.
  const writer = image !== null ? image[1] : last !== undefined && last.type === 'row' ? last.txn : undefined;
  if (writer === undefined) return err({ kind: 'not-found', what: `${table}/${key}`, file: mdf.path });
  const committed = isCommitted(mdf, log, boot, writer);
  if (!committed.ok) return committed;
  if (committed.value) {
    if (image === null) return err({ kind: 'not-found', what: `${table}/${key}`, file: mdf.path });
    return ok({ table, key, value: image[0], txn: image[1], provenance: prov(page, via, last?.lsn) });
  }
  const firstOfLoser = log.keyRecords.find((r): r is Extract<KeyRecord, { type: 'row' }> => r.type === 'row' && r.txn === writer);
  if (firstOfLoser === undefined) return err({ kind: 'uncommitted-at-point', file: mdf.path, page, txn: writer });
  const before = firstOfLoser.before;
  if (before === null) return err({ kind: 'not-found', what: `${table}/${key}`, file: mdf.path });
  const priorCommitted = isCommitted(mdf, log, boot, before[1]);
  if (!priorCommitted.ok) return priorCommitted;
  if (!priorCommitted.value) return err({ kind: 'uncommitted-at-point', file: mdf.path, page, txn: before[1] });
  return ok({ table, key, value: before[0], txn: before[1], provenance: prov(page, 'undo', firstOfLoser.lsn) });
}
