/**
 * The HTML page for the storage crash matrix: one self-contained file (the matrix report's
 * stylesheet inlined, so levels have the same colors; no scripts, nothing fetched) that
 * works from file:// and when served.
 */

import type { StorageCellResult, StorageMatrixResults } from '../core/storage-results.js';
import { LEVELS } from '../core/levels.js';
import { escapeHtml } from './html-escape.js';
import { REPORT_CSS } from './html/assets.js';


function levels(cell: StorageCellResult): string {
  return LEVELS.filter((l) => (cell.achieved[l] ?? 0) > 0)
    .map((l) => `<span class="lvl ${l}">${l}: ${cell.achieved[l] ?? 0}</span>`)
    .join('');
}

function row(cell: StorageCellResult): string {
  const c = cell.config;
  const example = cell.example === null
    ? '—'
    : `<pre>seed ${cell.example.seed} → ${escapeHtml(cell.example.level)}\n${cell.example.reasons.map(escapeHtml).join('\n')}</pre>`;
  return `<tr>
<td><code>${escapeHtml(cell.id)}</code></td>
<td>${escapeHtml(c.capture)}</td><td>${escapeHtml(c.writeCache)} / ${escapeHtml(c.flush)}</td><td>${escapeHtml(c.dataMode)}</td>
<td><span class="lvl ${escapeHtml(cell.expected)}">${escapeHtml(cell.expected)}</span><br>${escapeHtml(cell.expectation)}</td>
<td>${levels(cell)}</td>
<td>${cell.dataLoss.completedBytesLost} B completed<br>${cell.dataLoss.syncedBytesLost} B synced<br>${cell.dataLoss.runsNeedingReplay} replay / ${cell.dataLoss.runsCorrupt} corrupt</td>
<td class="${cell.pass ? 'pass' : 'fail'}">${cell.pass ? 'pass' : 'FAIL'}</td>
<td>${example}</td></tr>`;
}

export function renderStorageReport(results: StorageMatrixResults): string {
  const s = results.summary;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>quiescelab — storage crash matrix</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>${REPORT_CSS}</style></head>
<body><main>
<h1>quiescelab — storage crash matrix</h1>
<p class="summary">${s.passed} of ${s.cells} cells pass (<span class="${s.failed === 0 ? 'pass' : 'fail'}">${s.failed} failed</span>),
${results.runsPerCell} runs per cell, seed ${results.seed}, quiescelab ${escapeHtml(results.version)}.</p>
<p>Each run drives a file workload (buffered appends with occasional fsync) on the simulated
guest file system and virtual disk, captures an image (a VM snapshot, after sync, after
FIFREEZE, or what a power loss leaves), and judges it: <b>filesystem</b> — no journal replay
needed and every completed write present; <b>crash</b> — consistent after journal replay and
every fsync'ed write present; <b>inconsistent</b> — fsck finds corruption or an fsync'ed write
is gone. The consistency matrix of guest OS × Tools × application is the main report
(<code>quiescelab matrix</code>).</p>
<table><thead><tr><th>cell</th><th>capture</th><th>disk cache / flush</th><th>data mode</th>
<th>expected</th><th>achieved (runs)</th><th>data loss (all runs)</th><th>verdict</th><th>example</th></tr></thead>
<tbody>
${results.cells.map(row).join('\n')}
</tbody></table>
</main></body></html>
`;
}
