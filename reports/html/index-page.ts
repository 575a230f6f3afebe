/**
 * index.html: the summary, the heat map (one table per app, OS rows x Tools columns), the
 * summary charts, the properties, the failures and the mutant table. Only aggregates:
 * per-run data stays on the cell pages, so the index stays small for a full matrix.
 */

import { APP_IDS, GUEST_OS_IDS, TOOLS_IDS } from '../../core/hypervisor-port.js';
import { LEVELS } from '../../core/levels.js';
import type { CellResult, MatrixResults, MutantsResults } from '../../core/results.js';
import { FAIL_COLOR, LEVEL_COLORS, PASS_COLOR } from './assets.js';
import type { ReportLinks } from './links.js';
import { replicationIndex } from './replication-section.js';
import { achievedLevels, chartCanvas, type ChartSpec, h, levelBadge, renderPage, verdict } from './page.js';

/** The distinct values, the catalog's order first, then unknown ones as met. */
function ordered(values: readonly string[], known: readonly string[]): string[] {
  const seen = new Set(values);
  return [...known.filter((k) => seen.has(k)), ...[...seen].filter((v) => !known.includes(v))];
}

/** A cell whose runs reached another level than expected, or where a property failed. */
export function isMismatch(cell: CellResult): boolean {
  return !cell.pass || cell.properties.some((p) => !p.pass) || achievedLevels(cell.achieved).some(([l]) => l !== cell.expected);
}

/** The level most runs reached (the weaker on a tie), or null when no run reached one. */
export function dominantLevel(cell: CellResult): string | null {
  let best: [string, number] | null = null;
  for (const entry of achievedLevels(cell.achieved)) if (best === null || entry[1] > best[1]) best = entry;
  return best === null ? null : best[0];
}

function cellLink(cell: CellResult, href: string): string {
  const mismatch = isMismatch(cell);
  const levels = achievedLevels(cell.achieved);
  const got = levels.map(([l, n]) => `${h(l)} ${n}`).join(' · ') || 'no level';
  const failed = cell.properties.filter((p) => !p.pass && p.status !== 'not-applicable').map((p) => p.id);
  const title = `${cell.id}: expected ${cell.expected}, achieved ${levels.map(([l, n]) => `${l} ${n}`).join(', ') || 'no level'}${failed.length === 0 ? '' : `; failed ${failed.join(', ')}`}`;
  const dominant = dominantLevel(cell);
  const cls = `cell ${dominant === null ? 'none' : h(dominant)}${mismatch ? ' mismatch' : ''}`;
  return `<a class="${cls}" href="${h(href)}" title="${h(title)}" data-cell="${h(cell.id)}"><span class="mark">${mismatch ? '✗' : '✓'}</span>${h(cell.variant)} <span class="exp">exp ${h(cell.expected)} →</span> <span class="got">${got}</span></a>`;
}

function heatmap(results: MatrixResults, links: ReportLinks): string {
  const cells = results.cells;
  const apps = ordered(cells.map((c) => c.app), APP_IDS);
  const oses = ordered(cells.map((c) => c.os), GUEST_OS_IDS);
  const tools = ordered(cells.map((c) => c.tools), TOOLS_IDS);
  const tables = apps.map((app) => {
    const rows = oses.map((os) => {
      const squares = tools.map((t) => {
        const inSquare = cells.flatMap((c, i) => (c.app === app && c.os === os && c.tools === t ? [cellLink(c, links.cells[i] ?? '')] : []));
        return inSquare.length === 0 ? '<td class="empty"></td>' : `<td>${inSquare.join('')}</td>`;
      }).join('');
      return `<tr><th scope="row">${h(os)}</th>${squares}</tr>`;
    }).join('\n');
    return `<table class="heat" data-app="${h(app)}"><caption>${h(app)}</caption>
<thead><tr><th>OS \\ Tools</th>${tools.map((t) => `<th scope="col">${h(t)}</th>`).join('')}</tr></thead>
<tbody>
${rows}
</tbody></table>`;
  });
  const legend = LEVELS.map((l) => `<span class="swatch ${l}"></span>${l}`).join('') + '<span class="swatch"></span>no level';
  return `<section id="heatmap"><h2>Heat map: expected vs achieved</h2>
<p class="muted">One table per application: guest OS rows, VMware Tools columns. Each square lists the cells (condition variants) of that OS, Tools and app:
the variant, the expected level (exp) and the levels the runs reached with their run counts. The color is the level most runs reached.
A cell marked <b>✗</b> with a dashed border is a <b>mismatch</b>: a run reached another level than expected, or a property failed. Hatched squares have no cell in this run.
Click a cell for its page.</p>
<p>${legend}</p>
<div class="heatmaps">
${tables.join('\n')}
</div></section>`;
}

