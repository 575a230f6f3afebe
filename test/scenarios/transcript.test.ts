/**
 * Property 11 through transcripts: two runs of one spec (each in a fresh engine session)
 * send the engine the same requests and see the same hypervisor calls from it; an engine
 * that carries state from one session into the next fails with the first message that
 * differs, though its outcomes may all match.
 */

import { describe, expect, it } from 'vitest';
import { findCell } from '../../scenarios/cells.js';
import { builtinEngine } from '../../scenarios/engine-builtin.js';
import { findMutant, mutantEngine } from '../../scenarios/mutants/index.js';
import { runCell } from '../../scenarios/runner.js';
import { BACKUP_SUITE } from '../../scenarios/suites/backup-suite.js';
import { checkDeterminism } from '../../scenarios/checkers/determinism.js';

function mustCell(id: string) {
  const c = findCell(id);
  if (c === undefined) throw new Error(id);
  return c;
}

const CELL = 'win2019/esx41/sqlserver/default';

describe('transcripts', () => {
  it('the built-in engine sends the same messages twice (P11 passes on its twin runs)', async () => {
    const r = await runCell(mustCell(CELL), { runs: 10, seed: 3, engine: builtinEngine(), suites: [BACKUP_SUITE] });
    const p11 = r.properties.find((p) => p.id === 'P11');
    expect(p11?.status).toBe('pass');
    expect(p11?.judged).toBe(1);
  }, 120_000);

  it('an engine carrying state across sessions fails P11 naming the first message that differs', async () => {
    const m = findMutant('session-state-leaks');
    if (m === undefined) throw new Error('no mutant');
    const r = await runCell(mustCell(CELL), { runs: 10, seed: 3, engine: mutantEngine(m), mutant: m.id, suites: [BACKUP_SUITE], shrinkBudget: 10 });
    const p11 = r.properties.find((p) => p.id === 'P11');
    expect(p11?.status).toBe('fail');
    expect(p11?.evidence).toMatch(/differ at engine message \d+: first run {3}< hypervisor\/createSnapshot .*-after-(\d+)".* \/ second run {3}< hypervisor\/createSnapshot .*-after-(\d+)"/);
    expect(p11?.data?.counts['message']).toBeGreaterThan(1);
    // Every other property passes: only the transcript tells the runs apart.
    expect(r.properties.filter((p) => p.id !== 'P11' && p.status === 'fail')).toEqual([]);
  }, 300_000);

  it('outcomes alone cannot tell the mutant\'s twin runs apart (why P11 reads the messages)', async () => {
    const m = findMutant('session-state-leaks');
    if (m === undefined) throw new Error('no mutant');
    const spec = { ...(await import('../../scenarios/run-one.js')).specFor(mustCell(CELL), 5), twin: true };
    const run = await BACKUP_SUITE.run(spec, mutantEngine(m));
    expect(checkDeterminism(run.outcome, run.twin).valid).toBe(true);
    expect(run.divergence).not.toBeNull();
  }, 120_000);
});
