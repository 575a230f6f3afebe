/**
 * MatrixResults for the report's tests and bench. `hostileResults()` covers every field of
 * results.json with hostile strings wherever the schema allows a free string (names that
 * are HTML, `</script>` in evidence, timeline details and counterexamples, quotes,
 * U+2028); `syntheticResults()` makes a full-size run (any cells, N runs each) with a
 * realistic share of failures and timelines, deterministically from a seed.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LEVELS, type ConsistencyLevel } from '../../core/levels.js';
import type { AppId, GuestOsId, ToolsId } from '../../core/hypervisor-port.js';
import { createPrng, type Prng } from '../../core/prng.js';
import type {
  CellDataLoss, CellReplication, CellResult, LostExample, MatrixResults, MutantOutcome, PropertyDescription, PropertyResult, TimelineEntry,
} from '../../core/results.js';

export const XSS_SCRIPT = '<script>alert(1)</script>';
export const XSS_IMG = '<img src=x onerror=alert(1)>';
export const QUOTES = `"double" 'single' \`back\` & amp`;
export const CLOSE_SCRIPT = '</script><script>alert(2)</script>';
export const LINE_SEPARATORS = 'line\u2028para\u2029end';
/** Every hostile string, for the tests' "never live markup" checks. */
export const HOSTILE = [XSS_SCRIPT, XSS_IMG, QUOTES, CLOSE_SCRIPT, LINE_SEPARATORS] as const;

export const PROPERTY_NAMES: readonly [string, string][] = [
  ['P1', 'matrix level'], ['P2', 'no overclaim'], ['P3', 'application points lose nothing'], ['P4', 'crash points recover'],
  ['P5', 'incremental equals full'], ['P6', 'roll-forward is exact'], ['P7', 'broken chain refused'],
  ['P8', 'quiesce faults fall back honestly'], ['P9', 'a crash during a backup'], ['P10', 'verify finds corruption'],
  ['P11', 'determinism'], ['P12', 'domain controller restore'], ['P13', 'log backup schedule'],
];

const SUITES: Readonly<Record<string, string>> = { P6: 'logs', P7: 'logs', P13: 'logs', P9: 'repository', P10: 'repository', P12: 'dc' };

const DEFAULT_CONDITIONS = {
  controller: 'scsi', dynamicDisk: false, enableUuid: true, encrypted: false, disableAppQuiescing: false, appFreezeScript: false,
} as const;

/** A replay token of the schema's form (ql1. + base64url). */
function token(text: string): string {
  return `ql1.${Buffer.from(text).toString('base64url')}`;
}

function passed(id: string, name: string, runs: number, unknownEvidence: string | null = null): PropertyResult {
  return {
    id, name, suite: SUITES[id] ?? 'backup', pass: true, status: 'pass', runs, failures: 0, unknown: unknownEvidence === null ? 0 : 1,
    judged: unknownEvidence === null ? runs : runs - 1, minJudged: Math.max(1, Math.ceil(runs / 10)),
    counterexample: null, counterexampleSize: null, shrinks: null, evidence: unknownEvidence, data: null, failedRuns: [], replay: null, timeline: null,
  };
}

function failed(id: string, name: string, runs: number, failures: number, counterexample: unknown, evidence: string, timeline: TimelineEntry[], shrinks: number): PropertyResult {
  return {
    id, name, suite: SUITES[id] ?? 'backup', pass: false, status: 'fail', runs, failures, unknown: 0, judged: runs, minJudged: Math.max(1, Math.ceil(runs / 10)),
    counterexample, counterexampleSize: JSON.stringify(counterexample).length, shrinks, evidence,
    data: {
      counts: { points: 3, failing: failures, lost: failures * 2 }, first: evidence, worst: evidence, last: evidence,
      ids: Array.from({ length: failures * 2 }, (_, i) => `w${i + 1}`), idsOmitted: 0,
    },
    failedRuns: Array.from({ length: failures }, (_, i) => i * 2),
    replay: token(JSON.stringify({ id, counterexample })), timeline,
  };
}

