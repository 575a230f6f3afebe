/**
 * `npm run coverage:matrix`: what the consistency matrix covers of the engine.
 *
 * Runs `node dist/cli/main.js matrix --runs N --no-mutants` (the hunt on with --mutants)
 * under V8 coverage (NODE_V8_COVERAGE, which the matrix's worker threads write too, one
 * file per thread), maps the coverage of dist/ back to the TypeScript sources through
 * dist's source maps (c8's report code, v8-to-istanbul), and prints the line, branch and
 * function coverage of every engine/ file and their total. Files the run never loaded count,
 * at 0%.
 *
 * Output folder (--out, default coverage/matrix/; new, empty, or one this script wrote):
 *   v8/                     the raw V8 coverage
 *   report/                 the matrix's own report folder
 *   html/index.html         an HTML coverage report of engine/
 *   coverage-summary.json   the figures: engine/ total and per file (with the uncovered line
 *                           ranges), and a total per top-level folder of the build
 *
 * Options: --runs N (10), --seed N (1), --workers N (the matrix's default: the cores),
 * --mutants (run the mutant hunt too), --mutant-runs N, --out DIR, --no-build (dist/ as is),
 * --report-only (no matrix: report again from the V8 coverage already in --out).
 * Builds first (npm run build) when dist/ is missing or older than a source.
 *
 * Lines are c8's: every line of a source file counts (comments, blank lines and type-only
 * lines too), and is uncovered when it lies wholly in a block V8 saw never run — so a loaded
 * module's comments and types count as covered, a never-loaded module's as uncovered. Code
 * lines are the lines the build emits code for (a mapping in the file's source map): the
 * same per-line counts, comments and types left out. Branches are V8's block ranges.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CoverageMap, CoverageMapData, FileCoverageData } from 'istanbul-lib-coverage';

const require = createRequire(import.meta.url);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BUILD_DIRS = ['core', 'sim', 'engine', 'scenarios', 'reports', 'cli'] as const;
const HEADLINE_DIR = 'engine';
const SUMMARY = 'coverage-summary.json';

interface C8Report { getCoverageMapFromAllCoverageFiles(): Promise<CoverageMap> }
interface C8 {
  Report(options: {
    include: string[]; exclude: string[]; extension: string[]; reporter: string[]; reportsDirectory: string;
    tempDirectory: string; all: boolean; src: string[]; excludeNodeModules: boolean;
  }): C8Report;
}
interface IstanbulReport { create(name: string): { execute(context: unknown): void } }
interface IstanbulLibReport { createContext(options: { dir: string; coverageMap: CoverageMap; defaultSummarizer: string }): unknown }
interface IstanbulLibCoverage { createCoverageMap(data?: CoverageMapData): CoverageMap }

interface Options {
  runs: string; seed: string; workers: string | undefined; mutants: boolean;
  mutantRuns: string | undefined; out: string; build: boolean; reportOnly: boolean;
}

interface Count { total: number; covered: number }
interface Metric extends Count { pct: number }
interface Totals { lines: Count; codeLines: Count; branches: Count; functions: Count }
const KINDS = ['lines', 'codeLines', 'branches', 'functions'] as const;

function usage(message?: string): never {
  if (message !== undefined) console.error(`coverage-matrix: ${message}`);
  console.error('usage: npm run coverage:matrix -- [--runs N] [--seed N] [--workers N] [--mutants] [--mutant-runs N] [--out DIR] [--no-build] [--report-only]');
  process.exit(2);
}

function parseArgs(argv: readonly string[]): Options {
  const opts: Options = { runs: '10', seed: '1', workers: undefined, mutants: false, mutantRuns: undefined, out: 'coverage/matrix', build: true, reportOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    const int = (): string => {
      const v = value();
      if (!/^[1-9][0-9]*$/.test(v)) usage(`${a}: expected a positive whole number, got '${v}'`);
      return v;
    };
    if (a === '--runs') opts.runs = int();
    else if (a === '--seed') opts.seed = value();
    else if (a === '--workers') opts.workers = int();
    else if (a === '--mutants') opts.mutants = true;
    else if (a === '--no-mutants') opts.mutants = false;
    else if (a === '--mutant-runs') opts.mutantRuns = int();
    else if (a === '--out') opts.out = value();
    else if (a === '--no-build') opts.build = false;
    else if (a === '--report-only') opts.reportOnly = true;
    else if (a === '--help' || a === '-h') usage();
    else usage(`unknown argument '${a}'`);
  }
  return opts;
}

/** Every .ts source of the build (no .d.ts), relative to the root, with forward slashes. */
function buildSources(): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of readdirSync(join(ROOT, rel), { withFileTypes: true })) {
      const child = `${rel}/${entry.name}`;
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(child);
    }
  };
  for (const d of BUILD_DIRS) if (existsSync(join(ROOT, d))) walk(d);
  return out.sort();
}

