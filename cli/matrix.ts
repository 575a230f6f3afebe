/**
 * `quiescelab matrix`: the main job (`npm start`). Every selected cell of the consistency
 * matrix (OS x Tools x app x condition), N runs each, on worker threads; writes
 * results.json and index.html under --out (and --json FILE), prints a summary table and
 * the report's path. Exit 0 when every cell passes, 1 when a property failed, 2 on bad
 * usage. With `--shard I/N` (or `auto`) it runs its 1/N of the tasks and writes a shard
 * file instead, for `quiescelab merge` (cli/merge.ts).
 */

import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { AppId, GuestOsId, ToolsId } from '../core/hypervisor-port.js';
import { APP_IDS, GUEST_OS_IDS, TOOLS_IDS } from '../core/hypervisor-port.js';
import type { CellResult, MutantOutcome } from '../core/results.js';
import { selectCells, type Cell, type CellFilter } from '../scenarios/cells.js';
import { findMutant } from '../scenarios/mutants/index.js';
import { oneLine, oneLineErrors, parseIdList, parseIntOption, quote, UsageError } from './errors.js';
import { addEngineOptions, parseEngineCmd, probeEngine, type EngineCmd, type EngineCmdOptions } from './engine-option.js';
import { matrixResultsOf, writeMatrixOutputs } from './matrix-output.js';
import { matrixTasks, mutantTasks, runShard, selectionOf, shardFileName, shardTaskIndexes } from './matrix-shard.js';
import { checkOutDir, checkOutputFile, claimOutDir } from './output.js';
import { PoolTaskError, runTasksInPool, type PoolResult, type PoolTask } from './pool.js';
import { progressReporter } from './progress.js';
import { parseShard, shardFromEnv, type ShardSpec } from './shard.js';

/**
 * `npm start`'s runs per cell and per mutant: the quick default (README "The quick
 * default"). 10 runs reach every stratum of the suites (runs 0-9: the plain job, policy
 * off, require + copy, each kind of log boundary, a P11 twin); every mutant's first
 * failing run was 0 to 8 (cbt-off-by-one: 8), so 10 runs per mutant kill all 41 on their
 * first cell. `--runs 100` is the thorough setting.
 */
export const DEFAULT_RUNS = '10';
export const DEFAULT_MUTANT_RUNS = '10';

interface MatrixOptions extends EngineCmdOptions {
  readonly runs: string;
  readonly seed: string;
  readonly out: string;
  readonly json?: string;
  readonly junit?: string;
  readonly os?: string;
  readonly tools?: string;
  readonly apps?: string;
  readonly workers?: string;
  readonly mutant?: string;
  readonly mutants: boolean;
  readonly mutantRuns: string;
  readonly shard?: string;
  readonly shardCount?: string;
}

interface MatrixPlan {
  readonly runsPerCell: number;
  readonly seed: number;
  readonly workers: number;
  readonly mutant: string | null;
  /** `--engine-cmd`: the engine process each worker starts (null: the built-in engine). */
  readonly engine: EngineCmd | null;
  readonly filter: CellFilter;
  readonly cells: readonly Cell[];
  readonly mutantRuns: number;
  readonly hunts: PoolTask[] | null;
  readonly outDir: string;
  readonly json: string | undefined;
  readonly junit: string | undefined;
  /** `--shard`: this run's shard and, for `auto`, the line saying what the environment gave. */
  readonly shard: { readonly spec: ShardSpec; readonly found: string | null } | null;
}

/** `--shard I/N | auto` and `--shard-count N`; a shard writes its part only (no --junit). */
function shardOption(options: MatrixOptions): MatrixPlan['shard'] {
  if (options.shardCount !== undefined && options.shard?.trim() !== 'auto') throw new UsageError('--shard-count: only with --shard auto (a Kubernetes Indexed Job gives the index, not the count)');
  if (options.shard === undefined) return null;
  if (options.shard.trim() === 'auto') {
    const { spec, found } = shardFromEnv(process.env, options.shardCount);
    return { spec, found };
  }
  return { spec: parseShard(options.shard), found: null };
}

