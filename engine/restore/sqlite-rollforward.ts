/**
 * SQLite roll-forward from shipped WAL frames, on bytes alone (the engine does not run
 * SQLite): the base database file and its WAL are read out of a RecoveryPoint's disk image
 * with the file-level reader (guestfs/, the VM is not restored), the base's own WAL commits
 * are applied, then the shipped frames the plan names (sqlite-chain.ts), in order, up to
 * and including the target commit. Applying a frame writes its page image at
 * (pgno - 1) * pageSize; a commit frame's database size truncates or extends the file to
 * that many pages (what SQLite's checkpoint leaves). The plan — every segment on the way
 * verified — is complete before a byte of the output exists: a broken chain is refused
 * with the reason and nothing is produced.
 *
 * The output is the database file alone, as a checkpoint would leave it (no WAL): its
 * header still says WAL mode, so SQLite opens it and creates an empty WAL.
 *
 * Duration: a cost model, not a measurement (file-restore.ts's): bytes read from the point
 * and the log store at the repository's rate, the output at the target's, one file.
 *
 * Leaves out: a hot rollback journal in the base (the app runs in WAL mode), databases
 * larger than one read of the guest file system (256 MiB), writing the result into a
 * restored VM (the caller writes the bytes where it wants: a file writer, a VM disk).
 */

import { assert } from '../../core/assert.js';
import type { TimeUs } from '../../core/clock.js';
import { err, ok, type Result } from '../../core/result.js';
import { planSqliteRollForward, type BaseWal, type PlannedSegment, type SqliteChainRefusal, type SqliteTarget } from '../logbackup/sqlite-chain.js';
import type { LogStoreError } from '../logbackup/log-store.js';
import type { SqliteWalStore } from '../logbackup/sqlite-shipper.js';
import { WAL_FRAME_HEADER_BYTES, WAL_HEADER_BYTES, frameBytesOf, parseWalHeader, scanWal, type WalHeader } from '../logbackup/sqlite-wal.js';
import { DEFAULT_COST_MODEL, type RestoreCostModel } from './file-restore.js';
import { openGuestVolume, type GuestFsError } from './guestfs/index.js';
import type { PointSource } from './source.js';

export type SqliteRollForwardError =
  | { readonly kind: 'refused'; readonly refusal: SqliteChainRefusal }
  | { readonly kind: 'base'; readonly reason: string; readonly error?: GuestFsError }
  | { readonly kind: 'log-store'; readonly error: LogStoreError };

export interface SqliteRollForwardRequest {
  readonly vmId: string;
  /** The database's path in the guest file system; its WAL is `<dbPath>-wal`. */
  readonly dbPath: string;
  /** The disk holding the database's file system (default: the point's last disk). */
  readonly diskId?: string;
  readonly target: SqliteTarget;
}

export interface SqliteRollForwardReport {
  readonly pointId: string;
  readonly baseDbBytes: number;
  readonly baseWalBytes: number;
  /** Commits the base's own WAL held (applied as part of the base). */
  readonly baseWalCommits: number;
  /** Segments whose frames were applied, in order. */
  readonly segmentsApplied: readonly string[];
  readonly segmentsWalked: number;
  /** Commits applied after the base (the transaction target's index when it is one). */
  readonly commitsApplied: number;
  readonly framesApplied: number;
  /** Bytes read from the point (file-system metadata and the files) and from the log store. */
  readonly bytesRead: number;
  readonly outputBytes: number;
  /** The last log record the result covers and its ship time. */
  readonly lastRecordId: string | null;
  readonly lastRecordAtUs: TimeUs | null;
  /** From the cost model (see the header), in virtual microseconds. */
  readonly simulatedDurationUs: TimeUs;
}

export interface SqliteRollForwardResult {
  readonly database: Uint8Array;
  readonly report: SqliteRollForwardReport;
}

const DB_HEADER_MAGIC = 'SQLite format 3\0';

/** The database file's page size from its header (null: not a database header). */
function dbPageBytes(db: Uint8Array): number | null {
  if (db.length < 100) return null;
  const magic = new TextDecoder('latin1').decode(db.subarray(0, 16));
  if (magic !== DB_HEADER_MAGIC) return null;
  const raw = ((db[16] ?? 0) << 8) | (db[17] ?? 0);
  return raw === 1 ? 65536 : raw;
}

/** A database file being rebuilt: page writes and commit sizes. */
class DbImage {
  private bytes: Uint8Array;
  private size: number;

  constructor(base: Uint8Array, private readonly pageBytes: number) {
    this.bytes = base.slice();
    this.size = base.length;
  }

  private ensure(capacity: number): void {
    if (capacity <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(capacity, this.bytes.length * 2));
    grown.set(this.bytes.subarray(0, this.size));
    this.bytes = grown;
  }

  writePage(pgno: number, page: Uint8Array): void {
    assert(pgno >= 1 && page.length === this.pageBytes, `page ${pgno} of ${page.length} bytes`);
    const at = (pgno - 1) * this.pageBytes;
    this.ensure(at + this.pageBytes);
    this.bytes.set(page, at);
    this.size = Math.max(this.size, at + this.pageBytes);
  }

  /** A commit: the file is exactly `pages` pages (a truncation zeroes what it cuts, so a later extension reads zeros). */
  setPages(pages: number): void {
    const size = pages * this.pageBytes;
    if (size < this.size) this.bytes.fill(0, size, this.size);
    else this.ensure(size);
    this.size = size;
  }

  result(): Uint8Array {
    return this.bytes.slice(0, this.size);
  }
}

