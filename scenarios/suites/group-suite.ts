/**
 * The group suite: properties 25 and 26 (seed 004's point-in-time consistency across a
 * group of VMs, and recovery by datastore and site), on an application spanning two or
 * three VMs (scenarios/scenario/group-run.ts tells one run). Each run draws the group's
 * size, whether the engine quiesces the VMs together or backs them up one at a time (and
 * in which order), the workload's pace, what happens around the second group backup (a
 * clean one, one VM's snapshot refused, a newer single-VM backup) and the scope recovered.
 *
 * Stratified (forRun, BUGGIFY-style): runs 0-5 of every ten are fixed combinations, so a
 * cell's first runs hold a set quiesced together beside an incomplete set, one beside a
 * newer single-VM point, one-by-one sets captured documents first (where references break
 * while the application runs), and a clean pair; runs 6-9 are as drawn. A shrink or replay
 * keeps the failing run's stratum.
 *
 * Cells: the `files` cells of the default condition with Tools of 4.1 and later, one per
 * guest OS — each VM's own quiesce is the cell's (VSS, FIFREEZE, the SYNC driver or none);
 * the application's own data is fsync'ed per transaction, so the group property is the
 * same question on every OS. Half the matrix's runs per cell: a run backs up two or three
 * VMs twice and restores two or three.
 */

import fc from 'fast-check';
import { assert } from '../../core/assert.js';
import { cellId, findCell } from '../cells.js';
import { checkGroupConsistency } from '../checkers/group-consistency.js';
import { checkScopeRecovery } from '../checkers/scope-recovery.js';
import { seedArb } from '../scenario/arbitraries.js';
import { runGroupScenario, type GroupOutcome, type GroupSpec } from '../scenario/group-run.js';
import type { Suite } from './suite.js';

type Stratum = Pick<GroupSpec, 'together' | 'second'> & { readonly docsFirst?: boolean };

/** Runs 0-5 of every ten (see the header); 6-9 are as drawn. */
const STRATA: readonly Stratum[] = [
  { together: true, second: 'vm-fails' },
  { together: false, second: 'clean', docsFirst: true },
  { together: true, second: 'extra-single' },
  { together: false, second: 'vm-fails' },
  { together: true, second: 'clean' },
  { together: false, second: 'extra-single', docsFirst: true },
];

export function groupForRun(spec: GroupSpec, runIndex: number): GroupSpec {
  const s = STRATA[runIndex % 10];
  return s === undefined ? spec : { ...spec, ...s };
}

export function groupArb(cell: string): fc.Arbitrary<GroupSpec> {
  return fc.record({
    cellId: fc.constant(cell),
    seed: seedArb,
    vms: fc.constantFrom(2 as const, 3 as const),
    together: fc.boolean(),
    docsFirst: fc.boolean(),
    workload: fc.record({ meanIntervalMs: fc.integer({ min: 3, max: 40 }), rpcLatencyMs: fc.integer({ min: 1, max: 20 }), docBytes: fc.integer({ min: 64, max: 2048 }) }),
    warmupMs: fc.integer({ min: 200, max: 3_000 }),
    gapMs: fc.integer({ min: 100, max: 3_000 }),
    second: fc.constantFrom('clean' as const, 'vm-fails' as const, 'extra-single' as const),
    faultVm: fc.integer({ min: 0, max: 2 }),
    scope: fc.constantFrom('datastore' as const, 'site' as const),
  });
}

export const GROUP_SUITE: Suite<GroupSpec, GroupOutcome> = {
  id: 'group',
  appliesTo: (cell) => cell.app === 'files' && cell.variant === 'default' && cell.tools === 'esx41',
  needs: () => ['group-backup', 'backup', 'restore-vm'],
  runsFor: (runs) => Math.ceil(runs / 2),
  arbitrary: (cell) => groupArb(cellId(cell)),
  forRun: groupForRun,
  forProperty: (spec, _property, runIndex) => (runIndex === undefined ? spec : groupForRun(spec, runIndex)),
  async run(spec, engine) {
    assert(findCell(spec.cellId) !== undefined, `unknown cell ${spec.cellId}`);
    return runGroupScenario(spec, engine);
  },
  describe: (spec) => spec,
  timeline: (outcome) => outcome.timeline,
  properties: [
    {
      id: 'P25', name: 'group point-in-time consistency',
      description: 'A group point is point-in-time consistent across its VMs (every VM captured while the application was paused; no order without its document, no journal entry without its order, nothing half-present), or is reported as not, with the references that broke.',
      applies: () => true,
      needs: ['group-backup'],
      check: (_cell, _spec, outcome) => checkGroupConsistency(outcome),
    },
    {
      id: 'P26', name: 'scope recovery',
      description: 'Recovering a datastore or the site restores every VM of that scope, each booting, all from one complete group set (the newest quiesced together, else the newest), never a single-VM point or one from an incomplete set mixed in; references resolve when the set is consistent.',
      applies: () => true,
      needs: ['group-backup', 'restore-vm'],
      check: (_cell, _spec, outcome) => checkScopeRecovery(outcome),
    },
  ],
};
