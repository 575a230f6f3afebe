/**
 * The logs suite: transaction-log backups and roll-forward (seed 003; seed 004's "no
 * roll-forward from a VSS snapshot alone"). Applies to the cells whose full backup is
 * application-consistent — SQL Server cells the oracle gives `application`, and SQLite
 * with the freeze script where it runs (Linux, Tools of 4.1 and later): log backups need
 * a successful application-aware full first, so the other cells have no chain to test.
 * The scenario (scenarios/scenario/logs-run.ts): the VM under workload, a full, log
 * backups or WAL shipping on the seed 003 schedule with an optional overrun and chain
 * break, then restores rolled forward to targets inside the chain and past the break.
 * Properties 6, 7 and 13.
 */

import { checkChainRefused } from '../checkers/chain-refused.js';
import { checkLogSchedule } from '../checkers/log-schedule.js';
import { checkRollForwardExact } from '../checkers/rollforward-exact.js';
import type { Cell } from '../cells.js';
import { runLogsScenario, type LogsOutcome } from '../scenario/logs-run.js';
import { breaksChain, logsArb, withRunBoundary, type LogsArbOptions, type LogsSpec } from '../scenario/logs-spec.js';
import type { Suite } from './suite.js';

export function hasLogChain(cell: Cell): boolean {
  return (cell.app === 'sqlserver' || (cell.app === 'sqlite' && cell.variant === 'script')) && cell.expected.level === 'application';
}

function withBrokenChain(spec: LogsSpec): LogsSpec {
  return breaksChain(spec.chainBreak) ? spec : { ...spec, chainBreak: { kind: 'missing', index: 1 } };
}

/**
 * The suite; `boundaries: false` switches the bias toward chain boundaries off (the draw
 * and the stratification), to measure what it buys (test/scenarios/log-boundaries.test.ts).
 */
export function logsSuite(options: LogsArbOptions = {}): Suite<LogsSpec, LogsOutcome> {
  const boundaries = options.boundaries ?? true;
  return {
    id: 'logs',
    appliesTo: hasLogChain,
    needs: (cell) => ['backup', 'restore-vm', 'rollforward', cell.app === 'sqlserver' ? 'logs.sql' : 'logs.sqlite'],
    runsFor: (runs) => runs,
    arbitrary: (cell) => logsArb(cell, { boundaries }),
    // Run 0 breaks the chain (a stored log backup goes missing) if its draw did not, so
    // property 7 judges a run however few there are; its shrinks and replays do the same
    // (it judges no unbroken chain anyway). Runs 0-9 each target one boundary kind of the
    // chain (logs-spec.ts, BOUNDARY_RUNS: BUGGIFY stratified), so each comes up in ten runs.
    forRun: (spec, runIndex) => {
      const bounded = boundaries ? withRunBoundary(spec, runIndex) : spec;
      return runIndex === 0 ? withBrokenChain(bounded) : bounded;
    },
    // A shrink or replay keeps the failing run's stratified boundary (its run index).
    forProperty: (spec, propertyId, runIndex) => {
      const bounded = boundaries && runIndex !== undefined ? withRunBoundary(spec, runIndex) : spec;
      return propertyId === 'P7' || runIndex === 0 ? withBrokenChain(bounded) : bounded;
    },
    run: (spec, engine) => runLogsScenario(spec, { engine }),
    describe: (spec) => spec,
    timeline: (outcome) => outcome.timeline,
    properties: [
      {
        id: 'P6', name: 'roll-forward is exact',
        description: 'Roll-forward to any target T in the log chain is exact (transaction level): the restored database holds exactly the commits acknowledged at or before T (SQLite time targets: at or before the last WAL shipment at or before T).',
        applies: () => true,
        check: (_cell, _spec, outcome) => checkRollForwardExact(outcome),
      },
      {
        id: 'P7', name: 'broken chain refused',
        description: 'Roll-forward over a broken chain is refused with a clear reason naming the break, never applied partly; a target before the break still works.',
        applies: (_cell, spec) => breaksChain(spec.chainBreak),
        check: (_cell, _spec, outcome) => checkChainRefused(outcome),
      },
      {
        id: 'P13', name: 'log backup schedule',
        description: 'Log backups follow the schedule rule of seed 003 (first at the full\'s completion, then each interval tick, at once after an overrun, until the next full); the RPO stays within interval plus the log backup\'s duration.',
        applies: () => true,
        check: (_cell, _spec, outcome) => checkLogSchedule(outcome),
      },
    ],
  };
}

export const LOGS_SUITE: Suite<LogsSpec, LogsOutcome> = logsSuite();
