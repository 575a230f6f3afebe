/**
 * The transaction-log backup schedule of seed 003 (notes fact 22):
 * - log backups need a successful application-aware full backup first;
 * - the first log backup starts when that full backup completes (time T0);
 * - the next one starts at the next interval tick (T0 + k x interval) after the previous
 *   one started — or, if the previous one ran past that tick, as soon as it ends;
 * - log backups continue until the next full backup starts.
 *
 * Example (seed 003): interval 30 min, full done 12:00 -> first log backup 12:00; it ends
 * 12:20 -> next 12:30; had it run until 12:45 -> next at 12:45.
 *
 * The same rule serves SQL Server log backups and SQLite WAL shipping (scheduler.ts runs
 * either). What makes a full backup application-aware is the kind's to say: SQL Server's
 * VSS writer came through, or SQLite's freeze script succeeded (sqlite-job.ts).
 *
 * Pure functions of virtual time (microseconds). Leaves out: calendars, blackout windows,
 * retries of a failed log backup (a failure is just an end time here).
 */

import { assert } from '../../core/assert.js';
import type { TimeUs } from '../../core/clock.js';
import { err, ok, type Result } from '../../core/result.js';

export interface LogSchedule {
  /** Completion of the application-aware full backup the chain starts from. */
  readonly fullDoneUs: TimeUs;
  readonly intervalUs: TimeUs;
  /** Start of the next full backup (log backups stop), if known. */
  readonly nextFullUs?: TimeUs;
}

/** The full backup a log chain would start from, as the schedule needs to know it. */
export interface FullBackupDone {
  readonly pointId: string;
  readonly doneUs: TimeUs;
  /** It was application-aware and that succeeded (the kind of log decides what counts). */
  readonly appAware: boolean;
  /** Why it is, or is not: for the refusal. */
  readonly reason: string;
}

export interface ScheduleRefusal {
  readonly kind: 'not-app-aware';
  readonly pointId: string;
  readonly reason: string;
}

/** The log schedule after `full`, or the refusal: log backups need a successful application-aware full first. */
export function logScheduleAfter(full: FullBackupDone, cadence: { readonly intervalUs: TimeUs; readonly nextFullUs?: TimeUs }): Result<LogSchedule, ScheduleRefusal> {
  if (!full.appAware) return err({ kind: 'not-app-aware', pointId: full.pointId, reason: `no log backups after ${full.pointId}: ${full.reason}` });
  return ok({ fullDoneUs: full.doneUs, intervalUs: cadence.intervalUs, ...cadence.nextFullUs === undefined ? {} : { nextFullUs: cadence.nextFullUs } });
}

/** When the log backup after one that started at `startedUs` and ended at `endedUs` starts. */
export function nextLogBackupStart(schedule: LogSchedule, startedUs: TimeUs, endedUs: TimeUs): TimeUs | null {
  const { fullDoneUs, intervalUs } = schedule;
  assert(Number.isSafeInteger(intervalUs) && intervalUs > 0, `interval must be a positive whole number of microseconds, got ${intervalUs}`);
  assert(startedUs >= fullDoneUs && endedUs >= startedUs, `log backup [${startedUs}, ${endedUs}] before the full backup (${fullDoneUs}) or ending before it starts`);
  const nextTick = fullDoneUs + (Math.floor((startedUs - fullDoneUs) / intervalUs) + 1) * intervalUs;
  const next = endedUs > nextTick ? endedUs : nextTick;
  if (schedule.nextFullUs !== undefined && next >= schedule.nextFullUs) return null;
  return next;
}

/**
 * The start times of every log backup until `untilUs` (or the next full), given how long
 * each takes (`durationUs(i, startUs)`); at most `maxBackups`.
 */
export function logBackupStarts(schedule: LogSchedule, untilUs: TimeUs, durationUs: (index: number, startUs: TimeUs) => TimeUs, maxBackups = 100_000): TimeUs[] {
  const starts: TimeUs[] = [];
  let start: TimeUs | null = schedule.fullDoneUs;
  while (start !== null && start <= untilUs && (schedule.nextFullUs === undefined || start < schedule.nextFullUs)) {
    assert(starts.length < maxBackups, `more than ${maxBackups} log backups before ${untilUs}`);
    starts.push(start);
    const d = durationUs(starts.length - 1, start);
    assert(Number.isSafeInteger(d) && d >= 0, `log backup duration ${d}`);
    start = nextLogBackupStart(schedule, start, start + d);
  }
  return starts;
}

/**
 * The worst RPO the schedule allows: a commit just after a log backup's cut waits for the
 * next backup to start (one interval later, or when an overrunning backup ends) and to
 * end. So RPO <= max(interval, longest) + longest; while log backups fit their interval
 * that is DESIGN property 13's "interval plus the log backup's duration".
 */
export function worstRpoUs(intervalUs: TimeUs, longestLogBackupUs: TimeUs): TimeUs {
  return Math.max(intervalUs, longestLogBackupUs) + longestLogBackupUs;
}
