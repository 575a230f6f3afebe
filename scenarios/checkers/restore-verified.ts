/**
 * Property 14: a restored VM is verified, as a SureBackup-style job would: the first good
 * point restored as a new VM boots (its guest comes up) and every application whose data
 * the lab found recoverable in that point opens on it. A restore that is only timed says
 * nothing; a VM that does not come up is a failed restore whatever its RTO.
 *
 * Judged against the lab's verdict on the same point (scenarios/checkers/level.ts): a point
 * whose VM the lab found inconsistent may fail to boot, an application the lab could not
 * recover may fail to open; anything better must come up.
 *
 * Does not check: that the restored application answers with exactly the data the lab read
 * (property 5 shows the restored bytes equal the VmSnapshot's, and the lab reads those),
 * Tools' heartbeat (the simulated Tools answer when the guest is up), a restore of a later
 * point than the first good one.
 */

import { compareLevels } from '../../core/levels.js';
import type { AppId } from '../../core/hypervisor-port.js';
import type { ScenarioOutcome } from '../scenario/run.js';
import { fail, pass, unknown, type Verdict } from '../verdict.js';

export function checkRestoreVerified(outcome: ScenarioOutcome): Verdict {
  const first = outcome.points.find((p) => p.ok);
  if (first === undefined) return unknown('not judged: no backup succeeded, nothing to restore');
  const restore = outcome.vmRestore;
  if (restore === null) return fail(`point ${first.index} was stored but no VM was restored from it`);
  const lab = first.restored?.verdict ?? null;
  const mustBoot = lab === null || compareLevels(lab.vm, 'crash') >= 0;
  if (!restore.ok) {
    if (mustBoot) return fail(`point ${first.index}, restored as a new VM: ${restore.detail} (the lab found its volumes ${lab?.vm ?? 'readable'})`);
    return pass(`the restored VM does not boot, as the lab's verdict allows (volumes ${lab.vm})`);
  }
  const opened: string[] = [];
  for (const [app, verdict] of Object.entries(lab?.apps ?? {}) as [AppId, NonNullable<NonNullable<typeof lab>['apps'][AppId]>][]) {
    if (compareLevels(verdict.level, 'crash') < 0) continue;
    const report = restore.appsOpened[app];
    if (report === undefined) return fail(`point ${first.index}, restored as VM ${restore.vmId ?? '?'}: ${app} did not start on the restored VM (the lab recovered it at ${verdict.level})`);
    if (!report.ok) return fail(`point ${first.index}, restored as VM ${restore.vmId ?? '?'}: ${app} did not open its data (the lab recovered it at ${verdict.level})`);
    opened.push(app);
  }
  return pass(`point ${first.index} restored as a new VM: it boots${opened.length === 0 ? '' : `; ${opened.join(', ')} open their data`}`);
}
