/**
 * `quiescelab demo`: the training page is written (index.html, demo.json, the marker),
 * byte-identical for a seed and different for another; its steps are the runs' own (the
 * snapshot instants, the lost transactions, the levels, recomputed here from the runs), for
 * both scenarios (sqlserver, sqlite-linux); every
 * step is an element with data-step; hostile input is one line and exit 2, nothing written.
 */

import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { demoStory } from '../../cli/demo.js';
import type { DemoStory } from '../../reports/demo/steps.js';
import { cli, expectUsageError } from '../support/cli.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'ql-demo-'));
const read = (dir: string, file: string): string => readFileSync(join(dir, file), 'utf8');

describe('quiescelab demo (CLI)', () => {
  let dir = '';

  beforeAll(async () => {
    dir = join(tmp(), 'd');
    const r = await cli('demo', '--out', dir);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(join(dir, 'index.html'));
  }, 120_000);

  it('writes index.html and demo.json into a marked folder; the same seed twice is byte-identical, another seed differs', async () => {
    expect(readdirSync(dir).sort()).toEqual(['.quiescelab-report', 'demo.json', 'index.html']);
    const again = await cli('demo', '--seed', '1', '--scenario', 'sqlserver', '--out', dir); // a folder demo wrote: written again
    expect(again.exitCode, again.stderr).toBe(0);
    const other = join(tmp(), 'd');
    expect((await cli('demo', '--out', other)).exitCode).toBe(0);
    for (const f of ['index.html', 'demo.json']) expect(read(other, f)).toBe(read(dir, f));
    const seed2 = join(tmp(), 'd');
    expect((await cli('demo', '--seed', '2', '--out', seed2)).exitCode).toBe(0);
    expect(read(seed2, 'demo.json')).not.toBe(read(dir, 'demo.json'));
    expect(read(seed2, 'index.html')).not.toBe(read(dir, 'index.html'));
  }, 120_000);

  it('the steps come from the runs: the snapshot instants, every lost item, the levels, journal replay', async () => {
    const story = JSON.parse(read(dir, 'demo.json')) as DemoStory;
    const { story: again, runs } = await demoStory('sqlserver', 1);
    expect(JSON.parse(JSON.stringify(again))).toEqual(story);
    const snapshot = story.steps.find((s) => s.kind === 'snapshot');
    expect(snapshot?.plain?.atUs).toBe(runs.plain.outcome.points[0]?.truth?.snapshotAtUs);
    expect(snapshot?.quiesced?.atUs).toBe(runs.quiesced.outcome.points[0]?.truth?.snapshotAtUs);
    expect(snapshot?.plain?.text).toMatch(/quiesce none$/);
    expect(snapshot?.quiesced?.text).toMatch(/quiesce application$/);
    for (const lane of ['plain', 'quiesced'] as const) {
      const run = runs[lane];
      const lostInRun = run.outcome.points.flatMap((p) => Object.entries(p.restored?.verdict.apps ?? {}).flatMap(([app, a]) => (a?.lost ?? []).map((id) => `${app}:${id}`)));
      expect(story.outcome[lane].lost.map((l) => `${l.app}:${l.id}`)).toEqual(lostInRun);
      expect(story.outcome[lane].lost).toHaveLength(run.dataLoss.committedLost + run.dataLoss.writesLost);
      expect(story.outcome[lane].level).toBe(run.level);
    }
    expect(story.outcome.plain.level).toBe('crash');
    expect(story.outcome.plain.journalReplay).toBe(true);
    expect(story.outcome.quiesced.level).toBe('application');
    expect(story.outcome.quiesced.lost).toEqual([]);
    expect(story.steps.find((s) => s.kind === 'freeze')?.plain?.absent).toBe(true);
    expect(story.steps.map((s) => s.index)).toEqual(story.steps.map((_, i) => i));
    expect(story.steps.at(-1)?.kind).toBe('outcome');
  }, 120_000);

  it('--scenario sqlite-linux: the default cell (fifreeze alone) beside the script cell (SQLite checkpointed and locked), one spec', async () => {
    const { story, runs } = await demoStory('sqlite-linux', 2);
    expect(runs.plain.spec).toEqual({ ...runs.quiesced.spec, cellId: 'linux/esx41/sqlite/default' });
    expect(story.cell).toBe('linux/esx41/sqlite/default vs linux/esx41/sqlite/script');
    const snapshot = story.steps.find((s) => s.kind === 'snapshot');
    expect(snapshot?.plain?.atUs).toBe(runs.plain.outcome.points[0]?.truth?.snapshotAtUs);
    expect(snapshot?.quiesced?.atUs).toBe(runs.quiesced.outcome.points[0]?.truth?.snapshotAtUs);
    expect(story.outcome.plain.level).toBe(runs.plain.level);
    expect(story.outcome.quiesced.level).toBe('application');
    expect(story.outcome.plain.level).not.toBe('application');
    for (const lane of ['plain', 'quiesced'] as const) {
      expect(story.outcome[lane].lost).toHaveLength(runs[lane].dataLoss.committedLost + runs[lane].dataLoss.writesLost);
    }
  }, 120_000);

  it('the page: one data-step element per step, the lost items listed, self-contained (no external URL), escaped', () => {
    const story = JSON.parse(read(dir, 'demo.json')) as DemoStory;
    const html = read(dir, 'index.html');
    expect(html.match(/<li data-step="\d+"/g)).toHaveLength(story.steps.length);
    expect(html).toContain('<input type="range" id="scrub"');
    for (const l of story.outcome.plain.lost) expect(html).toContain(`data-lost="${l.app}:${l.id}"`);
    expect(html).not.toMatch(/\b(?:src|href)=/);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html.match(/<script>/g)).toHaveLength(1);
    expect(html).toContain('quiescelab&#39;s engine');
  });

  it.each([
    [['demo', '--seed', 'x'], /^quiescelab: --seed: expected a whole number, got 'x'$/],
    [['demo', '--seed', '-1'], /^quiescelab: --seed: must be between 0 and 2147483647, got -1$/],
    [['demo', '--scenario', 'nope'], /^quiescelab: --scenario: unknown scenario 'nope' \(known: sqlserver/],
    [['demo', '--scenario', '<script>\nalert(1)'], /^quiescelab: --scenario: unknown scenario '<script>\\u000aalert\(1\)'/],
    [['demo', '--out', ''], /^quiescelab: --out: expected a folder, got ''/],
    [['demo', '--bogus'], /^error: unknown option '--bogus'$/],
  ])('%j: one line, exit 2', async (args, message) => {
    expectUsageError(await cli(...args), message);
  });

  it('refuses a folder it did not write, or a file, before any work: nothing is written', async () => {
    const full = tmp();
    writeFileSync(join(full, 'notes.txt'), 'mine');
    expectUsageError(await cli('demo', '--out', full), /^quiescelab: --out: '.*' is not empty and quiescelab did not write it/);
    expect(readdirSync(full)).toEqual(['notes.txt']);
    const file = join(tmp(), 'f');
    writeFileSync(file, 'x');
    expectUsageError(await cli('demo', '--out', file), /^quiescelab: --out: '.*' exists and is not a folder$/);
    const nested = join(tmp(), 'a');
    mkdirSync(nested);
    expectUsageError(await cli('demo', '--out', join(nested, 'b'), '--scenario', 'dc2'), /^quiescelab: --scenario: unknown scenario 'dc2'/);
    expect(existsSync(join(nested, 'b'))).toBe(false);
  });
});
