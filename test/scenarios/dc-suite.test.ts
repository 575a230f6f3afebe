/**
 * The domain-controller suite: property 12 holds for quiescelab's engine on every ntds
 * cell; the three ways a restore goes (safe by GenID, safe by a VSS point, USN rollback)
 * each show on the cells that should give them; and the property fails, with a shrunk
 * counterexample and a replay token, for an engine that restores over the original VM
 * (which keeps its VM-GenerationID, so a DC restored from a non-VSS point rolls back
 * where GenID should have made it safe).
 */

import { builtinEngine } from '../../scenarios/engine-builtin.js';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { cellId, findCell, selectCells } from '../../scenarios/cells.js';
import { replay } from '../../scenarios/replay.js';
import { decodeReplayToken } from '../../scenarios/replay-token.js';
import { runCell } from '../../scenarios/runner.js';
import { RESTORE_IN_PLACE } from '../../scenarios/mutants/dc-mutants.js';
import { DC_SUITE, type DcSpec } from '../../scenarios/suites/dc-suite.js';
import { prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';

function cell(id: string) {
  const c = findCell(id);
  if (c === undefined) throw new Error(`no cell ${id}`);
  return c;
}

const WIN2016 = 'win2016/esx41/ntds/default';

const NTDS_CELLS = selectCells({ apps: ['ntds'] }).map(cellId);

describe('the domain-controller suite', () => {
  beforeAll(async () => { await prepareDefaultApps(); });

  it('applies to the ntds cells', () => {
    expect(NTDS_CELLS.length).toBe(20);
    expect(selectCells().filter((c) => DC_SUITE.appliesTo(c)).map(cellId)).toEqual(NTDS_CELLS);
  });

  it.each(NTDS_CELLS)('property 12 holds for quiescelab on %s', async (id) => {
    const r = await runCell(cell(id), { runs: 4, seed: 7, suites: [DC_SUITE] });
    const p = r.properties[0];
    expect(p?.id).toBe('P12');
    expect(p?.runs).toBe(4);
    expect((p?.failures ?? 1) + (p?.unknown ?? 1), p?.evidence ?? '').toBe(0);
  });

  it.each([
    // 2016 with GenID: a non-VSS point (the NTDS writer failed) is safe by the GenID alone.
    [WIN2016, 'writer', /^safe as expected \(win2016 honours VM-GenerationID.*invocationId reset \(vm-generation-id/],
    // 2008 R2, no GenID: safe only from a VSS point (the writer's marker) ...
    ['win2008r2/esx41/ntds/default', 'none', /^safe as expected \(a VSS point.*invocationId reset \(restored-from-backup/],
    // ... and a non-VSS point rolls back: event 2095.
    ['win2008r2/esx41/ntds/default', 'writer', /^USN rollback as expected \(a non-VSS point and win2008r2 ignores VM-GenerationID\).*event 2095/],
    // No VSS writers in a file-system quiesce (Tools of 3.5 U2 on 2008): rollback.
    ['win2008-x64/esx35u2/ntds/default', 'none', /^USN rollback as expected/],
  ] as const)('on %s with fault %s: %s', async (id, fault, expected) => {
    const spec = fc.sample(DC_SUITE.arbitrary(cell(id)).filter((s: DcSpec) => s.fault.kind === fault), { seed: 11, numRuns: 1 })[0] as DcSpec;
    const run = await DC_SUITE.run(spec, builtinEngine());
    const verdict = DC_SUITE.properties[0]?.check(cell(id), spec, run);
    expect(verdict?.valid, verdict?.evidence).toBe(true);
    expect(verdict?.evidence).toMatch(expected);
  });

  it('fails for an engine that restores over the original VM (the GenID does not change): USN rollback where GenID promised safety', async () => {
    const r = await runCell(cell(WIN2016), { runs: 8, seed: 7, engine: builtinEngine(RESTORE_IN_PLACE), suites: [DC_SUITE], shrinkBudget: 20 });
    const p = r.properties[0];
    if (p === undefined) throw new Error('no P12');
    expect(p.pass).toBe(false);
    expect(p.evidence).toMatch(/^expected a safe restore \(win2016 honours VM-GenerationID.*\), but the DC kept its invocationId .*GenID vm-1-gen-1 -> vm-1-gen-1/);
    expect((p.counterexample as DcSpec).fault.kind).toBe('writer');
    const token = decodeReplayToken(p.replay ?? '');
    if (!token.ok) throw new Error(token.error);
    expect(token.value).toMatchObject({ cell: WIN2016, suite: 'dc', property: 'P12' });
    const again = await replay(token.value, { resolve: () => builtinEngine(RESTORE_IN_PLACE) });
    expect(again.ok && again.value.spec).toEqual(p.counterexample);
    expect(again.ok && again.value.verdict).toEqual({ valid: false, evidence: p.evidence });
  });
});
