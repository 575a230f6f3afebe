/**
 * The replication section of a cell page (issue 17), from the cell's `replication` record:
 * the totals (worst RPO, failover RTO, bytes over the link and white space skipped), the
 * RPO over time of each run detailed against a bound (the interval plus the longest cycle of
 * the run without a fault that comes closest to its own), the bytes of each cycle with the white space skipped stacked on top
 * (sent, and what a copy without skipping would have sent), and per run its fault, cycles,
 * failover and failback in seconds of virtual time. And the index's table of the cells
 * that replicated. Cells without the record get nothing.
 */

import type { CellReplication, CellResult, ReplicationCycleRecord, ReplicationRunRecord } from '../../core/results.js';
import { LOSS_COLORS } from './assets.js';
import type { ChartSpec } from './page.js';
import { h, millis, seconds } from './page.js';

/** A line color per run (the first 10 runs are detailed). */
const RUN_COLORS = ['#1f6feb', '#8250df', '#bf3989', '#d1242f', '#bc4c00', '#4d2d00', '#1a7f37', '#0a3069', '#57606a', '#953800'];
const SENT_COLOR = '#1f6feb';
const SKIPPED_COLOR = '#c4c9d0';

function mib(bytes: number): string {
  return `${(bytes / 1_048_576).toFixed(2)} MiB`;
}

/** Seconds of virtual time since the run's start, three decimals, as a number for the charts. */
function since(run: ReplicationRunRecord, atUs: number): number {
  return Math.round((atUs - run.startUs) / 1e3) / 1e3;
}

/** The bound of the RPO that property 22 holds a run without a fault to: its interval plus its longest cycle. */
export function rpoBoundUs(run: ReplicationRunRecord): number {
  return run.intervalUs + Math.max(0, ...run.cycles.map((c) => c.endUs - c.startUs));
}

function worstRpo(run: ReplicationRunRecord): number {
  return Math.max(0, ...run.rpo.map((r) => r.rpoUs));
}

export function replicationCharts(rep: CellReplication): ChartSpec[] {
  const runs = rep.perRun;
  if (runs.length === 0) return [];
  // The bound drawn is the run without a fault closest to it (property 22 judges those); with none, any run.
  const judged = runs.filter((r) => r.fault === 'none');
  const worst = (judged.length > 0 ? judged : runs).reduce((a, b) => (worstRpo(b) / rpoBoundUs(b) > worstRpo(a) / rpoBoundUs(a) ? b : a));
  const bound = Math.round(rpoBoundUs(worst) / 1e3) / 1e3;
  const end = Math.max(...runs.map((r) => since(r, r.replicationEndUs)));
  const cycles = runs.flatMap((r) => r.cycles.map((c) => [r, c] as const));
  return [
    {
      canvas: 'chart-replication-rpo', type: 'line', stacked: false, xLinear: true, labels: [],
      title: `RPO over time per run (s of virtual time); dashed: run ${worst.run}'s bound, interval + longest cycle`,
      datasets: [
        ...runs.map((r, i) => ({ label: `run ${r.run} (${r.fault === 'none' ? 'no fault' : r.fault})`, data: r.rpo.map((p) => ({ x: since(r, p.atUs), y: Math.round(p.rpoUs / 1e3) / 1e3 })), color: RUN_COLORS[i % RUN_COLORS.length] ?? LOSS_COLORS.rpo })),
        { label: `bound of run ${worst.run}`, data: [{ x: 0, y: bound }, { x: end, y: bound }], color: LOSS_COLORS.committed, dashed: true },
      ],
      xTitle: 's since the run started', yTitle: 'RPO (s)', integers: false,
    },
    {
      canvas: 'chart-replication-bytes', type: 'bar', stacked: true, title: 'Bytes per cycle (MiB): sent, and white space skipped (sent + skipped = without skipping)',
      labels: cycles.map(([r, c]) => `r${r.run} c${c.cycle}${c.ok ? '' : ' ✗'}`),
      datasets: [
        { label: 'sent over the link', data: cycles.map(([, c]) => Math.round(c.bytesSent / 1_048.576) / 1e3), color: SENT_COLOR },
        { label: 'white space skipped', data: cycles.map(([, c]) => Math.round(c.bytesSkippedWhiteSpace / 1_048.576) / 1e3), color: SKIPPED_COLOR },
      ],
      xTitle: 'run, cycle', yTitle: 'MiB', integers: false,
    },
  ];
}

function cycleItem(run: ReplicationRunRecord, c: ReplicationCycleRecord): string {
  const skipped = c.bytesSkippedWhiteSpace > 0 ? `, ${mib(c.bytesSkippedWhiteSpace)} white space skipped` : '';
  return `<li>${c.cycle} ${h(c.kind)} ${c.ok ? '<span class="pass">✓</span>' : '<span class="fail">✗ failed</span>'} `
    + `${since(run, c.startUs).toFixed(3)}–${since(run, c.endUs).toFixed(3)} s: ${mib(c.bytesSent)} sent${skipped}</li>`;
}

