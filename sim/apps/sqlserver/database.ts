/**
 * One SQL Server database, modelled: a data file of pages and a write-ahead log file on
 * the guest's file systems, a buffer pool, transactions with row locks, checkpoints,
 * ARIES-lite crash recovery, log truncation, native log backups and RESTORE ... WITH
 * NORECOVERY / STOPAT. File formats: format.ts. The workload (workload.ts), the VSS writer
 * (writer.ts) and sqlcmd (sqlcmd.ts) drive it.
 *
 * Models:
 * - Write-ahead logging: a change appends a record to the in-memory log buffer and
 *   changes the page in memory. COMMIT appends a commit record and flushes the log (write
 *   + fsync of the log file) before the caller acknowledges. Pages go to the data file
 *   only in checkpoints, after the log is flushed (so the log is durable up to every
 *   written page's pageLSN). Steal: pages may carry changes of uncommitted transactions.
 * - Full-page images: the first change of a page after a checkpoint began logs the page's
 *   image first (SQL Server's torn-page protection is a checksum; PostgreSQL's
 *   full_page_writes is the repair we model). A page can be torn only by a write of the
 *   checkpoint in flight, and that write's image is in the log after the last completed
 *   checkpoint, so redo can rebuild it.
 * - Checkpoint, in two events: (1) append ckpt-begin (active transactions, dirty pages,
 *   next txn id), flush the log, write every dirty page (buffered, no fsync); (2) after the
 *   modelled write time, fsync the data file, append ckpt-end and flush, write the boot
 *   page (checkpointLsn = redoLsn = the begin) and fsync, then the log header (state,
 *   truncation) and fsync. A crash between the two leaves some pages written, some not,
 *   some torn: recovery redoes from the previous checkpoint. Automatic checkpoints run
 *   every `checkpointIntervalUs` when transactions logged anything since the last one.
 * - Recovery on open: analysis from the boot page's checkpoint, redo from its redoLsn
 *   (repeating history, including uncommitted changes), undo of transactions with neither
 *   commit nor abort (logging compensation records), then a checkpoint. A data page whose
 *   pageLSN is at or past the end of the log means data and log are not from one instant
 *   (or the log lost durable records): open fails. So does a bad page without an image.
 * - Clean states: a clean shutdown and a writer freeze leave the log header 'clean' or
 *   'frozen' with the log's end; opening such an image while the log still ends there
 *   needs no crash recovery. Transactions in flight at a freeze are rolled back in memory
 *   at open (what RESTORE ... WITH RECOVERY of a snapshot backup does); nothing is written
 *   until the database is used, so `restore-database --norecovery` can still take it.
 * - Truncation: the header's truncationLsn is the oldest record still needed: the
 *   previous checkpoint's begin (one checkpoint of slack, should the newest boot page copy
 *   be lost), the oldest active transaction, a writer freeze's pin until BackupComplete,
 *   and in full recovery once a full backup completed, the first record no log backup has
 *   covered. The file is rewritten without the dead prefix (a new file, fsync, rename,
 *   fsync) when the dead bytes outweigh the live ones.
 * - Full recovery before the first full backup behaves as simple ("pseudo-simple"): the
 *   log is truncated at checkpoints and BACKUP LOG fails, as SQL Server's does.
 *
 * I/O happens only while no volume is frozen and the writer holds nothing: callers check
 * `isHeld()` and wait with `whenReleased()`; a file system error here is a model bug (an
 * assert), except at open, where it is reported.
 *
 * Leaves out: multiple databases and files per database, page splits and growth (a full
 * data region fails the insert), eviction, lock waits (the workload picks unlocked rows),
 * nested transactions and savepoints, log reservation for rollback, VLFs and circular
 * reuse (compaction stands in), differential backups' changed-extent maps (a VM snapshot
 * holds every page anyway), tail-log backups.
 */

import { AssertionError, assert } from '../../../core/assert.js';
import type { TimeUs } from '../../../core/clock.js';
import { err, ok, type Result } from '../../../core/result.js';
import type { FileHandle, FileSystem, FsError } from '../../guest/file-system.js';
import type { AppHost } from '../types.js';
import {
  BOOT_PAGE_IDS, COMMIT_BLOCK_IDS, DATA_FORMAT, LOG_DATA_OFFSET, LOG_HEADER_COPY_OFFSETS, PAGE_BYTES, TABLE_DBINFO, TABLE_HISTORY,
  bootOfPayload, decodeLogBackup, decodeLogHeader, decodePage, encodeLogBackup, encodeLogHeader, encodePage, encodePageInto, encodePageTextInto, rowsOfPayload, scanRecords, RecordWriter,
  type ActiveTxnInfo, type BackupHistoryEntry, type BootInfo, type LogChainInfo, type LogHeader, type LogRecord, type PageLayout, type PageRow,
  type RecoveryModel, type RowImage, type ScannedRecord, type SysOp,
} from './format.js';
import { PageSet, RowPage, isBad, rowId } from './pages.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type RecordBody = DistributiveOmit<LogRecord, 'lsn' | 'timeUs'>;

/** Virtual-time costs the model charges (writer phases and programs report them). */
export const COSTS = {
  /** One fsync of a database file (log force or data flush) on a virtual disk. */
  fsyncUs: 500,
  /** Writing one dirty 4 KiB page to the file system. */
  pageWriteUs: 100,
  /** Fixed overhead of a checkpoint, a writer phase or a program. */
  baseUs: 1_000,
  /** Copying log backup bytes (about 100 MiB/s). */
  perKiBUs: 10,
  /** Redoing one record during RESTORE LOG. */
  perRecordUs: 20,
} as const;

/** Dead prefix bytes below which the log file is not rewritten. */
const COMPACT_MIN_BYTES = 32 * 1024;
/** Most history entries kept (older ones are pruned, as sp_delete_backuphistory does). */
export const MAX_HISTORY_ENTRIES = 24;
/** Most transactions open at once (the workload's bound; an assert beyond it). */
const MAX_ACTIVE_TXNS = 1_000;

export interface DatabaseConfig {
  readonly dbName: string;
  readonly recoveryModel: RecoveryModel;
  readonly checkpointIntervalUs: TimeUs;
  readonly dataPages: number;
  readonly commitPages: number;
  readonly historyPages: number;
}

export type DbMode = 'closed' | 'online' | 'restoring' | 'failed';

interface ActiveTxn {
  readonly id: number;
  readonly firstLsn: number;
  lastLsn: number;
  readonly writes: Extract<LogRecord, { type: 'row' }>[];
  readonly locks: Set<string>;
}

interface Loaded {
  readonly boot: BootInfo;
  readonly header: LogHeader;
  readonly pages: PageSet;
  readonly records: ScannedRecord[];
  readonly logEnd: number;
  readonly endOffset: number;
  readonly fileBytes: number;
  readonly losers: Map<number, ActiveTxnInfo>;
  readonly nextTxnId: number;
  readonly redone: number;
  readonly repaired: number[];
}

export interface FreezePoint {
  readonly checkpointLsn: number;
  readonly endLsn: number;
  readonly timeUs: TimeUs;
  readonly pagesWritten: number;
  readonly durationUs: TimeUs;
}

export interface RestoreTarget {
  readonly kind: 'time' | 'lsn';
  readonly value: number;
}