function summaryCharts(results: MatrixResults): ChartSpec[] {
  const apps = ordered(results.cells.map((c) => c.app), APP_IDS);
  const sum = (app: string, f: (c: CellResult) => number) => results.cells.filter((c) => c.app === app).reduce((s, c) => s + f(c), 0);
  const levels = LEVELS.filter((l) => results.cells.some((c) => (c.achieved[l] ?? 0) > 0));
  return [
    {
      canvas: 'chart-levels-per-app', type: 'bar', stacked: true, title: 'Runs by achieved level, per app', labels: apps,
      datasets: levels.map((l) => ({ label: l, color: LEVEL_COLORS[l], data: apps.map((a) => sum(a, (c) => c.achieved[l] ?? 0)) })),
      xTitle: 'application', yTitle: 'runs', integers: true,
    },
    {
      canvas: 'chart-cells-pass-fail', type: 'bar', stacked: true, title: 'Cells passed and failed, per app', labels: apps,
      datasets: [
        { label: 'passed', color: PASS_COLOR, data: apps.map((a) => sum(a, (c) => (c.pass ? 1 : 0))) },
        { label: 'failed', color: FAIL_COLOR, data: apps.map((a) => sum(a, (c) => (c.pass ? 0 : 1))) },
      ],
      xTitle: 'application', yTitle: 'cells', integers: true,
    },
  ];
}

function propertiesTable(results: MatrixResults): string {
  const rows = results.properties.map((p) => {
    const cellsFailed = results.cells.filter((c) => c.properties.some((r) => r.id === p.id && !r.pass && r.status !== 'not-applicable')).length;
    const kills = (results.mutants?.results ?? []).filter((m) => m.killer?.id === p.id).length;
    return `<tr><td><b>${h(p.id)}</b></td><td>${h(p.name)}</td><td>${h(p.description)}</td><td class="num">${cellsFailed === 0 ? '0' : `<span class="fail">${cellsFailed}</span>`}</td><td class="num">${kills}</td></tr>`;
  }).join('\n');
  return `<section id="properties"><h2>Properties</h2>
<table><thead><tr><th>id</th><th>name</th><th>what it checks</th><th class="num">cells failed</th><th class="num">mutants killed</th></tr></thead>
<tbody>
${rows}
</tbody></table></section>`;
}

