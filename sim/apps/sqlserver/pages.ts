/**
 * The buffer pool's contents: every row page of the data file in memory (the model's
 * databases are small, so nothing is evicted), with pageLSNs, and the one function that
 * applies a log record to pages. Normal processing, crash-recovery redo and RESTORE LOG
 * all go through `applyRecord`, so "repeating history" is literally the same code.
 *
 * Redo rule: a record changes a page only when the page's pageLSN is below the record's
 * LSN (then the pageLSN becomes the record's). A full-page image ('fpi') is installed only
 * on a bad page (torn or CRC-bad on disk), with the image's own pageLSN, so the records
 * after it bring the page forward. A record that meets a bad page without an image first
 * cannot be applied: the page stays bad and the caller reports it.
 *
 * Placement: a user row lives on its home page (fnv1a32 of table and key) or the next one
 * with room; a row never moves (values are bounded by MAX_ROW_BYTES and a page holds at
 * most ROWS_PER_PAGE rows), so an undo always finds its slot free: a page's row count only
 * changes by inserts and by the undo of inserts.
 *
 * Leaves out: eviction and a lazy writer, latches, slot arrays and free space within a page.
 */

import { assert } from '../../../core/assert.js';
import { jsonNumberLength, jsonStringUtf8Length } from '../../kernel/bytes.js';
import {
  COMMIT_BLOCK_IDS, MAX_ROW_BYTES, ROWS_PER_PAGE, TABLE_COMMITS, fnv1a32, type LogRecord, type PageLayout, type PageRow, type RowImage,
} from './format.js';

const HEX_DIGITS = COMMIT_BLOCK_IDS / 4;
const ZERO_DIGITS = '0'.repeat(HEX_DIGITS);

/**
 * Row ids, built once per (table, key) and reused: a fresh concatenation per lookup costs a
 * string, its flattening and its hash every time (a row is looked up several times per write).
 */
const rowIds = new Map<string, Map<string, string>>();
let rowIdCount = 0;
const MAX_CACHED_ROW_IDS = 100_000;

export function rowId(table: string, key: string): string {
  let byKey = rowIds.get(table);
  if (byKey === undefined) {
    byKey = new Map();
    rowIds.set(table, byKey);
  }
  let id = byKey.get(key);
  if (id === undefined) {
    id = `${table}\u0000${key}`;
    if (rowIdCount >= MAX_CACHED_ROW_IDS) {
      rowIds.clear();
      rowIdCount = 0;
    } else {
      byKey.set(key, id);
      rowIdCount++;
    }
  }
  return id;
}

/** rowBytes(row) (the UTF-8 length of the row's JSON), counted without serialising it. */
function rowJsonBytes(row: PageRow): number {
  // [ "table" , "key" , "value" , txn ]
  return 5 + jsonStringUtf8Length(row[0]) + jsonStringUtf8Length(row[1]) + jsonStringUtf8Length(row[2]) + jsonNumberLength(row[3]);
}

export class RowPage {
  private readonly rowMap = new Map<string, PageRow>();
  /**
   * JSON text of each row, computed when first asked for and kept until the row changes:
   * page images and full-page-image records are joined from these instead of serialising
   * every row again.
   */
  private readonly rowJson = new Map<string, string>();
  /** JSON text of the rows array (`JSON.stringify(snapshotRows())`), until the next change. */
  private json: string | undefined;

  constructor(readonly id: number, public lsn: number, rows: readonly PageRow[]) {
    for (const r of rows) this.rowMap.set(rowId(r[0], r[1]), r);
  }

  get rows(): ReadonlyMap<string, PageRow> {
    return this.rowMap;
  }

  get(table: string, key: string): PageRow | undefined {
    return this.rowMap.get(rowId(table, key));
  }

  get hasRoom(): boolean {
    return this.rowMap.size < ROWS_PER_PAGE;
  }

  /** Sets (or with null deletes) a row. Room is the caller's invariant (see the header). */
  put(table: string, key: string, image: RowImage): void {
    const id = rowId(table, key);
    this.json = undefined;
    if (image === null) {
      this.rowMap.delete(id);
      this.rowJson.delete(id);
      return;
    }
    const row: PageRow = [table, key, image[0], image[1]];
    if (rowJsonBytes(row) > MAX_ROW_BYTES) assert(false, `row ${table}/${key} exceeds ${MAX_ROW_BYTES} bytes`);
    if (!(this.rowMap.has(id) || this.hasRoom)) assert(false, `page ${this.id} is full (placement invariant broken)`);
    this.rowMap.set(id, row);
    // Serialised when a page image or full-page image needs it (most rows change again first).
    this.rowJson.delete(id);
  }

