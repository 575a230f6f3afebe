/**
 * Property 5: every stored point, read back through the engine, equals its VmSnapshot's
 * image byte for byte — the full and each CBT incremental k (restored through its chain)
 * alike. The reference is the hypervisor's own snapshot view, captured by the harness's
 * tap when the engine released the snapshot.
 *
 * Does not check: the repository's internal layout (verify does), points whose snapshot
 * the tap never saw.
 */

import type { ScenarioOutcome } from '../scenario/run.js';
import { fail, pass, type Verdict } from '../verdict.js';

export function checkIncrementalEqualsFull(outcome: ScenarioOutcome): Verdict {
  let checked = 0;
  for (const p of outcome.points) {
    if (!p.ok) continue;
    if (p.restored === null) return fail(`point ${p.index} (${p.kind}) cannot be read back: ${p.restoreError ?? 'no snapshot'}`);
    if (p.restored.equalsSnapshot === null) continue;
    checked++;
    if (!p.restored.equalsSnapshot.equal) return fail(`point ${p.index} (${p.kind}) differs from its VmSnapshot: ${p.restored.equalsSnapshot.detail}`);
  }
  return pass(`${checked} point(s) equal their VmSnapshot byte for byte`);
}
