/**
 * HypervisorPort: what a backup engine may ask of a hypervisor, and nothing more. It is
 * shaped after the vSphere API an image-level backup product uses (CreateSnapshot_Task with
 * a quiesce spec, QueryChangedDiskAreas, VDDK reads and writes, guest operations), so an
 * engine written against it could run against a real hypervisor through an adapter.
 * sim/ implements it; engine/ speaks only this.
 *
 * Every method returns a Promise, as a real adapter's would. The simulator does all of a
 * call's work (and moves virtual time by the call's duration, while the guests keep
 * running) before it resolves, so a run stays a pure function of its seed. Expected
 * failures (a quiesce fault, an unknown snapshot) are `Result` errors with identifying
 * fields; a call that breaks the contract (a VM id that never existed) throws.
 *
 * Leaves out: inventory beyond VMs (hosts, datastores, networks), permissions and
 * sessions, task objects and progress, memory-state revert (a memory snapshot is taken and
 * costs time, but a revert boots the guest from its disks).
 */

import type { TimeUs } from './clock.js';
import type { ChangeId, DiskId, SnapshotId, VmId } from './ids.js';
import type { Result } from './result.js';

/** Guest operating systems of the consistency matrix (seed 004 rows, plus the modern ones). */
export const GUEST_OS_IDS = [
  'win2000', 'winxp', 'win2003-x86', 'win2003-x64', 'vista-x86', 'vista-x64', 'win2008-x86', 'win2008-x64',
  'win2008r2', 'win2012', 'win2016', 'win2019', 'win2022', 'linux', 'other',
] as const;
export type GuestOsId = (typeof GUEST_OS_IDS)[number];

/**
 * VMware Tools generations (the matrix's columns): esx35u1 = ESX 3.5 U1 or earlier (SYNC
 * driver), esx35u2 = ESX 3.5 U2 to 4.0 (VSS component), esx41 = 4.1 and later.
 */
export const TOOLS_IDS = ['esx35u1', 'esx35u2', 'esx41'] as const;
export type ToolsId = (typeof TOOLS_IDS)[number];

export const APP_IDS = ['sqlite', 'sqlserver', 'exchange', 'ntds', 'files'] as const;
export type AppId = (typeof APP_IDS)[number];

export type DiskController = 'scsi' | 'ide';
/** How the guest caches writes to its disks: write-back (dirty pages) or write-through. */
export type GuestWriteCachePolicy = 'write-back' | 'write-through';

export interface VmDiskInfo {
  readonly diskId: DiskId;
  readonly capacityBytes: number;
  readonly sectorSizeBytes: 512 | 4096;
  readonly controller: DiskController;
  /** A Windows dynamic disk (LDM): application quiescing is off (notes fact 2). */
  readonly dynamic: boolean;
  readonly changeTrackingEnabled: boolean;
}

/** The VM's configuration flags that decide how far quiescing can go (notes facts 2, 3). */
export interface VmFlags {
  /** disk.EnableUUID: default TRUE for VMs created on 4.1 and later. */
  readonly enableUuid: boolean;
  readonly encrypted: boolean;
  /** tools.conf vss.disableAppQuiescing: Tools quiesces the file system only. */
  readonly disableAppQuiescing: boolean;
  readonly guestWriteCache: GuestWriteCachePolicy;
}

export type PowerState = 'poweredOn' | 'poweredOff';

export interface VmInfo {
  readonly vmId: VmId;
  readonly name: string;
  readonly guestOs: GuestOsId;
  readonly tools: ToolsId;
  readonly flags: VmFlags;
  readonly disks: readonly VmDiskInfo[];
  readonly powerState: PowerState;
  /** Applications the guest runs (what an app-aware engine discovers through Tools). */
  readonly apps: readonly AppId[];
  readonly snapshots: readonly SnapshotInfo[];
  /** The VM-GenerationID the hypervisor exposes, when it does (changes on revert/restore). */
  readonly generationId: string | null;
}

/** VSS backup types (VirtualMachineWindowsQuiesceSpec.vssBackupType). */
export type VssBackupType = 'full' | 'copy' | 'incremental' | 'differential' | 'log';

export interface QuiesceSpec {
  readonly vssBackupType: VssBackupType;
  /** Milliseconds Tools may hold the guest before it gives up (default 15 minutes). */
  readonly timeoutMs?: number;
}