export interface RestoreLogOutcome {
  readonly applied: number;
  readonly nextLsn: number;
  /** The stop point was inside this backup: no further log can be applied. */
  readonly stopped: boolean;
  readonly recovered: boolean;
  readonly warning: string | null;
  readonly durationUs: TimeUs;
}

function must<T>(what: string, result: Result<T, FsError>): T {
  if (result.ok) return result.value;
  throw new AssertionError(`sqlserver ${what}: ${JSON.stringify(result.error)} (I/O is only started while nothing is frozen)`);
}

export class SqlDatabase {
  readonly config: DatabaseConfig;
  readonly dataPath: string;
  readonly logPath: string;
  private readonly dataFs: FileSystem;
  private readonly logFs: FileSystem;
  private dataHandle: FileHandle | undefined;
  private logHandle: FileHandle | undefined;
  private modeNow: DbMode = 'closed';
  /** Bumped whenever the in-memory state is thrown away (restore-database): stale clients stop. */
  private epochNow = 0;
  private pages: PageSet | undefined;
  private boot: BootInfo | undefined;
  private header: LogHeader | undefined;

  // Log: the records in the file (from the first kept one, with offsets) and the buffer.
  private fileRecords: ScannedRecord[] = [];
  private buffer: LogRecord[] = [];
  private readonly recordWriter = new RecordWriter();
  private readonly historyParsed = new Map<string, BackupHistoryEntry>();
  /** JSON text of buffered records serialised already (full-page images), until the flush. */
  private readonly recordJson = new Map<LogRecord, string>();
  /** Pages are encoded here and copied by the file system's write (no buffer per page). */
  private readonly pageScratch = new Uint8Array(PAGE_BYTES);
  private nextLsn = 1;
  private fileEnd = LOG_DATA_OFFSET;

  // Transactions.
  private readonly active = new Map<number, ActiveTxn>();
  private readonly locks = new Map<string, number>();
  private nextTxnId = 1;

  // Checkpoints.
  private fpiEpoch = 1;
  private readonly pageEpoch = new Map<number, number>();
  private readonly dirty = new Set<number>();
  /** Begin LSNs of the last two completed checkpoints, oldest first. */
  private completedCheckpoints: number[] = [];
  private pendingCheckpoint: { readonly beginLsn: number } | undefined;
  private activity = false;
  private checkpointArmed = false;

  // Writer hold, truncation pin, log chain, restore.
  private writerHold = false;
  private readonly holdWaiters: (() => void)[] = [];
  private truncationPin: number | undefined;
  private chain: LogChainInfo = { started: false, backupLsn: 1, diffBase: null };
  private restoringTxns = new Map<number, ActiveTxnInfo>();
  private dead = false;

  constructor(private readonly host: AppHost, config: DatabaseConfig) {
    this.config = config;
    const dataFs = host.volumes[0];
    const logFs = host.volumes[host.volumes.length - 1];
    assert(dataFs !== undefined && logFs !== undefined, 'sqlserver needs a volume');
    this.dataFs = dataFs;
    this.logFs = logFs;
    this.dataPath = `/sql/${config.dbName}.mdf`;
    this.logPath = `/sql/${config.dbName}.ldf`;
  }

  get mode(): DbMode {
    return this.modeNow;
  }

  get epoch(): number {
    return this.epochNow;
  }

  /** Guest paths of the files, qualified by volume (`disk<i>:` = host.volumes[i]). */
  files(): string[] {
    return [`disk0:${this.dataPath}`, `disk${this.host.volumes.length - 1}:${this.logPath}`];
  }

  // -------------------------------------------------------------------------------------
  // Open, create, recovery

  open(): { readonly created: boolean; readonly recoveryNeeded: boolean; readonly ok: boolean; readonly detail: string } {
    this.assertAlive();
    assert(this.modeNow === 'closed', 'open twice');
    const fail = (detail: string, recoveryNeeded = true): { created: boolean; recoveryNeeded: boolean; ok: boolean; detail: string } => {
      this.modeNow = 'failed';
      return { created: false, recoveryNeeded, ok: false, detail };
    };
    const mdf = this.dataFs.stat(this.dataPath);
    const ldf = this.logFs.stat(this.logPath);
    if (!mdf.ok && !ldf.ok) {
      if (this.dataFs.isFrozen || this.logFs.isFrozen) return fail('cannot create the database: a volume is frozen', false);
      this.create();
      this.modeNow = 'online';
      this.armCheckpoint(this.config.checkpointIntervalUs);
      return { created: true, recoveryNeeded: false, ok: true, detail: `created ${this.config.dbName} (${this.config.recoveryModel} recovery)` };
    }
    if (!mdf.ok) return fail(`data file ${this.dataPath} is missing`);
    if (!ldf.ok) return fail(`log file ${this.logPath} is missing`);
    const loaded = this.load();
    if (!loaded.ok) return fail(loaded.error);
    const l = loaded.value;
    this.install(l);
    const headerClean = l.header.state !== 'open' && l.header.consistentEndLsn === l.logEnd;
    const clean = headerClean && l.redone === 0 && l.repaired.length === 0 && l.endOffset === l.fileBytes;
    const what: string[] = [];
    if (!clean) {
      what.push(`crash recovery (log header '${l.header.state}', log ends at LSN ${l.logEnd})`);
      what.push(`redo from LSN ${l.boot.redoLsn} changed ${l.redone} pages`);
      if (l.repaired.length > 0) what.push(`repaired torn pages ${l.repaired.join(',')} from page images`);
      if (l.endOffset < l.fileBytes) what.push(`dropped ${l.fileBytes - l.endOffset} bytes of torn log tail`);
    }
    if (!clean && (this.dataFs.isFrozen || this.logFs.isFrozen)) return fail('recovery needed but a volume is frozen');
    if (l.endOffset < l.fileBytes) {
      // Later appends must not leave stale records after them: cut the tail for good first.
      const handle = this.logHandleNow();
      must('truncate log tail', this.logFs.truncate(handle, l.endOffset));
      must('fsync log', this.logFs.fsync(handle));
    }
    if (l.header.state === 'restoring') {
      this.modeNow = 'restoring';
      this.restoringTxns = l.losers;
      if (!clean) this.persistRestorePoint(l.logEnd, this.header?.restore?.stoppedAtLsn ?? null, this.header?.restore?.timeUs ?? 0);
      return { created: false, recoveryNeeded: !clean, ok: true, detail: [...what, `database is RESTORING (next LSN ${l.logEnd})`].join('; ') };
    }
    this.modeNow = 'online';
    const undone = this.undoLosers(l.losers);
    if (!undone.ok) return fail(undone.error);
    if (l.losers.size > 0) {
      const ids = [...l.losers.keys()].map((t) => `t${t}`).join(',');
      what.push(l.header.state === 'frozen' && clean ? `rolled back ${l.losers.size} transactions in flight at the freeze (${ids})` : `rolled back ${l.losers.size} transactions (${ids})`);
    }
    if (!clean) this.checkpointNow('open', null);
    this.armCheckpoint(this.config.checkpointIntervalUs);
    const state = clean ? `opened without recovery (log header '${l.header.state}' at LSN ${l.logEnd})` : 'recovered';
    return { created: false, recoveryNeeded: !clean, ok: true, detail: [state, ...what].join('; ') };
  }

