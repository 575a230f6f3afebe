/**
 * The black-box engine interface: everything the harness asks of a backup engine, in the
 * terms a backup product uses — back up this VM, restore that point, verify, forget,
 * prune, repair, ship logs, roll forward — never in terms of quiescelab's own objects. The
 * built-in engine is one implementation (engine-builtin.ts, which its mutants wrap); an
 * engine in another process speaks the same interface over JSON-RPC on stdio
 * (cli/engine-rpc/, docs/engine-protocol.md). Scenarios and checkers use only this.
 *
 * Glossary
 * - host object: something the harness owns and lends to one call — the hypervisor
 *   (`HypervisorPort`), an object store (`ByteStore`: put / get / list / delete), a typed
 *   log-record store (`LogRecordStore`), a file writer (`FileWriter`), the virtual clock
 *   (`Clock`) and a timer (`Timer`). Over the protocol each becomes a reference the engine
 *   calls back through (so the harness's faults — crash, corruption, a hung snapshot —
 *   apply to any engine).
 * - handle: an opaque string the engine hands out for something it keeps between calls
 *   (an open repository, an open point). The harness only passes it back.
 * - capability: a named feature the engine declares at initialize; a property needing a
 *   capability the engine lacks is "not applicable" on the cell, never a pass.
 *
 * Every result is data (JSON with byte arrays), so that what travels over the protocol is
 * exactly what the harness judges. The data shapes are the ones docs/engine-protocol.md
 * specifies; the TypeScript types below name them.
 */

import type { Clock, TimeUs } from '../core/clock.js';
import type { HypervisorPort } from '../core/hypervisor-port.js';
import type { Result } from '../core/result.js';
import type { DiskId, VmId } from '../core/ids.js';
import type { AppAwarePolicy, BackupError, BackupReport } from '../engine/backup/job.js';
import type { ParentPoint } from '../engine/backup/sink.js';
import type { InitOptions, PointSummary } from '../engine/repository/repository.js';
import type { RecoveryPointMeta as StoredPointMeta } from '../engine/repository/manifest.js';
import type { VerifyReport } from '../engine/repository/verify.js';
import type { ForgetReport } from '../engine/repository/forget.js';
import type { PruneReport } from '../engine/repository/prune.js';
import type { RepairReport } from '../engine/repository/repair.js';
import type { ByteStore, StoreError } from '../engine/store/byte-store.js';
import type { PointDisk } from '../engine/restore/source.js';
import type { RestoreError, VmRestoreReport, VmRestoreSpec } from '../engine/restore/vm.js';
import type { DiskRestoreError, DiskRestoreReport } from '../engine/restore/disk.js';
import type { FileRestoreError, FileRestoreOptions, FileRestoreReport, FileSelection } from '../engine/restore/file-restore.js';
import type { FileWriter } from '../engine/restore/file-writer.js';
import type { FoundAdUser, FoundMailItem, ItemError, MailItemQuery, SqlRow, SqlRowQuery } from '../engine/restore/app-items.js';
import type { LogsApi } from './engine-api-logs.js';
import type { CycleReport, FailbackReport, FailoverReport, GroupBackupReport, GroupCoordinator, ReplicaPoint, ReplicateParams, ScopeRecoveryReport, ScopeRef } from './engine-api-replication.js';

export const PROTOCOL_VERSION = 1;

/** What an engine may declare (docs/engine-protocol.md, "Capabilities"). */
export const CAPABILITIES = [
  'backup', 'incremental', 'copy-backup', 'restore-vm', 'restore-disk', 'restore-files',
  'items.sql', 'items.mail', 'items.ad', 'verify', 'forget', 'prune', 'repair',
  'logs.sql', 'logs.sqlite', 'rollforward',
  /** Replication to a DR site (seed 002): replicate, replicaPoints, failover, testFailover; failback. */
  'replication', 'failback',
  /** Group backups of an application spanning VMs, and a datastore's or the site's VMs recovered from one set (seed 004): backupGroup, recoverScope. */
  'group-backup',
  /** The engine stores its repository in quiescelab's format: the harness may read it (P9, P10, P15, P19 look inside). */
  'repository-format:quiescelab/1',
  /** The engine accepts `mutant` at initialize (the mutant hunt can run through it). */
  'mutants',
  /**
   * Over the engine protocol, the engine process reads and writes bytes as binary frames
   * (`{"$bin": k}`) and all-zero bytes as `{"$zeros": n}`, besides base64
   * (cli/engine-rpc/framing.ts, writer.ts): the harness sends them once the engine declared
   * this at initialize. A property of the process's protocol layer (serveEngine declares
   * it), meaningless for an engine in process.
   */
  'binary-frames',
] as const;
export type Capability = (typeof CAPABILITIES)[number];
export type Capabilities = ReadonlySet<Capability>;
/** What the built-in engine declares: everything. */
export const EVERY_CAPABILITY: Capabilities = new Set(CAPABILITIES);

/** The capabilities an engine declared that the harness knows (an unknown name is ignored). */
export function capabilitiesOf(info: EngineInfo): Capabilities {
  return new Set(CAPABILITIES.filter((c) => info.capabilities.includes(c)));
}

