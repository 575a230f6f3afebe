/**
 * Ground truth of a log scenario and what follows from it, as pure functions: which part
 * of the log chain a roll-forward must reach, which targets lie beyond a break, and which
 * commits a restore to a target must hold. Everything here comes from the simulator and
 * the harness — the apps' acknowledgements (virtual times), the log backups as the guest
 * produced them (read with the simulator's own format code: LSN ranges and commit LSNs),
 * the instants the guest's WAL was read, what the harness removed or broke — never from
 * what the engine recorded. The scenario (logs-run.ts) draws targets with it; the checkers
 * judge with it.
 *
 * What "exact" means (DESIGN.md, transaction level):
 * - SQL Server, time T: every transaction acknowledged at or before T, no other (a commit's
 *   log record carries its commit instant, STOPAT stops there). LSN L: every transaction
 *   whose commit record's LSN is at most L (STOPATLSN applies records up to L).
 * - SQLite, transaction k: the base's commits and the next k acknowledged, in commit order.
 *   Time T: the WAL carries no commit times, so the engine documents the precision as the
 *   shipping rounds (engine/logbackup/sqlite-chain.ts): exact means every commit
 *   acknowledged at or before S and none after, where S is the last instant at or before T
 *   the engine read the WAL for the chain (the base's freeze when it read none yet).
 *
 * Chain rules used for reach (the engine's documented ones, decided here on the truth):
 * SQL Server — only ordinary (not copy-only) log backups in the store count; the chain
 * runs from the first scheduled log backup's first LSN while the stored backups' LSN
 * ranges join up; a later stored backup past the first hole is the part beyond a break.
 * SQLite — the chain reaches every commit the WAL reads before the break showed (an outside
 * checkpoint: reads before it; a removed segment: reads before that segment's); reads after
 * the break are beyond it. Time targets: after an outside checkpoint, every T before the
 * next read is reachable (what the checkpoint lost came after the last read, so after S).
 * A removed segment leaves a hole between the last read before it (L) and the next stored
 * record: for T in [L, removed read) the store cannot show whether what is missing was
 * shipped at or before T, so refusing and landing exactly are both right there; targets
 * are not drawn in that stretch.
 */

import { assert } from '../../core/assert.js';
import type { TimeUs } from '../../core/clock.js';
import { boundaryTarget } from './log-boundaries.js';
import type { LogApp, TargetPlan } from './logs-spec.js';

export interface AckPoint {
  readonly id: string;
  readonly timeUs: TimeUs;
}

/** One SQL Server log backup the guest produced (read from its output with the simulator's format code). */
export interface SqlCapture {
  /** Who took it: the engine on schedule, the engine's copy-only one, or someone else (to NUL, or kept elsewhere). */
  readonly who: 'scheduled' | 'copy-only' | 'to-nul' | 'outside';
  readonly atUs: TimeUs;
  readonly endUs: TimeUs;
  /** The guest program succeeded. */
  readonly ok: boolean;
  /** Records firstLsn <= lsn < lastLsn (null: no blob, e.g. to NUL). */
  readonly firstLsn: number | null;
  readonly lastLsn: number | null;
  readonly copyOnly: boolean;
  /** In the engine's store at restore time. */
  readonly stored: boolean;
  /** Commit records it holds: transaction id and the commit record's LSN. */
  readonly commits: readonly (readonly [id: string, lsn: number])[];
}

/** One scheduled log backup (SQLite: one shipping round), as the harness saw it. */
export interface LogBackupTiming {
  readonly startUs: TimeUs;
  readonly endUs: TimeUs;
  /** When it read the log: SQL Server, the guest's BACKUP LOG; SQLite, each WAL read of the round. */
  readonly readsUs: readonly TimeUs[];
  /** Why it failed (SQL Server: BACKUP LOG's exit; SQLite: the engine's round), or null when it succeeded. */
  readonly failed: string | null;
}

export interface LogTruth {
  readonly app: LogApp;
  /** The full backup's freeze (what its point holds: acknowledged at or before it). */
  readonly cutUs: TimeUs;
  readonly snapshotAtUs: TimeUs;
  /** The instant the engine's full backup returned: the chain's start (seed 003's T0). */
  readonly fullDoneUs: TimeUs;
  readonly intervalUs: TimeUs;
  /** The next full backup is due then: log backups stop. */
  readonly nextFullUs: TimeUs;
  /** The app's acknowledgements, in acknowledgement (commit) order. */
  readonly acks: readonly AckPoint[];
  readonly logBackups: readonly LogBackupTiming[];
  /** SQL Server: every log backup taken in the guest during the log window. */
  readonly captures: readonly SqlCapture[];
  /** SQLite: the break — an outside checkpoint at its instant, or the removed segment's WAL read — or null. */
  readonly walBreak: { readonly kind: 'outside-checkpoint' | 'missing'; readonly atUs: TimeUs } | null;
}

