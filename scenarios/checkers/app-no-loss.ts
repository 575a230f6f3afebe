/**
 * Property 3: a point whose application was quiesced by its own agent (its VSS writer came
 * through, or its freeze script ran), or that claims application level, holds every
 * transaction the application acknowledged before the freeze.
 *
 * Does not check: transactions acknowledged after the freeze began (they belong to the
 * next point), points of unquiesced applications (property 4).
 */

import type { Cell } from '../cells.js';
import type { ScenarioOutcome } from '../scenario/run.js';
import { Findings, unknown, type Verdict } from '../verdict.js';

export function checkAppNoLoss(cell: Cell, outcome: ScenarioOutcome): Verdict {
  const found = new Findings();
  let checked = 0;
  for (const p of outcome.points) {
    if (p.restored === null) continue;
    const app = p.restored.verdict.apps[cell.app];
    const claimsApp = p.claimed?.apps[cell.app] === 'application';
    if (app === undefined || (app.level !== 'application' && !claimsApp)) continue;
    checked++;
    found.count('points');
    if (app.lost.length === 0) continue;
    found.count('lost', app.lost.length);
    found.count('lostDurable', app.lostDurable.length);
    found.fail(`point ${p.index} (${claimsApp ? 'claims application' : 'application-consistent'}) lost ${app.lost.length} commit(s) acknowledged before the freeze (${app.lostDurable.length} as durable), first ${app.lost[0] ?? ''}`, app.lost.length, app.lost);
  }
  if (checked === 0 && !found.failed) return unknown('no application-consistent point in this run');
  return found.verdict(`${checked} application-consistent point(s) hold every commit before the freeze`);
}
