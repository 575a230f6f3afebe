/**
 * The ESE model's engine: a key-value database kept in a database file, a chain of fixed
 * size log generations and a checkpoint file on one guest file system (formats in
 * ese-format.ts). Shared by the Exchange store and the Active Directory DC (ntds/).
 *
 * Models:
 * - Write-ahead logging: a transaction is one log record appended to the current
 *   generation and fsync'ed before `commit` returns (so before the caller acknowledges).
 *   When a record does not fit, the generation ends with an end marker and the next one
 *   is created (preallocated with zeros, fsync'ed) and the checkpoint file learns the new
 *   highest generation.
 * - Lazy page writes: changed records are appended to the database file without a flush
 *   (`lazyWrite`); the header does not cover them until a checkpoint, so a crash ignores
 *   them and replays the logs instead.
 * - Checkpoint: write the remaining changed records, fsync the database, write the header
 *   (checkpoint generation = the current one; state kept), fsync, then the checkpoint file.
 *   With circular logging, generations below the checkpoint are deleted then.
 * - Clean and dirty shutdown: the header turns `dirty` (durably) before the first log record
 *   after a clean point; a clean close or a writer's freeze (`checkpoint({ clean: true })`)
 *   makes it `clean`, so that image opens without recovery.
 * - Soft recovery on open: a dirty database replays every generation from its checkpoint
 *   to the newest one known (the newest present, the header's and the checkpoint file's
 *   highest); a missing generation in that range, an unreadable one, or a torn record in
 *   any but the last generation fails the open with the reason. Replay ends in a fresh
 *   generation and a clean checkpoint.
 *
 * Leaves out: transactions that span several log records (and their undo), sessions,
 * versioning, log buffers shared by concurrent transactions (each commit flushes alone),
 * the reserve log files, page-level I/O sizes, online defragmentation, hard recovery
 * from a backup set (`eseutil /r` with restored logs is soft recovery here too).
 */

import { assert } from '../../../core/assert.js';
import type { Clock, TimeUs } from '../../../core/clock.js';
import { err, ok, type Result } from '../../../core/result.js';
import { ByteBuilder, copyBytes } from '../../kernel/bytes.js';
import type { FileHandle, FileSystem, FsError } from '../../guest/file-system.js';
import {
  DB_DATA_START_BYTES, LOG_HEADER_BYTES, checkpointOffset, dbHeaderOffset, encodeCheckpointSlot, encodeDbHeaderSlot, encodeDbRecordScratch,
  encodeDbRecordTextScratch, encodeLogEnd, encodeLogHeader, encodeLogRecordTextScratch, logFileName, opJson, parseCheckpoint, parseDatabase, parseLog, parseLogFileName,
  type BackupKind, type CheckpointState, type DbHeader, type DbRecord, type JsonValue, type LogLayout,
} from './ese-format.js';

export interface EseLayout extends LogLayout {
  /** Absolute directory on the volume holding every file of the database. */
  readonly dir: string;
  readonly databaseName: string;
  readonly checkpointName: string;
}

export interface EseStoreOptions {
  readonly fs: FileSystem;
  readonly clock: Clock;
  readonly layout: EseLayout;
  /** Size of every log generation (ESE: 1 MiB). */
  readonly logFileBytes: number;
  readonly circularLogging: boolean;
  /** A commit that leaves the current generation this far past the checkpoint checkpoints. */
  readonly checkpointDepthGens: number;
}

export type EseError =
  | { readonly kind: 'fs'; readonly op: string; readonly path: string; readonly error: FsError }
  | { readonly kind: 'record-too-large'; readonly bytes: number; readonly limitBytes: number };

export function describeEseError(e: EseError): string {
  return e.kind === 'fs' ? `${e.op} ${e.path}: ${e.error.kind}` : `log record of ${e.bytes} bytes exceeds ${e.limitBytes}`;
}

export interface EseOpened {
  readonly store: EseStore | null;
  readonly created: boolean;
  readonly recoveryNeeded: boolean;
  readonly ok: boolean;
  readonly detail: string;
  /** Generations replayed by soft recovery (empty without recovery). */
  readonly replayedGens: readonly number[];
}