export type ConcreteTarget =
  | { readonly kind: 'time'; readonly timeUs: TimeUs }
  | { readonly kind: 'lsn'; readonly lsn: number }
  | { readonly kind: 'transaction'; readonly index: number };

/** A stretch of the chain: inclusive bounds per target kind (null: none of that kind there). */
export interface ChainRegion {
  readonly time: readonly [TimeUs, TimeUs] | null;
  readonly lsn: readonly [number, number] | null;
  readonly transaction: readonly [number, number] | null;
}

export interface ChainReach {
  /** Where a roll-forward must land exactly. */
  readonly reachable: ChainRegion;
  /** Past the break: targets here must be refused (null: no break, or nothing stored after it). */
  readonly beyond: ChainRegion | null;
  /** SQL Server: the first LSN of the hole (the break names it); null without one. */
  readonly breakLsn: number | null;
  /** SQLite: the first WAL read at or after the break (the chain breaks there); null without one. */
  readonly breakReadUs: TimeUs | null;
}

function range(lo: number, hi: number): readonly [number, number] | null {
  return hi >= lo ? [lo, hi] : null;
}

/** Commit LSNs of the acknowledged transactions, from every log backup the guest produced. */
export function commitLsns(truth: LogTruth): Map<string, number> {
  const out = new Map<string, number>();
  for (const c of truth.captures) for (const [id, lsn] of c.commits) out.set(id, lsn);
  return out;
}

/** Engine WAL reads of the chain (SQLite), in time order. */
export function walReads(truth: LogTruth): TimeUs[] {
  return truth.logBackups.flatMap((b) => b.readsUs).slice().sort((a, b) => a - b);
}

function sqlReach(truth: LogTruth): ChainReach {
  const empty: ChainReach = { reachable: { time: null, lsn: null, transaction: null }, beyond: null, breakLsn: null, breakReadUs: null };
  const first = truth.captures.find((c) => c.who === 'scheduled' && c.ok && c.firstLsn !== null);
  if (first?.firstLsn == null) return empty;
  const counted = truth.captures.filter((c) => c.stored && c.ok && !c.copyOnly && c.firstLsn !== null && c.lastLsn !== null && c.lastLsn > c.firstLsn);
  let end = first.firstLsn;
  let endUs: TimeUs | null = null;
  // Each step moves `end` forward: at most one step per stored backup.
  for (let step = 0; step <= counted.length; step++) {
    const next = counted.filter((c) => (c.firstLsn ?? 0) <= end && (c.lastLsn ?? 0) > end).sort((a, b) => (b.lastLsn ?? 0) - (a.lastLsn ?? 0))[0];
    if (next === undefined) break;
    end = next.lastLsn ?? end;
    endUs = next.atUs;
  }
  if (endUs === null) return empty;
  const lsns = commitLsns(truth);
  const afterCut = truth.acks.filter((a) => a.timeUs > truth.cutUs).map((a) => lsns.get(a.id)).filter((l): l is number => l !== undefined);
  // From just before the first commit after the freeze (every LSN from the restored point on works; it is not known here).
  const lowLsn = Math.min(end - 1, ...afterCut.map((l) => l - 1));
  const reachable: ChainRegion = { time: range(truth.snapshotAtUs, endUs), lsn: range(lowLsn, end - 1), transaction: null };
  const later = counted.filter((c) => (c.lastLsn ?? 0) > end);
  if (later.length === 0) return { ...empty, reachable };
  const chainEndLsn = Math.max(...later.map((c) => c.lastLsn ?? 0));
  const chainEndUs = Math.max(...later.map((c) => c.atUs));
  return { reachable, beyond: { time: range(endUs + 1, chainEndUs), lsn: range(end, chainEndLsn - 1), transaction: null }, breakLsn: end, breakReadUs: null };
}

function sqliteReach(truth: LogTruth): ChainReach {
  const reads = walReads(truth);
  const lastRead = reads.at(-1);
  if (lastRead === undefined) return { reachable: { time: null, lsn: null, transaction: null }, beyond: null, breakLsn: null, breakReadUs: null };
  const breakUs = truth.walBreak?.atUs ?? null;
  const breakRead = breakUs === null ? undefined : reads.find((r) => r >= breakUs);
  const lastGood = breakRead === undefined ? lastRead : reads.filter((r) => r < breakRead).at(-1) ?? truth.cutUs;
  const committedBy = (us: TimeUs): number => truth.acks.filter((a) => a.timeUs > truth.cutUs && a.timeUs <= us).length;
  const reachableCommits = committedBy(lastGood);
  const lastTime = breakRead === undefined ? lastRead : truth.walBreak?.kind === 'missing' ? lastGood - 1 : breakRead - 1;
  const reachable: ChainRegion = { time: range(truth.snapshotAtUs, Math.min(lastRead, lastTime)), lsn: null, transaction: range(1, reachableCommits) };
  // A removed segment at the very end leaves nothing after the break to refuse against.
  if (breakRead === undefined || breakUs === null || !reads.some((r) => r > breakUs)) return { reachable, beyond: null, breakLsn: null, breakReadUs: breakRead ?? null };
  return {
    reachable,
    beyond: { time: range(breakRead, lastRead), lsn: null, transaction: range(reachableCommits + 1, committedBy(lastRead)) },
    breakLsn: null, breakReadUs: breakRead,
  };
}

