/**
 * What every page of the report shares: the shell (stylesheet, navigation, the chart data
 * block and the two scripts, all by relative links), the embedded JSON that cannot close
 * its script block, and small formatters. Every string from the results goes through `h`.
 */

import { isLevel, LEVELS, levelRank, type ConsistencyLevel } from '../../core/levels.js';
import type { PropertyResult } from '../../core/results.js';
import { escapeHtml } from '../html-escape.js';

export const h = escapeHtml;

/** One chart as report.js draws it (see assets.ts): bars (stacked or not) or lines. */
export interface ChartSpec {
  /** The canvas's id on the page. */
  readonly canvas: string;
  readonly type: 'bar' | 'line';
  readonly title: string;
  readonly stacked: boolean;
  readonly labels: readonly (string | number)[];
  readonly datasets: readonly ChartDataset[];
  readonly xTitle: string;
  readonly yTitle: string;
  /** Counts: the y axis ticks whole numbers only. */
  readonly integers: boolean;
  /** A numeric x axis: the datasets' data are {x, y} points and `labels` is empty (the replication section's RPO over time). */
  readonly xLinear?: boolean;
}

/** A point on a chart with a numeric x axis. */
export interface ChartPoint {
  readonly x: number;
  readonly y: number;
}

export interface ChartDataset {
  readonly label: string;
  readonly data: readonly (number | null)[] | readonly ChartPoint[];
  /** One color, or one per bar. */
  readonly color: string | readonly string[];
  /** A dashed line (a bound, not a measure). */
  readonly dashed?: boolean;
}

/** JSON for a `<script type="application/json">` block: `<`, `>`, `&`, U+2028/9 as \u escapes, so `</script>` in data stays data. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A canvas for `spec`, in a box that gives it a height (the charts are responsive). */
export function chartCanvas(spec: ChartSpec, wide = false): string {
  return `<figure class="chart-box${wide ? ' wide' : ''}"><canvas id="${h(spec.canvas)}" class="chart" role="img" aria-label="${h(spec.title)}"></canvas></figure>`;
}

export interface PageSpec {
  readonly title: string;
  /** '' for index.html, '../' for pages one folder down. */
  readonly root: string;
  readonly body: string;
  readonly charts?: readonly ChartSpec[];
}

export function renderPage(spec: PageSpec): string {
  const charts = spec.charts ?? [];
  const scripts = charts.length === 0 ? '' : `
<script type="application/json" id="chart-data">${jsonForScript({ charts })}</script>
<script src="${spec.root}assets/chart.umd.min.js"></script>
<script src="${spec.root}assets/report.js"></script>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>${h(spec.title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${spec.root}assets/report.css">
</head><body>
<nav class="top"><a href="${spec.root}index.html">quiescelab report</a> · <a href="${spec.root}index.html#heatmap">heat map</a> · <a href="${spec.root}index.html#failures">failures</a> · <a href="${spec.root}index.html#mutants">mutants</a></nav>
<main>
${spec.body}
</main>${scripts}
</body></html>
`;
}

/** A level as a colored badge (text and color: the text carries the meaning). */
export function levelBadge(level: string | null, count?: number): string {
  const cls = level !== null && isLevel(level) ? level : 'none';
  const text = level ?? 'no level';
  return `<span class="lvl ${cls}">${h(text)}${count === undefined ? '' : ` <b>${count}</b>`}</span>`;
}

export function seconds(us: number): string {
  return `${(us / 1e6).toFixed(3)} s`;
}

export function millis(us: number | null): string {
  return us === null ? '—' : `${(us / 1e3).toFixed(1)} ms`;
}

/** The pass/fail mark: a word and a glyph, not just a color. */
export function verdict(pass: boolean): string {
  return pass ? '<span class="pass">✓ pass</span>' : '<span class="fail">✗ FAIL</span>';
}

/** A property's verdict: not exercised is a failure, and says so. */
export function propertyVerdict(p: Pick<PropertyResult, 'pass' | 'status'>): string {
  if (p.status === 'not-applicable') return '<span class="na">– NOT APPLICABLE</span>';
  return p.status === 'not-exercised' ? '<span class="fail">✗ NOT EXERCISED</span>' : verdict(p.pass);
}

/** The levels of `achieved` with runs, weakest first. */
export function achievedLevels(achieved: Partial<Record<ConsistencyLevel, number>>): [string, number][] {
  const rank = (l: string) => (isLevel(l) ? levelRank(l) : LEVELS.length);
  return Object.entries(achieved)
    .filter((e): e is [string, number] => typeof e[1] === 'number' && e[1] > 0)
    .sort((a, b) => rank(a[0]) - rank(b[0]));
}
