/**
 * The report's replication section (issue 17) from a real run: runCell with the
 * replication suite on win2019/esx41/sqlserver/default records each survey run's RPO
 * series, cycles (bytes sent, white space skipped), failover and failback with the cell's
 * totals; results.json with it fits the schema; the cell page draws the RPO over time and
 * the bytes per cycle and tables each run; the index lists the cell. A cell where the
 * suite does not run, or an engine without `replication`, has no record and no section.
 */

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { StdioEngine } from '../../cli/engine-rpc/client.js';
import type { CellResult, MatrixResults } from '../../core/results.js';
import { renderReport } from '../../reports/html/report.js';
import { encodeId } from '../../reports/html/names.js';
import { schemaProblem } from '../../reports/results-check.js';
import { findCell, type Cell } from '../../scenarios/cells.js';
import { builtinEngine } from '../../scenarios/engine-builtin.js';
import type { Engine } from '../../scenarios/engine-api.js';
import { runCell } from '../../scenarios/runner.js';
import { BACKUP_SUITE } from '../../scenarios/suites/backup-suite.js';
import { REPLICATION_SUITE } from '../../scenarios/suites/replication-suite.js';
import { cli, cliArgs, ROOT } from '../support/cli.js';

const root = resolve(import.meta.dirname, '../..');
const schema = JSON.parse(readFileSync(join(root, 'reports/results.schema.json'), 'utf8')) as object;
const REP_CELL = 'win2019/esx41/sqlserver/default';

function cell(id: string): Cell {
  const c = findCell(id);
  if (c === undefined) throw new Error(`no cell ${id}`);
  return c;
}

function resultsOf(cells: readonly CellResult[]): MatrixResults {
  const passed = cells.filter((c) => c.pass).length;
  return {
    tool: 'quiescelab', version: '0.0.0', seed: 1, runsPerCell: 4, engine: 'quiescelab', properties: [], cells,
    summary: { cells: cells.length, passed, failed: cells.length - passed }, mutants: null,
  };
}

function chartData(html: string): { charts: { canvas: string; labels: unknown[]; xLinear?: boolean; datasets: { label: string; data: unknown[]; dashed?: boolean }[] }[] } {
  const m = /<script type="application\/json" id="chart-data">([^<]*)<\/script>/.exec(html);
  if (m === null) throw new Error('no chart-data block');
  return JSON.parse(m[1] ?? '') as ReturnType<typeof chartData>;
}

/** The built-in engine, declaring everything but replication and failback. */
function withoutReplication(): Engine {
  const engine = builtinEngine();
  return new Proxy(engine, {
    get: (t, p, r) => (p === 'initialize'
      ? async (params: Parameters<Engine['initialize']>[0]) => {
        const info = await t.initialize(params);
        return { ...info, capabilities: info.capabilities.filter((c) => c !== 'replication' && c !== 'failback') };
      }
      : Reflect.get(t, p, r) as unknown),
  });
}