function lossOf(perRun: CellDataLoss['perRun'], examples: LostExample[], recovery: [number, number]): CellDataLoss {
  const rto = perRun.rtoUs.filter((x): x is number => x !== null);
  return {
    committedLost: perRun.committedLost.reduce((a, b) => a + b, 0),
    writesLost: perRun.writesLost.reduce((a, b) => a + b, 0),
    recoveryNeeded: recovery[0],
    recoverySucceeded: recovery[1],
    rpoUsMax: Math.max(0, ...perRun.rpoUs),
    rtoUsMax: rto.length === 0 ? null : Math.max(...rto),
    rtoUsMean: rto.length === 0 ? null : Math.round(rto.reduce((a, b) => a + b, 0) / rto.length),
    examples,
    perRun,
  };
}

function achievedOf(levels: readonly (ConsistencyLevel | null)[]): Partial<Record<ConsistencyLevel, number>> {
  const out: Partial<Record<ConsistencyLevel, number>> = {};
  for (const l of levels) if (l !== null) out[l] = (out[l] ?? 0) + 1;
  return out;
}

function summaryOf(cells: readonly CellResult[]): MatrixResults['summary'] {
  const passedCells = cells.filter((c) => c.pass).length;
  return { cells: cells.length, passed: passedCells, failed: cells.length - passedCells };
}

/** A timeline with every kind the report styles, one unknown kind, and hostile details. */
export function hostileTimeline(): TimelineEntry[] {
  return [
    { atUs: 0, kind: 'boot', detail: `win2019 with Tools esx41, apps ${XSS_IMG}` },
    { atUs: 1_500, kind: 'writes', detail: `3 writes to C:\\data\\${XSS_SCRIPT}` },
    { atUs: 2_000, kind: 'dirty', detail: '12 dirty pages in the page cache' },
    { atUs: 200_000, kind: 'freeze', detail: 'VSS freeze (sqlserver writer)' },
    { atUs: 202_000, kind: 'snapshot', detail: 'VmSnapshot vm-1/snap-1: quiesce application' },
    { atUs: 203_000, kind: 'thaw', detail: 'VSS thaw' },
    { atUs: 250_000, kind: 'fault', detail: `writer failure ${QUOTES}` },
    { atUs: 260_000, kind: 'power-loss', detail: `the host loses power ${CLOSE_SCRIPT}` },
    { atUs: 270_980, kind: 'backup', detail: 'full RecoveryPoint 4021d137bcfa claims application for sqlserver' },
    { atUs: 271_000, kind: 'snapshot-removed', detail: 'VmSnapshot vm-1/snap-1 removed' },
    { atUs: 275_000, kind: 'log-backup', detail: 'log backup 1 (LSN 10..42)' },
    { atUs: 280_000, kind: 'log', detail: LINE_SEPARATORS },
    { atUs: 285_000, kind: 'note', detail: 'the twin run starts' },
    { atUs: 286_000, kind: XSS_SCRIPT, detail: 'an unknown kind' },
    { atUs: 290_099, kind: 'restore', detail: 'point 0 restored as VM vm-2: boots, RTO 0.009 s' },
    { atUs: 1_290_099, kind: 'verdict', detail: `point 0: sqlserver crash ${XSS_IMG}` },
  ];
}

function hostileCounterexample(cellId: string): unknown {
  return {
    cellId, seed: 1, workload: { meanIntervalMs: 5, opsPerTxn: 1, valueBytes: 16, name: XSS_SCRIPT },
    fault: { kind: 'power-loss', atMs: 0, note: CLOSE_SCRIPT, quotes: QUOTES, ls: LINE_SEPARATORS }, backupGapsMs: [10],
  };
}

function properties(runs: number, overrides: Readonly<Record<string, PropertyResult>> = {}): PropertyResult[] {
  return PROPERTY_NAMES.map(([id, name]) => overrides[id] ?? passed(id, name, runs));
}

interface CellSpec {
  readonly os: string;
  readonly tools: string;
  readonly app: string;
  readonly variant: string;
  readonly expected: ConsistencyLevel;
  readonly levels: readonly (ConsistencyLevel | null)[];
  readonly overrides?: Readonly<Record<string, PropertyResult>>;
  readonly examples?: readonly LostExample[];
  readonly conditions?: CellResult['conditions'];
}

