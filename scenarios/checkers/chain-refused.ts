/**
 * Property 7: roll-forward over a broken chain is refused with a clear reason, never
 * applied partly; a target before the break still works. On a run whose chain the nemesis
 * broke (scenarios/scenario/log-truth.ts decides where, from the truth):
 * - the restore to a target beyond the break must be refused by the engine as a refusal
 *   (not some other error), before anything is applied — no RESTORE LOG succeeded in the
 *   restored guest (SQL Server), no database produced (SQLite) — and the refusal must name
 *   the break: SQL Server, the first LSN no stored log backup holds; SQLite, the first
 *   stored record at or after the break (where the chain visibly stops continuing);
 * - the restore to a target before the break must succeed.
 *
 * Does not check: whether the restore before the break is exact (property 6), breaks with
 * nothing stored after them (no target lies beyond: the verdict is unknown), a copy-only log
 * backup (not a break: property 6 judges those runs), what the refused restore leaves
 * behind beyond "nothing applied" (a SQL Server database stays RESTORING).
 */

import type { LogsOutcome, RestoreRun } from '../scenario/logs-run.js';
import { chainReach, describeTarget, type ChainReach } from '../scenario/log-truth.js';
import { fail, mergeVerdicts, pass, unknown, type Verdict } from '../verdict.js';

const SQL_BREAK_REFUSALS: readonly string[] = ['gap', 'start-not-covered'];
const SQLITE_BREAK_REFUSALS: readonly string[] = ['gap', 'foreign-checkpoint', 'start-not-anchored', 'missing-blob', 'corrupt-segment'];

function beyondRefused(outcome: LogsOutcome, reach: ChainReach, run: RestoreRun): Verdict {
  const what = `the roll-forward to ${describeTarget(run.target)}, past the break (${outcome.chainBreak?.detail ?? ''})`;
  if (run.ok) return fail(`${what}, was applied instead of refused: the restored database holds ${run.committed?.length ?? 0} transactions`);
  if (run.logsApplied > 0) return fail(`${what}, was applied partly: ${run.logsApplied} RESTORE LOG succeeded in the guest before it failed (${run.error?.kind ?? ''}: ${run.error?.detail ?? ''})`);
  const refusal = run.error?.refusal ?? null;
  if (refusal === null) return fail(`${what}, failed without a refusal of the chain: ${run.error?.kind ?? ''}: ${run.error?.detail ?? ''}`);
  if (outcome.app === 'sqlserver') {
    const lsn = reach.breakLsn;
    if (!SQL_BREAK_REFUSALS.includes(refusal.kind) || lsn === null || !refusal.reason.includes(String(lsn))) {
      return fail(`${what}, was refused without naming the break at LSN ${lsn ?? '?'}: ${refusal.kind}: ${refusal.reason}`);
    }
    return pass(`${what}, was refused naming LSN ${lsn}: ${refusal.reason}`);
  }
  const breakRead = reach.breakReadUs;
  const named = breakRead === null ? undefined : outcome.storeRecords.filter((r) => r.atUs >= breakRead).sort((a, b) => a.atUs - b.atUs)[0];
  if (!SQLITE_BREAK_REFUSALS.includes(refusal.kind) || named === undefined || !refusal.reason.includes(named.id)) {
    return fail(`${what}, was refused without naming the break at ${named?.id ?? 'the first record after it'}: ${refusal.kind}: ${refusal.reason}`);
  }
  return pass(`${what}, was refused at ${named.id}: ${refusal.reason}`);
}

export function checkChainRefused(outcome: LogsOutcome): Verdict {
  if (!outcome.full.appAware) return unknown(`no log chain to break: ${outcome.full.detail}`);
  if (outcome.chainBreak === null) return unknown('the drawn break found no place in the log window');
  const reach = chainReach(outcome.truth);
  if (reach.beyond === null) return unknown(`nothing stored lies beyond the break (${outcome.chainBreak.detail})`);
  const before = outcome.restores.find((r) => r.role === 'target');
  const beyond = outcome.restores.find((r) => r.role === 'beyond-break');
  const verdicts: Verdict[] = [];
  if (beyond === undefined) verdicts.push(unknown('no target of the drawn kind lies beyond the break'));
  else verdicts.push(beyondRefused(outcome, reach, beyond));
  if (before === undefined) verdicts.push(unknown('no target of the drawn kind lies before the break'));
  else if (!before.ok) verdicts.push(fail(`the roll-forward to ${describeTarget(before.target)}, before the break, did not work: ${before.error?.kind ?? ''}: ${before.error?.detail ?? ''}`));
  else verdicts.push(pass(`the roll-forward to ${describeTarget(before.target)}, before the break, works`));
  return mergeVerdicts(verdicts);
}
