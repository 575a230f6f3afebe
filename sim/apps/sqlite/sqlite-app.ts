/**
 * The `sqlite` application: the real SQLite engine (wasm, see wasm-loader.ts) keeping one
 * database on the guest's last volume through the guest VFS (guest-vfs.ts), so crash
 * recovery, WAL replay and integrity_check are SQLite's own, not a model.
 *
 * Files (on host.volumes[last]): /sqlite/app.db, and beside it /sqlite/app.db-wal (WAL
 * mode) or /sqlite/app.db-journal (rollback mode). Their format is SQLite's documented file
 * format (https://www.sqlite.org/fileformat2.html): a backup engine can parse them from raw
 * bytes. Schema:
 *   txns(id INTEGER PRIMARY KEY, rows INTEGER NOT NULL, at_us INTEGER NOT NULL)
 *     one row per committed transaction: its id, how many rows it wrote, when (virtual us)
 *   rows(k INTEGER PRIMARY KEY, txn INTEGER NOT NULL, v BLOB NOT NULL)
 *     the data; `txn` is the id of the transaction that last wrote the row
 * `committed()` is `SELECT id FROM txns` (updates overwrite rows, so rows alone would lose
 * the evidence of older transactions).
 *
 * Settings, chosen for per-commit durability and for WAL shipping:
 * - locking_mode=EXCLUSIVE (one connection; the VFS has no shared memory, which WAL needs
 *   otherwise), synchronous=FULL, temp_store=MEMORY.
 * - journalMode 'wal' (default): journal_mode=WAL, one fsync per commit (of the WAL).
 *   wal_autocheckpoint=0: the app never checkpoints on its own, so a log shipper sees
 *   every frame before a checkpoint resets the WAL. Checkpoints happen only when told (the
 *   `checkpoint-and-lock` freeze action, the `sqlite3 app.db checkpoint` program) or, as a
 *   bound, when the WAL passes `walLimitBytes` (default 64 MiB; recorded as an
 *   `app.sqlite.checkpoint` event with reason 'wal-limit', and visible to a shipper as new
 *   WAL salts). A clean shutdown checkpoints and deletes the WAL (SQLite's close).
 * - journalMode 'rollback': journal_mode=DELETE, which in exclusive locking mode keeps the
 *   journal file and zeroes its header at commit (synced): four fsyncs per commit
 *   (journal, journal header, database, zeroed header).
 *
 * Workload: each operation is one transaction (BEGIN; `opsPerTxn` INSERT OR REPLACE of a
 * new key or of an existing one, half and half; one txns row; COMMIT) run inside one event,
 * acknowledged as durable when COMMIT returns. Ids continue after the highest in txns. A
 * transaction that fails (an I/O error, a full disk) is rolled back, recorded as
 * `app.error`, and stops the workload: the database's state is then for recovery to judge.
 * While any volume is frozen, or the `checkpoint-and-lock` hold is on, the next
 * transaction waits (FS thaw or hold release).
 *
 * `checkpoint-and-lock` (a freeze script's action): 'freeze' turns the hold on and, in WAL
 * mode, runs wal_checkpoint(TRUNCATE): the WAL goes into the database file and is cut to 0
 * bytes, so a FIFREEZE snapshot taken next opens without recovery and holds every commit
 * acknowledged before it. Rollback mode has nothing to checkpoint (every commit leaves the
 * database complete and the journal zeroed). 'thaw' and 'freezeFail' release the hold; a
 * failed checkpoint exits 1 and releases it too.
 *
 * Guest program `sqlite3 app.db <SQL | wal-frames [fromByte] | checkpoint [fromByte]>` (see sqlite3()).
 *
 * History: app.open, app.commit (per acknowledged transaction), app.error,
 * app.sqlite.checkpoint (reason freeze-script, program or wal-limit), app.sqlite.hold.
 *
 * open(): recoveryNeeded = before SQLite touches anything, a non-empty WAL or a hot rollback
 * journal (non-empty, first byte not zero) exists. ok = SQLite opened the database, ran any
 * recovery and `PRAGMA integrity_check` answered 'ok'.
 *
 * Cost model (virtual durations of script actions and programs; the file system itself
 * takes no virtual time): 1 ms to start, 20 us per 4 KiB written, 5 us per 4 KiB read,
 * 2 ms per fsync, 200 us per truncate or delete, as counted by the VFS during the call.
 *
 * Leaves out: a VSS writer (SQLite has none: writer is always null), several connections
 * or processes, schema changes, reads in the workload, busy timeouts.
 */

