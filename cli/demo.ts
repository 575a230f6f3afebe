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
import { buildDemoStory, type DemoStory } from '../reports/demo/steps.js';
import { oneLineErrors, parseIntOption, quote, UsageError } from './errors.js';
import { checkOutDir, claimOutDir, writeOutput } from './output.js';

interface DemoOptions {
  readonly seed: string;
  readonly scenario: string;
  readonly out: string;
}

interface DemoScenario {
  readonly id: string;
  readonly title: string;
  readonly cell: string;
  readonly lanes: DemoStory['lanes'];
  /** The power loss of the warm-up both runs share (a third of the way in), or none. */
  readonly powerLoss: boolean;
}

export const DEMO_SCENARIOS: readonly DemoScenario[] = [{
  id: 'sqlserver',
  title: 'SQL Server on Windows Server 2019: a crash-consistent snapshot vs a VSS snapshot',
  cell: 'win2019/esx41/sqlserver/default',
  lanes: {
    plain: { label: 'Plain snapshot (crash-consistent)', how: 'engine mutant no-quiesce: the VM is snapshotted as it runs, no VSS' },
    quiesced: { label: 'VSS snapshot (application-consistent)', how: 'quiescelab\'s engine: VSS freezes SQL Server and the file system, the snapshot is taken, then thaw' },
  },
  powerLoss: true,
}];

function scenarioOf(raw: string): { scenario: DemoScenario; cell: Cell } {
  const scenario = DEMO_SCENARIOS.find((s) => s.id === raw);
  if (scenario === undefined) throw new UsageError(`--scenario: unknown scenario ${quote(raw)} (known: ${DEMO_SCENARIOS.map((s) => s.id).join(', ')})`);
  const cell = findCell(scenario.cell);
  if (cell === undefined) throw new UsageError(`--scenario: the matrix has no cell ${scenario.cell}`);
  return { scenario, cell };
}

/** The fault both runs share: a power loss a third into the warm-up the seed draws, or none. */
function faultFor(scenario: DemoScenario, cell: Cell, seed: number): FaultPlan {
  if (!scenario.powerLoss) return { kind: 'none' };
  return { kind: 'power-loss', atMs: Math.floor(specFor(cell, seed).warmupMs / 3), lyingCache: false };
}

/** Both runs of the scenario and their story. */
export async function demoStory(scenarioId: string, seed: number): Promise<{ story: DemoStory; runs: { plain: OneRun; quiesced: OneRun } }> {
  const { scenario, cell } = scenarioOf(scenarioId);
  const fault = faultFor(scenario, cell, seed);
  await prepareDefaultApps();
  const engine = (mutant: string | null) => {
    const e = engineFor(mutant);
    if (e === undefined) throw new UsageError(`--scenario: no engine ${quote(mutant ?? 'builtin')}`);
    return e;
  };
  const plain = await runOne({ cell, seed, fault, engine: engine('no-quiesce') });
  const quiesced = await runOne({ cell, seed, fault, engine: engine(null) });
  const story = buildDemoStory({ scenario: scenario.id, title: scenario.title, seed, cell: cellId(cell), app: cell.app, lanes: scenario.lanes, runs: { plain, quiesced } });
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