  snapshotRows(): PageRow[] {
    return [...this.rowMap.values()];
  }

  /** `JSON.stringify(this.snapshotRows())`, from the cached text of each row. */
  rowsJson(): string {
    if (this.json !== undefined) return this.json;
    let text = '[';
    let first = true;
    for (const [id, row] of this.rowMap) {
      let json = this.rowJson.get(id);
      if (json === undefined) {
        json = JSON.stringify(row);
        this.rowJson.set(id, json);
      }
      text += first ? json : `,${json}`;
      first = false;
    }
    this.json = `${text}]`;
    return this.json;
  }

  /** `JSON.stringify(this.payload())`: the text of the page's payload. */
  payloadJson(): string {
    return `{"rows":${this.rowsJson()}}`;
  }

  payload(): { rows: PageRow[] } {
    return { rows: this.snapshotRows() };
  }
}

/** A bad page: what the disk held could not be decoded. */
export interface BadPage {
  readonly bad: true;
  readonly id: number;
  readonly reason: string;
}

export type PageSlot = RowPage | BadPage;

export function isBad(slot: PageSlot | undefined): slot is BadPage {
  return slot !== undefined && 'bad' in slot;
}

/** The row pages of one database and the row -> page index of the user and system tables. */
export class PageSet {
  readonly slots = new Map<number, PageSlot>();
  private readonly where = new Map<string, number>();

  constructor(readonly layout: PageLayout) {}

  static fresh(layout: PageLayout): PageSet {
    const set = new PageSet(layout);
    for (let id = layout.systemPage; id < layout.dataStart + layout.dataPages; id++) set.slots.set(id, new RowPage(id, 0, []));
    return set;
  }

  get pageCount(): number {
    return this.layout.dataStart + this.layout.dataPages;
  }

  page(id: number): RowPage {
    const slot = this.slots.get(id);
    assert(slot !== undefined && !isBad(slot), `page ${id} is not a good page`);
    return slot;
  }

  badPages(): BadPage[] {
    return [...this.slots.values()].filter(isBad);
  }

  /** Rebuilds the row index from the pages (after loading or recovery). */
  reindex(): void {
    this.where.clear();
    for (const slot of this.slots.values()) {
      if (isBad(slot)) continue;
      for (const r of slot.rows.values()) this.where.set(rowId(r[0], r[1]), slot.id);
    }
  }

  find(table: string, key: string): RowPage | undefined {
    const id = this.where.get(rowId(table, key));
    return id === undefined ? undefined : this.page(id);
  }

  /** Where a row is, or where an insert of it goes (undefined: its region is full). */
  placement(table: string, key: string, region: { start: number; count: number; home: number }): number | undefined {
    const existing = this.where.get(rowId(table, key));
    if (existing !== undefined) return existing;
    for (let i = 0; i < region.count; i++) {
      const id = region.start + ((region.home + i) % region.count);
      if (this.page(id).hasRoom) return id;
    }
    return undefined;
  }

  dataRegion(table: string, key: string): { start: number; count: number; home: number } {
    return { start: this.layout.dataStart, count: this.layout.dataPages, home: fnv1a32(rowId(table, key)) % this.layout.dataPages };
  }

  commitRegion(block: number): { start: number; count: number; home: number } {
    return { start: this.layout.commitStart, count: this.layout.commitPages, home: block % this.layout.commitPages };
  }

  historyRegion(): { start: number; count: number; home: number } {
    return { start: this.layout.historyStart, count: this.layout.historyPages, home: 0 };
  }

  private set(page: RowPage, table: string, key: string, image: RowImage): void {
    page.put(table, key, image);
    if (image === null) this.where.delete(rowId(table, key));
    else this.where.set(rowId(table, key), page.id);
  }