/** Every option checked, and every output path, before anything is created or run (a long matrix must not fail at its end). */
function matrixPlan(options: MatrixOptions): MatrixPlan {
  const runsPerCell = parseIntOption('--runs', options.runs, 1, 100_000);
  const seed = parseIntOption('--seed', options.seed, 0, 0x7fffffff);
  const workers = options.workers === undefined ? availableParallelism() : parseIntOption('--workers', options.workers, 1, 64);
  const filter = {
    ...withDefined('os', parseIdList<GuestOsId>('--os', options.os, GUEST_OS_IDS)),
    ...withDefined('tools', parseIdList<ToolsId>('--tools', options.tools, TOOLS_IDS)),
    ...withDefined('apps', parseIdList<AppId>('--apps', options.apps, APP_IDS)),
  };
  const mutant = options.mutant ?? null;
  if (mutant !== null && findMutant(mutant) === undefined) throw new UsageError(`--mutant: unknown mutant ${quote(mutant)} (see quiescelab list mutants)`);
  const engine = parseEngineCmd(options);
  const cells = selectCells(filter);
  if (cells.length === 0) throw new UsageError('--os/--tools/--apps: no cell of the matrix matches this filter');
  const mutantRuns = parseIntOption('--mutant-runs', options.mutantRuns, 1, 10_000);
  const hunts = mutant === null && options.mutants ? mutantTasks(cells, mutantRuns) : null;
  const shard = shardOption(options);
  if (shard !== null && options.junit !== undefined) throw new UsageError('--junit: a shard writes its part only; give --junit to quiescelab merge');
  // A shard told where its part goes (--json) writes nothing under --out.
  const outDir = shard !== null && options.json !== undefined ? resolve(options.out) : checkOutDir(options.out, '--out');
  const json = options.json === undefined ? undefined : checkOutputFile(options.json, '--json', shard === null ? outDir : undefined);
  const junit = options.junit === undefined ? undefined : checkOutputFile(options.junit, '--junit', outDir);
  if (json !== undefined && json === junit) throw new UsageError(`--json and --junit: both name '${json}'`);
  return { runsPerCell, seed, workers, mutant, engine, filter, cells, mutantRuns, hunts, outDir, json, junit, shard };
}

/** The pool's results, or null when a task threw (said on stderr, exit 1). */
async function runPool(tasks: readonly PoolTask[], options: Parameters<typeof runTasksInPool>[1]): Promise<PoolResult[] | null> {
  try {
    return await runTasksInPool(tasks, options);
  } catch (e) {
    if (!(e instanceof PoolTaskError)) throw e;
    process.stderr.write(`quiescelab: ${e.task?.kind === 'cell' ? `cell ${e.task.cellId}: ` : ''}${oneLine(e.message)}\n`);
    process.exitCode = 1;
    return null;
  }
}

