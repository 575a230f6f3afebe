/**
 * The chain's boundaries, from the truth (BUGGIFY for roll-forward targets): the instants,
 * LSNs and transaction indices where one log backup (SQLite: one WAL shipment) ends and
 * the next begins, and the base's own point. Off-by-one bugs live there — a bound taken
 * as exclusive, a joint taken as a gap — and a uniform draw almost never lands on them, so
 * the logs suite's targets are biased toward them (logs-spec.ts) and the survey stratifies
 * them by run (logs-suite.ts).
 *
 * Per log backup k (SQL Server: each stored ordinary log backup, LSN order; SQLite: each
 * WAL read of the chain, the commits acknowledged since the previous read):
 * - `first`: its first record — LSN firstLsn(k); the instant of its first commit; the
 *   index of its first commit (SQLite transactions);
 * - `last`: its last record — LSN lastLsn(k) - 1; the log backup's own instant (SQL
 *   Server: BACKUP LOG ran then; SQLite: the WAL read); the index of its last commit;
 * - `joint`: where k ends and k+1 begins — LSN lastLsn(k) = firstLsn(k+1); the
 *   first commit of k+1 (transactions); k's instant (time);
 * - `base`: the region's first value — the full backup's own instant, the last LSN before
 *   any commit after its freeze, the first transaction after it.
 * LSN boundaries prefer log backups whose record there is a commit (a record lost there is
 * a lost transaction; elsewhere an off-by-one loses a begin or a row of an open
 * transaction, which no read can tell). An offset of -1 / +1 takes the value one before /
 * after. Values outside the region are
 * left out; when none is left, the caller falls back to the plain draw.
 *
 * Ground truth only (log-truth.ts's inputs), never what the engine recorded.
 */

import type { TimeUs } from '../../core/clock.js';
import { commitLsns, walReads, type ChainRegion, type ConcreteTarget, type LogTruth } from './log-truth.js';
import type { Boundary, BoundaryPlan, TargetKind } from './logs-spec.js';

export const BOUNDARIES: readonly Boundary[] = ['first', 'last', 'joint', 'base'];

/** A boundary kind as measured: `first`, `first-1`, `first+1`, `last`, ..., `joint`, `base`. */
export type BoundaryLabel = string;

interface Backup {
  /** Inclusive record LSNs (SQL Server) or commit indices (SQLite transactions); null: none. */
  readonly firstLsn: number | null;
  readonly lastLsn: number | null;
  readonly firstCommit: number | null;
  readonly lastCommit: number | null;
  readonly firstCommitUs: TimeUs | null;
  readonly atUs: TimeUs;
  /** SQL Server: a commit record sits at the joint after this backup / is its last record. */
  readonly commitAtJoint: boolean;
  readonly commitAtLast: boolean;
}

function sqlBackups(truth: LogTruth): Backup[] {
  const ackUs = new Map(truth.acks.map((a) => [a.id, a.timeUs]));
  const commitAt = new Set(commitLsns(truth).values());
  return truth.captures
    .filter((c) => c.stored && c.ok && !c.copyOnly && c.firstLsn !== null && c.lastLsn !== null && c.lastLsn > c.firstLsn)
    .sort((a, b) => (a.firstLsn ?? 0) - (b.firstLsn ?? 0))
    .map((c) => {
      const times = c.commits.map(([id]) => ackUs.get(id)).filter((t): t is TimeUs => t !== undefined);
      return {
        firstLsn: c.firstLsn, lastLsn: (c.lastLsn ?? 1) - 1, firstCommit: null, lastCommit: null,
        firstCommitUs: times.length === 0 ? null : Math.min(...times), atUs: c.atUs,
        commitAtJoint: commitAt.has(c.lastLsn ?? -1), commitAtLast: commitAt.has((c.lastLsn ?? 0) - 1),
      };
    });
}

