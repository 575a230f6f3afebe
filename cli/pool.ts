/**
 * Runs matrix cells on worker threads (both cores): each worker takes the next cell as
 * soon as it is free; results are put back in cell order, so the output does not depend
 * on which worker ran what. Reports progress per finished cell.
 */

import { Worker } from 'node:worker_threads';
import type { CellResult } from '../core/results.js';
import type { Cell } from '../scenarios/cells.js';
import { cellId } from '../scenarios/cells.js';

export interface PoolOptions {
  readonly runs: number;
  readonly seed: number;
  readonly mutant: string | null;
  readonly workers: number;
  readonly onProgress?: (done: number, total: number, cell: string) => void;
}

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCE ? './matrix-worker.ts' : './matrix-worker.js', import.meta.url);

/** A worker; run from the TypeScript sources (tests), it registers tsx first, as workers do not inherit the loader hooks. */
function startWorker(workerData: unknown): Worker {
  if (!FROM_SOURCE) return new Worker(WORKER_URL, { workerData });
  const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`;
  return new Worker(boot, { eval: true, workerData });
}

export function runCellsInPool(cells: readonly Cell[], options: PoolOptions): Promise<CellResult[]> {
  const results: (CellResult | undefined)[] = new Array<CellResult | undefined>(cells.length).fill(undefined);
  let next = 0;
  let done = 0;
  return new Promise((resolvePool, rejectPool) => {
    if (cells.length === 0) {
      resolvePool([]);
      return;
    }
    const workers: Worker[] = [];
    const fail = (error: unknown): void => {
      for (const w of workers) void w.terminate();
      rejectPool(error instanceof Error ? error : new Error(String(error)));
    };
    const feed = (w: Worker): void => {
      if (next < cells.length) {
        const index = next++;
        w.postMessage({ index, cellId: cellId(cells[index] as Cell) });
      } else {
        w.postMessage(null);
      }
    };
    const count = Math.max(1, Math.min(options.workers, cells.length));
    for (let i = 0; i < count; i++) {
      const w = startWorker({ runs: options.runs, seed: options.seed, mutant: options.mutant });
      workers.push(w);
      w.on('message', (m: { ready: true } | { index: number; result: CellResult }) => {
        if ('ready' in m) {
          feed(w);
          return;
        }
        results[m.index] = m.result;
        done++;
        options.onProgress?.(done, cells.length, m.result.id);
        if (done === cells.length) {
          for (const x of workers) void x.terminate();
          resolvePool(results as CellResult[]);
          return;
        }
        feed(w);
      });
      w.on('error', fail);
    }
  });
}
