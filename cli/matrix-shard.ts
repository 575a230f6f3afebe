/**
 * The matrix's task list (the mutant hunts, then the cells) and a shard's run of its part
 * of it (`matrix --shard I/N`): the tasks the plan deals it (cli/shard.ts), run on the
 * worker pool costliest first, written as a shard file (cli/shard-file.ts) for `merge`.
 */

import type { CellResult, MutantOutcome } from '../core/results.js';
import { APP_IDS, GUEST_OS_IDS, TOOLS_IDS, type AppId, type GuestOsId, type ToolsId } from '../core/hypervisor-port.js';
import { cellId, selectCells, type Cell, type CellFilter } from '../scenarios/cells.js';
import { MUTANTS } from '../scenarios/mutants/index.js';
import { writeOutput } from './output.js';
import type { PoolResult, PoolTask } from './pool.js';
import { taskCost } from './shard-cost.js';
import { renderShardFile, SHARD_FORMAT, SHARD_FORMAT_VERSION, type ShardEngine, type ShardSelection } from './shard-file.js';
import { planShards, taskId, type ShardSpec } from './shard.js';
import { VERSION } from './version.js';

/** The hunt of every mutant with a cell in the selection, on those of its cells. */
export function mutantTasks(cells: readonly Cell[], runs: number): PoolTask[] {
  const selected = new Set(cells.map(cellId));
  return MUTANTS.map((m): PoolTask => ({ kind: 'mutant', mutantId: m.id, runs, cells: m.cells.filter((c) => selected.has(c)) }))
    .filter((t) => t.kind === 'mutant' && t.cells.length > 0);
}

/** The hunts first (the longest tasks, so the workers end together), then the cells. */
export function matrixTasks(cells: readonly Cell[], hunts: readonly PoolTask[] | null): PoolTask[] {
  return [...hunts ?? [], ...cells.map((c): PoolTask => ({ kind: 'cell', cellId: cellId(c) }))];
}

/** The filters in catalog order (null: no filter), so `--os a,b` and `--os b,a` are one selection. */
export function selectionOf(filter: CellFilter, mutant: string | null, hunt: boolean): ShardSelection {
  const canon = <T extends string>(given: readonly T[] | undefined, all: readonly T[]): T[] | null => (given === undefined ? null : all.filter((id) => given.includes(id)));
  return { os: canon(filter.os, GUEST_OS_IDS), tools: canon(filter.tools, TOOLS_IDS), apps: canon(filter.apps, APP_IDS), mutant, hunt };
}

/** The tasks of a selection, as the unsharded matrix runs them (merge computes them again from a part's header). */
export function selectionTasks(selection: ShardSelection, mutantRuns: number | null): { cells: Cell[]; tasks: PoolTask[] } {
  const filter: CellFilter = {
    ...selection.os === null ? {} : { os: selection.os as readonly GuestOsId[] },
    ...selection.tools === null ? {} : { tools: selection.tools as readonly ToolsId[] },
    ...selection.apps === null ? {} : { apps: selection.apps as readonly AppId[] },
  };
  const cells = selectCells(filter);
  const hunts = selection.hunt && selection.mutant === null && mutantRuns !== null ? mutantTasks(cells, mutantRuns) : null;
  return { cells, tasks: matrixTasks(cells, hunts) };
}

/** The indexes (in task order) of the tasks shard I/N runs. */
export function shardTaskIndexes(tasks: readonly PoolTask[], runs: number, shard: ShardSpec): number[] {
  return planShards(tasks.map((t) => taskCost(t, runs)), shard.count)[shard.index - 1] ?? [];
}

export interface ShardRun {
  readonly shard: ShardSpec;
  readonly seed: number;
  readonly runs: number;
  readonly mutantRuns: number | null;
  readonly selection: ShardSelection;
  readonly engine: ShardEngine;
  /** Where the part goes: --json FILE, else --out DIR/shard-I-of-N.json. */
  readonly path: string;
  /** The option that named it (for an error's message). */
  readonly option: '--json' | '--out';
}

/** The part file's default name under --out. */
export function shardFileName(shard: ShardSpec): string {
  return `shard-${shard.index}-of-${shard.count}.json`;
}

/** Runs `indexes` of `tasks` with `runPool` (costliest first) and writes the part; returns what it printed. */
export async function runShard(
  run: ShardRun, tasks: readonly PoolTask[], indexes: readonly number[],
  runPool: (tasks: readonly PoolTask[]) => Promise<PoolResult[] | null>,
): Promise<boolean> {
  const costs = new Map(indexes.map((i) => [i, taskCost(tasks[i] as PoolTask, run.runs)]));
  const order = [...indexes].sort((a, b) => (costs.get(b) ?? 0) - (costs.get(a) ?? 0) || a - b);
  const done = await runPool(order.map((i) => tasks[i] as PoolTask));
  if (done === null) return false;
  const byIndex = new Map(order.map((i, k) => [i, done[k] as PoolResult]));
  const results = indexes.map((i) => byIndex.get(i) as PoolResult);
  writeOutput(run.path, renderShardFile({
    format: SHARD_FORMAT, formatVersion: SHARD_FORMAT_VERSION, tool: 'quiescelab', version: VERSION, seed: run.seed, runs: run.runs,
    mutantRuns: run.mutantRuns, selection: run.selection, engine: run.engine, shard: run.shard, tasks: indexes.map((i) => taskId(tasks[i] as PoolTask)), results,
  }), run.option);
  const total = tasks.reduce((sum, t) => sum + taskCost(t, run.runs), 0);
  const mine = indexes.reduce((sum, i) => sum + (costs.get(i) ?? 0), 0);
  const cells = results.filter((r): r is CellResult => 'properties' in r);
  const hunts = results.filter((r): r is MutantOutcome => 'killed' in r);
  process.stdout.write([
    `shard ${run.shard.index}/${run.shard.count}: ${cells.length} of ${tasks.filter((t) => t.kind === 'cell').length} cells, ${hunts.length} of ${tasks.filter((t) => t.kind === 'mutant').length} mutant hunts (${total === 0 ? 100 : Math.round((100 * mine) / total)}% of the estimated work), ${run.runs} runs per cell, seed ${run.seed}, engine ${run.engine.name}`,
    `${cells.filter((c) => c.pass).length}/${cells.length} cells pass, ${hunts.filter((h) => h.killed).length}/${hunts.length} mutants killed in this shard (the verdict is the merge's)`,
    `part: ${run.path}`,
    `next: quiescelab merge PART... --out DIR (the ${run.shard.count} parts of this run)`,
  ].join('\n') + '\n');
  return true;
}
