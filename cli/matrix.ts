/**
 * `quiescelab matrix`: the main job (`npm start`). Today it runs the storage crash matrix
 * (scenarios/storage-matrix.ts) and writes results.json and index.html under --out.
 */

import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { StorageMatrixResults } from '../core/storage-results.js';
import { renderStorageReport } from '../reports/storage-report.js';
import { runStorageMatrix } from '../scenarios/storage-matrix.js';
import { parseIntOption, UsageError } from './errors.js';
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

/**
 * Creates `dir` and its missing parents one level at a time: Node's recursive mkdirSync
 * spins forever on some virtual file systems (/proc), and a bad --out must be exit 2.
 */
function ensureDir(dir: string, option: string): void {
  const missing: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    assertDepth(missing.length);
    try {
      if (statSync(d).isDirectory()) break;
      throw new UsageError(`${option}: '${d}' exists and is not a folder`);
    } catch (error) {
      if (error instanceof UsageError) throw error;
      if (dirname(d) === d) break;
      missing.push(d);
    }
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
    } catch (error) {
      throw new UsageError(`${option}: cannot create '${d}': ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  }
}

function assertDepth(depth: number): void {
  if (depth > 256) throw new UsageError('--out: the path is more than 256 folders deep');
}

function writeOutput(path: string, text: string, what: string): void {
  try {
    writeFileSync(path, text);
  } catch (error) {
    throw new UsageError(`${what}: cannot write '${path}': ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

export function registerMatrix(program: Command): void {
  program
    .command('matrix')
    .description('run the matrix (today: the storage crash matrix) and write the report')
    .option('--runs <n>', 'runs per cell', '100')
    .option('--seed <n>', 'seed of the whole run', '1')
    .option('--out <dir>', 'report folder', 'report')
    .option('--json <file>', 'also write results.json to this file')
    .action((options: MatrixOptions) => {
      const runsPerCell = parseIntOption('--runs', options.runs, 1, 100_000);
      const seed = parseIntOption('--seed', options.seed, 0, 0xffffffff);
      const outDir = resolve(options.out);
      ensureDir(outDir, '--out');
      const results = runStorageMatrix({ seed, runsPerCell, version: VERSION });
      const json = JSON.stringify(results, null, 2) + '\n';
      writeOutput(join(outDir, 'results.json'), json, '--out');
      writeOutput(join(outDir, 'index.html'), renderStorageReport(results), '--out');
      if (options.json !== undefined) writeOutput(resolve(options.json), json, '--json');
      process.stdout.write(`${summaryTable(results)}\nreport: ${join(outDir, 'index.html')}\n`);
      process.exitCode = results.summary.failed === 0 ? 0 : 1;
    });
}
