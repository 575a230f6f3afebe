/**
 * The HTML report of a matrix run: a folder that works from file:// and when served —
 * index.html (summary, heat map, charts, failures, mutants), cells/<name>.html per cell,
 * failures/<name>.html per failing property and per mutant killer, and assets/ (the
 * stylesheet, the chart script, chart.js copied from node_modules). Relative links only,
 * no inline executable script, nothing fetched; the same results give the same bytes.
 */

import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MatrixResults } from '../../core/results.js';
import { chartJsBytes, REPORT_CSS, REPORT_JS } from './assets.js';
import { renderCellPage } from './cell-page.js';
import { renderFailurePage } from './failure-page.js';
import { renderIndex } from './index-page.js';
import { planLinks } from './links.js';

/** Every file of the report by its path relative to the report's folder ('/' separators), in a fixed order. */
export function renderReport(results: MatrixResults): Map<string, string | Uint8Array> {
  const links = planLinks(results);
  const files = new Map<string, string | Uint8Array>();
  files.set('index.html', renderIndex(results, links));
  results.cells.forEach((cell, i) => {
    const failurePages = links.cellFailures[i] ?? [];
    const cellPage = links.cells[i];
    if (cellPage !== undefined) files.set(cellPage, renderCellPage(results, cell, failurePages));
    cell.properties.forEach((property, j) => {
      const page = failurePages[j];
      if (page !== undefined) files.set(page, renderFailurePage(results, { property, cellId: cell.id, cellPage, mutant: null }));
    });
  });
  (results.mutants?.results ?? []).forEach((mutant, k) => {
    const page = links.mutantFailures[k];
    if (page === undefined || mutant.killer === null) return;
    const cellIndex = mutant.cell === null ? undefined : links.cellIndex(mutant.cell);
    const cellPage = cellIndex === undefined ? undefined : links.cells[cellIndex];
    files.set(page, renderFailurePage(results, { property: mutant.killer, cellId: mutant.cell, cellPage, mutant }));
  });
  files.set('assets/report.css', REPORT_CSS);
  files.set('assets/report.js', REPORT_JS);
  files.set('assets/chart.umd.min.js', chartJsBytes());
  return files;
}

/** Folders whose .html pages belong to one report: an earlier report's pages there are removed. */
const PAGE_DIRS = ['cells', 'failures'];

/** Writes the report into `dir` (created if missing), removing stale pages of an earlier report there. */
export function writeReport(results: MatrixResults, dir: string): { files: number; bytes: number } {
  const files = renderReport(results);
  for (const sub of [...PAGE_DIRS, 'assets']) mkdirSync(join(dir, sub), { recursive: true });
  for (const sub of PAGE_DIRS) {
    for (const name of readdirSync(join(dir, sub))) {
      if (name.endsWith('.html') && !files.has(`${sub}/${name}`)) rmSync(join(dir, sub, name), { force: true });
    }
  }
  let bytes = 0;
  for (const [path, content] of files) {
    const target = join(dir, ...path.split('/'));
    writeFileSync(target, content);
    bytes += typeof content === 'string' ? Buffer.byteLength(content) : content.byteLength;
  }
  return { files: files.size, bytes };
}