/** Largest generation file: an LSN is `gen * LSN_GEN_FACTOR + byte offset` (ESE's lgpos). */
export const MAX_LOG_FILE_BYTES = 1 << 24;
const LSN_GEN_FACTOR = 1 << 24;
/** Most generations one recovery replays (a bound against a corrupt header). */
export const MAX_REPLAY_GENS = 100_000;
/** Most directory levels `mkdirs` creates. */
const MAX_DIR_DEPTH = 16;
const END_MARKER_BYTES = encodeLogEnd().length;
/** Where the lazy writer assembles its records (one store writes at a time: the simulation is single-threaded). */
const lazyBuilder = new ByteBuilder(16 * 1024);

function fsErr(op: string, path: string, error: FsError): { readonly ok: false; readonly error: EseError } {
  return err({ kind: 'fs', op, path, error });
}

/** Creates `dir` and its missing parents. */
export function mkdirs(fs: FileSystem, dir: string): Result<void, EseError> {
  const parts = dir.split('/').filter((p) => p.length > 0);
  assert(dir.startsWith('/') && parts.length <= MAX_DIR_DEPTH, `bad directory ${dir}`);
  let path = '';
  for (const part of parts) {
    path += `/${part}`;
    const st = fs.stat(path);
    if (st.ok) continue;
    const made = fs.mkdir(path);
    if (!made.ok && made.error.kind !== 'exists') return fsErr('mkdir', path, made.error);
  }
  return ok(undefined);
}

/** Writes all of `data` at `offsetBytes` (a short write is an error). */
export function writeAll(fs: FileSystem, handle: FileHandle, offsetBytes: number, data: Uint8Array): Result<void, EseError> {
  const w = fs.write(handle, offsetBytes, data);
  if (!w.ok) return fsErr('write', handle.path, w.error);
  if (w.value !== data.length) return fsErr('write', handle.path, { kind: 'no-space', detail: `short write ${w.value} of ${data.length}` });
  return ok(undefined);
}

/** The whole content of a file, or an error (not-found included). */
export function readWhole(fs: FileSystem, path: string): Result<Uint8Array, EseError> {
  const h = fs.open(path);
  if (!h.ok) return fsErr('open', path, h.error);
  const size = fs.size(h.value);
  if (!size.ok) return fsErr('size', path, size.error);
  const bytes = fs.read(h.value, 0, size.value);
  fs.close(h.value);
  if (!bytes.ok) return fsErr('read', path, bytes.error);
  return ok(bytes.value);
}

function sync(fs: FileSystem, handle: FileHandle): Result<void, EseError> {
  const r = fs.fsync(handle);
  return r.ok ? ok(undefined) : fsErr('fsync', handle.path, r.error);
}

export class EseStore {
  private readonly fs: FileSystem;
  private readonly clock: Clock;
  readonly layout: EseLayout;
  readonly logFileBytes: number;
  readonly circularLogging: boolean;
  private readonly depthGens: number;
  private readonly data: Map<string, JsonValue>;
  /** Keys changed since the lazy writer last wrote them to the database file. */
  private readonly dirtyKeys = new Set<string>();
  /** The text (opJson) of the last committed operation of each dirty key: what the lazy writer appends. */
  private readonly dirtyText = new Map<string, string>();
  private hdr: DbHeader;
  private chk: CheckpointState;
  private readonly dbHandle: FileHandle;
  private logHandle: FileHandle | undefined;
  private gen: number;
  private logOffset = LOG_HEADER_BYTES;
  /** Where the lazy writer appends next (>= the header's dataEndBytes). */
  private appendEnd: number;
  private closed = false;

  private constructor(o: EseStoreOptions, init: { data: Map<string, JsonValue>; header: DbHeader; chk: CheckpointState; dbHandle: FileHandle; gen: number }) {
    this.fs = o.fs;
    this.clock = o.clock;
    this.layout = o.layout;
    this.logFileBytes = o.logFileBytes;
    this.circularLogging = o.circularLogging;
    this.depthGens = o.checkpointDepthGens;
    this.data = init.data;
    this.hdr = init.header;
    this.chk = init.chk;
    this.dbHandle = init.dbHandle;
    this.gen = init.gen;
    this.appendEnd = init.header.dataEndBytes;
  }

