/**
 * The HTML report (reports/html): hostile strings stay text everywhere, the embedded chart
 * data parses back, the heat map's tables, rows, columns and mismatch marks, every link
 * resolves inside the report, every failure (and every mutant killer) has a page reachable
 * from the index with its timeline and replay command, the output is deterministic, and
 * chart.js is copied in.
 */

import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import type { MatrixResults } from '../../core/results.js';
import { jsonForScript } from '../../reports/html/page.js';
import { encodeId } from '../../reports/html/names.js';
import { renderReport, writeReport } from '../../reports/html/report.js';
import { isMatrixResults, resultsProblem } from '../../reports/results-check.js';
import { decodeHtml, innerHtml, innerText, scanTags, type Tag } from '../support/html-scan.js';
import { CLOSE_SCRIPT, FIXTURE_IDS, HOSTILE, hostileResults, QUOTES, XSS_IMG, XSS_SCRIPT } from '../support/results-fixture.js';

const root = resolve(import.meta.dirname, '../..');
const schema = JSON.parse(readFileSync(join(root, 'reports/results.schema.json'), 'utf8')) as object;

const TAGS = new Set(['html', 'head', 'meta', 'title', 'link', 'body', 'nav', 'main', 'a', 'h1', 'h2', 'h3', 'p', 'ul', 'ol', 'li', 'b', 'small', 'code', 'pre',
  'span', 'section', 'table', 'caption', 'thead', 'tbody', 'tr', 'th', 'td', 'figure', 'canvas', 'script', 'div', 'br', 'time']);
const ATTRS = new Set(['lang', 'charset', 'name', 'content', 'rel', 'href', 'src', 'type', 'id', 'class', 'title', 'role', 'aria-label', 'aria-hidden',
  'scope', 'data-app', 'data-cell', 'style']);

function pages(files: Map<string, string | Uint8Array>): [string, string][] {
  return [...files].filter((e): e is [string, string] => e[0].endsWith('.html') && typeof e[1] === 'string');
}

function page(files: Map<string, string | Uint8Array>, path: string): string {
  const text = files.get(path);
  if (typeof text !== 'string') throw new Error(`no page ${path}`);
  return text;
}

/** The page's links (href and src), resolved against the report's folder, without data: URLs. */
function links(path: string, tags: readonly Tag[]): string[] {
  return tags.flatMap((t) => ['href', 'src'].flatMap((a) => {
    const v = t.attrs.get(a);
    if (v === undefined || v.startsWith('data:')) return [];
    const decoded = decodeHtml(v);
    return [decoded.startsWith('#') ? `${path}${decoded}` : posix.normalize(posix.join(posix.dirname(path), decoded))];
  }));
}

function chartData(html: string): { charts: { canvas: string; labels: unknown[]; datasets: { label: string }[] }[] } {
  const m = /<script type="application\/json" id="chart-data">([^<]*)<\/script>/.exec(html);
  if (m === null) throw new Error('no chart-data block');
  return JSON.parse(m[1] ?? '') as ReturnType<typeof chartData>;
}

function cellIndex(results: MatrixResults, id: string): number {
  const i = results.cells.findIndex((c) => c.id === id);
  expect(i).toBeGreaterThanOrEqual(0);
  return i;
}