  private create(): void {
    for (const fs of [this.dataFs, this.logFs]) if (!fs.stat('/sql').ok) must('mkdir /sql', fs.mkdir('/sql'));
    const c = this.config;
    const layout: PageLayout = {
      systemPage: 2, commitStart: 3, commitPages: c.commitPages, historyStart: 3 + c.commitPages, historyPages: c.historyPages,
      dataStart: 3 + c.commitPages + c.historyPages, dataPages: c.dataPages,
    };
    const pages = PageSet.fresh(layout);
    pages.page(layout.systemPage).put(TABLE_DBINFO, 'logchain', [JSON.stringify(this.chain), 0]);
    pages.reindex();
    this.pages = pages;
    const data = must('create data file', this.dataFs.create(this.dataPath));
    this.dataHandle = data;
    this.boot = { format: DATA_FORMAT, dbName: c.dbName, seq: 0, pageCount: pages.pageCount, layout, checkpointLsn: 1, redoLsn: 1 };
    for (const id of BOOT_PAGE_IDS) must('write boot page', this.dataFs.write(data, id * PAGE_BYTES, encodePage(id, 0, { boot: { ...this.boot, seq: id } })));
    this.boot = { ...this.boot, seq: 1 };
    for (const [id, slot] of pages.slots) {
      assert(!isBad(slot), 'fresh page');
      must('write page', this.dataFs.write(data, id * PAGE_BYTES, encodePage(id, 0, slot.payload())));
    }
    must('fsync data file', this.dataFs.fsync(data));
    const log = must('create log file', this.logFs.create(this.logPath));
    this.logHandle = log;
    this.header = {
      seq: 1, dbName: c.dbName, recoveryModel: c.recoveryModel, state: 'open', consistentEndLsn: 3, checkpointLsn: 1, truncationLsn: 1,
      nextTxnId: 1, frozen: null, restore: null,
    };
    for (const [i, offset] of LOG_HEADER_COPY_OFFSETS.entries()) must('write log header', this.logFs.write(log, offset, encodeLogHeader({ ...this.header, seq: i })));
    this.fileEnd = LOG_DATA_OFFSET;
    this.nextLsn = 1;
    this.appendRecord({ type: 'ckpt-begin', active: [], dirtyPages: [], nextTxnId: 1 });
    this.appendRecord({ type: 'ckpt-end', beginLsn: 1 });
    this.flushLog();
    this.completedCheckpoints = [1];
  }

  /** Reads both files, checks them, and runs analysis and redo (no undo, no writes). */
  private load(): Result<Loaded, string> {
    const dataHandle = this.dataFs.open(this.dataPath);
    const logHandle = this.logFs.open(this.logPath);
    if (!dataHandle.ok || !logHandle.ok) return err('cannot open the database files');
    this.dataHandle = dataHandle.value;
    this.logHandle = logHandle.value;
    const dataBytes = this.readAll(this.dataFs, dataHandle.value);
    if (!dataBytes.ok) return dataBytes;
    let boot: BootInfo | undefined;
    for (const id of BOOT_PAGE_IDS) {
      const page = decodePage(dataBytes.value.subarray(id * PAGE_BYTES, (id + 1) * PAGE_BYTES), id);
      const info = page.ok ? bootOfPayload(page.payload) : undefined;
      if (info !== undefined && (boot === undefined || info.seq > boot.seq)) boot = info;
    }
    if (boot === undefined) return err('data file boot page is unreadable (both copies bad)');
    if (dataBytes.value.length < boot.pageCount * PAGE_BYTES) return err(`data file holds ${dataBytes.value.length} bytes, less than its ${boot.pageCount} pages`);
    const pages = new PageSet(boot.layout);
    for (let id = boot.layout.systemPage; id < boot.pageCount; id++) {
      const page = decodePage(dataBytes.value.subarray(id * PAGE_BYTES, (id + 1) * PAGE_BYTES), id);
      const rows = page.ok ? rowsOfPayload(page.payload) : undefined;
      if (page.ok && rows !== undefined) pages.slots.set(id, new RowPage(id, page.pageLsn, rows));
      else pages.slots.set(id, { bad: true, id, reason: page.ok ? 'not a row page' : page.reason });
    }
    const logBytes = this.readAll(this.logFs, logHandle.value);
    if (!logBytes.ok) return logBytes;
    const header = decodeLogHeader(logBytes.value);
    if (header === undefined) return err('log file header is unreadable (both copies bad)');
    if (header.dbName !== boot.dbName) return err(`log file belongs to '${header.dbName}', data file to '${boot.dbName}'`);
    const scan = scanRecords(logBytes.value, LOG_DATA_OFFSET);
    const records = scan.records;
    const first = records[0]?.record.lsn;
    const last = records[records.length - 1]?.record.lsn;
    if (first === undefined || last === undefined) return err('log file holds no records');
    const logEnd = last + 1;
    for (const slot of pages.slots.values()) {
      if (!isBad(slot) && slot.lsn >= logEnd) {
        return err(`page ${slot.id} has pageLSN ${slot.lsn} at or past the end of the log (LSN ${logEnd}): the data file is newer than the log (disks from different instants?) or the log lost durable records`);
      }
    }
    const at = (lsn: number): LogRecord | undefined => records[lsn - first]?.record;
    const ckpt = at(boot.checkpointLsn);
    if (ckpt?.type !== 'ckpt-begin') {
      return err(`checkpoint record at LSN ${boot.checkpointLsn} is not in the log (log holds LSN ${first}..${last}): the data file is older than the log's truncation point (disks from different instants?)`);
    }
    if (boot.redoLsn < first || boot.redoLsn > logEnd) return err(`redo start LSN ${boot.redoLsn} is not in the log (LSN ${first}..${last})`);
    // Analysis: the transactions open at the checkpoint, then the log after it.
    const losers = new Map<number, ActiveTxnInfo>();
    for (const a of ckpt.active) losers.set(a.txn, a);
    let nextTxnId = Math.max(header.nextTxnId, ckpt.nextTxnId);
    for (const { record } of records) {
      if ('txn' in record) nextTxnId = Math.max(nextTxnId, record.txn + 1);
      if (record.lsn <= ckpt.lsn) continue;
      if (record.type === 'begin') losers.set(record.txn, { txn: record.txn, firstLsn: record.lsn, lastLsn: record.lsn });
      else if (record.type === 'row' || record.type === 'clr') {
        const t = losers.get(record.txn);
        losers.set(record.txn, { txn: record.txn, firstLsn: t?.firstLsn ?? record.lsn, lastLsn: record.lsn });
      } else if (record.type === 'commit' || record.type === 'abort') losers.delete(record.txn);
    }
    // Redo: repeat history from redoLsn.
    const changed = new Set<number>();
    const repaired: number[] = [];
    for (let lsn = boot.redoLsn; lsn < logEnd; lsn++) {
      const record = at(lsn);
      assert(record !== undefined, 'contiguous log');
      const wasBad = record.type === 'fpi' && isBad(pages.slots.get(record.page));
      const effect = pages.applyRecord(record);
      for (const id of effect.changed) changed.add(id);
      if (wasBad && effect.changed.length > 0) repaired.push(record.page);
    }
    const bad = pages.badPages();
    if (bad.length > 0) {
      return err(`pages ${bad.map((b) => `${b.id} (${b.reason})`).join(', ')} are damaged and the log since LSN ${boot.redoLsn} holds no image of them`);
    }
    for (const t of pages.committedTxns()) nextTxnId = Math.max(nextTxnId, t + 1);
    pages.reindex();
    return ok({
      boot, header, pages, records, logEnd, endOffset: scan.endOffset, fileBytes: logBytes.value.length, losers, nextTxnId,
      redone: [...changed].filter((id) => !repaired.includes(id)).length, repaired,
    });
  }