/** Why dist/ must be built again (a missing or older output or source map), or null. */
function staleReason(): string | null {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) return 'no dist/cli/main.js';
  const config = statSync(join(ROOT, 'tsconfig.build.json')).mtimeMs;
  for (const src of buildSources()) {
    const js = join(ROOT, 'dist', src.replace(/\.ts$/, '.js'));
    const map = `${js}.map`;
    if (!existsSync(js)) return `no ${relative(ROOT, js)}`;
    if (!existsSync(map)) return `no ${relative(ROOT, map)}`;
    const built = Math.min(statSync(js).mtimeMs, statSync(map).mtimeMs);
    if (built < statSync(join(ROOT, src)).mtimeMs) return `${src} is newer than its build`;
    if (built < config) return 'tsconfig.build.json is newer than the build';
  }
  return null;
}

/** The output folder: new, empty, or one this script wrote (what it wrote there before is removed). */
function prepareOut(raw: string): string {
  const out = resolve(raw);
  if (existsSync(out)) {
    if (!statSync(out).isDirectory()) usage(`--out: '${out}' is not a folder`);
    const names = readdirSync(out);
    if (names.length > 0 && !names.includes(SUMMARY)) usage(`--out: '${out}' is not empty and holds no ${SUMMARY}: give a new or empty folder`);
    for (const name of ['v8', 'report', 'html', SUMMARY]) rmSync(join(out, name), { recursive: true, force: true });
  }
  mkdirSync(join(out, 'v8'), { recursive: true });
  return out;
}

/** Sorted line numbers as compact ranges: [3, 4, 5, 9] -> ['3-5', '9']. */
function ranges(lines: readonly number[]): string[] {
  const parts: string[] = [];
  let start = -1;
  let prev = -1;
  const flush = (): void => {
    if (start >= 0) parts.push(start === prev ? `${start}` : `${start}-${prev}`);
  };
  for (const n of lines) {
    if (n === prev + 1 && start >= 0) {
      prev = n;
      continue;
    }
    flush();
    start = n;
    prev = n;
  }
  flush();
  return parts;
}

function metric(c: Count): Metric {
  return { total: c.total, covered: c.covered, pct: c.total === 0 ? 100 : Math.round((c.covered / c.total) * 10000) / 100 };
}

function emptyTotals(): Totals {
  return { lines: { total: 0, covered: 0 }, codeLines: { total: 0, covered: 0 }, branches: { total: 0, covered: 0 }, functions: { total: 0, covered: 0 } };
}

function add(into: Totals, from: Totals): void {
  for (const k of KINDS) {
    into[k].total += from[k].total;
    into[k].covered += from[k].covered;
  }
}

const pct = (m: Metric): string => `${m.pct.toFixed(2).padStart(6)}%`;
const cell = (m: Metric): string => `${pct(m)} ${`(${m.covered}/${m.total})`.padEnd(13)}`;

interface FileRow {
  lines: Metric; codeLines: Metric; branches: Metric; functions: Metric; loaded: boolean;
  /** c8's uncovered lines as ranges, each with the number of code lines in it. */
  uncoveredLines: string[]; uncoveredRanges: { from: number; to: number; codeLines: number }[];
}

interface TraceMapping {
  TraceMap: new (map: string) => object;
  eachMapping(map: object, cb: (m: { originalLine: number | null }) => void): void;
}

