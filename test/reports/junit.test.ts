/**
 * JUnit XML from real results: cells run by the runner with quiescelab's engine (all pass)
 * and with the no-quiesce mutant (P1 fails, with a replay token and a shrunk
 * counterexample), plus the mutant hunt. The XML parses, counts one testcase per cell x
 * property, carries every failure's evidence, replay command, counterexample and
 * timeline, is the same for the same results, and hostile strings (markup, `]]>`, quotes,
 * control characters) come back from the parser as they went in, minus what XML forbids.
 * Then `quiescelab matrix --junit FILE` as a user runs it.
 */

import { builtinEngine } from '../../scenarios/engine-builtin.js';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CellResult, MatrixResults, PropertyResult } from '../../core/results.js';
import { renderJunit, xmlSafe } from '../../reports/junit.js';
import { findCell } from '../../scenarios/cells.js';
import { assembleResults } from '../../scenarios/matrix-run.js';
import { huntMutant, mutantsResults } from '../../scenarios/mutants/hunt.js';
import { findMutant } from '../../scenarios/mutants/index.js';
import type { Mutant } from '../../scenarios/mutants/mutant.js';
import { runCell } from '../../scenarios/runner.js';
import { prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';

const root = resolve(import.meta.dirname, '../..');
const CELLS = ['win2019/esx41/sqlserver/default', 'win2019/esx41/files/default'];
const RUNS = 3;
const SEED = 5;

interface XmlCase {
  readonly classname: string;
  readonly name: string;
  readonly failure?: { readonly message: string; readonly type: string; readonly '#text': string };
  readonly skipped?: { readonly message: string };
  readonly 'system-out'?: string;
}
interface XmlSuite {
  readonly name: string;
  readonly tests: string;
  readonly failures: string;
  readonly skipped: string;
  readonly testcase: readonly XmlCase[];
}
interface XmlDoc {
  readonly testsuites: { readonly name: string; readonly tests: string; readonly failures: string; readonly skipped: string; readonly testsuite: readonly XmlSuite[] };
}

/** Whether every code point is one XML 1.0 allows (its production Char). */
function allXmlChars(text: string): boolean {
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    if (!(cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff))) return false;
  }
  return true;
}

/**
 * The lexical rules fast-xml-parser's validator lets through: only XML characters, every
 * `&` an XML entity or a character reference, every `<` a tag, no `]]>` outside CDATA
 * (the file has none), no raw tab or line break inside a tag.
 */
function expectLexicallyXml(xml: string): void {
  expect(allXmlChars(xml)).toBe(true);
  expect(xml.match(/&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-f]+);)/gi)).toBeNull();
  expect(xml.match(/<(?![A-Za-z/?])/g)).toBeNull();
  expect(xml).not.toContain(']]>');
  // a raw tab or line break in an attribute would be folded into a space by a conforming parser
  expect(xml.match(/<[^>]*[\t\n\r][^>]*>/g)).toBeNull();
}

/** Parses as a CI would: attributes kept, nothing trimmed or converted, character references decoded. */
function parse(xml: string): XmlDoc {
  expectLexicallyXml(xml);
  // The structure (nesting, quoting, duplicate attributes); fast-xml-validator, its
  // successor, is not a dependency.
  // eslint-disable-next-line @typescript-eslint/no-deprecated
  expect(XMLValidator.validate(xml)).toBe(true);
  const parser = new XMLParser({
    // htmlEntities is what decodes character references (&#10;) in fast-xml-parser 5
    ignoreAttributes: false, attributeNamePrefix: '', trimValues: false, parseTagValue: false, parseAttributeValue: false, htmlEntities: true,
    isArray: (name) => name === 'testsuite' || name === 'testcase',
  });
  return parser.parse(xml) as XmlDoc;
}

function mustCell(id: string) {
  const c = findCell(id);
  if (c === undefined) throw new Error(`no cell ${id}`);
  return c;
}

async function runCells(mutant: Mutant | null): Promise<CellResult[]> {
  const engine = mutant === null ? {} : { engine: builtinEngine(mutant.engine, mutant.id), mutant: mutant.id };
  const out: CellResult[] = [];
  for (const id of CELLS) out.push(await runCell(mustCell(id), { runs: RUNS, seed: SEED, shrinkBudget: 20, ...engine }));
  return out;
}

function failing(results: MatrixResults): { cell: CellResult; p: PropertyResult }[] {
  return results.cells.flatMap((cell) => cell.properties.filter((p) => !p.pass).map((p) => ({ cell, p })));
}

