/**
 * Property 2: a RecoveryPoint never claims more than was achieved — for the VM (its
 * volumes) and for each application — judged against the lab's verdict on the restored
 * image, whatever the faults.
 *
 * Does not check: that the claim is as high as it could be (an engine may be modest), the
 * wording of the reasons, runs whose guest a power loss destroyed before the backup (the
 * image is a faithful copy of a broken disk; no engine can tell).
 */

import { compareLevels } from '../../core/levels.js';
import type { AppId } from '../../core/hypervisor-port.js';
import type { ScenarioOutcome } from '../scenario/run.js';
import { fail, pass, unknown, type Verdict } from '../verdict.js';

export function checkNoOverclaim(outcome: ScenarioOutcome): Verdict {
  if (outcome.guestLost !== null) return pass(`not applicable: the guest did not survive the power loss (${outcome.guestLost})`);
  let checked = 0;
  for (const p of outcome.points) {
    if (!p.ok || p.claimed === null) continue;
    if (p.restored === null) return unknown(`point ${p.index} could not be read back to judge its claim: ${p.restoreError ?? ''}`);
    const v = p.restored.verdict;
    if (compareLevels(p.claimed.vm, v.vm) > 0) return fail(`point ${p.index} claims ${p.claimed.vm} for the VM, it reached ${v.vm} (${v.why})`);
    for (const [app, achieved] of Object.entries(v.apps) as [AppId, NonNullable<typeof v.apps[AppId]>][]) {
      const claimed = p.claimed.apps[app] ?? p.claimed.vm;
      if (compareLevels(claimed, achieved.level) > 0) return fail(`point ${p.index} claims ${claimed} for ${app}, it reached ${achieved.level} (${achieved.why}); claim reasons: ${p.claimed.reasons.join('; ') || 'none'}`);
    }
    checked++;
  }
  return pass(`${checked} point(s): no claim above the level reached`);
}
