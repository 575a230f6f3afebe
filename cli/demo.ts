/**
 * `quiescelab demo [--seed S] [--scenario ID] [--out DIR]`: the training demo. Runs the
 * same scenario (one spec, drawn from the seed) twice — with the `no-quiesce` engine
 * mutant, whose snapshot is a plain crash-consistent one, and with quiescelab's engine,
 * whose snapshot is application-consistent — and writes the two recorded timelines as one
 * interactive page (reports/demo/): DIR/index.html, and DIR/demo.json, the steps as data.
 * DIR follows the report's rules (new, empty, or marked by quiescelab: cli/output.ts).
 * Prints the page's path. Exit 0, or 2 on bad usage.
 */

import { join } from 'node:path';
import type { Command } from 'commander';
import { cellId, findCell, type Cell } from '../scenarios/cells.js';
import { engineFor } from '../scenarios/mutants/index.js';
import { runOne, specFor, type OneRun } from '../scenarios/run-one.js';
import type { FaultPlan } from '../scenarios/scenario/spec.js';
import { prepareDefaultApps } from '../sim/hypervisor/default-apps.js';
import { demoPage } from '../reports/demo/page.js';
import { buildDemoStory, LANES, type DemoStory, type Lane } from '../reports/demo/steps.js';
import { oneLineErrors, parseIntOption, quote, UsageError } from './errors.js';
import { checkOutDir, claimOutDir, writeOutput } from './output.js';

interface DemoOptions {
  readonly seed: string;
  readonly scenario: string;
  readonly out: string;
}

/** One run of a demo: the cell it runs (the same spec: only the cell's id differs) and the engine mutant, or null for quiescelab's engine. */
interface DemoLane {
  readonly cell: string;
  readonly mutant: string | null;
  readonly label: string;
  readonly how: string;
}

interface DemoScenario {
  readonly id: string;
  readonly title: string;
  readonly lanes: Readonly<Record<Lane, DemoLane>>;
  /** The power loss of the warm-up both runs share (a third of the way in), or none. */
  readonly powerLoss: boolean;
}

export const DEMO_SCENARIOS: readonly DemoScenario[] = [{
  id: 'sqlserver',
  title: 'SQL Server on Windows Server 2019: a crash-consistent snapshot vs a VSS snapshot',
  lanes: {
    plain: { cell: 'win2019/esx41/sqlserver/default', mutant: 'no-quiesce', label: 'Plain snapshot (crash-consistent)', how: 'engine mutant no-quiesce: the VM is snapshotted as it runs, no VSS' },
    quiesced: { cell: 'win2019/esx41/sqlserver/default', mutant: null, label: 'VSS snapshot (application-consistent)', how: 'quiescelab\'s engine: VSS freezes SQL Server and the file system, the snapshot is taken, then thaw' },
  },
  powerLoss: true,
}, {
  id: 'sqlite-linux',
  title: 'SQLite on Linux: a file-system freeze alone vs SQLite\'s own freeze script',
  lanes: {
    plain: { cell: 'linux/esx41/sqlite/default', mutant: null, label: 'Without the freeze script (file-system consistent)', how: 'quiescelab\'s engine; Tools freeze the file system (fifreeze), SQLite itself is not asked' },
    quiesced: { cell: 'linux/esx41/sqlite/script', mutant: null, label: 'With the freeze script (application-consistent)', how: 'quiescelab\'s engine; the backupScripts.d script checkpoints and locks SQLite, then fifreeze' },
  },
  powerLoss: true,
}];

function cellOf(id: string): Cell {
  const cell = findCell(id);
  if (cell === undefined) throw new UsageError(`--scenario: the matrix has no cell ${id}`);
  return cell;
}

function scenarioOf(raw: string): DemoScenario {
  const scenario = DEMO_SCENARIOS.find((s) => s.id === raw);
  if (scenario === undefined) throw new UsageError(`--scenario: unknown scenario ${quote(raw)} (known: ${DEMO_SCENARIOS.map((s) => s.id).join(', ')})`);
  for (const lane of LANES) cellOf(scenario.lanes[lane].cell);
  return scenario;
}

/** The fault both runs share: a power loss a third into the warm-up the seed draws, or none. */
function faultFor(scenario: DemoScenario, cell: Cell, seed: number): FaultPlan {
  if (!scenario.powerLoss) return { kind: 'none' };
  return { kind: 'power-loss', atMs: Math.floor(specFor(cell, seed).warmupMs / 3), lyingCache: false };
}

/** One lane's run: its cell, its engine, the shared seed and fault (the arbitrary draws the same spec for every cell but its id). */
async function runLane(lane: DemoLane, seed: number, fault: FaultPlan): Promise<OneRun> {
  const engine = engineFor(lane.mutant);
  if (engine === undefined) throw new UsageError(`--scenario: no engine ${quote(lane.mutant ?? 'builtin')}`);
  return runOne({ cell: cellOf(lane.cell), seed, fault, engine });
}

/** Both runs of the scenario and their story. */
export async function demoStory(scenarioId: string, seed: number): Promise<{ story: DemoStory; runs: Record<Lane, OneRun> }> {
  const scenario = scenarioOf(scenarioId);
  const cell = cellOf(scenario.lanes.quiesced.cell);
  const fault = faultFor(scenario, cell, seed);
  await prepareDefaultApps();
  const plain = await runLane(scenario.lanes.plain, seed, fault);
  const quiesced = await runLane(scenario.lanes.quiesced, seed, fault);
  const lanes = { plain: { label: scenario.lanes.plain.label, how: scenario.lanes.plain.how }, quiesced: { label: scenario.lanes.quiesced.label, how: scenario.lanes.quiesced.how } };
  const cells = scenario.lanes.plain.cell === cellId(cell) ? cellId(cell) : `${scenario.lanes.plain.cell} vs ${cellId(cell)}`;
  const story = buildDemoStory({ scenario: scenario.id, title: scenario.title, seed, cell: cells, app: cell.app, lanes, runs: { plain, quiesced } });
  return { story, runs: { plain, quiesced } };
}

export function registerDemo(program: Command): void {
  oneLineErrors(program.command('demo'))
    .description('write an interactive training page: one scenario run with a plain (crash-consistent) and an application-consistent snapshot, step by step')
    .option('--seed <n>', 'the seed the scenario is drawn from', '1')
    .option('--scenario <id>', `the story: ${DEMO_SCENARIOS.map((s) => s.id).join(', ')}`, 'sqlserver')
    .option('--out <dir>', 'the folder for index.html and demo.json (new, empty, or written by quiescelab)', 'demo')
    .action(async (options: DemoOptions) => {
      const seed = parseIntOption('--seed', options.seed, 0, 0x7fffffff);
      scenarioOf(options.scenario);
      const dir = checkOutDir(options.out, '--out');
      const { story } = await demoStory(options.scenario, seed);
      claimOutDir(dir, '--out');
      writeOutput(join(dir, 'demo.json'), `${JSON.stringify(story, null, 2)}\n`, '--out');
      const page = join(dir, 'index.html');
      writeOutput(page, demoPage(story), '--out');
      process.stdout.write(`${page}\n`);
      process.exitCode = 0;
    });
}
