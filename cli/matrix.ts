/**
 * `quiescelab matrix`: the main job (`npm start`). Every selected cell of the consistency
 * matrix (OS x Tools x app x condition), N runs each, on worker threads; writes
 * results.json and index.html under --out (and --json FILE), prints a summary table and
 * the report's path. Exit 0 when every cell passes, 1 when a property failed, 2 on bad
 * usage.
 */

import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { AppId, GuestOsId, ToolsId } from '../core/hypervisor-port.js';
import { APP_IDS, GUEST_OS_IDS, TOOLS_IDS } from '../core/hypervisor-port.js';
import type { CellResult, MatrixResults, MutantOutcome } from '../core/results.js';
import { cellId, selectCells, type Cell } from '../scenarios/cells.js';
import { renderJunit } from '../reports/junit.js';
import { assembleResults } from '../scenarios/matrix-run.js';
import { mutantsResults } from '../scenarios/mutants/hunt.js';
import { findMutant, MUTANTS } from '../scenarios/mutants/index.js';
import { oneLine, oneLineErrors, parseIdList, parseIntOption, quote, UsageError } from './errors.js';
import { addEngineOptions, parseEngineCmd, probeEngine, type EngineCmd, type EngineCmdOptions } from './engine-option.js';
import { checkOutDir, checkOutputFile, claimOutDir, writeOutput } from './output.js';
import { PoolTaskError, runTasksInPool, type PoolResult, type PoolTask } from './pool.js';
import { mutantTable } from './tables.js';
import { writeReportTo } from './report.js';
import { progressReporter } from './progress.js';
import { VERSION } from './version.js';

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
}

function summaryTable(results: MatrixResults): string {
  const lines = results.cells.map((cell) => {
    const achieved = Object.entries(cell.achieved).map(([level, n]) => `${level}:${n}`).join(' ') || '-';
    const failed = cell.properties.filter((p) => !p.pass && p.status !== 'not-applicable').map((p) => (p.status === 'not-exercised' ? `${p.id} (not exercised)` : p.id)).join(',');
    const na = cell.properties.filter((p) => p.status === 'not-applicable').map((p) => p.id).join(',');
    return `${cell.pass ? 'pass' : 'FAIL'}  ${cell.id.padEnd(38)} expected ${cell.expected.padEnd(12)} achieved ${achieved}${failed === '' ? '' : `  failed: ${failed}`}${na === '' ? '' : `  not applicable: ${na}`}`;
  });
  const s = results.summary;
  lines.push(`${s.passed}/${s.cells} cells pass, ${results.runsPerCell} runs per cell, seed ${results.seed}, engine ${results.engine}`);
  const naCells = results.cells.filter((c) => c.properties.some((p) => p.status === 'not-applicable')).length;
  if (naCells > 0) lines.push(`${naCells} cell${naCells === 1 ? '' : 's'} with properties not applicable: the engine does not declare what they need (see the report)`);
  return lines.join('\n');
}