  // -------------------------------------------------------------------------------------
  // Paths

  get databasePath(): string {
    return `${this.layout.dir}/${this.layout.databaseName}`;
  }

  get checkpointPath(): string {
    return `${this.layout.dir}/${this.layout.checkpointName}`;
  }

  logPath(gen: number): string {
    return `${this.layout.dir}/${logFileName(this.layout, gen)}`;
  }

  // -------------------------------------------------------------------------------------
  // Open

  /** Opens (creating, or recovering) the database; see the module header. */
  static open(o: EseStoreOptions): EseOpened {
    assert(o.logFileBytes >= 4096 && o.logFileBytes <= MAX_LOG_FILE_BYTES, `log file size ${o.logFileBytes}`);
    assert(o.checkpointDepthGens >= 1, 'checkpoint depth must be at least one generation');
    const dbPath = `${o.layout.dir}/${o.layout.databaseName}`;
    const st = o.fs.stat(dbPath);
    if (!st.ok && st.error.kind === 'not-found') return EseStore.create(o);
    if (!st.ok) return failed(false, `stat ${dbPath}: ${st.error.kind}`);
    return EseStore.openExisting(o);
  }

  private static create(o: EseStoreOptions): EseOpened {
    const L = o.layout;
    const made = mkdirs(o.fs, L.dir);
    if (!made.ok) return failed(true, describeEseError(made.error));
    // Leftovers of a creation that crashed before the database file appeared: safe to
    // drop only when no transaction was ever logged (no database file, no commits).
    const gens = listGenerations(o.fs, L);
    if (!gens.ok) return failed(true, describeEseError(gens.error));
    for (const g of gens.value) {
      const path = `${L.dir}/${logFileName(L, g)}`;
      const bytes = readWhole(o.fs, path);
      const parsed = bytes.ok ? parseLog(bytes.value) : undefined;
      if (parsed?.ok === true && parsed.value.records.length > 0) {
        return failed(false, `database ${L.databaseName} is missing but log generation ${g} holds transactions`);
      }
      const gone = o.fs.unlink(path);
      if (!gone.ok) return failed(true, `unlink ${path}: ${gone.error.kind}`);
    }
    for (const name of [L.checkpointName, `${L.databaseName}.tmp`]) {
      const gone = o.fs.unlink(`${L.dir}/${name}`);
      if (!gone.ok && gone.error.kind !== 'not-found') return failed(true, `unlink ${name}: ${gone.error.kind}`);
    }
    const log = createLog(o, 1);
    if (!log.ok) return failed(true, describeEseError(log.error));
    const chk: CheckpointState = { seq: 1, checkpointGen: 1, highestGen: 1 };
    const chkWritten = writeCheckpointFile(o.fs, `${L.dir}/${L.checkpointName}`, chk);
    if (!chkWritten.ok) return failed(true, describeEseError(chkWritten.error));
    // The database appears atomically (rename) with a clean header.
    const header: DbHeader = { seq: 1, state: 'clean', checkpointGen: 1, lastGen: 1, dataEndBytes: DB_DATA_START_BYTES, logBase: L.base, backups: {} };
    const tmp = `${L.dir}/${L.databaseName}.tmp`;
    const dbPath = `${L.dir}/${L.databaseName}`;
    const h = o.fs.create(tmp);
    if (!h.ok) return failed(true, `create ${tmp}: ${h.error.kind}`);
    const image = new Uint8Array(DB_DATA_START_BYTES);
    image.set(encodeDbHeaderSlot(header), dbHeaderOffset(header.seq));
    const steps = [writeAll(o.fs, h.value, 0, image), sync(o.fs, h.value)];
    for (const s of steps) if (!s.ok) return failed(true, describeEseError(s.error));
    const renamed = o.fs.rename(tmp, dbPath);
    if (!renamed.ok) return failed(true, `rename ${tmp}: ${renamed.error.kind}`);
    o.fs.close(h.value);
    const db = o.fs.open(dbPath);
    if (!db.ok) return failed(true, `open ${dbPath}: ${db.error.kind}`);
    const committed = sync(o.fs, db.value); // commits the rename
    if (!committed.ok) return failed(true, describeEseError(committed.error));
    const store = new EseStore(o, { data: new Map(), header, chk, dbHandle: db.value, gen: 1 });
    store.logHandle = log.value;
    return { store, created: true, recoveryNeeded: false, ok: true, detail: `created ${L.databaseName} with log generation 1`, replayedGens: [] };
  }