  private install(l: Loaded): void {
    this.boot = l.boot;
    this.header = l.header;
    this.pages = l.pages;
    this.fileRecords = l.records;
    this.buffer = [];
    this.recordJson.clear();
    this.nextLsn = l.logEnd;
    this.fileEnd = l.endOffset;
    this.nextTxnId = l.nextTxnId;
    this.active.clear();
    this.locks.clear();
    this.dirty.clear();
    this.pageEpoch.clear();
    this.fpiEpoch++;
    // Pages redo changed are dirty: the next checkpoint writes them.
    for (const slot of l.pages.slots.values()) if (!isBad(slot) && slot.lsn >= l.boot.redoLsn) this.dirty.add(slot.id);
    this.completedCheckpoints = [l.boot.checkpointLsn];
    this.pendingCheckpoint = undefined;
    this.activity = false;
    const chainRow = l.pages.find(TABLE_DBINFO, 'logchain');
    if (chainRow !== undefined) {
      const row = chainRow.get(TABLE_DBINFO, 'logchain');
      if (row !== undefined) this.chain = JSON.parse(row[2]) as LogChainInfo;
    }
  }

  /** Rolls back `losers` (logging compensation records and aborts in the buffer). */
  private undoLosers(losers: ReadonlyMap<number, ActiveTxnInfo>): Result<void, string> {
    if (losers.size === 0) return ok(undefined);
    const first = this.fileRecords[0]?.record.lsn;
    assert(first !== undefined, 'log has records');
    const oldest = Math.min(...[...losers.values()].map((t) => t.firstLsn));
    if (oldest < first) return err(`undo of transaction(s) ${[...losers.keys()].join(',')} needs LSN ${oldest}, but the log starts at ${first}`);
    const compensated = new Set<number>();
    const work: Extract<LogRecord, { type: 'row' }>[] = [];
    for (let i = oldest - first; i < this.fileRecords.length; i++) {
      const r = (this.fileRecords[i] as ScannedRecord).record;
      if (r.type === 'clr' && losers.has(r.txn)) compensated.add(r.undoes);
      if (r.type === 'row' && losers.has(r.txn)) work.push(r);
    }
    for (let i = work.length - 1; i >= 0; i--) {
      const r = work[i] as Extract<LogRecord, { type: 'row' }>;
      if (compensated.has(r.lsn)) continue;
      this.logAndApply({ type: 'clr', txn: r.txn, page: r.page, table: r.table, key: r.key, after: r.before, undoes: r.lsn });
    }
    for (const txn of [...losers.keys()].sort((a, b) => a - b)) this.appendRecord({ type: 'abort', txn });
    return ok(undefined);
  }

  // -------------------------------------------------------------------------------------
  // Transactions

  /** Writer freeze or a frozen volume: no I/O may start. */
  isHeld(): boolean {
    return this.writerHold || this.host.volumes.some((v) => v.isFrozen);
  }

  /** Runs `callback` from the event queue once nothing holds I/O (it must re-check). */
  whenReleased(callback: () => void): void {
    if (this.writerHold) {
      assert(this.holdWaiters.length < 10_000, 'too many waiters on the writer hold');
      this.holdWaiters.push(callback);
      return;
    }
    const frozen = this.host.volumes.find((v) => v.isFrozen);
    if (frozen !== undefined) frozen.onThaw(callback);
    else this.host.queue.after(0, `${this.host.timerPrefix}:resume`, callback);
  }

  beginTxn(): number {
    this.assertOnline();
    assert(this.active.size < MAX_ACTIVE_TXNS, `more than ${MAX_ACTIVE_TXNS} open transactions`);
    const id = this.nextTxnId++;
    const rec = this.appendRecord({ type: 'begin', txn: id });
    this.active.set(id, { id, firstLsn: rec.lsn, lastLsn: rec.lsn, writes: [], locks: new Set() });
    this.activity = true;
    return id;
  }

  activeTxnCount(): number {
    return this.active.size;
  }

  /** Whether `txn` may write the row (no other transaction holds its lock). */
  canLock(txn: number, table: string, key: string): boolean {
    const holder = this.locks.get(rowId(table, key));
    return holder === undefined || holder === txn;
  }

  /** Inserts or updates a user row. 'full': no page of the data region has room. */
  writeRow(txn: number, table: string, key: string, value: string): 'ok' | 'full' {
    this.assertOnline();
    const t = this.active.get(txn);
    assert(t !== undefined, `transaction ${txn} is not open`);
    assert(this.canLock(txn, table, key), `row ${table}/${key} is locked by another transaction`);
    const pages = this.pagesNow();
    const target = pages.placement(table, key, pages.dataRegion(table, key));
    if (target === undefined) return 'full';
    const row = pages.page(target).get(table, key);
    const before: RowImage = row === undefined ? null : [row[2], row[3]];
    const rec = this.logAndApply({ type: 'row', txn, page: target, table, key, before, after: [value, txn] });
    assert(rec.type === 'row', 'row record');
    t.lastLsn = rec.lsn;
    t.writes.push(rec);
    const id = rowId(table, key);
    this.locks.set(id, txn);
    t.locks.add(id);
    return 'ok';
  }

  /** COMMIT: the commit record and everything before it are durable when this returns. */
  commitTxn(txn: number): void {
    this.assertOnline();
    assert(!this.isHeld(), 'commit while I/O is held');
    const t = this.active.get(txn);
    assert(t !== undefined, `transaction ${txn} is not open`);
    const page = this.pagesNow().commitPageFor(txn);
    assert(page !== undefined, `the commit table is full (model limit: ${this.config.commitPages} pages of ${COMMIT_BLOCK_IDS}-id blocks)`);
    this.logAndApply({ type: 'commit', txn, page });
    this.flushLog();
    this.endTxn(t);
  }

  /** ROLLBACK: compensates every change; the records reach the disk with the next flush. */
  rollbackTxn(txn: number): void {
    this.assertOnline();
    const t = this.active.get(txn);
    assert(t !== undefined, `transaction ${txn} is not open`);
    for (let i = t.writes.length - 1; i >= 0; i--) {
      const w = t.writes[i] as Extract<LogRecord, { type: 'row' }>;
      this.logAndApply({ type: 'clr', txn, page: w.page, table: w.table, key: w.key, after: w.before, undoes: w.lsn });
    }
    this.appendRecord({ type: 'abort', txn });
    this.endTxn(t);
  }

  private endTxn(t: ActiveTxn): void {
    for (const id of t.locks) this.locks.delete(id);
    this.active.delete(t.id);
  }

  // -------------------------------------------------------------------------------------
  // Reading

  committedTxnIds(): number[] {
    if (this.pages === undefined || this.modeNow === 'failed' || this.modeNow === 'closed') return [];
    return this.pages.committedTxns();
  }

  userRows(): PageRow[] {
    return this.pages?.userRows() ?? [];
  }

  /** The data-file page a row lives on (for item-level checks and tests). */
  pageOf(table: string, key: string): number | undefined {
    return this.pages?.find(table, key)?.id;
  }

  row(table: string, key: string): PageRow | undefined {
    return this.pages?.find(table, key)?.get(table, key);
  }

