/**
 * Issue 14, parts 3 and 4: every command given malformed input answers with exactly one
 * line on stderr naming the option, argument or field, and exit 2, within 5 s: never a
 * stack trace, a hang, or exit 0 on garbage; and nothing in the fixture folder is created,
 * changed or deleted. A table of command x option x malformed value.
 *
 * Runs the built CLI (`npm run build`) when dist/ is newer than every source file, else
 * from source (slower); two processes at a time (the machine is shared).
 */

import { spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { schemaShaped } from '../support/results-fixture.js';
import { cliArgs, expectUsageError, ROOT } from '../support/cli.js';

const F = mkdtempSync(join(tmpdir(), 'ql-hostile-'));
const p = (...parts: string[]): string => join(F, ...parts);

/** The built CLI when it is newer than every source it is built from (else its answers could be stale). */
function entry(): string[] {
  const built = join(ROOT, 'dist/cli/main.js');
  let builtMs: number;
  try {
    builtMs = statSync(built).mtimeMs;
  } catch {
    return cliArgs();
  }
  const newest = (dir: string): number => readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return Math.max(m, newest(path));
    return e.name.endsWith('.ts') ? Math.max(m, statSync(path).mtimeMs) : m;
  }, 0);
  const sources = Math.max(...['cli', 'core', 'engine', 'reports', 'scenarios', 'sim'].map((d) => newest(join(ROOT, d))));
  return sources <= builtMs ? [built] : cliArgs();
}
const ENTRY = entry();