describe('the replication section from a real run', () => {
  let rep: CellResult;

  beforeAll(async () => {
    rep = await runCell(cell(REP_CELL), { runs: 4, seed: 1, suites: [REPLICATION_SUITE] });
  }, 120_000);

  it('runCell records every survey run: RPO series, cycles with bytes, failover, failback, totals', () => {
    const r = rep.replication;
    expect(r).toBeDefined();
    if (r === undefined) return;
    expect(r.runs).toBe(4);
    expect(r.perRun.map((x) => x.run)).toEqual([0, 1, 2, 3]);
    // The suite's strata: no fault and nothing after; a fault then failover; a failback; a test failover.
    expect(r.perRun.map((x) => x.after)).toEqual(['none', 'failover', 'failback-original', 'test-failover']);
    expect(r.perRun[0]?.fault).toBe('none');
    expect(r.perRun[1]?.fault).not.toBe('none');
    for (const run of r.perRun) {
      expect(run.cycles.length).toBeGreaterThanOrEqual(2);
      expect(run.cycles[0]?.kind).toBe('full');
      expect(run.cycles[0]?.bytesSkippedWhiteSpace).toBeGreaterThan(0);
      expect(run.rpo.length).toBeGreaterThan(1);
      for (const p of run.rpo) expect(Number.isInteger(p.rpoUs) && p.rpoUs >= 0).toBe(true);
      for (const c of run.cycles.slice(1)) expect(c.bytesSkippedWhiteSpace).toBe(0);
    }
    expect(r.perRun[0]?.failover).toBeNull();
    expect(r.perRun[1]?.failover).toMatchObject({ kind: 'failover', ok: true });
    expect(r.perRun[2]?.failback).toMatchObject({ ok: true, target: 'original' });
    expect(r.perRun[3]?.failover).toMatchObject({ kind: 'test', ok: true });
    expect(r.rpoUsMax).toBe(Math.max(...r.perRun.flatMap((x) => x.rpo.map((p) => p.rpoUs))));
    const rtos = r.perRun.flatMap((x) => (x.failover?.kind === 'failover' && x.failover.ok ? [x.failover.rtoUs] : []));
    expect(r.rtoUsMax).toBe(Math.max(...rtos));
    expect(r.rtoUsMean).toBe(Math.round(rtos.reduce((a, b) => a + b, 0) / rtos.length));
    expect(r.bytesSent).toBe(r.perRun.flatMap((x) => x.cycles).reduce((a, c) => a + c.bytesSent, 0));
    expect(r.bytesSkippedWhiteSpace).toBe(r.perRun.flatMap((x) => x.cycles).reduce((a, c) => a + c.bytesSkippedWhiteSpace, 0));
  });

  it('fits results.schema.json and the report\'s own check', () => {
    const results = JSON.parse(JSON.stringify(resultsOf([rep]))) as unknown;
    const validate = new Ajv2020({ allErrors: true, strict: true }).compile(schema);
    expect(validate(results), JSON.stringify(validate.errors)).toBe(true);
    expect(schemaProblem(results)).toBeNull();
    const bad = JSON.parse(JSON.stringify(results)) as { cells: { replication: { perRun: { cycles: { kind: string }[] }[] } }[] };
    (bad.cells[0]?.replication.perRun[0]?.cycles[0] as { kind: string }).kind = 'sideways';
    expect(schemaProblem(bad)).toBe('cells[0].replication.perRun[0].cycles[0].kind: expected one of full, incremental');
    expect(validate(bad)).toBe(false);
  });

  it('the cell page draws the RPO over time against a bound and the bytes per cycle, and tables each run', () => {
    const files = renderReport(resultsOf([rep]));
    const html = files.get(`cells/${encodeId(REP_CELL)}.html`) as string;
    expect(html).toContain('<section id="replication"><h2>Replication</h2>');
    const charts = chartData(html).charts;
    const rpo = charts.find((c) => c.canvas === 'chart-replication-rpo');
    const bytes = charts.find((c) => c.canvas === 'chart-replication-bytes');
    expect(rpo?.xLinear).toBe(true);
    expect(rpo?.datasets).toHaveLength(5);
    const r = rep.replication;
    if (r === undefined || rpo === undefined || bytes === undefined) throw new Error('missing');
    expect(rpo.datasets[0]?.data).toEqual(r.perRun[0]?.rpo.map((p) => ({ x: Math.round(p.atUs / 1e3) / 1e3, y: Math.round(p.rpoUs / 1e3) / 1e3 })));
    expect(rpo.datasets[4]?.dashed).toBe(true);
    const cycles = r.perRun.flatMap((x) => x.cycles);
    expect(bytes.labels).toHaveLength(cycles.length);
    expect(bytes.datasets.map((d) => d.label)).toEqual(['sent over the link', 'white space skipped']);
    expect(bytes.datasets[1]?.data[0]).toBe(Math.round((cycles[0]?.bytesSkippedWhiteSpace ?? 0) / 1_048.576) / 1e3);
    expect(html.match(/<canvas id="chart-replication-rpo"/g)).toHaveLength(1);
    expect(html.match(/<canvas id="chart-replication-bytes"/g)).toHaveLength(1);
    expect(html.match(/<canvas /g)).toHaveLength(charts.length);
    const section = html.slice(html.indexOf('<section id="replication">'));
    expect(section.match(/<ol class="cycles">/g)).toHaveLength(4);
    expect(section).toContain('<td>test-failover</td>');
    expect(section).toMatch(/failover <span class="pass">✓<\/span> point <code>[^<]+<\/code>, RTO \d+\.\d ms/);
    expect(section).toMatch(/to the original <span class="pass">✓<\/span>, final pass at \d+\.\d{3} s/);
    const index = files.get('index.html') as string;
    expect(index).toContain(`<a href="cells/${encodeId(REP_CELL)}.html#replication"><code>${REP_CELL}</code></a>`);
  });

  it('a cell the suite does not run on, and an engine without replication, have no record and no section', async () => {
    const other = await runCell(cell('win2019/esx41/sqlserver/ide'), { runs: 1, seed: 1, suites: [REPLICATION_SUITE, BACKUP_SUITE] });
    expect('replication' in other).toBe(false);
    const lacking = await runCell(cell(REP_CELL), { runs: 2, seed: 1, engine: withoutReplication(), suites: [REPLICATION_SUITE] });
    expect('replication' in lacking).toBe(false);
    expect(lacking.properties.every((p) => p.status === 'not-applicable')).toBe(true);
    const files = renderReport(resultsOf([other, lacking]));
    for (const [path, content] of files) if (typeof content === 'string') expect(content, path).not.toContain('id="replication"');
    for (const [path, content] of files) if (typeof content === 'string') expect(content, path).not.toContain('chart-replication');
  }, 120_000);

  it('through engine-stdio in a child process the cell result, its replication record included, is byte-identical', async () => {
    const stdio = new StdioEngine(['node', ...cliArgs('engine-stdio')], { cwd: ROOT, timeoutMs: 60_000 });
    try {
      const r = await runCell(cell(REP_CELL), { runs: 4, seed: 1, engine: stdio, suites: [REPLICATION_SUITE] });
      expect(JSON.stringify(r)).toBe(JSON.stringify(rep));
    } finally {
      await stdio.close();
    }
  }, 120_000);
});

