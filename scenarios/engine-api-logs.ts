/**
 * The log half of the black-box engine interface (engine-api.ts): SQL Server transaction-log
 * backups on seed 003's schedule, SQLite WAL shipping, and roll-forward to a time, an LSN
 * or a transaction. Where the log backups go is a `LogDest`: the harness's typed record
 * stores (host objects: the harness can see and remove a record, as the logs nemesis does),
 * or the engine's own repository (a handle from openRepository).
 *
 * Areas not expressed here: a log chain spanning two repositories; log backups of apps
 * other than SQL Server and SQLite.
 */

import type { TimeUs } from '../core/clock.js';
import type { VmId } from '../core/ids.js';
import type { QuiesceOutcome } from '../core/hypervisor-port.js';
import type { Result } from '../core/result.js';
import type { RollForwardTarget } from '../engine/logbackup/chain.js';
import type { LogSchedule, ScheduleRefusal } from '../engine/logbackup/schedule.js';
import type { ScheduledRun } from '../engine/logbackup/scheduler.js';
import type { LogBackupError, LogStore, StoredLogBackup } from '../engine/logbackup/sql-job.js';
import type { SqliteTarget } from '../engine/logbackup/sqlite-chain.js';
import type { SqliteShipRun } from '../engine/logbackup/sqlite-job.js';
import type { CheckpointReport, ShipError, ShipReport, ShipRequest, SqliteAnchorRecord, SqliteObservationRecord, SqliteWalRecord, SqliteWalStore, StartChainRequest } from '../engine/logbackup/sqlite-shipper.js';
import type { RollForwardError, RollForwardReport } from '../engine/restore/sql-rollforward.js';
import type { SqliteRollForwardError, SqliteRollForwardResult } from '../engine/restore/sqlite-rollforward.js';
import type { CallEnv, EngineFailure, Timer } from './engine-api.js';

/** Where log backups are kept: the harness's record stores, or the engine's repository. */
export type LogDest =
  | { readonly kind: 'host'; readonly sql: LogStore; readonly wal: SqliteWalStore }
  | { readonly kind: 'repository'; readonly repo: string };

export interface SqlScheduleParams {
  readonly vmId: VmId;
  readonly basePointId: string;
  readonly schedule: LogSchedule;
  readonly untilUs: TimeUs;
  readonly maxBackups?: number;
}

export interface SqliteShippingParams extends ShipRequest {
  readonly scriptPath: string;
  readonly full: { readonly doneUs: TimeUs; readonly snapshotAtUs: TimeUs; readonly quiesce: QuiesceOutcome };
  readonly intervalUs: TimeUs;
  readonly nextFullUs?: TimeUs;
  readonly checkpointAtWalBytes?: number;
}

export type SqliteShippingError =
  | { readonly kind: 'refused'; readonly refusal: ScheduleRefusal }
  | { readonly kind: 'ship'; readonly error: ShipError };

/** A started shipping job: its handle, the schedule it keeps and the chain's anchor. */
export interface SqliteShipping {
  readonly job: string;
  readonly schedule: LogSchedule;
  readonly anchor: SqliteAnchorRecord;
}

export interface LogsApi {
  /** One SQL Server log backup now (copy-only on request). */
  sqlLogBackup(env: CallEnv, logs: LogDest, request: { readonly vmId: VmId; readonly basePointId: string; readonly copyOnly?: boolean }): Promise<Result<StoredLogBackup, LogBackupError | EngineFailure>>;
  /** SQL Server log backups on seed 003's schedule until `untilUs`: the engine waits through `timer`. */
  runSqlSchedule(env: CallEnv, timer: Timer, logs: LogDest, params: SqlScheduleParams): Promise<Result<readonly ScheduledRun<StoredLogBackup, LogBackupError>[], EngineFailure>>;
  /** Seed 003's rule as the engine applies it: when the next log backup starts (null: none before the next full). */
  nextLogBackupStart(schedule: LogSchedule, startedUs: TimeUs, endedUs: TimeUs): Promise<TimeUs | null>;
  observeSqliteWal(env: CallEnv, logs: LogDest, request: { readonly vmId: VmId; readonly dbPath: string }): Promise<Result<SqliteObservationRecord, ShipError | EngineFailure>>;
  startSqliteChain(env: CallEnv, logs: LogDest, request: StartChainRequest): Promise<Result<SqliteAnchorRecord, ShipError | EngineFailure>>;
  shipSqliteWal(env: CallEnv, logs: LogDest, request: ShipRequest): Promise<Result<ShipReport, ShipError | EngineFailure>>;
  checkpointSqliteWal(env: CallEnv, logs: LogDest, request: ShipRequest): Promise<Result<CheckpointReport, ShipError | EngineFailure>>;
  /** The engine's own SQLite shipping job: anchors the chain; each `runSqliteShipping` is one round. */
  startSqliteShipping(env: CallEnv, logs: LogDest, params: SqliteShippingParams): Promise<Result<SqliteShipping, SqliteShippingError | EngineFailure>>;
  runSqliteShipping(job: string): Promise<Result<SqliteShipRun, ShipError | EngineFailure>>;
  /** The log records kept for a VM (what a restore would find). */
  listSqlLogBackups(logs: LogDest, vmId: VmId): Promise<Result<readonly StoredLogBackup[], EngineFailure>>;
  listSqliteRecords(logs: LogDest, vmId: VmId): Promise<Result<readonly SqliteWalRecord[], EngineFailure>>;
  /** Rolls the restored VM's database forward from the logs to `target` (SQL Server: the VM is running). */
  rollForwardSql(env: CallEnv, logs: LogDest, restored: { readonly vmId: VmId; readonly sourceVmId: string }, target: RollForwardTarget): Promise<Result<RollForwardReport, RollForwardError | EngineFailure>>;
  /** Builds the SQLite database at `target` from a point and the shipped WAL (the harness places it). */
  rollForwardSqlite(logs: LogDest, point: { readonly repo: string; readonly pointId: string }, request: { readonly vmId: VmId; readonly dbPath: string; readonly target: SqliteTarget }): Promise<Result<SqliteRollForwardResult, SqliteRollForwardError | EngineFailure>>;
}
