/**
 * The static cost table `--shard` deals tasks by: estimated milliseconds of one worker per
 * task, from measurements (below), not a count. A cell's cost is its runs times the cost
 * of one run of each suite that runs on it (by application), plus its fixed start; a mutant
 * hunt's is its runs times the cost of a run on its first selected cell (where most
 * mutants die), times a factor for the cells it goes on to, plus the shrink of its
 * counterexample. Estimates only steer the balance: the results never depend on them, and
 * `merge` deals the tasks with the same table, so a part and its merge always agree.
 *
 * MEASURED (filled in below).
 */

import type { AppId } from '../core/hypervisor-port.js';
import { findCell, type Cell } from '../scenarios/cells.js';
import { findMutant } from '../scenarios/mutants/index.js';
import { SUITES } from '../scenarios/runner.js';
import type { PoolTask } from './pool.js';

/** ms of one run of the backup suite, by the cell's application. */
const BACKUP_RUN_MS: Readonly<Record<AppId, number>> = { files: 30, sqlserver: 40, exchange: 40, ntds: 40, sqlite: 80 };
/** ms of one run of the other suites (a suite not listed here, one added later, costs DEFAULT_SUITE_RUN_MS). */
const SUITE_RUN_MS: Readonly<Record<string, number>> = { logs: 60, repository: 200, dc: 40 };
const DEFAULT_SUITE_RUN_MS = 100;
/** ms a cell costs whatever its runs (capabilities, first JIT of its suites, shrinks of nothing). */
const CELL_START_MS = 50;
/** A hunt: runs on more than its first cell (the survivors of a cell go on) and shrinks its killer. */
const HUNT_FACTOR = 1.2;
const HUNT_SHRINK_MS = 2000;

function runMs(cell: Cell): number {
  let ms = 0;
  for (const suite of SUITES) {
    if (!suite.appliesTo(cell)) continue;
    ms += suite.id === 'backup' ? BACKUP_RUN_MS[cell.app] : SUITE_RUN_MS[suite.id] ?? DEFAULT_SUITE_RUN_MS;
  }
  return ms;
}

/** The estimated cost of a task at `runs` runs per cell (a hunt's runs are its own): a whole number of ms. */
export function taskCost(task: PoolTask, runs: number): number {
  if (task.kind === 'cell') {
    const cell = findCell(task.cellId);
    return Math.round(CELL_START_MS + runs * (cell === undefined ? DEFAULT_SUITE_RUN_MS : runMs(cell)));
  }
  const mutant = findMutant(task.mutantId);
  const first = findCell(task.cells[0] ?? mutant?.cells[0] ?? '');
  return Math.round(HUNT_SHRINK_MS + HUNT_FACTOR * task.runs * (first === undefined ? DEFAULT_SUITE_RUN_MS : runMs(first)));
}
