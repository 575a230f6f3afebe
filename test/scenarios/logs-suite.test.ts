/**
 * The logs suite end to end: properties 6, 7 and 13 hold for quiescelab's engine on a SQL
 * Server and a SQLite cell, and each fails on a deliberately broken engine — a roll-forward
 * that stops one past its target (P6), a chain planner that skips the gap check (P7), a
 * schedule rule that waits a full interval after an overrun (P13) — with a shrunk
 * counterexample and a replay token that replays to the same failure.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { findCell } from '../../scenarios/cells.js';
import { decodeReplayToken } from '../../scenarios/replay-token.js';
import { replay } from '../../scenarios/replay.js';
import { runCell, type PropertyResult } from '../../scenarios/runner.js';
import { findMutant } from '../../scenarios/mutants/index.js';
import { LOG_MUTANT_ENGINES } from '../../scenarios/mutants/log-mutants.js';
import { builtinEngine } from '../../scenarios/engine-builtin.js';
import type { Engine } from '../../scenarios/engine-api.js';
import type { EngineUnderTest } from '../../scenarios/scenario/engine.js';
import { LOGS_SUITE } from '../../scenarios/suites/logs-suite.js';
import { prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';

const SQL_CELL = 'win2019/esx41/sqlserver/default';
const SQLITE_CELL = 'linux/esx41/sqlite/script';

function cell(id: string) {
  const c = findCell(id);
  if (c === undefined) throw new Error(`no cell ${id}`);
  return c;
}

const { ONE_PAST_TARGET, GAP_IGNORED, LATE_AFTER_OVERRUN } = LOG_MUTANT_ENGINES;

/** A mutant's engine record behind the black-box interface. */
function asEngine(eut: EngineUnderTest): Engine {
  return builtinEngine(eut, eut.name);
}

function failing(properties: readonly PropertyResult[], id: string): PropertyResult {
  const p = properties.find((x) => x.id === id);
  if (p === undefined) throw new Error(`no ${id}`);
  expect(p.pass, `${id} should fail`).toBe(false);
  expect(p.counterexample).not.toBeNull();
  expect(p.shrinks).toEqual(expect.any(Number));
  expect(p.replay).toMatch(/^ql1\./);
  return p;
}