  history(): BackupHistoryEntry[] {
    const pages = this.pages;
    if (pages === undefined) return [];
    const l = pages.layout;
    return pages.tableRows(TABLE_HISTORY, l.historyStart, l.historyPages).map((r) => this.parseHistoryRow(r[2])).sort((a, b) => a.seq - b.seq);
  }

  /** JSON.parse of a history row's value, remembered per text (rows are rewritten rarely, read at every backup). */
  private parseHistoryRow(text: string): BackupHistoryEntry {
    let entry = this.historyParsed.get(text);
    if (entry === undefined) {
      entry = JSON.parse(text) as BackupHistoryEntry;
      // Bounded: the table keeps MAX_HISTORY_ENTRIES rows, so older texts can go.
      if (this.historyParsed.size >= 4 * MAX_HISTORY_ENTRIES) this.historyParsed.clear();
      this.historyParsed.set(text, entry);
    }
    return entry;
  }

  logChain(): LogChainInfo {
    return this.chain;
  }

  status(): Record<string, string | number | boolean | null> {
    return {
      state: this.modeNow === 'online' ? 'ONLINE' : this.modeNow === 'restoring' ? 'RESTORING' : this.modeNow.toUpperCase(),
      recoveryModel: this.config.recoveryModel, nextLsn: this.nextLsn, truncationLsn: this.header?.truncationLsn ?? null,
      checkpointLsn: this.boot?.checkpointLsn ?? null, firstLsnInLog: this.fileRecords[0]?.record.lsn ?? null, logFileBytes: this.fileEnd,
      logChainStarted: this.chain.started, logBackupLsn: this.chain.backupLsn, differentialBase: this.chain.diffBase?.backupId ?? null,
      activeTransactions: this.active.size, restoreNextLsn: this.header?.restore?.nextLsn ?? null,
    };
  }

  // -------------------------------------------------------------------------------------
  // Log

  private appendRecord(body: RecordBody): LogRecord {
    const record = { ...body, lsn: this.nextLsn++, timeUs: this.host.clock.nowUs() } as LogRecord;
    this.buffer.push(record);
    return record;
  }

  /** Logs `body` (after the images of pages it first touches since the checkpoint) and applies it. */
  private logAndApply(body: RecordBody): LogRecord {
    const pages = this.pagesNow();
    const touched = body.type === 'sys' ? [...new Set(body.ops.map((o) => o.page))] : 'page' in body ? [body.page] : [];
    for (const id of touched) {
      if (this.pageEpoch.get(id) === this.fpiEpoch) continue;
      const page = pages.page(id);
      const fpi = this.appendRecord({ type: 'fpi', page: id, pageLsn: page.lsn, rows: page.snapshotRows() });
      // JSON.stringify(fpi), with the rows' text the page keeps: the same bytes, serialised once.
      this.recordJson.set(fpi, `{"type":"fpi","page":${id},"pageLsn":${page.lsn},"rows":${page.rowsJson()},"lsn":${fpi.lsn},"timeUs":${fpi.timeUs}}`);
      this.pageEpoch.set(id, this.fpiEpoch);
    }
    const record = this.appendRecord(body);
    const effect = pages.applyRecord(record);
    assert(effect.blocked.length === 0, 'no bad pages while online');
    for (const id of effect.changed) this.dirty.add(id);
    return record;
  }

  /** Writes the log buffer to the log file and fsyncs it. */
  private flushLog(): void {
    if (this.buffer.length === 0) return;
    const writer = this.recordWriter;
    writer.reset();
    for (const record of this.buffer) {
      const pos = writer.lengthBytes;
      const length = writer.append(record, this.recordJson.get(record));
      this.fileRecords.push({ record, offset: this.fileEnd + pos, bytes: length });
    }
    this.recordJson.clear();
    const total = writer.lengthBytes;
    const handle = this.logHandleNow();
    // The file system copies what it is given: the writer's buffer is reused next time.
    must('write log', this.logFs.write(handle, this.fileEnd, writer.bytes()));
    must('fsync log', this.logFs.fsync(handle));
    this.fileEnd += total;
    this.buffer = [];
  }

  private writeHeader(changes: Partial<Omit<LogHeader, 'seq'>>): void {
    const current = this.headerNow();
    const next: LogHeader = { ...current, ...changes, seq: current.seq + 1 };
    const handle = this.logHandleNow();
    must('write log header', this.logFs.write(handle, LOG_HEADER_COPY_OFFSETS[next.seq % 2] as number, encodeLogHeader(next)));
    must('fsync log header', this.logFs.fsync(handle));
    this.header = next;
  }

  private writeBoot(changes: Partial<Pick<BootInfo, 'checkpointLsn' | 'redoLsn'>>): void {
    const current = this.bootNow();
    const next: BootInfo = { ...current, ...changes, seq: current.seq + 1 };
    const handle = this.dataHandleNow();
    const id = BOOT_PAGE_IDS[next.seq % 2] as number;
    must('write boot page', this.dataFs.write(handle, id * PAGE_BYTES, encodePageInto(this.pageScratch, id, 0, { boot: next })));
    must('fsync boot page', this.dataFs.fsync(handle));
    this.boot = next;
  }

  private writeDirtyPages(): number {
    const pages = this.pagesNow();
    const handle = this.dataHandleNow();
    const ids = [...this.dirty].sort((a, b) => a - b);
    for (const id of ids) {
      const page = pages.page(id);
      must('write page', this.dataFs.write(handle, id * PAGE_BYTES, encodePageTextInto(this.pageScratch, id, page.lsn, page.payloadJson())));
    }
    this.dirty.clear();
    return ids.length;
  }

  private truncationCandidate(): number {
    let t = this.completedCheckpoints[0] ?? 1;
    for (const a of this.active.values()) t = Math.min(t, a.firstLsn);
    if (this.truncationPin !== undefined) t = Math.min(t, this.truncationPin);
    if (this.config.recoveryModel === 'full' && this.chain.started) t = Math.min(t, this.chain.backupLsn);
    return Math.max(t, this.headerNow().truncationLsn);
  }

  /** Rewrites the log file without the records before the truncation LSN, when worth it. */
  private maybeCompact(): void {
    const t = this.headerNow().truncationLsn;
    const first = this.fileRecords[0]?.record.lsn;
    if (first === undefined || t <= first) return;
    // The truncation LSN never passes the last checkpoint's begin, so a record is kept.
    const keepFrom = this.fileRecords[t - first];
    assert(keepFrom !== undefined, `truncation LSN ${t} is past the log's end`);
    const dead = keepFrom.offset - LOG_DATA_OFFSET;
    const live = this.fileEnd - keepFrom.offset;
    if (dead < Math.max(COMPACT_MIN_BYTES, live)) return;
    const old = this.logHandleNow();
    const liveBytes = must('read log', this.logFs.read(old, keepFrom.offset, live));
    const tmpPath = `${this.logPath}.tmp`;
    if (this.logFs.stat(tmpPath).ok) must('unlink stale log copy', this.logFs.unlink(tmpPath));
    const tmp = must('create log copy', this.logFs.create(tmpPath));
    const header: LogHeader = { ...this.headerNow(), seq: this.headerNow().seq + 1 };
    for (const offset of LOG_HEADER_COPY_OFFSETS) must('write log header', this.logFs.write(tmp, offset, encodeLogHeader(header)));
    must('write log copy', this.logFs.write(tmp, LOG_DATA_OFFSET, liveBytes));
    must('fsync log copy', this.logFs.fsync(tmp));
    must('rename log copy', this.logFs.rename(tmpPath, this.logPath));
    // The rename commits with the next journal commit: fsync forces it.
    must('fsync log rename', this.logFs.fsync(tmp));
    this.logHandle = tmp;
    this.header = header;
    const shift = keepFrom.offset - LOG_DATA_OFFSET;
    this.fileRecords = this.fileRecords.slice(t - first).map((r) => ({ ...r, offset: r.offset - shift }));
    this.fileEnd -= shift;
  }

