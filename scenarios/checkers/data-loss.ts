/**
 * Data loss of one backup run, as the report shows it (DESIGN.md: "every restore reports
 * data loss"): committed transactions lost and completed writes lost at each point (what
 * was acknowledged before the cut and is missing from the restored image, with why),
 * whether crash recovery was needed and whether it succeeded, the RPO the schedule
 * achieved and the RTO of the VM restore. Not a verdict: a measurement, aggregated per
 * cell by the runner.
 *
 * The why of a lost write is the training-grade evidence: a write acknowledged by write()
 * but not fsync'ed before the cut was dirty in the page cache at the snapshot instant; a
 * durable one lost means the storage stack lied or the image is damaged.
 */

import type { AppId } from '../../core/hypervisor-port.js';
import type { ScenarioOutcome } from '../scenario/run.js';

export interface LostItem {
  readonly point: number;
  readonly app: AppId;
  readonly id: string;
  readonly why: string;
}

export interface RunDataLoss {
  /** Commits of the cell's database lost over all points (0 for the files cell). */
  readonly committedLost: number;
  /** Completed file writes (the files app) lost over all points. */
  readonly writesLost: number;
  readonly recoveryNeeded: number;
  readonly recoverySucceeded: number;
  /** Longest stretch of acknowledged work not covered by a point: gaps between cuts and after the last. */
  readonly rpoUs: number;
  readonly rtoUs: number | null;
  /** The first lost items, with why (at most 20). */
  readonly examples: readonly LostItem[];
}

const MAX_EXAMPLES = 20;

export function dataLossOf(app: AppId, outcome: ScenarioOutcome): RunDataLoss {
  let committedLost = 0;
  let writesLost = 0;
  let recoveryNeeded = 0;
  let recoverySucceeded = 0;
  const examples: LostItem[] = [];
  const cuts: number[] = [];
  for (const p of outcome.points) {
    if (p.truth !== null && p.ok) cuts.push(p.truth.cutUs);
    const v = p.restored?.verdict;
    if (v === undefined) continue;
    for (const [appId, a] of Object.entries(v.apps) as [AppId, NonNullable<typeof v.apps[AppId]>][]) {
      if (appId === 'files') writesLost += a.lost.length;
      else if (appId === app) committedLost += a.lost.length;
      if (appId === app && a.recoveryNeeded) {
        recoveryNeeded++;
        if (a.level !== 'inconsistent') recoverySucceeded++;
      }
      const durable = new Set(a.lostDurable);
      for (const id of a.lost) {
        if (examples.length >= MAX_EXAMPLES) break;
        examples.push({
          point: p.index, app: appId, id,
          why: durable.has(id)
            ? 'acknowledged as durable before the cut and missing: the storage stack lied about flush, or the image is damaged'
            : appId === 'files'
              ? 'written (write() returned) but not fsync\'ed before the cut: dirty in the page cache at the snapshot instant'
              : 'committed before the cut but not yet on disk: lost with the guest\'s memory at the snapshot instant',
        });
      }
    }
  }
  let rpoUs = 0;
  for (let i = 0; i < cuts.length; i++) rpoUs = Math.max(rpoUs, (cuts[i + 1] ?? outcome.endUs) - (cuts[i] as number));
  if (cuts.length === 0) rpoUs = outcome.endUs;
  return { committedLost, writesLost, recoveryNeeded, recoverySucceeded, rpoUs, rtoUs: outcome.vmRestore?.rtoUs ?? null, examples };
}