describe('the logs suite', () => {
  beforeAll(async () => { await prepareDefaultApps(); });

  it.each([SQL_CELL, SQLITE_CELL])('P6, P7 and P13 hold for the engine on %s', async (id) => {
    const r = await runCell(cell(id), { runs: 8, seed: 3, suites: [LOGS_SUITE] });
    expect(r.properties.map((p) => p.id)).toEqual(['P6', 'P7', 'P13']);
    for (const p of r.properties) {
      expect(p.failures, `${p.id}: ${p.evidence ?? ''}`).toBe(0);
      expect(p.runs, p.id).toBeGreaterThan(0);
    }
    expect(r.pass).toBe(true);
  });

  it('applies to the cells whose full backup is application-aware', () => {
    expect(LOGS_SUITE.appliesTo(cell(SQL_CELL))).toBe(true);
    expect(LOGS_SUITE.appliesTo(cell(SQLITE_CELL))).toBe(true);
    expect(LOGS_SUITE.appliesTo(cell('win2019/esx41/sqlserver/fs-only'))).toBe(false);
    expect(LOGS_SUITE.appliesTo(cell('linux/esx35u2/sqlite/script'))).toBe(false);
    expect(LOGS_SUITE.appliesTo(cell('win2019/esx41/exchange/default'))).toBe(false);
  });

  it('P6 fails on a roll-forward that includes the transaction just after the target; the replay token reproduces it', async () => {
    const r = await runCell(cell(SQL_CELL), { runs: 10, seed: 3, engine: asEngine(ONE_PAST_TARGET), mutant: ONE_PAST_TARGET.name, shrinkBudget: 60, suites: [LOGS_SUITE] });
    const p = failing(r.properties, 'P6');
    // One past the target: one transaction too many, or — for a target at the chain's end
    // (the survey's boundary runs put targets there) — past the end, into the break.
    expect(p.evidence).toMatch(/is not exact: 1 extra: t\d+ \(acknowledged at \d+ us\)|inside the chain, failed: refused: the log chain breaks/);
    const token = decodeReplayToken(p.replay ?? '');
    if (!token.ok) throw new Error(token.error);
    expect(token.value).toMatchObject({ cell: SQL_CELL, suite: 'logs', property: 'P6', mutant: ONE_PAST_TARGET.name });
    const replayed = await replay(token.value, { resolve: (m) => (m === ONE_PAST_TARGET.name ? asEngine(ONE_PAST_TARGET) : undefined) });
    if (!replayed.ok) throw new Error(replayed.error);
    expect(replayed.value.spec).toEqual(p.counterexample);
    expect(replayed.value.verdict).toEqual({ valid: false, evidence: p.evidence });
  });

  it('P7 fails on a chain planner that skips the gap check (applied partly, then the guest refuses)', async () => {
    const r = await runCell(cell(SQL_CELL), { runs: 12, seed: 3, engine: asEngine(GAP_IGNORED), mutant: GAP_IGNORED.name, shrinkBudget: 60, suites: [LOGS_SUITE] });
    const p = failing(r.properties, 'P7');
    expect(p.evidence).toMatch(/past the break .* was applied partly: \d+ RESTORE LOG succeeded in the guest/);
    expect(r.properties.find((x) => x.id === 'P13')?.pass).toBe(true);
  });

  it('P13 fails on a schedule that waits a full interval after an overrun', async () => {
    const r = await runCell(cell(SQLITE_CELL), { runs: 8, seed: 3, engine: asEngine(LATE_AFTER_OVERRUN), mutant: LATE_AFTER_OVERRUN.name, shrinkBudget: 40, suites: [LOGS_SUITE] });
    const p = failing(r.properties, 'P13');
    expect(p.evidence).toMatch(/seed 003 has it at once when log backup \d+ ended/);
    // Only a run with an overrun can show it; nothing else is needed.
    expect(p.counterexample).toMatchObject({ overrun: { index: 0 }, chainBreak: { kind: 'none' } });
  });

  // The boundary mutants: only a target on a chain boundary shows them (the suite's
  // BUGGIFY stratification puts one there in the first ten runs); the repository one only
  // a restore that reads the log records from the repository opened again.
  it.each([
    ['rollforward-boundary-exclusive', SQL_CELL, /roll-forward to LSN \d+ is not exact: 1 acknowledged by the target missing/],
    ['sqlite-base-instant-refused', SQLITE_CELL, /inside the chain, failed: refused: the target is not after the base/],
    ['repo-log-reopen-hides-blobless', SQLITE_CELL, /inside the chain, failed: refused/],
  ])('P6 kills %s within 10 runs on %s, and its replay token reproduces it', async (id, cellName, evidence) => {
    const mutant = findMutant(id);
    if (mutant === undefined) throw new Error(`no mutant ${id}`);
    const r = await runCell(cell(cellName), { runs: 10, seed: 1, engine: asEngine(mutant.engine), mutant: id, shrinkBudget: 20, suites: [LOGS_SUITE] });
    const p = failing(r.properties, 'P6');
    expect(p.evidence).toMatch(evidence);
    const token = decodeReplayToken(p.replay ?? '');
    if (!token.ok) throw new Error(token.error);
    const replayed = await replay(token.value, { resolve: (m) => (m === id ? asEngine(mutant.engine) : undefined) });
    if (!replayed.ok) throw new Error(replayed.error);
    expect(replayed.value.verdict).toEqual({ valid: false, evidence: p.evidence });
    if (id === 'repo-log-reopen-hides-blobless') expect(replayed.value.spec).toMatchObject({ logStore: 'repository' });
  }, 120_000);
});