  // -------------------------------------------------------------------------------------
  // Checkpoints

  private armCheckpoint(delayUs: TimeUs): void {
    if (this.checkpointArmed) return;
    this.checkpointArmed = true;
    this.host.queue.after(delayUs, `${this.host.timerPrefix}:checkpoint`, () => {
      this.checkpointArmed = false;
      this.checkpointTick();
    });
  }

  private checkpointTick(): void {
    if (this.dead || this.modeNow !== 'online') return;
    if (this.isHeld()) {
      this.checkpointArmed = true;
      this.whenReleased(() => {
        this.checkpointArmed = false;
        this.checkpointTick();
      });
      return;
    }
    if (this.pendingCheckpoint !== undefined) {
      this.checkpointEnd('open', null);
      this.armCheckpoint(this.config.checkpointIntervalUs);
      return;
    }
    if (!this.activity) {
      this.armCheckpoint(this.config.checkpointIntervalUs);
      return;
    }
    const pages = this.checkpointBegin();
    this.armCheckpoint(checkpointCostUs(pages));
  }

  private checkpointBegin(): number {
    assert(this.pendingCheckpoint === undefined && !this.isHeld(), 'checkpoint begin');
    const active: ActiveTxnInfo[] = [...this.active.values()].map((t) => ({ txn: t.id, firstLsn: t.firstLsn, lastLsn: t.lastLsn }));
    const begin = this.appendRecord({ type: 'ckpt-begin', active, dirtyPages: [...this.dirty].sort((a, b) => a - b), nextTxnId: this.nextTxnId });
    this.fpiEpoch++;
    this.flushLog();
    const written = this.writeDirtyPages();
    this.pendingCheckpoint = { beginLsn: begin.lsn };
    this.activity = false;
    return written;
  }

  private checkpointEnd(state: 'open' | 'clean' | 'frozen', frozen: LogHeader['frozen']): void {
    const pending = this.pendingCheckpoint;
    assert(pending !== undefined && !this.isHeld(), 'checkpoint end');
    must('fsync data file', this.dataFs.fsync(this.dataHandleNow()));
    this.appendRecord({ type: 'ckpt-end', beginLsn: pending.beginLsn });
    this.flushLog();
    this.completedCheckpoints = [...this.completedCheckpoints, pending.beginLsn].slice(-2);
    this.writeBoot({ checkpointLsn: pending.beginLsn, redoLsn: pending.beginLsn });
    this.pendingCheckpoint = undefined;
    assert(state === 'open' || this.buffer.length === 0, 'a clean state needs an empty log buffer');
    this.writeHeader({
      state, consistentEndLsn: this.nextLsn, checkpointLsn: pending.beginLsn, truncationLsn: this.truncationCandidate(),
      nextTxnId: this.nextTxnId, frozen, restore: null,
    });
    this.maybeCompact();
  }

  /** A whole checkpoint now (finishing one in flight first). Returns the pages written. */
  checkpointNow(state: 'open' | 'clean' | 'frozen', frozen: Omit<NonNullable<LogHeader['frozen']>, 'checkpointLsn'> | null): number {
    if (this.pendingCheckpoint !== undefined) this.checkpointEnd('open', null);
    const written = this.checkpointBegin();
    const beginLsn = this.pendingCheckpoint?.beginLsn ?? 0;
    this.checkpointEnd(state, frozen === null ? null : { ...frozen, checkpointLsn: beginLsn });
    return written;
  }

  // -------------------------------------------------------------------------------------
  // Writer support

  /** Checkpoint, mark the files 'frozen', pin the log, and hold all I/O until release. */
  freeze(backup: { readonly backupId: string | null; readonly backupType: string | null }): Result<FreezePoint, string> {
    this.assertAlive();
    if (this.modeNow !== 'online') return err(`database is ${this.modeNow}`);
    if (this.writerHold) return err('database is already frozen');
    if (this.isHeld()) return err('a volume is already frozen: the checkpoint cannot be written');
    const timeUs = this.host.clock.nowUs();
    const pagesWritten = this.checkpointNow('frozen', { ...backup, timeUs });
    const checkpointLsn = this.headerNow().checkpointLsn;
    this.truncationPin = checkpointLsn;
    this.writerHold = true;
    // Five fsyncs: log at ckpt-begin, data, log at ckpt-end, boot page, log header.
    const durationUs = checkpointCostUs(pagesWritten) + 4 * COSTS.fsyncUs;
    return ok({ checkpointLsn, endLsn: this.nextLsn, timeUs, pagesWritten, durationUs });
  }

  /** Thaw or abort: held work resumes (from the event queue). */
  releaseHold(): void {
    if (!this.writerHold) return;
    this.writerHold = false;
    for (const waiter of this.holdWaiters.splice(0)) this.host.queue.after(0, `${this.host.timerPrefix}:resume`, waiter);
  }

  unpinLog(): void {
    this.truncationPin = undefined;
  }

  /**
   * BackupComplete(succeeded) of a snapshot backup: records it in the backup history; a
   * full (not copy-only) backup becomes the differential base and starts the log chain.
   */
  completeBackup(backup: { readonly backupId: string; readonly backupType: 'full' | 'copy' | 'differential'; readonly point: FreezePoint }): Result<BackupHistoryEntry, string> {
    this.assertAlive();
    if (this.modeNow !== 'online') return err(`database is ${this.modeNow}`);
    if (this.isHeld()) return err('I/O is held: the history cannot be written now');
    const p = backup.point;
    const existing = this.history();
    const entry = this.newHistoryEntry(existing, {
      id: backup.backupId, type: backup.backupType === 'differential' ? 'differential' : 'full', copyOnly: backup.backupType === 'copy', toNul: false,
      firstLsn: this.headerNow().truncationLsn, lastLsn: p.endLsn, checkpointLsn: p.checkpointLsn,
      databaseBackupLsn: backup.backupType === 'full' ? 0 : this.chain.diffBase?.checkpointLsn ?? 0, timeUs: p.timeUs,
    });
    let chain = this.chain;
    if (backup.backupType === 'full') {
      chain = {
        started: true,
        // The log chain starts where the log is kept from now on (pinned since the freeze).
        backupLsn: this.chain.started ? this.chain.backupLsn : Math.min(this.headerNow().truncationLsn, p.checkpointLsn),
        diffBase: { backupId: backup.backupId, checkpointLsn: p.checkpointLsn },
      };
    }
    this.writeHistory(entry, chain, existing);
    return ok(entry);
  }

  /** A new history entry numbered after `existing` (the history as it is now). */
  private newHistoryEntry(existing: readonly BackupHistoryEntry[], fields: Omit<BackupHistoryEntry, 'seq'>): BackupHistoryEntry {
    const seq = existing.reduce((m, e) => Math.max(m, e.seq), 0) + 1;
    return { seq, ...fields };
  }