interface MatrixPlan {
  readonly runsPerCell: number;
  readonly seed: number;
  readonly workers: number;
  readonly mutant: string | null;
  /** `--engine-cmd`: the engine process each worker starts (null: the built-in engine). */
  readonly engine: EngineCmd | null;
  readonly cells: readonly Cell[];
  readonly mutantRuns: number;
  readonly hunts: PoolTask[] | null;
  readonly outDir: string;
  readonly json: string | undefined;
  readonly junit: string | undefined;
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
  const outDir = checkOutDir(options.out, '--out');
  const json = options.json === undefined ? undefined : checkOutputFile(options.json, '--json', outDir);
  const junit = options.junit === undefined ? undefined : checkOutputFile(options.junit, '--junit', outDir);
  if (json !== undefined && json === junit) throw new UsageError(`--json and --junit: both name '${json}'`);
  return { runsPerCell, seed, workers, mutant, engine, cells, mutantRuns, hunts, outDir, json, junit };
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

export function registerMatrix(program: Command): void {
  const command = oneLineErrors(program.command('matrix'))
    .description('run the consistency matrix (every OS x Tools x app x condition cell, N runs each) and write the report')
    .option('--runs <n>', 'runs per cell', '100')
    .option('--seed <n>', 'seed of the whole run', '1')
    .option('--os <ids>', 'only these guest OSes (comma list)')
    .option('--tools <ids>', 'only these Tools generations (comma list)')
    .option('--apps <ids>', 'only these applications (comma list)')
    .option('--out <dir>', 'report folder (new, empty, or a report folder quiescelab wrote)', 'report')
    .option('--json <file>', 'also write results.json to this file')
    .option('--junit <file>', 'also write JUnit XML (a testcase per cell x property) to this file')
    .option('--workers <n>', 'worker threads (default: the cores)')
    .option('--mutant <id>', 'run against an engine mutant instead of quiescelab\'s engine')
    .option('--mutant-runs <n>', 'runs per cell of each mutant hunted with the matrix', '20')
    .option('--no-mutants', 'leave out the mutant hunt (it runs on the selected cells of each mutant)');
  addEngineOptions(command)
    .action(async (options: MatrixOptions) => {
      const plan = matrixPlan(options);
      const { runsPerCell, seed, workers, mutant, engine, cells, mutantRuns, outDir, json: jsonPath, junit } = plan;
      let hunts = plan.hunts;
      // The engine process answers once before anything is written (its name goes in results.json).
      const info = engine === null ? null : await probeEngine(engine, mutant, seed);
      // The hunt runs through the engine process when it serves the mutants (the built-in engine-stdio does).
      if (info !== null && hunts !== null && !info.capabilities.includes('mutants')) {
        process.stderr.write(`quiescelab: the engine '${info.name}' does not declare 'mutants': no mutant hunt\n`);
        hunts = null;
      }
      claimOutDir(outDir, '--out');
      const progress = progressReporter(`${cells.length} cells x ${runsPerCell} runs${hunts === null ? '' : `, ${hunts.length} mutants`}`);
      // The hunts first: they are the longest tasks, so both workers end together.
      const tasks: PoolTask[] = [...hunts ?? [], ...cells.map((c): PoolTask => ({ kind: 'cell', cellId: cellId(c) }))];
      const done = await runPool(tasks, { runs: runsPerCell, seed, mutant, engine, workers, onProgress: progress.update });
      progress.done();
      if (done === null) return;
      const huntCount = hunts?.length ?? 0;
      const mutants = hunts === null ? null : mutantsResults(mutantRuns, done.slice(0, huntCount) as MutantOutcome[]);
      const assembled = assembleResults({ version: VERSION, seed, runsPerCell, mutant }, done.slice(huntCount) as CellResult[], mutants);
      const results = info === null ? assembled : { ...assembled, engine: info.name };
      const json = JSON.stringify(results, null, 2) + '\n';
      writeOutput(join(outDir, 'results.json'), json, '--out');
      writeReportTo(results, outDir, '--out');
      if (jsonPath !== undefined) writeOutput(jsonPath, json, '--json');
      if (junit !== undefined) writeOutput(junit, renderJunit(results), '--junit');
      process.stdout.write(`${summaryTable(results)}\n${mutants === null ? '' : `${mutantTable(mutants.results)}\n`}report: ${join(outDir, 'index.html')}\n`);
      process.exitCode = results.summary.failed === 0 && (mutants?.survived ?? 0) === 0 ? 0 : 1;
    });
}

/** The hunt of every mutant with a cell in the selection, on those of its cells. */
function mutantTasks(cells: readonly Cell[], runs: number): PoolTask[] {
  const selected = new Set(cells.map(cellId));
  return MUTANTS.map((m): PoolTask => ({ kind: 'mutant', mutantId: m.id, runs, cells: m.cells.filter((c) => selected.has(c)) }))
    .filter((t) => t.kind === 'mutant' && t.cells.length > 0);
}

function withDefined<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}
