/**
 * failures/<name>.html: one failing property — of a cell, or the property that killed a
 * mutant — with its evidence, the shrunk counterexample, its run drawn as a timeline
 * (virtual time; each kind a badge of its own) and the replay command.
 */

import type { EvidenceData, MatrixResults, MutantOutcome, PropertyResult, TimelineEntry } from '../../core/results.js';
import { kindClass } from './assets.js';
import { h, renderPage, seconds } from './page.js';

export interface FailureContext {
  readonly property: PropertyResult;
  /** The cell's id (the mutant's cell for a killer), or null. */
  readonly cellId: string | null;
  /** The cell's page relative to the report's folder, when the results have the cell. */
  readonly cellPage: string | undefined;
  readonly mutant: MutantOutcome | null;
}

function timeline(entries: readonly TimelineEntry[] | null): string {
  if (entries === null || entries.length === 0) return '<p class="muted">No timeline was recorded for this failure.</p>';
  const end = Math.max(...entries.map((e) => e.atUs));
  const left = (us: number) => (end <= 0 ? 0 : (us / end) * 100).toFixed(2);
  const ticks = entries.map((e) => `<span class="tick ${kindClass(e.kind)}" style="left:${left(e.atUs)}%" title="${h(`${seconds(e.atUs)} ${e.kind}`)}"></span>`).join('');
  const items = entries.map((e) => `<li class="${kindClass(e.kind)}"><time>${seconds(e.atUs)}</time><span class="k ${kindClass(e.kind)}">${h(e.kind)}</span>${h(e.detail)}</li>`).join('\n');
  return `<p class="muted">${entries.length} events over ${seconds(end)} of virtual time.</p>
<div class="strip" aria-hidden="true">${ticks}</div>
<ol class="timeline">
${items}
</ol>`;
}

function prettyJson(value: unknown): string {
  return value === undefined ? 'null' : JSON.stringify(value, null, 2);
}

/** A failure's findings as data: counts, first / worst / last example, every id. */
function findings(data: EvidenceData | null): string {
  if (data === null) return '';
  const counts = Object.entries(data.counts).map(([k, v]) => `<tr><th scope="row">${h(k)}</th><td>${v}</td></tr>`).join('');
  const examples = (['first', 'worst', 'last'] as const).filter((k) => data[k] !== null).map((k) => `<tr><th scope="row">${k}</th><td>${h(data[k] ?? '')}</td></tr>`).join('');
  const ids = data.ids.length === 0 ? '' : `<h3>Every id concerned (${data.ids.length + data.idsOmitted})</h3>
<pre class="evidence">${h(data.ids.join(' '))}${data.idsOmitted === 0 ? '' : h(` … and ${data.idsOmitted} more`)}</pre>`;
  return `<h3>Findings</h3>
<table>${counts}${examples}</table>
${ids}`;
}

export function renderFailurePage(results: MatrixResults, ctx: FailureContext): string {
  const p = ctx.property;
  const m = ctx.mutant;
  const description = results.properties.find((d) => d.id === p.id)?.description;
  const cell = ctx.cellId === null ? '—' : ctx.cellPage === undefined ? `<code>${h(ctx.cellId)}</code>` : `<a href="../${h(ctx.cellPage)}"><code>${h(ctx.cellId)}</code></a>`;
  const back = [
    '<a href="../index.html">← summary</a>',
    ...(ctx.cellPage === undefined ? [] : [`<a href="../${h(ctx.cellPage)}">← cell page</a>`]),
    ...(m === null ? ['<a href="../index.html#failures">← failures</a>'] : ['<a href="../index.html#mutants">← mutant table</a>']),
  ].join(' · ');
  const title = m === null
    ? `<b>${h(p.id)}</b> ${h(p.name)} fails on <code>${h(ctx.cellId ?? '')}</code>`
    : `Mutant <code>${h(m.id)}</code> killed by <b>${h(p.id)}</b> ${h(p.name)}`;
  const mutantFacts = m === null ? '' : `<h2>The mutant</h2>
<table><tr><th scope="row">mutant</th><td><code>${h(m.id)}</code></td></tr><tr><th scope="row">area</th><td>${h(m.area)}</td></tr>
<tr><th scope="row">the bug</th><td>${h(m.description)}</td></tr><tr><th scope="row">expected killer</th><td>${h(m.expectedKiller)}</td></tr>
<tr><th scope="row">runs spent</th><td class="num">${m.runs}</td></tr></table>`;
  const replay = p.replay === null
    ? '<p class="muted">No replay token was recorded for this failure.</p>'
    : `<pre class="cmd"><code>quiescelab replay ${h(p.replay)}</code></pre>
<p class="muted">Reproduces this failure from its token: the shrunk spec, the timeline and the verdict (exit 1 when the property fails, as it did).</p>`;
  const body = `<p>${back}</p>
<h1>${title}</h1>
${mutantFacts}
<h2>The property</h2>
<table>
<tr><th scope="row">cell</th><td>${cell}</td></tr>
<tr><th scope="row">property</th><td><b>${h(p.id)}</b> ${h(p.name)}${description === undefined ? '' : `<br><small>${h(description)}</small>`}</td></tr>
<tr><th scope="row">suite</th><td>${h(p.suite)}</td></tr>
${p.status === 'not-exercised'
    ? `<tr><th scope="row">not exercised</th><td>judged ${p.judged} of ${p.runs} runs (${p.unknown} unknown); at least ${p.minJudged} needed: the cell fails it</td></tr>`
    : `<tr><th scope="row">failed runs</th><td>${p.failures} of ${p.runs} (${p.unknown} unknown)${p.failedRuns.length === 0 ? '' : `: run${p.failedRuns.length === 1 ? '' : 's'} ${h(p.failedRuns.join(', '))}`}</td></tr>`}
<tr><th scope="row">counterexample</th><td>${p.counterexampleSize ?? '—'} chars after ${p.shrinks ?? '—'} shrinks</td></tr>
</table>
<h2>Evidence</h2>
<pre class="evidence">${h(p.evidence ?? 'none recorded')}</pre>
${findings(p.data)}<h2>Replay</h2>
${replay}
<h2>Timeline of the shrunk run</h2>
${timeline(p.timeline)}
<h2>Shrunk counterexample</h2>
<pre class="counterexample">${h(prettyJson(p.counterexample))}</pre>`;
  const name = m === null ? `${p.id} on ${ctx.cellId ?? ''}` : `mutant ${m.id}`;
  return renderPage({ title: `${name} — quiescelab`, root: '../', body });
}
