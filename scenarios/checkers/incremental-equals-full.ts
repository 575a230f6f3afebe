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
import { Findings, pass, unknown, type Verdict } from '../verdict.js';

export function checkIncrementalEqualsFull(outcome: ScenarioOutcome): Verdict {
  const found = new Findings();
  for (const p of outcome.points) {
    if (!p.ok) continue;
    found.count('points');
    if (p.restored === null) {
      found.fail(`point ${p.index} (${p.kind}) cannot be read back: ${p.restoreError ?? 'no snapshot'}`, 2, [`point-${p.index}`]);
      continue;
    }
    if (p.restored.equalsSnapshot === null) continue;
    found.count('compared');
    if (!p.restored.equalsSnapshot.equal) found.fail(`point ${p.index} (${p.kind}) differs from its VmSnapshot: ${p.restored.equalsSnapshot.detail}`, 1, [`point-${p.index}`]);
  }
  const v = found.verdict('');
  if (v.valid === false) return v;
  const compared = found.data().counts['compared'] ?? 0;
  return compared === 0 ? unknown('no stored point could be compared with its VmSnapshot') : pass(`${compared} point(s) equal their VmSnapshot byte for byte`);
}
