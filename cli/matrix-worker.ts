/**
 * A worker thread of the matrix pool (cli/pool.ts): loads the apps once, then runs the
 * tasks it is sent — a matrix cell, or a mutant's hunt — one at a time, and posts each
 * result back with its index. With --engine-cmd the cells' engine is a process of this
 * worker's own (StdioEngine), ended when the pool says stop.
 */

import { parentPort, workerData } from 'node:worker_threads';
import { findCell } from '../scenarios/cells.js';
import { huntMutant } from '../scenarios/mutants/hunt.js';
import { engineFor, findMutant } from '../scenarios/mutants/index.js';
import { runCell } from '../scenarios/runner.js';
import type { Engine } from '../scenarios/engine-api.js';
import { prepareDefaultApps } from '../sim/hypervisor/default-apps.js';
import { startEngine, type EngineCmd } from './engine-option.js';
import type { StdioEngine } from './engine-rpc/client.js';
import type { PoolResult, PoolTask } from './pool.js';

interface Setup { readonly runs: number; readonly seed: number; readonly mutant: string | null; readonly engine: EngineCmd | null }

const setup = workerData as Setup;
const port = parentPort;
if (port === null) throw new Error('matrix-worker runs as a worker thread');
await prepareDefaultApps();
/** With --engine-cmd, this worker's engine process (started at its first call). */
const engineProcess: StdioEngine | null = setup.engine === null ? null : startEngine(setup.engine, setup.mutant);
const found: Engine | undefined = engineProcess ?? engineFor(setup.mutant);
if (found === undefined) throw new Error(`no engine mutant ${setup.mutant ?? ''}`);
const engine = found;

function run(task: PoolTask): Promise<PoolResult> {
  if (task.kind === 'mutant') {
    const mutant = findMutant(task.mutantId);
    if (mutant === undefined) throw new Error(`no mutant ${task.mutantId}`);
    if (setup.engine === null) return huntMutant(mutant, { runs: task.runs, seed: setup.seed, cells: task.cells });
    // Through the protocol: an engine process of its own, asked for the mutant at initialize.
    const process = startEngine(setup.engine, mutant.id);
    return huntMutant(mutant, { runs: task.runs, seed: setup.seed, cells: task.cells, engine: process }).finally(() => process.close());
  }
  const cell = findCell(task.cellId);
  if (cell === undefined) throw new Error(`no cell ${task.cellId}`);
  return runCell(cell, { runs: setup.runs, seed: setup.seed, engine, mutant: setup.mutant });
}

port.on('message', (message: { index: number; task: PoolTask } | null) => {
  if (message === null) {
    void (engineProcess?.close() ?? Promise.resolve()).finally(() => {
      port.close();
    });
    return;
  }
  // A task that throws (an engine that cannot even start a session) ends the pool with its message.
  const started = performance.now();
  void run(message.task).then((result) => {
    // The task's wall time (cli/ may read the clock): the bench's figures and the shard cost table's measurements.
    port.postMessage({ index: message.index, result, ms: performance.now() - started });
  }, (error: unknown) => {
    port.postMessage({ index: message.index, error: error instanceof Error ? error.message : String(error) });
  });
});
port.postMessage({ ready: true });
