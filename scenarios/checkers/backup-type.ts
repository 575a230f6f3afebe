/**
 * Property 18: the VSS backup type is honoured, as Exchange's log truncation shows it
 * (the hypervisor's history of what the writer recorded at BackupComplete, not the
 * engine's report). A copy backup leaves the logs alone: the writer sees `copy` and
 * truncates nothing. A full backup that was stored with the Exchange writer taking part
 * tells the writer so (BackupComplete, succeeded), so that the logs are truncated and do
 * not fill the volume; a backup that failed never tells the writer it succeeded (logs
 * truncated for a backup that does not exist are lost).
 *
 * Does not check: SQL Server's differential base (its writer records no BackupComplete in
 * the history), the AD writer, which generations the truncation removed (the Exchange
 * model's own tests), incremental and differential types (the engine never asks them).
 */

import type { PointRun } from '../scenario/run.js';
import type { ScenarioSpec } from '../scenario/spec.js';
import { Findings, unknown, type Verdict } from '../verdict.js';
import type { ScenarioOutcome } from '../scenario/run.js';

export const EXCHANGE_WRITER = 'Microsoft Exchange Writer';

/** Whether the Exchange writer took part in this point's quiesce without an error. */
function writerTookPart(p: PointRun): boolean {
  return p.truth?.quiesce.writers.some((w) => w.writer === EXCHANGE_WRITER && w.error === null) === true && p.truth.quiesce.mode === 'application';
}

function problemsOf(p: PointRun, backupType: 'full' | 'copy'): string[] {
  const done = p.writersCompleted.filter((c) => c.writer === EXCHANGE_WRITER);
  const out: string[] = [];
  if (!p.ok) {
    const told = done.find((c) => c.succeeded);
    if (told !== undefined) out.push(`backup ${p.index} failed (${p.error ?? ''}) yet the Exchange writer was told it succeeded (${told.truncated} log generation(s) truncated)`);
    return out;
  }
  for (const c of done) {
    if (c.backupType !== backupType) out.push(`backup ${p.index} was asked as a ${backupType} backup; the Exchange writer saw ${c.backupType}${c.truncated === 0 ? '' : ` and truncated ${c.truncated} log generation(s)`}`);
    else if (backupType === 'copy' && c.truncated > 0) out.push(`copy backup ${p.index}: the Exchange writer truncated ${c.truncated} log generation(s)`);
  }
  if (backupType === 'full' && writerTookPart(p) && !done.some((c) => c.succeeded)) {
    out.push(`full backup ${p.index} was stored but the Exchange writer was never told (no BackupComplete): its logs are never truncated`);
  }
  return out;
}

export function checkBackupType(spec: ScenarioSpec, outcome: ScenarioOutcome): Verdict {
  const found = new Findings();
  let judged = 0;
  for (const p of outcome.points) {
    if (!writerTookPart(p) && p.writersCompleted.length === 0) continue;
    judged++;
    for (const line of problemsOf(p, spec.job.backupType)) found.fail(line, 1, [`point-${p.index}`]);
  }
  found.count('points', judged);
  if (judged === 0) return unknown('the Exchange writer took part in no backup of this run');
  return found.verdict(`${judged} ${spec.job.backupType} backup(s): the Exchange writer saw the type asked for${spec.job.backupType === 'copy' ? ' and kept its logs' : ' and was told once the point was stored'}`);
}