export function chainReach(truth: LogTruth): ChainReach {
  return truth.app === 'sqlserver' ? sqlReach(truth) : sqliteReach(truth);
}

function inRegion(region: ChainRegion, target: ConcreteTarget): boolean {
  const r = target.kind === 'time' ? region.time : target.kind === 'lsn' ? region.lsn : region.transaction;
  const v = target.kind === 'time' ? target.timeUs : target.kind === 'lsn' ? target.lsn : target.index;
  return r !== null && v >= r[0] && v <= r[1];
}

export function isReachable(truth: LogTruth, target: ConcreteTarget): boolean {
  return inRegion(chainReach(truth).reachable, target);
}

export function isBeyondBreak(truth: LogTruth, target: ConcreteTarget): boolean {
  const beyond = chainReach(truth).beyond;
  return beyond !== null && inRegion(beyond, target);
}

/** The ids a restore to `target` must hold, in commit order (see the header for what exact means). */
export function expectedCommits(truth: LogTruth, target: ConcreteTarget): string[] {
  const acks = truth.acks;
  switch (target.kind) {
    case 'time': {
      if (truth.app === 'sqlserver') return acks.filter((a) => a.timeUs <= target.timeUs).map((a) => a.id);
      const lastRead = walReads(truth).filter((r) => r <= target.timeUs).at(-1);
      const bound = Math.max(truth.cutUs, lastRead ?? truth.cutUs);
      return acks.filter((a) => a.timeUs <= bound).map((a) => a.id);
    }
    case 'lsn': {
      const lsns = commitLsns(truth);
      return acks.filter((a) => {
        const lsn = lsns.get(a.id);
        return lsn === undefined ? a.timeUs <= truth.cutUs : lsn <= target.lsn;
      }).map((a) => a.id);
    }
    case 'transaction': {
      const inBase = acks.filter((a) => a.timeUs <= truth.cutUs).length;
      return acks.slice(0, inBase + target.index).map((a) => a.id);
    }
  }
}

function pick<T>(items: readonly T[], whereMille: number): T | undefined {
  return items[Math.min(items.length - 1, Math.floor((whereMille * items.length) / 1001))];
}

function between(lo: number, hi: number, whereMille: number): number {
  return lo + Math.floor(((hi - lo) * whereMille) / 1000);
}

/**
 * The concrete target of `plan` inside `region`: at the chain boundary the plan names
 * (log-boundaries.ts) when it has one and the region holds such a boundary; else at an instant (or commit LSN) the chain
 * turns on — an acknowledgement (SQL Server), a WAL read (SQLite) — or just before one, or
 * anywhere in the region. Null when the region holds nothing of the plan's kind.
 */
export function chooseTarget(truth: LogTruth, region: ChainRegion, plan: TargetPlan): ConcreteTarget | null {
  if (plan.boundary !== null) {
    const at = boundaryTarget(truth, region, plan.kind, plan.boundary, plan.whereMille);
    if (at !== null) return at;
  }
  if (plan.kind === 'transaction') {
    const r = region.transaction;
    return r === null ? null : { kind: 'transaction', index: between(r[0], r[1], plan.whereMille) };
  }
  const r = plan.kind === 'time' ? region.time : region.lsn;
  if (r === null) return null;
  const [lo, hi] = r;
  let edges: number[];
  if (plan.kind === 'lsn') {
    const lsns = commitLsns(truth);
    edges = truth.acks.map((a) => lsns.get(a.id)).filter((l): l is number => l !== undefined && l > lo && l <= hi);
  } else {
    edges = truth.app === 'sqlite' ? walReads(truth) : truth.acks.map((a) => a.timeUs);
    edges = edges.filter((t) => t > lo && t <= hi);
  }
  const edge = pick(edges, plan.whereMille);
  const value = plan.edge === 'free' || edge === undefined ? between(lo, hi, plan.whereMille) : plan.edge === 'at' ? edge : edge - 1;
  assert(value >= lo && value <= hi, `target ${value} outside [${lo}, ${hi}]`);
  return plan.kind === 'time' ? { kind: 'time', timeUs: value } : { kind: 'lsn', lsn: value };
}

export function describeTarget(target: ConcreteTarget): string {
  switch (target.kind) {
    case 'time': return `time ${target.timeUs} us`;
    case 'lsn': return `LSN ${target.lsn}`;
    case 'transaction': return `transaction ${target.index} after the base`;
  }
}
