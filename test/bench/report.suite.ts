/**
 * The HTML report of a full default matrix run: every cell of the oracle (305) with 100
 * runs each, about a tenth of them failing with a shrunk counterexample and a timeline,
 * and the mutant hunt — synthesized deterministically (test/support/results-fixture.ts),
 * since a real run takes many minutes. Measures render and render+write, and the folder's
 * size. Real clock, never asserted on.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderReport, writeReport } from '../../reports/html/report.js';
import { selectCells } from '../../scenarios/cells.js';
import { MUTANTS } from '../../scenarios/mutants/index.js';
import { syntheticResults } from '../support/results-fixture.js';
import { timeMs, type BenchSuite } from './harness.js';

const RUNS = 100;

export const suite: BenchSuite = {
  name: 'report',
  run(report) {
    const results = syntheticResults({
      // the oracle leaves unsupported cells out; the filter only narrows the type
      cells: selectCells().flatMap((c) => (c.expected.level === 'unsupported' ? [] : [{ ...c, expected: { ...c.expected, level: c.expected.level } }])),
      runs: RUNS,
      seed: 1,
      mutants: MUTANTS.map((m) => ({ id: m.id, area: m.area, expectedKiller: m.expectedKiller, description: m.description })),
    });
    const failures = results.cells.reduce((n, c) => n + c.properties.filter((p) => !p.pass).length, 0);
    const shape = `${results.cells.length} cells x ${RUNS} runs, ${results.summary.failed} cells failing, ${failures} failures, ${results.mutants?.results.length ?? 0} mutants`;
    report('results.json of the full matrix', Buffer.byteLength(JSON.stringify(results, null, 2)) / 1024, 'KiB', shape);

    report('render the report (in memory)', timeMs(() => void renderReport(results), 5), 'ms');
    const dir = mkdtempSync(join(tmpdir(), 'ql-bench-report-'));
    try {
      let written = { files: 0, bytes: 0 };
      report('build the report (render + write the folder)', timeMs(() => { written = writeReport(results, dir); }, 5), 'ms', shape);
      report('report folder: files', written.files, 'files');
      report('report folder: size', written.bytes / 1024, 'KiB', 'chart.js 205 KiB of it');
      const files = renderReport(results);
      const size = (p: (path: string) => boolean) => [...files].filter(([path]) => p(path)).reduce((s, [, c]) => s + (typeof c === 'string' ? Buffer.byteLength(c) : c.byteLength), 0);
      report('index.html', size((p) => p === 'index.html') / 1024, 'KiB');
      report('cell pages (mean)', size((p) => p.startsWith('cells/')) / results.cells.length / 1024, 'KiB');
      report('failure pages (mean)', size((p) => p.startsWith('failures/')) / Math.max(1, [...files.keys()].filter((p) => p.startsWith('failures/')).length) / 1024, 'KiB');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
