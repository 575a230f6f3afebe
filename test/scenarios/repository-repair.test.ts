/**
 * Property 19 (repair, repository suite): quiescelab's repair passes it on specs of each
 * damage (a flipped byte, a deleted pack, a truncated pack), the checker fails each way a
 * repair can go wrong, the mutant `repair-drops-intact-chunks` (a repair that throws away
 * every pack indexed with a damaged one) fails it, and the hunt kills that mutant with P19
 * at --runs 10.
 */

import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { findCell } from '../../scenarios/cells.js';
import { checkRepairSaves, type RepairRecord } from '../../scenarios/checkers/repair-saves.js';
import { huntMutant } from '../../scenarios/mutants/hunt.js';
import { findMutant } from '../../scenarios/mutants/index.js';
import { REPOSITORY_MUTANT_ENGINES } from '../../scenarios/mutants/repository-mutants.js';
import { QUIESCELAB_ENGINE, type EngineUnderTest } from '../../scenarios/scenario/engine.js';
import { builtinEngine } from '../../scenarios/engine-builtin.js';
import { PROTOCOL_VERSION } from '../../scenarios/engine-api.js';
import { REPOSITORY_SUITE, type RepositorySpec } from '../../scenarios/suites/repository-suite.js';
import type { RepairDamage } from '../../scenarios/suites/repository-repair.js';
import { prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';

const FILES = 'linux/esx41/files/default';
const SQL = 'win2019/esx41/sqlserver/default';

function specs(id: string, seed: number, n: number): RepositorySpec[] {
  const cell = findCell(id);
  if (cell === undefined) throw new Error(`no cell ${id}`);
  return fc.sample(REPOSITORY_SUITE.arbitrary(cell), { seed, numRuns: n });
}

/** One run of the suite against the built-in engine made of `eut` (a session of its own, as the runner starts one per run). */
async function judge(spec: RepositorySpec, damage: RepairDamage, eut: EngineUnderTest) {
  const engine = builtinEngine(eut);
  await engine.initialize({ protocolVersion: PROTOCOL_VERSION, seed: spec.seed });
  const run = await REPOSITORY_SUITE.run({ ...spec, repair: { damage } }, engine);
  if (run.repair === null) throw new Error('the run did not repair');
  return { record: run.repair, verdict: checkRepairSaves(run.repair) };
}

const P1 = 'a'.repeat(64);
const P2 = 'b'.repeat(64);
const P2NEW = 'c'.repeat(64);
const PACK = 'packs/dd/' + 'd'.repeat(64);
const OTHER = 'packs/ee/' + 'e'.repeat(64);
const bytes = (x: number): Uint8Array => new Uint8Array([x, x, x]);

const GOOD: RepairRecord = {
  damage: 'truncate-pack', damaged: { object: PACK, bytesAfter: 1 }, expectedLost: 1,
  expected: [
    { pointId: P1, runIndex: 0, lostWhole: false, lostChunks: 0, lostDiskChunks: 0, lostBytes: 0, lostRanges: [[]] },
    { pointId: P2, runIndex: 1, lostWhole: false, lostChunks: 1, lostDiskChunks: 1, lostBytes: 4096, lostRanges: [[[0, 4096]]] },
  ],
  error: null,
  reported: { rewritten: [{ id: P2, newId: P2NEW, chunks: 1, bytes: 4096 }], unreadable: [] },
  verify: { error: null, damages: [] },
  listed: [
    { id: P1, claimedLevel: 'filesystem', repair: null },
    { id: P2NEW, claimedLevel: 'inconsistent', repair: { originalId: P2, lostChunks: 1, lostBytes: 4096 } },
  ],
  readBacks: [{ pointId: P1, listedId: P1, difference: null }, { pointId: P2, listedId: P2NEW, difference: null }],
  before: new Map([[PACK, bytes(1)], [OTHER, bytes(2)], [`points/${P1}`, bytes(3)], [`points/${P2}`, bytes(4)]]),
  objectsAfter: new Map([[OTHER, bytes(2)], [`points/${P1}`, bytes(3)], [`points/${P2NEW}`, bytes(5)], [`damaged/${PACK}`, bytes(1)], [`damaged/points/${P2}`, bytes(4)]]),
};

describe('property 19: repair saves what can be saved', () => {
  beforeAll(async () => { await prepareDefaultApps(); });

  it('passes a sound record and fails every broken one', () => {
    expect(checkRepairSaves(GOOD).valid, checkRepairSaves(GOOD).evidence).toBe(true);
    const broken: Partial<RepairRecord>[] = [
      { error: 'repair: lock contended' },
      { verify: { error: null, damages: ['pack x: bad'] } },
      { listed: [GOOD.listed[1] as RepairRecord['listed'][number]] },
      { listed: [{ id: P1, claimedLevel: 'filesystem', repair: null }, { id: P2, claimedLevel: 'filesystem', repair: null }] },
      { listed: [GOOD.listed[0] as RepairRecord['listed'][number], { id: P2NEW, claimedLevel: 'filesystem', repair: { originalId: P2, lostChunks: 1, lostBytes: 4096 } }] },
      { listed: [GOOD.listed[0] as RepairRecord['listed'][number], { id: P2NEW, claimedLevel: 'inconsistent', repair: { originalId: P2, lostChunks: 2, lostBytes: 8192 } }] },
      { reported: { rewritten: [], unreadable: [] } },
      { reported: { rewritten: [{ id: P2, newId: P2NEW, chunks: 1, bytes: 4096 }, { id: P1, newId: P2NEW, chunks: 1, bytes: 1 }], unreadable: [] } },
      { readBacks: [{ pointId: P1, listedId: P1, difference: 'disk 0 differs first at grain 2' }, GOOD.readBacks[1] as RepairRecord['readBacks'][number]] },
      { readBacks: [GOOD.readBacks[0] as RepairRecord['readBacks'][number], { pointId: P2, listedId: P2NEW, difference: 'disk 0: the lost range [0, 4096) does not read as zeros' }] },
      { objectsAfter: new Map([...GOOD.objectsAfter].filter(([n]) => n !== OTHER)) },
      { objectsAfter: new Map([...GOOD.objectsAfter].filter(([n]) => n !== `damaged/${PACK}`)) },
      { objectsAfter: new Map([...GOOD.objectsAfter, [OTHER, bytes(9)]]) },
    ];
    for (const b of broken) expect(checkRepairSaves({ ...GOOD, ...b }).valid, JSON.stringify(b, (_k, v: unknown) => (v instanceof Map ? [...v.keys()] : v))).toBe(false);
    expect(checkRepairSaves({ ...GOOD, damaged: null }).valid).toBe('unknown');
  });

  it.each<[string, RepairDamage]>([[FILES, 'truncate-pack'], [FILES, 'delete-pack'], [FILES, 'flip'], [SQL, 'truncate-pack'], [SQL, 'delete-pack']])('quiescelab passes on %s after %s', async (id, damage) => {
    const seed = damage === 'flip' ? 5 : 2;
    for (const spec of specs(id, seed, 2)) {
      const { verdict, record } = await judge(spec, damage, QUIESCELAB_ENGINE);
      expect(verdict.valid, verdict.evidence).toBe(true);
      expect(record.expected.length).toBeGreaterThanOrEqual(1);
    }
  });

  it('a pack damage costs chunks on some spec, and repair marks what was lost', async () => {
    let lostSomewhere = 0;
    for (const spec of specs(FILES, 9, 3)) {
      const { verdict, record } = await judge({ ...spec, repository: 'small' }, 'delete-pack', QUIESCELAB_ENGINE);
      expect(verdict.valid, verdict.evidence).toBe(true);
      lostSomewhere += record.expected.filter((e) => e.lostChunks > 0).length;
    }
    expect(lostSomewhere).toBeGreaterThan(0);
  });

  it('repair-drops-intact-chunks fails P19 where quiescelab passes', async () => {
    const failed: string[] = [];
    for (const spec of specs(FILES, 2, 3)) {
      const real = await judge({ ...spec, repository: 'small' }, 'truncate-pack', QUIESCELAB_ENGINE);
      expect(real.verdict.valid, real.verdict.evidence).toBe(true);
      const bad = await judge({ ...spec, repository: 'small' }, 'truncate-pack', REPOSITORY_MUTANT_ENGINES.REPAIR_DROPS_INTACT);
      if (bad.verdict.valid === false) failed.push(bad.verdict.evidence);
    }
    expect(failed.length).toBeGreaterThan(0);
  });

  it('kills repair-drops-intact-chunks with P19 at --runs 10', async () => {
    const mutant = findMutant('repair-drops-intact-chunks');
    if (mutant === undefined) throw new Error('no mutant');
    const outcome = await huntMutant(mutant, { runs: 10, seed: 1, shrinkBudget: 10 });
    expect(outcome.killed).toBe(true);
    expect(outcome.killer?.id).toBe('P19');
  });
});
