/**
 * The training demo as one self-contained HTML page (`quiescelab demo`): inline CSS and
 * script, no network, works from file:// and with the keyboard alone. Every step of the
 * story (reports/demo/steps.ts) is an `<li data-step="N">` holding both runs side by
 * side; the script shows the steps up to the current one (marked aria-current="step"),
 * driven by Back / Next, a scrubber (`<input type=range>`) and the arrow, Home and End
 * keys. Every string from the runs goes through `h`.
 */

import { assert } from '../../core/assert.js';
import { escapeHtml as h } from '../html-escape.js';
import { LANES, type DemoStep, type DemoStory, type Lane, type LaneEvent, type LaneOutcome } from './steps.js';

const CSS = `:root{--fg:#1d232a;--muted:#57606a;--line:#d0d7de;--soft:#f3f5f7;--bad:#c0392b;--good:#1a7f37}
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:var(--fg)}
header{background:var(--fg);color:#fff;padding:.6rem 1.5rem}header h1{font-size:1.3rem;margin:0}header p{margin:.2rem 0 0;color:#c9d1d9}
main{padding:.8rem 1.5rem 3rem;max-width:1200px}
.controls{position:sticky;top:0;background:#fff;padding:.5rem 0;border-bottom:1px solid var(--line);display:flex;gap:.6rem;align-items:center;z-index:1}
.controls button{font:inherit;padding:.3rem .9rem}.controls input{flex:1}
button:focus-visible,input:focus-visible{outline:3px solid #0b63c5;outline-offset:2px}
.lanes{display:grid;grid-template-columns:7rem 1fr 1fr;gap:.3rem .8rem;margin:.6rem 0}.lanes div{font-weight:600}
ol.steps{list-style:none;margin:0;padding:0}
ol.steps li{display:grid;grid-template-columns:7rem 1fr 1fr;gap:.2rem .8rem;padding:.35rem 0;border-top:1px solid var(--line)}
ol.steps li.hidden{display:none}
ol.steps li[aria-current=step]{background:#fff8c5;outline:2px solid #d4a72c}
ol.steps time{font:12px/1.6 ui-monospace,monospace;color:var(--muted)}
ol.steps h3{grid-column:1/-1;font-size:1rem;margin:0}
.ev{padding:.2rem .4rem;border-left:4px solid var(--line);background:var(--soft);word-break:break-word}
.ev.absent{background:#fff;color:var(--muted);font-style:italic;border-left-style:dashed}
.ev.k-dirty,.ev.k-power-loss{border-left-color:var(--bad)}.ev.k-dirty.clean{border-left-color:var(--good)}.ev.k-freeze,.ev.k-thaw,.ev.k-snapshot{border-left-color:#0b63c5}
.ev.k-verdict,.ev.k-outcome{border-left-color:var(--good)}
ul.lost{margin:.3rem 0 0;padding-left:1.2rem}ul.lost li{display:list-item;border:0;padding:.2rem 0}
.id{display:inline-block;font:12px ui-monospace,monospace;background:#fff;border:1px solid var(--line);border-radius:3px;padding:0 .25rem;margin:1px 0}
.none{color:var(--good)}.bad{color:var(--bad)}
`;

/** Steps back and forth: Back/Next, the scrubber, arrow keys, Home/End. */
const SCRIPT = `(function(){
var steps=Array.prototype.slice.call(document.querySelectorAll('[data-step]'));
var range=document.getElementById('scrub'),back=document.getElementById('back'),next=document.getElementById('next'),where=document.getElementById('where');
var cur=0;
function show(n){cur=Math.max(0,Math.min(steps.length-1,n));
steps.forEach(function(s,i){s.classList.toggle('hidden',i>cur);if(i===cur){s.setAttribute('aria-current','step');}else{s.removeAttribute('aria-current');}});
range.value=String(cur);back.disabled=cur===0;next.disabled=cur===steps.length-1;
where.textContent='step '+(cur+1)+' of '+steps.length+': '+steps[cur].getAttribute('data-title');
steps[cur].scrollIntoView({block:'nearest'});}
back.addEventListener('click',function(){show(cur-1);});
next.addEventListener('click',function(){show(cur+1);});
range.addEventListener('input',function(){show(Number(range.value));});
document.addEventListener('keydown',function(e){if(e.target===range)return;
if(e.key==='ArrowRight'||e.key==='ArrowDown'){show(cur+1);e.preventDefault();}
else if(e.key==='ArrowLeft'||e.key==='ArrowUp'){show(cur-1);e.preventDefault();}
else if(e.key==='Home'){show(0);e.preventDefault();}else if(e.key==='End'){show(steps.length-1);e.preventDefault();}});
show(0);})();`;