/** Runs the plan's tasks (all, or its shard's) and writes what matrix writes (or the shard file). */
async function runMatrixPlan(plan: MatrixPlan): Promise<void> {
  const { runsPerCell, seed, workers, mutant, engine, cells, mutantRuns, outDir } = plan;
  let hunts = plan.hunts;
  if (plan.shard?.found != null) process.stderr.write(`quiescelab: --shard auto: ${plan.shard.found}\n`);
  // The engine process answers once before anything is written (its name goes in results.json).
  const info = engine === null ? null : await probeEngine(engine, mutant, seed);
  // The hunt runs through the engine process when it serves the mutants (the built-in engine-stdio does).
  if (info !== null && hunts !== null && !info.capabilities.includes('mutants')) {
    process.stderr.write(`quiescelab: the engine '${info.name}' does not declare 'mutants': no mutant hunt\n`);
    hunts = null;
  }
  const engineName = info?.name ?? mutant ?? 'quiescelab';
  const tasks = matrixTasks(cells, hunts);
  const shard = plan.shard?.spec ?? null;
  const mine = shard === null ? null : shardTaskIndexes(tasks, runsPerCell, shard);
  const path = shard === null ? undefined : plan.json ?? join(outDir, shardFileName(shard));
  if (shard === null || plan.json === undefined) claimOutDir(outDir, '--out');
  const shown = mine === null ? tasks : mine.map((i) => tasks[i] as PoolTask);
  const progress = progressReporter(`${shown.filter((t) => t.kind === 'cell').length} cells x ${runsPerCell} runs${hunts === null ? '' : `, ${shown.filter((t) => t.kind === 'mutant').length} mutants`}${shard === null ? '' : ` (shard ${shard.index}/${shard.count})`}`);
  const pool = (list: readonly PoolTask[]): Promise<PoolResult[] | null> => runPool(list, { runs: runsPerCell, seed, mutant, engine, workers, onProgress: progress.update });
  if (shard !== null && mine !== null && path !== undefined) {
    const selection = selectionOf(plan.filter, mutant, hunts !== null);
    await runShard({ shard, seed, runs: runsPerCell, mutantRuns: hunts === null ? null : mutantRuns, selection, engine: { name: engineName, command: engine === null ? null : [...engine.argv] }, path, option: plan.json === undefined ? '--out' : '--json' }, tasks, mine, pool);
    progress.done();
    return;
  }
  const done = await pool(tasks);
  progress.done();
  if (done === null) return;
  const huntCount = hunts?.length ?? 0;
  const results = matrixResultsOf({ seed, runsPerCell, mutant, engineName, mutantRuns: hunts === null ? null : mutantRuns }, done.slice(0, huntCount) as MutantOutcome[], done.slice(huntCount) as CellResult[]);
  writeMatrixOutputs(results, { outDir, json: plan.json, junit: plan.junit });
}

export function registerMatrix(program: Command): void {
  const command = oneLineErrors(program.command('matrix'))
    .description('run the consistency matrix (every OS x Tools x app x condition cell, N runs each) and write the report')
    .option('--runs <n>', `runs per cell (--runs 100: the thorough setting)`, DEFAULT_RUNS)
    .option('--seed <n>', 'seed of the whole run', '1')
    .option('--os <ids>', 'only these guest OSes (comma list)')
    .option('--tools <ids>', 'only these Tools generations (comma list)')
    .option('--apps <ids>', 'only these applications (comma list)')
    .option('--out <dir>', 'report folder (new, empty, or a report folder quiescelab wrote)', 'report')
    .option('--json <file>', 'also write results.json to this file (with --shard: the shard file goes here instead of --out)')
    .option('--junit <file>', 'also write JUnit XML (a testcase per cell x property) to this file')
    .option('--workers <n>', 'worker threads (default: the cores)')
    .option('--mutant <id>', 'run against an engine mutant instead of quiescelab\'s engine')
    .option('--mutant-runs <n>', 'runs per cell of each mutant hunted with the matrix', DEFAULT_MUTANT_RUNS)
    .option('--no-mutants', 'leave out the mutant hunt (it runs on the selected cells of each mutant)')
    .option('--shard <i/n|auto>', 'run shard I of N of the work (balanced by cost) and write its part (DIR/shard-I-of-N.json) for quiescelab merge; auto: from JOB_COMPLETION_INDEX or CI_NODE_INDEX/CI_NODE_TOTAL')
    .option('--shard-count <n>', 'with --shard auto under a Kubernetes Indexed Job: the number of shards (else QUIESCELAB_SHARD_COUNT)');
  addEngineOptions(command)
    .action(async (options: MatrixOptions) => {
      await runMatrixPlan(matrixPlan(options));
    });
}

function withDefined<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}
