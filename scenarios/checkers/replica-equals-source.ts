/**
 * Property 20: every restore point a replication cycle completed equals the source's
 * VmSnapshot it copies, byte for byte (on the blocks the guest file system uses, when
 * white space was skipped: the free blocks were never sent), and reaches the matrix's
 * level for the cell's application in the lab; the level the engine claims for it is not
 * above the level the lab finds.
 *
 * The reference is the hypervisor's: the source VmSnapshot taken at the instant the cycle
 * names (scenarios/scenario/replication-run.ts), its image captured below the engine; the
 * point is the DR hypervisor's VmSnapshot of the replica, captured below the engine too.
 *
 * Areas not verified: points dropped by retention are judged as they were when taken (not
 * whether retention removed the right ones); a point whose lab verdict is below the
 * matrix's because the run's policy fell back is still judged (replication runs use no
 * quiesce faults, so the matrix's level is what the cell reaches).
 */

import { compareLevels } from '../../core/levels.js';
import type { Cell } from '../cells.js';
import type { ReplicationOutcome } from '../scenario/replication-run.js';
import { Findings, unknown, type Verdict } from '../verdict.js';

export function checkReplicaEqualsSource(cell: Cell, outcome: ReplicationOutcome): Verdict {
  if (outcome.points.length === 0) return unknown(`not judged: no cycle completed (${outcome.error ?? outcome.cycles.find((c) => !c.ok)?.error ?? 'no cycle ran'})`);
  const f = new Findings();
  const expected = cell.expected.level;
  for (const p of outcome.points) {
    f.count('points');
    if (!p.equalsSource.equal) f.fail(`replica point ${p.pointId} (cycle ${p.cycle}) is not its source VmSnapshot: ${p.equalsSource.detail}`, 3, [p.pointId]);
    if (p.level === null) { f.fail(`replica point ${p.pointId} (cycle ${p.cycle}) could not be judged: ${p.levelWhy}`, 2, [p.pointId]); continue; }
    if (expected !== 'unsupported' && compareLevels(p.level, expected) < 0) f.fail(`replica point ${p.pointId} (cycle ${p.cycle}): ${cell.app} is ${p.level} in the lab, the matrix says ${expected} (${p.levelWhy})`, 2, [p.pointId]);
    if (p.claimed !== null && compareLevels(p.claimed, p.level) > 0) f.fail(`replica point ${p.pointId} (cycle ${p.cycle}) claims ${p.claimed} for ${cell.app}, the lab finds ${p.level} (${p.levelWhy})`, 2, [p.pointId]);
  }
  return f.verdict(`${outcome.points.length} replica point(s) equal their source VmSnapshots and reach ${expected} for ${cell.app}`);
}
