/**
 * Runs log backups on the schedule of seed 003 (engine/logbackup/schedule.ts), whatever
 * their kind — a SQL Server log backup (sql-job.ts) or a SQLite WAL shipping round
 * (sqlite-job.ts): the first when the application-aware full backup completed, then on
 * interval ticks, at once after an overrun, until the next full. Time passes only through
 * `waitUntil`, which the caller provides (the harness lets the simulation run; a real
 * deployment sleeps), and through the job itself (its duration is how long it took).
 * A failed run is recorded and the schedule goes on (the chain check at restore time will
 * refuse what it breaks). Bounded by `maxBackups`.
 */

import type { TimeUs } from '../../core/clock.js';
import type { Result } from '../../core/result.js';
import { nextLogBackupStart, type LogSchedule } from './schedule.js';

export interface ScheduleEnv {
  readonly clock: { nowUs(): TimeUs };
  /** Returns once virtual (or real) time reaches `timeUs`. */
  waitUntil(timeUs: TimeUs): Promise<void>;
}

/** One scheduled log backup of some kind: what it stored, or why it failed. */
export type LogJob<T, E> = () => Promise<Result<T, E>>;

export interface ScheduledRun<T, E> {
  readonly startUs: TimeUs;
  readonly endUs: TimeUs;
  readonly result: Result<T, E>;
}

export async function runLogSchedule<T, E>(env: ScheduleEnv, job: { readonly run: LogJob<T, E>; readonly schedule: LogSchedule; readonly untilUs: TimeUs; readonly maxBackups?: number }): Promise<ScheduledRun<T, E>[]> {
  const runs: ScheduledRun<T, E>[] = [];
  const max = job.maxBackups ?? 10_000;
  let next: TimeUs | null = job.schedule.fullDoneUs;
  while (next !== null && next <= job.untilUs && runs.length < max) {
    if (env.clock.nowUs() < next) await env.waitUntil(next);
    const startUs = env.clock.nowUs();
    const result = await job.run();
    const endUs = env.clock.nowUs();
    runs.push({ startUs, endUs, result });
    next = nextLogBackupStart(job.schedule, startUs, endUs);
  }
  return runs;
}