function cell(spec: CellSpec): CellResult {
  const id = `${spec.os}/${spec.tools}/${spec.app}/${spec.variant}`;
  const n = spec.levels.length;
  const props = properties(n, spec.overrides);
  const writesLost = spec.levels.map((l, i) => (l === 'crash' ? 3 + i : 0));
  return {
    id, os: spec.os as GuestOsId, tools: spec.tools as ToolsId, app: spec.app as AppId, variant: spec.variant,
    conditions: spec.conditions ?? DEFAULT_CONDITIONS,
    expected: spec.expected, expectedWhy: `VSS with the ${spec.app} writer ${QUOTES}`,
    sources: ['seed 004 (consistency matrix)', `notes fact 2 ${XSS_IMG}`],
    achieved: achievedOf(spec.levels), pass: props.every((p) => p.pass), properties: props,
    dataLoss: lossOf({
      committedLost: spec.levels.map((l) => (l === 'crash' ? 1 : 0)),
      writesLost,
      rpoUs: spec.levels.map((_, i) => 87_258 + i * 100_000),
      rtoUs: spec.levels.map((l, i) => (l === null ? null : 7_000 + i)),
      level: spec.levels,
    }, [...(spec.examples ?? [])], [writesLost.filter((w) => w > 0).length, writesLost.filter((w) => w > 0).length]),
  };
}

/** A replication record (the report's replication section): a run without a fault, one failed over after a link drop, one failed back; a hostile point id. */
export function fixtureReplication(): CellReplication {
  const cycle = (n: number, startUs: number, ok = true) => ({
    cycle: n, kind: n === 0 ? 'full' : 'incremental', ok, startUs, endUs: startUs + 150_000 + n * 1_000, bytesSent: n === 0 ? 995_328 : 65_536 + n * 4_096, bytesSkippedWhiteSpace: n === 0 ? 15_781_888 : 0,
  });
  const base = { faultFiredAtUs: null, intervalUs: 2_000_000, whiteSpace: true, startUs: 0, replicationEndUs: 6_400_000, failover: null, failback: null };
  const rpo = [{ atUs: 560_000, rpoUs: 150_000 }, { atUs: 2_560_000, rpoUs: 2_150_000 }, { atUs: 2_560_000, rpoUs: 151_000 }, { atUs: 6_400_000, rpoUs: 3_990_000 }];
  return {
    runs: 3, rpoUsMax: 3_990_000, rtoUsMean: 79_000, rtoUsMax: 80_000, bytesSent: 3 * 995_328 + 3 * 69_632 + 73_728, bytesSkippedWhiteSpace: 2 * 15_781_888,
    perRun: [
      { ...base, run: 0, fault: 'none', after: 'none', rpo, cycles: [cycle(0, 400_000), cycle(1, 2_400_000)] },
      { ...base, run: 1, fault: 'link-drop', faultFiredAtUs: 4_450_000, after: 'failover', rpo, cycles: [cycle(0, 400_000), cycle(1, 2_400_000), cycle(2, 4_400_000, false)],
        failover: { kind: 'failover', ok: true, rtoUs: 78_000, pointId: `vm-1/snap-2${XSS_SCRIPT}` } },
      { ...base, run: 2, fault: 'none', after: 'failback-new', rpo, cycles: [cycle(0, 400_000), cycle(1, 2_400_000)],
        failover: { kind: 'failover', ok: true, rtoUs: 80_000, pointId: null }, failback: { ok: true, target: 'new', finalAtUs: 7_200_000 } },
    ],
  };
}

export interface HostileOptions {
  /**
   * Also put hostile strings where the schema allows none (condition names and values):
   * results.json from elsewhere can hold anything, and the report must still escape it.
   */
  readonly beyondSchema?: boolean;
}

/** The ids of the fixture's cells the tests look at. */
export const FIXTURE_IDS = {
  passing: 'win2019/esx41/sqlserver/default',
  mismatch: 'win2019/esx41/sqlserver/ide',
  hostile: `${XSS_SCRIPT}/esx41/${XSS_IMG}/${QUOTES}`,
  slash: 'linux/esx41/files/de/fault',
  dot: 'linux/esx41/files/de.fault',
  lower: 'linux/esx41/files/default',
  upper: 'linux/esx41/files/Default',
} as const;

