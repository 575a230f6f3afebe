/**
 * The backup suite: a cell's VM under workload, a full and CBT incrementals by the engine
 * under test, faults of the quiescing path and host power loss, every point read back and
 * judged (scenarios/scenario/run.ts). Properties 1, 2, 3, 4, 5, 8 and 11.
 */

import fc from 'fast-check';
import { checkAppNoLoss } from '../checkers/app-no-loss.js';
import { checkCrashRecovers, DATABASES } from '../checkers/crash-recovers.js';
import { checkDeterminism } from '../checkers/determinism.js';
import { checkIncrementalEqualsFull } from '../checkers/incremental-equals-full.js';
import { checkMatrixLevel } from '../checkers/matrix-level.js';
import { checkNoOverclaim } from '../checkers/no-overclaim.js';
import { checkQuiesceHygiene } from '../checkers/quiesce-hygiene.js';
import { cellId } from '../cells.js';
import { scenarioArb } from '../scenario/arbitraries.js';
import { runScenario, type ScenarioOutcome } from '../scenario/run.js';
import { isQuiesceFault, type ScenarioSpec } from '../scenario/spec.js';
import type { Suite } from './suite.js';

/** A backup run and, for property 11, a second run of the same spec. */
export interface BackupRun {
  readonly outcome: ScenarioOutcome;
  readonly twin: ScenarioOutcome | null;
}

/** Every this many runs (the first included), property 11 runs the spec twice. */
export const DETERMINISM_EVERY = 10;

export const BACKUP_SUITE: Suite<ScenarioSpec & { readonly twin: boolean }, BackupRun> = {
  id: 'backup',
  appliesTo: () => true,
  runsFor: (runs) => runs,
  // One spec in DETERMINISM_EVERY (shrinking towards it) is run twice, for property 11.
  arbitrary: (cell) => fc.tuple(scenarioArb(cellId(cell)), fc.nat({ max: DETERMINISM_EVERY - 1 })).map(([spec, n]) => ({ ...spec, twin: n === 0 })),
  async run(spec, engine) {
    const outcome = await runScenario(spec, { engine });
    const twin = spec.twin ? await runScenario(spec, { engine }) : null;
    return { outcome, twin };
  },
  describe: (spec) => spec,
  timeline: (run) => run.outcome.timeline,
  properties: [
    {
      id: 'P1', name: 'matrix level',
      description: 'The achieved level equals the matrix\'s level for the cell (runs without a quiesce fault).',
      applies: (_cell, spec) => !isQuiesceFault(spec.fault),
      check: (cell, _spec, run) => checkMatrixLevel(cell, run.outcome),
    },
    {
      id: 'P2', name: 'no overclaim',
      description: 'A RecoveryPoint never claims more than was achieved.',
      applies: () => true,
      check: (_cell, _spec, run) => checkNoOverclaim(run.outcome),
    },
    {
      id: 'P3', name: 'application points lose nothing',
      description: 'Application-consistent points lose no transaction committed before the freeze.',
      applies: (cell) => cell.app !== 'files',
      check: (cell, _spec, run) => checkAppNoLoss(cell, run.outcome),
    },
    {
      id: 'P4', name: 'crash points recover',
      description: 'Crash-consistent points of a database that honours flush recover, losing nothing committed; when the stack lies about flush, the loss is found and reported.',
      applies: (cell) => (DATABASES as readonly string[]).includes(cell.app),
      check: (cell, spec, run) => checkCrashRecovers(cell, spec, run.outcome),
    },
    {
      id: 'P5', name: 'incremental equals full',
      description: 'Restoring CBT incremental k equals the full image at snapshot k, byte for byte.',
      applies: () => true,
      check: (_cell, _spec, run) => checkIncrementalEqualsFull(run.outcome),
    },
    {
      id: 'P8', name: 'quiesce faults fall back honestly',
      description: 'Quiesce faults (writer failure, freeze or script timeout, nonzero script exit) fall back honestly; the guest is always thawed and the VmSnapshot always removed.',
      applies: () => true,
      check: (_cell, spec, run) => checkQuiesceHygiene(spec, run.outcome),
    },
    {
      id: 'P11', name: 'determinism',
      description: 'The same seed gives the same results.',
      applies: (_cell, spec) => spec.twin,
      check: (_cell, _spec, run) => checkDeterminism(run.outcome, run.twin),
    },
  ],
};

