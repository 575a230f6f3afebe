/**
 * The report's assets: the stylesheet, the script that draws the charts from each page's
 * chart-data block, and chart.js itself, copied from node_modules (nothing is fetched).
 * The level colors live here once: the stylesheet and the charts both use them.
 */

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { LEVELS, type ConsistencyLevel } from '../../core/levels.js';

/** Red to green, weakest first: inconsistent red, crash orange, filesystem yellow, application light green, transaction green. */
export const LEVEL_COLORS: Readonly<Record<ConsistencyLevel, string>> = {
  inconsistent: '#e5484d',
  crash: '#f59e0b',
  filesystem: '#facc15',
  application: '#86efac',
  transaction: '#15803d',
};
/** Runs that reached no level (a quiesce fault, a lost guest, no point). */
export const NO_LEVEL_COLOR = '#c4c9d0';
export const PASS_COLOR = '#2f9e44';
export const FAIL_COLOR = '#d92d20';
export const LOSS_COLORS = { committed: '#b42318', writes: '#f59e0b', rpo: '#1f6feb', rto: '#8250df' } as const;

/**
 * Timeline kinds with a style of their own (background, text): what changes the data's
 * fate stands out — guest writes, dirty pages, freeze and thaw, snapshots, faults and
 * power loss, restores. Any other kind is drawn as `other`.
 */
const KIND_STYLES: Readonly<Record<string, readonly [string, string]>> = {
  writes: ['#2563eb', '#fff'],
  dirty: ['#a855f7', '#fff'],
  freeze: ['#0891b2', '#fff'],
  thaw: ['#0891b2', '#fff'],
  snapshot: ['#4338ca', '#fff'],
  'snapshot-removed': ['#a5b4fc', '#1d232a'],
  fault: ['#f97316', '#fff'],
  'power-loss': ['#b91c1c', '#fff'],
  backup: ['#ccfbf1', '#115e59'],
  'log-backup': ['#ccfbf1', '#115e59'],
  restore: ['#15803d', '#fff'],
  verdict: ['#1d232a', '#fff'],
  boot: ['#eaeef2', '#1d232a'],
  log: ['#eaeef2', '#1d232a'],
  note: ['#eaeef2', '#1d232a'],
};
/** Kinds whose timeline rows are highlighted as a whole. */
const STAND_OUT = new Set(['writes', 'dirty', 'freeze', 'thaw', 'snapshot', 'fault', 'power-loss', 'restore']);

/** The CSS class of a timeline kind: `t-<kind>` for a known kind, `t-other` for anything else. */
export function kindClass(kind: string): string {
  return Object.hasOwn(KIND_STYLES, kind) ? `t-${kind}${STAND_OUT.has(kind) ? ' stand' : ''}` : 't-other';
}

const kindCss = Object.entries(KIND_STYLES)
  .map(([kind, [bg, fg]]) => `.k.t-${kind},.tick.t-${kind},ol.timeline li.t-${kind}::before{background:${bg};color:${fg}}`).join('\n');

const DARK_TEXT_LEVELS: readonly ConsistencyLevel[] = ['inconsistent', 'transaction'];

const levelCss = LEVELS.map((l) => `.lvl.${l},.cell.${l},.swatch.${l}{background:${LEVEL_COLORS[l]}${DARK_TEXT_LEVELS.includes(l) ? ';color:#fff' : ''}}`).join('\n');