describe('sharded and merged', () => {
  it('a replication cell\'s record survives a 2-shard run and merge byte for byte', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ql-rep-shard-'));
    const FILTER = ['--os', 'other', '--tools', 'esx41', '--apps', 'files', '--runs', '2', '--no-mutants', '--workers', '1'];
    const whole = await cli('matrix', ...FILTER, '--out', join(dir, 'whole'));
    // Two runs leave some property not exercised (exit 1): the files must still be the same.
    expect([0, 1], whole.stderr).toContain(whole.exitCode);
    for (const i of [1, 2]) expect((await cli('matrix', ...FILTER, '--shard', `${i}/2`, '--out', join(dir, `s${i}`))).exitCode).toBe(0);
    const merged = await cli('merge', join(dir, 's1/shard-1-of-2.json'), join(dir, 's2/shard-2-of-2.json'), '--out', join(dir, 'merged'));
    expect(merged.exitCode, merged.stderr).toBe(whole.exitCode);
    const text = readFileSync(join(dir, 'whole/results.json'), 'utf8');
    expect(readFileSync(join(dir, 'merged/results.json'), 'utf8')).toBe(text);
    const results = JSON.parse(text) as MatrixResults;
    expect(results.cells.filter((c) => c.replication !== undefined).map((c) => c.id)).toEqual(['other/esx41/files/default']);
    expect(readFileSync(join(dir, 'merged/cells/other.esx41.files.default.html'), 'utf8')).toContain('<section id="replication">');
  }, 300_000);
});