/** Which of `needs` the engine lacks, in the order asked. */
export function lacking(caps: Capabilities, needs: readonly Capability[]): Capability[] {
  return needs.filter((c) => !caps.has(c));
}

export interface InitializeParams {
  readonly protocolVersion: number;
  readonly seed: number;
  /** A named mutant of the engine (only for engines declaring `mutants`). */
  readonly mutant?: string;
}

export interface EngineInfo {
  readonly name: string;
  readonly version: string;
  readonly protocolVersion: number;
  readonly capabilities: readonly Capability[];
}

/** A reason the engine gives for a refusal, one line. */
export type EngineFailure = string;

export interface OpenRepositoryParams {
  /** Take the writer lock under this owner (backups, forget, prune need it). */
  readonly writer?: string;
  /** Worker threads compressing in flight (0: the calling thread). */
  readonly compressionInFlight?: number;
}

export interface BackupParams {
  readonly repo: string;
  readonly vmId: VmId;
  readonly policy: AppAwarePolicy;
  /** A VSS copy backup (writers keep their logs). */
  readonly copyOnly?: boolean;
  /** Incremental from this point (from the parent backup's report); null: a full backup. */
  readonly parent: ParentPoint | null;
  /** Apps quiesced by a guest freeze script (Linux): app -> the script's path. */
  readonly appScripts?: Readonly<Record<string, string>>;
}

/** A finished backup: the job's report and what the point stored says it is (`stored.claimedLevel`, `stored.attributes.appLevels`, `stored.reasons`). */
export interface BackupDone extends BackupReport {
  readonly stored: StoredPointMeta;
}

/** The parent an incremental names: the point, its VM and the change ids the engine reported per disk (`meta.changeIds`). */
export function parentFrom(done: BackupReport): ParentPoint {
  return { pointId: done.pointId, vmId: done.meta.vmId, changeIds: done.meta.changeIds };
}

export interface OpenedPoint {
  readonly point: string;
  readonly disks: readonly PointDisk[];
}

export interface Extent {
  readonly startBytes: number;
  readonly lengthBytes: number;
}

export interface RestoreVmParams {
  readonly repo: string;
  readonly pointId: string;
  readonly spec: VmRestoreSpec;
}

export interface RestoreDiskParams {
  readonly repo: string;
  readonly pointId: string;
  readonly diskId: string;
  readonly target: { readonly vmId: VmId; readonly diskId: DiskId };
}

export interface RestoreFilesParams {
  readonly repo: string;
  readonly pointId: string;
  readonly diskId: string;
  readonly selection: FileSelection;
  readonly options?: Omit<FileRestoreOptions, 'cost'>;
}

/** The hypervisor and the clock one call works with. */
export interface CallEnv {
  readonly port: HypervisorPort;
  readonly clock: Clock;
}

export interface ReplicateRequest extends ReplicateParams {
  /** The replica a previous call made (its cycles go on), or null: a new replica. */
  readonly replica: string | null;
}

/** The cycles this call ran and the replica's restore points after them (oldest first). */
export interface ReplicationDone {
  readonly replica: string;
  readonly replicaVmId: string | null;
  readonly cycles: readonly CycleReport[];
  readonly points: readonly ReplicaPoint[];
}

export interface FailoverParams {
  readonly replica: string;
  /** The restore point to boot (null: the newest complete one). */
  readonly pointId: string | null;
}

export interface FailbackParams {
  readonly replica: string;
  /** `original`: back to the source VM; `new`: a new VM at the source site (the original is lost). */
  readonly target: 'original' | 'new';
}

export type { CycleReport, FailoverReport, FailbackReport, ReplicaPoint };