/** At most two CLI processes at once. */
let running = 0;
const waiting: (() => void)[] = [];
async function limited<T>(f: () => Promise<T>): Promise<T> {
  while (running >= 2) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await f();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

async function run(args: readonly string[]) {
  return limited(async () => {
    const start = performance.now();
    const r = await execa('node', [...ENTRY, ...args], { cwd: F, reject: false, timeout: 10_000, stdin: 'ignore' });
    return { exitCode: r.exitCode, stderr: r.stderr, ms: performance.now() - start };
  });
}

function token(fields: Record<string, unknown>): string {
  const base = { cell: 'linux/esx41/files/default', suite: 'backup', property: 'P1', seed: 1, runs: 1, path: '0', mutant: null };
  return `ql1.${Buffer.from(JSON.stringify({ ...base, ...fields }), 'utf8').toString('base64url')}`;
}


/** A results.json with one change, written into the fixture folder. */
function resultsWith(name: string, change: (r: Record<string, unknown> & { cells: Record<string, unknown>[] }) => void): string {
  const r = schemaShaped();
  change(r);
  writeFileSync(p(name), JSON.stringify(r));
  return name;
}

function setUp(): void {
  writeFileSync(p('file.txt'), 'precious\n');
  mkdirSync(p('foreign', 'cells'), { recursive: true });
  writeFileSync(p('foreign', 'index.html'), '<p>mine</p>');
  writeFileSync(p('foreign', 'cells', 'mine.html'), '<p>mine too</p>');
  mkdirSync(p('empty'));
  spawnSync('mkfifo', [p('fifo')]);
  symlinkSync(p('file.txt'), p('link'));
  symlinkSync(p('foreign'), p('dirlink'));
  const big = openSync(p('big.json'), 'w');
  ftruncateSync(big, 600 * 1024 * 1024); // sparse: 600 MiB of holes
  closeSync(big);
  writeFileSync(p('good.json'), JSON.stringify(schemaShaped()));
  writeFileSync(p('not.json'), 'results, but not JSON\n');
  writeFileSync(p('empty.json'), '');
  writeFileSync(p('array.json'), '[]');
  writeFileSync(p('deep.json'), '['.repeat(200_000));
  resultsWith('extra-top.json', (r) => { r.extra = 1; });
  resultsWith('extra-cell.json', (r) => { (r.cells[0] as Record<string, unknown>).color = 'red'; });
  resultsWith('negative.json', (r) => { (r.summary as Record<string, number>).failed = -1; });
  resultsWith('fraction.json', (r) => { (r.summary as Record<string, number>).cells = 2.5; });
  resultsWith('runs0.json', (r) => { r.runsPerCell = 0; });
  resultsWith('controller.json', (r) => { ((r.cells[0] as { conditions: Record<string, unknown> }).conditions).controller = 'sata'; });
  resultsWith('replay.json', (r) => { ((r.cells[1] as { properties: Record<string, unknown>[] }).properties[0] as Record<string, unknown>).replay = 'ql2.x y'; });
  resultsWith('achieved.json', (r) => { (r.cells[0] as Record<string, unknown>).achieved = { excellent: 1 }; });
  resultsWith('property-id.json', (r) => { ((r.cells[0] as { properties: Record<string, unknown>[] }).properties[0] as Record<string, unknown>).id = 'X1'; });
  resultsWith('tool.json', (r) => { r.tool = 'jepsen'; });
}
setUp();

/** Every entry under the fixture folder with its type and size (not following links): nothing may change. */
function tree(dir = F, prefix = ''): string[] {
  return readdirSync(dir).sort().flatMap((name) => {
    const st = lstatSync(join(dir, name));
    const here = `${prefix}${name} ${st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFIFO() ? 'p' : st.size}`;
    return st.isDirectory() ? [here, ...tree(join(dir, name), `${prefix}${name}/`)] : [here];
  });
}
const BEFORE = tree();

const BASE_RUN = ['run', '--os', 'linux', '--tools', 'esx41', '--apps', 'files'];
const FILTER = ['--os', 'linux', '--tools', 'esx41', '--apps', 'files', '--runs', '1', '--no-mutants'];
const LONG = 'x'.repeat(100_000);

type Case = readonly [string, readonly string[], RegExp];

const GLOBAL: Case[] = [
  ['no command', [], /^quiescelab: expected a command: matrix, merge, run, .*evaluate \(quiescelab --help\)$/],
  ['unknown command', ['frobnicate'], /unknown command 'frobnicate'/],
  ['unknown top option', ['--frob'], /unknown option '--frob'/],
  ['an option with a newline', ['matrix', '--fo\no'], /unknown option '--fo\\u000ao'/],
];

const MATRIX: Case[] = [
  ...['ten', '0', '-1', '1.5', '1e3', '', ' ', '100001', '0x10', '99999999999999999999'].map((v): Case => [`--runs ${JSON.stringify(v)}`, ['matrix', '--runs', v], /^quiescelab: --runs: /]),
  ['--runs with a newline', ['matrix', '--runs', '1\n2'], /^quiescelab: --runs: expected a whole number, got '1\\u000a2'$/],
  ['--runs of 100000 characters', ['matrix', '--runs', LONG], /^quiescelab: --runs: expected a whole number, got 'x{80}\.\.\. \(100000 characters\)'$/],
  ...['abc', '-1', '2147483648'].map((v): Case => [`--seed ${v}`, ['matrix', '--seed', v], /^quiescelab: --seed: /]),
  ...['0', '65', 'two'].map((v): Case => [`--workers ${v}`, ['matrix', '--workers', v], /^quiescelab: --workers: /]),
  ['--os empty', ['matrix', '--os', ''], /^quiescelab: --os: expected a comma list of ids, got ''$/],
  ['--os comma', ['matrix', '--os', ','], /^quiescelab: --os: expected a comma list/],
  ['--os unknown', ['matrix', '--os', 'beos'], /^quiescelab: --os: unknown id 'beos'/],
  ['--os __proto__', ['matrix', '--os', '__proto__'], /^quiescelab: --os: unknown id '__proto__'/],
  ['--os twice', ['matrix', '--os', 'linux,linux'], /^quiescelab: --os: 'linux' is given twice$/],
  ['--tools empty', ['matrix', '--tools', ''], /^quiescelab: --tools: expected a comma list/],
  ['--tools unknown', ['matrix', '--tools', 'esx99'], /^quiescelab: --tools: unknown id 'esx99'/],
  ['--apps twice', ['matrix', '--apps', 'files,files'], /^quiescelab: --apps: 'files' is given twice$/],
  ['--apps unknown', ['matrix', '--apps', 'nope'], /^quiescelab: --apps: unknown id 'nope'/],
  ['a filter with no cell', ['matrix', '--os', 'winxp', '--apps', 'exchange'], /^quiescelab: --os\/--tools\/--apps: no cell of the matrix matches this filter$/],
  ['--mutant unknown', ['matrix', '--mutant', 'nope'], /^quiescelab: --mutant: unknown mutant 'nope'/],
  ['--mutant empty', ['matrix', '--mutant', ''], /^quiescelab: --mutant: unknown mutant ''/],
  ['--mutant __proto__', ['matrix', '--mutant', '__proto__'], /^quiescelab: --mutant: unknown mutant '__proto__'/],
  ['--mutant-runs 0', ['matrix', '--mutant-runs', '0'], /^quiescelab: --mutant-runs: must be between 1 and 10000, got 0$/],
  ['--mutant-runs x', ['matrix', '--mutant-runs', 'x'], /^quiescelab: --mutant-runs: expected a whole number/],
  ['--out empty', ['matrix', ...FILTER, '--out', ''], /^quiescelab: --out: expected a folder, got ''/],
  ['--out a file', ['matrix', ...FILTER, '--out', 'file.txt'], /^quiescelab: --out: '.*file\.txt' exists and is not a folder$/],
  ['--out under a file', ['matrix', ...FILTER, '--out', 'file.txt/sub'], /^quiescelab: --out: '.*file\.txt' exists and is not a folder$/],
  ['--out a foreign folder', ['matrix', ...FILTER, '--out', 'foreign'], /^quiescelab: --out: '.*foreign' is not empty and quiescelab did not write it/],
  ['--out a link to a foreign folder', ['matrix', ...FILTER, '--out', 'dirlink'], /^quiescelab: --out: '.*dirlink' is not empty and quiescelab did not write it/],
  ['--out a FIFO', ['matrix', ...FILTER, '--out', 'fifo'], /^quiescelab: --out: '.*fifo' exists and is not a folder$/],
  ['--json empty', ['matrix', ...FILTER, '--out', 'empty', '--json', ''], /^quiescelab: --json: expected a file name, got ''$/],
  ['--json a folder', ['matrix', ...FILTER, '--out', 'empty', '--json', 'foreign'], /^quiescelab: --json: '.*foreign' is a folder, not a regular file$/],
  ['--json in a missing folder', ['matrix', ...FILTER, '--out', 'empty', '--json', 'missing/r.json'], /^quiescelab: --json: the folder '.*missing' does not exist$/],
  ['--json under a file', ['matrix', ...FILTER, '--out', 'empty', '--json', 'file.txt/r.json'], /^quiescelab: --json: '.*file\.txt' is not a folder$/],
  ['--json a FIFO', ['matrix', ...FILTER, '--out', 'empty', '--json', 'fifo'], /^quiescelab: --json: '.*fifo' is a FIFO, not a regular file$/],
  ['--json a symbolic link', ['matrix', ...FILTER, '--out', 'empty', '--json', 'link'], /^quiescelab: --json: '.*link' is a symbolic link, not a regular file$/],
  ['--json a device', ['matrix', ...FILTER, '--out', 'empty', '--json', '/dev/null'], /^quiescelab: --json: '\/dev\/null' is a device, not a regular file$/],
  ['--junit a FIFO', ['matrix', ...FILTER, '--out', 'empty', '--junit', 'fifo'], /^quiescelab: --junit: '.*fifo' is a FIFO/],
  ['--junit a folder', ['matrix', ...FILTER, '--out', 'empty', '--junit', 'empty'], /^quiescelab: --junit: '.*empty' is a folder/],
  ['--json and --junit the same file', ['matrix', ...FILTER, '--out', 'empty', '--json', 'r.xml', '--junit', 'r.xml'], /^quiescelab: --json and --junit: both name '.*r\.xml'$/],
];

const RUN: Case[] = [
  ['--os missing', ['run', '--tools', 'esx41', '--apps', 'files'], /^error: required option '--os <id>' not specified$/],
  ['--os unknown', ['run', '--os', 'beos', '--tools', 'esx41', '--apps', 'files'], /^quiescelab: --os: unknown id 'beos'/],
  ['--os empty', ['run', '--os', '', '--tools', 'esx41', '--apps', 'files'], /^quiescelab: --os: unknown id ''/],
  ['--os __proto__', ['run', '--os', '__proto__', '--tools', 'esx41', '--apps', 'files'], /^quiescelab: --os: unknown id '__proto__'/],
  ['--tools unknown', ['run', '--os', 'linux', '--tools', 'esx99', '--apps', 'files'], /^quiescelab: --tools: unknown id 'esx99'/],
  ['--apps empty', ['run', '--os', 'linux', '--tools', 'esx41', '--apps', ''], /^quiescelab: --apps: expected a comma list of ids, got ''$/],
  ['--apps twice', ['run', '--os', 'linux', '--tools', 'esx41', '--apps', 'sqlite,sqlite'], /^quiescelab: --apps: 'sqlite' is given twice$/],
  ['--apps with no cell', ['run', '--os', 'linux', '--tools', 'esx41', '--apps', 'exchange'], /^quiescelab: --apps: the matrix has no cell linux\/esx41\/exchange\/default/],
  ['--variant unknown', [...BASE_RUN, '--variant', 'nope'], /^quiescelab: --variant: unknown id 'nope' \(known: default, /],
  ['--variant empty', [...BASE_RUN, '--variant', ''], /^quiescelab: --variant: unknown id ''/],
  ['--seed x', [...BASE_RUN, '--seed', 'x'], /^quiescelab: --seed: expected a whole number, got 'x'$/],
  ['--seed negative', [...BASE_RUN, '--seed', '-5'], /^quiescelab: --seed: must be between 0 and 2147483647, got -5$/],
  ...['meteor', '', 'power-loss@', 'power-loss@abc', 'writer:thaw:OOPS', 'writer', LONG].map((v): Case => [`--fault ${JSON.stringify(v.slice(0, 20))}`, [...BASE_RUN, '--fault', v], /^quiescelab: --fault: /]),
  ['--mutant unknown', [...BASE_RUN, '--mutant', 'nope'], /^quiescelab: --mutant: unknown mutant 'nope'/],
  ['--mutant empty', [...BASE_RUN, '--mutant', ''], /^quiescelab: --mutant: unknown mutant ''/],
  ['--export empty', [...BASE_RUN, '--export', ''], /^quiescelab: --export: expected a folder, got ''$/],
  ['--export a file', [...BASE_RUN, '--export', 'file.txt'], /^quiescelab: --export: '.*file\.txt' is a regular file, not a folder$/],
  ['--export a non-empty folder', [...BASE_RUN, '--export', 'foreign'], /^quiescelab: --export: '.*foreign' is not empty/],
  ['--export a symbolic link', [...BASE_RUN, '--export', 'dirlink'], /^quiescelab: --export: '.*dirlink' is a symbolic link, not a folder$/],
  ['--export a FIFO', [...BASE_RUN, '--export', 'fifo'], /^quiescelab: --export: '.*fifo' is a FIFO, not a folder$/],
  ['--export under a file', [...BASE_RUN, '--export', 'file.txt/x'], /^quiescelab: --export: '.*file\.txt' exists and is not a folder$/],
  ['--json a folder', [...BASE_RUN, '--json', 'empty'], /^quiescelab: --json: '.*empty' is a folder/],
  ['--json a FIFO', [...BASE_RUN, '--json', 'fifo'], /^quiescelab: --json: '.*fifo' is a FIFO/],
  ['--json in a missing folder', [...BASE_RUN, '--json', 'missing/r.json'], /^quiescelab: --json: the folder '.*missing' does not exist$/],
  ['an unknown option', [...BASE_RUN, '--colour'], /unknown option '--colour'/],
];

const REPLAY: Case[] = [
  ['no token', ['replay'], /missing required argument 'token'/],
  ['empty', ['replay', ''], /^quiescelab: token: expected it to start with 'ql1\.'$/],
  ['garbage', ['replay', 'garbage'], /^quiescelab: token: expected it to start with 'ql1\.'$/],
  ['prefix only', ['replay', 'ql1.'], /^quiescelab: token: expected base64url characters/],
  ['not base64url', ['replay', 'ql1.!!!'], /^quiescelab: token: expected base64url characters/],
  ['not JSON', ['replay', `ql1.${Buffer.from('nope').toString('base64url')}`], /^quiescelab: token: not base64url-encoded JSON$/],
  ['JSON null', ['replay', `ql1.${Buffer.from('null').toString('base64url')}`], /^quiescelab: token: not an object$/],
  ['JSON array', ['replay', `ql1.${Buffer.from('[]').toString('base64url')}`], /^quiescelab: token\.cell: expected a non-empty string$/],
  ['cell missing', ['replay', token({ cell: undefined })], /^quiescelab: token\.cell: expected a non-empty string$/],
  ['cell a number', ['replay', token({ cell: 5 })], /^quiescelab: token\.cell: expected a non-empty string$/],
  ['cell unknown', ['replay', token({ cell: 'beos/esx41/files/default' })], /^quiescelab: token\.cell: no cell 'beos\/esx41\/files\/default' in the matrix$/],
  ['cell __proto__', ['replay', token({ cell: '__proto__' })], /^quiescelab: token\.cell: no cell '__proto__'/],
  ['cell 300 characters', ['replay', token({ cell: 'c'.repeat(300) })], /^quiescelab: token\.cell: longer than 256 characters$/],
  ['suite unknown', ['replay', token({ suite: 'nope' })], /^quiescelab: token\.suite: no suite 'nope' \(backup, /],
  ['suite not of this cell', ['replay', token({ suite: 'dc', property: 'P12' })], /^quiescelab: token\.suite: suite dc does not run on cell linux\/esx41\/files\/default$/],
  ['property unknown', ['replay', token({ property: 'P99' })], /^quiescelab: token\.property: no property 'P99' in suite backup$/],
  ['property toString', ['replay', token({ property: 'toString' })], /^quiescelab: token\.property: no property 'toString'/],
  ['seed 0', ['replay', token({ seed: 0 })], /^quiescelab: token\.seed: expected a positive integer$/],
  ['seed 1.5', ['replay', token({ seed: 1.5 })], /^quiescelab: token\.seed: expected a positive integer$/],
  ['seed a string', ['replay', token({ seed: '1' })], /^quiescelab: token\.seed: expected a positive integer$/],
  ['seed 2^31', ['replay', token({ seed: 2 ** 31 })], /^quiescelab: token\.seed: must be between 1 and 2147483647, got 2147483648$/],
  ['runs 0', ['replay', token({ runs: 0 })], /^quiescelab: token\.runs: expected a positive integer$/],
  ['runs 10^9', ['replay', token({ runs: 1e9 })], /^quiescelab: token\.runs: must be between 1 and 100000, got 1000000000$/],
  ['path empty', ['replay', token({ path: '' })], /^quiescelab: token\.path: expected a non-empty string$/],
  ['path not a path', ['replay', token({ path: '1:x' })], /^quiescelab: token\.path: expected a fast-check path like 3:0:1$/],
  ['path with a leading zero', ['replay', token({ path: '00000000001' })], /^quiescelab: token\.path: a step has a leading zero$/],
  ['path past its runs (the reported exit 1)', ['replay', token({ path: '99999' })], /^quiescelab: token\.path: run 99999 is not below token\.runs \(1\)$/],
  ['path huge', ['replay', token({ path: '99999999999999999999', runs: 100_000 })], /^quiescelab: token\.path: run 99999999999999999999 is not below token\.runs/],
  ['path that leads nowhere (the reported stack trace)', ['replay', token({ path: Array(28).fill('0').join(':') })], /^quiescelab: token\.path: fast-check has no value at path 0:0:0/],
  ['path with a huge shrink step', ['replay', token({ path: '0:100001' })], /^quiescelab: token\.path: shrink step 1 is 100001, more than 100000$/],
  ['path of 1001 steps', ['replay', token({ path: Array(1001).fill('1').join(':') })], /^quiescelab: token\.path: 1001 steps, more than 1000$/],
  ['mutant unknown', ['replay', token({ mutant: 'nope' })], /^quiescelab: token\.mutant: no engine mutant 'nope'/],
  ['mutant a number', ['replay', token({ mutant: 5 })], /^quiescelab: token\.mutant: expected a string or null$/],
  ['an extra field', ['replay', token({ colour: 'red' })], /^quiescelab: token\.colour: not a field of a replay token/],
  ['a token of 100000 characters', ['replay', `ql1.${LONG}`], /^quiescelab: token: 100004 characters, more than the 8192 of any replay token$/],
  ['two tokens', ['replay', token({}), token({})], /too many arguments for 'replay'/],
];

const MUTANTS: Case[] = [
  ['--only empty (was: kills 0/0, exit 0)', ['mutants', '--only', ''], /^quiescelab: --only: expected a comma list of mutants, got ''$/],
  ['--only comma', ['mutants', '--only', ','], /^quiescelab: --only: expected a comma list of mutants, got ','$/],
  ['--only unknown', ['mutants', '--only', 'nope'], /^quiescelab: --only: unknown mutant 'nope'/],
  ['--only __proto__', ['mutants', '--only', '__proto__'], /^quiescelab: --only: unknown mutant '__proto__'/],
  ['--only twice', ['mutants', '--only', 'no-quiesce,no-quiesce'], /^quiescelab: --only: 'no-quiesce' is given twice$/],
  ['--runs 0', ['mutants', '--runs', '0'], /^quiescelab: --runs: must be between 1 and 10000, got 0$/],
  ['--runs 10001', ['mutants', '--runs', '10001'], /^quiescelab: --runs: must be between 1 and 10000, got 10001$/],
  ['--runs x', ['mutants', '--runs', 'x'], /^quiescelab: --runs: expected a whole number/],
  ['--seed x', ['mutants', '--seed', 'x'], /^quiescelab: --seed: expected a whole number/],
  ['--workers 0', ['mutants', '--workers', '0'], /^quiescelab: --workers: must be between 1 and 64, got 0$/],
  ['--json a folder', ['mutants', '--only', 'no-quiesce', '--json', 'empty'], /^quiescelab: --json: '.*empty' is a folder/],
  ['--json a FIFO', ['mutants', '--only', 'no-quiesce', '--json', 'fifo'], /^quiescelab: --json: '.*fifo' is a FIFO/],
  ['--json in a missing folder', ['mutants', '--only', 'no-quiesce', '--json', 'missing/m.json'], /^quiescelab: --json: the folder '.*missing' does not exist$/],
];

const REPORT: Case[] = [
  ['no file', ['report'], /missing required argument 'results'/],
  ['empty name', ['report', ''], /^quiescelab: RESULTS: expected a results\.json, got ''$/],
  ['missing file', ['report', 'missing.json', '--out', 'new'], /^quiescelab: missing\.json: cannot read: ENOENT$/],
  ['a folder', ['report', 'empty', '--out', 'new'], /^quiescelab: empty: is a folder, not a regular file$/],
  ['a FIFO (was: blocks)', ['report', 'fifo', '--out', 'new'], /^quiescelab: fifo: is a FIFO, not a regular file$/],
  ['/dev/zero (was: grew to 8.5 GB)', ['report', '/dev/zero', '--out', 'new'], /^quiescelab: \/dev\/zero: is a device, not a regular file$/],
  ['/dev/null', ['report', '/dev/null', '--out', 'new'], /^quiescelab: \/dev\/null: is a device, not a regular file$/],
  ['600 MiB', ['report', 'big.json', '--out', 'new'], /^quiescelab: big\.json: 600\.0 MiB is more than the 512 MiB a results\.json may have$/],
  ['not JSON', ['report', 'not.json', '--out', 'new'], /^quiescelab: not\.json: not JSON: /],
  ['empty file', ['report', 'empty.json', '--out', 'new'], /^quiescelab: empty\.json: not JSON: /],
  ['200000 open brackets', ['report', 'deep.json', '--out', 'new'], /^quiescelab: deep\.json: not JSON: /],
  ['a JSON array', ['report', 'array.json', '--out', 'new'], /^quiescelab: array\.json: not a quiescelab results file: the file: expected an object$/],
  ['another tool', ['report', 'tool.json', '--out', 'new'], /^quiescelab: tool\.json: not a quiescelab results file: tool: expected 'quiescelab', got "jepsen"$/],
  ['an extra field (schema)', ['report', 'extra-top.json', '--out', 'new'], /^quiescelab: extra-top\.json: not a quiescelab results file: extra: not a field of results\.json$/],
  ['an extra cell field (schema)', ['report', 'extra-cell.json', '--out', 'new'], /: not a quiescelab results file: cells\[0\]\.color: not a field of results\.json$/],
  ['a negative count (schema)', ['report', 'negative.json', '--out', 'new'], /: not a quiescelab results file: summary\.failed: expected a whole number >= 0$/],
  ['a fractional count (schema)', ['report', 'fraction.json', '--out', 'new'], /: not a quiescelab results file: summary\.cells: expected a whole number >= 0$/],
  ['runsPerCell 0 (schema)', ['report', 'runs0.json', '--out', 'new'], /: not a quiescelab results file: runsPerCell: expected a whole number >= 1$/],
  ['an unknown controller (schema)', ['report', 'controller.json', '--out', 'new'], /: not a quiescelab results file: cells\[0\]\.conditions\.controller: expected one of scsi, ide$/],
  ['a malformed replay token (schema)', ['report', 'replay.json', '--out', 'new'], /: not a quiescelab results file: cells\[1\]\.properties\[0\]\.replay: expected a string matching/],
  ['an achieved level that is not one (schema)', ['report', 'achieved.json', '--out', 'new'], /: not a quiescelab results file: cells\[0\]\.achieved\.excellent: not a consistency level$/],
  ['a property id (schema)', ['report', 'property-id.json', '--out', 'new'], /: not a quiescelab results file: cells\[0\]\.properties\[0\]\.id: expected a string matching/],
  ['--out empty (was: the current folder)', ['report', 'good.json', '--out', ''], /^quiescelab: --out: expected a folder, got ''/],
  ['--out a foreign folder (was: overwrote index.html)', ['report', 'good.json', '--out', 'foreign'], /^quiescelab: --out: '.*foreign' is not empty and quiescelab did not write it/],
  ['--out a non-empty subfolder', ['report', 'good.json', '--out', 'foreign/cells'], /^quiescelab: --out: '.*cells' is not empty and quiescelab did not write it/],
  ['--out the current folder', ['report', 'good.json', '--out', '.'], /^quiescelab: --out: '.*' is not empty and quiescelab did not write it/],
  ['--out a file', ['report', 'good.json', '--out', 'file.txt'], /^quiescelab: --out: '.*file\.txt' exists and is not a folder$/],
];

const LIST: Case[] = [
  ...['__proto__', 'constructor', 'toString', 'hasOwnProperty', '', 'planets', 'a\nb'].map((v): Case => [`list ${JSON.stringify(v)}`, ['list', v], /^quiescelab: list: unknown '[^\n]*' \(os, tools, apps, properties, mutants\)$/]),
  ['no argument', ['list'], /missing required argument 'what'/],
  ['two arguments', ['list', 'os', 'tools'], /too many arguments for 'list'/],
];

const STORAGE: Case[] = [
  ['--runs ten', ['storage-matrix', '--runs', 'ten'], /^quiescelab: --runs: expected a whole number, got 'ten'$/],
  ['--runs 0', ['storage-matrix', '--runs', '0'], /^quiescelab: --runs: must be between 1 and 100000, got 0$/],
  ['--seed -1', ['storage-matrix', '--seed', '-1'], /^quiescelab: --seed: must be between 0 and 4294967295, got -1$/],
  ['--out empty', ['storage-matrix', '--runs', '1', '--out', ''], /^quiescelab: --out: expected a folder, got ''/],
  ['--out a foreign folder', ['storage-matrix', '--runs', '1', '--out', 'foreign'], /^quiescelab: --out: '.*foreign' is not empty and quiescelab did not write it/],
  ['--out under a file', ['storage-matrix', '--runs', '1', '--out', 'file.txt/sub'], /^quiescelab: --out: '.*file\.txt' exists and is not a folder$/],
  ['--json a folder', ['storage-matrix', '--runs', '1', '--out', 'empty', '--json', 'foreign'], /^quiescelab: --json: '.*foreign' is a folder/],
  ['--json a FIFO', ['storage-matrix', '--runs', '1', '--out', 'empty', '--json', 'fifo'], /^quiescelab: --json: '.*fifo' is a FIFO/],
  ['--json a symbolic link', ['storage-matrix', '--runs', '1', '--out', 'empty', '--json', 'link'], /^quiescelab: --json: '.*link' is a symbolic link/],
  ['an unknown option', ['storage-matrix', '--bogus'], /unknown option '--bogus'/],
];

const IMAGE: Case[] = [
  ['backup-image: no file', ['backup-image', '--repo', 'r'], /missing required argument 'FILE'/],
  ['backup-image: no --repo', ['backup-image', 'file.txt'], /required option '--repo <dir>' not specified/],
  ['backup-image: FILE empty', ['backup-image', '', '--repo', 'r'], /^quiescelab: FILE: expected a raw image file, got ''$/],
  ['backup-image: FILE missing', ['backup-image', 'missing.img', '--repo', 'r'], /^quiescelab: FILE: '.*missing\.img' does not exist$/],
  ['backup-image: FILE a folder', ['backup-image', 'empty', '--repo', 'r'], /^quiescelab: FILE: '.*empty' is a folder, not a regular file$/],
  ['backup-image: FILE a FIFO (was: blocks)', ['backup-image', 'fifo', '--repo', 'r'], /^quiescelab: FILE: '.*fifo' is a FIFO, not a regular file$/],
  ['backup-image: FILE /dev/zero', ['backup-image', '/dev/zero', '--repo', 'r'], /^quiescelab: FILE: '\/dev\/zero' is a device, not a regular file$/],
  ['backup-image: --repo empty', ['backup-image', 'file.txt', '--repo', ''], /^quiescelab: --repo: expected a folder, got ''$/],
  ['backup-image: --repo a file', ['backup-image', 'file.txt', '--repo', 'file.txt'], /^quiescelab: --repo: '.*file\.txt' is not a folder$/],
  ['backup-image: --repo a foreign folder', ['backup-image', 'file.txt', '--repo', 'foreign'], /^quiescelab: --repo: .*foreign is not a quiescelab repository/],
  ['backup-image: --zstd-level 99 (was: left an empty repository folder)', ['backup-image', 'file.txt', '--repo', 'r', '--zstd-level', '99'], /^quiescelab: --zstd-level: must be between 1 and 19, got 99$/],
  ['backup-image: --zstd-level abc', ['backup-image', 'file.txt', '--repo', 'r', '--zstd-level', 'abc'], /^quiescelab: --zstd-level: expected a whole number, got 'abc'$/],
  ['backup-image: --zstd-level empty', ['backup-image', 'file.txt', '--repo', 'r', '--zstd-level', ''], /^quiescelab: --zstd-level: expected a whole number, got ''$/],
  ['backup-image: --brotli-quality 12', ['backup-image', 'file.txt', '--repo', 'r', '--brotli-quality', '12'], /^quiescelab: --brotli-quality: must be between 0 and 11, got 12$/],
  ['backup-image: both codecs', ['backup-image', 'file.txt', '--repo', 'r', '--zstd-level', '3', '--brotli-quality', '1'], /^quiescelab: --zstd-level and --brotli-quality: give one of them$/],
  ['backup-image: a bad level and a FIFO', ['backup-image', 'fifo', '--repo', 'r', '--zstd-level', '0'], /^quiescelab: --zstd-level: must be between 1 and 19, got 0$/],
  ['restore-image: --repo empty', ['restore-image', '--repo', '', '--point', 'abcdef', '--to', 'x.img'], /^quiescelab: --repo: expected a folder, got ''$/],
  ['restore-image: --repo missing', ['restore-image', '--repo', 'nowhere', '--point', 'abcdef', '--to', 'x.img'], /^quiescelab: --repo: '.*nowhere' does not exist$/],
  ['restore-image: --repo a file', ['restore-image', '--repo', 'file.txt', '--point', 'abcdef', '--to', 'x.img'], /^quiescelab: --repo: '.*file\.txt' is not a folder$/],
  ['restore-image: --repo a foreign folder', ['restore-image', '--repo', 'foreign', '--point', 'abcdef', '--to', 'x.img'], /^quiescelab: --repo: '.*foreign' is not a quiescelab repository/],
  ['restore-image: --point empty', ['restore-image', '--repo', 'foreign', '--point', '', '--to', 'x.img'], /^quiescelab: --point: expected a RecoveryPoint id/],
  ['restore-image: --to empty', ['restore-image', '--repo', 'foreign', '--point', 'abcdef', '--to', ''], /^quiescelab: --to: expected a file name, got ''$/],
  ['restore-image: no --point', ['restore-image', '--repo', 'foreign', '--to', 'x.img'], /required option '--point <id>' not specified/],
  ['verify: --repo empty', ['verify', '--repo', ''], /^quiescelab: --repo: expected a folder, got ''$/],
  ['verify: --repo missing', ['verify', '--repo', 'nowhere'], /^quiescelab: --repo: '.*nowhere' does not exist$/],
  ['verify: --repo a file', ['verify', '--repo', 'file.txt'], /^quiescelab: --repo: '.*file\.txt' is not a folder$/],
  ['verify: --repo a FIFO', ['verify', '--repo', 'fifo'], /^quiescelab: --repo: '.*fifo' is not a folder$/],
  ['verify: --repo an empty folder', ['verify', '--repo', 'empty'], /^quiescelab: --repo: '.*empty' is not a quiescelab repository/],
  ['verify: --repo a foreign folder', ['verify', '--repo', 'foreign'], /^quiescelab: --repo: '.*foreign' is not a quiescelab repository/],
];

const SERVE: Case[] = [
  ...['abc', '70000', '-1', '', '1.5', '65536'].map((v): Case => [`--port ${JSON.stringify(v)}`, ['serve', 'empty', '--port', v], /^quiescelab: --port: /]),
];

const TABLE: Record<string, Case[]> = { GLOBAL, MATRIX, RUN, REPLAY, MUTANTS, REPORT, LIST, STORAGE, IMAGE, SERVE };

describe.each(Object.entries(TABLE))('hostile input: %s', (_, cases) => {
  it.concurrent.each(cases)('%s: one line, exit 2, within 5 s, nothing touched', async (_name, args, message) => {
    const r = await run(args);
    expectUsageError(r, message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.ms).toBeLessThan(5000);
    expect(tree()).toEqual(BEFORE);
  }, 60_000);
});

afterAll(() => {
  expect(tree()).toEqual(BEFORE);
});

it(`the table holds ${Object.values(TABLE).reduce((n, cases) => n + cases.length, 0)} cases over every command`, () => {
  expect(Object.values(TABLE).reduce((n, cases) => n + cases.length, 0)).toBeGreaterThanOrEqual(150);
});