function runRow(run: ReplicationRunRecord): string {
  const fault = run.fault === 'none' ? 'none' : `${h(run.fault)} ${run.faultFiredAtUs === null ? '<small>(did not fire)</small>' : `at ${since(run, run.faultFiredAtUs).toFixed(3)} s`}`;
  const fo = run.failover;
  const failover = fo === null ? '—' : `${fo.kind === 'test' ? 'test failover' : 'failover'} ${fo.ok ? '<span class="pass">✓</span>' : '<span class="fail">✗</span>'}`
    + (fo.pointId === null ? '' : ` point <code>${h(fo.pointId)}</code>`) + `, RTO ${millis(fo.rtoUs)}`;
  const fb = run.failback;
  const failback = fb === null ? '—' : `to the ${fb.target === 'new' ? 'new VM' : 'original'} ${fb.ok ? '<span class="pass">✓</span>' : '<span class="fail">✗</span>'}`
    + (fb.finalAtUs === null ? '' : `, final pass at ${since(run, fb.finalAtUs).toFixed(3)} s`);
  return `<tr><td class="num">${run.run}</td><td>${fault}</td><td>${h(run.after)}</td><td class="num">${seconds(run.intervalUs)}</td>`
    + `<td class="num">${seconds(worstRpo(run))} <small>/ ${seconds(rpoBoundUs(run))}</small></td><td><ol class="cycles">${run.cycles.map((c) => cycleItem(run, c)).join('')}</ol></td>`
    + `<td>${failover}</td><td>${failback}</td></tr>`;
}

function totals(rep: CellReplication): string {
  return `<table>
<tr><th scope="row">runs</th><td class="num">${rep.runs} <small>(the first ${rep.perRun.length} below)</small></td></tr>
<tr><th scope="row">RPO (worst)</th><td class="num">${seconds(rep.rpoUsMax)}</td></tr>
<tr><th scope="row">failover RTO (worst / mean)</th><td class="num">${millis(rep.rtoUsMax)} / ${millis(rep.rtoUsMean)}</td></tr>
<tr><th scope="row">bytes sent over the link</th><td class="num">${mib(rep.bytesSent)}</td></tr>
<tr><th scope="row">white space skipped</th><td class="num">${mib(rep.bytesSkippedWhiteSpace)} <small>(without skipping: ${mib(rep.bytesSent + rep.bytesSkippedWhiteSpace)})</small></td></tr>
</table>`;
}

/** The section's HTML (its charts' canvases included), or '' when the suite did not run on the cell. */
export function replicationSection(cell: CellResult, charts: readonly ChartSpec[], canvas: (c: ChartSpec) => string): string {
  const rep = cell.replication;
  if (rep === undefined) return '';
  return `<section id="replication"><h2>Replication</h2>
<p class="muted">The VM replicated to the DR site in cycles (the replication suite, seed 002), a fault inside a cycle in some runs, then a test failover,
a failover, or a failover and a failback. Times are seconds of virtual time since the run started; the RPO column gives the run's worst and its bound
(the interval plus the run's longest cycle; property 22 holds runs without a fault to it).</p>
${totals(rep)}
<div class="charts">${charts.map(canvas).join('')}</div>
<h3>Runs: cycles, failover and failback</h3>
<table><thead><tr><th class="num">run</th><th>fault</th><th>after</th><th class="num">interval</th><th class="num">RPO worst / bound</th><th>cycles</th><th>failover</th><th>failback</th></tr></thead>
<tbody>
${rep.perRun.map(runRow).join('\n')}
</tbody></table></section>`;
}

/** The index's table of the cells the replication suite ran on (links to their sections), or '' when none did. */
export function replicationIndex(cells: readonly CellResult[], cellPages: readonly string[]): string {
  const rows = cells.flatMap((c, i) => {
    const rep = c.replication;
    if (rep === undefined) return [];
    return [`<tr><td><a href="${h(cellPages[i] ?? '')}#replication"><code>${h(c.id)}</code></a></td><td class="num">${rep.runs}</td><td class="num">${seconds(rep.rpoUsMax)}</td>`
      + `<td class="num">${millis(rep.rtoUsMax)} / ${millis(rep.rtoUsMean)}</td><td class="num">${mib(rep.bytesSent)}</td><td class="num">${mib(rep.bytesSkippedWhiteSpace)}</td></tr>`];
  });
  if (rows.length === 0) return '';
  return `<section id="replication"><h2>Replication</h2>
<p class="muted">Cells the replication suite ran on; each cell page's replication section has the RPO over time, the bytes per cycle and each run's cycles, failover and failback.</p>
<table><thead><tr><th>cell</th><th class="num">runs</th><th class="num">RPO (worst)</th><th class="num">failover RTO (worst / mean)</th><th class="num">sent</th><th class="num">white space skipped</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table></section>`;
}