export const REPORT_CSS = `:root{--fg:#1d232a;--muted:#57606a;--line:#d0d7de;--soft:#f3f5f7}
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:var(--fg)}
nav.top{background:var(--fg);color:#8b949e;padding:.45rem 1.5rem}nav.top a{color:#fff}
main{padding:.5rem 1.5rem 3rem;max-width:1500px}
h1{font-size:1.45rem;margin:.8rem 0 .4rem}h2{font-size:1.15rem;margin:2rem 0 .5rem;padding-bottom:.2rem;border-bottom:1px solid var(--line)}
h3{font-size:1rem;margin:1rem 0 .3rem}
a{color:#0b63c5}small,.muted{color:var(--muted)}
table{border-collapse:collapse;margin:.4rem 0 1rem}
th,td{border:1px solid var(--line);padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:var(--soft)}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}
pre{background:var(--soft);border:1px solid var(--line);padding:.5rem .7rem;white-space:pre-wrap;word-break:break-word;margin:.3rem 0 1rem;max-height:36rem;overflow:auto}
pre.cmd{background:#0d1117;color:#e6edf3;border-color:#0d1117}
.pass{color:#116329;font-weight:600}.fail{color:#b42318;font-weight:600}.na{color:#6e7781;font-weight:600}
.facts{display:flex;flex-wrap:wrap;gap:.4rem 1.6rem;margin:.5rem 0;padding:0;list-style:none}.facts b{font-size:1.1rem}
.lvl{display:inline-block;padding:0 .4rem;border-radius:3px;margin:0 .2rem .2rem 0;font-size:12px;background:${NO_LEVEL_COLOR}}
.swatch{display:inline-block;width:.9rem;height:.9rem;border-radius:2px;vertical-align:-2px;margin:0 .25rem 0 .6rem;background:${NO_LEVEL_COLOR}}
${levelCss}
.heatmaps{display:flex;flex-wrap:wrap;gap:0 1.5rem;align-items:flex-start}
table.heat caption{text-align:left;font-weight:600;padding:.2rem 0}
table.heat td{padding:2px;width:11rem}table.heat th[scope=row]{white-space:nowrap}
table.heat td.empty{background:repeating-linear-gradient(45deg,#fff,#fff 4px,var(--soft) 4px,var(--soft) 8px)}
a.cell{display:block;margin:1px 0;padding:1px 4px;border:2px solid transparent;border-radius:3px;color:var(--fg);text-decoration:none;font-size:12px;background:${NO_LEVEL_COLOR}}
a.cell:hover{outline:2px solid var(--fg)}a.cell .exp{opacity:.8}
a.cell.mismatch{border:2px dashed #7a0916;font-weight:600}
.mark{display:inline-block;width:1em;font-weight:700}
tr.survived td{background:#fde2e1}tr.survived .mark,.mismatch .mark{color:#7a0916}
.cell.inconsistent .mark,.cell.transaction .mark{color:#fff}
.charts{display:flex;flex-wrap:wrap;gap:1rem}
ol.cycles{margin:0;padding:0;list-style:none;white-space:nowrap}
figure.chart-box{position:relative;height:260px;width:min(100%,520px);margin:0;border:1px solid var(--line);border-radius:4px;padding:.4rem}
figure.chart-box.wide{width:min(100%,900px)}
.strip{position:relative;height:18px;margin:.5rem 0 1rem;border-bottom:2px solid var(--line);max-width:900px}
.strip .tick{position:absolute;bottom:0;width:3px;height:14px;margin-left:-1px;border-radius:1px;background:#8b949e}
ol.timeline{list-style:none;margin:0 0 1rem 6.5rem;padding:0;border-left:3px solid var(--line)}
ol.timeline li{position:relative;padding:.15rem .5rem .15rem .9rem}
ol.timeline li::before{content:"";position:absolute;left:-.5rem;top:.5rem;width:.6rem;height:.6rem;border-radius:50%;background:#8b949e}
ol.timeline time{position:absolute;left:-6.6rem;width:5.6rem;text-align:right;font:12px/1.6 ui-monospace,monospace;color:var(--muted)}
ol.timeline li.stand{background:#fff8e6}ol.timeline li.t-power-loss,ol.timeline li.t-fault{background:#fde2e1}
.k{display:inline-block;min-width:7.5rem;padding:0 .4rem;margin-right:.5rem;border-radius:3px;font:600 11px/1.6 ui-monospace,monospace;text-transform:uppercase;background:#eaeef2}
${kindCss}
.k.t-other{background:#fff;border:1px solid var(--line)}
`;

/** Draws every chart of a page from `<script type="application/json" id="chart-data">` (see ChartSpec). */
export const REPORT_JS = `/* quiescelab report: draws the page's charts from its chart-data block; fetches nothing. */
(function () {
  'use strict';
  function scale(stacked, title, precision) {
    return { stacked: stacked, beginAtZero: true, title: { display: title !== '', text: title }, ticks: { precision: precision } };
  }
  function config(c) {
    var line = c.type === 'line';
    return {
      type: c.type,
      data: {
        labels: c.labels,
        datasets: c.datasets.map(function (d) {
          return { label: d.label, data: d.data, backgroundColor: d.color, borderColor: d.color,
            borderWidth: line ? 2 : 0, pointRadius: line ? 1.5 : 0, borderDash: d.dashed ? [6, 4] : [] };
        })
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: {
          title: { display: true, text: c.title },
          legend: { display: c.datasets.length > 1, position: 'bottom' }
        },
        scales: { x: Object.assign(scale(c.stacked, c.xTitle, c.xLinear ? undefined : 0), { type: c.xLinear ? 'linear' : 'category' }), y: scale(c.stacked, c.yTitle, c.integers ? 0 : undefined) }
      }
    };
  }
  function draw() {
    var block = document.getElementById('chart-data');
    if (block === null || typeof Chart === 'undefined') return;
    JSON.parse(block.textContent).charts.forEach(function (c) {
      var canvas = document.getElementById(c.canvas);
      if (canvas !== null) new Chart(canvas, config(c));
    });
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', draw);
  else draw();
})();
`;

let chartJs: Uint8Array | undefined;

/** chart.js's UMD build, read once from the installed package (from the .ts sources and from dist/ alike). */
export function chartJsBytes(): Uint8Array {
  if (chartJs === undefined) {
    const main = createRequire(import.meta.url).resolve('chart.js');
    chartJs = new Uint8Array(readFileSync(join(dirname(main), 'chart.umd.min.js')));
  }
  return chartJs;
}