function firstLine(text: string | null, max = 180): string {
  const line = (text ?? '').split('\n')[0] ?? '';
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

function failuresList(results: MatrixResults, links: ReportLinks): string {
  const items = results.cells.flatMap((c, i) => c.properties.flatMap((p, j) => {
    const href = links.cellFailures[i]?.[j];
    if (href === undefined) return [];
    return [`<li><a href="${h(href)}"><code>${h(c.id)}</code> — <b>${h(p.id)}</b> ${h(p.name)}</a> <small>(${p.failures} of ${p.runs} runs)</small><br><small>${h(firstLine(p.evidence))}</small></li>`];
  }));
  return `<section id="failures"><h2>Failures (${items.length})</h2>
${items.length === 0 ? '<p class="pass">No property failed.</p>' : `<ol>\n${items.join('\n')}\n</ol>`}</section>`;
}

function mutantTable(mutants: MutantsResults | null, links: ReportLinks): string {
  if (mutants === null) return '<section id="mutants"><h2>Mutants</h2><p class="muted">The mutant hunt was not run with this matrix.</p></section>';
  const rows = mutants.results.map((m, k) => {
    const page = links.mutantFailures[k];
    const killer = m.killer;
    const killedBy = killer === null
      ? '<span class="fail"><span class="mark">✗</span>SURVIVED</span>'
      : `<span class="mark">✓</span>${page === undefined ? '' : `<a href="${h(page)}">`}<b>${h(killer.id)}</b> ${h(killer.name)}${page === undefined ? '' : '</a>'}`;
    const cellIndex = m.cell === null ? undefined : links.cellIndex(m.cell);
    const cellHref = cellIndex === undefined ? undefined : links.cells[cellIndex];
    const cell = m.cell === null ? '—' : cellHref === undefined ? `<code>${h(m.cell)}</code>` : `<a href="${h(cellHref)}"><code>${h(m.cell)}</code></a>`;
    return `<tr class="${m.killed ? 'killed' : 'survived'}"><td><code>${h(m.id)}</code></td><td>${h(m.area)}</td><td>${h(m.description)}</td><td>${h(m.expectedKiller)}</td>`
      + `<td>${killedBy}</td><td>${cell}</td><td class="num">${killer?.counterexampleSize ?? '—'}</td><td class="num">${killer?.shrinks ?? '—'}</td><td class="num">${m.runs}</td></tr>`;
  }).join('\n');
  return `<section id="mutants"><h2>Mutants: ${mutants.killed} killed, ${mutants.survived} survived</h2>
<p class="muted">Each mutant is a deliberately broken engine; the harness proves its power by killing it (a property fails on it).
Survivors are highlighted. The killing property links to its failure page: the shrunk counterexample, its timeline and the replay command.
${mutants.runs} runs per cell.</p>
<table><thead><tr><th>mutant</th><th>area</th><th>the bug</th><th>expected killer</th><th>killed by</th><th>cell</th><th class="num">counterexample (chars)</th><th class="num">shrinks</th><th class="num">runs</th></tr></thead>
<tbody>
${rows}
</tbody></table></section>`;
}

export function renderIndex(results: MatrixResults, links: ReportLinks): string {
  const s = results.summary;
  const m = results.mutants;
  const charts = summaryCharts(results);
  const body = `<h1>quiescelab — consistency matrix ${verdict(s.failed === 0 && (m === null || m.survived === 0))}</h1>
<ul class="facts">
<li><b>${s.passed}</b> of <b>${s.cells}</b> cells passed</li>
<li><b class="${s.failed === 0 ? 'pass' : 'fail'}">${s.failed}</b> failed</li>
<li><b>${results.runsPerCell}</b> runs per cell</li>
<li>seed <b>${results.seed}</b></li>
<li>engine <b>${h(results.engine)}</b></li>
<li>quiescelab <b>${h(results.version)}</b></li>
<li>${m === null ? 'mutants: not run' : `mutants: <b>${m.killed}</b> killed, <b class="${m.survived === 0 ? 'pass' : 'fail'}">${m.survived}</b> survived`}</li>
</ul>
<p>Each cell is a guest OS × VMware Tools × application × condition variant. Each run boots the VM, runs the workload, backs it up
(a full and CBT incrementals, with faults drawn by fast-check), restores every point and judges it. <b>Expected</b> is the matrix's
level (seed 004 and the notes); <b>achieved</b> counts the levels reached by the runs without an injected quiesce fault.
Levels: ${LEVELS.map((l) => levelBadge(l)).join('')}</p>
${heatmap(results, links)}
<section id="charts"><h2>Summary charts</h2><div class="charts">${charts.map((c) => chartCanvas(c)).join('')}</div></section>
${failuresList(results, links)}
${replicationIndex(results.cells, links.cells)}
${mutantTable(m, links)}
${propertiesTable(results)}`;
  return renderPage({ title: `quiescelab — ${s.passed}/${s.cells} cells pass`, root: '', body, charts });
}
