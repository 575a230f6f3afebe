/**
 * `quiescelab report RESULTS --out DIR`: renders the HTML report of a results.json (the
 * file `matrix` writes) into DIR and prints its path. A file that is missing, not JSON or
 * not a quiescelab results file is one line naming the file and the bad field, exit 2.
 */

import { join } from 'node:path';
import type { Command } from 'commander';
import type { MatrixResults } from '../core/results.js';
import { writeReport } from '../reports/html/report.js';
import { schemaProblem } from '../reports/results-check.js';
import { oneLineErrors, UsageError } from './errors.js';
import { checkOutDir, claimOutDir, readInputFile } from './output.js';

/** The largest results.json `report` reads (checked before it is opened: /dev/zero never ends). */
export const MAX_RESULTS_BYTES = 512 * 1024 * 1024;

/** Reads and checks a results.json against the schema; every problem is a UsageError naming the file. */
export function readResults(file: string): MatrixResults {
  if (file.trim() === '') throw new UsageError("RESULTS: expected a results.json, got ''");
  const bytes = readInputFile(file, MAX_RESULTS_BYTES, 'a results.json');
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new UsageError(`${file}: not JSON: ${(error as Error).message.replace(/\s+/g, ' ')}`);
  }
  const problem = schemaProblem(value);
  if (problem !== null) throw new UsageError(`${file}: not a quiescelab results file: ${problem}`);
  return value as MatrixResults;
}

/**
 * Writes the report into `dir`, which checkOutDir accepted before the work began: the
 * folder is made and marked first, so writeReport's removal of an earlier report's pages
 * only ever happens in a folder quiescelab wrote.
 */
export function writeReportTo(results: MatrixResults, dir: string, option: string): { files: number; bytes: number } {
  claimOutDir(dir, option);
  try {
    return writeReport(results, dir);
  } catch (error) {
    throw new UsageError(`${option}: cannot write the report into '${dir}': ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

export function registerReport(program: Command): void {
  oneLineErrors(program.command('report'))
    .description('render the HTML report (heat map, cell pages, failure pages, mutants) of a results.json')
    .argument('<results>', 'a results.json written by quiescelab matrix')
    .option('--out <dir>', 'report folder (new, empty, or a report folder quiescelab wrote)', 'report')
    .action((file: string, options: { out: string }) => {
      const outDir = checkOutDir(options.out, '--out');
      const results = readResults(file);
      const written = writeReportTo(results, outDir, '--out');
      process.stdout.write(`${written.files} files, ${(written.bytes / 1024).toFixed(0)} KiB\nreport: ${join(outDir, 'index.html')}\n`);
    });
}
