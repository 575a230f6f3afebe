/**
 * The engine under test, as the harness drives it: the few entry points a scenario needs
 * (open a repository on a store, back up a VM, open a RecoveryPoint for reading, restore a
 * VM, verify a repository; log backups, SQLite WAL shipping and roll-forward, `log`;
 * forget, prune and repair; file-level, disk and application-item restores), each
 * replaceable. The
 * default is quiescelab's own engine (engine/); an engine mutant
 * (scenarios/mutants/) is this record with one piece swapped or wrapped — a port that
 * misbehaves underneath the engine, a substituted component — so no engine file carries a
 * test flag. Another engine plugs in the same way (README: "Plug in another engine").
 */

import type { ReplicationOptions } from '../../engine/replication/replicator.js';
import type { HypervisorPort } from '../../core/hypervisor-port.js';
import type { Result } from '../../core/result.js';
import { runBackup, type BackupError, type BackupReport, type BackupRequest, type EngineEnv } from '../../engine/backup/job.js';
import { backupTargetFor } from '../../engine/backup/repository-target.js';
import type { BackupTarget } from '../../engine/backup/sink.js';
import { repositorySource } from '../../engine/repository/engine-ports.js';
import { describeRepoError, Repository, type OpenOptions, type RepoError } from '../../engine/repository/repository.js';
import { RecoveryPointId } from '../../engine/repository/hash.js';
import { verifyRepository, type VerifyReport } from '../../engine/repository/verify.js';
import type { ByteStore, StoreError } from '../../engine/store/byte-store.js';
import type { PointSource } from '../../engine/restore/source.js';
import { restoreVm } from '../../engine/restore/vm.js';
import { err, ok } from '../../core/result.js';
import { planRollForward } from '../../engine/logbackup/chain.js';
import { nextLogBackupStart, type LogSchedule } from '../../engine/logbackup/schedule.js';
import { runLogSchedule, type ScheduledRun, type ScheduleEnv } from '../../engine/logbackup/scheduler.js';
import { runSqlLogBackup, type LogBackupError, type LogStore, type StoredLogBackup } from '../../engine/logbackup/sql-job.js';
import type { TimeUs } from '../../core/clock.js';
import type { VmId } from '../../core/ids.js';
import { planSqliteRollForward } from '../../engine/logbackup/sqlite-chain.js';
import { checkpointSqliteWal, observeSqliteWal, shipSqliteWal, startSqliteChain } from '../../engine/logbackup/sqlite-shipper.js';
import { rollForwardSql } from '../../engine/restore/sql-rollforward.js';
import { rollForwardSqlite } from '../../engine/restore/sqlite-rollforward.js';
import { forget } from '../../engine/repository/forget.js';
import { prune } from '../../engine/repository/prune.js';
import { repairRepository } from '../../engine/repository/repair.js';
import { restoreFiles } from '../../engine/restore/file-restore.js';
import { restoreDisk } from '../../engine/restore/disk.js';
import { runGroupBackup } from '../../engine/backup/group.js';
import { recoverScope } from '../../engine/restore/scope.js';
import { findAdUser, findMailItem, findSqlRow, type FoundAdUser, type FoundMailItem, type ItemError, type MailItemQuery, type SqlRow, type SqlRowQuery } from '../../engine/restore/app-items.js';

/**
 * Transaction-log backups and roll-forward (seed 003, seed 004). The harness passes the
 * planners to the roll-forwards (`plan`), so a substituted planner is the one applied.
 * Note: runSqlSchedule runs its log backups with engine/logbackup/sql-job.ts directly;
 * `sqlLogBackup` is the one the harness calls itself (the copy-only log backup).
 */
export interface SqlScheduleEnv extends ScheduleEnv {
  readonly port: HypervisorPort;
  readonly store: LogStore;
}

export interface SqlScheduleJob {
  readonly vmId: VmId;
  readonly basePointId: string;
  readonly schedule: LogSchedule;
  readonly untilUs: TimeUs;
  readonly maxBackups?: number;
}

/** The engine's scheduler running the engine's SQL log backup job. */
function runSqlSchedule(env: SqlScheduleEnv, job: SqlScheduleJob): Promise<ScheduledRun<StoredLogBackup, LogBackupError>[]> {
  return runLogSchedule(env, {
    run: () => runSqlLogBackup(env, { vmId: job.vmId, basePointId: job.basePointId }),
    schedule: job.schedule, untilUs: job.untilUs, ...job.maxBackups === undefined ? {} : { maxBackups: job.maxBackups },
  });
}

export interface LogEngine {
  /** SQL Server log backups on the seed 003 schedule. */
  readonly runSqlSchedule: (env: SqlScheduleEnv, job: SqlScheduleJob) => Promise<ScheduledRun<StoredLogBackup, LogBackupError>[]>;
  /** One SQL Server log backup (copy-only on request). */
  readonly sqlLogBackup: typeof runSqlLogBackup;
  /** Seed 003's rule: when the next log backup starts (the harness ships SQLite WAL on it). */
  readonly nextLogBackupStart: typeof nextLogBackupStart;
  readonly observeSqliteWal: typeof observeSqliteWal;
  readonly startSqliteChain: typeof startSqliteChain;
  readonly shipSqliteWal: typeof shipSqliteWal;
  readonly checkpointSqliteWal: typeof checkpointSqliteWal;
  readonly planSqlRollForward: typeof planRollForward;
  readonly rollForwardSql: typeof rollForwardSql;
  readonly planSqliteRollForward: typeof planSqliteRollForward;
  readonly rollForwardSqlite: typeof rollForwardSqlite;
}