/** A small run covering every field of results.json, hostile strings in every free string. */
export function hostileResults(options: HostileOptions = {}): MatrixResults {
  const runs = 4;
  const examples: LostExample[] = [
    { run: 0, point: 1, app: XSS_IMG as AppId, id: `w6${CLOSE_SCRIPT}`, why: `written but not fsync'ed: ${XSS_SCRIPT}` },
    { run: 2, point: 0, app: 'files', id: 'w1', why: `acknowledged as durable ${QUOTES}` },
  ];
  const mismatchP1 = failed('P1', 'matrix level', 4, 3, hostileCounterexample(FIXTURE_IDS.mismatch),
    `point 0 (full) reached crash, the matrix says filesystem ${CLOSE_SCRIPT} ${XSS_IMG}`, hostileTimeline(), 9);
  const mismatchP4 = failed('P4', 'crash points recover', 4, 1, hostileCounterexample(FIXTURE_IDS.mismatch),
    `lost a committed transaction ${QUOTES}`, hostileTimeline().slice(0, 5), 3);
  const hostileP2 = failed('P2', 'no overclaim', 4, 1, hostileCounterexample(FIXTURE_IDS.hostile), `claims application ${XSS_SCRIPT}`, hostileTimeline(), 2);
  const hostileConditions = options.beyondSchema === true
    ? { ...DEFAULT_CONDITIONS, [XSS_SCRIPT]: XSS_IMG, quotes: QUOTES, close: CLOSE_SCRIPT }
    : undefined;
  const cells: CellResult[] = [
    cell({ os: 'win2019', tools: 'esx41', app: 'sqlserver', variant: 'default', expected: 'application', levels: ['application', 'application', null, 'application'],
      overrides: { P6: passed('P6', 'roll-forward is exact', runs, `no log chain to roll forward ${XSS_SCRIPT}`) } }),
    cell({ os: 'win2019', tools: 'esx41', app: 'sqlserver', variant: 'ide', expected: 'filesystem', levels: ['crash', 'crash', 'crash', 'filesystem'],
      overrides: { P1: mismatchP1, P4: mismatchP4 }, examples }),
    cell({ os: XSS_SCRIPT, tools: 'esx41', app: XSS_IMG, variant: QUOTES, expected: 'crash', levels: ['crash', 'inconsistent', 'transaction', null],
      overrides: { P2: hostileP2 }, ...(hostileConditions === undefined ? {} : { conditions: hostileConditions }) }),
    cell({ os: 'linux', tools: 'esx41', app: 'files', variant: 'de/fault', expected: 'filesystem', levels: ['filesystem', 'filesystem', 'filesystem', 'filesystem'] }),
    cell({ os: 'linux', tools: 'esx41', app: 'files', variant: 'de.fault', expected: 'filesystem', levels: ['filesystem', 'filesystem', 'filesystem', 'filesystem'] }),
    cell({ os: 'linux', tools: 'esx41', app: 'files', variant: 'default', expected: 'filesystem', levels: ['filesystem', 'filesystem', 'filesystem', 'filesystem'] }),
    cell({ os: 'linux', tools: 'esx41', app: 'files', variant: 'Default', expected: 'filesystem', levels: ['filesystem', 'filesystem', 'filesystem', 'filesystem'] }),
    cell({ os: 'linux', tools: 'esx35u1', app: 'files', variant: 'default', expected: 'crash', levels: [null, null, null, null] }),
  ];
  cells[0] = { ...(cells[0] as CellResult), replication: fixtureReplication() };
  const descriptions: PropertyDescription[] = PROPERTY_NAMES.map(([id, name]) => ({ id, name, description: `${name}: what it checks ${id === 'P1' ? XSS_SCRIPT : QUOTES}` }));
  const mutantResults: MutantOutcome[] = [
    { id: 'no-quiesce', description: `never asks for quiescing ${CLOSE_SCRIPT}`, area: 'quiesce', expectedKiller: 'P1', killed: true,
      cell: FIXTURE_IDS.passing, runs: 12,
      killer: failed('P1', 'matrix level', 4, 4, hostileCounterexample(FIXTURE_IDS.passing), `reached crash, expected application ${XSS_IMG}`, hostileTimeline(), 7) },
    { id: XSS_IMG, description: XSS_SCRIPT, area: QUOTES, expectedKiller: `P8 ${XSS_SCRIPT}`, killed: true,
      cell: 'win2003-x64/esx35u2/exchange/default', runs: 30,
      killer: failed('P8', 'quiesce faults fall back honestly', 4, 1, hostileCounterexample('win2003-x64/esx35u2/exchange/default'), `VmSnapshot(s) left behind ${CLOSE_SCRIPT}`, hostileTimeline().slice(3, 9), 4) },
    { id: 'cbt-off-by-one', description: 'drops the last block of each changed extent', area: 'cbt', expectedKiller: 'P5', killed: false, cell: null, killer: null, runs: 40 },
  ];
  return {
    tool: 'quiescelab', version: `0.1.0 ${XSS_SCRIPT}`, seed: 7, runsPerCell: runs, engine: XSS_IMG,
    properties: descriptions, cells, summary: summaryOf(cells),
    mutants: { runs, results: mutantResults, killed: 2, survived: 1 },
  };
}

