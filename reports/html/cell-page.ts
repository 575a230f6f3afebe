/**
 * cells/<name>.html: one cell of the matrix — the expected level with why and sources,
 * the conditions, the achieved levels, each property's result (linking to its failure
 * page), the data loss with its per-run charts, and the lost examples with why.
 */

import { isLevel, LEVELS } from '../../core/levels.js';
import type { CellResult, MatrixResults } from '../../core/results.js';
import { LEVEL_COLORS, LOSS_COLORS, NO_LEVEL_COLOR } from './assets.js';
import { replicationCharts, replicationSection } from './replication-section.js';
import { achievedLevels, chartCanvas, type ChartSpec, h, levelBadge, millis, propertyVerdict, renderPage, seconds, verdict } from './page.js';

function conditionsTable(cell: CellResult): string {
  const rows = Object.entries(cell.conditions).map(([k, v]) => `<tr><th scope="row">${h(k)}</th><td><code>${h(String(v))}</code></td></tr>`);
  return rows.length === 0 ? '<p class="muted">none</p>' : `<table>${rows.join('')}</table>`;
}

function propertiesTable(cell: CellResult, failurePages: readonly (string | undefined)[]): string {
  const rows = cell.properties.map((p, j) => {
    const page = failurePages[j];
    const link = page === undefined ? '—' : `<a href="../${h(page)}">failure page</a>`;
    const note = p.evidence === null ? '' : `<small>${h(p.evidence)}</small>`;
    return `<tr class="${p.pass ? 'ok' : 'failed'}"><td><b>${h(p.id)}</b></td><td>${h(p.name)}</td><td>${h(p.suite)}</td><td>${propertyVerdict(p)}</td>`
      + `<td class="num">${p.runs}</td><td class="num">${p.judged}</td><td class="num">${p.failures}</td><td class="num">${p.unknown}</td><td>${link}</td><td>${note}</td></tr>`;
  }).join('\n');
  return `<table><thead><tr><th>id</th><th>property</th><th>suite</th><th>verdict</th><th class="num">runs</th><th class="num" title="runs judged true or false; at least a tenth of the suite's runs, else not exercised">judged</th><th class="num">failures</th><th class="num">unknown</th><th>failure</th><th>evidence</th></tr></thead>
<tbody>
${rows}
</tbody></table>`;
}

function lossCharts(cell: CellResult): ChartSpec[] {
  const per = cell.dataLoss.perRun;
  const runs = per.level.map((_, i) => i);
  const counts = new Map<string, number>();
  for (const l of per.level) counts.set(l ?? 'no level', (counts.get(l ?? 'no level') ?? 0) + 1);
  const bars = [...LEVELS.filter((l) => counts.has(l)), ...[...counts.keys()].filter((k) => !isLevel(k))];
  return [
    {
      canvas: 'chart-runs-by-level', type: 'bar', stacked: false, title: 'Runs by lowest achieved level', labels: bars,
      datasets: [{ label: 'runs', data: bars.map((b) => counts.get(b) ?? 0), color: bars.map((b) => (isLevel(b) ? LEVEL_COLORS[b] : NO_LEVEL_COLOR)) }],
      xTitle: 'level', yTitle: 'runs', integers: true,
    },
    {
      canvas: 'chart-lost-per-run', type: 'bar', stacked: false, title: 'Lost per run', labels: runs,
      datasets: [
        { label: 'committed transactions lost', data: per.committedLost, color: LOSS_COLORS.committed },
        { label: 'completed writes lost', data: per.writesLost, color: LOSS_COLORS.writes },
      ],
      xTitle: 'run', yTitle: 'lost', integers: true,
    },
    {
      canvas: 'chart-rpo-per-run', type: 'line', stacked: false, title: 'RPO per run (seconds of virtual time)', labels: runs,
      datasets: [{ label: 'RPO (s)', data: per.rpoUs.map((us) => Math.round(us / 1e3) / 1e3), color: LOSS_COLORS.rpo }],
      xTitle: 'run', yTitle: 's', integers: false,
    },
    {
      canvas: 'chart-rto-per-run', type: 'line', stacked: false, title: 'RTO per run (ms of virtual time; gaps: no restore)', labels: runs,
      datasets: [{ label: 'RTO (ms)', data: per.rtoUs.map((us) => (us === null ? null : Math.round(us) / 1e3)), color: LOSS_COLORS.rto }],
      xTitle: 'run', yTitle: 'ms', integers: false,
    },
  ];
}

