/**
 * The replication suite (seed 002): a VM replicated to a DR site in cycles, a fault inside
 * a cycle, then a test failover, a failover, or a failover and a failback
 * (scenarios/scenario/replication-run.ts). Properties 20-24.
 *
 * Cells: replication is the same quiescing as a backup, so the level a replica point
 * reaches is the cell's; the suite runs on a spread of the matrix that covers each level
 * and each quiescer (VSS with application writers on 2003 and 2008 R2+, VSS file system
 * only for the files app, Linux, a crash-only guest), Tools 4.1, to keep the matrix's time.
 *
 * Stratified by run (BUGGIFY-like, so that `--runs 10` judges every property): run 4k
 * has no fault (the RPO property judges it); 4k+1 a fault inside a cycle, then failover;
 * 4k+2 a failback (to the original, or to a new VM every other time); 4k+3 a test
 * failover. White-space skipping is on except in every fifth run.
 */

import fc from 'fast-check';
import { cellId, type Cell } from '../cells.js';
import { checkFailback } from '../checkers/failback.js';
import { checkFailover } from '../checkers/failover.js';
import { checkReplicaEqualsSource } from '../checkers/replica-equals-source.js';
import { checkRpo } from '../checkers/rpo.js';
import { checkWhiteSpace } from '../checkers/white-space.js';
import type { SiteFault } from '../scenario/dr-site.js';
import { runReplication, type ReplicationOutcome, type ReplicationSpec } from '../scenario/replication-run.js';
import { seedArb } from '../scenario/arbitraries.js';
import type { Suite } from './suite.js';

/** The cells the suite runs on (see the header). */
export const REPLICATION_CELLS: readonly string[] = [
  'win2003-x64/esx41/sqlserver/default', 'win2008r2/esx41/sqlserver/default', 'win2019/esx41/sqlserver/default',
  'win2019/esx41/exchange/default', 'win2019/esx41/files/default', 'win2003-x86/esx41/files/default',
  'linux/esx41/sqlite/default', 'linux/esx41/files/default', 'other/esx41/files/default',
];

const faultArb = (cycles: number): fc.Arbitrary<SiteFault> => fc.oneof(
  fc.record({ cycle: fc.integer({ min: 2, max: cycles }), nth: fc.integer({ min: 1, max: 3 }), forMs: fc.integer({ min: 300, max: 3_000 }) }).map((f): SiteFault => ({ kind: 'link-drop', ...f })),
  fc.record({ cycle: fc.integer({ min: 2, max: cycles }), nth: fc.integer({ min: 1, max: 3 }) }).map((f): SiteFault => ({ kind: 'source-host-dies', ...f })),
  fc.record({ cycle: fc.integer({ min: 2, max: cycles }), nth: fc.integer({ min: 1, max: 3 }) }).map((f): SiteFault => ({ kind: 'dr-full', ...f })),
);

export function replicationArb(cell: Cell): fc.Arbitrary<ReplicationSpec> {
  return fc.integer({ min: 3, max: 4 }).chain((cycles) => fc.record({
    seed: seedArb,
    cellId: fc.constant(cellId(cell)),
    policy: fc.constant('try' as const),
    intervalMs: fc.integer({ min: 1_000, max: 3_000 }),
    cycles: fc.constant(cycles),
    keepPoints: fc.integer({ min: 2, max: 3 }),
    whiteSpace: fc.boolean(),
    link: fc.record({ bytesPerSecond: fc.integer({ min: 2_000_000, max: 8_000_000 }), latencyMs: fc.integer({ min: 1, max: 20 }) }),
    fault: fc.oneof(fc.constant<SiteFault>({ kind: 'none' }), faultArb(cycles)),
    after: fc.constantFrom('none' as const, 'test-failover' as const, 'failover' as const, 'failback-original' as const, 'failback-new' as const),
    drWorkMs: fc.integer({ min: 300, max: 1_500 }),
    workload: fc.record({ meanIntervalMs: fc.integer({ min: 20, max: 80 }), opsPerTxn: fc.integer({ min: 1, max: 3 }), valueBytes: fc.integer({ min: 64, max: 400 }) }),
  }));
}

