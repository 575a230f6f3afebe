/**
 * `quiescelab matrix --shard I/N` and `quiescelab merge` as CI runs them: a filtered
 * matrix (5 cells, --runs 3, the hunt of the one mutant with a selected cell) split into
 * 1, 2 and 3 shards, each merged: results.json, JUnit and every file of the report are
 * byte-identical to the unsharded run's. Every hostile merge (a shard missing, given
 * twice, of another seed, version, runs, selection or engine, a file that is not a shard
 * file, malformed JSON) and every bad --shard is one line on stderr and exit 2, nothing
 * written; --shard auto finds the shard of a Kubernetes Indexed Job and of GitLab parallel.
 */

import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, cliArgs, expectUsageError, ROOT } from '../support/cli.js';
import { planShards } from '../../cli/shard.js';

const FILTER = ['--os', 'linux,other', '--tools', 'esx35u2', '--apps', 'files,sqlite', '--runs', '3', '--mutant-runs', '5', '--seed', '3', '--workers', '1'];
const dir = mkdtempSync(join(tmpdir(), 'ql-shard-'));

/** Every file under `root`, by relative path, with its bytes. */
function tree(root: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else files.set(relative(root, path), readFileSync(path, 'latin1'));
    }
  };
  walk(root);
  return files;
}

/** The shards of an N-way split, run side by side; returns their part files. */
async function shards(count: number): Promise<string[]> {
  const runs = Array.from({ length: count }, (_, i) => cli('matrix', ...FILTER, '--shard', `${i + 1}/${count}`, '--out', join(dir, `n${count}-s${i + 1}`)));
  const done = await Promise.all(runs);
  return done.map((r, i) => {
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`shard ${i + 1}/${count}: `);
    return join(dir, `n${count}-s${i + 1}`, `shard-${i + 1}-of-${count}.json`);
  });
}