import { assert } from '../../../core/assert.js';
import type { TimeUs } from '../../../core/clock.js';
import type { GuestProgramResult } from '../../../core/hypervisor-port.js';
import type { Prng } from '../../../core/prng.js';
import type { FileSystem } from '../../guest/file-system.js';
import type { TimerHandle } from '../../kernel/event-queue.js';
import type { AckRecord, AppHost, GuestApp, GuestProgram, OpenReport, ScriptActionResult, ScriptArgument, WorkloadSpec } from '../types.js';
import { GuestVfs, zeroCounters, type MutationInterceptor, type VfsCounters } from './guest-vfs.js';
import { sqliteModule, SqlConnection, type SqlError, type SqlRow, type SqlStatement, type SqlValue } from './wasm-loader.js';

export const SQLITE_DIR = '/sqlite';
export const DB_PATH = '/sqlite/app.db';
export const WAL_PATH = '/sqlite/app.db-wal';
export const JOURNAL_PATH = '/sqlite/app.db-journal';
export const DEFAULT_WAL_LIMIT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_OPS_PER_TXN = 4;
export const DEFAULT_VALUE_BYTES = 64;
/** Bounds on one transaction's rows and one row's value. */
const MAX_OPS_PER_TXN = 10_000;
const MAX_VALUE_BYTES = 1024 * 1024;
/** Largest read of the WAL per file system call (the FS caps one read at 64 MiB). */
const WAL_READ_CHUNK_BYTES = 16 * 1024 * 1024;
/** Most bytes `wal-frames` returns (the WAL limit plus slack). */
const MAX_WAL_OUTPUT_BYTES = 1024 * 1024 * 1024;

const COST_START_US = 1_000;
const COST_WRITE_PAGE_US = 20;
const COST_READ_PAGE_US = 5;
const COST_SYNC_US = 2_000;
const COST_META_US = 200;

export type JournalMode = 'wal' | 'rollback';

