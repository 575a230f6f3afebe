/**
 * The HTML page of a matrix run (results.json): one self-contained file (inline CSS, no
 * scripts, nothing fetched) that works from file:// and when served — the summary, every
 * cell with its expected and achieved levels, its failing properties with the evidence
 * and the replay command, and its data loss. Every string from the results is escaped.
 * Leaves out (issue 6): the heat map, charts, per-cell and failure pages.
 */

import { LEVELS } from '../core/levels.js';
import type { CellResult, MatrixResults } from '../core/results.js';
import { escapeHtml } from './html-escape.js';
import { REPORT_CSS } from './report-css.js';

function levels(cell: CellResult): string {
  return LEVELS.filter((l) => (cell.achieved[l] ?? 0) > 0)
    .map((l) => `<span class="lvl ${l}">${l}: ${cell.achieved[l] ?? 0}</span>`)
    .join('') || '—';
}

function failures(cell: CellResult): string {
  const failed = cell.properties.filter((p) => !p.pass);
  if (failed.length === 0) return '—';
  return failed.map((p) => `<b>${escapeHtml(p.id)} ${escapeHtml(p.name)}</b> (${p.failures}/${p.runs} runs)<pre>${escapeHtml(p.evidence ?? '')}</pre>${p.replay === null ? '' : `<code>quiescelab replay ${escapeHtml(p.replay)}</code>`}`).join('<br>');
}

function loss(cell: CellResult): string {
  const d = cell.dataLoss;
  const examples = d.examples.slice(0, 3).map((e) => `<li>run ${e.run}, point ${e.point}: ${escapeHtml(e.app)} ${escapeHtml(e.id)} — ${escapeHtml(e.why)}</li>`).join('');
  return `${d.committedLost} commits, ${d.writesLost} writes lost; recovery ${d.recoverySucceeded}/${d.recoveryNeeded}; RPO max ${(d.rpoUsMax / 1e6).toFixed(2)} s; RTO mean ${d.rtoUsMean === null ? '—' : `${(d.rtoUsMean / 1e3).toFixed(1)} ms`}${examples === '' ? '' : `<ul>${examples}</ul>`}`;
}

function row(cell: CellResult): string {
  return `<tr>
<td><code>${escapeHtml(cell.id)}</code></td>
<td><span class="lvl ${escapeHtml(cell.expected)}">${escapeHtml(cell.expected)}</span><br><small>${escapeHtml(cell.expectedWhy)}</small></td>
<td>${levels(cell)}</td>
<td class="${cell.pass ? 'pass' : 'fail'}">${cell.pass ? 'pass' : 'FAIL'}</td>
<td>${failures(cell)}</td>
<td>${loss(cell)}</td></tr>`;
}

export function renderMatrixReport(results: MatrixResults): string {
  const s = results.summary;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>quiescelab — consistency matrix</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>${REPORT_CSS}</style></head>
<body>
<h1>quiescelab — consistency matrix</h1>
<p class="summary">${s.passed} of ${s.cells} cells pass (<span class="${s.failed === 0 ? 'pass' : 'fail'}">${s.failed} failed</span>),
${results.runsPerCell} runs per cell, seed ${results.seed}, engine ${escapeHtml(results.engine)}, quiescelab ${escapeHtml(results.version)}.</p>
<p>Each cell is a guest OS × VMware Tools × application × condition. Each run boots the VM, runs
the workload, backs it up (a full and CBT incrementals, with faults drawn by fast-check), reads
every point back and judges it in an isolated lab. <b>Expected</b> is the matrix's level (seed 004 and
the notes); <b>achieved</b> counts the levels reached by the runs without an injected quiesce fault.</p>
<h2>Properties</h2>
<ul>${results.properties.map((p) => `<li><b>${escapeHtml(p.id)} ${escapeHtml(p.name)}</b>: ${escapeHtml(p.description)}</li>`).join('')}</ul>
<h2>Cells</h2>
<table><thead><tr><th>cell</th><th>expected</th><th>achieved (runs)</th><th>verdict</th><th>failing properties</th><th>data loss (all runs)</th></tr></thead>
<tbody>
${results.cells.map(row).join('\n')}
</tbody></table>
</body></html>
`;
}