/** A matrix cell as the oracle gives it (scenarios/cells.ts), without importing scenarios/. */
export interface OracleCellLike {
  readonly os: string;
  readonly tools: string;
  readonly app: string;
  readonly variant: string;
  readonly conditions: object;
  readonly expected: { readonly level: ConsistencyLevel; readonly why: string; readonly sources: readonly string[] };
}

export interface SyntheticOptions {
  readonly cells: readonly OracleCellLike[];
  readonly runs: number;
  readonly seed: number;
  /** Share of cells where a property fails (default 0.1). */
  readonly failShare?: number;
  /** Mutants of the hunt: id, area, expected killer, description. */
  readonly mutants?: readonly { readonly id: string; readonly area: string; readonly expectedKiller: string; readonly description: string }[];
}

const WHY_DIRTY = "written (write() returned) but not fsync'ed before the cut: dirty in the page cache at the snapshot instant";

function syntheticTimeline(prng: Prng, cellId: string): TimelineEntry[] {
  const out: TimelineEntry[] = [{ atUs: 0, kind: 'boot', detail: cellId.split('/').slice(0, 3).join(' ') }];
  let t = 0;
  const push = (kind: string, detail: string) => { t += prng.int(100, 20_000); out.push({ atUs: t, kind, detail }); };
  const rounds = prng.int(2, 6);
  for (let r = 0; r < rounds; r++) {
    for (let w = prng.int(2, 8); w > 0; w--) push('writes', `${prng.int(1, 9)} writes, txn ${prng.int(1, 500)} committed`);
    push('dirty', `${prng.int(1, 64)} dirty pages in the page cache, ${prng.int(0, 8)} in the disk cache`);
    push('freeze', 'VSS freeze: writers frozen');
    push('snapshot', `VmSnapshot vm-1/snap-${r + 1}: quiesce application`);
    push('thaw', 'VSS thaw');
    push('backup', `${r === 0 ? 'full' : 'incremental'} RecoveryPoint ${prng.int(0, 0xffffff).toString(16)} claims application`);
    push('snapshot-removed', `VmSnapshot vm-1/snap-${r + 1} removed`);
  }
  if (prng.bool(0.5)) push('power-loss', 'the host loses power; the disk cache lied about flush');
  push('restore', 'point 0 restored as VM vm-2: boots, RTO 0.009 s');
  push('verdict', 'point 0: crash (a volume needs journal replay)');
  return out;
}

function syntheticProperties(prng: Prng, cellId: string, runs: number, fails: boolean): PropertyResult[] {
  const failing = fails ? new Set(prng.bool(0.3) ? ['P1', 'P3'] : ['P1']) : new Set<string>();
  return PROPERTY_NAMES.map(([id, name]) => {
    if (!failing.has(id)) return passed(id, name, runs);
    const spec = { cellId, seed: prng.int(0, 0x7fffffff), workload: { meanIntervalMs: prng.int(1, 20), opsPerTxn: prng.int(1, 4), valueBytes: 16 }, warmupMs: 200, backupGapsMs: [10, 20], fault: { kind: 'power-loss', atMs: prng.int(0, 500), lyingCache: prng.bool() }, twin: true };
    return failed(id, name, runs, prng.int(1, runs), spec, `point 0 (full) reached crash, the matrix says application: a volume needs journal replay (${cellId})`, syntheticTimeline(prng, cellId), prng.int(0, 30));
  });
}