describe('renderJunit on real results', () => {
  let passing: MatrixResults;
  let mutated: MatrixResults;

  beforeAll(async () => {
    await prepareDefaultApps();
    const options = { version: 'test', seed: SEED, runsPerCell: RUNS };
    passing = assembleResults({ ...options, mutant: null }, await runCells(null));
    const noQuiesce = findMutant('no-quiesce');
    if (noQuiesce === undefined) throw new Error('no mutant no-quiesce');
    const killed = await huntMutant(noQuiesce, { runs: RUNS, seed: SEED, shrinkBudget: 20 });
    // A survivor as the hunt reports one (none of today's mutants survives a hunt).
    const survivor = { ...killed, id: 'pretend-survivor', killed: false, cell: null, killer: null };
    mutated = assembleResults({ ...options, mutant: 'no-quiesce' }, await runCells(noQuiesce), mutantsResults(RUNS, [killed, survivor]));
  }, 120_000);

  it('quiescelab\'s engine: one passing testcase per cell x property, named and classed by the cell', () => {
    const doc = parse(renderJunit(passing));
    const expected = passing.cells.reduce((n, c) => n + c.properties.length, 0);
    expect(doc.testsuites.name).toBe('quiescelab matrix');
    expect(Number(doc.testsuites.tests)).toBe(expected);
    expect(doc.testsuites.failures).toBe('0');
    expect(doc.testsuites.testsuite.map((s) => s.name)).toEqual(CELLS);
    for (const [i, cell] of passing.cells.entries()) {
      const s = doc.testsuites.testsuite[i];
      expect(s?.testcase.map((c) => c.name)).toEqual(cell.properties.map((p) => `${p.id} ${p.name}`));
      for (const c of s?.testcase ?? []) {
        expect(c.classname).toBe(cell.id);
        expect(c.failure).toBeUndefined();
      }
    }
    // a property that does not apply to a cell is left out; one that does and judged no
    // run is a failure (not exercised: test/scenarios/not-exercised.test.ts), never a skip
    expect(passing.cells.flatMap((c) => c.properties).every((p) => p.judged >= p.minJudged)).toBe(true);
    expect(Number(doc.testsuites.skipped)).toBe(0);
  });

  it('a mutant engine: the failures carry evidence, the replay command, the counterexample and the timeline', () => {
    const xml = renderJunit(mutated);
    const doc = parse(xml);
    const failed = failing(mutated);
    expect(failed.length).toBeGreaterThan(0);
    const cellSuites = doc.testsuites.testsuite.filter((s) => s.name !== 'mutants');
    expect(cellSuites.reduce((n, s) => n + s.testcase.length, 0)).toBe(mutated.cells.reduce((n, c) => n + c.properties.length, 0));
    expect(cellSuites.reduce((n, s) => n + Number(s.failures), 0)).toBe(failed.length);
    expect(doc.testsuites.name).toBe('quiescelab matrix (engine no-quiesce)');
    for (const { cell, p } of failed) {
      const c = cellSuites.find((s) => s.name === cell.id)?.testcase.find((t) => t.name === `${p.id} ${p.name}`);
      if (p.status === 'not-exercised') {
        expect(c?.failure).toMatchObject({ type: 'not-exercised', message: `not exercised: judged ${p.judged} of ${p.runs} runs, at least ${p.minJudged} needed` });
        continue;
      }
      expect(c?.failure?.message).toBe(p.evidence);
      expect(p.replay).not.toBeNull();
      const body = c?.failure?.['#text'] ?? '';
      expect(body).toContain(`quiescelab replay ${p.replay ?? ''}`);
      expect(body).toContain(JSON.stringify(p.counterexample, null, 2));
      for (const e of p.timeline ?? []) expect(body).toContain(e.detail);
    }
    // properties judged unknown on some runs (and never failed) pass with a note when they
    // judged enough runs, else fail as not exercised
    const unknownOnly = mutated.cells.flatMap((cell) => cell.properties.filter((p) => p.failures === 0 && p.unknown > 0).map((p) => ({ cell, p })));
    expect(unknownOnly.length).toBeGreaterThan(0);
    for (const { cell, p } of unknownOnly) {
      const c = cellSuites.find((s) => s.name === cell.id)?.testcase.find((t) => t.name === `${p.id} ${p.name}`);
      if (p.status === 'not-exercised') expect(c?.failure?.type).toBe('not-exercised');
      else expect(c?.['system-out']).toMatch(new RegExp(`^judged unknown on ${p.unknown} of ${p.runs} runs`));
    }
  });

  it('the hunt is one more suite: a killed mutant passes with its killer, a survivor fails', () => {
    const doc = parse(renderJunit(mutated));
    const mutants = doc.testsuites.testsuite.find((s) => s.name === 'mutants');
    expect(mutants?.testcase.map((c) => c.name)).toEqual(['no-quiesce', 'pretend-survivor']);
    const [killed, survivor] = mutants?.testcase ?? [];
    expect(killed?.failure).toBeUndefined();
    expect(killed?.['system-out']).toMatch(/killed by P1 matrix level on \S+/);
    expect(killed?.['system-out']).toMatch(/quiescelab replay ql1\.\S+/);
    expect(survivor?.failure?.type).toBe('survived');
    expect(mutants?.failures).toBe('1');
    expect(Number(doc.testsuites.failures)).toBe(failing(mutated).length + 1);
    expect(Number(doc.testsuites.tests)).toBe(mutated.cells.reduce((n, c) => n + c.properties.length, 0) + 2);
  });

  it('the same results give the same bytes, with no timestamp', () => {
    const xml = renderJunit(mutated);
    expect(renderJunit(structuredClone(mutated))).toBe(xml);
    expect(xml).not.toMatch(/timestamp=/);
  });

  it('hostile strings come back from the parser as they went in, minus what XML 1.0 forbids', () => {
    const hostile = `<script>alert("x")</script> ]]> & &amp; 'q' "d" <img src=x onerror=alert(1)> \u0000\u0001\u0008\u000b\u000c\u001f\ud800\uffff tab\there\nline\r\ncrlf\rcr é 😀`;
    const cell = mutated.cells[0];
    const p = cell?.properties.find((x) => !x.pass);
    if (cell === undefined || p === undefined) throw new Error('no failing property to dress up');
    const evil: PropertyResult = { ...p, name: `${p.name} ${hostile}`, evidence: hostile, counterexample: { note: hostile }, timeline: [{ atUs: 1, kind: 'note', detail: hostile }] };
    const evilCell: CellResult = { ...cell, id: `${cell.id}${hostile}`, properties: [evil] };
    const doc = parse(renderJunit({ ...mutated, engine: hostile, cells: [evilCell], mutants: null }));
    const safe = xmlSafe(hostile);
    expect(allXmlChars(safe)).toBe(true);
    expect(allXmlChars(hostile)).toBe(false);
    expect(safe.length).toBe(hostile.length - 8);
    expect(safe).toContain('tab\there\nline\r\ncrlf\rcr é 😀');
    expect(doc.testsuites.name).toBe(`quiescelab matrix (engine ${safe})`);
    const s = doc.testsuites.testsuite[0];
    expect(s?.name).toBe(xmlSafe(evilCell.id));
    const c = s?.testcase[0];
    expect(c?.classname).toBe(xmlSafe(evilCell.id));
    expect(c?.name).toBe(xmlSafe(`${evil.id} ${evil.name}`));
    expect(c?.failure?.message).toBe(safe);
    expect(c?.failure?.['#text']).toContain(`evidence: ${safe}`);
    expect(c?.failure?.['#text']).toContain(xmlSafe(JSON.stringify({ note: hostile }, null, 2)));
    expect(c?.failure?.['#text']).toContain(`note             ${safe}`);
  });
});