  private static openExisting(o: EseStoreOptions): EseOpened {
    const L = o.layout;
    const dbPath = `${L.dir}/${L.databaseName}`;
    const bytes = readWhole(o.fs, dbPath);
    if (!bytes.ok) return failed(false, describeEseError(bytes.error));
    const parsed = parseDatabase(bytes.value);
    if (!parsed.ok) return failed(false, `database ${L.databaseName} unreadable: ${parsed.error}`);
    const header = parsed.value.header;
    const data = parsed.value.records;
    const chkBytes = readWhole(o.fs, `${L.dir}/${L.checkpointName}`);
    const chkFile = chkBytes.ok ? parseCheckpoint(chkBytes.value) : undefined;
    const gens = listGenerations(o.fs, L);
    if (!gens.ok) return failed(false, describeEseError(gens.error));
    const present = new Set(gens.value);
    const maxPresent = gens.value.length === 0 ? 0 : Math.max(...gens.value);
    const highest = Math.max(maxPresent, header.lastGen, chkFile?.highestGen ?? 0);
    const replayed: number[] = [];
    const touched = new Set<string>();
    let detail: string;
    if (header.state === 'clean') {
      detail = `clean shutdown; checkpoint generation ${header.checkpointGen}, ${data.size} records`;
    } else {
      const from = header.checkpointGen;
      if (highest - from + 1 > MAX_REPLAY_GENS) return failed(false, `recovery would replay ${highest - from + 1} generations`);
      for (let g = from; g <= highest; g++) {
        if (!present.has(g)) {
          return failed(false, `dirty shutdown: log generation ${logFileName(L, g)} is missing (recovery needs ${logFileName(L, from)} to ${logFileName(L, highest)})`, true);
        }
      }
      let records = 0;
      for (let g = from; g <= highest; g++) {
        const name = logFileName(L, g);
        const logBytes = readWhole(o.fs, `${L.dir}/${name}`);
        if (!logBytes.ok) return failed(false, `dirty shutdown: ${describeEseError(logBytes.error)}`, true);
        const log = parseLog(logBytes.value);
        if (!log.ok) return failed(false, `dirty shutdown: log generation ${name} unreadable: ${log.error}`, true);
        if (log.value.gen !== g) return failed(false, `dirty shutdown: ${name} holds generation ${log.value.gen}`, true);
        if (log.value.end === 'torn' && g !== highest) {
          return failed(false, `dirty shutdown: log generation ${name} is damaged before the end of the chain (${log.value.tornReason ?? ''})`, true);
        }
        for (const r of log.value.records) {
          for (const op of r.ops) {
            applyOp(data, op);
            touched.add(op.key);
          }
          records++;
        }
        replayed.push(g);
      }
      detail = `soft recovery replayed ${records} transactions from ${logFileName(L, from)} to ${logFileName(L, highest)}`;
    }
    const db = o.fs.open(dbPath);
    if (!db.ok) return failed(false, `open ${dbPath}: ${db.error.kind}`);
    const newGen = highest + 1;
    const chk: CheckpointState = chkFile ?? { seq: 0, checkpointGen: header.checkpointGen, highestGen: highest };
    const store = new EseStore(o, { data, header, chk, dbHandle: db.value, gen: newGen });
    // Every key replay touched is rewritten: the data area may lack it.
    for (const key of touched) store.dirtyKeys.add(key);
    const log = createLog(o, newGen);
    if (!log.ok) return failed(false, describeEseError(log.error), replayed.length > 0);
    store.logHandle = log.value;
    const chkWritten = store.writeCheckpoint({ checkpointGen: store.chk.checkpointGen, highestGen: newGen });
    if (!chkWritten.ok) return failed(false, describeEseError(chkWritten.error), replayed.length > 0);
    if (replayed.length > 0) {
      const cp = store.checkpoint({ clean: true });
      if (!cp.ok) return failed(false, `recovery checkpoint: ${describeEseError(cp.error)}`, true);
    }
    return { store, created: false, recoveryNeeded: replayed.length > 0 || header.state === 'dirty', ok: true, detail, replayedGens: replayed };
  }

