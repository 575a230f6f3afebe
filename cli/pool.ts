/**
 * Runs the matrix's tasks on worker threads (both cores): matrix cells and mutant hunts.
 * Each worker takes the next task as soon as it is free; results are put back in task
 * order, so the output does not depend on which worker ran what. Reports progress per
 * finished task.
 */

import { Worker } from 'node:worker_threads';
import type { CellResult, MutantOutcome } from '../core/results.js';
import type { Cell } from '../scenarios/cells.js';
import { cellId } from '../scenarios/cells.js';

/** A cell of the matrix, or the hunt of one engine mutant (on the given cells of its list). */
export type PoolTask =
  | { readonly kind: 'cell'; readonly cellId: string }
  | { readonly kind: 'mutant'; readonly mutantId: string; readonly runs: number; readonly cells: readonly string[] };

export type PoolResult = CellResult | MutantOutcome;

export interface PoolOptions {
  readonly runs: number;
  readonly seed: number;
  /** The engine of the cell tasks: a mutant's id, or null for quiescelab's. */
  readonly mutant: string | null;
  readonly workers: number;
  readonly onProgress?: (done: number, total: number, label: string) => void;
}

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCE ? './matrix-worker.ts' : './matrix-worker.js', import.meta.url);

/** A worker; run from the TypeScript sources (tests), it registers tsx first, as workers do not inherit the loader hooks. */
function startWorker(workerData: unknown): Worker {
  if (!FROM_SOURCE) return new Worker(WORKER_URL, { workerData });
  const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`;
  return new Worker(boot, { eval: true, workerData });
}

export function runTasksInPool(tasks: readonly PoolTask[], options: PoolOptions): Promise<PoolResult[]> {
  const results: (PoolResult | undefined)[] = new Array<PoolResult | undefined>(tasks.length).fill(undefined);
  let next = 0;
  let done = 0;
  return new Promise((resolvePool, rejectPool) => {
    if (tasks.length === 0) {
      resolvePool([]);
      return;
    }
    const workers: Worker[] = [];
    const fail = (error: unknown): void => {
      for (const w of workers) void w.terminate();
      rejectPool(error instanceof Error ? error : new Error(String(error)));
    };
    const feed = (w: Worker): void => {
      if (next < tasks.length) {
        const index = next++;
        w.postMessage({ index, task: tasks[index] });
      } else {
        w.postMessage(null);
      }
    };
    const count = Math.max(1, Math.min(options.workers, tasks.length));
    for (let i = 0; i < count; i++) {
      const w = startWorker({ runs: options.runs, seed: options.seed, mutant: options.mutant });
      workers.push(w);
      w.on('message', (m: { ready: true } | { index: number; result: PoolResult }) => {
        if ('ready' in m) {
          feed(w);
          return;
        }
        results[m.index] = m.result;
        done++;
        options.onProgress?.(done, tasks.length, m.result.id);
        if (done === tasks.length) {
          for (const x of workers) void x.terminate();
          resolvePool(results as PoolResult[]);
          return;
        }
        feed(w);
      });
      w.on('error', fail);
    }
  });
}

export async function runCellsInPool(cells: readonly Cell[], options: PoolOptions): Promise<CellResult[]> {
  return await runTasksInPool(cells.map((c) => ({ kind: 'cell', cellId: cellId(c) })), options) as CellResult[];
}
