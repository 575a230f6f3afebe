/**
 * Property 26: recovering a datastore or the site restores every VM of that scope from
 * one consistent set of points. Judged on the group suite's recovery
 * (scenarios/scenario/group-run.ts), against the harness's own record of what each backup
 * of the run stored (not the engine's listing):
 * - every VM of the scope is restored once, and each restored VM boots;
 * - every restored point comes from the same group backup (by the point ids the recovery
 *   reports, and each restored VM's data must be what that point holds when read back
 *   through the engine: the same ids per role), one that stored a point for
 *   every VM of its group (a single-VM backup's point, or one from a set where a VM
 *   failed, is never mixed in);
 * - that set is the newest complete one captured while the application was paused, or,
 *   when none was, the newest complete one (an older set loses data for nothing);
 * - the recovery's claim holds: claimed consistent only for a set captured paused, and
 *   then the restored VMs' references all resolve and nothing is half-present;
 * - when no complete set exists, a refusal is the right answer.
 *
 * Does not check: the restored disks byte for byte (P2, P5 do for one VM), the RTO, the
 * references to a VM outside the scope.
 */

import type { GroupBackupRun, GroupOutcome } from '../scenario/group-run.js';
import { Findings, pass, unknown, type Verdict } from '../verdict.js';

const complete = (b: GroupBackupRun): boolean => b.members.every((m) => m.pointId !== null);
const paused = (b: GroupBackupRun): boolean => b.members.every((m) => m.paused);

/** The set an honest recovery uses: newest complete captured paused, else newest complete; null: none. */
export function expectedSet(outcome: GroupOutcome): GroupBackupRun | null {
  const usable = [...outcome.backups].filter(complete).reverse();
  return usable.find(paused) ?? usable[0] ?? null;
}

export function checkScopeRecovery(outcome: GroupOutcome): Verdict {
  const rec = outcome.recovery;
  if (rec === null) return unknown('the run did not reach a recovery');
  const expected = expectedSet(outcome);
  const label = `${rec.scope} ${rec.name}`;
  if (rec.report === null) {
    return expected === null
      ? pass(`${label}: no complete group set exists and the recovery refused (${rec.error ?? ''})`)
      : { valid: false, evidence: `${label}: the recovery failed (${rec.error ?? ''}) although group set ${expected.index} is complete` };
  }
  const f = new Findings();
  for (const vmId of rec.vmIds) {
    const n = rec.restored.filter((r) => r.vmId === vmId).length;
    if (n !== 1) f.fail(`${label}: ${vmId} restored ${n} time(s), once expected`, 3, [vmId]);
  }
  for (const r of rec.restored) if (!r.boots) f.fail(`${label}: ${r.vmId} restored as ${r.restoredVmId} does not boot`, 2, [r.vmId]);
  const origins = [...new Set(rec.restored.map((r) => r.from))];
  if (origins.length > 1) f.fail(`${label}: the restored VMs come from different backups: ${rec.restored.map((r) => `${r.vmId} from ${r.from}`).join(', ')}`, 5, rec.restored.map((r) => r.vmId));
  const chosen = origins.length === 1 ? outcome.backups.find((b) => `group-${b.index}` === origins[0]) : undefined;
  if (origins.length === 1 && chosen === undefined) f.fail(`${label}: the restored points come from ${origins[0] ?? ''}, not from a group backup`, 5);
  if (chosen !== undefined) judgeChosen(outcome, chosen, expected, label, f);
  const restoredAll = `${rec.restored.length} VM(s)`;
  return f.verdict(`${label}: ${restoredAll} restored from group set ${origins[0] ?? ''} (claims ${rec.report.consistent ? 'consistent' : 'not consistent'}), each boots${rec.refs === null ? '' : `, ${rec.refs.brokenTotal} broken reference(s)`}`);
}

function judgeChosen(outcome: GroupOutcome, chosen: GroupBackupRun, expected: GroupBackupRun | null, label: string, f: Findings): void {
  const rec = outcome.recovery;
  if (rec === null || rec.report === null) return;
  if (!complete(chosen)) f.fail(`${label}: restored from group set ${chosen.index}, in which ${chosen.members.filter((m) => m.pointId === null).map((m) => m.vmId).join(', ')} stored no point`, 4);
  else if (expected !== null && expected.index !== chosen.index) f.fail(`${label}: restored from group set ${chosen.index} while set ${expected.index} is newer or quiesced together, and complete`, 3);
  for (const r of rec.restored) {
    // The engine's word (which point) against the data: the restored VM holds what that point holds.
    const m = chosen.members.find((x) => x.vmId === r.vmId);
    const want = m?.holds?.join('; ');
    const got = r.holds?.join('; ');
    if (want !== undefined && got !== undefined && want !== got) f.fail(`${label}: ${r.vmId} restored as ${r.restoredVmId} does not hold what point ${r.pointId.slice(0, 12)} holds (${got}; the point: ${want})`, 5, [r.vmId]);
  }
  if (rec.report.consistent && !paused(chosen)) f.fail(`${label}: the recovery claims a consistent set, but set ${chosen.index} was captured while the application ran`, 4);
  const refs = rec.refs;
  if (refs !== null && paused(chosen) && refs.brokenTotal > 0) f.fail(`${label}: set ${chosen.index} was captured paused, yet ${refs.brokenTotal} reference(s) among the restored VMs broke: first ${refs.broken[0] ?? ''}`, 4, refs.broken);
  if (refs !== null && paused(chosen) && refs.halfPresentTotal > 0) f.fail(`${label}: set ${chosen.index} was captured paused, yet ${refs.halfPresentTotal} transaction(s) are half-present among the restored VMs: first ${refs.halfPresent[0] ?? ''}`, 3, refs.halfPresent);
  if (refs !== null && rec.report.consistent && refs.brokenTotal > 0) f.fail(`${label}: the recovery claims consistent, yet ${refs.brokenTotal} reference(s) broke: first ${refs.broken[0] ?? ''}`, 4, refs.broken);
}
