/**
 * Property 4: a crash-consistent point of a database that honours flush — any point its own
 * agent did not quiesce, whether the file systems were frozen under it or not — recovers on
 * open and loses nothing it acknowledged as durable before the cut; and when the storage stack
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
import { Findings, pass, unknown, type Verdict } from '../verdict.js';

export const DATABASES = ['sqlite', 'sqlserver', 'exchange', 'ntds'] as const;

export function checkCrashRecovers(cell: Cell, spec: ScenarioSpec, outcome: ScenarioOutcome): Verdict {
  const lying = spec.fault.kind === 'power-loss' && spec.fault.lyingCache;
  const found = new Findings();
  for (const p of outcome.points) {
    const app = p.restored?.verdict.apps[cell.app];
    // A point the database's own agent did not quiesce (a crash capture, or the file system
    // frozen under it): it must open by crash recovery with every durable commit.
    if (app === undefined || app.level === 'inconsistent' || app.level === 'application' || p.truth?.appsQuiesced.includes(cell.app) === true) continue;
    found.count('crashPoints');
    if (app.lostDurable.length > 0) found.fail(`point ${p.index}: crash recovery lost ${app.lostDurable.length} commit(s) acknowledged as durable, first ${app.lostDurable[0] ?? ''}`, app.lostDurable.length, app.lostDurable);
  }
  if (!lying) {
    for (const l of outcome.crashLosses) {
      found.count('powerLosses');
      if (l.lostDurable.length > 0) found.fail(`the host power loss lost ${l.lostDurable.length} ${l.app} commit(s) acknowledged as durable on an honest disk, first ${l.lostDurable[0] ?? ''}`, l.lostDurable.length, l.lostDurable);
    }
  }
  if (found.failed) return found.verdict('');
  const checked = found.data().counts['crashPoints'] ?? 0;
  if (lying) {
    const reported = outcome.crashLosses.reduce((n, l) => n + l.lostDurable.length, 0);
    return pass(`lying disk cache: ${reported} durable acknowledgement(s) lost in the power loss, reported by name${checked === 0 ? '' : `; ${checked} crash-consistent point(s) recovered`}`);
  }
  if (checked === 0 && outcome.crashLosses.length === 0) return unknown('no crash-consistent point and no power loss in this run');
  return pass(`${checked} crash-consistent point(s) recovered with every durable commit${outcome.crashLosses.length === 0 ? '' : '; the power loss lost nothing acknowledged as durable'}`);
}
