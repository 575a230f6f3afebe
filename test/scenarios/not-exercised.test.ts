/**
 * Issue 15, class 1: unknown is never a pass. A property that applies to a cell and judged
 * (true or false) fewer than a tenth of the suite's runs — none, say, because every run
 * was unknown — fails the cell as "not exercised", in results.json, the report and JUnit.
 * A property that does not apply to the cell at all is left out. The runner's stratified
 * runs (Suite.forRun) put property 11's twin runs at 0, 10, 20, …, so it always judges a
 * tenth of them.
 */

import { PLAIN_JOB } from '../../scenarios/scenario/spec.js';
import fc from 'fast-check';
import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { findCell, type Cell } from '../../scenarios/cells.js';
import { assembleResults } from '../../scenarios/matrix-run.js';
import { minJudgedRuns, runCell } from '../../scenarios/runner.js';
import type { Suite } from '../../scenarios/suites/suite.js';
import { BACKUP_SUITE } from '../../scenarios/suites/backup-suite.js';
import { fail, pass, unknown } from '../../scenarios/verdict.js';
import { renderJunit } from '../../reports/junit.js';

const CELL = findCell('linux/esx41/files/default') as Cell;

/** A suite of plain numbers: `judge(n)` decides each property's verdict on run n. */
function numbers(verdicts: Record<string, (n: number) => 'pass' | 'fail' | 'unknown'>, appliesToCell: Record<string, boolean> = {}): Suite<number, number> {
  return {
    id: 'numbers', appliesTo: () => true, runsFor: (r) => r,
    arbitrary: () => fc.nat(999),
    forRun: (n, runIndex) => runIndex * 1000 + n,
    run: (n) => Promise.resolve(n),
    describe: (n) => n,
    timeline: () => [],
    properties: Object.entries(verdicts).map(([id, v]) => ({
      id, name: id, description: id,
      appliesToCell: () => appliesToCell[id] ?? true,
      applies: () => true,
      check: (_c: Cell, _s: number, n: number) => ({ pass: pass('ok'), fail: fail('bad'), unknown: unknown('could not tell') })[v(n)],
    })),
  };
}

describe('not exercised', () => {
  it('a tenth of the suite\'s runs, at least one', () => {
    expect([1, 9, 10, 11, 100].map(minJudgedRuns)).toEqual([1, 1, 1, 2, 10]);
  });

  it('all unknown, or judged on too few runs: the cell fails it; judged on a tenth: passes; not applicable: left out', async () => {
    const suite = numbers({
      always: () => 'unknown',
      rare: (n) => (Math.floor(n / 1000) === 3 ? 'pass' : 'unknown'),
      tenth: (n) => (Math.floor(n / 1000) % 10 === 0 ? 'pass' : 'unknown'),
      judged: () => 'pass',
      elsewhere: () => 'unknown',
    }, { elsewhere: false });
    const r = await runCell(CELL, { runs: 20, seed: 3, suites: [suite] });
    const by = Object.fromEntries(r.properties.map((p) => [p.id, p]));
    expect(Object.keys(by)).toEqual(['always', 'rare', 'tenth', 'judged']);
    expect(by.always).toMatchObject({ status: 'not-exercised', pass: false, runs: 20, judged: 0, minJudged: 2, unknown: 20 });
    expect(by.always?.evidence).toMatch(/^not exercised: judged 0 of 20 runs, at least 2 needed \(first unknown: could not tell\)/);
    expect(by.rare).toMatchObject({ status: 'not-exercised', judged: 1 });
    expect(by.tenth).toMatchObject({ status: 'pass', pass: true, judged: 2 });
    expect(by.judged).toMatchObject({ status: 'pass', judged: 20 });
    expect(r.pass).toBe(false);

    const results = assembleResults({ runs: 20, seed: 3 } as never, [r]);
    const xml = new XMLParser({ ignoreAttributes: false }).parse(renderJunit(results)) as { testsuites: { testsuite: { testcase: { '@_name': string; failure?: { '@_type': string; '@_message': string } }[] }[] | { testcase: unknown } } };
    const suites = Array.isArray(xml.testsuites.testsuite) ? xml.testsuites.testsuite : [xml.testsuites.testsuite];
    const cases = (suites[0] as { testcase: { '@_name': string; failure?: { '@_type': string; '@_message': string } }[] }).testcase;
    const always = cases.find((c) => c['@_name'] === 'always always');
    expect(always?.failure).toMatchObject({ '@_type': 'not-exercised', '@_message': 'not exercised: judged 0 of 20 runs, at least 2 needed' });
    expect(cases.find((c) => c['@_name'] === 'tenth tenth')?.failure).toBeUndefined();
  });

  it('a failure wins over not exercised', async () => {
    const r = await runCell(CELL, { runs: 10, seed: 3, suites: [numbers({ bad: () => 'fail' })], shrinkBudget: 2 });
    expect(r.properties[0]).toMatchObject({ status: 'fail', pass: false });
  });

  it('the backup suite runs its twin (property 11) on runs 0, 10, 20, … and every P11 shrink or replay', () => {
    type Spec = Parameters<NonNullable<typeof BACKUP_SUITE.forRun>>[0];
    const spec = { twin: false, fault: { kind: 'commit-timeout' }, cellId: 'linux/esx41/files/default', backupGapsMs: [10], job: PLAIN_JOB } as unknown as Spec;
    expect([0, 1, 9, 10, 20, 21].map((i) => BACKUP_SUITE.forRun?.(spec, i).twin)).toEqual([true, false, false, true, true, false]);
    expect(BACKUP_SUITE.forProperty?.(spec, 'P11').twin).toBe(true);
    expect(BACKUP_SUITE.forProperty?.(spec, 'P2')).toBe(spec);
    // run 0 has no quiesce fault (property 1 judges it), and neither has a P1 shrink
    expect([0, 1].map((i) => BACKUP_SUITE.forRun?.(spec, i).fault.kind)).toEqual(['none', 'commit-timeout']);
    expect(BACKUP_SUITE.forProperty?.(spec, 'P1').fault.kind).toBe('none');
    // run 0 has no fault at all (a lying power loss may leave no guest to judge); a P1 shrink keeps a power loss
    const power = { ...spec, fault: { kind: 'power-loss', atMs: 5, lyingCache: false } } as unknown as Spec;
    expect(BACKUP_SUITE.forRun?.(power, 0).fault.kind).toBe('none');
    expect(BACKUP_SUITE.forProperty?.(power, 'P1').fault).toBe(power.fault);
  });
});