describe('matrix --shard and merge', () => {
  const parts = new Map<number, string[]>();
  let full: Awaited<ReturnType<typeof cli>>;

  beforeAll(async () => {
    full = await cli('matrix', ...FILTER, '--out', join(dir, 'full'), '--junit', join(dir, 'full.xml'));
    for (const n of [1, 2, 3]) parts.set(n, await shards(n));
  }, 240_000);

  it.each([1, 2, 3])('%i shards merge into the unsharded run: results.json, JUnit, the report and stdout byte for byte', async (n) => {
    expect(full.exitCode, full.stderr).toBe(0);
    expect(full.stdout).toMatch(/1\/1 mutants killed/);
    const out = join(dir, `merged-${n}`);
    // Parts in reverse order: the order given does not matter.
    const r = await cli('merge', ...[...parts.get(n) ?? []].reverse(), '--out', out, '--junit', join(dir, `merged-${n}.xml`), '--json', join(dir, `merged-${n}.json`));
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(full.stdout.replace(join(dir, 'full'), out));
    expect(readFileSync(join(out, 'results.json'), 'utf8')).toBe(readFileSync(join(dir, 'full', 'results.json'), 'utf8'));
    expect(readFileSync(join(dir, `merged-${n}.json`), 'utf8')).toBe(readFileSync(join(dir, 'full', 'results.json'), 'utf8'));
    expect(readFileSync(join(dir, `merged-${n}.xml`), 'utf8')).toBe(readFileSync(join(dir, 'full.xml'), 'utf8'));
    const [want, got] = [tree(join(dir, 'full')), tree(out)];
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [path, bytes] of want) expect(got.get(path), path).toBe(bytes);
  });

  it('a shard file says which run it is part of and which tasks it covers', () => {
    const part = JSON.parse(readFileSync((parts.get(2) ?? [])[0] ?? '', 'utf8')) as Record<string, unknown>;
    expect(part).toMatchObject({
      format: 'quiescelab-shard', formatVersion: 1, tool: 'quiescelab', seed: 3, runs: 3, mutantRuns: 5,
      selection: { os: ['linux', 'other'], tools: ['esx35u2'], apps: ['sqlite', 'files'], mutant: null, hunt: true },
      engine: { name: 'quiescelab', command: null }, shard: { index: 1, count: 2 },
    });
    expect((part.tasks as string[]).every((t) => /^(cell|mutant):/.test(t))).toBe(true);
  });

  /** A copy of part `k` of the 2-way split with `edit` applied to its JSON. */
  const edited = (name: string, edit: (p: Record<string, unknown>) => void, k = 1): string => {
    const part = JSON.parse(readFileSync((parts.get(2) ?? [])[k] ?? '', 'utf8')) as Record<string, unknown>;
    edit(part);
    const path = join(dir, `${name}.json`);
    writeFileSync(path, JSON.stringify(part, null, 2));
    return path;
  };

  it.each([
    ['missing', () => [(parts.get(2) ?? [])[0] ?? ''], /^quiescelab: missing shard: 2\/2 of this run \(given: 1\/2\)$/],
    ['duplicated', () => [...parts.get(2) ?? [], edited('dup', () => undefined, 0)], /^quiescelab: .*dup\.json: duplicated shard: shard 1\/2 is also .*shard-1-of-2\.json$/],
    ['foreign seed', () => [(parts.get(2) ?? [])[0] ?? '', edited('seed', (p) => { p.seed = 4; })], /^quiescelab: .*seed\.json: foreign shard: seed 4, but .*shard-1-of-2\.json has seed 3$/],
    ['foreign version', () => [(parts.get(2) ?? [])[0] ?? '', edited('version', (p) => { p.version = '0.0.9'; })], /^quiescelab: .*version\.json: written by quiescelab 0\.0\.9; this is quiescelab \d+\.\d+\.\d+/],
    ['foreign runs', () => [(parts.get(2) ?? [])[0] ?? '', edited('runs', (p) => { p.runs = 4; })], /^quiescelab: .*runs\.json: foreign shard: runs 4, but .* has runs 3$/],
    ['foreign selection', () => [(parts.get(2) ?? [])[0] ?? '', edited('sel', (p) => { (p.selection as { os: string[] }).os = ['linux']; })], /^quiescelab: .*sel\.json: foreign shard: selection os linux, tools esx35u2, apps sqlite,files, with the mutant hunt, but .* has selection os linux,other, /],
    ['foreign engine', () => [(parts.get(2) ?? [])[0] ?? '', edited('eng', (p) => { p.engine = { name: 'restic-py', command: ['python3', 'engine.py'] }; })], /^quiescelab: .*eng\.json: foreign shard: engine restic-py \(python3 engine\.py\), but .* has engine quiescelab \(in process\)$/],
    ['edited tasks', () => [(parts.get(2) ?? [])[0] ?? '', edited('tasks', (p) => { (p.tasks as string[]).pop(); (p.results as unknown[]).pop(); })], /^quiescelab: .*tasks\.json: its tasks are not shard 2\/2's of this selection/],
    ['not a shard file', () => [(parts.get(2) ?? [])[0] ?? '', join(dir, 'full', 'results.json')], /^quiescelab: .*results\.json: not a quiescelab shard file \(a results\.json/],
    ['malformed JSON', () => {
      const path = join(dir, 'broken.json');
      writeFileSync(path, '{"format": "quiescelab-shard", ');
      return [(parts.get(2) ?? [])[0] ?? '', path];
    }, /^quiescelab: .*broken\.json: not JSON: /],
    ['malformed header', () => [(parts.get(2) ?? [])[0] ?? '', edited('header', (p) => { p.shard = { index: 'two', count: 2 }; })], /^quiescelab: .*header\.json: malformed shard file: shard\.index: expected a whole number/],
  ])('merge with a %s shard: one line naming it, exit 2, nothing written', async (_name, files, message) => {
    const out = join(dir, `refused-${_name.replace(/ /g, '-')}`);
    expectUsageError(await cli('merge', ...files(), '--out', out), message);
    expect(existsSync(out)).toBe(false);
  });

  it('a merge whose cells fail exits 1, as matrix does', async () => {
    const path = edited('failing', (p) => {
      const cell = (p.results as { properties?: unknown; pass: boolean }[]).find((r) => r.properties !== undefined);
      if (cell !== undefined) cell.pass = false;
    }, 0);
    const hasCell = (JSON.parse(readFileSync(path, 'utf8')) as { tasks: string[] }).tasks.some((t) => t.startsWith('cell:'));
    const r = await cli('merge', path, (parts.get(2) ?? [])[1] ?? '', '--out', join(dir, 'failing-out'));
    expect(r.exitCode, r.stderr).toBe(hasCell ? 1 : 0);
  });
});

describe('--shard values and --shard auto', () => {
  const TINY = ['matrix', '--os', 'other', '--tools', 'esx41', '--apps', 'files', '--runs', '1', '--no-mutants', '--workers', '1'];
  const CI_VARS = ['JOB_COMPLETION_INDEX', 'QUIESCELAB_SHARD_COUNT', 'CI_NODE_INDEX', 'CI_NODE_TOTAL'];
  const run = (env: Record<string, string>, ...args: string[]) => {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !CI_VARS.includes(k)));
    return execa('node', cliArgs(...args), { cwd: ROOT, reject: false, extendEnv: false, env: { ...clean, ...env } });
  };

  it.each([
    ['0/3', /^quiescelab: --shard: the index I must be between 1 and 3 \(I\/N counts from 1\), got '0\/3'$/],
    ['4/3', /^quiescelab: --shard: the index I must be between 1 and 3 /],
    ['a/b', /^quiescelab: --shard: expected I\/N \(shard I of N, from 1\/N to N\/N\) or auto, got 'a\/b'$/],
    ['1/0', /^quiescelab: --shard: the count N must be between 1 and 1000, got '1\/0'$/],
    ['', /^quiescelab: --shard: expected I\/N/],
  ])('--shard %j: one line naming --shard, exit 2', async (value, message) => {
    expectUsageError(await run({}, ...TINY, '--shard', value, '--out', join(dir, 'bad-shard')), message);
    expect(existsSync(join(dir, 'bad-shard'))).toBe(false);
  });

  it.each([
    [{}, ['--shard-count', '2'], /^quiescelab: --shard-count: only with --shard auto/],
    [{}, ['--shard', '1/2', '--junit', join(dir, 'j.xml')], /^quiescelab: --junit: a shard writes its part only; give --junit to quiescelab merge$/],
    [{}, ['--shard', 'auto'], /^quiescelab: --shard auto: found neither JOB_COMPLETION_INDEX \(Kubernetes Indexed Job\) nor CI_NODE_INDEX\/CI_NODE_TOTAL \(GitLab parallel\)/],
    [{ JOB_COMPLETION_INDEX: '1' }, ['--shard', 'auto'], /^quiescelab: --shard auto: found JOB_COMPLETION_INDEX=1 \(Kubernetes Indexed Job\) but no count: give --shard-count N or set QUIESCELAB_SHARD_COUNT/],
    [{ JOB_COMPLETION_INDEX: '2', QUIESCELAB_SHARD_COUNT: '2' }, ['--shard', 'auto'], /^quiescelab: --shard auto: JOB_COMPLETION_INDEX=2 is not below the count 2 \(QUIESCELAB_SHARD_COUNT=2\)$/],
    [{ JOB_COMPLETION_INDEX: 'x' }, ['--shard', 'auto', '--shard-count', '2'], /^quiescelab: --shard auto: JOB_COMPLETION_INDEX: expected a whole number, got 'x'$/],
    [{ CI_NODE_INDEX: '3', CI_NODE_TOTAL: '2' }, ['--shard', 'auto'], /^quiescelab: --shard auto: CI_NODE_INDEX=3 is above CI_NODE_TOTAL=2$/],
    [{ CI_NODE_INDEX: '1' }, ['--shard', 'auto'], /^quiescelab: --shard auto: found CI_NODE_INDEX without CI_NODE_TOTAL/],
  ])('env %j, %j: one line, exit 2', async (env, args, message) => {
    expectUsageError(await run(env, ...TINY, ...args, '--out', join(dir, 'bad-auto')), message);
    expect(existsSync(join(dir, 'bad-auto'))).toBe(false);
  });

  it.each([
    ['Kubernetes', { JOB_COMPLETION_INDEX: '1' }, ['--shard-count', '2'], 2, 2, /^quiescelab: --shard auto: shard 2\/2 from JOB_COMPLETION_INDEX=1 \(Kubernetes Indexed Job, 0-based\) and --shard-count 2$/],
    ['Kubernetes, count from the environment', { JOB_COMPLETION_INDEX: '0', QUIESCELAB_SHARD_COUNT: '3' }, [], 1, 3, /^quiescelab: --shard auto: shard 1\/3 from JOB_COMPLETION_INDEX=0 \(Kubernetes Indexed Job, 0-based\) and QUIESCELAB_SHARD_COUNT=3$/],
    ['GitLab', { CI_NODE_INDEX: '2', CI_NODE_TOTAL: '3' }, [], 2, 3, /^quiescelab: --shard auto: shard 2\/3 from CI_NODE_INDEX=2 and CI_NODE_TOTAL=3 \(GitLab parallel, 1-based\)$/],
  ])('--shard auto under %s: one line saying what it found, exit 0, the part written', async (name, env, args, index, count, line) => {
    const out = join(dir, `auto-${name.replace(/\W+/g, '-')}`);
    const r = await run(env, ...TINY, '--shard', 'auto', ...args, '--out', out);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(line);
    expect(existsSync(join(out, `shard-${index}-of-${count}.json`))).toBe(true);
  });
});

describe('planShards', () => {
  it('deals every task once, costliest first to the least loaded shard, deterministically', () => {
    const costs = [50, 10, 10, 10, 10, 10, 40, 5, 5];
    const plan = planShards(costs, 3);
    expect(plan.flat().sort((a, b) => a - b)).toEqual(costs.map((_, i) => i));
    expect(planShards(costs, 3)).toEqual(plan);
    const loads = plan.map((s) => s.reduce((sum, i) => sum + (costs[i] ?? 0), 0));
    // Round-robin by count would give 50+10+40, 10+10+5, 10+10+5: 100 / 25.
    expect(Math.max(...loads) - Math.min(...loads)).toBeLessThanOrEqual(10);
    expect(planShards([], 4)).toEqual([[], [], [], []]);
    expect(planShards(costs, 1)).toEqual([costs.map((_, i) => i)]);
  });
});
