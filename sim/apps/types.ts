/**
 * The guest application contract. An application lives in one guest: it keeps its data
 * in files on the guest's file systems (so a VmSnapshot really captures it, and a restore
 * really brings it back), runs a workload that records every acknowledged commit or
 * write, and may bring a VSS writer, freeze-script actions and guest programs.
 *
 * Lifecycle: a factory builds the app when the guest boots; `open()` opens its data —
 * creating it on first boot, running crash recovery when needed; then the workload runs
 * as events on the guest's timers (labels start `<vmId>:`, so a VM power loss stops them
 * and `crash()` drops the app's memory). A restored VM boots a fresh app instance on the
 * restored disks; the checkers compare its `committed()` with what was acknowledged.
 */

import type { Clock, TimeUs } from '../../core/clock.js';
import type { HistorySink } from '../../core/history.js';
import type { AppId, GuestProgramResult } from '../../core/hypervisor-port.js';
import type { VmId } from '../../core/ids.js';
import type { Prng } from '../../core/prng.js';
import type { GuestOsFacts } from '../guest/catalog.js';
import type { FileSystem } from '../guest/file-system.js';
import type { EventQueue } from '../kernel/event-queue.js';
import type { VssWriter } from '../vss/types.js';

export interface AppHost {
  readonly vmId: VmId;
  readonly os: GuestOsFacts;
  readonly clock: Clock;
  readonly queue: EventQueue;
  readonly history: HistorySink;
  /** The app's own PRNG stream. */
  readonly prng: Prng;
  /** The guest's mounted file systems, one per disk, the system disk first. */
  readonly volumes: readonly FileSystem[];
  /** Prefix for the app's timer labels (`<vmId>:app:<appId>`): a VM power loss cancels them. */
  readonly timerPrefix: string;
  /** The VM-GenerationID as the guest sees it: null when the OS or the hypervisor lacks it. */
  generationId(): string | null;
}

/** What opening the data found and did. */
export interface OpenReport {
  /** No data existed: the app created it. */
  readonly created: boolean;
  /** The data was not closed cleanly (or not application-consistent) and needed crash recovery. */
  readonly recoveryNeeded: boolean;
  /** Recovery (when needed) succeeded and the data is usable. */
  readonly ok: boolean;
  /** What recovery did or why it failed, for the report. */
  readonly detail: string;
}

/**
 * One acknowledged unit of work: a committed transaction or a completed write. An id may
 * be acknowledged twice: first buffered (`durable: false`, a write() returned), later
 * durable (an fsync covered it).
 */
export interface AckRecord {
  readonly app: AppId;
  /** Unique within the app's data (survives restarts: ids continue after the highest found). */
  readonly id: string;
  /** When the client was told it was done. */
  readonly timeUs: TimeUs;
  /** Acknowledged as durable (commit flushed, write fsync'ed) rather than only buffered. */
  readonly durable: boolean;
  /**
   * When it became durable, if later than `timeUs` (a buffered write a later fsync made
   * durable: the harness's ledger sets it; absent, durable at `timeUs`).
   */
  readonly durableAtUs?: TimeUs;
}

export interface WorkloadSpec {
  /** Mean think time between operations (each gap is drawn uniformly in [0, 2 x mean]). */
  readonly meanIntervalUs: TimeUs;
  /** Rows or items per transaction (apps that batch). */
  readonly opsPerTxn?: number;
  readonly valueBytes?: number;
  /** Stop after this many operations (a bound; default: run until stopped). */
  readonly maxOps?: number;
}

export type ScriptArgument = 'freeze' | 'freezeFail' | 'thaw';

/** What a guest script's declared action does when run. */
export interface ScriptActionResult {
  readonly exitCode: number;
  readonly durationUs: TimeUs;
}

export type GuestProgram = (args: readonly string[], input: Uint8Array | undefined) => GuestProgramResult;

export interface GuestApp {
  readonly appId: AppId;
  /** The VSS writer (null without one, or when the guest has no VSS). */
  readonly writer: VssWriter | null;
  open(): OpenReport;
  startWorkload(spec: WorkloadSpec): void;
  stopWorkload(): void;
  /** Ids of every transaction or write whose data the app's files hold now. */
  committed(): ReadonlySet<string>;
  acknowledged(): readonly AckRecord[];
  /**
   * Acknowledged removals (apps that take data back: a deleted, zeroed or truncated-away
   * record): the id is no longer in the app's data from `timeUs` on; `durable` says the
   * removal was made durable (fsync'ed, the journal committed). Absent: the app never
   * removes what it acknowledged.
   */
  removals?(): readonly AckRecord[];
  /** Actions a freeze script may call by name (e.g. `checkpoint-and-lock`). */
  readonly scriptActions: Readonly<Record<string, (arg: ScriptArgument) => ScriptActionResult>>;
  /** Programs the app adds to the guest (e.g. `sqlcmd`), by name. */
  readonly programs: Readonly<Record<string, GuestProgram>>;
  /** Clean shutdown: finish, flush and close its files. */
  shutdown(): void;
  /** Power loss: memory is gone, the object is dead. */
  crash(): void;
}

export type AppFactory = (host: AppHost) => GuestApp;
