/**
 * What `matrix` and `merge` write and print at the end, the same way: results.json and the
 * HTML report under --out, --json and --junit, the summary table, the mutant table and the
 * report's path on stdout, and the exit code (0 every cell passed and every mutant was
 * killed, else 1). One function for both, so a merge of shards is the unsharded run's output.
 */

import { join } from 'node:path';
import type { CellResult, MatrixResults, MutantOutcome } from '../core/results.js';
import { renderJunit } from '../reports/junit.js';
import { assembleResults } from '../scenarios/matrix-run.js';
import { mutantsResults } from '../scenarios/mutants/hunt.js';
import { writeOutput } from './output.js';
import { writeReportTo } from './report.js';
import { mutantTable } from './tables.js';
import { VERSION } from './version.js';

export function summaryTable(results: MatrixResults): string {
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

/** The run a results.json describes, beside its task results. */
export interface MatrixRunHeader {
  readonly seed: number;
  readonly runsPerCell: number;
  readonly mutant: string | null;
  /** The engine's name in results.json (the name an --engine-cmd engine gave, else the mutant's id or 'quiescelab'). */
  readonly engineName: string;
  /** Runs per cell of each mutant, or null when the hunt did not run. */
  readonly mutantRuns: number | null;
}

/** results.json's object from the task results (the hunts' outcomes, then the cells, in task order). */
export function matrixResultsOf(run: MatrixRunHeader, outcomes: readonly MutantOutcome[], cells: readonly CellResult[]): MatrixResults {
  const mutants = run.mutantRuns === null ? null : mutantsResults(run.mutantRuns, outcomes);
  const assembled = assembleResults({ version: VERSION, seed: run.seed, runsPerCell: run.runsPerCell, mutant: run.mutant }, cells, mutants);
  // Replacing the value keeps the key where assembleResults put it: the same bytes as before.
  return { ...assembled, engine: run.engineName };
}

export interface MatrixOutputs {
  readonly outDir: string;
  readonly json: string | undefined;
  readonly junit: string | undefined;
}

/** Writes results.json, the report, --json and --junit; prints the tables and the report's path; sets the exit code. */
export function writeMatrixOutputs(results: MatrixResults, out: MatrixOutputs): void {
  const json = JSON.stringify(results, null, 2) + '\n';
  writeOutput(join(out.outDir, 'results.json'), json, '--out');
  writeReportTo(results, out.outDir, '--out');
  if (out.json !== undefined) writeOutput(out.json, json, '--json');
  if (out.junit !== undefined) writeOutput(out.junit, renderJunit(results), '--junit');
  const mutants = results.mutants;
  process.stdout.write(`${summaryTable(results)}\n${mutants === null ? '' : `${mutantTable(mutants.results)}\n`}report: ${join(out.outDir, 'index.html')}\n`);
  process.exitCode = results.summary.failed === 0 && (mutants?.survived ?? 0) === 0 ? 0 : 1;
}