function lossFigures(cell: CellResult): string {
  const d = cell.dataLoss;
  return `<table>
<tr><th scope="row">committed transactions lost</th><td class="num">${d.committedLost}</td></tr>
<tr><th scope="row">completed writes lost</th><td class="num">${d.writesLost}</td></tr>
<tr><th scope="row">crash recovery needed / succeeded</th><td class="num">${d.recoveryNeeded} / ${d.recoverySucceeded}</td></tr>
<tr><th scope="row">RPO (worst)</th><td class="num">${seconds(d.rpoUsMax)}</td></tr>
<tr><th scope="row">RTO (worst / mean)</th><td class="num">${millis(d.rtoUsMax)} / ${millis(d.rtoUsMean)}</td></tr>
</table>`;
}

function examplesTable(cell: CellResult): string {
  const ex = cell.dataLoss.examples;
  if (ex.length === 0) return '<p class="muted">Nothing was lost in the examples kept.</p>';
  const rows = ex.map((e) => `<tr><td class="num">${e.run}</td><td class="num">${e.point}</td><td>${h(e.app)}</td><td><code>${h(e.id)}</code></td><td>${h(e.why)}</td></tr>`).join('\n');
  return `<table><thead><tr><th class="num">run</th><th class="num">point</th><th>app</th><th>lost</th><th>why</th></tr></thead>
<tbody>
${rows}
</tbody></table>`;
}

export function renderCellPage(results: MatrixResults, cell: CellResult, failurePages: readonly (string | undefined)[]): string {
  const repCharts = cell.replication === undefined ? [] : replicationCharts(cell.replication);
  const loss = lossCharts(cell);
  const charts = [...loss, ...repCharts];
  const achieved = achievedLevels(cell.achieved);
  const body = `<p><a href="../index.html#heatmap">← heat map</a></p>
<h1>Cell <code>${h(cell.id)}</code> ${verdict(cell.pass)}</h1>
<ul class="facts"><li>guest OS <b>${h(cell.os)}</b></li><li>Tools <b>${h(cell.tools)}</b></li><li>application <b>${h(cell.app)}</b></li><li>variant <b>${h(cell.variant)}</b></li>
<li>${results.runsPerCell} runs, seed ${results.seed}, engine ${h(results.engine)}</li></ul>
<h2>Expected</h2>
<p>${levelBadge(cell.expected)} ${h(cell.expectedWhy)}</p>
<ul>${cell.sources.map((s) => `<li>${h(s)}</li>`).join('')}</ul>
<h2>Conditions</h2>
${conditionsTable(cell)}
<h2>Achieved</h2>
<p>${achieved.length === 0 ? '<span class="muted">no run without a quiesce fault reached a level</span>' : achieved.map(([l, n]) => levelBadge(l, n)).join('')}</p>
<h2>Properties</h2>
${propertiesTable(cell, failurePages)}
<h2>Data loss (all runs)</h2>
${lossFigures(cell)}
<div class="charts">${loss.map((c, i) => chartCanvas(c, i > 0)).join('')}</div>
<h3>Lost, with why</h3>
${examplesTable(cell)}
${replicationSection(cell, repCharts, (c) => chartCanvas(c, true))}`;
  return renderPage({ title: `${cell.id} — quiescelab`, root: '../', body, charts });
}
