/**
 * The harness commands: `mutants` (the hunt: every engine mutant must be killed),
 * `replay TOKEN [--engine-cmd CMD]` (reproduce one failure exactly) and
 * `list os|tools|apps|properties|mutants`.
 */

import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import type { MutantOutcome } from '../core/results.js';
import { APP_IDS, GUEST_OS_IDS, TOOLS_IDS } from '../core/hypervisor-port.js';
import { timelineText } from '../reports/timeline-text.js';
import { propertyDescriptions } from '../scenarios/matrix-run.js';
import { engineFor, findMutant, MUTANTS } from '../scenarios/mutants/index.js';
import { replay } from '../scenarios/replay.js';
import { decodeReplayToken, type ReplayToken } from '../scenarios/replay-token.js';
import { findCell } from '../scenarios/cells.js';
import { SUITES } from '../scenarios/runner.js';
import type { ScenarioOutcome } from '../scenarios/scenario/run.js';
import { prepareDefaultApps } from '../sim/hypervisor/default-apps.js';
import { oneLineErrors, parseIdList, parseIntOption, quote, shown, UsageError } from './errors.js';
import { checkOutputFile, writeOutput } from './output.js';
import { runTasksInPool, type PoolTask } from './pool.js';
import { progressReporter } from './progress.js';
import { mutantTable } from './tables.js';
import { addEngineOptions, parseEngineCmd, probeEngine, startEngine, type EngineCmd, type EngineCmdOptions } from './engine-option.js';
import type { Engine } from '../scenarios/engine-api.js';

function printTimeline(outcome: unknown): string {
  const timeline = (outcome as Partial<ScenarioOutcome>).timeline;
  return timeline === undefined ? '' : timelineText(timeline);
}