/**
 * Application-item restores straight from a point of a repository (engine/restore/app-items.ts):
 * the product's operation "restore this item from that point", so an engine may keep state
 * across points of one repository (a mutant's page cache does). Errors are the engine's
 * ItemError, or a string when the point cannot be opened.
 */
export interface ItemEngine {
  findSqlRow(repo: Repository, pointId: string, query: SqlRowQuery): Promise<Result<SqlRow, ItemError | string>>;
  findMailItem(repo: Repository, pointId: string, query: MailItemQuery): Promise<Result<FoundMailItem, ItemError | string>>;
  findAdUser(repo: Repository, pointId: string, name: string): Promise<Result<FoundAdUser, ItemError | string>>;
}

async function fromPoint<T>(repo: Repository, pointId: string, find: (source: PointSource) => Promise<Result<T, ItemError>>): Promise<Result<T, ItemError | string>> {
  const s = await repositorySource(repo, RecoveryPointId(pointId));
  return s.ok ? find(s.value) : err(describeRepoError(s.error));
}

export const QUIESCELAB_ITEM_ENGINE: ItemEngine = {
  findSqlRow: (repo, pointId, query) => fromPoint(repo, pointId, (source) => findSqlRow(source, query)),
  findMailItem: (repo, pointId, query) => fromPoint(repo, pointId, (source) => findMailItem(source, query)),
  findAdUser: (repo, pointId, name) => fromPoint(repo, pointId, (source) => findAdUser(source, name)),
};

export interface EngineUnderTest {
  readonly name: string;
  /** How replication behaves (default REPLICATION_DEFAULTS; a replication mutant changes one). */
  readonly replication?: ReplicationOptions;
  /** The port the engine sees, given the world's (a mutant may wrap it). */
  port(world: HypervisorPort): HypervisorPort;
  /** Opens the repository the harness initialised on `store` (a mutant may wrap the store). */
  openRepository(store: ByteStore, options: OpenOptions): Promise<Result<Repository, RepoError>>;
  target(repo: Repository): BackupTarget;
  backup(env: EngineEnv, request: BackupRequest): Promise<Result<BackupReport, BackupError>>;
  source(repo: Repository, pointId: string): Promise<Result<PointSource, string>>;
  readonly restoreVm: typeof restoreVm;
  /** Reads every object of the repository on `store` and names the damaged ones. */
  verify(store: ByteStore): Promise<Result<VerifyReport, StoreError>>;
  readonly log: LogEngine;
  /** Removes points by a keep policy (the CLI's `forget`); `prune` then frees what no kept point needs. */
  readonly forget: typeof forget;
  readonly prune: typeof prune;
  /** Rebuilds a damaged repository from what still checks and reports what was lost (the CLI's `repair`). */
  readonly repair: typeof repairRepository;
  /** File-level restore of one disk's guest file system into a FileWriter. */
  readonly restoreFiles: typeof restoreFiles;
  /** One disk of a point written over a disk of a powered-off VM. */
  readonly restoreDisk: typeof restoreDisk;
  readonly items: ItemEngine;
  /** Group backups of an application spanning VMs, and recovery of a datastore's or the site's VMs from one set (engine/backup/group.ts, engine/restore/scope.ts). */
  readonly group: GroupEngine;
}

export interface GroupEngine {
  /** The group job; `backup` is the engine's own single-VM job (so a mutant of it applies). */
  readonly backup: typeof runGroupBackup;
  readonly recoverScope: typeof recoverScope;
}

export const QUIESCELAB_LOG_ENGINE: LogEngine = {
  runSqlSchedule,
  sqlLogBackup: runSqlLogBackup,
  nextLogBackupStart,
  observeSqliteWal,
  startSqliteChain,
  shipSqliteWal,
  checkpointSqliteWal,
  planSqlRollForward: planRollForward,
  rollForwardSql,
  planSqliteRollForward,
  rollForwardSqlite,
};

export const QUIESCELAB_ENGINE: EngineUnderTest = {
  name: 'quiescelab',
  port: (world) => world,
  openRepository: (store, options) => Repository.open(store, options),
  target: backupTargetFor,
  backup: runBackup,
  async source(repo, pointId) {
    const s = await repositorySource(repo, RecoveryPointId(pointId));
    return s.ok ? ok(s.value) : err(describeRepoError(s.error));
  },
  restoreVm,
  verify: (store) => verifyRepository(store),
  log: QUIESCELAB_LOG_ENGINE,
  forget,
  prune,
  repair: repairRepository,
  restoreFiles,
  restoreDisk,
  items: QUIESCELAB_ITEM_ENGINE,
  group: { backup: runGroupBackup, recoverScope },
};
