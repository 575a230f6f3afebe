/**
 * The estate evaluation as one HTML page (index.html of `quiescelab evaluate --out`): the
 * summary, a per-VM table sortable by any column (click a header) and a filter by risk,
 * in the report's colors. Self-contained: inline style and script, no CDN, works from
 * file://. Every string from the estate goes through escapeHtml (a VM name may hold HTML).
 */

import { LEVEL_COLORS, NO_LEVEL_COLOR } from '../reports/html/assets.js';
import { escapeHtml as h } from '../reports/html-escape.js';
import type { AppLevel, EstateEvaluation, VmEvaluation } from '../scenarios/estate/evaluate.js';

const CSS = `body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d232a;background:#f6f8fa}
main{max-width:1400px;margin:0 auto;padding:16px 24px}h1{font-size:22px}h2{font-size:17px;margin-top:24px}
table{border-collapse:collapse;background:#fff;width:100%}th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eaeef2;cursor:pointer;user-select:none}th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
.lvl{display:inline-block;padding:0 6px;border-radius:4px;margin:1px 2px;white-space:nowrap}
${Object.entries(LEVEL_COLORS).map(([l, c]) => `.lvl.${l}{background:${c}}`).join('\n')}
.lvl.none{background:${NO_LEVEL_COLOR}}.lvl.inconsistent,.lvl.transaction{color:#fff}
.risk{margin:0 0 4px}.risk b{display:block}.ok{color:#2f9e44}.bad{color:#d92d20}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:8px 14px}
.warn{font-family:ui-monospace,monospace;font-size:12px;white-space:pre-wrap}`;

/** Sorts the table by a clicked header (text, or the data-sort attribute) and filters rows by risk. */
const SCRIPT = `(function(){
var t=document.getElementById('vms'),b=t.tBodies[0],sel=document.getElementById('risk');
function key(r,i){var c=r.cells[i];return c.getAttribute('data-sort')||c.textContent.trim();}
Array.prototype.forEach.call(t.tHead.rows[0].cells,function(th,i){th.tabIndex=0;function go(){
var asc=th.getAttribute('aria-sort')!=='ascending';Array.prototype.forEach.call(t.tHead.rows[0].cells,function(o){o.removeAttribute('aria-sort');});
th.setAttribute('aria-sort',asc?'ascending':'descending');var rows=Array.prototype.slice.call(b.rows);
rows.sort(function(x,y){var a=key(x,i),c=key(y,i),n=parseFloat(a)-parseFloat(c);var d=isNaN(n)?a.localeCompare(c):n;return asc?d:-d;});
rows.forEach(function(r){b.appendChild(r);});}
th.addEventListener('click',go);th.addEventListener('keydown',function(e){if(e.key==='Enter')go();});});
sel.addEventListener('change',function(){var v=sel.value;Array.prototype.forEach.call(b.rows,function(r){
var ids=(r.getAttribute('data-risks')||'').split(' ');r.hidden=!(v===''||(v==='none'?ids[0]==='':ids.indexOf(v)>=0));});});
})();`;

const RANK: Readonly<Record<string, number>> = { unsupported: 0, 'no level': 0, inconsistent: 1, crash: 2, filesystem: 3, application: 4, transaction: 5 };

function badge(level: AppLevel | undefined): string {
  const l = level ?? 'no level';
  return `<span class="lvl ${RANK[l] !== undefined && l in LEVEL_COLORS ? l : 'none'}">${h(l)}</span>`;
}

function levels(vm: VmEvaluation, which: 'expected' | 'achieved'): string {
  const worst = Math.min(...vm.apps.map((a) => RANK[vm[which][a] ?? 'no level'] ?? 0));
  return `<td data-sort="${worst}">${vm.apps.map((a) => `${h(a)} ${badge(vm[which][a])}`).join('<br>')}</td>`;
}

function restores(vm: VmEvaluation): string {
  const r = vm.restores;
  const s = (name: string, v: string) => `<span class="${v === 'works' ? 'ok' : v === 'fails' ? 'bad' : ''}">${name}: ${h(v)}</span>`;
  return `<td>${[s('VM', r.vm), s('file', r.file), s('item', r.item), s('point-in-time', r.pointInTime)].join('<br>')}</td>`;
}

function row(vm: VmEvaluation): string {
  const risks = vm.risks.map((r) => `<p class="risk"><b>${h(r.text)}</b>${h(r.remediation)}</p>`).join('');
  const rpo = vm.rpo.snapshotsS === null ? '-' : `${vm.rpo.snapshotsS.toFixed(3)} s${vm.rpo.withLogBackups === null ? '' : '; with log backups: the log backup interval'}`;
  return `<tr data-risks="${h(vm.risks.map((r) => r.id).join(' '))}"><td>${h(vm.vm)}</td><td>${h(vm.os)}<br><small>${h(vm.osString)}</small></td>`
    + `<td>${h(vm.tools)}<br><small>${h(vm.toolsVersion)}</small></td>${levels(vm, 'expected')}${levels(vm, 'achieved')}${restores(vm)}`
    + `<td data-sort="${vm.rpo.snapshotsS ?? -1}">${h(rpo)}</td><td data-sort="${vm.risks.length}">${risks}</td></tr>`;
}

export function evaluationHtml(e: EstateEvaluation, title: string): string {
  const s = e.summary;
  const riskIds = Object.keys(s.risks).sort();
  const cards = [`<div class="card">${s.vms} VMs, ${s.cellsRun} distinct cells run</div>`, `<div class="card">${s.vmsAtRisk} VMs at risk</div>`,
    ...Object.entries(s.vmsPerLevel).map(([l, n]) => `<div class="card">${badge(l as AppLevel)} ${n} VMs</div>`)].join('');
  const options = [`<option value="">every VM</option><option value="none">no risk</option>`, ...riskIds.map((r) => `<option value="${h(r)}">${h(r)} (${s.risks[r]})</option>`)].join('');
  const warnings = e.warnings.length === 0 ? '<p>none</p>' : `<div class="warn">${e.warnings.map(h).join('\n')}</div>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${h(title)}</title><link rel="icon" href="data:,"><style>${CSS}</style></head><body><main>
<h1>${h(title)}</h1><div class="cards">${cards}</div>
<h2>VMs</h2><p><label>Filter by risk <select id="risk">${options}</select></label> · click a column header to sort</p>
<table id="vms"><thead><tr><th>VM</th><th>OS</th><th>Tools</th><th>expected</th><th>achieved (worst run)</th><th>restores</th><th>RPO</th><th>risks and remediation</th></tr></thead>
<tbody>${e.vms.map(row).join('\n')}</tbody></table>
<h2>Warnings</h2>${warnings}
</main><script>${SCRIPT}</script></body></html>
`;
}