/** The run's stratum (see the header); a fault drawn as none becomes a link drop inside the last cycle where one is wanted. */
export function replicationForRun(spec: ReplicationSpec, runIndex: number): ReplicationSpec {
  const faulted: SiteFault = spec.fault.kind !== 'none' ? spec.fault : { kind: 'link-drop', cycle: spec.cycles, nth: 2, forMs: 1_000 };
  const whiteSpace = runIndex % 5 !== 4;
  switch (runIndex % 4) {
    case 0: return { ...spec, whiteSpace, fault: { kind: 'none' }, after: 'none' };
    case 1: return { ...spec, whiteSpace, fault: faulted, after: 'failover' };
    case 2: return { ...spec, whiteSpace, after: runIndex % 8 === 2 ? 'failback-original' : 'failback-new' };
    default: return { ...spec, whiteSpace, after: 'test-failover' };
  }
}

export const REPLICATION_SUITE: Suite<ReplicationSpec, ReplicationOutcome> = {
  id: 'replication',
  appliesTo: (cell) => REPLICATION_CELLS.includes(cellId(cell)),
  needs: () => ['replication'],
  runsFor: (runs) => runs,
  arbitrary: replicationArb,
  forRun: replicationForRun,
  forProperty: (spec, _propertyId, runIndex) => (runIndex === undefined ? spec : replicationForRun(spec, runIndex)),
  run: (spec, engine) => runReplication(spec, engine),
  describe: (spec) => spec,
  timeline: (outcome) => outcome.timeline.map((t) => ({ atUs: t.atUs, kind: t.kind, detail: t.detail })),
  properties: [
    {
      id: 'P20', name: 'replica equals its source',
      description: 'Every restore point a replication cycle completed equals the source VmSnapshot it copies byte for byte (on the blocks the guest uses when white space was skipped), reaches the matrix\'s level in the lab, and claims no more than the lab finds.',
      applies: () => true,
      check: (cell, _spec, outcome) => checkReplicaEqualsSource(cell, outcome),
    },
    {
      id: 'P21', name: 'white space is only free blocks',
      description: 'White-space skipping (Active Block Mapping) skips only blocks the guest file system does not use (its bitmap, and what the journal allocates): every used block is sent in the first cycle, zeros or not, and the bytes reported saved are at most the free bytes.',
      applies: (_cell, spec) => spec.whiteSpace,
      check: (_cell, _spec, outcome) => checkWhiteSpace(outcome),
    },
    {
      id: 'P22', name: 'replica RPO',
      description: 'With no fault every cycle completes and the replica\'s RPO stays within the cycle interval plus a cycle\'s duration (consecutive points copy source states at most an interval apart); the failover RTO is measured.',
      applies: (_cell, spec) => spec.fault.kind === 'none',
      check: (_cell, _spec, outcome) => checkRpo(outcome),
    },
    {
      id: 'P23', name: 'failover boots a complete point',
      description: 'A failover, after a fault inside a cycle or not, boots the newest complete restore point with the disks equal to it, never a half-applied cycle; a test failover boots a copy and leaves the replica untouched.',
      applies: (_cell, spec) => spec.after !== 'none',
      check: (_cell, _spec, outcome) => checkFailover(outcome),
    },
    {
      id: 'P24', name: 'failback loses no DR write',
      description: 'Failback (to the original VM or a new one) starts a VM whose disks equal the DR VM\'s at the failback instant: no write made at the DR site is lost, the last stretch included.',
      needs: ['failback'],
      applies: (_cell, spec) => spec.after === 'failback-original' || spec.after === 'failback-new',
      check: (_cell, _spec, outcome) => checkFailback(outcome),
    },
  ],
};
