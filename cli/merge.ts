/**
 * `quiescelab merge PART... --out DIR [--json FILE] [--junit FILE]`: the parts a matrix run
 * split with `--shard I/N` wrote, put together into what the unsharded run writes — the
 * report folder, results.json, JUnit, the tables on stdout and the exit code — byte for
 * byte. Each part is checked before anything is written: a file that is not a shard file,
 * a part of another run (seed, version, runs, selection, engine), a shard given twice or
 * one missing is one line naming the file (or the shard) and what differs, exit 2.
 */

import type { Command } from 'commander';
import type { CellResult, MutantOutcome } from '../core/results.js';
import { schemaProblem } from '../reports/results-check.js';
import { oneLineErrors, UsageError } from './errors.js';
import { matrixResultsOf, writeMatrixOutputs } from './matrix-output.js';
import { selectionTasks, shardTaskIndexes } from './matrix-shard.js';
import { checkOutDir, checkOutputFile, claimOutDir } from './output.js';
import type { PoolResult } from './pool.js';
import { readShardFile, SHARED_FIELDS, showField, type ShardFile } from './shard-file.js';
import { taskId } from './shard.js';
import { VERSION } from './version.js';

/** Every part is of this quiescelab and of one run, each shard once, none missing; returns them by shard index. */
function checkParts(files: readonly string[], parts: readonly ShardFile[]): Map<number, { file: string; part: ShardFile }> {
  const first = parts[0] as ShardFile;
  const firstFile = files[0] as string;
  const byIndex = new Map<number, { file: string; part: ShardFile }>();
  parts.forEach((part, k) => {
    const file = files[k] as string;
    if (part.version !== VERSION) throw new UsageError(`${file}: written by quiescelab ${part.version}; this is quiescelab ${VERSION} (merge with the version that ran the shards)`);
    for (const field of SHARED_FIELDS) {
      const mine = JSON.stringify(field.of(part));
      const theirs = JSON.stringify(field.of(first));
      if (mine !== theirs) throw new UsageError(`${file}: foreign shard: ${field.name} ${showField(field.of(part))}, but ${firstFile} has ${field.name} ${showField(field.of(first))}`);
    }
    const twin = byIndex.get(part.shard.index);
    if (twin !== undefined) throw new UsageError(`${file}: duplicated shard: shard ${part.shard.index}/${part.shard.count} is also ${twin.file}`);
    byIndex.set(part.shard.index, { file, part });
  });
  const count = first.shard.count;
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((i) => !byIndex.has(i));
  if (missing.length > 0) {
    const given = [...byIndex.keys()].sort((a, b) => a - b).map((i) => `${i}/${count}`).join(', ');
    throw new UsageError(`missing shard${missing.length === 1 ? '' : 's'}: ${missing.map((i) => `${i}/${count}`).join(', ')} of this run (given: ${given})`);
  }
  return byIndex;
}

/** The results in task order, each part holding exactly the tasks the plan deals its shard, each result of its task and well formed. */
function resultsInTaskOrder(byIndex: ReadonlyMap<number, { file: string; part: ShardFile }>, first: ShardFile): PoolResult[] {
  const { tasks } = selectionTasks(first.selection, first.mutantRuns);
  const results = new Array<PoolResult | undefined>(tasks.length).fill(undefined);
  for (const [index, { file, part }] of byIndex) {
    const mine = shardTaskIndexes(tasks, first.runs, { index, count: first.shard.count });
    const expected = mine.map((i) => taskId(tasks[i] as (typeof tasks)[number]));
    if (JSON.stringify(expected) !== JSON.stringify(part.tasks)) {
      throw new UsageError(`${file}: its tasks are not shard ${index}/${first.shard.count}'s of this selection (${part.tasks.length} tasks, the plan deals ${expected.length}): a part of another plan, or edited`);
    }
    mine.forEach((i, k) => {
      const result = part.results[k] as PoolResult;
      const want = taskId(tasks[i] as (typeof tasks)[number]);
      if (`${'killed' in result ? 'mutant' : 'cell'}:${result.id}` !== want) throw new UsageError(`${file}: malformed shard file: results[${k}] is not the result of ${want}`);
      results[i] = result;
    });
    const problem = schemaProblem(matrixResultsOf(headerOf(first), part.results.filter((r): r is MutantOutcome => 'killed' in r), part.results.filter((r): r is CellResult => !('killed' in r))));
    if (problem !== null) throw new UsageError(`${file}: malformed shard file: ${problem}`);
  }
  return results as PoolResult[];
}

function headerOf(part: ShardFile): Parameters<typeof matrixResultsOf>[0] {
  return { seed: part.seed, runsPerCell: part.runs, mutant: part.selection.mutant, engineName: part.engine.name, mutantRuns: part.selection.hunt ? part.mutantRuns : null };
}

export function registerMerge(program: Command): void {
  oneLineErrors(program.command('merge'))
    .description('put together the parts of a matrix run split with --shard I/N: the report, results.json and JUnit, as the unsharded run writes them')
    .argument('<parts...>', 'the shard files (shard-I-of-N.json), one per shard, in any order')
    .option('--out <dir>', 'report folder (new, empty, or a report folder quiescelab wrote)', 'report')
    .option('--json <file>', 'also write results.json to this file')
    .option('--junit <file>', 'also write JUnit XML (a testcase per cell x property) to this file')
    .action((files: string[], options: { out: string; json?: string; junit?: string }) => {
      const outDir = checkOutDir(options.out, '--out');
      const json = options.json === undefined ? undefined : checkOutputFile(options.json, '--json', outDir);
      const junit = options.junit === undefined ? undefined : checkOutputFile(options.junit, '--junit', outDir);
      if (json !== undefined && json === junit) throw new UsageError(`--json and --junit: both name '${json}'`);
      const parts = files.map(readShardFile);
      const byIndex = checkParts(files, parts);
      const first = parts[0] as ShardFile;
      const results = resultsInTaskOrder(byIndex, first);
      const merged = matrixResultsOf(headerOf(first), results.filter((r): r is MutantOutcome => 'killed' in r), results.filter((r): r is CellResult => !('killed' in r)));
      claimOutDir(outDir, '--out');
      writeMatrixOutputs(merged, { outDir, json, junit });
    });
}