describe('the fixture', () => {
  it('is a valid results.json (schema and the report\'s own check), and covers every kind of value', () => {
    const results = hostileResults();
    const validate = new Ajv2020({ allErrors: true, strict: true }).compile(schema);
    expect(validate(JSON.parse(JSON.stringify(results))), JSON.stringify(validate.errors)).toBe(true);
    expect(resultsProblem(results)).toBeNull();
    expect(isMatrixResults(hostileResults({ beyondSchema: true }))).toBe(true);
    expect(validate(JSON.parse(JSON.stringify(hostileResults({ beyondSchema: true }))))).toBe(false);
    expect(results.mutants?.results.some((m) => !m.killed)).toBe(true);
    expect(results.cells.some((c) => c.dataLoss.perRun.level.includes(null))).toBe(true);
  });

  it('the report\'s check names the first bad field', () => {
    const results = JSON.parse(JSON.stringify(hostileResults())) as Record<string, unknown>;
    expect(resultsProblem({ ...results, tool: 'other' })).toBe(`tool: expected 'quiescelab', got "other"`);
    expect(resultsProblem({ ...results, cells: undefined })).toBe('cells: expected an array');
    const { cells, ...noCells } = results;
    expect(cells).toBeDefined();
    expect(resultsProblem(noCells)).toBe('cells: missing');
    const bad = JSON.parse(JSON.stringify(hostileResults())) as { cells: { dataLoss: { perRun: { level: unknown[] } } }[] };
    bad.cells[1]!.dataLoss.perRun.level[2] = 'excellent';
    expect(resultsProblem(bad)).toBe('cells[1].dataLoss.perRun.level[2]: expected a consistency level or null');
    expect(resultsProblem([])).toBe('the file: expected an object');
  });
});

