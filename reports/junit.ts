/**
 * JUnit XML of a matrix run (`quiescelab matrix --junit FILE`), for CI that already reads
 * it: one <testsuite> per cell (named by the cell id) with one <testcase> per property of
 * the cell (classname the cell id, name `P1 matrix level`). A failing property carries a
 * <failure> whose message is the evidence and whose body holds the replay command, the
 * shrunk counterexample (JSON) and its timeline; a property judged unknown on some runs
 * passes with a <system-out> note; one that applied to no run is <skipped>. The mutant
 * hunt, when it ran, is one more suite `mutants`: a survivor is a failure.
 *
 * Deterministic: results hold no wall-clock figure, so every `time` is 0 and there is no
 * timestamp — one seed, one file. Every string from the results is escaped for XML 1.0
 * (characters it forbids are dropped; tab, newline and carriage return in attributes are
 * character references so a parser does not fold them into spaces); no CDATA, so `]]>` in
 * the evidence needs no care beyond escaping `>`.
 */

import type { CellResult, EvidenceData, MatrixResults, MutantOutcome, PropertyResult } from '../core/results.js';
import { timelineText } from './timeline-text.js';

/** Everything XML 1.0 forbids: C0 controls but tab/LF/CR, lone surrogates, U+FFFE and U+FFFF. */
const FORBIDDEN = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/** Drops the characters XML 1.0 cannot carry (exported: a reader's text is this of the input). */
export function xmlSafe(text: string): string {
  return text.replace(FORBIDDEN, '');
}

const TEXT_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '\r': '&#13;' };
const ATTR_ESCAPES: Readonly<Record<string, string>> = { ...TEXT_ESCAPES, '"': '&quot;', "'": '&apos;', '\t': '&#9;', '\n': '&#10;' };

function escapeText(text: string): string {
  return xmlSafe(text).replace(/[&<>\r]/g, (c) => TEXT_ESCAPES[c] ?? c);
}