  /** One atomic system record: the history entry (pruning the oldest of `existing`, the history now) and the chain row. */
  private writeHistory(entry: BackupHistoryEntry, chain: LogChainInfo, existing: readonly BackupHistoryEntry[]): void {
    const pages = this.pagesNow();
    const l = pages.layout;
    const ops: SysOp[] = [];
    let slot = pages.placement(TABLE_HISTORY, entry.id, pages.historyRegion());
    const oldest = existing[0];
    if ((slot === undefined || existing.length >= MAX_HISTORY_ENTRIES) && oldest !== undefined) {
      const page = pages.find(TABLE_HISTORY, oldest.id);
      assert(page !== undefined, 'history row has a page');
      ops.push({ page: page.id, table: TABLE_HISTORY, key: oldest.id, after: null });
      slot = page.id;
    }
    assert(slot !== undefined && slot >= l.historyStart && slot < l.historyStart + l.historyPages, 'history slot');
    ops.push({ page: slot, table: TABLE_HISTORY, key: entry.id, after: [JSON.stringify(entry), 0] });
    ops.push({ page: l.systemPage, table: TABLE_DBINFO, key: 'logchain', after: [JSON.stringify(chain), 0] });
    this.logAndApply({ type: 'sys', ops });
    this.flushLog();
    this.chain = chain;
    this.activity = true;
  }

  // -------------------------------------------------------------------------------------
  // Native log backups

  backupLog(kind: 'normal' | 'nul' | 'copy'): Result<{ readonly blob: Uint8Array; readonly entry: BackupHistoryEntry; readonly durationUs: TimeUs }, string> {
    this.assertAlive();
    if (this.modeNow !== 'online') return err(`database '${this.config.dbName}' is ${this.modeNow}: BACKUP LOG needs an online database`);
    if (this.config.recoveryModel === 'simple') {
      return err(`BACKUP LOG is not allowed while the recovery model of '${this.config.dbName}' is SIMPLE`);
    }
    if (!this.chain.started) {
      return err(`BACKUP LOG cannot be performed because there is no current database backup of '${this.config.dbName}' (take a full backup first)`);
    }
    if (this.isHeld()) return err('database I/O is frozen for a snapshot: retry after the thaw');
    this.flushLog();
    const firstLsn = this.chain.backupLsn;
    const lastLsn = this.nextLsn;
    const base = this.fileRecords[0]?.record.lsn ?? lastLsn;
    assert(base <= firstLsn, `log records from ${firstLsn} were truncated (log starts at ${base})`);
    const records = this.fileRecords.slice(firstLsn - base, lastLsn - base).map((r) => r.record);
    assert(records.length === lastLsn - firstLsn, 'log backup range is contiguous');
    const nowUs = this.host.clock.nowUs();
    const existing = this.history();
    const entry = this.newHistoryEntry(existing, {
      id: '', type: 'log', copyOnly: kind === 'copy', toNul: kind === 'nul', firstLsn, lastLsn, checkpointLsn: 0,
      databaseBackupLsn: this.chain.diffBase?.checkpointLsn ?? 0, timeUs: nowUs,
    });
    const withId: BackupHistoryEntry = { ...entry, id: `log-${entry.seq}` };
    const blob = encodeLogBackup({
      dbName: this.config.dbName, backupId: withId.id, copyOnly: kind === 'copy', firstLsn, lastLsn, databaseBackupLsn: withId.databaseBackupLsn,
      firstRecordTimeUs: records[0]?.timeUs ?? null, lastRecordTimeUs: records[records.length - 1]?.timeUs ?? null, backupTimeUs: nowUs,
    }, records);
    const chain = kind === 'copy' ? this.chain : { ...this.chain, backupLsn: lastLsn };
    this.writeHistory(withId, chain, existing);
    if (kind !== 'copy') {
      // The log before lastLsn is backed up: it may be truncated now.
      this.writeHeader({ truncationLsn: this.truncationCandidate() });
      this.maybeCompact();
    }
    const durationUs = COSTS.baseUs + COSTS.fsyncUs + Math.ceil(blob.length / 1024) * COSTS.perKiBUs;
    return ok({ blob: kind === 'nul' ? new Uint8Array(0) : blob, entry: withId, durationUs });
  }

  // -------------------------------------------------------------------------------------
  // Restore

  /**
   * RESTORE DATABASE ... WITH NORECOVERY over the files of a writer-frozen snapshot: the
   * files must still be exactly the frozen image (nothing written since the snapshot).
   */
  restoreDatabase(): Result<{ readonly nextLsn: number; readonly backupId: string | null; readonly inFlight: number[] }, string> {
    this.assertAlive();
    if (this.modeNow === 'restoring') return err('the database is already RESTORING');
    if (this.modeNow !== 'online') return err(`database is ${this.modeNow}`);
    if (this.isHeld()) return err('database I/O is frozen');
    const loaded = this.load();
    if (!loaded.ok) return err(`cannot read the database files: ${loaded.error}`);
    const l = loaded.value;
    const frozenImage = l.header.state === 'frozen' && l.header.consistentEndLsn === l.logEnd && l.redone === 0 && l.repaired.length === 0;
    if (!frozenImage) {
      return err(l.header.state === 'frozen'
        ? `the database files changed after the writer-frozen snapshot (log ends at LSN ${l.logEnd}, the snapshot at ${l.header.consistentEndLsn}): restore them again from the backup`
        : `the database files are not from a writer-consistent (VSS) snapshot (log header '${l.header.state}'): a crash-consistent image cannot be restored WITH NORECOVERY`);
    }
    this.epochNow++;
    this.install(l);
    this.modeNow = 'restoring';
    this.restoringTxns = l.losers;
    const frozen = l.header.frozen;
    this.writeHeader({ state: 'restoring', consistentEndLsn: l.logEnd, restore: { nextLsn: l.logEnd, stoppedAtLsn: null, timeUs: frozen?.timeUs ?? 0 } });
    return ok({ nextLsn: l.logEnd, backupId: frozen?.backupId ?? null, inFlight: [...l.losers.keys()] });
  }

