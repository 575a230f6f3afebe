/**
 * The static cost table `--shard` deals tasks by: estimated milliseconds of one worker per
 * task, from measurements, not a count. A cell's cost is its runs times the cost of one run
 * of each suite that runs on it (the backup suite's by application), plus a fixed start; a
 * mutant hunt's is the cost of a run on its first selected cell (where every mutant died
 * in the measurement) times its runs plus the extra its shrink took, in runs of that cell.
 * Estimates only steer the balance: the results never depend on them, and `merge` deals
 * the tasks with the same table, so a part and its merge always agree.
 *
 * Measured 2026-12-07 (commit 6323bef) with every task of the default matrix, --runs 10
 * --mutant-runs 10, seed 1, 2 worker threads, each task's wall time in its worker
 * (the pool's onTaskDone), on the 2-core machine while another engineer's matrix also ran
 * (load average 7 to 13: every figure is ~5-10x an idle machine's, but alike for all
 * tasks, and only the ratios matter here). Mean ms per run, per cell kind (cells):
 *   files backup 768 (34), exchange backup 890 (20), sqlserver backup 1016 (165),
 *   sqlite backup 1046 (37), ntds backup+dc 1055 (20), sqlserver backup+logs 1304 (26),
 *   sqlite backup+logs 1315 (1), files backup+repository 2048 (1),
 *   sqlserver backup+logs+repository 3602 (1).
 * Hence the backup suite by app, logs +280, dc +150, repository +1800 (the two cells
 * disagree: 1280 and 2300). The cells' total was 3122 s, the 41 hunts' 1927 s (38% of the
 * work: a hunt is never cheap to leave out of the balance), from 11 s (leaks-crash-snapshots)
 * to 383 s (cbt-off-by-one, whose P2 counterexample shrinks long). A suite or mutant the
 * table does not know (added later) costs DEFAULT_SUITE_RUN_MS per run / DEFAULT_SHRINK_RUNS.
 */

import type { AppId } from '../core/hypervisor-port.js';
import { findCell, type Cell } from '../scenarios/cells.js';
import { SUITES } from '../scenarios/runner.js';
import type { PoolTask } from './pool.js';

/** ms of one run of the backup suite, by the cell's application. */
const BACKUP_RUN_MS: Readonly<Record<AppId, number>> = { files: 770, sqlserver: 1020, exchange: 890, ntds: 900, sqlite: 1050 };
/** ms of one run of the other suites (a suite not listed here, one added later, costs DEFAULT_SUITE_RUN_MS). */
// replication and group: measured in their own tests on the shared machine (issue 17), per run: replication 340-970 ms
// (other files 340, win2019 sqlserver 475, linux sqlite 970), group 175-318 ms.
const SUITE_RUN_MS: Readonly<Record<string, number>> = { logs: 280, repository: 1800, dc: 150, replication: 600, group: 300 };
const DEFAULT_SUITE_RUN_MS = 1000;
/** ms a cell costs whatever its runs (the capabilities session, its first scenarios' warm-up): a guess, not measured apart. */
const CELL_START_MS = 500;
/**
 * A hunt's measured time beyond its 10 runs, in runs of its first cell (its shrink, and
 * the timing noise of a loaded machine: 0 where the hunt took less than 10 cell runs).
 */
const SHRINK_RUNS: Readonly<Record<string, number>> = {
  'no-quiesce': 0, 'reads-live-disk': 32, 'cbt-off-by-one': 83, 'cbt-skips-last-area': 27, 'snapshot-removed-early': 0, 'ignores-writer-failure': 0,
  'claims-app-without-writer': 4, 'leaks-crash-snapshots': 4, 'restore-drops-last-extent': 0, 'trusts-sync-only': 19, 'false-fallback': 0,
  'claims-crash-after-freeze': 0, 'vm-restore-skips-extents': 0, 'cbt-first-page-only': 15, 'disks-read-apart': 18, 'require-falls-back': 9,
  'cbt-reset-keeps-parent': 5, 'no-removal-retry': 0, 'copy-only-truncates': 0, 'no-backup-complete': 4, 'failed-backup-leaks-snapshot': 0,
  'ignores-late-writer-failure': 0, 'orphans-kept': 0, 'rollforward-one-past-target': 0, 'chain-ignores-gap': 0, 'late-after-overrun': 3,
  'rollforward-boundary-exclusive': 0, 'sqlite-base-instant-refused': 0, 'repo-log-reopen-hides-blobless': 1, 'wal-round-fails-quietly': 0,
  'manifest-before-packs': 2, 'success-before-durable': 1, 'verify-skips-pack-data': 0, 'prune-drops-shared-chunks': 0, 'repair-drops-intact-chunks': 0,
  'restore-keeps-generation-id': 9, 'incremental-skips-zeroed-areas': 11, 'file-restore-drops-last-block': 0, 'item-restore-stale-page': 0,
  'mail-item-wrong-mailbox': 0, 'session-state-leaks': 2,
};
const DEFAULT_SHRINK_RUNS = 5;

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
  const first = findCell(task.cells[0] ?? '');
  const perRun = first === undefined ? DEFAULT_SUITE_RUN_MS : runMs(first);
  return Math.round(CELL_START_MS + perRun * (task.runs + (SHRINK_RUNS[task.mutantId] ?? DEFAULT_SHRINK_RUNS)));
}
