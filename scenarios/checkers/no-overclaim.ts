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
import type { PointTruth, ScenarioOutcome } from '../scenario/run.js';
import { fail, pass, unknown, type Verdict } from '../verdict.js';

export function checkNoOverclaim(outcome: ScenarioOutcome): Verdict {
  if (outcome.guestLost !== null) return pass(`not applicable: the guest did not survive the power loss (${outcome.guestLost})`);
  let checked = 0;
  let exact = 0;
  for (const p of outcome.points) {
    if (!p.ok || p.claimed === null) continue;
    if (p.restored === null) return unknown(`point ${p.index} could not be read back to judge its claim: ${p.restoreError ?? ''}`);
    const v = p.restored.verdict;
    if (compareLevels(p.claimed.vm, v.vm) > 0) return fail(`point ${p.index} claims ${p.claimed.vm} for the VM, it reached ${v.vm} (${v.why})`);
    const quiesced = quiescedCleanly(p.truth);
    if (quiesced !== null && compareLevels(p.claimed.vm, v.vm) < 0) return fail(`point ${p.index} claims ${p.claimed.vm} for the VM, it reached ${v.vm} and ${quiesced}: an under-claim; claim reasons: ${p.claimed.reasons.join('; ') || 'none'}`);
    for (const [app, achieved] of Object.entries(v.apps) as [AppId, NonNullable<typeof v.apps[AppId]>][]) {
      const claimed = p.claimed.apps[app] ?? p.claimed.vm;
      if (compareLevels(claimed, achieved.level) > 0) return fail(`point ${p.index} claims ${claimed} for ${app}, it reached ${achieved.level} (${achieved.why}); claim reasons: ${p.claimed.reasons.join('; ') || 'none'}`);
      if (quiesced !== null && compareLevels(claimed, achieved.level) < 0) {
        return fail(`point ${p.index} claims ${claimed} for ${app}, it reached ${achieved.level} (${achieved.why}) and ${quiesced}: an under-claim; claim reasons: ${p.claimed.reasons.join('; ') || 'none'}`);
      }
    }
    checked++;
    if (quiesced !== null) exact++;
  }
  return pass(`${checked} point(s): no claim above the level reached; ${exact} quiesced point(s) claim exactly the level reached`);
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