  // -------------------------------------------------------------------------------------
  // Reads

  get(key: string): JsonValue | undefined {
    return this.data.get(key);
  }

  /** Every record, in first-written order. */
  get records(): ReadonlyMap<string, JsonValue> {
    return this.data;
  }

  get header(): DbHeader {
    return this.hdr;
  }

  get currentGen(): number {
    return this.gen;
  }

  get checkpointGen(): number {
    return this.hdr.checkpointGen;
  }

  /** Log generations present in the directory, ascending. */
  generations(): Result<number[], EseError> {
    return listGenerations(this.fs, this.layout);
  }

  /** The database's files: database, checkpoint file, log generations. */
  files(): string[] {
    const gens = this.generations();
    return [this.databasePath, this.checkpointPath, ...(gens.ok ? gens.value : []).map((g) => this.logPath(g))];
  }

  // -------------------------------------------------------------------------------------
  // Writes

  /** Logs one transaction and flushes it (see the header). On error nothing was applied. */
  commit(ops: readonly DbRecord[]): Result<{ readonly lsn: number; readonly gen: number }, EseError> {
    this.assertOpen();
    assert(ops.length > 0, 'empty transaction');
    const dirty = this.ensureDirty();
    if (!dirty.ok) return dirty;
    const limit = this.logFileBytes - LOG_HEADER_BYTES - END_MARKER_BYTES;
    // Each operation is serialised once: its text goes into the log record now and into
    // the database record the lazy writer appends later.
    const texts = ops.map(opJson);
    let frame = copyBytes(encodeLogRecordTextScratch(this.lsnNow(), this.clock.nowUs(), texts));
    if (frame.length > limit) return err({ kind: 'record-too-large', bytes: frame.length, limitBytes: limit });
    if (this.logOffset + frame.length + END_MARKER_BYTES > this.logFileBytes) {
      const rolled = this.roll();
      if (!rolled.ok) return rolled;
      frame = copyBytes(encodeLogRecordTextScratch(this.lsnNow(), this.clock.nowUs(), texts));
    }
    const handle = this.currentLog();
    const lsn = this.lsnNow();
    const written = writeAll(this.fs, handle, this.logOffset, frame);
    if (!written.ok) return written;
    const flushed = sync(this.fs, handle);
    if (!flushed.ok) return flushed;
    this.logOffset += frame.length;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i] as DbRecord;
      applyOp(this.data, op);
      this.dirtyKeys.add(op.key);
      this.dirtyText.set(op.key, texts[i] as string);
    }
    if (this.gen - this.hdr.checkpointGen >= this.depthGens) {
      // The transaction is durable already: a failed checkpoint only delays the next one.
      this.checkpoint({ clean: false });
    }
    return ok({ lsn, gen: this.gen });
  }

  /** Ends the current generation and starts the next. */
  roll(): Result<number, EseError> {
    this.assertOpen();
    const old = this.currentLog();
    // The end marker needs no flush: a generation ending in zeros ends the same way.
    const marked = writeAll(this.fs, old, this.logOffset, encodeLogEnd());
    if (!marked.ok) return marked;
    const next = this.gen + 1;
    const log = createLog({ fs: this.fs, layout: this.layout, logFileBytes: this.logFileBytes }, next);
    if (!log.ok) return log;
    this.fs.close(old);
    this.logHandle = log.value;
    this.gen = next;
    this.logOffset = LOG_HEADER_BYTES;
    const chk = this.writeCheckpoint({ checkpointGen: this.chk.checkpointGen, highestGen: next });
    if (!chk.ok) return chk;
    return ok(next);
  }

  /** The lazy writer: changed records go to the database file, unflushed and not yet covered by the header. */
  lazyWrite(): Result<number, EseError> {
    this.assertOpen();
    if (this.dirtyKeys.size === 0) return ok(0);
    const builder = lazyBuilder;
    builder.reset();
    for (const key of this.dirtyKeys) {
      const text = this.dirtyText.get(key);
      builder.append(text === undefined ? encodeDbRecordScratch(key, this.data.get(key) ?? null) : encodeDbRecordTextScratch(text));
    }
    this.dirtyText.clear();
    const total = builder.lengthBytes;
    // The file system copies the bytes: the builder is reused by the next lazy write.
    const written = writeAll(this.fs, this.dbHandle, this.appendEnd, builder.bytes());
    if (!written.ok) return written;
    this.appendEnd += total;
    this.dirtyKeys.clear();
    return ok(total);
  }

  /**
   * Checkpoint: every change reaches the database file, durably, and the header's
   * checkpoint moves to the current generation. `clean` also marks the database
   * consistent (clean shutdown state), as a writer's freeze and a clean close do.
   */
  checkpoint(options: { readonly clean: boolean }): Result<{ readonly checkpointGen: number; readonly writtenBytes: number }, EseError> {
    this.assertOpen();
    const state = options.clean ? 'clean' : this.hdr.state;
    const idle = this.dirtyKeys.size === 0 && this.appendEnd === this.hdr.dataEndBytes && this.hdr.checkpointGen === this.gen && this.hdr.state === state;
    if (idle) return ok({ checkpointGen: this.gen, writtenBytes: 0 });
    const lazy = this.lazyWrite();
    if (!lazy.ok) return lazy;
    const flushed = sync(this.fs, this.dbHandle);
    if (!flushed.ok) return flushed;
    const header = this.writeHeader({ state, checkpointGen: this.gen, lastGen: this.gen, dataEndBytes: this.appendEnd });
    if (!header.ok) return header;
    const chk = this.writeCheckpoint({ checkpointGen: this.gen, highestGen: this.gen });
    if (!chk.ok) return chk;
    if (this.circularLogging) {
      const gone = this.truncateBelow(this.gen);
      if (!gone.ok) return gone;
    }
    return ok({ checkpointGen: this.gen, writtenBytes: lazy.value });
  }

  /** Deletes the generations below `gen` and below the checkpoint (never one recovery needs). */
  truncateBelow(gen: number): Result<number[], EseError> {
    this.assertOpen();
    const limit = Math.min(gen, this.hdr.checkpointGen);
    const gens = this.generations();
    if (!gens.ok) return gens;
    const deleted: number[] = [];
    for (const g of gens.value) {
      if (g >= limit) break;
      const path = this.logPath(g);
      const gone = this.fs.unlink(path);
      if (!gone.ok) return fsErr('unlink', path, gone.error);
      deleted.push(g);
    }
    return ok(deleted);
  }

  /** Records a completed backup in the header (what `eseutil /mh` shows as the last backups). */
  recordBackup(kind: BackupKind, stamp: { readonly timeUs: TimeUs; readonly gen: number }): Result<void, EseError> {
    this.assertOpen();
    return this.writeHeader({ backups: { ...this.hdr.backups, [kind]: { timeUs: stamp.timeUs, gen: stamp.gen } } });
  }

  /** Clean shutdown: a clean checkpoint, then the handles close. */
  close(): Result<void, EseError> {
    this.assertOpen();
    const cp = this.checkpoint({ clean: true });
    if (!cp.ok) return cp;
    this.fs.close(this.dbHandle);
    if (this.logHandle !== undefined) this.fs.close(this.logHandle);
    this.closed = true;
    return ok(undefined);
  }

  /** Power loss: forget everything (the file system is gone with it). */
  abandon(): void {
    this.closed = true;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  // -------------------------------------------------------------------------------------
  // Internals

  private assertOpen(): void {
    assert(!this.closed, `ESE database ${this.layout.databaseName} used after close`);
  }

  private currentLog(): FileHandle {
    assert(this.logHandle !== undefined, 'no current log generation');
    return this.logHandle;
  }

  private lsnNow(): number {
    return this.gen * LSN_GEN_FACTOR + this.logOffset;
  }

  private ensureDirty(): Result<void, EseError> {
    if (this.hdr.state === 'dirty') return ok(undefined);
    // Records from here on land in the current generation or later: replay starts here.
    return this.writeHeader({ state: 'dirty', checkpointGen: this.gen, lastGen: this.gen });
  }

  private writeHeader(changes: Partial<Omit<DbHeader, 'seq'>>): Result<void, EseError> {
    const next: DbHeader = { ...this.hdr, ...changes, seq: this.hdr.seq + 1 };
    const written = writeAll(this.fs, this.dbHandle, dbHeaderOffset(next.seq), encodeDbHeaderSlot(next));
    if (!written.ok) return written;
    const flushed = sync(this.fs, this.dbHandle);
    if (!flushed.ok) return flushed;
    this.hdr = next;
    return ok(undefined);
  }

  private writeCheckpoint(values: { readonly checkpointGen: number; readonly highestGen: number }): Result<void, EseError> {
    const next: CheckpointState = { seq: this.chk.seq + 1, ...values };
    const written = writeCheckpointFile(this.fs, this.checkpointPath, next);
    if (!written.ok) return written;
    this.chk = next;
    return ok(undefined);
  }
}

