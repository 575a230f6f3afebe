/**
 * SQLite WAL shipping on seed 003's schedule (schedule.ts, run by scheduler.ts), the same
 * rule as SQL Server log backups: only after a successful application-aware full backup —
 * for SQLite, a full whose freeze script (`sqlite:checkpoint-and-lock`) succeeded — the
 * chain is anchored on it (startSqliteChain), the first shipment runs when the full
 * completed, then one per interval tick, at once after an overrun, until the next full.
 *
 * A scheduled run is one shipping round (sqlite-shipper.ts): it ships the WAL's new whole
 * commits; when the WAL the previous run read had reached `checkpointAtWalBytes`, the run
 * is the engine's checkpoint instead (ship everything, then read the tail and checkpoint
 * in one guest step), so the WAL stays bounded — the app's own autocheckpoint is off, the
 * shipper is the only one that checkpoints. Default 4 MiB: SQLite's autocheckpoint of
 * 1000 pages of 4 KiB.
 *
 * Leaves out: checkpoints on time rather than size, several databases per job, and
 * observing the WAL before the full backup (the caller does, with observeSqliteWal or a
 * round of the previous chain, so the anchor knows the generation to expect).
 */

import type { TimeUs } from '../../core/clock.js';
import type { QuiesceOutcome } from '../../core/hypervisor-port.js';
import { err, ok, type Result } from '../../core/result.js';
import { logScheduleAfter, type FullBackupDone, type LogSchedule, type ScheduleRefusal } from './schedule.js';
import type { LogJob } from './scheduler.js';
import {
  checkpointSqliteWal, freezeScriptSucceeded, shipSqliteWal, startSqliteChain,
  type ShipEnv, type ShipError, type ShipReport, type ShipRequest, type SqliteAnchorRecord, type SqliteCheckpointRecord,
} from './sqlite-shipper.js';

export const DEFAULT_CHECKPOINT_AT_WAL_BYTES = 4 * 1024 * 1024;

/** A full backup as the log schedule sees it: application-aware when the SQLite freeze script at `scriptPath` succeeded. */
export function sqliteFullBackupDone(full: { readonly pointId: string; readonly doneUs: TimeUs; readonly quiesce: QuiesceOutcome }, scriptPath: string): FullBackupDone {
  const appAware = freezeScriptSucceeded(full.quiesce, scriptPath);
  return {
    pointId: full.pointId, doneUs: full.doneUs, appAware,
    reason: appAware ? `the freeze script ${scriptPath} checkpointed and held the database` : `the freeze script ${scriptPath} did not run on freeze or did not succeed`,
  };
}

/** What one scheduled run stored: its rounds, and the checkpoint when it was one. */
export interface SqliteShipRun {
  readonly shipped: readonly ShipReport[];
  readonly checkpoint: SqliteCheckpointRecord | null;
}

export interface SqliteLogShipping {
  readonly schedule: LogSchedule;
  readonly anchor: SqliteAnchorRecord;
  /** The scheduler's job: one shipping round (or checkpoint) per call. */
  readonly run: LogJob<SqliteShipRun, ShipError>;
}

export type SqliteScheduleError =
  | { readonly kind: 'refused'; readonly refusal: ScheduleRefusal }
  | { readonly kind: 'ship'; readonly error: ShipError };

export interface SqliteShippingRequest extends ShipRequest {
  readonly scriptPath: string;
  /** The full backup the chain starts from (basePointId is its point). */
  readonly full: { readonly doneUs: TimeUs; readonly snapshotAtUs: TimeUs; readonly quiesce: QuiesceOutcome };
  readonly intervalUs: TimeUs;
  readonly nextFullUs?: TimeUs;
  readonly checkpointAtWalBytes?: number;
}

/** The job of a chain already started: ships, and checkpoints once the WAL grew to the threshold. */
export function sqliteShipJob(env: ShipEnv, request: ShipRequest, checkpointAtWalBytes = DEFAULT_CHECKPOINT_AT_WAL_BYTES): LogJob<SqliteShipRun, ShipError> {
  let lastWalBytes = 0;
  return async () => {
    if (lastWalBytes >= checkpointAtWalBytes) {
      const done = await checkpointSqliteWal(env, request);
      if (!done.ok) return done;
      lastWalBytes = 0;
      return ok({ shipped: done.value.shipped, checkpoint: done.value.checkpoint });
    }
    const shipped = await shipSqliteWal(env, request);
    if (!shipped.ok) return shipped;
    lastWalBytes = shipped.value.walBytes;
    return ok({ shipped: [shipped.value], checkpoint: null });
  };
}

/**
 * Right after the full backup: refuses unless it was application-aware, else anchors the
 * chain on it and gives the schedule and the job for runLogSchedule.
 */
export async function startSqliteLogShipping(env: ShipEnv, request: SqliteShippingRequest): Promise<Result<SqliteLogShipping, SqliteScheduleError>> {
  const full = sqliteFullBackupDone({ pointId: request.basePointId, doneUs: request.full.doneUs, quiesce: request.full.quiesce }, request.scriptPath);
  const schedule = logScheduleAfter(full, request.nextFullUs === undefined ? { intervalUs: request.intervalUs } : { intervalUs: request.intervalUs, nextFullUs: request.nextFullUs });
  if (!schedule.ok) return err({ kind: 'refused', refusal: schedule.error });
  const chain: ShipRequest = { vmId: request.vmId, dbPath: request.dbPath, basePointId: request.basePointId };
  const anchor = await startSqliteChain(env, { ...chain, baseCheckpointed: true, baseAtUs: request.full.snapshotAtUs });
  if (!anchor.ok) return err({ kind: 'ship', error: anchor.error });
  return ok({ schedule: schedule.value, anchor: anchor.value, run: sqliteShipJob(env, chain, request.checkpointAtWalBytes) });
}
