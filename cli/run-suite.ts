/**
 * `quiescelab run --suite ID` for a suite other than the backup suite: one run of it on each
 * selected cell (scenarios/run-suite-one.ts), printed as its spec, its timeline and every
 * property's verdict. Exit 0 when every property holds, 1 when one fails.
 */

import { cellId, type Cell } from '../scenarios/cells.js';
import type { Engine } from '../scenarios/engine-api.js';
import { runSuiteOnce, type SuiteRun } from '../scenarios/run-suite-one.js';
import type { AnySuite } from '../scenarios/suites/suite.js';
import { SUITES } from '../scenarios/runner.js';
import { timelineText } from '../reports/timeline-text.js';
import { prepareDefaultApps } from '../sim/hypervisor/default-apps.js';
import { parseIntOption, quote, UsageError } from './errors.js';
import { writeOutput } from './output.js';

/** The suite `--suite` names (`backup` is run.ts's own path); a usage error for an unknown one or a cell it does not apply to. */
export function suiteFor(id: string, cells: readonly Cell[], options: { readonly fault: string; readonly export?: string | undefined; readonly run?: string | undefined }): AnySuite {
  suiteRunIndex(options);
  if (options.fault !== 'none') throw new UsageError(`--fault: goes with --suite backup only (the ${id} suite draws its own faults)`);
  if (options.export !== undefined) throw new UsageError('--export: goes with --suite backup only');
  const suite = SUITES.find((s) => s.id === id);
  if (suite === undefined) throw new UsageError(`--suite: unknown suite ${quote(id)} (known: ${SUITES.map((s) => s.id).join(', ')})`);
  for (const cell of cells) if (!suite.appliesTo(cell)) throw new UsageError(`--suite: suite ${quote(id)} does not run on cell ${cellId(cell)}`);
  return suite;
}

/** `--run`: the survey run whose stratum the spec takes (default 0). */
export function suiteRunIndex(options: { readonly run?: string | undefined }): number {
  return options.run === undefined ? 0 : parseIntOption('--run', options.run, 0, 1_000_000);
}

export function suiteReport(cell: Cell, run: SuiteRun): string {
  const failed = run.properties.some((p) => p.verdict.valid === false);
  return [
    `cell ${cellId(cell)}, suite ${run.suite}`,
    `scenario: ${JSON.stringify(run.spec)}`,
    'timeline:',
    timelineText(run.timeline),
    'properties:',
    ...run.properties.map((p) => `  ${p.id.padEnd(4)} ${p.name.padEnd(36)} ${p.verdict.valid === true ? 'holds' : p.verdict.valid === false ? 'FAILS' : 'unknown'} — ${p.verdict.evidence}`),
    `verdict: ${failed ? 'FAIL' : 'pass'}`,
  ].join('\n');
}

export async function runSuiteCells(suite: AnySuite, plan: { readonly cells: readonly Cell[]; readonly seed: number; readonly runIndex: number; readonly engine: Engine; readonly json: string | undefined }): Promise<void> {
  await prepareDefaultApps();
  const runs: { cell: string; run: SuiteRun }[] = [];
  let failed = false;
  for (const cell of plan.cells) {
    const run = await runSuiteOnce({ suite, cell, seed: plan.seed, runIndex: plan.runIndex, engine: plan.engine });
    process.stdout.write(`${suiteReport(cell, run)}\n`);
    failed ||= run.properties.some((p) => p.verdict.valid === false);
    runs.push({ cell: cellId(cell), run });
  }
  if (plan.json !== undefined) writeOutput(plan.json, JSON.stringify(runs, null, 2) + '\n', '--json');
  process.exitCode = failed ? 1 : 0;
}
