import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, expectUsageError } from '../support/cli.js';


describe('quiescelab storage-matrix (CLI)', () => {
  it('runs, prints the summary and the report path, writes results.json and index.html', async () => {
    const out = mkdtempSync(join(tmpdir(), 'ql-'));
    const json = join(out, 'copy.json');
    const r = await cli('storage-matrix', '--runs', '2', '--seed', '5', '--out', out, '--json', json);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^pass {2}snapshot\/write-back-honest\/ordered/m);
    expect(r.stdout).toMatch(/12\/12 cells pass, 2 runs per cell, seed 5/);
    expect(r.stdout).toContain(`report: ${join(out, 'index.html')}`);
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { seed: number; summary: { failed: number } };
    expect(results.seed).toBe(5);
    expect(readFileSync(json, 'utf8')).toBe(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(readFileSync(join(out, 'index.html'), 'utf8')).toContain('<table>');
  });

  it.each([
    [['storage-matrix', '--runs', 'ten'], /^quiescelab: --runs: expected a whole number, got 'ten'$/],
    [['storage-matrix', '--runs', '0'], /^quiescelab: --runs: must be between 1 and 100000, got 0$/],
    [['storage-matrix', '--seed', '-1'], /^quiescelab: --seed: must be between 0 and 4294967295, got -1$/],
    [['storage-matrix', '--bogus'], /unknown option '--bogus'/],
    [['nosuch'], /unknown command 'nosuch'/],
  ])('bad usage %j: one line, exit 2, no stack trace', async (args, message) => {
    const r = await cli(...args);
    expectUsageError(r, message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a --out that cannot be a folder is exit 2 naming the option, and nothing is lost', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ql-'));
    const file = join(dir, 'keep.txt');
    writeFileSync(file, 'precious');
    const r = await cli('storage-matrix', '--runs', '1', '--out', join(file, 'sub'));
    expect(r.exitCode).toBe(2);
    expect(r.stderr.trim()).toMatch(/^quiescelab: --out: '.*keep\.txt' exists and is not a folder$/);
    expect(readFileSync(file, 'utf8')).toBe('precious');
  });
});
