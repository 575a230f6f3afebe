/**
 * `quiescelab storage-matrix`: the storage crash matrix (scenarios/storage-matrix.ts): the
 * file system and virtual disk under power loss, without guests' applications or the
 * engine; writes results.json and index.html under --out.
 */

import { join } from 'node:path';
import type { Command } from 'commander';
import type { StorageMatrixResults } from '../core/storage-results.js';
import { renderStorageReport } from '../reports/storage-report.js';
import { runStorageMatrix } from '../scenarios/storage-matrix.js';
import { oneLineErrors, parseIntOption } from './errors.js';
import { checkOutDir, checkOutputFile, claimOutDir, writeOutput } from './output.js';
import { VERSION } from './version.js';

interface MatrixOptions {
  readonly runs: string;
  readonly seed: string;
  readonly out: string;
  readonly json?: string;
}

function summaryTable(results: StorageMatrixResults): string {
  const lines = results.cells.map((cell) => {
    const achieved = Object.entries(cell.achieved).map(([level, n]) => `${level}:${n}`).join(' ');
    return `${cell.pass ? 'pass' : 'FAIL'}  ${cell.id.padEnd(50)} expected ${cell.expected.padEnd(12)} achieved ${achieved}`;
  });
  const s = results.summary;
  lines.push(`${s.passed}/${s.cells} cells pass, ${results.runsPerCell} runs per cell, seed ${results.seed}`);
  return lines.join('\n');
}

export function registerStorageMatrix(program: Command): void {
  oneLineErrors(program.command('storage-matrix'))
    .description('run the storage crash matrix (capture x disk cache x data mode) and write its report')
    .option('--runs <n>', 'runs per cell', '100')
    .option('--seed <n>', 'seed of the whole run', '1')
    .option('--out <dir>', 'report folder (new, empty, or a report folder quiescelab wrote)', 'report/storage')
    .option('--json <file>', 'also write results.json to this file')
    .action((options: MatrixOptions) => {
      const runsPerCell = parseIntOption('--runs', options.runs, 1, 100_000);
      const seed = parseIntOption('--seed', options.seed, 0, 0xffffffff);
      const outDir = checkOutDir(options.out, '--out');
      const jsonPath = options.json === undefined ? undefined : checkOutputFile(options.json, '--json', outDir);
      claimOutDir(outDir, '--out');
      const results = runStorageMatrix({ seed, runsPerCell, version: VERSION });
      const json = JSON.stringify(results, null, 2) + '\n';
      writeOutput(join(outDir, 'results.json'), json, '--out');
      writeOutput(join(outDir, 'index.html'), renderStorageReport(results), '--out');
      if (jsonPath !== undefined) writeOutput(jsonPath, json, '--json');
      process.stdout.write(`${summaryTable(results)}\nreport: ${join(outDir, 'index.html')}\n`);
      process.exitCode = results.summary.failed === 0 ? 0 : 1;
    });
}
