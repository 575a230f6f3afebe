/**
 * Property 22: the RPO of a replica stays within the cycle interval plus the cycle's
 * duration, and the RTO of a failover is measured. With no fault, every cycle completes,
 * and at any instant between the first point and the end of the replication the newest
 * complete point copies a source state no older than one interval plus the duration of the
 * cycle in flight: the source snapshots of consecutive points are at most one interval
 * apart (or one cycle's length, when a cycle overran its slot; plus the time each took to
 * quiesce), and the last one is at most one interval
 * before the end. A schedule that drifts (each cycle an interval after the previous one
 * ended) breaks it by the cycles' durations.
 *
 * Instants are the hypervisors': the source VmSnapshot's creation and the replica
 * snapshot's; the engine's schedule is not read.
 *
 * Areas not verified: runs with a fault (the RPO grows while the link is down; property
 * 23 judges what failover boots), re-protection after a failback (another VM replicated
 * after the failover's gap: property 20 judges its points), RPO of points dropped by
 * retention (their instants count).
 */

import type { ReplicationOutcome } from '../scenario/replication-run.js';
import { Findings, unknown, type Verdict } from '../verdict.js';

/** Slack for the calls of a cycle before its snapshot (getVm, CBT): 50 ms. */
export const RPO_SLACK_US = 50_000;

/** The points of the replication phase (re-protection after a failback replicates another VM, after a gap). */
function replicationPoints(outcome: ReplicationOutcome): ReplicationOutcome['points'] {
  const ids = new Set(outcome.cycles.map((c) => c.pointId));
  return outcome.points.filter((p) => ids.has(p.pointId));
}

/** The RPO just before each point was complete and at the end: [instant, age of the newest complete point]. */
export function rpoSeries(outcome: ReplicationOutcome): { atUs: number; rpoUs: number }[] {
  const out: { atUs: number; rpoUs: number }[] = [];
  let newest: number | null = null;
  for (const p of replicationPoints(outcome)) {
    if (p.sourceSnapshotAtUs === null) continue;
    if (newest !== null) out.push({ atUs: p.committedAtUs, rpoUs: p.committedAtUs - newest });
    newest = p.sourceSnapshotAtUs;
    out.push({ atUs: p.committedAtUs, rpoUs: p.committedAtUs - newest });
  }
  if (newest !== null) out.push({ atUs: outcome.replicationEndUs, rpoUs: outcome.replicationEndUs - newest });
  return out;
}

export function checkRpo(outcome: ReplicationOutcome): Verdict {
  const points = replicationPoints(outcome);
  if (points.length === 0) return unknown('not judged: no point completed');
  const f = new Findings();
  for (const c of outcome.cycles) if (!c.ok) f.fail(`cycle ${c.cycle} failed with no fault injected: ${c.error ?? ''}`, 3);
  const quiesce = new Map(outcome.sourceSnapshots.map((s) => [s.atUs, s.atUs - s.quiesceStartUs]));
  let previous: number | null = null;
  let previousTookUs = 0;
  for (const p of replicationPoints(outcome)) {
    if (p.sourceSnapshotAtUs === null) continue;
    // A cycle that overran its slot delays the next one until it ends: the interval, or that cycle's length.
    const bound = Math.max(outcome.intervalUs, previousTookUs + RPO_SLACK_US) + (quiesce.get(p.sourceSnapshotAtUs) ?? 0) + RPO_SLACK_US;
    if (previous !== null && p.sourceSnapshotAtUs - previous > bound) {
      f.fail(`points ${p.cycle - 1} and ${p.cycle} copy source states ${((p.sourceSnapshotAtUs - previous) / 1e6).toFixed(3)} s apart; the interval is ${(outcome.intervalUs / 1e6).toFixed(3)} s: the RPO exceeds the interval plus a cycle`, p.sourceSnapshotAtUs - previous);
    }
    previous = p.sourceSnapshotAtUs;
    previousTookUs = p.committedAtUs - p.sourceSnapshotAtUs + (quiesce.get(p.sourceSnapshotAtUs) ?? 0);
  }
  if (previous !== null && outcome.replicationEndUs - previous > outcome.intervalUs + RPO_SLACK_US) {
    f.fail(`at the end of the replication the newest point is ${((outcome.replicationEndUs - previous) / 1e6).toFixed(3)} s old; the interval is ${(outcome.intervalUs / 1e6).toFixed(3)} s`, outcome.replicationEndUs - previous);
  }
  const worst = Math.max(...rpoSeries(outcome).map((r) => r.rpoUs));
  const rto = outcome.failover?.ok === true ? `; failover RTO ${(outcome.failover.rtoUs / 1e6).toFixed(3)} s` : '';
  return f.verdict(`${points.length} point(s), worst RPO ${(worst / 1e6).toFixed(3)} s for an interval of ${(outcome.intervalUs / 1e6).toFixed(3)} s${rto}`);
}
