/**
 * Property 25: a group point is point-in-time consistent across its VMs, or is reported as
 * not, with which references broke. For each group backup of the run (the group suite,
 * scenarios/scenario/group-run.ts):
 * - claimed consistent: every VM of the group stored a point, every VM's disks were
 *   captured while the application was paused (the hypervisor's history: its freeze
 *   program had run and its thaw had not), and the points read back through the engine
 *   hold a state of that instant: no broken reference (an order without its document, a
 *   journal entry without its order), nothing half-present, no order acknowledged before
 *   the first capture missing;
 * - claimed not consistent: the claim gives a reason, and the verdict reports the
 *   references that broke in the points (counts, first and last example), which a person
 *   needs to judge the set: an engine cannot name the application's references itself.
 *
 * Does not check: each VM's own level (the backup suite's P1/P2 judge one VM's point), the
 * restore of the set (P26), group jobs whose call failed as a whole (counted, not judged).
 */

import type { GroupBackupRun, GroupOutcome } from '../scenario/group-run.js';
import { Findings, unknown, type Verdict } from '../verdict.js';

function judgeConsistentClaim(b: GroupBackupRun, f: Findings): void {
  const at = `group point ${b.index} (${b.report?.groupId ?? ''}) claims consistent`;
  for (const m of b.members) {
    if (m.pointId === null) f.fail(`${at}, but ${m.vmId} stored no point (${m.error ?? 'no error given'})`, 3, [m.vmId]);
    else if (m.capturedAtUs === null) f.fail(`${at}, but the history shows no capture of ${m.vmId}`, 2, [m.vmId]);
    else if (!m.paused) f.fail(`${at}, but ${m.vmId} was captured at ${(m.capturedAtUs / 1e6).toFixed(3)} s while the application ran (not paused)`, 2, [m.vmId]);
  }
  const r = b.refs;
  if (r === null) {
    f.fail(`${at}, but none of its points could be read back`, 1);
    return;
  }
  if (r.brokenTotal > 0) f.fail(`${at}, yet ${r.brokenTotal} reference(s) broke: first ${r.broken[0] ?? ''}, last ${r.broken[r.broken.length - 1] ?? ''}`, 4 + r.brokenTotal, r.broken);
  if (r.halfPresentTotal > 0) f.fail(`${at}, yet ${r.halfPresentTotal} transaction(s) are half-present: first ${r.halfPresent[0] ?? ''}`, 3, r.halfPresent);
  if (r.lostAcknowledged.length > 0) f.fail(`${at}, yet ${r.lostAcknowledged.length} order(s) acknowledged before the first capture are missing: first ${r.lostAcknowledged[0] ?? ''}`, 3, r.lostAcknowledged.map((id) => `order ${id}`));
  if (r.malformed.length > 0) f.fail(`${at}, yet records are malformed: ${r.malformed[0] ?? ''}`, 2, r.malformed);
}

export function checkGroupConsistency(outcome: GroupOutcome): Verdict {
  const f = new Findings();
  const notes: string[] = [];
  let judged = 0;
  for (const b of outcome.backups) {
    if (b.report === null) {
      f.count('callFailed');
      continue;
    }
    judged++;
    if (b.report.consistent) {
      f.count('claimedConsistent');
      judgeConsistentClaim(b, f);
      continue;
    }
    f.count('claimedNotConsistent');
    if (b.report.reason.trim() === '') f.fail(`group point ${b.index} claims not consistent without a reason`, 1);
    const r = b.refs;
    f.count('brokenInNotConsistent', r?.brokenTotal ?? 0);
    notes.push(r === null ? `point ${b.index}: not consistent, nothing read back` : `point ${b.index}: not consistent (${b.report.reason.split(':')[0] ?? ''}), ${r.brokenTotal} broken reference(s)${r.broken[0] === undefined ? '' : r.broken.length === 1 ? ` (${r.broken[0]})` : ` (first ${r.broken[0]}, last ${r.broken[r.broken.length - 1] ?? ''})`}, ${r.halfPresentTotal} half-present`);
  }
  if (judged === 0) return unknown('no group backup produced a claim');
  const consistent = outcome.backups.filter((b) => b.report?.consistent === true).length;
  const claimed = consistent === 0 ? 'none claimed consistent' : `${consistent} claimed consistent, each captured while the application was paused with every reference resolving`;
  return f.verdict(`${judged} group point(s): ${claimed}${notes.length === 0 ? '' : `; ${notes.join('; ')}`}`);
}
