/**
 * A matrix run as results.json (core/results.ts): each selected cell through the runner,
 * assembled in cell order with the property list and the summary. The serial path here
 * and the CLI's worker pool both end in `assembleResults`, so the file is the same
 * whichever ran it and however many workers.
 */

import type { CellResult, MatrixResults, MutantsResults, PropertyDescription } from '../core/results.js';
import type { Cell } from './cells.js';
import { runCell, SUITES } from './runner.js';
import type { Engine } from './engine-api.js';

export function propertyDescriptions(): PropertyDescription[] {
  const out: PropertyDescription[] = [];
  for (const suite of SUITES) for (const p of suite.properties) out.push({ id: p.id, name: p.name, description: p.description });
  return out.sort((a, b) => Number(a.id.slice(1)) - Number(b.id.slice(1)));
}

export interface MatrixRunOptions {
  readonly version: string;
  readonly seed: number;
  readonly runsPerCell: number;
  /** The mutant id when the engine is one, else null. */
  readonly mutant: string | null;
}

export function assembleResults(options: MatrixRunOptions, cells: readonly CellResult[], mutants: MutantsResults | null = null): MatrixResults {
  const passed = cells.filter((c) => c.pass).length;
  return {
    tool: 'quiescelab', version: options.version, seed: options.seed, runsPerCell: options.runsPerCell, engine: options.mutant ?? 'quiescelab',
    properties: propertyDescriptions(), cells, summary: { cells: cells.length, passed, failed: cells.length - passed }, mutants,
  };
}

export async function runMatrix(cells: readonly Cell[], options: MatrixRunOptions & { readonly engine?: Engine }): Promise<MatrixResults> {
  const results: CellResult[] = [];
  for (const cell of cells) {
    results.push(await runCell(cell, {
      runs: options.runsPerCell, seed: options.seed, mutant: options.mutant, ...options.engine === undefined ? {} : { engine: options.engine },
    }));
  }
  return assembleResults(options, results);
}