/** Applies the frames of `bytes` (file bytes from `fileOffset`) whose offsets are in [from, to). */
function applyFrames(image: DbImage, header: WalHeader, bytes: Uint8Array, fileOffset: number, from: number, to: number): number {
  const frameBytes = frameBytesOf(header);
  let applied = 0;
  // (to - from) / frameBytes frames: bounded by the range.
  for (let offset = from; offset < to; offset += frameBytes) {
    const at = offset - fileOffset;
    const view = new DataView(bytes.buffer, bytes.byteOffset + at, 8);
    const pgno = view.getUint32(0);
    const dbSizePages = view.getUint32(4);
    image.writePage(pgno, bytes.subarray(at + WAL_FRAME_HEADER_BYTES, at + frameBytes));
    if (dbSizePages !== 0) image.setPages(dbSizePages);
    applied++;
  }
  return applied;
}

/**
 * Rolls the SQLite database of the point `source` forward to `target` with the shipped
 * WAL frames of `env.logs`. Refuses (nothing produced) when the chain does not reach the
 * target unbroken.
 */
export async function rollForwardSqlite(
  env: {
    readonly logs: SqliteWalStore; readonly costModel?: RestoreCostModel;
    /** The chain planner (default planSqliteRollForward): a harness substitutes one to test what a wrong plan does. */
    readonly plan?: typeof planSqliteRollForward;
  },
  source: PointSource,
  request: SqliteRollForwardRequest,
): Promise<Result<SqliteRollForwardResult, SqliteRollForwardError>> {
  const diskId = request.diskId ?? source.disks().at(-1)?.diskId;
  if (diskId === undefined) return err({ kind: 'base', reason: `point ${source.pointId} has no disk` });
  const volume = await openGuestVolume(source, diskId);
  if (!volume.ok) return err({ kind: 'base', reason: `disk ${diskId}: ${volume.error.kind}`, error: volume.error });
  const dbFile = await volume.value.lookup(request.dbPath);
  if (!dbFile.ok) return err({ kind: 'base', reason: `${request.dbPath}: ${dbFile.error.kind}`, error: dbFile.error });
  const db = await volume.value.readFile(dbFile.value);
  if (!db.ok) return err({ kind: 'base', reason: `${request.dbPath}: ${db.error.kind}`, error: db.error });
  const walPath = `${request.dbPath}-wal`;
  const walFile = await volume.value.lookup(walPath);
  let walBytes: Uint8Array = new Uint8Array(0);
  if (walFile.ok) {
    const read = await volume.value.readFile(walFile.value);
    if (!read.ok) return err({ kind: 'base', reason: `${walPath}: ${read.error.kind}`, error: read.error });
    walBytes = read.value;
  } else if (walFile.error.kind !== 'not-found') {
    return err({ kind: 'base', reason: `${walPath}: ${walFile.error.kind}`, error: walFile.error });
  }
  // A WAL whose header is not valid is ignored, as SQLite ignores it.
  let baseWal: BaseWal | null = null;
  if (parseWalHeader(walBytes).ok) {
    const scanned = scanWal(walBytes);
    if (scanned.ok) baseWal = { header: scanned.value.header, scan: scanned.value };
  }
  const dbPage = dbPageBytes(db.value);
  if (db.value.length > 0 && dbPage === null) return err({ kind: 'base', reason: `${request.dbPath} is not a SQLite database` });

  const records = await env.logs.list(request.vmId);
  if (!records.ok) return err({ kind: 'log-store', error: records.error });
  const plan = await (env.plan ?? planSqliteRollForward)(records.value, { basePointId: source.pointId, dbPath: request.dbPath, wal: baseWal }, request.target, (id) => env.logs.get(id));
  if (!plan.ok) return err({ kind: 'refused', refusal: plan.error });

  const pageBytes = dbPage ?? baseWal?.header.pageBytes ?? plan.value.segments[0]?.header.pageBytes;
  if (pageBytes === undefined) return err({ kind: 'base', reason: `${request.dbPath} is empty and no WAL says its page size` });
  const mismatch = [baseWal?.header, ...plan.value.segments.map((s: PlannedSegment) => s.header)].find((h) => h !== undefined && h.pageBytes !== pageBytes);
  if (mismatch !== undefined) return err({ kind: 'base', reason: `a WAL of ${mismatch.pageBytes}-byte pages for a database of ${pageBytes}-byte pages` });

  const image = new DbImage(db.value, pageBytes);
  let framesApplied = 0;
  if (baseWal !== null) framesApplied += applyFrames(image, baseWal.header, walBytes, 0, WAL_HEADER_BYTES, baseWal.scan.committedEnd);
  for (const s of plan.value.segments) {
    // The blob holds the header, then the frames from record.startOffset.
    framesApplied += applyFrames(image, s.header, s.blob, s.record.startOffset - WAL_HEADER_BYTES, s.fromOffset, s.toOffset);
  }
  const database = image.result();
  const cost = env.costModel ?? DEFAULT_COST_MODEL;
  const bytesRead = volume.value.stats().bytesRead + plan.value.blobBytes;
  const simulatedDurationUs = Math.round(bytesRead / cost.sourceBytesPerSec * 1e6 + database.length / cost.targetBytesPerSec * 1e6 + cost.perFileUs);
  return ok({
    database,
    report: {
      pointId: source.pointId, baseDbBytes: db.value.length, baseWalBytes: walBytes.length, baseWalCommits: baseWal?.scan.commits.length ?? 0,
      segmentsApplied: plan.value.segments.map((s) => s.record.id), segmentsWalked: plan.value.segmentsWalked,
      commitsApplied: plan.value.commits, framesApplied, bytesRead, outputBytes: database.length,
      lastRecordId: plan.value.lastRecordId, lastRecordAtUs: plan.value.lastRecordAtUs, simulatedDurationUs,
    },
  });
}
