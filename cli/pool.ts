/**
 * Runs the matrix's tasks on worker threads (both cores): matrix cells and mutant hunts.
 * Each worker takes the next task as soon as it is free; results are put back in task
 * order, so the output does not depend on which worker ran what. Reports progress per
 * finished task. At the end each worker is asked to stop (it ends its engine process,
 * with --engine-cmd) and terminated if it has not within a few seconds.
 */

import { Worker } from 'node:worker_threads';
import type { CellResult, MutantOutcome } from '../core/results.js';
import type { Cell } from '../scenarios/cells.js';
import { cellId } from '../scenarios/cells.js';
import type { EngineCmd } from './engine-option.js';

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
  /** The cell tasks' engine is this process (one per worker, `--engine-cmd`), told `mutant` at initialize. */
  readonly engine?: EngineCmd | null;
  readonly workers: number;
  readonly onProgress?: (done: number, total: number, label: string) => void;
  /** Each finished task's index and wall time in its worker (ms): what the shard cost table was measured with. */
  readonly onTaskDone?: (index: number, ms: number) => void;
}

const FROM_SOURCE = import.meta.url.endsWith('.ts');
/** How long a worker may take to stop (closing its engine process takes up to 2 s). */
const STOP_GRACE_MS = 5_000;
const WORKER_URL = new URL(FROM_SOURCE ? './matrix-worker.ts' : './matrix-worker.js', import.meta.url);

/** A worker; run from the TypeScript sources (tests), it registers tsx first, as workers do not inherit the loader hooks. */
function startWorker(workerData: unknown): Worker {
  if (!FROM_SOURCE) return new Worker(WORKER_URL, { workerData });
  const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`;
  return new Worker(boot, { eval: true, workerData });
}

/** A task threw in its worker (the message is the error's). */
export class PoolTaskError extends Error {
  override readonly name = 'PoolTaskError';
  constructor(message: string, readonly task: PoolTask | undefined) {
    super(message);
  }
}

/** Asks a worker to stop (it ends its engine first) and waits for it; terminated after STOP_GRACE_MS. */
function stopWorker(w: Worker, exited: ReadonlySet<Worker>): Promise<void> {
  if (exited.has(w)) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      void w.terminate();
    }, STOP_GRACE_MS);
    w.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    w.postMessage(null);
  });
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
    const exited = new Set<Worker>();
    const finish = async (): Promise<void> => {
      await Promise.all(workers.map((w) => stopWorker(w, exited)));
      resolvePool(results as PoolResult[]);
    };
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
      const w = startWorker({ runs: options.runs, seed: options.seed, mutant: options.mutant, engine: options.engine ?? null });
      workers.push(w);
      w.on('exit', () => exited.add(w));
      w.on('message', (m: { ready: true } | { index: number; result: PoolResult; ms: number } | { index: number; error: string }) => {
        if ('ready' in m) {
          feed(w);
          return;
        }
        if ('error' in m) {
          fail(new PoolTaskError(m.error, tasks[m.index]));
          return;
        }
        results[m.index] = m.result;
        options.onTaskDone?.(m.index, m.ms);
        done++;
        options.onProgress?.(done, tasks.length, m.result.id);
        if (done === tasks.length) {
          void finish();
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
