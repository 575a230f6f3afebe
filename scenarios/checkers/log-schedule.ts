/**
 * Property 13: log backups follow the schedule rule of seed 003 and the RPO stays within
 * interval plus the log backup's duration. Judged on the log backups as the harness saw
 * them (SQL Server: each BACKUP LOG in the guest, from the instant it ran to the instant
 * the call returned; SQLite: each shipping round), and on the app's acknowledgements:
 * - the first starts at the instant the application-aware full backup completed (T0);
 * - each next one starts at the next interval tick (T0 + k x interval) after the previous
 *   one started, or at once when the previous one ran past that tick;
 * - none starts at or after the next full backup, and none that was due before it is
 *   missing at the end;
 * - no scheduled log backup failed (the VM is healthy: a failed one read nothing);
 * - every commit acknowledged after T0 (up to the last log backup) is in a log backup
 *   (the first that read the log at or after its acknowledgement) that ended at most
 *   max(interval, longest) + longest after it, where longest is the longest log backup:
 *   DESIGN's "interval plus the log backup's duration" while log backups fit their
 *   interval; an overrunning one pushes the next start to its end, hence the max.
 *
 * The rule is restated here from seed 003, not taken from the engine. Does not check:
 * what a log backup holds (a log backup that misses commits is property 6's), commits
 * acknowledged before T0 (the full backup's window: waiting for the first log backup there
 * is the full's duration) or after the last log backup (the next full covers them).
 */

import type { LogsOutcome } from '../scenario/logs-run.js';
import type { LogBackupTiming, LogTruth } from '../scenario/log-truth.js';
import { fail, pass, unknown, type Verdict } from '../verdict.js';

/** Seed 003: the start after a log backup that ran [startUs, endUs]. */
function dueAfter(truth: LogTruth, previous: LogBackupTiming): { readonly dueUs: number; readonly tickUs: number } {
  const ticksDone = Math.floor((previous.startUs - truth.fullDoneUs) / truth.intervalUs);
  const tickUs = truth.fullDoneUs + (ticksDone + 1) * truth.intervalUs;
  return { dueUs: Math.max(tickUs, previous.endUs), tickUs };
}

function scheduleProblem(truth: LogTruth): string | null {
  const backups = truth.logBackups;
  const first = backups[0];
  if (first === undefined) return 'no log backup ran after the application-aware full backup';
  if (first.startUs !== truth.fullDoneUs) return `the first log backup started at ${first.startUs} us, not when the full backup completed (${truth.fullDoneUs} us)`;
  for (let i = 1; i < backups.length; i++) {
    const prev = backups[i - 1] as LogBackupTiming;
    const b = backups[i] as LogBackupTiming;
    const { dueUs, tickUs } = dueAfter(truth, prev);
    if (b.startUs !== dueUs) {
      const why = prev.endUs > tickUs ? `at once when log backup ${i - 1} ended (${prev.endUs} us), past its tick ${tickUs} us` : `at the tick ${tickUs} us`;
      return `log backup ${i} started at ${b.startUs} us; seed 003 has it ${why}`;
    }
  }
  const late = backups.findIndex((b) => b.startUs >= truth.nextFullUs);
  if (late >= 0) return `log backup ${late} started at ${backups[late]?.startUs ?? 0} us, at or after the next full backup (${truth.nextFullUs} us)`;
  const last = backups.at(-1) as LogBackupTiming;
  const { dueUs } = dueAfter(truth, last);
  if (dueUs < truth.nextFullUs) return `the log backups stopped early: one was due at ${dueUs} us, before the next full backup (${truth.nextFullUs} us)`;
  return null;
}

export function checkLogSchedule(outcome: LogsOutcome): Verdict {
  if (!outcome.full.appAware) return unknown(`no log backups without an application-aware full backup (seed 003): ${outcome.full.detail}`);
  if (outcome.nemesisLateUs > 0) return unknown(`the nemesis's operation ran ${outcome.nemesisLateUs} us past the next log backup's start: the schedule cannot be judged`);
  const truth = outcome.truth;
  const problem = scheduleProblem(truth);
  if (problem !== null) return fail(problem);
  // A scheduled log backup that failed read nothing: on this healthy VM (the suite injects
  // no fault into the guest or the hypervisor) that is the engine's failure, not a gap to wait out.
  const failed = truth.logBackups.findIndex((b) => b.failed !== null);
  if (failed >= 0) return fail(`log backup ${failed} (started ${truth.logBackups[failed]?.startUs ?? 0} us) failed on a healthy VM: ${truth.logBackups[failed]?.failed ?? ''}`);
  const backups = truth.logBackups;
  const longestUs = Math.max(...backups.map((b) => b.endUs - b.startUs));
  const boundUs = Math.max(truth.intervalUs, longestUs) + longestUs;
  const reads = backups.flatMap((b) => b.readsUs.map((atUs) => ({ atUs, endUs: b.endUs }))).sort((a, b) => a.atUs - b.atUs);
  const lastReadUs = reads.at(-1)?.atUs ?? truth.fullDoneUs;
  let worst = { rpoUs: 0, id: '', ackUs: 0 };
  for (const a of truth.acks) {
    if (a.timeUs < truth.fullDoneUs || a.timeUs > lastReadUs) continue;
    const cover = reads.find((r) => r.atUs >= a.timeUs);
    if (cover === undefined) continue;
    if (cover.endUs - a.timeUs > worst.rpoUs) worst = { rpoUs: cover.endUs - a.timeUs, id: a.id, ackUs: a.timeUs };
  }
  if (worst.rpoUs > boundUs) {
    return fail(`${worst.id}, acknowledged at ${worst.ackUs} us, was in no log backup until ${worst.ackUs + worst.rpoUs} us: RPO ${worst.rpoUs} us, past max(interval ${truth.intervalUs}, longest ${longestUs}) + longest = ${boundUs} us`);
  }
  const overruns = backups.filter((b, i) => i > 0 && (b.startUs - truth.fullDoneUs) % truth.intervalUs !== 0).length;
  return pass(`${backups.length} log backups on seed 003's rule (${overruns} at once after an overrun); worst RPO ${worst.rpoUs} us within ${boundUs} us`);
}