export interface SnapshotSpec {
  readonly name: string;
  /** Ask Tools to quiesce the guest (application, else file system). */
  readonly quiesce: boolean;
  /** Include the guest's memory state. */
  readonly memory: boolean;
  readonly quiesceSpec?: QuiesceSpec;
}

/** How far the guest was quiesced; `none` is a plain (crash-consistent) snapshot. */
export type QuiesceMode = 'application' | 'filesystem' | 'none';
/** The in-guest mechanism that did it. */
export type Quiescer = 'vss' | 'sync-driver' | 'fifreeze' | 'vmsync' | 'sync-only' | 'none';

/** VSS writer states (notes fact 11). */
export type VssWriterState =
  | 'STABLE'
  | 'WAITING_FOR_FREEZE'
  | 'WAITING_FOR_THAW'
  | 'WAITING_FOR_POST_SNAPSHOT'
  | 'WAITING_FOR_BACKUP_COMPLETE'
  | 'FAILED_AT_IDENTIFY'
  | 'FAILED_AT_PREPARE_BACKUP'
  | 'FAILED_AT_PREPARE_SNAPSHOT'
  | 'FAILED_AT_FREEZE'
  | 'FAILED_AT_THAW'
  | 'FAILED_AT_POST_SNAPSHOT'
  | 'FAILED_AT_BACKUP_COMPLETE';

/** Writer failures: the first three are retryable (notes fact 11). */
export type VssWriterError = 'RETRYABLE' | 'TIMEOUT' | 'OUTOFRESOURCES' | 'NONRETRYABLE' | 'INCONSISTENTSNAPSHOT' | 'PARTIAL_FAILURE';

export interface WriterReport {
  readonly writer: string;
  readonly app: AppId;
  readonly state: VssWriterState;
  readonly error: VssWriterError | null;
}

export interface ScriptReport {
  readonly path: string;
  readonly argument: 'freeze' | 'freezeFail' | 'thaw';
  /** null when the script was killed at the time limit. */
  readonly exitCode: number | null;
  readonly durationUs: TimeUs;
  readonly timedOut: boolean;
}

export type QuiesceFault =
  /** Nothing quiesced the file systems; vSphere fails a quiesced snapshot with this. */
  | { readonly kind: 'FilesystemQuiesceFault'; readonly reason: string }
  /** The file systems were quiesced but some application was not. */
  | { readonly kind: 'ApplicationQuiesceFault'; readonly reason: string; readonly writers: readonly string[] }
  | { readonly kind: 'ToolsUnavailable'; readonly reason: string };

export interface QuiesceOutcome {
  readonly requested: boolean;
  readonly mode: QuiesceMode;
  readonly quiescer: Quiescer;
  /** A failure that made the mode fall short of what was tried (null: none). */
  readonly fault: QuiesceFault | null;
  /** Why Tools did not try for application level on this VM (a catalog condition), or null. */
  readonly limitedBy: string | null;
  readonly writers: readonly WriterReport[];
  readonly scripts: readonly ScriptReport[];
  /** Attempts the requester made (VSS retries retryable writer errors). */
  readonly attempts: number;
  /** The guest's freeze window, when there was one. */
  readonly freezeStartUs: TimeUs | null;
  readonly thawUs: TimeUs | null;
}

export interface SnapshotInfo {
  readonly snapshotId: SnapshotId;
  readonly name: string;
  /** The instant every disk was captured (the point in time the snapshot holds). */
  readonly createdAtUs: TimeUs;
  readonly memory: boolean;
  readonly quiesce: QuiesceOutcome;
  /** Each disk's CBT change id at this snapshot (absent when CBT was off). */
  readonly changeIds: Readonly<Record<string, ChangeId>>;
}

export interface ChangedArea {
  readonly startBytes: number;
  readonly lengthBytes: number;
}

/** One page of QueryChangedDiskAreas; continue from startOffsetBytes + lengthBytes. */
export interface ChangedAreasPage {
  readonly startOffsetBytes: number;
  readonly lengthBytes: number;
  readonly changedAreas: readonly ChangedArea[];
}

export interface GuestProgramResult {
  readonly exitCode: number;
  readonly stdout: Uint8Array;
  readonly stderr: string;
  readonly durationUs: TimeUs;
}

