/**
 * `quiescelab run` as a user runs it: one scenario of a cell, its timeline (guest writes,
 * dirty pages, freeze and thaw, snapshot, crash, restore), points, data loss and verdict;
 * the fault syntax; a mutant's failure and exit 1; the file-level export of the first
 * point's guest files; bad usage as one line and exit 2 with nothing overwritten.
 */

import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseFault, formatFault } from '../../scenarios/scenario/fault-syntax.js';
import { cli, expectUsageError } from '../support/cli.js';


describe('quiescelab run (CLI)', () => {
  it('prints the scenario, its timeline, points, data loss and every property; the same seed prints the same', async () => {
    const args = ['run', '--os', 'linux', '--tools', 'esx41', '--apps', 'files', '--seed', '4'];
    const r = await cli(...args);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^cell linux\/esx41\/files\/default: expected filesystem/m);
    expect(r.stdout).toMatch(/fault none$/m);
    for (const kind of ['boot', 'writes', 'freeze', 'dirty', 'snapshot', 'thaw', 'backup', 'verdict', 'restore']) expect(r.stdout).toMatch(new RegExp(`^ +\\d+\\.\\d{6} s  ${kind} `, 'm'));
    expect(r.stdout).toMatch(/^ {2}#0 full +snapshot filesystem +claimed filesystem +achieved filesystem +lost 0$/m);
    expect(r.stdout).toMatch(/^data loss: 0 commits and \d+ writes lost;/m);
    expect(r.stdout).toMatch(/^ {2}P1 +matrix level +holds — /m);
    expect(r.stdout).toMatch(/^verdict: expected filesystem, achieved filesystem — pass$/m);
    expect((await cli(...args)).stdout).toBe(r.stdout);
  });

  it('--fault power-loss shows the crash on the timeline; a mutant that does not quiesce fails P1 with exit 1', async () => {
    const crash = await cli('run', '--os', 'linux', '--tools', 'esx41', '--apps', 'sqlite', '--seed', '2', '--fault', 'power-loss@200');
    expect(crash.exitCode, crash.stderr).toBe(0);
    expect(crash.stdout).toMatch(/^ +0\.200000 s {2}power-loss +the host loses power; the disk cache was honest$/m);
    const mutant = await cli('run', '--os', 'linux', '--tools', 'esx41', '--apps', 'files', '--seed', '4', '--mutant', 'no-quiesce');
    expect(mutant.exitCode).toBe(1);
    expect(mutant.stdout).toMatch(/^ {2}P1 +matrix level +FAILS — /m);
    expect(mutant.stdout).toMatch(/— FAIL$/m);
  });

  it('--export writes the first point\'s guest files, one folder per disk and per app', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'ql-run-')), 'out');
    const r = await cli('run', '--os', 'win2019', '--tools', 'esx41', '--apps', 'sqlserver,files', '--seed', '3', '--export', dir);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^export: disk 0 \(vm-1-disk0\): \d+ files, \d+ folders?, \d+ bytes -> .*sqlserver\/disk-0$/m);
    // The VM draws 1-3 disks: SQL Server's data on the first, its log and the files app on the last.
    const under = (app: string, folder: string): string[] => readdirSync(join(dir, app)).filter((d) => d.startsWith('disk-'))
      .flatMap((d) => (existsSync(join(dir, app, d, folder)) ? readdirSync(join(dir, app, d, folder)) : []));
    expect(under('sqlserver', 'sql').sort()).toEqual(['db.ldf', 'db.mdf']);
    expect(under('files', 'files').length).toBeGreaterThan(0);
    expect(readFileSync(join(dir, 'sqlserver', 'disk-0', 'sql', 'db.mdf')).length).toBeGreaterThan(0);
  });

  it.each([
    [['run', '--tools', 'esx41', '--apps', 'files'], /^error: required option '--os <id>' not specified$/],
    [['run', '--os', 'beos', '--tools', 'esx41', '--apps', 'files'], /^quiescelab: --os: unknown id 'beos'/],
    [['run', '--os', 'linux', '--tools', 'esx41', '--apps', 'exchange'], /^quiescelab: --apps: the matrix has no cell linux\/esx41\/exchange\/default/],
    [['run', '--os', 'linux', '--tools', 'esx41', '--apps', 'files', '--fault', 'meteor'], /^quiescelab: --fault: unknown fault 'meteor' \(none \| /],
    [['run', '--os', 'linux', '--tools', 'esx41', '--apps', 'files', '--fault', 'writer:thaw:OOPS'], /^quiescelab: --fault: unknown writer error 'OOPS'/],
    [['run', '--os', 'linux', '--tools', 'esx41', '--apps', 'files', '--seed', 'x'], /^quiescelab: --seed: expected a whole number, got 'x'$/],
    [['run', '--os', 'linux', '--tools', 'esx41', '--apps', 'files', '--mutant', 'nope'], /^quiescelab: --mutant: unknown mutant 'nope'/],
  ])('bad usage %j: one line, exit 2', async (args, message) => {
    expectUsageError(await cli(...args), message);
  });

  it('--export into a folder that is not empty is refused before anything runs, and the folder is left as it was', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ql-run-full-'));
    writeFileSync(join(dir, 'keep.txt'), 'mine');
    const r = await cli('run', '--os', 'linux', '--tools', 'esx41', '--apps', 'files', '--export', dir);
    expect(r.exitCode).toBe(2);
    expect(r.stderr.trim()).toMatch(/^quiescelab: --export: '.*' is not empty/);
    expect(readdirSync(dir)).toEqual(['keep.txt']);
    expect(readFileSync(join(dir, 'keep.txt'), 'utf8')).toBe('mine');
  });
});

describe('the fault syntax', () => {
  it.each(['none', 'commit-timeout', 'script-exit', 'script-hang', 'writer:freeze:RETRYABLE', 'writer:postSnapshot:NONRETRYABLE', 'power-loss@0', 'power-loss@1500:lying'])('%s parses and formats back to itself', (text) => {
    const f = parseFault(text);
    expect(f.ok).toBe(true);
    if (f.ok) expect(formatFault(f.value)).toBe(text);
  });

  it('power-loss alone is 300 ms into the warm-up with an honest cache; past the warm-up is refused', () => {
    expect(parseFault('power-loss')).toEqual({ ok: true, value: { kind: 'power-loss', atMs: 300, lyingCache: false } });
    expect(parseFault('power-loss@1501')).toMatchObject({ ok: false });
    expect(parseFault('writer:nope:RETRYABLE')).toMatchObject({ ok: false, error: expect.stringMatching(/^unknown writer phase 'nope'/) as unknown });
  });
});
