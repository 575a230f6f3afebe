/**
 * `quiescelab report RESULTS --out DIR`: renders the HTML report of a results.json (the
 * file `matrix` writes) into DIR and prints its path. A file that is missing, not JSON or
 * not a quiescelab results file is one line naming the file and the bad field, exit 2.
 */

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { MatrixResults } from '../core/results.js';
import { writeReport } from '../reports/html/report.js';
import { resultsProblem } from '../reports/results-check.js';
import { UsageError } from './errors.js';
import { ensureDir } from './output.js';

/** Reads and checks a results.json; every problem is a UsageError naming the file. */
export function readResults(file: string): MatrixResults {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`${file}: cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${file}: not JSON: ${(error as Error).message.replace(/\s+/g, ' ')}`);
  }
  const problem = resultsProblem(value);
  if (problem !== null) throw new UsageError(`${file}: not a quiescelab results file: ${problem}`);
  return value as MatrixResults;
}

/** Writes the report into `dir` (created level by level); a file system error is a usage error naming `option`. */
export function writeReportTo(results: MatrixResults, dir: string, option: string): { files: number; bytes: number } {
  ensureDir(dir, option);
  try {
    return writeReport(results, dir);
  } catch (error) {
    throw new UsageError(`${option}: cannot write the report into '${dir}': ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

export function registerReport(program: Command): void {
  program
    .command('report')
    .description('render the HTML report (heat map, cell pages, failure pages, mutants) of a results.json')
    .argument('<results>', 'a results.json written by quiescelab matrix')
    .option('--out <dir>', 'report folder', 'report')
    .action((file: string, options: { out: string }) => {
      const results = readResults(file);
      const outDir = resolve(options.out);
      const written = writeReportTo(results, outDir, '--out');
      process.stdout.write(`${written.files} files, ${(written.bytes / 1024).toFixed(0)} KiB\nreport: ${join(outDir, 'index.html')}\n`);
    });
}
