/**
 * Runs SQL Server log backups on the schedule of seed 003 (engine/logbackup/schedule.ts):
 * the first when the application-aware full backup completed, then on interval ticks, at
 * once after an overrun, until the next full. Time passes only through `waitUntil`, which
 * the caller provides (the harness lets the simulation run; a real deployment sleeps).
 * A failed log backup is recorded and the schedule goes on (the chain check at restore
 * time will refuse what it breaks). Bounded by `maxBackups`.
 */

import type { TimeUs } from '../../core/clock.js';
import type { HypervisorPort } from '../../core/hypervisor-port.js';
import type { VmId } from '../../core/ids.js';
import { nextLogBackupStart, type LogSchedule } from './schedule.js';
import { runSqlLogBackup, type LogBackupError, type LogStore, type StoredLogBackup } from './sql-job.js';

export interface ScheduleEnv {
  readonly port: HypervisorPort;
  readonly clock: { nowUs(): TimeUs };
  readonly store: LogStore;
  /** Returns once virtual (or real) time reaches `timeUs`. */
  waitUntil(timeUs: TimeUs): Promise<void>;
}

export interface ScheduledRun {
  readonly startUs: TimeUs;
  readonly endUs: TimeUs;
  readonly result: { readonly ok: true; readonly backup: StoredLogBackup } | { readonly ok: false; readonly error: LogBackupError };
}

export async function runLogSchedule(env: ScheduleEnv, job: { readonly vmId: VmId; readonly basePointId: string; readonly schedule: LogSchedule; readonly untilUs: TimeUs; readonly maxBackups?: number }): Promise<ScheduledRun[]> {
  const runs: ScheduledRun[] = [];
  const max = job.maxBackups ?? 10_000;
  let next: TimeUs | null = job.schedule.fullDoneUs;
  while (next !== null && next <= job.untilUs && runs.length < max) {
    if (env.clock.nowUs() < next) await env.waitUntil(next);
    const startUs = env.clock.nowUs();
    const r = await runSqlLogBackup({ port: env.port, clock: env.clock, store: env.store }, { vmId: job.vmId, basePointId: job.basePointId });
    const endUs = env.clock.nowUs();
    runs.push({ startUs, endUs, result: r.ok ? { ok: true, backup: r.value } : { ok: false, error: r.error } });
    next = nextLogBackupStart(job.schedule, startUs, endUs);
  }
  return runs;
}