  /** RESTORE LOG: applies a log backup in LSN order up to the target, refusing a chain break. */
  restoreLog(blob: Uint8Array, target: RestoreTarget | null, recover: boolean): Result<RestoreLogOutcome, string> {
    this.assertAlive();
    if (this.modeNow !== 'restoring') return err(`database is ${this.modeNow === 'online' ? 'ONLINE' : this.modeNow}: RESTORE LOG needs a database in the RESTORING state (restore-database --norecovery first)`);
    if (this.isHeld()) return err('database I/O is frozen');
    const restore = this.headerNow().restore;
    assert(restore !== null, 'restoring state');
    if (restore.stoppedAtLsn !== null) return err(`the restore already stopped at LSN ${restore.stoppedAtLsn}: no further log can be applied (run restore-recover)`);
    const decoded = decodeLogBackup(blob);
    if (!decoded.ok) return err(`corrupt log backup: ${decoded.error}`);
    const { header, records } = decoded.value;
    if (header.dbName !== this.config.dbName) return err(`the log backup is of database '${header.dbName}', not '${this.config.dbName}'`);
    const need = restore.nextLsn;
    if (header.firstLsn > need) {
      return err(`log chain break: the log backup ${header.backupId} starts at LSN ${header.firstLsn}, but the database needs LSN ${need} next (a log backup is missing, or the chain was broken by a log backup to NUL)`);
    }
    if (header.lastLsn < need) return err(`the log backup ${header.backupId} ends at LSN ${header.lastLsn}, too early to apply (the database is at LSN ${need})`);
    let stopped = false;
    let limit = (r: LogRecord): boolean => r.lsn >= need;
    let stopTimeUs = header.backupTimeUs;
    let warning: string | null = null;
    if (target !== null && target.kind === 'time') {
      if (target.value < restore.timeUs) return err(`STOPAT ${target.value} is before the restored point (${restore.timeUs})`);
      stopped = target.value < header.backupTimeUs;
      if (stopped) {
        limit = (r) => r.lsn >= need && r.timeUs <= target.value;
        stopTimeUs = target.value;
      } else warning = `STOPAT ${target.value} is after this log backup (taken at ${header.backupTimeUs}): applied all of it; the database stays RESTORING for the next log backup`;
    } else if (target !== null) {
      if (target.value < need - 1) return err(`STOPATLSN ${target.value} is before the restored point (LSN ${need})`);
      stopped = target.value < header.lastLsn;
      if (stopped) {
        limit = (r) => r.lsn >= need && r.lsn <= target.value;
        stopTimeUs = records.find((r) => r.lsn === target.value)?.timeUs ?? restore.timeUs;
      } else warning = `STOPATLSN ${target.value} is past this log backup (ends before LSN ${header.lastLsn}): applied all of it; the database stays RESTORING`;
    }
    const apply = records.filter(limit);
    const pages = this.pagesNow();
    for (const r of apply) {
      assert(r.lsn === this.nextLsn, 'log backup records are consecutive');
      this.buffer.push(r);
      this.nextLsn++;
      const effect = pages.applyRecord(r);
      assert(effect.blocked.length === 0, 'no bad pages while restoring');
      for (const id of effect.changed) this.dirty.add(id);
      this.trackRestoringTxn(r);
    }
    // The applied records become this database's log, then the pages follow them (WAL).
    this.flushLog();
    const written = this.persistRestorePoint(this.nextLsn, stopped ? this.nextLsn - 1 : null, stopTimeUs);
    pages.reindex();
    const durationUs = COSTS.baseUs + apply.length * COSTS.perRecordUs + checkpointCostUs(written);
    let recovered = false;
    if (recover && (stopped || target === null)) {
      this.restoreRecover();
      recovered = true;
    } else if (recover) {
      warning = `${warning ?? ''} (RECOVERY deferred: the stop point was not reached)`;
    }
    return ok({ applied: apply.length, nextLsn: this.nextLsn, stopped, recovered, warning, durationUs });
  }

  private trackRestoringTxn(r: LogRecord): void {
    if (r.type === 'begin') this.restoringTxns.set(r.txn, { txn: r.txn, firstLsn: r.lsn, lastLsn: r.lsn });
    else if (r.type === 'row' || r.type === 'clr') {
      const t = this.restoringTxns.get(r.txn);
      this.restoringTxns.set(r.txn, { txn: r.txn, firstLsn: t?.firstLsn ?? r.lsn, lastLsn: r.lsn });
    } else if (r.type === 'commit' || r.type === 'abort') this.restoringTxns.delete(r.txn);
    if ('txn' in r) this.nextTxnId = Math.max(this.nextTxnId, r.txn + 1);
  }

  /** Pages (after the log, which the caller flushed), then the boot page's redo point, then the header. */
  private persistRestorePoint(nextLsn: number, stoppedAtLsn: number | null, timeUs: TimeUs): number {
    const written = this.writeDirtyPages();
    if (written > 0) must('fsync data file', this.dataFs.fsync(this.dataHandleNow()));
    this.writeBoot({ redoLsn: nextLsn });
    this.writeHeader({ state: 'restoring', consistentEndLsn: nextLsn, restore: { nextLsn, stoppedAtLsn, timeUs } });
    return written;
  }

  /** RESTORE ... WITH RECOVERY: roll back what is uncommitted at the restored point, go online. */
  restoreRecover(): Result<{ readonly rolledBack: number[]; readonly nextLsn: number }, string> {
    this.assertAlive();
    if (this.modeNow !== 'restoring') return err(`database is ${this.modeNow === 'online' ? 'ONLINE' : this.modeNow}: nothing to recover`);
    if (this.isHeld()) return err('database I/O is frozen');
    this.modeNow = 'online';
    const losers = new Map(this.restoringTxns);
    this.fpiEpoch++;
    const undone = this.undoLosers(losers);
    if (!undone.ok) {
      this.modeNow = 'restoring';
      return err(undone.error);
    }
    this.restoringTxns = new Map();
    for (const t of this.pagesNow().committedTxns()) this.nextTxnId = Math.max(this.nextTxnId, t + 1);
    this.completedCheckpoints = [this.bootNow().checkpointLsn];
    this.checkpointNow('open', null);
    this.armCheckpoint(this.config.checkpointIntervalUs);
    return ok({ rolledBack: [...losers.keys()], nextLsn: this.nextLsn });
  }

  // -------------------------------------------------------------------------------------
  // Lifecycle

  shutdown(): void {
    if (this.dead) return;
    if (this.modeNow === 'online') {
      for (const t of [...this.active.keys()]) this.rollbackTxn(t);
      this.releaseHold();
      if (!this.isHeld()) this.checkpointNow('clean', null);
    }
    if (this.dataHandle !== undefined && !this.dataFs.isDead) this.dataFs.close(this.dataHandle);
    if (this.logHandle !== undefined && !this.logFs.isDead) this.logFs.close(this.logHandle);
    this.modeNow = 'closed';
    this.dead = true;
  }

  crash(): void {
    this.dead = true;
  }

  get isDead(): boolean {
    return this.dead;
  }

  // -------------------------------------------------------------------------------------
  // Helpers

  private readAll(fs: FileSystem, handle: FileHandle): Result<Uint8Array, string> {
    const size = fs.size(handle);
    if (!size.ok) return err(`size: ${size.error.kind}`);
    const bytes = fs.read(handle, 0, size.value);
    if (!bytes.ok) return err(`read: ${bytes.error.kind}`);
    return ok(bytes.value);
  }

  private assertAlive(): void {
    assert(!this.dead, 'the sqlserver database is dead (crashed or shut down)');
  }

  private assertOnline(): void {
    this.assertAlive();
    assert(this.modeNow === 'online', `database is ${this.modeNow}`);
  }

  private pagesNow(): PageSet {
    assert(this.pages !== undefined, 'database not loaded');
    return this.pages;
  }

  private bootNow(): BootInfo {
    assert(this.boot !== undefined, 'database not loaded');
    return this.boot;
  }

  private headerNow(): LogHeader {
    assert(this.header !== undefined, 'database not loaded');
    return this.header;
  }

  private dataHandleNow(): FileHandle {
    assert(this.dataHandle !== undefined, 'data file not open');
    return this.dataHandle;
  }

  private logHandleNow(): FileHandle {
    assert(this.logHandle !== undefined, 'log file not open');
    return this.logHandle;
  }
}

/** Checkpoint cost model: fixed overhead, each dirty page written, one data fsync. */
export function checkpointCostUs(pages: number): TimeUs {
  return COSTS.baseUs + pages * COSTS.pageWriteUs + COSTS.fsyncUs;
}