describe('quiescelab matrix --junit (CLI)', () => {
  it('writes a JUnit file that parses: a testcase per cell x property, then one per mutant hunted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ql-junit-'));
    const file = join(dir, 'junit.xml');
    const r = await execa('node', ['--import', 'tsx', join(root, 'cli/main.ts'), 'matrix', '--runs', '2', '--os', 'linux,win2019', '--tools', 'esx35u2', '--apps', 'files,sqlserver', '--mutant-runs', '5',
      '--out', join(dir, 'report'), '--json', join(dir, 'results.json'), '--junit', file], { cwd: root, reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as MatrixResults;
    const doc = parse(readFileSync(file, 'utf8'));
    const cellCases = results.cells.reduce((n, c) => n + c.properties.length, 0);
    expect(results.mutants?.results.map((m) => m.id)).toEqual(['trusts-sync-only']);
    expect(Number(doc.testsuites.tests)).toBe(cellCases + 1);
    expect(doc.testsuites.testsuite.map((s) => s.name)).toEqual([...results.cells.map((c) => c.id), 'mutants']);
    const cellSuites = doc.testsuites.testsuite.slice(0, results.cells.length);
    expect(cellSuites.reduce((n, s) => n + s.testcase.length, 0)).toBe(cellCases);
    expect(doc.testsuites.failures).toBe('0');
  });

  it('a --junit path that cannot be written: one line naming --junit, exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ql-junit-'));
    const r = await execa('node', ['--import', 'tsx', join(root, 'cli/main.ts'), 'matrix', '--runs', '1', '--os', 'win2019', '--tools', 'esx41', '--apps', 'files', '--no-mutants', '--out', join(dir, 'report'), '--junit', join(dir, 'missing', 'junit.xml')], { cwd: root, reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr.trim()).toMatch(/^quiescelab: --junit: the folder '.*' does not exist$/);
  });
});
