/**
 * Property 8: quiesce faults fall back honestly, and the guest is always thawed and every
 * VmSnapshot removed. With a quiesce fault the job still stores a point (policy try), the
 * point records why it fell back, and it claims no more than crash for a failed quiesce
 * unless a later attempt succeeded. On every run, fault or not: no volume stays frozen
 * and no VmSnapshot the engine created is left behind.
 *
 * Does not check: the level reached (property 2 holds the claim to it), policy require
 * (the job fails by design).
 */

import type { ScenarioOutcome } from '../scenario/run.js';
import { isQuiesceFault, type ScenarioSpec } from '../scenario/spec.js';
import { fail, pass, type Verdict } from '../verdict.js';

export function checkQuiesceHygiene(spec: ScenarioSpec, outcome: ScenarioOutcome): Verdict {
  const h = outcome.hygiene;
  if (h.frozenVolumes > 0) return fail(`${h.frozenVolumes} guest volume(s) still frozen after the backups`);
  if (h.snapshotsLeft.length > 0) return fail(`VmSnapshot(s) left behind: ${h.snapshotsLeft.join(', ')}`);
  if (!isQuiesceFault(spec.fault)) return pass(`${h.snapshotsCreated} VmSnapshot(s) created and removed; the guest is thawed`);
  for (const p of outcome.points) {
    if (!p.ok && spec.job.policy === 'try' && !spec.job.readFault) return fail(`backup ${p.index} failed under policy try instead of falling back: ${p.error ?? ''}`);
    // A refusal under policy require is property 17's to judge; it stored nothing to claim.
    if (!p.ok) continue;
    const t = p.truth;
    if (t === null) continue;
    const fellShort = t.quiesceFailed !== null || t.quiesce.fault !== null;
    if (fellShort && (p.claimed?.reasons.length ?? 0) === 0) return fail(`point ${p.index}: quiescing fell short (${t.quiesceFailed ?? t.quiesce.fault?.reason ?? ''}) and the point records no reason`);
    if (t.quiesceFailed !== null && t.quiesce.mode === 'none' && p.claimed !== null && p.claimed.vm !== 'crash') {
      return fail(`point ${p.index}: the quiesce failed (${t.quiesceFailed}), the fallback snapshot is unquiesced, yet the point claims ${p.claimed.vm}`);
    }
  }
  return pass(`the fault (${spec.fault.kind}) fell back honestly; ${h.snapshotsCreated} VmSnapshot(s) removed; the guest is thawed`);
}