describe.each([
  ['within the schema', hostileResults()],
  ['beyond the schema (hostile condition names and values)', hostileResults({ beyondSchema: true })],
])('the report of hostile results, %s', (_, results) => {
  const files = renderReport(results);

  it('every page is well-formed markup with known tags and attributes only: no hostile string is live', () => {
    for (const [path, html] of pages(files)) {
      const tags = scanTags(html);
      for (const t of tags) {
        expect(TAGS.has(t.name), `${path}: <${t.name}>`).toBe(true);
        for (const a of t.attrs.keys()) expect(ATTRS.has(a), `${path}: <${t.name} ${a}>`).toBe(true);
        if (t.name === 'script' && !t.closing) {
          const kind = t.attrs.has('src') ? 'src' : `${t.attrs.get('type') ?? ''}#${t.attrs.get('id') ?? ''}`;
          expect(['src', 'application/json#chart-data'], `${path}: a script that is neither a file nor the chart data`).toContain(kind);
        }
      }
      expect(html).not.toContain('<img');
      expect(html).not.toContain('<script>');
      expect(html).not.toMatch(/<script[^>]*>alert/);
      expect(html).not.toMatch(/\son[a-z]+="/);
      const block = /<script type="application\/json" id="chart-data">([^<]*)<\/script>/.exec(html)?.[1] ?? '';
      expect(block).not.toMatch(/[\u2028\u2029]/);
    }
  });

  it('hostile strings appear as text, escaped', () => {
    const index = page(files, 'index.html');
    expect(index).toContain('engine <b>&#60;img src=x onerror=alert(1)&#62;</b>');
    expect(index).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
    const tags = scanTags(index);
    const texts = tags.map((_, i) => i).filter((i) => tags[i]?.name === 'th' && tags[i]?.attrs.get('scope') === 'row').map((i) => innerText(index, tags, i));
    expect(texts).toContain(XSS_SCRIPT);
    const cellPage = [...files.keys()].find((p) => p.startsWith('cells/') && page(files, p).includes('&#60;img src=x onerror=alert(1)&#62;'));
    expect(cellPage).toBeDefined();
    expect(page(files, cellPage ?? '')).toContain('&#34;double&#34; &#39;single&#39; &#96;back&#96; &#38; amp');
    const failure = [...files.keys()].find((p) => p.startsWith('failures/') && page(files, p).includes('&#60;/script&#62;&#60;script&#62;alert(2)'));
    expect(failure).toBeDefined();
  });

  it('the embedded chart data escapes <, >, & and U+2028/9 and parses back to the data', () => {
    for (const [path, html] of pages(files)) {
      if (!html.includes('id="chart-data"')) continue;
      const data = chartData(html);
      for (const c of data.charts) expect(html, path).toContain(`<canvas id="${c.canvas}" class="chart"`);
    }
    const index = chartData(page(files, 'index.html'));
    expect(index.charts[0]?.labels).toEqual(['sqlserver', 'files', XSS_IMG]);
    const value = { s: [...HOSTILE], nested: { [CLOSE_SCRIPT]: QUOTES } };
    const json = jsonForScript(value);
    expect(json).not.toMatch(/[<>&\u2028\u2029]/);
    expect(JSON.parse(json)).toEqual(value);
  });
});

describe('the report', () => {
  const results = hostileResults();
  const files = renderReport(results);
  const index = page(files, 'index.html');
  const indexTags = scanTags(index);

  function section(id: string): string {
    const i = indexTags.findIndex((t) => t.name === 'section' && t.attrs.get('id') === id);
    expect(i, `section #${id}`).toBeGreaterThanOrEqual(0);
    return innerHtml(index, indexTags, i);
  }

  it('the heat map has one table per app, OS rows and Tools columns, empty squares, and the mismatch marked', () => {
    const heat = section('heatmap');
    const tags = scanTags(heat);
    const tables = tags.flatMap((t, i) => (t.name === 'table' && !t.closing ? [i] : []));
    expect(tables.map((i) => decodeHtml(tags[i]?.attrs.get('data-app') ?? ''))).toEqual(['sqlserver', 'files', XSS_IMG]);
    for (const i of tables) {
      const table = innerHtml(heat, tags, i);
      const ttags = scanTags(table);
      const cols = ttags.flatMap((t, j) => (t.name === 'th' && t.attrs.get('scope') === 'col' ? [innerText(table, ttags, j)] : []));
      const rows = ttags.flatMap((t, j) => (t.name === 'th' && t.attrs.get('scope') === 'row' ? [innerText(table, ttags, j)] : []));
      expect(cols).toEqual(['esx35u1', 'esx41']);
      expect(rows).toEqual(['win2019', 'linux', XSS_SCRIPT]);
      expect(ttags.filter((t) => t.name === 'td' && !t.closing)).toHaveLength(6);
    }
    const cellLinks = tags.filter((t) => t.name === 'a' && t.attrs.has('data-cell'));
    expect(cellLinks).toHaveLength(results.cells.length);
    const byId = (id: string) => cellLinks.find((t) => decodeHtml(t.attrs.get('data-cell') ?? '') === id);
    const mismatch = byId(FIXTURE_IDS.mismatch);
    expect(mismatch?.attrs.get('class')).toBe('cell crash mismatch');
    expect(heat.slice(mismatch?.end, heat.indexOf('</a>', mismatch?.end))).toContain('<span class="mark">✗</span>ide');
    expect(byId(FIXTURE_IDS.passing)?.attrs.get('class')).toBe('cell application');
    expect(byId(FIXTURE_IDS.hostile)?.attrs.get('class')).toContain('mismatch');
    // no run reached a level (all faulted) and every property passed: no color, no mismatch
    expect(byId('linux/esx35u1/files/default')?.attrs.get('class')).toBe('cell none');
    // sqlserver has no linux cell, files no win2019 cell
    expect(heat).toContain('<tr><th scope="row">linux</th><td class="empty"></td><td class="empty"></td></tr>');
    expect(byId(FIXTURE_IDS.mismatch)?.attrs.get('href')).toBe(`cells/${encodeId(FIXTURE_IDS.mismatch)}.html`);
  });

  it('every link and script source of every page resolves to a file of the report, fragments to an id on it', () => {
    let checked = 0;
    for (const [path, html] of pages(files)) {
      for (const target of links(path, scanTags(html))) {
        const [file, fragment] = target.split('#') as [string, string | undefined];
        expect(files.has(file), `${path} → ${target}`).toBe(true);
        if (fragment !== undefined) expect(page(files, file), `${path} → ${target}`).toContain(`id="${fragment}"`);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(100);
  });

  it('file names: ids differing in a replaced character, or only in case, get different files', () => {
    expect(new Set([encodeId('a/b'), encodeId('a.b'), encodeId('a_b'), encodeId('a b'), encodeId('a\u00e9b'), encodeId('a\u4e2db')]).size).toBe(6);
    for (const name of [...files.keys()]) expect(name).toMatch(/^(index\.html|(cells|failures|assets)\/[A-Za-z0-9._-]+)$/);
    const cellFiles = [...files.keys()].filter((p) => p.startsWith('cells/'));
    expect(cellFiles).toHaveLength(results.cells.length);
    expect(new Set(cellFiles.map((p) => p.toLowerCase())).size).toBe(results.cells.length);
    const fileOf = (id: string) => indexTags.find((t) => t.name === 'a' && decodeHtml(t.attrs.get('data-cell') ?? '') === id)?.attrs.get('href');
    expect(fileOf(FIXTURE_IDS.slash)).toBe('cells/linux.esx41.files.de.fault.html');
    expect(fileOf(FIXTURE_IDS.dot)).toBe('cells/linux.esx41.files.de_2efault.html');
    expect(fileOf(FIXTURE_IDS.lower)).not.toBe(fileOf(FIXTURE_IDS.upper));
  });

  it('every failing property has a failure page linked from the index and its cell page', () => {
    const failuresSection = section('failures');
    let count = 0;
    for (const cell of results.cells) {
      const cellHref = indexTags.find((t) => t.name === 'a' && decodeHtml(t.attrs.get('data-cell') ?? '') === cell.id)?.attrs.get('href') ?? '';
      const cellPage = page(files, cellHref);
      const tags = scanTags(cellPage);
      const rows = tags.flatMap((t, i) => (t.name === 'tr' && (t.attrs.get('class') === 'ok' || t.attrs.get('class') === 'failed') ? [innerHtml(cellPage, tags, i)] : []));
      expect(rows).toHaveLength(cell.properties.length);
      cell.properties.forEach((p, j) => {
        const href = /href="\.\.\/(failures\/[^"]+)"/.exec(rows[j] ?? '')?.[1];
        if (p.pass) {
          expect(href).toBeUndefined();
          return;
        }
        expect(href, `${cell.id} ${p.id}`).toBeDefined();
        expect(failuresSection).toContain(`href="${href ?? ''}"`);
        const failure = page(files, href ?? '');
        expect(failure).toContain(`quiescelab replay ${p.replay ?? ''}`);
        expect(failure).toContain(`href="../${cellHref}"`);
        count++;
      });
    }
    expect(count).toBe(3);
    expect(index).toContain(`<h2>Failures (3)</h2>`);
    // a long id is cut, with a hash of the whole id
    expect(failuresSection).toMatch(/href="failures\/_3cscript_3e[A-Za-z0-9._-]{70,}-[0-9a-f]{8}\.html"/);
  });

  it('the mutant table links each killer to its failure page; survivors are highlighted', () => {
    const mutants = section('mutants');
    const tags = scanTags(mutants);
    const rows = tags.flatMap((t, i) => (t.name === 'tr' && !t.closing && t.attrs.has('class') ? [i] : []));
    expect(rows).toHaveLength(3);
    for (const [k, m] of (results.mutants?.results ?? []).entries()) {
      const row = innerHtml(mutants, tags, rows[k] ?? -1);
      expect(row).toContain(`<code>${m.id.replace(/[<>"'&`]/g, (c) => `&#${c.charCodeAt(0)};`)}</code>`);
      expect(tags[rows[k] ?? -1]?.attrs.get('class')).toBe(m.killed ? 'killed' : 'survived');
      if (m.killer === null) {
        expect(row).toContain('SURVIVED');
        continue;
      }
      const href = /href="(failures\/[^"]+)"/.exec(row)?.[1];
      expect(href, m.id).toBeDefined();
      const failure = page(files, href ?? '');
      expect(failure).toContain(`quiescelab replay ${m.killer.replay ?? ''}`);
      expect(failure).toContain('href="../index.html#mutants"');
      const ftags = scanTags(failure);
      const ol = ftags.findIndex((t) => t.name === 'ol' && t.attrs.get('class') === 'timeline');
      const items = scanTags(innerHtml(failure, ftags, ol)).filter((t) => t.name === 'li' && !t.closing);
      expect(items).toHaveLength(m.killer.timeline?.length ?? -1);
      expect(row).toContain(`<td class="num">${m.killer.counterexampleSize ?? ''}</td><td class="num">${m.killer.shrinks ?? ''}</td><td class="num">${m.runs}</td>`);
    }
    expect(mutants).toContain('2 killed, 1 survived');
  });

  it('a failure page draws the timeline (seconds of virtual time, a badge per kind), the evidence, the counterexample and the replay command', () => {
    const cell = results.cells[cellIndex(results, FIXTURE_IDS.mismatch)];
    const p1 = cell?.properties.find((p) => p.id === 'P1');
    const html = page(files, `failures/${encodeId(FIXTURE_IDS.mismatch)}.P1.html`);
    const tags = scanTags(html);
    const ol = tags.findIndex((t) => t.name === 'ol' && t.attrs.get('class') === 'timeline');
    const list = innerHtml(html, tags, ol);
    const ltags = scanTags(list);
    const items = ltags.flatMap((t, i) => (t.name === 'li' && !t.closing ? [i] : []));
    expect(items).toHaveLength(p1?.timeline?.length ?? -1);
    (p1?.timeline ?? []).forEach((entry, k) => {
      const text = innerText(list, ltags, items[k] ?? -1);
      expect(text).toBe(`${(entry.atUs / 1e6).toFixed(3)} s${entry.kind}${entry.detail}`);
    });
    expect(list).toContain('<li class="t-power-loss stand"><time>0.260 s</time><span class="k t-power-loss stand">power-loss</span>');
    expect(list).toContain('<li class="t-other"><time>0.286 s</time><span class="k t-other">&#60;script&#62;alert(1)&#60;/script&#62;</span>');
    expect(list).toContain('<span class="k t-snapshot stand">snapshot</span>');
    expect(html).toContain(`<pre class="cmd"><code>quiescelab replay ${p1?.replay ?? ''}</code></pre>`);
    const pre = tags.findIndex((t) => t.name === 'pre' && t.attrs.get('class') === 'counterexample');
    expect(JSON.parse(innerText(html, tags, pre))).toEqual(p1?.counterexample);
    const evidence = tags.findIndex((t) => t.name === 'pre' && t.attrs.get('class') === 'evidence');
    expect(innerText(html, tags, evidence)).toBe(p1?.evidence);
    expect(html).toContain('<small>matrix level: what it checks &#60;script&#62;alert(1)');
  });

  it('a cell page has the expected level, conditions, achieved counts, properties, data-loss charts and lost examples', () => {
    const html = page(files, `cells/${encodeId(FIXTURE_IDS.mismatch)}.html`);
    expect(html).toContain('<span class="lvl filesystem">filesystem</span> VSS with the sqlserver writer');
    expect(html).toContain('<span class="lvl crash">crash <b>3</b></span><span class="lvl filesystem">filesystem <b>1</b></span>');
    expect(html).toContain('<th scope="row">controller</th><td><code>scsi</code></td>');
    expect(html).toContain('<td class="num">4</td><td class="num">3</td><td class="num">0</td>');
    expect(html).toContain('written but not fsync&#39;ed: &#60;script&#62;alert(1)&#60;/script&#62;');
    const charts = chartData(html).charts;
    expect(charts.map((c) => c.canvas)).toEqual(['chart-runs-by-level', 'chart-lost-per-run', 'chart-rpo-per-run', 'chart-rto-per-run']);
    expect(charts[1]?.labels).toEqual([0, 1, 2, 3]);
    expect(html).toContain('<script src="../assets/chart.umd.min.js"></script>');
    expect(html).toContain('<script src="../assets/report.js"></script>');
  });

  it('a cell with a replication record has the replication section (totals, RPO and bytes charts, a row per run); one without has none', () => {
    const html = page(files, `cells/${encodeId(FIXTURE_IDS.passing)}.html`);
    const section = html.slice(html.indexOf('<section id="replication">'));
    expect(section).toContain('<tr><th scope="row">RPO (worst)</th><td class="num">3.990 s</td></tr>');
    expect(section).toContain('<td class="num">80.0 ms / 79.0 ms</td>');
    expect(section).toContain('(without skipping: 33.22 MiB)');
    expect(section).toContain('link-drop at 4.450 s');
    expect(section).toContain('2 incremental <span class="fail">✗ failed</span> 4.400–4.552 s: 0.07 MiB sent');
    expect(section).toContain('point <code>vm-1/snap-2&#60;script&#62;alert(1)&#60;/script&#62;</code>, RTO 78.0 ms');
    expect(section).toContain('to the new VM <span class="pass">✓</span>, final pass at 7.200 s');
    const charts = chartData(html).charts;
    expect(charts.map((c) => c.canvas).slice(-2)).toEqual(['chart-replication-rpo', 'chart-replication-bytes']);
    expect(charts.at(-1)?.labels).toEqual(['r0 c0', 'r0 c1', 'r1 c0', 'r1 c1', 'r1 c2 ✗', 'r2 c0', 'r2 c1']);
    expect(page(files, `cells/${encodeId(FIXTURE_IDS.mismatch)}.html`)).not.toContain('id="replication"');
    expect(index).toContain(`<a href="cells/${encodeId(FIXTURE_IDS.passing)}.html#replication">`);
  });

  it('the index keeps per-run data off: its charts are aggregates', () => {
    const charts = chartData(index).charts;
    expect(charts.map((c) => c.canvas)).toEqual(['chart-levels-per-app', 'chart-cells-pass-fail']);
    for (const c of charts) expect(c.labels).toHaveLength(3);
  });

  it('is deterministic: the same results give the same bytes', () => {
    const again = renderReport(JSON.parse(JSON.stringify(results)) as MatrixResults);
    expect([...again.keys()]).toEqual([...files.keys()]);
    for (const [path, content] of files) expect(again.get(path), path).toEqual(content);
  });

  it('copies chart.js and ships a chart script that fetches nothing', () => {
    const main = createRequire(import.meta.url).resolve('chart.js');
    expect(files.get('assets/chart.umd.min.js')).toEqual(new Uint8Array(readFileSync(join(dirname(main), 'chart.umd.min.js'))));
    const js = files.get('assets/report.js') as string;
    expect(js).toContain('animation: false');
    expect(js).not.toMatch(/fetch\(|XMLHttpRequest|import\(|https?:/);
    for (const [path, html] of pages(files)) expect(html, path).not.toMatch(/https?:\/\//);
    expect(files.get('assets/report.css')).not.toMatch(/url\(|@import|https?:/);
  });

  it('writeReport writes the files, counts their bytes, and removes stale pages of an earlier report', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ql-report-'));
    writeFileSync(join(dir, 'results.json'), '{}');
    const first = writeReport(results, dir);
    expect(first.files).toBe(files.size);
    expect(first.bytes).toBe([...files.values()].reduce((s, c) => s + (typeof c === 'string' ? Buffer.byteLength(c) : c.byteLength), 0));
    writeFileSync(join(dir, 'cells', 'stale.html'), 'old');
    writeFileSync(join(dir, 'failures', 'stale.html'), 'old');
    writeReport(results, dir);
    expect(existsSync(join(dir, 'cells', 'stale.html'))).toBe(false);
    expect(existsSync(join(dir, 'failures', 'stale.html'))).toBe(false);
    expect(existsSync(join(dir, 'results.json'))).toBe(true);
    expect(readFileSync(join(dir, 'index.html'), 'utf8')).toBe(index);
  });
});
