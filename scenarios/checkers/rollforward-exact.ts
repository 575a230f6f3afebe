/**
 * Property 6: roll-forward to any target inside the log chain is exact (transaction
 * level). Every restore whose target the chain reaches (scenarios/scenario/log-truth.ts)
 * must succeed, its restored VM must boot with the app's data open, and the data must hold
 * exactly the transactions the truth expects — acknowledged at or before the target,
 * none missing, none extra (for SQLite time targets: at or before the last WAL read at or
 * before the target, the engine's documented precision; log-truth.ts's header says it
 * exactly). Ground truth is the app's acknowledgements and the guest's own log output, never
 * the engine's report.
 *
 * Does not check: targets past a break (property 7), the schedule and RPO (property 13),
 * the rows' values (the transaction ids the data holds stand for them: each app's commit
 * table is written by the commit itself), the restore's duration.
 */

import type { LogsOutcome, RestoreRun } from '../scenario/logs-run.js';
import { describeTarget, expectedCommits, isReachable, walReads, type LogTruth } from '../scenario/log-truth.js';
import { fail, mergeVerdicts, pass, unknown, type Verdict } from '../verdict.js';

const SHOWN = 4;

function listed(ids: readonly string[], truth: LogTruth): string {
  const at = new Map(truth.acks.map((a) => [a.id, a.timeUs]));
  const shown = ids.slice(0, SHOWN).map((id) => `${id}${at.has(id) ? ` (acknowledged at ${at.get(id) ?? 0} us)` : ' (never acknowledged)'}`);
  return `${shown.join(', ')}${ids.length > SHOWN ? `, ... ${ids.length - SHOWN} more` : ''}`;
}

function exactness(truth: LogTruth, run: RestoreRun): Verdict {
  const what = `the roll-forward to ${describeTarget(run.target)}`;
  if (!run.ok) return fail(`${what}, inside the chain, failed: ${run.error?.kind ?? 'error'}: ${run.error?.detail ?? ''}`);
  if (run.opened?.ok !== true || run.committed === null) return fail(`${what}: the restored ${truth.app} did not open (${run.opened?.detail ?? 'no VM was restored'})`);
  const expected = expectedCommits(truth, run.target);
  const have = new Set(run.committed);
  const want = new Set(expected);
  const missing = expected.filter((id) => !have.has(id));
  const extra = run.committed.filter((id) => !want.has(id));
  const t = run.target;
  const precision = truth.app === 'sqlite' && t.kind === 'time' ? `, up to the last WAL read at or before it (${walReads(truth).filter((r) => r <= t.timeUs).at(-1) ?? truth.cutUs} us)` : '';
  if (missing.length > 0 || extra.length > 0) {
    const parts = [
      ...missing.length > 0 ? [`${missing.length} acknowledged by the target missing: ${listed(missing, truth)}`] : [],
      ...extra.length > 0 ? [`${extra.length} extra: ${listed(extra, truth)}`] : [],
    ];
    return fail(`${what}${precision} is not exact: ${parts.join('; ')}`);
  }
  return pass(`${what}${precision} holds exactly the ${expected.length} transactions acknowledged by then`);
}

export function checkRollForwardExact(outcome: LogsOutcome): Verdict {
  if (!outcome.full.appAware) return unknown(`no log chain to roll forward: ${outcome.full.detail}`);
  const runs = outcome.restores.filter((r) => isReachable(outcome.truth, r.target));
  if (runs.length === 0) return unknown('no restore had a target inside the chain (it held nothing of the drawn kind)');
  return mergeVerdicts(runs.map((r) => exactness(outcome.truth, r)));
}