/** A full-size run: every given cell with `runs` runs of per-run data, about `failShare` of them failing with a timeline. */
export function syntheticResults(options: SyntheticOptions): MatrixResults {
  const root = createPrng(options.seed);
  const failShare = options.failShare ?? 0.1;
  const cells = options.cells.map((c): CellResult => {
    const id = `${c.os}/${c.tools}/${c.app}/${c.variant}`;
    const prng = root.fork(id.replaceAll('/', ':'));
    const fails = prng.bool(failShare);
    const expectedRank = LEVELS.indexOf(c.expected.level);
    const level = Array.from({ length: options.runs }, (): ConsistencyLevel | null => {
      if (prng.bool(0.15)) return null;
      return fails && prng.bool(0.6) ? LEVELS[Math.max(0, expectedRank - 1)] ?? 'crash' : c.expected.level;
    });
    const writesLost = level.map((l) => (l === 'crash' ? prng.int(1, 40) : 0));
    const examples = writesLost.flatMap((w, run) => (w === 0 ? [] : [{ run, point: 0, app: 'files' as const, id: `w${w}`, why: WHY_DIRTY }])).slice(0, 20);
    const props = syntheticProperties(prng, id, options.runs, fails);
    return {
      id, os: c.os as GuestOsId, tools: c.tools as ToolsId, app: c.app as AppId, variant: c.variant, conditions: c.conditions as CellResult['conditions'],
      expected: c.expected.level, expectedWhy: c.expected.why, sources: c.expected.sources,
      achieved: achievedOf(level), pass: props.every((p) => p.pass), properties: props,
      dataLoss: lossOf({
        committedLost: level.map((l) => (l === 'crash' && prng.bool(0.2) ? 1 : 0)),
        writesLost,
        rpoUs: level.map(() => prng.int(50_000, 12_000_000)),
        rtoUs: level.map((l) => (l === null ? null : prng.int(2_000, 18_000))),
        level,
      }, examples, [writesLost.filter((w) => w > 0).length, writesLost.filter((w) => w > 0).length]),
    };
  });
  const hunt = options.mutants ?? [];
  const mutantResults = hunt.map((m, k): MutantOutcome => {
    const prng = root.fork(`mutant:${m.id}`);
    const target = cells[prng.int(0, Math.max(0, cells.length - 1))];
    if (k === hunt.length - 1 || target === undefined) return { ...m, killed: false, cell: null, killer: null, runs: options.runs * 10 };
    const killer = syntheticProperties(prng, target.id, options.runs, true)[0] ?? null;
    return { ...m, killed: true, cell: target.id, killer, runs: prng.int(1, options.runs * 5) };
  });
  const killed = mutantResults.filter((m) => m.killed).length;
  return {
    tool: 'quiescelab', version: '0.1.0', seed: options.seed, runsPerCell: options.runs, engine: 'quiescelab',
    properties: PROPERTY_NAMES.map(([id, name]) => ({ id, name, description: `${name}: what it checks` })),
    cells, summary: summaryOf(cells),
    mutants: hunt.length === 0 ? null : { runs: options.runs, results: mutantResults, killed, survived: mutantResults.length - killed },
  };
}

/**
 * The hostile fixture with only the property fields results.schema.json lists (a field
 * the fixture has and the schema does not yet would make every CLI test of `report` a
 * test of that change instead).
 */
export function schemaShaped(): Record<string, unknown> & { cells: Record<string, unknown>[] } {
  const schema = JSON.parse(readFileSync(join(import.meta.dirname, '../../reports/results.schema.json'), 'utf8')) as { $defs: { property: { properties: Record<string, unknown> } } };
  const known = new Set(Object.keys(schema.$defs.property.properties));
  return JSON.parse(JSON.stringify(hostileResults()), function (this: unknown, key, value: unknown) {
    if (typeof value === 'object' && value !== null && !Array.isArray(value) && 'counterexample' in value && 'suite' in value) {
      return Object.fromEntries(Object.entries(value).filter(([k]) => known.has(k)));
    }
    return value;
  }) as Record<string, unknown> & { cells: Record<string, unknown>[] };
}