export interface NewDiskSpec {
  readonly capacityBytes: number;
  readonly sectorSizeBytes?: 512 | 4096;
  readonly controller?: DiskController;
  readonly dynamic?: boolean;
}

export interface NewVmSpec {
  readonly name: string;
  readonly guestOs: GuestOsId;
  readonly tools: ToolsId;
  readonly flags?: Partial<VmFlags>;
  readonly disks: readonly NewDiskSpec[];
  /** Applications installed in the guest; they start when it boots. */
  readonly apps: readonly AppId[];
}

export type PortError =
  | { readonly kind: 'unknown-vm'; readonly vmId: string }
  | { readonly kind: 'unknown-snapshot'; readonly vmId: string; readonly snapshotId: string }
  | { readonly kind: 'unknown-disk'; readonly vmId: string; readonly diskId: string }
  | { readonly kind: 'invalid-state'; readonly vmId: string; readonly reason: string }
  | { readonly kind: 'invalid-argument'; readonly field: string; readonly reason: string }
  | { readonly kind: 'cbt'; readonly vmId: string; readonly diskId: string; readonly reason: string }
  | { readonly kind: 'quiesce'; readonly vmId: string; readonly fault: QuiesceFault; readonly outcome: QuiesceOutcome }
  | { readonly kind: 'guest-unavailable'; readonly vmId: string; readonly reason: string }
  /** The site or host cannot be reached (a WAN link down, a host down): nothing was done. */
  | { readonly kind: 'unreachable'; readonly reason: string }
  /** The datastore has no room for the write: nothing was written. */
  | { readonly kind: 'no-space'; readonly reason: string };

export type PortResult<T> = Promise<Result<T, PortError>>;

export interface HypervisorPort {
  listVms(): Promise<readonly VmInfo[]>;
  getVm(vmId: VmId): PortResult<VmInfo>;

  /**
   * Takes a VmSnapshot of every disk at one instant. With `quiesce`, Tools quiesces the
   * guest first: a shortfall below application is reported in `quiesce.fault`; when the
   * file systems could not be quiesced at all the call fails with a `quiesce` error and
   * no snapshot exists (as vSphere fails the task).
   */
  createSnapshot(vmId: VmId, spec: SnapshotSpec): PortResult<SnapshotInfo>;
  /**
   * Tells the guest's VSS writers the backup of this snapshot is safely stored (or not):
   * BackupComplete, which a full backup needs to become a differential base and which
   * lets log-truncating writers truncate. A no-op without VSS.
   */
  completeBackup(vmId: VmId, snapshotId: SnapshotId, succeeded: boolean): PortResult<readonly WriterReport[]>;
  removeSnapshot(vmId: VmId, snapshotId: SnapshotId): PortResult<void>;
  revertToSnapshot(vmId: VmId, snapshotId: SnapshotId): PortResult<void>;

  /** Enables changed block tracking on every disk of the VM. */
  enableChangeTracking(vmId: VmId): PortResult<void>;
  queryChangedDiskAreas(vmId: VmId, snapshotId: SnapshotId, diskId: DiskId, startOffsetBytes: number, changeId: ChangeId | '*'): PortResult<ChangedAreasPage>;
  /** Reads a snapshot's view of a disk (VDDK read); moves virtual time by the transfer. */
  readSnapshotDisk(vmId: VmId, snapshotId: SnapshotId, diskId: DiskId, offsetBytes: number, lengthBytes: number): PortResult<Uint8Array>;

  /** Runs a program inside the guest (guest operations); needs running Tools. `input` is its stdin. */
  runInGuest(vmId: VmId, program: string, args: readonly string[], input?: Uint8Array): PortResult<GuestProgramResult>;

  powerOn(vmId: VmId): PortResult<void>;
  /** Hard power off (no guest shutdown). */
  powerOff(vmId: VmId): PortResult<void>;
  /** Clean guest shutdown through Tools, then power off. */
  shutdownGuest(vmId: VmId): PortResult<void>;

  /** Creates a powered-off VM with blank disks (the first step of a full-VM restore). */
  createVm(spec: NewVmSpec): PortResult<VmInfo>;
  /** Writes a powered-off VM's disk (VDDK write); moves virtual time by the transfer. */
  writeDisk(vmId: VmId, diskId: DiskId, offsetBytes: number, data: Uint8Array): PortResult<void>;
  destroyVm(vmId: VmId): PortResult<void>;
}
