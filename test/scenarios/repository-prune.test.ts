/**
 * Property 15 (forget and prune, repository suite): it holds for quiescelab's engine on
 * both repository cells, judging at least a tenth of the runs, and the checker fails each
 * way a forget or prune can go wrong; the mutant `prune-drops-shared-chunks` (a prune that
 * marks only the newest point's chunks) is killed by P15 at --runs 10.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { findCell } from '../../scenarios/cells.js';
import { checkPruneKeeps, type PruneRecord } from '../../scenarios/checkers/prune-keeps.js';
import { huntMutant } from '../../scenarios/mutants/hunt.js';
import { findMutant } from '../../scenarios/mutants/index.js';
import { runCell } from '../../scenarios/runner.js';
import { REPOSITORY_CELLS, REPOSITORY_SUITE } from '../../scenarios/suites/repository-suite.js';
import { prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';

const GOOD: PruneRecord = {
  keepLast: 2, pointsBefore: ['a1', 'b2', 'c3'], error: null, forgotten: ['a1'], listedAfter: ['b2', 'c3'],
  kept: [{ pointId: 'b2', difference: null }, { pointId: 'c3', difference: null }],
  verify: { error: null, damages: [], unreferencedChunks: 0, unindexedPacks: 0 },
  chunks: { keptReferenced: 10, missingAfter: 0, onlyForgotten: 3, leftAfter: 0 },
  bytes: { packsBefore: 1000, packsAfter: 700, reportedFreed: 300 },
};

describe('property 15: forget and prune', () => {
  beforeAll(async () => { await prepareDefaultApps(); });

  it('passes a clean record and fails every broken one', () => {
    expect(checkPruneKeeps(GOOD).valid).toBe(true);
    const broken: Partial<PruneRecord>[] = [
      { error: 'prune: damaged' },
      { forgotten: ['b2'] },
      { listedAfter: ['a1', 'b2', 'c3'] },
      { listedAfter: ['c3'] },
      { kept: [{ pointId: 'b2', difference: 'disk 0 differs first at grain 3' }, { pointId: 'c3', difference: null }] },
      { verify: { error: null, damages: ['pack x: bad'], unreferencedChunks: 0, unindexedPacks: 0 } },
      { verify: { error: null, damages: [], unreferencedChunks: 2, unindexedPacks: 0 } },
      { chunks: { keptReferenced: 10, missingAfter: 1, onlyForgotten: 3, leftAfter: 0 } },
      { chunks: { keptReferenced: 10, missingAfter: 0, onlyForgotten: 3, leftAfter: 1 } },
      { bytes: { packsBefore: 1000, packsAfter: 700, reportedFreed: 200 } },
      { bytes: { packsBefore: 1000, packsAfter: 1000, reportedFreed: 0 } },
    ];
    for (const b of broken) expect(checkPruneKeeps({ ...GOOD, ...b }).valid, JSON.stringify(b)).toBe(false);
  });

  it.each(REPOSITORY_CELLS)('holds for quiescelab on %s, judging a tenth of the runs at least', async (id) => {
    const cell = findCell(id);
    if (cell === undefined) throw new Error(id);
    const r = await runCell(cell, { runs: 10, seed: 3, suites: [REPOSITORY_SUITE] });
    const p = r.properties.find((x) => x.id === 'P15');
    expect(p?.status, p?.evidence ?? '').toBe('pass');
    expect(p?.judged).toBeGreaterThanOrEqual(2);
  });

  it('kills prune-drops-shared-chunks with P15 at --runs 10', async () => {
    const mutant = findMutant('prune-drops-shared-chunks');
    if (mutant === undefined) throw new Error('no mutant');
    const outcome = await huntMutant(mutant, { runs: 10, seed: 1, shrinkBudget: 10 });
    expect(outcome.killed).toBe(true);
    expect(outcome.killer?.id).toBe('P15');
    expect(outcome.killer?.evidence).toMatch(/no longer read back|in no index/);
  });
});
