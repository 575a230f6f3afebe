/**
 * A log scenario, as data, and its arbitrary (fast-check). A run (logs-run.ts): the cell's
 * VM under workload; an application-aware full backup; log backups (SQL Server) or WAL
 * shipping rounds (SQLite) on the seed 003 schedule for `windowTicks` intervals (the next
 * full is due then); optionally one slow log backup and one chain break; then restores of
 * the full rolled forward to a target drawn in the chain (and, past a break, one beyond
 * it), each booted and read.
 *
 * Chain breaks drawn: SQL Server — a log backup to NUL by someone else, a log backup by
 * someone else without COPY_ONLY (kept outside the engine's store: the copy-only misuse),
 * a log backup removed from the store; and, as a control that must not break anything, a
 * copy-only log backup by the engine. SQLite — a checkpoint by someone else, a segment
 * removed from the store. Shrinking goes towards no break, no slow backup, fewer ticks, a
 * lighter workload. Leaves out: corrupt log backups (repository verify's business), a
 * failing log backup, faults of the full backup (the backup suite's).
 */

import fc from 'fast-check';
import { cellId, type Cell } from '../cells.js';
import { seedArb, workloadArb } from './arbitraries.js';
import type { WorkloadPlan } from './spec.js';

export type LogApp = 'sqlserver' | 'sqlite';

export type ChainBreakPlan =
  | { readonly kind: 'none' }
  /** The engine takes a copy-only log backup (stored) in the wait after scheduled log backup `after`: not a break. */
  | { readonly kind: 'copy-only'; readonly after: number }
  /** Someone else runs BACKUP LOG ... TO NUL in the wait after scheduled log backup `after`. */
  | { readonly kind: 'to-nul'; readonly after: number }
  /** Someone else takes an ordinary (truncating) log backup, kept outside the store, after backup `after`. */
  | { readonly kind: 'outside-log-backup'; readonly after: number }
  /** Someone else checkpoints the SQLite WAL after shipping round `after`. */
  | { readonly kind: 'outside-checkpoint'; readonly after: number }
  /** The log backup (SQLite: the first segment with commits) of scheduled round `index` or later is removed from the store. */
  | { readonly kind: 'missing'; readonly index: number };

export type TargetKind = 'time' | 'lsn' | 'transaction';

/** Where in the chain the target lies: a fraction (per mille) of the range, at an acknowledgement or just before one, or anywhere. */
export interface TargetPlan {
  readonly kind: TargetKind;
  readonly whereMille: number;
  readonly edge: 'at' | 'before' | 'free';
}

export interface LogsSpec {
  readonly cellId: string;
  readonly seed: number;
  readonly workload: WorkloadPlan;
  readonly warmupMs: number;
  readonly intervalMs: number;
  /** The next full backup starts this many intervals after the full completed. */
  readonly windowTicks: number;
  /** Scheduled log backup `index` takes `extraPct` % of an interval longer (a slow guest). */
  readonly overrun: { readonly index: number; readonly extraPct: number } | null;
  /** SQLite: every n-th round is the engine's checkpoint (0: never). */
  readonly checkpointEvery: number;
  readonly chainBreak: ChainBreakPlan;
  readonly target: TargetPlan;
}

/** A break that makes part of the chain unusable (copy-only is not one). */
export function breaksChain(plan: ChainBreakPlan): boolean {
  return plan.kind !== 'none' && plan.kind !== 'copy-only';
}

export function logAppOf(cell: Pick<Cell, 'app'>): LogApp {
  return cell.app === 'sqlite' ? 'sqlite' : 'sqlserver';
}

/** Shrinking tries no break first (generation is unchanged). */
const CROSS_SHRINK = { withCrossShrink: true };

function breakArb(app: LogApp): fc.Arbitrary<ChainBreakPlan> {
  const after = fc.integer({ min: 0, max: 1 });
  const none = { weight: 4, arbitrary: fc.constant<ChainBreakPlan>({ kind: 'none' }) };
  const missing = { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 }).map((index): ChainBreakPlan => ({ kind: 'missing', index })) };
  if (app === 'sqlite') {
    return fc.oneof(CROSS_SHRINK, none, { weight: 1, arbitrary: after.map((a): ChainBreakPlan => ({ kind: 'outside-checkpoint', after: a })) }, missing);
  }
  return fc.oneof(
    CROSS_SHRINK,
    none,
    { weight: 1, arbitrary: after.map((a): ChainBreakPlan => ({ kind: 'copy-only', after: a })) },
    { weight: 1, arbitrary: after.map((a): ChainBreakPlan => ({ kind: 'to-nul', after: a })) },
    { weight: 1, arbitrary: after.map((a): ChainBreakPlan => ({ kind: 'outside-log-backup', after: a })) },
    missing,
  );
}

export function logsArb(cell: Cell): fc.Arbitrary<LogsSpec> {
  const app = logAppOf(cell);
  const kinds: readonly TargetKind[] = app === 'sqlite' ? ['transaction', 'time'] : ['time', 'lsn'];
  return fc.record({
    cellId: fc.constant(cellId(cell)),
    seed: seedArb,
    workload: workloadArb(40),
    warmupMs: fc.integer({ min: 200, max: 800 }),
    intervalMs: fc.integer({ min: 100, max: 400 }),
    windowTicks: fc.integer({ min: 5, max: 7 }),
    overrun: fc.option(fc.record({ index: fc.integer({ min: 0, max: 3 }), extraPct: fc.integer({ min: 50, max: 250 }) }), { nil: null, freq: 2 }),
    checkpointEvery: app === 'sqlite' ? fc.constantFrom(0, 2, 3) : fc.constant(0),
    chainBreak: breakArb(app),
    target: fc.record({ kind: fc.constantFrom(...kinds), whereMille: fc.integer({ min: 0, max: 1000 }), edge: fc.constantFrom<'at' | 'before' | 'free'>('at', 'before', 'free') }),
  });
}
