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
 * removed from the store. Targets (BUGGIFY): three draws in four sit on a boundary of the
 * chain (log-boundaries.ts), and the suite's first ten survey runs each take one boundary
 * kind (BOUNDARY_RUNS). Half the runs keep log backups in the repository's log stores,
 * half of the SQLite runs ship through the engine's scheduled job (sqlite-job.ts); half
 * the SQL Server runs give the VM two disks (the data on one, the log on the other).
 * Shrinking goes towards no break, no slow backup, fewer ticks, a lighter workload. Leaves out: corrupt log backups (repository verify's business), a
 * failing log backup, faults of the full backup (the backup suite's).
 */

import fc from 'fast-check';
import { assert } from '../../core/assert.js';
import { cellId, findCell, type Cell } from '../cells.js';
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

/** A boundary of the chain (log-boundaries.ts): a log backup's first or last record, a joint, the base's own point. */
export type Boundary = 'first' | 'last' | 'joint' | 'base';

export interface BoundaryPlan {
  readonly at: Boundary;
  /** One before (-1), at (0) or one after (+1). */
  readonly offset: -1 | 0 | 1;
}

/**
 * Where in the chain the target lies: at a boundary of the chain when `boundary` is set
 * (the `whereMille`-th such boundary), else a fraction (per mille) of the range, at an
 * acknowledgement or just before one, or anywhere.
 */
export interface TargetPlan {
  readonly kind: TargetKind;
  readonly whereMille: number;
  readonly edge: 'at' | 'before' | 'free';
  readonly boundary: BoundaryPlan | null;
}

/** Where the log backups go: the in-memory store, or the repository's log stores (engine/repository/log-store.ts). */
export type LogStoreKind = 'memory' | 'repository';

/**
 * SQLite: who runs the shipping rounds — `job`, the engine's scheduled job
 * (engine/logbackup/sqlite-job.ts: it anchors the chain and checkpoints once the WAL it
 * last read reached `checkpointAtWalBytes`), or `rounds`, the shipper's entry points
 * called round by round with the engine's checkpoint every `checkpointEvery`-th round.
 * SQL Server: always `job` (the engine's scheduler runs sql-job.ts).
 */
export type ShippingKind = 'job' | 'rounds';

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
  readonly logStore: LogStoreKind;
  readonly shipping: ShippingKind;
  /** SQLite `job`: the WAL length at which the job's next run is a checkpoint. */
  readonly checkpointAtWalBytes: number;
  /** Disks of the VM: SQL Server with 2 keeps its data on the first, its log on the second (SQLite: 1). */
  readonly disks: 1 | 2;
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

/** The app's target kinds, the discrete one first (LSN, transaction index). */
export function targetKinds(app: LogApp): readonly [TargetKind, TargetKind] {
  return app === 'sqlite' ? ['transaction', 'time'] : ['lsn', 'time'];
}

const boundaryArb: fc.Arbitrary<BoundaryPlan> = fc.record({
  at: fc.constantFrom<Boundary>('first', 'last', 'joint', 'base'),
  offset: fc.constantFrom<-1 | 0 | 1>(0, -1, 1),
});

export interface LogsArbOptions {
  /** BUGGIFY: bias targets toward the chain's boundaries (default on; off for measuring what the bias buys). */
  readonly boundaries?: boolean;
}

/** WAL lengths at which the SQLite job checkpoints: small enough that a window of a few rounds crosses one. */
const CHECKPOINT_AT_WAL_BYTES = [16 * 1024, 64 * 1024, 256 * 1024] as const;

function targetArb(app: LogApp, boundaries: boolean): fc.Arbitrary<TargetPlan> {
  return fc.record({
    kind: fc.constantFrom(...targetKinds(app)),
    whereMille: fc.integer({ min: 0, max: 1000 }),
    edge: fc.constantFrom<'at' | 'before' | 'free'>('at', 'before', 'free'),
    // Three draws in four land on a boundary; shrinking goes to the plain draw.
    boundary: boundaries ? fc.option(boundaryArb, { nil: null, freq: 4 }) : fc.constant(null),
  });
}

export function logsArb(cell: Cell, options: LogsArbOptions = {}): fc.Arbitrary<LogsSpec> {
  const app = logAppOf(cell);
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
    target: targetArb(app, options.boundaries ?? true),
    logStore: fc.constantFrom<LogStoreKind>('memory', 'repository'),
    shipping: app === 'sqlite' ? fc.constantFrom<ShippingKind>('rounds', 'job') : fc.constant<ShippingKind>('job'),
    checkpointAtWalBytes: fc.constantFrom(...CHECKPOINT_AT_WAL_BYTES),
    disks: app === 'sqlserver' ? fc.constantFrom<1 | 2>(1, 2) : fc.constant<1 | 2>(1),
  });
}

/**
 * The survey's stratification (logs-suite.ts, forRun): run i of the first ten targets
 * boundary BOUNDARY_RUNS[i] with the app's target kind `kind` (0: the discrete one), so
 * every boundary kind comes up in ten runs whatever the draws (each resolves when the
 * chain has such a boundary in the target's region).
 */
export const BOUNDARY_RUNS: readonly { readonly plan: BoundaryPlan; readonly kind: 0 | 1 }[] = [
  { plan: { at: 'last', offset: 0 }, kind: 1 },
  { plan: { at: 'joint', offset: 0 }, kind: 0 },
  { plan: { at: 'last', offset: 0 }, kind: 0 },
  { plan: { at: 'base', offset: 0 }, kind: 1 },
  { plan: { at: 'first', offset: 0 }, kind: 0 },
  { plan: { at: 'first', offset: -1 }, kind: 1 },
  { plan: { at: 'last', offset: 1 }, kind: 0 },
  { plan: { at: 'first', offset: 1 }, kind: 1 },
  { plan: { at: 'last', offset: -1 }, kind: 0 },
  { plan: { at: 'joint', offset: 0 }, kind: 0 },
];

/** The spec of survey run `runIndex` with its stratified boundary (runs past the cycle keep their draw). */
export function withRunBoundary(spec: LogsSpec, runIndex: number): LogsSpec {
  const slot = BOUNDARY_RUNS[runIndex];
  if (slot === undefined) return spec;
  const cell = findCell(spec.cellId);
  assert(cell !== undefined, `unknown cell ${spec.cellId}`);
  const app = logAppOf(cell);
  return { ...spec, target: { ...spec.target, kind: targetKinds(app)[slot.kind], boundary: slot.plan } };
}