function escapeAttr(text: string): string {
  return xmlSafe(text).replace(/[&<>"'\t\n\r]/g, (c) => ATTR_ESCAPES[c] ?? c);
}

type Attrs = Readonly<Record<string, string | number>>;

/** One element: attributes escaped, `body` already XML (or absent: an empty element). */
function element(name: string, attrs: Attrs, body?: string): string {
  const a = Object.entries(attrs).map(([k, v]) => ` ${k}="${escapeAttr(String(v))}"`).join('');
  return body === undefined ? `<${name}${a}/>` : `<${name}${a}>${body}</${name}>`;
}

function textElement(name: string, attrs: Attrs, text: string): string {
  return element(name, attrs, escapeText(text));
}

interface Case {
  readonly name: string;
  readonly xml: string;
  readonly failed: boolean;
  readonly skipped: boolean;
}

function testcase(classname: string, name: string, child: { readonly xml: string; readonly failed?: boolean; readonly skipped?: boolean }): Case {
  return { name, failed: child.failed ?? false, skipped: child.skipped ?? false, xml: `    ${element('testcase', { classname, name, time: 0 }, child.xml === '' ? undefined : `\n      ${child.xml}\n    `)}` };
}

/** A failure's findings as data, a line each: the counts, first / worst / last example, every id. */
function findingLines(data: EvidenceData): string[] {
  const lines = [`counts: ${Object.entries(data.counts).map(([k, v]) => `${k}=${v}`).join(' ')}`];
  for (const k of ['first', 'worst', 'last'] as const) if (data[k] !== null) lines.push(`${k}: ${data[k] ?? ''}`);
  if (data.ids.length > 0) lines.push(`ids (${data.ids.length + data.idsOmitted}): ${data.ids.join(' ')}${data.idsOmitted === 0 ? '' : ` … and ${data.idsOmitted} more`}`);
  return lines;
}

/** The failure's body: what a CI page shows under the test. */
function failureBody(p: PropertyResult): string {
  const lines = [`${p.id} ${p.name}: failed on ${p.failures} of ${p.runs} runs${p.shrinks === null ? '' : `, shrunk in ${p.shrinks} steps`}`, `evidence: ${p.evidence ?? '(none recorded)'}`];
  if (p.failedRuns.length > 0) lines.push(`failed runs: ${p.failedRuns.join(', ')}`);
  if (p.data !== null) lines.push(...findingLines(p.data));
  lines.push(p.replay === null ? 'replay: no token (the failure did not shrink to a replayable run)' : `replay: quiescelab replay ${p.replay}`);
  if (p.counterexample !== null) lines.push('counterexample:', JSON.stringify(p.counterexample, null, 2));
  if (p.timeline !== null && p.timeline.length > 0) lines.push('timeline:', timelineText(p.timeline));
  return lines.join('\n');
}

function propertyCase(cell: CellResult, p: PropertyResult): Case {
  const name = `${p.id} ${p.name}`;
  if (p.status === 'not-exercised') {
    const message = `not exercised: judged ${p.judged} of ${p.runs} runs, at least ${p.minJudged} needed`;
    return testcase(cell.id, name, { failed: true, xml: textElement('failure', { message, type: 'not-exercised' }, `${message}\n${p.evidence ?? ''}`) });
  }
  if (p.status === 'not-applicable') return testcase(cell.id, name, { skipped: true, xml: element('skipped', { message: p.evidence ?? 'not applicable to the engine' }) });
  if (!p.pass) return testcase(cell.id, name, { failed: true, xml: textElement('failure', { message: p.evidence ?? `failed on ${p.failures} of ${p.runs} runs`, type: p.id }, failureBody(p)) });
  if (p.runs === 0) return testcase(cell.id, name, { skipped: true, xml: element('skipped', { message: 'applied to none of the runs' }) });
  if (p.unknown > 0) {
    const note = `judged unknown on ${p.unknown} of ${p.runs} runs (no failure): ${p.evidence ?? ''}`;
    return testcase(cell.id, name, { xml: textElement('system-out', {}, note) });
  }
  return testcase(cell.id, name, { xml: '' });
}

function mutantCase(m: MutantOutcome): Case {
  const name = m.id;
  if (!m.killed || m.killer === null) {
    const message = `survived: no property failed on ${m.runs} runs (expected ${m.expectedKiller} to kill it)`;
    return testcase('mutants', name, { failed: true, xml: textElement('failure', { message, type: 'survived' }, `${m.description}\n${message}`) });
  }
  const k = m.killer;
  const note = [m.description, `killed by ${k.id} ${k.name} on ${m.cell ?? '?'} (expected ${m.expectedKiller})`, `evidence: ${k.evidence ?? ''}`];
  if (k.replay !== null) note.push(`replay: quiescelab replay ${k.replay}`);
  return testcase('mutants', name, { xml: textElement('system-out', {}, note.join('\n')) });
}

function suite(name: string, properties: Attrs, cases: readonly Case[]): { xml: string; tests: number; failures: number; skipped: number } {
  const failures = cases.filter((c) => c.failed).length;
  const skipped = cases.filter((c) => c.skipped).length;
  const props = Object.entries(properties).map(([k, v]) => `      ${element('property', { name: k, value: v })}`).join('\n');
  const body = `\n    <properties>\n${props}\n    </properties>\n${cases.map((c) => c.xml).join('\n')}\n  `;
  return { xml: `  ${element('testsuite', { name, tests: cases.length, failures, errors: 0, skipped, time: 0 }, body)}`, tests: cases.length, failures, skipped };
}

function achievedText(cell: CellResult): string {
  return Object.entries(cell.achieved).map(([level, n]) => `${level}:${n}`).join(' ');
}

export function renderJunit(results: MatrixResults): string {
  const run = { engine: results.engine, seed: results.seed, runsPerCell: results.runsPerCell, version: results.version };
  const suites = results.cells.map((cell) => suite(cell.id, { ...run, expected: cell.expected, achieved: achievedText(cell) }, cell.properties.map((p) => propertyCase(cell, p))));
  if (results.mutants !== null) suites.push(suite('mutants', { ...run, runs: results.mutants.runs, killed: results.mutants.killed, survived: results.mutants.survived }, results.mutants.results.map(mutantCase)));
  const sum = (key: 'tests' | 'failures' | 'skipped') => suites.reduce((n, s) => n + s[key], 0);
  const name = results.engine === 'quiescelab' ? 'quiescelab matrix' : `quiescelab matrix (engine ${results.engine})`;
  const top = { name, tests: sum('tests'), failures: sum('failures'), errors: 0, skipped: sum('skipped'), time: 0 };
  return `<?xml version="1.0" encoding="UTF-8"?>\n${element('testsuites', top, `\n${suites.map((s) => s.xml).join('\n')}\n`)}\n`;
}
