/**
 * Property 2: a RecoveryPoint never claims more than was achieved — for the VM (its
 * volumes) and for each application — judged against the lab's verdict on the restored
 * image, whatever the faults. And it never claims less when quiescing succeeded: when the
 * hypervisor's record of the snapshot (the tap's, not the engine's) shows the guest
 * quiesced (a mode other than none, no fault, no failed attempt, a quiescer that holds
 * writes: not the sync-only driver), the claim equals the
 * level reached, for the VM and each application. Users buy on the claim: an engine that
 * records a fallback that did not happen, or claims crash for an application-consistent
 * point, fails here.
 *
 * Does not check: the claim of an unquiesced point against a level reached by luck (a
 * crash capture whose volumes happen to be clean: no engine can know), the wording of the
 * reasons, runs whose guest a power loss destroyed before the backup (the image is a
 * faithful copy of a broken disk; no engine can tell).
 */

import { compareLevels } from '../../core/levels.js';
import type { AppId } from '../../core/hypervisor-port.js';
import type { LevelVerdict } from './level.js';
import type { PointClaim, PointTruth, ScenarioOutcome } from '../scenario/run.js';
import { Findings, unknown, type Verdict } from '../verdict.js';

export function checkNoOverclaim(outcome: ScenarioOutcome): Verdict {
  if (outcome.guestLost !== null) return unknown(`not judged: the guest did not survive the power loss (${outcome.guestLost})`);
  const found = new Findings();
  let checked = 0;
  let exact = 0;
  for (const p of outcome.points) {
    if (!p.ok || p.claimed === null) continue;
    if (p.restored === null) return unknown(`point ${p.index} could not be read back to judge its claim: ${p.restoreError ?? ''}`);
    const quiesced = quiescedCleanly(p.truth);
    for (const problem of claimProblems(p.index, p.claimed, p.restored.verdict, quiesced)) found.fail(problem.line, problem.over ? 2 : 1, [`point-${p.index}`]);
    checked++;
    if (quiesced !== null) exact++;
  }
  found.count('points', checked);
  found.count('quiescedPoints', exact);
  if (checked === 0) return unknown('no stored point to judge a claim of');
  return found.verdict(`${checked} point(s): no claim above the level reached; ${exact} quiesced point(s) claim exactly the level reached`);
}

/** Every claim of one point above (an overclaim) or, when it quiesced cleanly, below (an under-claim) the level reached. */
function claimProblems(index: number, claimed: PointClaim, v: LevelVerdict, quiesced: string | null): { line: string; over: boolean }[] {
  const out: { line: string; over: boolean }[] = [];
  const reasons = `claim reasons: ${claimed.reasons.join('; ') || 'none'}`;
  if (compareLevels(claimed.vm, v.vm) > 0) out.push({ line: `point ${index} claims ${claimed.vm} for the VM, it reached ${v.vm} (${v.why})`, over: true });
  if (quiesced !== null && compareLevels(claimed.vm, v.vm) < 0) out.push({ line: `point ${index} claims ${claimed.vm} for the VM, it reached ${v.vm} and ${quiesced}: an under-claim; ${reasons}`, over: false });
  for (const [app, achieved] of Object.entries(v.apps) as [AppId, NonNullable<typeof v.apps[AppId]>][]) {
    const c = claimed.apps[app] ?? claimed.vm;
    if (compareLevels(c, achieved.level) > 0) out.push({ line: `point ${index} claims ${c} for ${app}, it reached ${achieved.level} (${achieved.why}); ${reasons}`, over: true });
    else if (quiesced !== null && compareLevels(c, achieved.level) < 0) out.push({ line: `point ${index} claims ${c} for ${app}, it reached ${achieved.level} (${achieved.why}) and ${quiesced}: an under-claim; ${reasons}`, over: false });
  }
  return out;
}

/** What the hypervisor recorded of a quiesce that succeeded, or null when it did not quiesce (or fell short). */
function quiescedCleanly(truth: PointTruth | null): string | null {
  if (truth === null || truth.quiesceFailed !== null) return null;
  const q = truth.quiesce;
  // The sync-only driver reports filesystem but flushes without holding writes (notes
  // fact 5): an honest engine claims crash there, and a clean image is luck.
  if (!q.requested || q.mode === 'none' || q.fault !== null || q.quiescer === 'sync-only') return null;
  return `the hypervisor recorded a ${q.mode} quiesce by ${q.quiescer} with no fault`;
}
