/**
 * `quiescelab matrix`, `mutants`, `replay` and `list` as a user runs them: filters, the
 * report files, results.json valid against the schema and identical for one seed
 * (whatever the number of workers), bad usage as one line and exit 2, a mutant's replay
 * token reproducing its failure.
 */

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { cli, ROOT, expectUsageError } from '../support/cli.js';

const schema = JSON.parse(readFileSync(join(ROOT, 'reports/results.schema.json'), 'utf8')) as object;
const FILTER = ['--os', 'win2019,linux', '--tools', 'esx41', '--apps', 'files,sqlite', '--no-mutants'];

describe('quiescelab matrix (CLI)', () => {
  const out1 = mkdtempSync(join(tmpdir(), 'ql-m1-'));
  const out2 = mkdtempSync(join(tmpdir(), 'ql-m2-'));

  it('runs the filtered cells, prints the table and the report path, writes a results.json that validates', async () => {
    const r = await cli('matrix', ...FILTER, '--runs', '3', '--seed', '11', '--out', out1);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^pass {2}linux\/esx41\/sqlite\/script +expected application +achieved application:\d/m);
    expect(r.stdout).toMatch(/5\/5 cells pass, 3 runs per cell, seed 11, engine quiescelab/);
    expect(r.stdout).toContain(`report: ${join(out1, 'index.html')}`);
    const results = JSON.parse(readFileSync(join(out1, 'results.json'), 'utf8')) as { cells: { os: string; tools: string; app: string }[] };
    const validate = new Ajv2020({ allErrors: true, strict: true }).compile(schema);
    expect(validate(results), JSON.stringify(validate.errors)).toBe(true);
    for (const c of results.cells) {
      expect(['win2019', 'linux']).toContain(c.os);
      expect(c.tools).toBe('esx41');
      expect(['files', 'sqlite']).toContain(c.app);
    }
    expect(readFileSync(join(out1, 'index.html'), 'utf8')).toContain('linux/esx41/sqlite/script');
  });

  it('hunts the mutants of the selected cells with the matrix: the table, and each killer with its replay token and timeline in results.json', async () => {
    const out = mkdtempSync(join(tmpdir(), 'ql-m3-'));
    const r = await cli('matrix', '--os', 'linux', '--tools', 'esx35u2', '--apps', 'files', '--runs', '2', '--mutant-runs', '5', '--out', out);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^trusts-sync-only +P\d+ /m);
    expect(r.stdout).toContain('1/1 mutants killed');
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { mutants: { runs: number; killed: number; survived: number; results: { id: string; killed: boolean; cell: string; killer: { replay: string; timeline: { kind: string }[] } }[] } };
    const validate = new Ajv2020({ allErrors: true, strict: true }).compile(schema);
    expect(validate(results), JSON.stringify(validate.errors)).toBe(true);
    expect(results.mutants).toMatchObject({ runs: 5, killed: 1, survived: 0 });
    const [m] = results.mutants.results;
    expect(m).toMatchObject({ id: 'trusts-sync-only', killed: true, cell: 'linux/esx35u2/files/default' });
    expect(m?.killer.replay).toMatch(/^ql1\./);
    expect(m?.killer.timeline.map((e) => e.kind)).toEqual(expect.arrayContaining(['boot', 'writes', 'snapshot', 'backup', 'verdict']));
  });

  it('the same seed gives an identical results.json, with one worker or two', async () => {
    const r = await cli('matrix', ...FILTER, '--runs', '3', '--seed', '11', '--workers', '1', '--out', out2);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(readFileSync(join(out2, 'results.json'), 'utf8')).toBe(readFileSync(join(out1, 'results.json'), 'utf8'));
  });

  it.each([
    [['matrix', '--os', 'win2019,beos'], /^quiescelab: --os: unknown id 'beos' \(known: win2000, /],
    [['matrix', '--apps', ','], /^quiescelab: --apps: expected a comma list of ids, got ','$/],
    [['matrix', '--os', 'winxp', '--apps', 'exchange'], /^quiescelab: --os\/--tools\/--apps: no cell of the matrix matches this filter$/],
    [['matrix', '--mutant', 'nope'], /^quiescelab: --mutant: unknown mutant 'nope'/],
    [['matrix', '--mutant-runs', '0'], /^quiescelab: --mutant-runs: must be between 1 and 10000, got 0$/],
    [['replay', 'garbage'], /^quiescelab: token: expected it to start with 'ql1\.'$/],
    [['list', 'planets'], /^quiescelab: list: unknown 'planets'/],
    [['mutants', '--only', 'nope'], /^quiescelab: --only: unknown mutant 'nope'/],
  ])('bad usage %j: one line, exit 2', async (args, message) => {
    expectUsageError(await cli(...args), message);
  });

  it('list prints the catalog, the properties and the mutants', async () => {
    const os = await cli('list', 'os');
    expect(os.stdout.split('\n')).toContain('win2008r2');
    const props = JSON.parse((await cli('list', 'properties', '--json')).stdout) as { id: string }[];
    expect(props.map((p) => p.id)).toEqual(expect.arrayContaining(['P1', 'P2', 'P5', 'P8', 'P11']));
  });

  it('mutants kills a mutant, prints the table, and its replay token reproduces the failure', async () => {
    const r = await cli('mutants', '--only', 'leaks-crash-snapshots', '--runs', '4');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^leaks-crash-snapshots +P8 quiesce faults fall back honestly +\d+ chars, \d+ shrinks, on /m);
    expect(r.stdout).toMatch(/1\/1 mutants killed/);
    const token = /quiescelab replay (ql1\.\S+)/.exec(r.stdout)?.[1];
    expect(token).toBeDefined();
    const again = await cli('replay', token ?? '');
    expect(again.exitCode).toBe(1);
    expect(again.stdout).toMatch(/engine: leaks-crash-snapshots/);
    expect(again.stdout).toMatch(/P8 quiesce faults fall back honestly: FAILS — VmSnapshot\(s\) left behind/);
    expect(again.stdout).toMatch(/snapshot +VmSnapshot/);
  });
});
