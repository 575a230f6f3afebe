/**
 * A scenario, as data: everything one run does, drawn by the arbitraries
 * (scenarios/scenario/arbitraries.ts) and shrunk by fast-check. The same spec gives the
 * same run, byte for byte: the world's seed makes every random choice inside the
 * simulation, and the spec makes every choice of the harness.
 *
 * A run (scenarios/scenario/run.ts): boot the cell's VM, run the workload for `warmupMs`,
 * apply the fault's set-up, take the backups (a full, then CBT incrementals, with a gap of
 * workload after each), then restore and judge every point that was stored.
 */

import type { VssWriterError } from '../../core/hypervisor-port.js';
import type { WriterPhase } from '../../sim/vss/faulty-writer.js';

export interface WorkloadPlan {
  readonly meanIntervalMs: number;
  readonly opsPerTxn: number;
  readonly valueBytes: number;
}

/** Faults of the quiescing path: a run with one of them is judged by the fault properties. */
export type QuiesceFaultPlan =
  | { readonly kind: 'writer'; readonly phase: WriterPhase; readonly error: VssWriterError }
  /** The VSS provider commit (the hypervisor's snapshot) takes longer than the 10 s hold. */
  | { readonly kind: 'commit-timeout' }
  /** A backupScripts.d script exits nonzero on freeze, or hangs until Tools kill it. */
  | { readonly kind: 'script'; readonly failure: 'exit' | 'hang' };

export type FaultPlan =
  | { readonly kind: 'none' }
  | QuiesceFaultPlan
  /**
   * The host loses power `atMs` into the warm-up (the disk's cache honest or lying about
   * flush); the VM is powered on again and the backups run after it recovered.
   */
  | { readonly kind: 'power-loss'; readonly atMs: number; readonly lyingCache: boolean };

/**
 * How the engine is asked to back up, and the faults of the job's own path (not the
 * guest's): the application-aware policy; the VSS backup type (full or copy); CBT reset between the full and the first
 * incremental (vSphere resets it after a storage vMotion or a crash of the host, and the
 * parent's change id is then refused); the hypervisor refusing the first removal of each
 * VmSnapshot (a busy datastore: a job must retry); a snapshot read failing mid-backup (the
 * job fails, and must leave no snapshot, no point and no success told to the writers); and a VmSnapshot named as this engine
 * names its own, left by an earlier job that crashed (a job must remove it first).
 */
export interface JobPlan {
  readonly policy: 'try' | 'require' | 'off';
  /** The VSS backup type asked for: a full (writers truncate their logs once it is stored) or a copy (they keep them). */
  readonly backupType: 'full' | 'copy';
  readonly cbtReset: boolean;
  readonly refuseRemoval: boolean;
  /** The first snapshot read of the run fails (a transport connection reset): that backup fails and must clean up. */
  readonly readFault: boolean;
  readonly orphan: boolean;
}

/** The plan of every suite but the backup suite's variants: policy try, no job faults. */
export const PLAIN_JOB: JobPlan = { policy: 'try', backupType: 'full', cbtReset: false, refuseRemoval: false, orphan: false, readFault: false };

export function isPlainJob(job: JobPlan): boolean {
  return job.policy === 'try' && job.backupType === 'full' && !job.cbtReset && !job.refuseRemoval && !job.orphan && !job.readFault;
}

export interface ScenarioSpec {
  readonly cellId: string;
  /** The world's seed: the simulation's PRNG streams. */
  readonly seed: number;
  readonly workload: WorkloadPlan;
  readonly warmupMs: number;
  /** One gap of workload after each backup: the first backup is a full, the rest CBT incrementals. */
  readonly backupGapsMs: readonly number[];
  readonly fault: FaultPlan;
  /**
   * Areas per QueryChangedDiskAreas page: vSphere's size in most runs, a handful in the
   * others, so an incremental's changes span many pages and an engine's paging is crossed.
   */
  readonly cbtPageAreas: number;
  /**
   * Disks of the cell's VM (1 to 3). The apps spread across them: the domain controller's
   * database and SQL Server's data files on the first, the files app, Exchange, SQLite and
   * SQL Server's log on the last; so a point must read every disk from one instant.
   */
  readonly disks: number;
  /** The job's policy and the faults of its own path (PLAIN_JOB outside the backup suite). */
  readonly job: JobPlan;
  /**
   * The files app takes back what it wrote (sim/apps/files/files-app.ts, un-write mode):
   * rotated segments deleted (shredded with zeros first half the time), tails zeroed in
   * place and truncated, preallocated segments trimmed. So an incremental must carry the
   * areas that became zero, and a flushed point must not hold a record removed before it.
   */
  readonly unwrite: boolean;
}

export function isQuiesceFault(fault: FaultPlan): fault is QuiesceFaultPlan {
  return fault.kind === 'writer' || fault.kind === 'commit-timeout' || fault.kind === 'script';
}