export function registerHarness(program: Command): void {
  addEngineOptions(oneLineErrors(program.command('mutants'))
    .description('run the suite against every engine mutant: each must be killed (exit 1 if one survives)')
    .option('--runs <n>', 'runs per cell of each mutant', '20')
    .option('--seed <n>', 'seed', '1')
    .option('--only <ids>', 'only these mutants (comma list)')
    .option('--json <file>', 'also write the table as JSON')
    .option('--workers <n>', 'worker threads (default: the cores)'))
    .action(async (options: { runs: string; seed: string; only?: string; json?: string; workers?: string } & EngineCmdOptions) => {
      const runs = parseIntOption('--runs', options.runs, 1, 10_000);
      const seed = parseIntOption('--seed', options.seed, 0, 0x7fffffff);
      const ids = parseIdList('--only', options.only, MUTANTS.map((m) => m.id), 'mutant');
      const chosen = ids === undefined ? MUTANTS : MUTANTS.filter((m) => ids.includes(m.id));
      const workers = options.workers === undefined ? availableParallelism() : parseIntOption('--workers', options.workers, 1, 64);
      const json = options.json === undefined ? undefined : checkOutputFile(options.json, '--json');
      // --engine-cmd: each mutant is served by the engine process, asked for it at initialize (it must declare 'mutants').
      const engine = parseEngineCmd(options);
      if (engine !== null) {
        const info = await probeEngine(engine, null, seed);
        if (!info.capabilities.includes('mutants')) throw new UsageError(`--engine-cmd: the engine '${info.name}' does not declare the 'mutants' capability`);
      }
      const progress = progressReporter(`${chosen.length} mutants`);
      const tasks = chosen.map((m): PoolTask => ({ kind: 'mutant', mutantId: m.id, runs, cells: m.cells }));
      const results = await runTasksInPool(tasks, { runs, seed, mutant: null, engine, workers, onProgress: progress.update }) as MutantOutcome[];
      progress.done();
      if (json !== undefined) writeOutput(json, JSON.stringify({ seed, runs, mutants: results }, null, 2) + '\n', '--json');
      process.stdout.write(`${mutantTable(results)}\n`);
      for (const r of results) if (r.killer?.replay !== null && r.killer?.replay !== undefined) process.stdout.write(`replay ${r.id}: quiescelab replay ${r.killer.replay}\n`);
      process.exitCode = results.every((r) => r.killed) ? 0 : 1;
    });

  addEngineOptions(oneLineErrors(program.command('replay'))
    .description('reproduce one failure from its replay token: the spec, the timeline and the verdict')
    .argument('<token>', 'a replay token printed by matrix, mutants or the report'))
    .action(async (raw: string, options: EngineCmdOptions) => {
      const token = checkedToken(raw);
      const cmd = parseEngineCmd(options);
      const name = cmd === null ? token.mutant ?? 'quiescelab' : (await probeEngine(cmd, token.mutant, token.seed)).name;
      await prepareDefaultApps();
      const r = await replayOrPathError(token, cmd);
      if (!r.ok) throw new UsageError(r.error);
      const { cell, property, spec, outcome, verdict } = r.value;
      process.stdout.write([
        `cell ${token.cell}: expected ${cell.expected.level} (${cell.expected.why})`,
        `engine: ${name}`,
        `spec: ${JSON.stringify(spec)}`,
        'timeline:',
        printTimeline((outcome as { outcome?: unknown }).outcome ?? outcome),
        `${property.id} ${property.name}: ${verdict.valid === true ? 'holds' : verdict.valid === false ? 'FAILS' : 'unknown'} — ${verdict.evidence}`,
      ].join('\n') + '\n');
      process.exitCode = verdict.valid === true ? 0 : 1;
    });

  oneLineErrors(program.command('list'))
    .description('list the catalog ids and the harness\'s properties and mutants')
    .argument('<what>', 'os | tools | apps | properties | mutants')
    .option('--json', 'as JSON')
    .action((what: string, options: { json?: boolean }) => {
      // A Map, not an object: `list __proto__` or `list toString` must not find a table.
      const tables = new Map<string, () => unknown[]>([
        ['os', () => [...GUEST_OS_IDS]],
        ['tools', () => [...TOOLS_IDS]],
        ['apps', () => [...APP_IDS]],
        ['properties', () => propertyDescriptions()],
        ['mutants', () => MUTANTS.map((m) => ({ id: m.id, area: m.area, description: m.description, cells: m.cells }))],
      ]);
      const table = tables.get(what);
      if (table === undefined) throw new UsageError(`list: unknown ${quote(what)} (${[...tables.keys()].join(', ')})`);
      const rows = table();
      if (options.json === true) {
        process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
        return;
      }
      for (const row of rows) {
        if (typeof row === 'string') process.stdout.write(`${row}\n`);
        else if ('cells' in (row as object)) process.stdout.write(`${(row as { id: string }).id.padEnd(30)} ${(row as { description: string }).description}\n`);
        else process.stdout.write(`${(row as { id: string }).id.padEnd(5)} ${(row as { name: string }).name.padEnd(36)} ${(row as { description: string }).description}\n`);
      }
    });
}

/** Bounds of a replay token: what the matrix can print (runs <= 100000, a shrink of at most a few hundred steps), with room. */
const TOKEN_LIMITS = { chars: 8192, field: 256, runs: 100_000, seed: 0x7fffffff, pathSteps: 1000, shrinkIndex: 100_000 } as const;
const TOKEN_FIELDS = ['cell', 'suite', 'property', 'seed', 'runs', 'path', 'mutant'];