function failed(created: boolean, detail: string, recoveryNeeded = false): EseOpened {
  return { store: null, created, recoveryNeeded, ok: false, detail, replayedGens: [] };
}

function applyOp(data: Map<string, JsonValue>, op: DbRecord): void {
  if (op.value === null) data.delete(op.key);
  else data.set(op.key, op.value);
}

function listGenerations(fs: FileSystem, layout: EseLayout): Result<number[], EseError> {
  const names = fs.readdir(layout.dir);
  if (!names.ok) return names.error.kind === 'not-found' ? ok([]) : fsErr('readdir', layout.dir, names.error);
  const gens: number[] = [];
  for (const name of names.value) {
    const g = parseLogFileName(layout, name);
    if (g !== undefined) gens.push(g);
  }
  return ok(gens.sort((a, b) => a - b));
}

/** Creates a generation file preallocated with zeros, flushed. */
function createLog(o: Pick<EseStoreOptions, 'fs' | 'layout' | 'logFileBytes'>, gen: number): Result<FileHandle, EseError> {
  const path = `${o.layout.dir}/${logFileName(o.layout, gen)}`;
  const stale = o.fs.unlink(path);
  if (!stale.ok && stale.error.kind !== 'not-found') return fsErr('unlink', path, stale.error);
  const h = o.fs.create(path);
  if (!h.ok) return fsErr('create', path, h.error);
  // ESE preallocates each generation; the zeroed body is a hole here (it reads as zeros and
  // costs no writes), only the header is written.
  const written = writeAll(o.fs, h.value, 0, encodeLogHeader(gen, o.layout.base, o.logFileBytes));
  if (!written.ok) return written;
  const sized = o.fs.truncate(h.value, o.logFileBytes);
  if (!sized.ok) return fsErr('truncate', path, sized.error);
  const flushed = sync(o.fs, h.value);
  if (!flushed.ok) return flushed;
  return ok(h.value);
}

function writeCheckpointFile(fs: FileSystem, path: string, c: CheckpointState): Result<void, EseError> {
  const h = fs.open(path, { create: true });
  if (!h.ok) return fsErr('open', path, h.error);
  const written = writeAll(fs, h.value, checkpointOffset(c.seq), encodeCheckpointSlot(c));
  const flushed = written.ok ? sync(fs, h.value) : written;
  fs.close(h.value);
  return flushed;
}
