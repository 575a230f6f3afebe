/**
 * The harness commands: `mutants` (the hunt: every engine mutant must be killed),
 * `replay TOKEN` (reproduce one failure exactly) and `list os|tools|apps|properties|mutants`.
 */

import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import type { MutantOutcome } from '../core/results.js';
import { APP_IDS, GUEST_OS_IDS, TOOLS_IDS } from '../core/hypervisor-port.js';
import { timelineText } from '../reports/timeline-text.js';
import { propertyDescriptions } from '../scenarios/matrix-run.js';
import { engineFor, findMutant, MUTANTS } from '../scenarios/mutants/index.js';
import { replay } from '../scenarios/replay.js';
import { decodeReplayToken } from '../scenarios/replay-token.js';
import type { ScenarioOutcome } from '../scenarios/scenario/run.js';
import { prepareDefaultApps } from '../sim/hypervisor/default-apps.js';
import { parseIntOption, UsageError } from './errors.js';
import { writeOutput } from './output.js';
import { runTasksInPool, type PoolTask } from './pool.js';
import { progressReporter } from './progress.js';
import { mutantTable } from './tables.js';

function printTimeline(outcome: unknown): string {
  const timeline = (outcome as Partial<ScenarioOutcome>).timeline;
  return timeline === undefined ? '' : timelineText(timeline);
}

export function registerHarness(program: Command): void {
  program
    .command('mutants')
    .description('run the suite against every engine mutant: each must be killed (exit 1 if one survives)')
    .option('--runs <n>', 'runs per cell of each mutant', '20')
    .option('--seed <n>', 'seed', '1')
    .option('--only <ids>', 'only these mutants (comma list)')
    .option('--json <file>', 'also write the table as JSON')
    .option('--workers <n>', 'worker threads (default: the cores)')
    .action(async (options: { runs: string; seed: string; only?: string; json?: string; workers?: string }) => {
      const runs = parseIntOption('--runs', options.runs, 1, 10_000);
      const seed = parseIntOption('--seed', options.seed, 0, 0x7fffffff);
      const ids = options.only?.split(',').map((s) => s.trim()).filter((s) => s !== '');
      for (const id of ids ?? []) if (findMutant(id) === undefined) throw new UsageError(`--only: unknown mutant '${id}' (see quiescelab list mutants)`);
      const chosen = ids === undefined ? MUTANTS : MUTANTS.filter((m) => ids.includes(m.id));
      const workers = options.workers === undefined ? availableParallelism() : parseIntOption('--workers', options.workers, 1, 64);
      const progress = progressReporter(`${chosen.length} mutants`);
      const tasks = chosen.map((m): PoolTask => ({ kind: 'mutant', mutantId: m.id, runs, cells: m.cells }));
      const results = await runTasksInPool(tasks, { runs, seed, mutant: null, workers, onProgress: progress.update }) as MutantOutcome[];
      progress.done();
      if (options.json !== undefined) writeOutput(options.json, JSON.stringify({ seed, runs, mutants: results }, null, 2) + '\n', '--json');
      process.stdout.write(`${mutantTable(results)}\n`);
      for (const r of results) if (r.killer?.replay !== null && r.killer?.replay !== undefined) process.stdout.write(`replay ${r.id}: quiescelab replay ${r.killer.replay}\n`);
      process.exitCode = results.every((r) => r.killed) ? 0 : 1;
    });

  program
    .command('replay')
    .description('reproduce one failure from its replay token: the spec, the timeline and the verdict')
    .argument('<token>', 'a replay token printed by matrix, mutants or the report')
    .action(async (raw: string) => {
      const token = decodeReplayToken(raw.trim());
      if (!token.ok) throw new UsageError(token.error);
      await prepareDefaultApps();
      const r = await replay(token.value, { resolve: engineFor });
      if (!r.ok) throw new UsageError(r.error);
      const { cell, property, spec, outcome, verdict } = r.value;
      process.stdout.write([
        `cell ${token.value.cell}: expected ${cell.expected.level} (${cell.expected.why})`,
        `engine: ${token.value.mutant ?? 'quiescelab'}`,
        `spec: ${JSON.stringify(spec)}`,
        'timeline:',
        printTimeline((outcome as { outcome?: unknown }).outcome ?? outcome),
        `${property.id} ${property.name}: ${verdict.valid === true ? 'holds' : verdict.valid === false ? 'FAILS' : 'unknown'} — ${verdict.evidence}`,
      ].join('\n') + '\n');
      process.exitCode = verdict.valid === true ? 0 : 1;
    });

  program
    .command('list')
    .description('list the catalog ids and the harness\'s properties and mutants')
    .argument('<what>', 'os | tools | apps | properties | mutants')
    .option('--json', 'as JSON')
    .action((what: string, options: { json?: boolean }) => {
      const tables: Record<string, () => unknown[]> = {
        os: () => [...GUEST_OS_IDS],
        tools: () => [...TOOLS_IDS],
        apps: () => [...APP_IDS],
        properties: () => propertyDescriptions(),
        mutants: () => MUTANTS.map((m) => ({ id: m.id, area: m.area, description: m.description, cells: m.cells })),
      };
      const table = tables[what];
      if (table === undefined) throw new UsageError(`list: unknown '${what}' (os, tools, apps, properties, mutants)`);
      const rows = table();
      if (options.json === true) {
        process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
        return;
      }
      for (const row of rows) {
        if (typeof row === 'string') process.stdout.write(`${row}\n`);
        else if ('cells' in (row as object)) process.stdout.write(`${(row as { id: string }).id.padEnd(28)} ${(row as { description: string }).description}\n`);
        else process.stdout.write(`${(row as { id: string }).id.padEnd(5)} ${(row as { name: string }).name.padEnd(36)} ${(row as { description: string }).description}\n`);
      }
    });
}
