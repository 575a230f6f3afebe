/**
 * `quiescelab report RESULTS --out DIR` as a user runs it: a good results.json gives the
 * report folder and its path (exit 0); a missing file, a file that is not JSON, or JSON
 * that is not a results file gives one line naming the file and what is wrong (exit 2).
 */

import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostileResults } from '../support/results-fixture.js';
import { cli } from '../support/cli.js';


describe('quiescelab report (CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ql-report-cli-'));
  const results = join(dir, 'results.json');
  writeFileSync(results, JSON.stringify(hostileResults(), null, 2));

  it('renders a results.json into the folder and prints its path', async () => {
    const out = join(dir, 'out', 'report');
    const r = await cli('report', results, '--out', out);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`report: ${join(out, 'index.html')}`);
    for (const f of ['index.html', 'assets/chart.umd.min.js', 'assets/report.js', 'assets/report.css', 'cells/win2019.esx41.sqlserver.ide.html', 'failures/win2019.esx41.sqlserver.ide.P1.html']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    expect(readFileSync(join(out, 'index.html'), 'utf8')).toContain('id="heatmap"');
  });

  writeFileSync(join(dir, 'not.json'), 'results, but not JSON\n');
  writeFileSync(join(dir, 'no-cells.json'), JSON.stringify(Object.fromEntries(Object.entries(hostileResults()).filter(([k]) => k !== 'cells'))));
  writeFileSync(join(dir, 'other.json'), JSON.stringify({ ...hostileResults(), tool: 'jepsen' }));

  it.each([
    ['missing.json', /^quiescelab: \S+missing\.json: cannot read: ENOENT$/],
    ['not.json', /^quiescelab: \S+not\.json: not JSON: /],
    ['no-cells.json', /^quiescelab: \S+no-cells\.json: not a quiescelab results file: cells: missing$/],
    ['other.json', /^quiescelab: \S+other\.json: not a quiescelab results file: tool: expected 'quiescelab', got "jepsen"$/],
  ])('%s: one line naming the file, exit 2', async (name, message) => {
    const file = join(dir, name);
    const r = await cli('report', file, '--out', join(dir, 'never'));
    expect(r.exitCode).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(message);
    expect(r.stderr).toContain(file);
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });
});
