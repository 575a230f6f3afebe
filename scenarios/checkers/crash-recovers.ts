/**
 * Property 4: a crash-consistent point of a database that honours flush recovers on open
 * and loses nothing it acknowledged as durable before the cut; and when the storage stack
 * lied about flush (a power loss with a lying disk cache), the loss of durable commits is
 * found and reported — the run's crash losses name every durable acknowledgement missing
 * from the recovered data, never a silent gap.
 *
 * Does not check: buffered (not yet durable) writes, which a crash may lose; file-system
 * or application-consistent points (properties 1 and 3).
 */

import type { Cell } from '../cells.js';
import type { ScenarioOutcome } from '../scenario/run.js';
import type { ScenarioSpec } from '../scenario/spec.js';
import { fail, pass, type Verdict } from '../verdict.js';

export const DATABASES = ['sqlite', 'sqlserver', 'exchange', 'ntds'] as const;

export function checkCrashRecovers(cell: Cell, spec: ScenarioSpec, outcome: ScenarioOutcome): Verdict {
  const lying = spec.fault.kind === 'power-loss' && spec.fault.lyingCache;
  let checked = 0;
  for (const p of outcome.points) {
    const app = p.restored?.verdict.apps[cell.app];
    if (app === undefined || app.level !== 'crash') continue;
    checked++;
    if (app.lostDurable.length > 0) return fail(`point ${p.index}: crash recovery lost ${app.lostDurable.length} commit(s) acknowledged as durable, first ${app.lostDurable[0] ?? ''}`);
  }
  if (lying) {
    const reported = outcome.crashLosses.reduce((n, l) => n + l.lostDurable.length, 0);
    return pass(`lying disk cache: ${reported} durable acknowledgement(s) lost in the power loss, reported by name`);
  }
  for (const l of outcome.crashLosses) {
    if (l.lostDurable.length > 0) return fail(`the host power loss lost ${l.lostDurable.length} ${l.app} commit(s) acknowledged as durable on an honest disk, first ${l.lostDurable[0] ?? ''}`);
  }
  return pass(checked === 0 ? 'no crash-consistent point in this run' : `${checked} crash-consistent point(s) recovered with every durable commit`);
}