/** Decodes a replay token and checks every field against the catalog and the bounds; a bad one is a UsageError naming it. */
function checkedToken(raw: string): ReplayToken {
  const text = raw.trim();
  if (text.length > TOKEN_LIMITS.chars) throw new UsageError(`token: ${text.length} characters, more than the ${TOKEN_LIMITS.chars} of any replay token`);
  if (text.startsWith('ql1.') && !/^ql1\.[A-Za-z0-9_-]+$/.test(text)) throw new UsageError("token: expected base64url characters (A-Z a-z 0-9 - _) after 'ql1.'");
  const decoded = decodeReplayToken(text);
  if (!decoded.ok) throw new UsageError(decoded.error);
  const t = decoded.value;
  const extra = Object.keys(JSON.parse(Buffer.from(text.slice(4), 'base64url').toString('utf8')) as object).find((k) => !TOKEN_FIELDS.includes(k));
  if (extra !== undefined) throw new UsageError(`token.${extra}: not a field of a replay token (${TOKEN_FIELDS.join(', ')})`);
  for (const field of ['cell', 'suite', 'property', 'mutant'] as const) {
    if ((t[field]?.length ?? 0) > TOKEN_LIMITS.field) throw new UsageError(`token.${field}: longer than ${TOKEN_LIMITS.field} characters`);
  }
  if (t.seed > TOKEN_LIMITS.seed) throw new UsageError(`token.seed: must be between 1 and ${TOKEN_LIMITS.seed}, got ${t.seed}`);
  if (t.runs > TOKEN_LIMITS.runs) throw new UsageError(`token.runs: must be between 1 and ${TOKEN_LIMITS.runs}, got ${t.runs}`);
  checkTokenPath(t);
  const cell = findCell(t.cell);
  if (cell === undefined) throw new UsageError(`token.cell: no cell ${quote(t.cell)} in the matrix`);
  const suite = SUITES.find((s) => s.id === t.suite);
  if (suite === undefined) throw new UsageError(`token.suite: no suite ${quote(t.suite)} (${SUITES.map((s) => s.id).join(', ')})`);
  if (!suite.appliesTo(cell)) throw new UsageError(`token.suite: suite ${suite.id} does not run on cell ${t.cell}`);
  if (!suite.properties.some((p) => p.id === t.property)) throw new UsageError(`token.property: no property ${quote(t.property)} in suite ${suite.id}`);
  if (t.mutant !== null && findMutant(t.mutant) === undefined) throw new UsageError(`token.mutant: no engine mutant ${quote(t.mutant)} (see quiescelab list mutants)`);
  return t;
}

/** The path is the run's index (below token.runs) then one shrink index per step: bounded, so fast-check cannot walk for ever. */
function checkTokenPath(t: ReplayToken): void {
  const steps = t.path.split(':');
  if (steps.length > TOKEN_LIMITS.pathSteps) throw new UsageError(`token.path: ${steps.length} steps, more than ${TOKEN_LIMITS.pathSteps}`);
  if (steps.some((s) => s.length > 1 && s.startsWith('0'))) throw new UsageError('token.path: a step has a leading zero');
  const [run, ...shrinks] = steps.map(Number);
  if (run === undefined || run >= t.runs) throw new UsageError(`token.path: run ${shown(steps[0] ?? '')} is not below token.runs (${t.runs})`);
  const big = shrinks.findIndex((i) => i > TOKEN_LIMITS.shrinkIndex);
  if (big >= 0) throw new UsageError(`token.path: shrink step ${big + 1} is ${shown(steps[big + 1] ?? '')}, more than ${TOKEN_LIMITS.shrinkIndex}`);
}

/**
 * fast-check throws on a path that leads nowhere: that is the token's path field, not a
 * crash. With --engine-cmd the engine is that process (told the token's mutant), ended after.
 */
async function replayOrPathError(token: ReplayToken, cmd: EngineCmd | null): ReturnType<typeof replay> {
  const spawned = cmd === null ? null : startEngine(cmd, token.mutant);
  const resolve = (mutant: string | null): Engine | undefined => spawned ?? engineFor(mutant);
  try {
    return await replay(token, { resolve });
  } catch (error) {
    if (error instanceof Error && /Unable to replay|wrong path/i.test(error.message)) {
      throw new UsageError(`token.path: fast-check has no value at path ${shown(token.path)} (seed ${token.seed})`);
    }
    throw error;
  } finally {
    await spawned?.close();
  }
}