const seconds = (us: number): string => `${(us / 1e6).toFixed(6)} s`;

function laneCell(lane: Lane, e: LaneEvent | null): string {
  if (e === null) return `<div class="ev absent" data-lane="${lane}">—</div>`;
  const clean = e.kind === 'dirty' && e.text.startsWith('no dirty pages');
  const cls = `ev k-${h(e.kind)}${e.absent === true ? ' absent' : ''}${clean ? ' clean' : ''}`;
  const at = e.absent === true ? '' : `<time>${h(seconds(e.atUs))}</time> `;
  return `<div class="${cls}" data-lane="${lane}">${at}${h(e.text)}</div>`;
}

/** The lost items grouped by why (one line each), every id a chip carrying data-lost. */
function lostList(o: LaneOutcome): string {
  if (o.lost.length === 0) return '<p class="none">Nothing acknowledged was lost.</p>';
  const groups = new Map<string, LaneOutcome['lost'][number][]>();
  for (const l of o.lost) groups.set(l.why, [...(groups.get(l.why) ?? []), l]);
  const items = [...groups].map(([why, ls]) => `<li><b>${ls.length}</b> ${h(why)}:<br>${ls.map((l) => `<span class="id" data-lost="${h(`${l.app}:${l.id}`)}" title="point ${l.point}">${h(l.app)} ${h(l.id)}</span>`).join(' ')}</li>`);
  return `<p class="bad">Lost: ${o.lost.length}</p><ul class="lost">${items.join('')}</ul>`;
}

function outcomeCell(lane: Lane, e: LaneEvent | null, o: LaneOutcome): string {
  return `<div class="ev k-outcome" data-lane="${lane}">${h(e?.text ?? '')}<br><small>${h(o.why)}</small>${lostList(o)}</div>`;
}

function stepItem(step: DemoStep, story: DemoStory): string {
  const cells = step.kind === 'outcome'
    ? LANES.map((lane) => outcomeCell(lane, step[lane], story.outcome[lane]))
    : LANES.map((lane) => laneCell(lane, step[lane]));
  return `<li data-step="${step.index}" data-kind="${h(step.kind)}" data-title="${h(step.title)}"><h3>${h(step.title)}</h3><time>${h(seconds(step.atUs))}</time>${cells.join('')}</li>`;
}

/** The page for a story, byte-identical for the same story. */
export function demoPage(story: DemoStory): string {
  assert(story.steps.length > 0, 'a demo has steps');
  const last = story.steps.length - 1;
  const lanes = LANES.map((lane) => `<div>${h(story.lanes[lane].label)}<br><small>${h(story.lanes[lane].how)}</small></div>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${h(story.title)} — quiescelab demo</title><style>${CSS}</style></head>
<body><header><h1>${h(story.title)}</h1><p>cell ${h(story.cell)}, seed ${story.seed}: the same VM and workload, run twice by the simulator</p></header>
<main><div class="controls" role="group" aria-label="step through the story">
<button type="button" id="back" accesskey="b">&larr; Back</button>
<input type="range" id="scrub" min="0" max="${last}" value="0" step="1" aria-label="step">
<button type="button" id="next" accesskey="n">Next &rarr;</button></div>
<p id="where" aria-live="polite"></p>
<div class="lanes"><span></span>${lanes}</div>
<ol class="steps">${story.steps.map((s) => stepItem(s, story)).join('\n')}</ol>
<noscript><p>Without script every step is shown at once.</p></noscript>
</main><script>${SCRIPT}</script></body></html>
`;
}