  /**
   * Applies `record` under the redo rule. Returns the pages it changed and the bad pages
   * it could not apply to.
   */
  applyRecord(record: LogRecord): { readonly changed: number[]; readonly blocked: number[] } {
    const changed: number[] = [];
    const blocked: number[] = [];
    // Each case: the page to change (redo rule), then the change, then the page LSN.
    switch (record.type) {
      case 'row':
      case 'clr': {
        const p = this.redoTarget(record, record.page, changed, blocked);
        if (p !== undefined) {
          this.set(p, record.table, record.key, record.after);
          p.lsn = record.lsn;
        }
        break;
      }
      case 'commit': {
        const p = this.redoTarget(record, record.page, changed, blocked);
        if (p !== undefined) {
          this.setCommitBit(p, record.txn);
          p.lsn = record.lsn;
        }
        break;
      }
      case 'sys': {
        const pages = [...new Set(record.ops.map((o) => o.page))];
        for (const id of pages) {
          const p = this.redoTarget(record, id, changed, blocked);
          if (p === undefined) continue;
          for (const o of record.ops) if (o.page === id) this.set(p, o.table, o.key, o.after);
          p.lsn = record.lsn;
        }
        break;
      }
      case 'fpi': {
        const slot = this.slots.get(record.page);
        if (isBad(slot)) {
          const page = new RowPage(record.page, record.pageLsn, record.rows);
          this.slots.set(record.page, page);
          for (const r of record.rows) this.where.set(rowId(r[0], r[1]), page.id);
          changed.push(record.page);
        }
        break;
      }
      case 'begin':
      case 'abort':
      case 'ckpt-begin':
      case 'ckpt-end':
        break;
    }
    return { changed, blocked };
  }

  /**
   * The page `record` changes under the redo rule (the caller changes it and sets its LSN),
   * or undefined: a bad page (listed in `blocked`) or one already past the record.
   */
  private redoTarget(record: LogRecord, id: number, changed: number[], blocked: number[]): RowPage | undefined {
    const slot = this.slots.get(id);
    if (slot === undefined) assert(false, `record ${record.lsn} names page ${id} outside the file`);
    if (isBad(slot)) {
      blocked.push(id);
      return undefined;
    }
    if (slot.lsn >= record.lsn) return undefined;
    changed.push(id);
    return slot;
  }

  private setCommitBit(page: RowPage, txn: number): void {
    const block = Math.floor(txn / COMMIT_BLOCK_IDS);
    const key = String(block);
    const row = page.get(TABLE_COMMITS, key);
    const digits = row?.[2] ?? ZERO_DIGITS;
    const bit = txn % COMMIT_BLOCK_IDS;
    const at = Math.floor(bit / 4);
    const digit = (parseInt(digits[at] ?? '0', 16) | (1 << (bit % 4))).toString(16);
    this.set(page, TABLE_COMMITS, key, [digits.slice(0, at) + digit + digits.slice(at + 1), 0]);
  }

  /** The commit page a transaction's commit record names (its block's row, or where it goes). */
  commitPageFor(txn: number): number | undefined {
    const block = Math.floor(txn / COMMIT_BLOCK_IDS);
    return this.placement(TABLE_COMMITS, String(block), this.commitRegion(block));
  }

  /** Every committed transaction id, from the commit table. */
  committedTxns(): number[] {
    const out: number[] = [];
    for (let id = this.layout.commitStart; id < this.layout.commitStart + this.layout.commitPages; id++) {
      const slot = this.slots.get(id);
      if (slot === undefined || isBad(slot)) continue;
      for (const r of slot.rows.values()) {
        if (r[0] !== TABLE_COMMITS) continue;
        const base = Number(r[1]) * COMMIT_BLOCK_IDS;
        for (let d = 0; d < r[2].length; d++) {
          const v = parseInt(r[2][d] ?? '0', 16);
          for (let b = 0; b < 4; b++) if ((v & (1 << b)) !== 0) out.push(base + d * 4 + b);
        }
      }
    }
    return out.sort((a, b) => a - b);
  }

  /** The rows of the user tables (data pages), sorted by table and key. */
  userRows(): PageRow[] {
    const out: PageRow[] = [];
    for (let id = this.layout.dataStart; id < this.layout.dataStart + this.layout.dataPages; id++) {
      const slot = this.slots.get(id);
      if (slot !== undefined && !isBad(slot)) out.push(...slot.rows.values());
    }
    return out.sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0) : a[0] < b[0] ? -1 : 1));
  }

  /** Rows of one table in a page region (system tables). */
  tableRows(table: string, start: number, count: number): PageRow[] {
    const out: PageRow[] = [];
    for (let id = start; id < start + count; id++) {
      const slot = this.slots.get(id);
      if (slot === undefined || isBad(slot)) continue;
      for (const r of slot.rows.values()) if (r[0] === table) out.push(r);
    }
    return out;
  }
}