function sqliteBackups(truth: LogTruth): Backup[] {
  const after = truth.acks.filter((a) => a.timeUs > truth.cutUs);
  let previous = truth.cutUs;
  return walReads(truth).map((readUs) => {
    const lo = after.findIndex((a) => a.timeUs > previous);
    const n = after.filter((a) => a.timeUs > previous && a.timeUs <= readUs).length;
    previous = readUs;
    const has = n > 0 && lo >= 0;
    return {
      firstLsn: null, lastLsn: null, firstCommit: has ? lo + 1 : null, lastCommit: has ? lo + n : null,
      firstCommitUs: has ? after[lo]?.timeUs ?? null : null, atUs: readUs, commitAtJoint: false, commitAtLast: false,
    };
  });
}

function backupsOf(truth: LogTruth): Backup[] {
  return truth.app === 'sqlserver' ? sqlBackups(truth) : sqliteBackups(truth);
}

/** The boundary values of `at` for targets of `kind` (before the offset), preferred ones first in a separate list. */
function boundaryValues(backups: readonly Backup[], kind: TargetKind, at: Exclude<Boundary, 'base'>): { readonly preferred: number[]; readonly all: number[] } {
  const all: number[] = [];
  const preferred: number[] = [];
  backups.forEach((b, i) => {
    const next = backups[i + 1];
    let v: number | null;
    if (kind === 'lsn') v = at === 'first' ? b.firstLsn : at === 'last' ? b.lastLsn : next === undefined || b.lastLsn === null ? null : b.lastLsn + 1;
    else if (kind === 'transaction') v = at === 'first' ? b.firstCommit : at === 'last' ? b.lastCommit : b.lastCommit === null || backups.slice(i + 1).every((x) => x.firstCommit === null) ? null : b.lastCommit + 1;
    else v = at === 'first' ? b.firstCommitUs : at === 'last' || next !== undefined ? b.atUs : null;
    if (v === null) return;
    all.push(v);
    if (kind === 'lsn' && ((at === 'joint' && b.commitAtJoint) || (at === 'last' && b.commitAtLast))) preferred.push(v);
  });
  return { preferred, all };
}

function regionOf(region: ChainRegion, kind: TargetKind): readonly [number, number] | null {
  return kind === 'time' ? region.time : kind === 'lsn' ? region.lsn : region.transaction;
}

function make(kind: TargetKind, value: number): ConcreteTarget {
  return kind === 'time' ? { kind, timeUs: value } : kind === 'lsn' ? { kind, lsn: value } : { kind, index: value };
}

/** The target at `plan`'s boundary inside `region`, the `whereMille`-th of those there; null when there is none. */
export function boundaryTarget(truth: LogTruth, region: ChainRegion, kind: TargetKind, plan: BoundaryPlan, whereMille: number): ConcreteTarget | null {
  const r = regionOf(region, kind);
  if (r === null) return null;
  const [lo, hi] = r;
  const inside = (v: number): boolean => v >= lo && v <= hi;
  if (plan.at === 'base') return inside(lo + plan.offset) ? make(kind, lo + plan.offset) : make(kind, lo);
  const { preferred, all } = boundaryValues(backupsOf(truth), kind, plan.at);
  const shifted = (vs: readonly number[]): number[] => [...new Set(vs.map((v) => v + plan.offset).filter(inside))].sort((a, b) => a - b);
  const choices = shifted(preferred).length > 0 ? shifted(preferred) : shifted(all);
  if (choices.length === 0) return null;
  const value = choices[Math.min(choices.length - 1, Math.floor((whereMille * choices.length) / 1001))] as number;
  return make(kind, value);
}

/** Which boundary kinds `target` sits on (measured from the truth, for the coverage test and the report). */
export function boundaryLabels(truth: LogTruth, region: ChainRegion, target: ConcreteTarget): BoundaryLabel[] {
  const kind = target.kind;
  const value = kind === 'time' ? target.timeUs : kind === 'lsn' ? target.lsn : target.index;
  const labels: BoundaryLabel[] = [];
  const r = regionOf(region, kind);
  if (r !== null && value === r[0]) labels.push('base');
  const backups = backupsOf(truth);
  for (const at of ['first', 'last', 'joint'] as const) {
    const { all } = boundaryValues(backups, kind, at);
    for (const offset of at === 'joint' ? [0] : [-1, 0, 1]) {
      if (all.some((v) => v + offset === value)) labels.push(offset === 0 ? at : `${at}${offset > 0 ? '+1' : '-1'}`);
    }
  }
  return labels;
}