export interface GroupBackupParams {
  readonly repo: string;
  /** The group's VMs, backed up in this order. */
  readonly vmIds: readonly VmId[];
  readonly policy: AppAwarePolicy;
  /** Quiesce the VMs together: the coordinator's freeze program, every VM's snapshot, its thaw program. */
  readonly together: boolean;
  readonly coordinator?: GroupCoordinator;
  /** Per VM: apps quiesced by a guest freeze script (Linux). */
  readonly appScripts?: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

export interface RecoverScopeParams {
  readonly repo: string;
  /** The datastore or site; the harness names its VMs (the hypervisor port has no datastores). */
  readonly scope: ScopeRef;
  /** Every VM of the scope and how it is recreated. */
  readonly vms: readonly { readonly vmId: VmId; readonly spec: VmRestoreSpec }[];
}

export type { GroupBackupReport, GroupCoordinator, ScopeRecoveryReport, ScopeRef };

/** Waiting in virtual time: the engine never sleeps, it asks the harness to run the world until then. */
export interface Timer {
  readonly clock: Clock;
  waitUntil(timeUs: TimeUs): Promise<void>;
}

export interface Engine {
  /**
   * Starts a session (the harness starts one per scenario run): the engine says who it is and
   * what it supports, and forgets every handle of the session before.
   */
  initialize(params: InitializeParams): Promise<EngineInfo>;
  /** Creates an empty repository on the harness's store (`init` options an engine may ignore). */
  initRepository(store: ByteStore, clock: Clock, init: Omit<InitOptions, 'clock'>): Promise<Result<void, EngineFailure>>;
  /** Opens the repository on `store`; the handle names it in later calls. */
  openRepository(store: ByteStore, clock: Clock, params: OpenRepositoryParams): Promise<Result<string, EngineFailure>>;
  /** Backs a VM up: the point id, the job's report, and the claim stored with the point (level per app, with reasons). */
  backup(env: CallEnv, params: BackupParams): Promise<Result<BackupDone, BackupError>>;
  /** The points the repository lists, oldest first: id, parent, commit time, claim (`meta`), disks. */
  listPoints(repo: string): Promise<Result<readonly PointSummary[], EngineFailure>>;
  /** Releases an open repository (and its writer lock). */
  closeRepository(repo: string): Promise<Result<void, EngineFailure>>;
  /** Opens a point for reading (an export of its disks). */
  openPoint(repo: string, pointId: string): Promise<Result<OpenedPoint, EngineFailure>>;
  /** The data-holding extents of one disk of an open point, sorted. */
  pointExtents(point: string, diskId: string): Promise<Result<readonly Extent[], EngineFailure>>;
  /** Bytes of one disk of an open point. */
  readPoint(point: string, diskId: string, offsetBytes: number, lengthBytes: number): Promise<Result<Uint8Array, EngineFailure>>;
  closePoint(point: string): Promise<void>;
  /** Restores a point as a new VM through the hypervisor. */
  restoreVm(env: CallEnv, params: RestoreVmParams): Promise<Result<VmRestoreReport, RestoreError | EngineFailure>>;
  /** Writes one disk of a point over a disk of a powered-off VM. */
  restoreDisk(env: CallEnv, params: RestoreDiskParams): Promise<Result<DiskRestoreReport, DiskRestoreError | EngineFailure>>;
  /** File-level restore of one disk's guest file system into the harness's writer. */
  restoreFiles(writer: FileWriter, params: RestoreFilesParams): Promise<Result<FileRestoreReport, FileRestoreError | EngineFailure>>;
  findSqlRow(repo: string, pointId: string, query: SqlRowQuery): Promise<Result<SqlRow, ItemError | EngineFailure>>;
  findMailItem(repo: string, pointId: string, query: MailItemQuery): Promise<Result<FoundMailItem, ItemError | EngineFailure>>;
  findAdUser(repo: string, pointId: string, name: string): Promise<Result<FoundAdUser, ItemError | EngineFailure>>;
  /** Reads every object of the repository on `store` and names the damaged ones. */
  verify(store: ByteStore): Promise<Result<VerifyReport, StoreError>>;
  /** Removes points: the newest `keepLast`, or these ids. */
  forget(repo: string, policy: { readonly keepLast: number } | { readonly ids: readonly string[] }): Promise<Result<ForgetReport, EngineFailure>>;
  /** Frees what no kept point needs. */
  prune(repo: string, policy: { readonly keepAll?: boolean; readonly keepLast?: number; readonly keepIds?: readonly string[] }): Promise<Result<PruneReport, EngineFailure>>;
  /** Rebuilds a damaged repository from what still checks and reports what was lost. */
  repair(store: ByteStore, clock: Clock, params: { readonly owner: string; readonly attributes?: Readonly<Record<string, string | number>> }): Promise<Result<RepairReport, EngineFailure>>;
  /**
   * Replicates a VM to the DR site (`dr`: its hypervisor, reached over the link) in cycles
   * every `intervalUs` until `untilUs`, waiting on `timer` between cycles.
   */
  replicate(env: CallEnv, dr: CallEnv, timer: Timer, params: ReplicateRequest): Promise<Result<ReplicationDone, EngineFailure>>;
  /** Powers the replica on at the DR site from a complete restore point. */
  failover(dr: CallEnv, params: FailoverParams): Promise<Result<FailoverReport, EngineFailure>>;
  /** Boots a copy of a restore point as a new VM at the DR site; the replica is not touched. */
  testFailover(dr: CallEnv, params: FailoverParams): Promise<Result<{ readonly vmId: string; readonly pointId: string }, EngineFailure>>;
  /** Sends the failed-over VM's changes back to the source site and starts the VM there. */
  failback(env: CallEnv, dr: CallEnv, params: FailbackParams): Promise<Result<FailbackReport, EngineFailure>>;
  /** Backs up the VMs of an application spanning VMs as one set of points, with the engine's claim whether the set is one instant across them. */
  backupGroup(env: CallEnv, params: GroupBackupParams): Promise<Result<GroupBackupReport, EngineFailure>>;
  /** Restores every VM of a datastore or the site as new VMs, all from one set of points a group backup stored. */
  recoverScope(env: CallEnv, params: RecoverScopeParams): Promise<Result<ScopeRecoveryReport, EngineFailure>>;
  /** Transaction-log backups, WAL shipping and roll-forward (engine-api-logs.ts). */
  readonly logs: LogsApi;
  /** Ends the session. */
  shutdown(): Promise<void>;
}
