/**
 * Property 1: the level a run's RecoveryPoints reach for the cell's application equals the
 * matrix's level for the cell (scenarios/matrix/oracle.ts), judged on the restored image
 * (checkers/level.ts). Every stored point of the run counts, incrementals included.
 *
 * One exception, by definition rather than tolerance: where the matrix promises only
 * crash, an unquiesced capture may by chance find every volume clean and every write in
 * place (nothing was in flight at that instant) — the image is then file-system
 * consistent, which is more than promised and not a fault of the cell. Reaching more than
 * the matrix anywhere else, or less anywhere, fails.
 *
 * Does not check: runs with an injected quiesce fault (judged by property 8), runs whose
 * guest did not survive the fault's power loss (a lying disk cache can destroy the file
 * system before any backup: nothing is left to quiesce), what the point claims (property
 * 2), data loss beyond what the level implies.
 */

import type { Cell } from '../cells.js';
import type { ScenarioOutcome } from '../scenario/run.js';
import { compareLevels } from '../../core/levels.js';
import { fail, Findings, unknown, type Verdict } from '../verdict.js';

export function checkMatrixLevel(cell: Cell, outcome: ScenarioOutcome): Verdict {
  const expected = cell.expected.level;
  if (outcome.guestLost !== null) return unknown(`not judged: the guest did not survive the power loss (${outcome.guestLost})`);
  if (outcome.points.length === 0) return fail('no backup was attempted');
  const found = new Findings();
  let lucky = 0;
  for (const p of outcome.points) {
    found.count('points');
    if (!p.ok) {
      found.fail(`backup ${p.index} (${p.kind}) failed under policy try: ${p.error ?? ''}`, 3, [`point-${p.index}`]);
      continue;
    }
    if (p.restored === null) {
      found.fail(`point ${p.index} could not be read back: ${p.restoreError ?? 'no snapshot recorded'}`, 3, [`point-${p.index}`]);
      continue;
    }
    const app = p.restored.verdict.apps[cell.app];
    if (app === undefined) {
      found.fail(`point ${p.index}: the lab found no ${cell.app} data`, 2, [`point-${p.index}`]);
      continue;
    }
    if (app.level === 'filesystem' && expected === 'crash') {
      lucky++;
      continue;
    }
    if (app.level !== expected) found.fail(`point ${p.index} (${p.kind}) reached ${app.level}, the matrix says ${expected} (${cell.expected.why}): ${app.why}`, expected === 'unsupported' ? 1 : Math.abs(compareLevels(app.level, expected)), [`point-${p.index}`]);
  }
  return found.verdict(`${outcome.points.length - lucky} point(s) reached ${expected}${lucky === 0 ? '' : `, ${lucky} found the volumes clean by chance (filesystem)`}`);
}
