/**
 * A worker thread of the matrix pool (cli/pool.ts): loads the apps once, then runs the
 * cells it is sent, one at a time, and posts each result back with its index.
 */

import { parentPort, workerData } from 'node:worker_threads';
import { findCell } from '../scenarios/cells.js';
import { engineFor } from '../scenarios/mutants/index.js';
import { runCell } from '../scenarios/runner.js';
import { prepareDefaultApps } from '../sim/hypervisor/default-apps.js';

interface Setup { readonly runs: number; readonly seed: number; readonly mutant: string | null }
export interface WorkerTask { readonly index: number; readonly cellId: string }

const setup = workerData as Setup;
const port = parentPort;
if (port === null) throw new Error('matrix-worker runs as a worker thread');
await prepareDefaultApps();
const engine = engineFor(setup.mutant);
if (engine === undefined) throw new Error(`no engine mutant ${setup.mutant ?? ''}`);
port.on('message', (task: WorkerTask | null) => {
  if (task === null) {
    port.close();
    return;
  }
  const cell = findCell(task.cellId);
  if (cell === undefined) throw new Error(`no cell ${task.cellId}`);
  void runCell(cell, { runs: setup.runs, seed: setup.seed, engine, mutant: setup.mutant }).then((result) => {
    port.postMessage({ index: task.index, result });
  });
});
port.postMessage({ ready: true });