/** The lines of a source that its build emits code for: the original lines of its dist/ source map's mappings. */
function codeLinesOf(rel: string): Set<number> {
  const tm = createRequire(require.resolve('v8-to-istanbul'))('@jridgewell/trace-mapping') as TraceMapping;
  const lines = new Set<number>();
  const map = join(ROOT, 'dist', rel.replace(/\.ts$/, '.js.map'));
  if (!existsSync(map)) return lines;
  tm.eachMapping(new tm.TraceMap(readFileSync(map, 'utf8')), (m) => {
    if (m.originalLine !== null) lines.add(m.originalLine);
  });
  return lines;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const started = Date.now();

  if (opts.build) {
    const reason = staleReason();
    if (reason !== null) {
      console.log(`coverage-matrix: building (${reason})`);
      const built = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
      if (built.status !== 0) {
        console.error('coverage-matrix: the build failed');
        process.exit(1);
      }
    }
  }

  const args = ['--runs', opts.runs, '--seed', opts.seed];
  if (opts.workers !== undefined) args.push('--workers', opts.workers);
  if (!opts.mutants) args.push('--no-mutants');
  else if (opts.mutantRuns !== undefined) args.push('--mutant-runs', opts.mutantRuns);
  let command = `quiescelab matrix ${args.join(' ')}`;
  let matrixSeconds: number | null = null;
  let matrixExitCode: number | null = null;
  let out: string;
  if (opts.reportOnly) {
    // Report again from the V8 coverage of an earlier run; its run's figures come from its summary.
    out = resolve(opts.out);
    if (!existsSync(join(out, 'v8'))) usage(`--report-only: no ${join(out, 'v8')}`);
    if (existsSync(join(out, SUMMARY))) {
      const before = JSON.parse(readFileSync(join(out, SUMMARY), 'utf8')) as { command: string; matrixSeconds: number; matrixExitCode: number };
      ({ command, matrixSeconds, matrixExitCode } = before);
    }
    rmSync(join(out, 'html'), { recursive: true, force: true });
  } else {
    out = prepareOut(opts.out);
    const v8Dir = join(out, 'v8');
    const reportDir = join(out, 'report');
    console.log(`coverage-matrix: ${command} --out ${relative(ROOT, reportDir)}, under NODE_V8_COVERAGE=${relative(ROOT, v8Dir)}`);
    const matrixStart = Date.now();
    const run = spawnSync(process.execPath, [join(ROOT, 'dist', 'cli', 'main.js'), 'matrix', ...args, '--out', reportDir], {
      cwd: ROOT,
      stdio: 'inherit',
      env: { ...process.env, NODE_V8_COVERAGE: v8Dir },
    });
    matrixSeconds = Math.round((Date.now() - matrixStart) / 100) / 10;
    if (run.error !== undefined || run.status === null) {
      console.error(`coverage-matrix: the matrix did not finish (${run.error?.message ?? `signal ${String(run.signal)}`})`);
      process.exit(1);
    }
    // Exit 1 is failed cells or surviving mutants: the coverage is still what the run covered.
    if (run.status !== 0 && run.status !== 1) {
      console.error(`coverage-matrix: the matrix exited with ${run.status}`);
      process.exit(1);
    }
    matrixExitCode = run.status;
  }
  const v8Dir = join(out, 'v8');
  const v8Files = readdirSync(v8Dir).filter((f) => f.endsWith('.json')).length;
  console.log(`coverage-matrix: the matrix exited ${String(matrixExitCode)} after ${String(matrixSeconds)} s; ${v8Files} V8 coverage files (main thread and workers)`);

  // Every dist/ .js of the build, remapped to its .ts; a file never loaded counts at 0% (all).
  const c8 = require('c8') as C8;
  const map = await c8.Report({
    include: BUILD_DIRS.map((d) => `dist/${d}/**/*.js`),
    exclude: [],
    extension: ['.js'],
    reporter: [],
    reportsDirectory: join(out, 'html'),
    tempDirectory: v8Dir,
    all: true,
    src: [ROOT],
    excludeNodeModules: true,
  }).getCoverageMapFromAllCoverageFiles();

  const sources = new Set(buildSources());
  const libCoverage = require('istanbul-lib-coverage') as IstanbulLibCoverage;
  const engineMap = libCoverage.createCoverageMap();
  const files: Record<string, FileRow> = {};
  const folders: Record<string, Totals> = {};
  const engineTotals = emptyTotals();
  for (const file of map.files()) {
    const rel = relative(ROOT, file).split(sep).join('/');
    if (!sources.has(rel)) continue; // a stale dist/ file whose source is gone
    const fc = map.fileCoverageFor(file);
    const s = fc.toSummary();
    const code = codeLinesOf(rel);
    const perLine = fc.getLineCoverage();
    let codeCovered = 0;
    for (const n of code) if ((perLine[n] ?? 0) > 0) codeCovered++;
    const totals: Totals = {
      lines: { total: s.lines.total, covered: s.lines.covered },
      codeLines: { total: code.size, covered: codeCovered },
      branches: { total: s.branches.total, covered: s.branches.covered },
      functions: { total: s.functions.total, covered: s.functions.covered },
    };
    const top = rel.split('/')[0] ?? rel;
    add((folders[top] ??= emptyTotals()), totals);
    if (top !== HEADLINE_DIR) continue;
    engineMap.addFileCoverage(fc);
    add(engineTotals, totals);
    const uncovered = ranges(fc.getUncoveredLines().map(Number).sort((a, b) => a - b));
    files[rel] = {
      lines: metric(totals.lines),
      codeLines: metric(totals.codeLines),
      branches: metric(totals.branches),
      functions: metric(totals.functions),
      loaded: (fc.data as FileCoverageData & { all?: boolean }).all !== true,
      uncoveredLines: uncovered,
      uncoveredRanges: uncovered.map((r) => {
        const [from = 0, to = from] = r.split('-').map(Number);
        let n = 0;
        for (let l = from; l <= to; l++) if (code.has(l)) n++;
        return { from, to, codeLines: n };
      }),
    };
  }
  const unmapped = [...sources].filter((src) => src.startsWith(`${HEADLINE_DIR}/`) && files[src] === undefined);

  const engine = { lines: metric(engineTotals.lines), codeLines: metric(engineTotals.codeLines), branches: metric(engineTotals.branches), functions: metric(engineTotals.functions) };
  const summary = {
    tool: 'test/bench/coverage-matrix.ts: c8, V8 coverage of the main thread and the worker threads, remapped through dist/ source maps',
    command,
    runs: Number(opts.runs),
    seed: Number(opts.seed),
    mutantHunt: opts.mutants,
    matrixExitCode,
    matrixSeconds,
    v8CoverageFiles: v8Files,
    headline: { scope: `${HEADLINE_DIR}/**/*.ts`, ...engine },
    files: Object.fromEntries(Object.entries(files).sort(([a], [b]) => a.localeCompare(b))),
    unmapped,
    folders: Object.fromEntries(Object.entries(folders).sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => [k, { lines: metric(v.lines), codeLines: metric(v.codeLines), branches: metric(v.branches), functions: metric(v.functions) }])),
  };
  writeFileSync(join(out, SUMMARY), `${JSON.stringify(summary, null, 2)}\n`);

  const libReport = require('istanbul-lib-report') as IstanbulLibReport;
  const reports = require('istanbul-reports') as IstanbulReport;
  reports.create('html').execute(libReport.createContext({ dir: join(out, 'html'), coverageMap: engineMap, defaultSummarizer: 'nested' }));

  const rows = Object.entries(summary.files);
  const width = Math.max('engine/ total'.length, ...rows.map(([f]) => f.length));
  const row = (name: string, l: string, c: string, b: string, f: string, rest: string): string => `${name.padEnd(width)}  ${l}  ${c}  ${b}  ${f}  ${rest}`.trimEnd();
  console.log('');
  console.log(row('file', 'lines'.padEnd(21), 'code lines'.padEnd(21), 'branches'.padEnd(21), 'functions', 'uncovered lines'));
  for (const [name, r] of rows) {
    let unc = r.loaded ? r.uncoveredLines.join(',') : 'never loaded';
    if (unc.length > 72) unc = `${unc.slice(0, 71)}…`;
    console.log(row(name, cell(r.lines), cell(r.codeLines), cell(r.branches), `${pct(r.functions)}  `, unc));
  }
  console.log(row('engine/ total', cell(engine.lines), cell(engine.codeLines), cell(engine.branches), `${pct(engine.functions)}  `, ''));
  for (const src of unmapped) console.log(`${src}: no dist/ build of this file, left out`);
  console.log('');
  for (const [name, f] of Object.entries(summary.folders)) {
    console.log(`${`${name}/`.padEnd(11)} lines ${pct(f.lines)}  code lines ${pct(f.codeLines)}  branches ${pct(f.branches)}  functions ${pct(f.functions)}`);
  }
  console.log('');
  console.log(`engine/ coverage under \`${command}\`: lines ${engine.lines.pct}% (code lines ${engine.codeLines.pct}%), branches ${engine.branches.pct}%, functions ${engine.functions.pct}%`);
  console.log(`coverage-matrix: ${relative(ROOT, join(out, SUMMARY))}, ${relative(ROOT, join(out, 'html', 'index.html'))}; ${Math.round((Date.now() - started) / 1000)} s in all`);
}

await main();