export interface SqliteAppOptions {
  readonly journalMode?: JournalMode;
  /** WAL size past which the app checkpoints by itself (WAL mode). */
  readonly walLimitBytes?: number;
  /** Test hook: sees every mutating VFS call (write, sync, truncate, delete) and may cut power before it. */
  readonly interceptMutation?: MutationInterceptor;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS txns(id INTEGER PRIMARY KEY, rows INTEGER NOT NULL, at_us INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS rows(k INTEGER PRIMARY KEY, txn INTEGER NOT NULL, v BLOB NOT NULL);
`;

/** The virtual duration of VFS work (see the header's cost model). */
export function vfsCostUs(work: VfsCounters): TimeUs {
  const pages = (bytes: number): number => Math.ceil(bytes / 4096);
  return COST_START_US + pages(work.writeBytes) * COST_WRITE_PAGE_US + pages(work.readBytes) * COST_READ_PAGE_US
    + work.syncs * COST_SYNC_US + (work.truncates + work.deletes) * COST_META_US;
}

function diffCounters(after: VfsCounters, before: VfsCounters): VfsCounters {
  return {
    reads: after.reads - before.reads, readBytes: after.readBytes - before.readBytes, writes: after.writes - before.writes,
    writeBytes: after.writeBytes - before.writeBytes, syncs: after.syncs - before.syncs, truncates: after.truncates - before.truncates,
    deletes: after.deletes - before.deletes, errors: after.errors - before.errors,
  };
}

function describe(error: SqlError): string {
  return `${error.message} (code ${error.code})`;
}

interface Statements {
  readonly begin: SqlStatement;
  readonly commit: SqlStatement;
  readonly rollback: SqlStatement;
  readonly upsert: SqlStatement;
  readonly addTxn: SqlStatement;
}

export class SqliteApp implements GuestApp {
  readonly appId = 'sqlite' as const;
  readonly writer = null;
  readonly journalMode: JournalMode;
  readonly scriptActions: Readonly<Record<string, (arg: ScriptArgument) => ScriptActionResult>>;
  readonly programs: Readonly<Record<string, GuestProgram>>;
  private readonly host: AppHost;
  private readonly fs: FileSystem;
  private readonly options: SqliteAppOptions;
  private readonly walLimitBytes: number;
  private readonly workloadPrng: Prng;
  private vfs: GuestVfs | undefined;
  private conn: SqlConnection | undefined;
  private stmts: Statements | undefined;
  private opened = false;
  private healthy = false;
  private dead = false;
  private readonly acks: AckRecord[] = [];
  private nextTxnId = 1;
  private maxKey = 0;
  /** Ids this instance began (first..last), for checkers of "nothing unstarted appears". */
  private firstStartedId = 0;
  private lastStartedId = 0;
  // Workload state
  private spec: WorkloadSpec | undefined;
  private running = false;
  /** Bumped by start/stop so callbacks of an earlier run do nothing. */
  private generation = 0;
  private started = 0;
  private timer: TimerHandle | undefined;
  private waiting = false;
  /** checkpoint-and-lock: transactions wait until thaw or freezeFail. */
  private hold = false;

  constructor(host: AppHost, options: SqliteAppOptions) {
    assert(host.volumes.length > 0, 'the sqlite app needs a volume');
    this.host = host;
    this.fs = host.volumes[host.volumes.length - 1] as FileSystem;
    this.options = options;
    this.journalMode = options.journalMode ?? 'wal';
    this.walLimitBytes = options.walLimitBytes ?? DEFAULT_WAL_LIMIT_BYTES;
    assert(this.walLimitBytes > 0, 'walLimitBytes must be positive');
    this.workloadPrng = host.prng.fork('workload');
    this.scriptActions = { 'checkpoint-and-lock': (arg) => this.checkpointAndLock(arg) };
    this.programs = { sqlite3: (args, input) => this.sqlite3(args, input) };
  }

  private get subject(): string {
    return `${this.host.vmId}/sqlite`;
  }

  /** Ids of the transactions this instance began: [first, last] (0, 0 when none). */
  get startedIds(): { readonly first: number; readonly last: number } {
    return { first: this.firstStartedId, last: this.lastStartedId };
  }

  /** The guest VFS's counters (what SQLite asked of the file system so far). */
  get vfsCounters(): VfsCounters {
    return this.vfs === undefined ? zeroCounters() : { ...this.vfs.counters };
  }

  open(): OpenReport {
    assert(!this.opened && !this.dead, 'open() once per app instance');
    this.opened = true;
    const fs = this.fs;
    const before = this.inspectFiles();
    const recoveryNeeded = before.walBytes > 0 || before.hotJournal;
    const report = (ok: boolean, detail: string): OpenReport => {
      this.healthy = ok;
      this.host.history.record({ kind: 'app.open', subject: this.subject, data: { created: before.created, recoveryNeeded, ok, detail } });
      return { created: before.created, recoveryNeeded, ok, detail };
    };
    if (!fs.stat(SQLITE_DIR).ok) {
      const made = fs.mkdir(SQLITE_DIR);
      if (!made.ok) return report(false, `mkdir ${SQLITE_DIR}: ${made.error.kind}`);
    }
    const vfs = GuestVfs.create(sqliteModule(), {
      fs, prng: this.host.prng.fork('vfs'), clock: this.host.clock,
      ...this.options.interceptMutation === undefined ? {} : { interceptMutation: this.options.interceptMutation },
    });
    this.vfs = vfs;
    vfs.beginOperation();
    const conn = SqlConnection.open(sqliteModule(), DB_PATH, vfs.name);
    if (!conn.ok) return report(false, `open: ${describe(conn.error)}`);
    this.conn = conn.value;
    const journal = this.journalMode === 'wal' ? 'WAL' : 'DELETE';
    const setup = this.conn.exec(`PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=${journal}; PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=0; PRAGMA temp_store=MEMORY;`);
    if (!setup.ok) return report(false, `recovery/setup: ${describe(setup.error)}`);
    const mode = setup.value[1]?.[0];
    if (mode !== journal.toLowerCase()) return report(false, `journal_mode is '${String(mode)}', wanted ${journal}`);
    const schema = this.conn.exec(SCHEMA);
    if (!schema.ok) return report(false, `schema: ${describe(schema.error)}`);
    const check = this.conn.exec('PRAGMA integrity_check');
    if (!check.ok) return report(false, `integrity_check: ${describe(check.error)}`);
    const verdict = check.value.map((r) => String(r[0])).join('; ');
    if (verdict !== 'ok') return report(false, `integrity_check: ${verdict}`);
    const highs = this.conn.exec('SELECT coalesce(max(id), 0) FROM txns; SELECT coalesce(max(k), 0) FROM rows;');
    if (!highs.ok) return report(false, `scan: ${describe(highs.error)}`);
    this.nextTxnId = Number(highs.value[0]?.[0] ?? 0) + 1;
    this.maxKey = Number(highs.value[1]?.[0] ?? 0);
    const stmts = this.prepareAll(this.conn);
    if (!stmts.ok) return report(false, `prepare: ${describe(stmts.error)}`);
    this.stmts = stmts.value;
    const what = before.created ? 'created' : recoveryNeeded ? (before.walBytes > 0 ? `replayed a WAL of ${before.walBytes} bytes` : 'rolled back a hot journal') : 'clean';
    return report(true, `${what}; integrity_check ok; ${this.nextTxnId - 1} transactions`);
  }

  startWorkload(spec: WorkloadSpec): void {
    assert(!this.dead, 'startWorkload on a dead app');
    assert(spec.meanIntervalUs >= 0, 'meanIntervalUs must not be negative');
    assert(spec.opsPerTxn === undefined || (spec.opsPerTxn >= 1 && spec.opsPerTxn <= MAX_OPS_PER_TXN), `opsPerTxn in [1, ${MAX_OPS_PER_TXN}]`);
    assert(spec.valueBytes === undefined || (spec.valueBytes >= 0 && spec.valueBytes <= MAX_VALUE_BYTES), `valueBytes in [0, ${MAX_VALUE_BYTES}]`);
    if (!this.healthy) {
      this.host.history.record({ kind: 'app.error', subject: this.subject, data: { op: 'startWorkload', error: 'database not open' } });
      return;
    }
    this.stopWorkload();
    this.spec = spec;
    this.running = true;
    this.started = 0;
    this.scheduleNext();
  }

  stopWorkload(): void {
    this.running = false;
    this.generation++;
    this.waiting = false;
    if (this.timer !== undefined) this.host.queue.cancel(this.timer);
    this.timer = undefined;
  }

  committed(): ReadonlySet<string> {
    const out = new Set<string>();
    if (this.conn === undefined || this.dead || !this.opened) return out;
    this.vfs?.beginOperation();
    const rows = this.conn.exec('SELECT id FROM txns ORDER BY id');
    if (!rows.ok) return out;
    for (const row of rows.value) out.add(String(row[0]));
    return out;
  }

  acknowledged(): readonly AckRecord[] {
    return this.acks;
  }

  shutdown(): void {
    if (this.dead) return;
    this.stopWorkload();
    this.vfs?.beginOperation();
    this.closeConnection();
    this.dead = true;
  }

  crash(): void {
    if (this.dead) return;
    this.stopWorkload();
    // Memory is gone: nothing SQLite does while closing may reach the file system.
    this.vfs?.kill();
    this.closeConnection();
    this.dead = true;
  }

  // -------------------------------------------------------------------------------------
  // Workload

  private scheduleNext(): void {
    const spec = this.spec;
    if (!this.running || spec === undefined || this.dead) return;
    if (spec.maxOps !== undefined && this.started >= spec.maxOps) {
      this.running = false;
      return;
    }
    const generation = this.generation;
    const gapUs = this.workloadPrng.int(0, 2 * spec.meanIntervalUs);
    this.timer = this.host.queue.after(gapUs, `${this.host.timerPrefix}:txn`, () => {
      this.timer = undefined;
      if (generation === this.generation) this.step();
    });
  }

  /** One workload operation, or a wait for a thaw or for the hold to end. */
  private step(): void {
    if (!this.running || this.dead) return;
    if (this.hold) {
      this.waiting = true; // resumed by releaseHold()
      return;
    }
    const frozen = this.host.volumes.find((v) => v.isFrozen);
    if (frozen !== undefined) {
      const generation = this.generation;
      this.waiting = true;
      frozen.onThaw(() => {
        if (generation !== this.generation || !this.waiting) return;
        this.waiting = false;
        this.step();
      });
      return;
    }
    this.waiting = false;
    const ok = this.transaction();
    if (!ok) {
      this.running = false;
      return;
    }
    this.maybeCheckpointForLimit();
    this.scheduleNext();
  }

  /** Runs one transaction; false when it failed (rolled back, not acknowledged). */
  private transaction(): boolean {
    const spec = this.spec;
    const stmts = this.stmts;
    const conn = this.conn;
    const vfs = this.vfs;
    assert(spec !== undefined && stmts !== undefined && conn !== undefined && vfs !== undefined, 'transaction without an open database');
    const id = this.nextTxnId++;
    this.started++;
    if (this.firstStartedId === 0) this.firstStartedId = id;
    this.lastStartedId = id;
    const opsPerTxn = spec.opsPerTxn ?? DEFAULT_OPS_PER_TXN;
    const valueBytes = spec.valueBytes ?? DEFAULT_VALUE_BYTES;
    const keyBefore = this.maxKey;
    vfs.beginOperation();
    const fail = (op: string, error: SqlError): boolean => {
      if (!conn.autocommit) stmts.rollback.run();
      this.maxKey = keyBefore;
      this.host.history.record({ kind: 'app.error', subject: this.subject, data: { op, txn: id, code: error.code, error: error.message } });
      return false;
    };
    const begun = stmts.begin.run();
    if (!begun.ok) return fail('begin', begun.error);
    for (let i = 0; i < opsPerTxn; i++) {
      const insert = this.maxKey === 0 || this.workloadPrng.bool(0.5);
      const key = insert ? ++this.maxKey : this.workloadPrng.int(1, this.maxKey);
      const value = this.workloadPrng.fill(new Uint8Array(valueBytes));
      const done = stmts.upsert.run([key, id, value]);
      if (!done.ok) return fail('upsert', done.error);
    }
    const logged = stmts.addTxn.run([id, opsPerTxn, this.host.clock.nowUs()]);
    if (!logged.ok) return fail('txns', logged.error);
    const committed = stmts.commit.run();
    if (!committed.ok) return fail('commit', committed.error);
    const ack: AckRecord = { app: 'sqlite', id: String(id), timeUs: this.host.clock.nowUs(), durable: true };
    this.acks.push(ack);
    this.host.history.record({ kind: 'app.commit', subject: this.subject, data: { id: ack.id, durable: true } });
    return true;
  }

  private maybeCheckpointForLimit(): void {
    if (this.journalMode !== 'wal' || this.vfs === undefined) return;
    const walBytes = this.vfs.openFileSize(WAL_PATH) ?? 0;
    if (walBytes <= this.walLimitBytes) return;
    this.checkpoint('wal-limit');
  }

  // -------------------------------------------------------------------------------------
  // Checkpoints, the freeze action and the sqlite3 program

  /** PRAGMA wal_checkpoint(TRUNCATE); returns its row (busy, log, checkpointed) or the error. */
  private checkpoint(reason: string): { readonly row: SqlRow | undefined; readonly error: SqlError | undefined; readonly work: VfsCounters } {
    const conn = this.conn;
    const vfs = this.vfs;
    assert(conn !== undefined && vfs !== undefined, 'checkpoint without an open database');
    const before = { ...vfs.counters };
    vfs.beginOperation();
    const result = conn.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    const work = diffCounters(vfs.counters, before);
    const row = result.ok ? result.value[0] : undefined;
    // busy = 1 means the checkpoint could not finish (it cannot here: one connection).
    const error = !result.ok ? result.error : row?.[0] !== 0 ? { code: 5, message: 'checkpoint busy' } : undefined;
    this.host.history.record({
      kind: 'app.sqlite.checkpoint', subject: this.subject,
      data: { reason, ok: error === undefined, writeBytes: work.writeBytes, syncs: work.syncs, ...error === undefined ? {} : { error: error.message } },
    });
    return { row, error, work };
  }

  private checkpointAndLock(arg: ScriptArgument): ScriptActionResult {
    if (arg !== 'freeze') {
      this.releaseHold();
      return { exitCode: 0, durationUs: COST_START_US };
    }
    if (this.dead || !this.healthy) return { exitCode: 1, durationUs: COST_START_US };
    this.hold = true;
    this.host.history.record({ kind: 'app.sqlite.hold', subject: this.subject, data: { on: true } });
    if (this.journalMode === 'rollback') {
      // Every commit leaves the database file complete and the journal zeroed: nothing to do.
      return { exitCode: 0, durationUs: COST_START_US };
    }
    const done = this.checkpoint('freeze-script');
    if (done.error !== undefined) {
      this.releaseHold();
      return { exitCode: 1, durationUs: vfsCostUs(done.work) };
    }
    return { exitCode: 0, durationUs: vfsCostUs(done.work) };
  }

  private releaseHold(): void {
    if (!this.hold) return;
    this.hold = false;
    this.host.history.record({ kind: 'app.sqlite.hold', subject: this.subject, data: { on: false } });
    if (this.running && this.waiting && !this.dead) {
      this.waiting = false;
      const generation = this.generation;
      this.timer = this.host.queue.after(0, `${this.host.timerPrefix}:txn`, () => {
        this.timer = undefined;
        if (generation === this.generation) this.step();
      });
    }
  }

  /**
   * `sqlite3 app.db <what>`: `wal-frames [fromByte]` prints the WAL file's bytes (from an
   * offset, for incremental shipping); `checkpoint [fromByte]` runs wal_checkpoint(TRUNCATE)
   * and prints `busy|log|checkpointed` (with fromByte: prints instead the WAL's bytes from
   * that offset, read in the same step right before the checkpoint); anything else is SQL
   * (or read from stdin when absent), printed one row per line, columns separated by '|',
   * blobs in hex. It talks to the app's open connection (with locking_mode=EXCLUSIVE a
   * second connection could not open it).
   */
  private sqlite3(args: readonly string[], input: Uint8Array | undefined): GuestProgramResult {
    const fail = (stderr: string, exitCode = 1): GuestProgramResult => ({ exitCode, stdout: new Uint8Array(0), stderr, durationUs: COST_START_US });
    const [dbArg, command, ...rest] = args;
    if (dbArg !== 'app.db' && dbArg !== DB_PATH) return fail(`Error: unable to open database "${String(dbArg)}"`);
    const conn = this.conn;
    const vfs = this.vfs;
    if (this.dead || !this.healthy || conn === undefined || vfs === undefined) return fail('Error: database is not open');
    if (command === 'wal-frames') {
      const fromBytes = rest[0] === undefined ? 0 : Number(rest[0]);
      if (!Number.isSafeInteger(fromBytes) || fromBytes < 0) return fail(`Error: bad offset '${String(rest[0])}'`);
      const wal = this.readWal(fromBytes);
      if (!wal.ok) return fail(`Error: ${wal.error}`);
      return { exitCode: 0, stdout: wal.bytes, stderr: '', durationUs: COST_START_US + Math.ceil(wal.bytes.length / 4096) * COST_READ_PAGE_US };
    }
    if (command === 'checkpoint') {
      // `checkpoint <fromByte>`: the WAL's bytes from fromByte, then the checkpoint, in one step
      // (no commit in between), so a log shipper copies the tail and checkpoints losing nothing.
      let tail: Uint8Array | undefined;
      if (rest[0] !== undefined) {
        const fromBytes = Number(rest[0]);
        if (!Number.isSafeInteger(fromBytes) || fromBytes < 0) return fail(`Error: bad offset '${rest[0]}'`);
        const wal = this.readWal(fromBytes);
        if (!wal.ok) return fail(`Error: ${wal.error}`);
        tail = wal.bytes;
      }
      const done = this.checkpoint('program');
      const durationUs = vfsCostUs(done.work) + (tail === undefined ? 0 : Math.ceil(tail.length / 4096) * COST_READ_PAGE_US);
      if (done.error !== undefined) return { ...fail(`Error: ${describe(done.error)}`), durationUs };
      return { exitCode: 0, stdout: tail ?? new TextEncoder().encode(`${formatRow(done.row ?? [])}\n`), stderr: '', durationUs };
    }
    const sql = command ?? (input === undefined ? '' : new TextDecoder().decode(input));
    if (sql.trim() === '') return fail('Error: no SQL given');
    const before = { ...vfs.counters };
    vfs.beginOperation();
    const result = conn.exec(sql);
    const durationUs = vfsCostUs(diffCounters(vfs.counters, before));
    if (!result.ok) return { ...fail(`Error: ${describe(result.error)}`), durationUs };
    const text = result.value.map((row) => `${formatRow(row)}\n`).join('');
    return { exitCode: 0, stdout: new TextEncoder().encode(text), stderr: '', durationUs };
  }

  /** The WAL file's bytes from `fromBytes` to its end, as a reader process sees them. */
  private readWal(fromBytes: number): { ok: true; bytes: Uint8Array } | { ok: false; error: string } {
    const opened = this.fs.open(WAL_PATH);
    if (!opened.ok) return opened.error.kind === 'not-found' ? { ok: true, bytes: new Uint8Array(0) } : { ok: false, error: opened.error.kind };
    const handle = opened.value;
    try {
      const size = this.fs.size(handle);
      if (!size.ok) return { ok: false, error: size.error.kind };
      const total = Math.max(0, size.value - fromBytes);
      if (total > MAX_WAL_OUTPUT_BYTES) return { ok: false, error: `WAL of ${size.value} bytes is too large` };
      const out = new Uint8Array(total);
      for (let at = 0; at < total; at += WAL_READ_CHUNK_BYTES) {
        const chunk = this.fs.read(handle, fromBytes + at, Math.min(WAL_READ_CHUNK_BYTES, total - at));
        if (!chunk.ok) return { ok: false, error: chunk.error.kind };
        out.set(chunk.value, at);
      }
      return { ok: true, bytes: out };
    } finally {
      this.fs.close(handle);
    }
  }

  // -------------------------------------------------------------------------------------

  /** What lies on the volume before SQLite opens anything. */
  private inspectFiles(): { created: boolean; walBytes: number; hotJournal: boolean } {
    const fs = this.fs;
    const db = fs.stat(DB_PATH);
    const created = !db.ok || db.value.sizeBytes === 0;
    const wal = fs.stat(WAL_PATH);
    const walBytes = wal.ok ? wal.value.sizeBytes : 0;
    let hotJournal = false;
    const journal = fs.open(JOURNAL_PATH);
    if (journal.ok) {
      const head = fs.read(journal.value, 0, 8);
      // SQLite zeroes the header to commit in exclusive mode (a zero first byte is not hot).
      hotJournal = head.ok && head.value.length > 0 && head.value[0] !== 0;
      fs.close(journal.value);
    }
    return { created, walBytes, hotJournal };
  }

  private prepareAll(conn: SqlConnection): { ok: true; value: Statements } | { ok: false; error: SqlError } {
    const sql = {
      begin: 'BEGIN', commit: 'COMMIT', rollback: 'ROLLBACK',
      upsert: 'INSERT OR REPLACE INTO rows(k, txn, v) VALUES (?, ?, ?)',
      addTxn: 'INSERT INTO txns(id, rows, at_us) VALUES (?, ?, ?)',
    };
    const out: Partial<Record<keyof Statements, SqlStatement>> = {};
    for (const key of Object.keys(sql) as (keyof Statements)[]) {
      const prepared = conn.prepare(sql[key]);
      if (!prepared.ok) return prepared;
      out[key] = prepared.value;
    }
    const { begin, commit, rollback, upsert, addTxn } = out;
    assert(begin !== undefined && commit !== undefined && rollback !== undefined && upsert !== undefined && addTxn !== undefined, 'statements');
    return { ok: true, value: { begin, commit, rollback, upsert, addTxn } };
  }

  private closeConnection(): void {
    this.stmts = undefined;
    this.conn?.close();
    this.conn = undefined;
    this.vfs?.release();
    this.vfs = undefined;
  }
}

function formatValue(value: SqlValue): string {
  if (value === null) return '';
  if (value instanceof Uint8Array) return Array.from(value, (b) => b.toString(16).padStart(2, '0')).join('');
  return String(value);
}

function formatRow(row: SqlRow): string {
  return row.map(formatValue).join('|');
}

/** A factory for apps with these options (the guest builds one app per boot). */
export function sqliteAppFactory(options: SqliteAppOptions = {}): (host: AppHost) => SqliteApp {
  return (host) => new SqliteApp(host, options);
}

/** The default app: WAL mode. */
export const createSqliteApp: (host: AppHost) => SqliteApp = sqliteAppFactory();

/** Exported for readers of the schema (a backup engine's item-level restore). */
export const SQLITE_SCHEMA = SCHEMA.trim();
