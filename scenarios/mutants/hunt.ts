/**
 * The mutant hunt: runs the suite against each engine mutant on its cells, in order,
 * until a property fails — the mutant is killed, with the killing property, its shrunk
 * counterexample (size) and the replay token — or the cells run out and it survived.
 * Deterministic like the runner (one seed).
 */

import { assert } from '../../core/assert.js';
import { findCell } from '../cells.js';
import type { MutantOutcome, MutantsResults } from '../../core/results.js';
import { runCell } from '../runner.js';
import { mutantEngine } from './index.js';
import type { Engine } from '../engine-api.js';
import type { Mutant } from './mutant.js';

/** The hunt's part of results.json. */
export function mutantsResults(runs: number, results: readonly MutantOutcome[]): MutantsResults {
  const killed = results.filter((r) => r.killed).length;
  return { runs, results, killed, survived: results.length - killed };
}

export interface HuntOptions {
  readonly runs: number;
  readonly seed: number;
  readonly shrinkBudget?: number;
  /** Only these of the mutant's cells (a matrix run's selection); default all of them. */
  readonly cells?: readonly string[];
  /** The mutant's engine (default: built here, in this process; a protocol run passes one in another process). */
  readonly engine?: Engine;
}

export async function huntMutant(mutant: Mutant, options: HuntOptions): Promise<MutantOutcome> {
  let runs = 0;
  for (const id of mutant.cells) {
    if (options.cells !== undefined && !options.cells.includes(id)) continue;
    const cell = findCell(id);
    assert(cell !== undefined, `mutant ${mutant.id}: no cell ${id}`);
    const result = await runCell(cell, { runs: options.runs, seed: options.seed, engine: options.engine ?? mutantEngine(mutant), mutant: mutant.id, ...options.shrinkBudget === undefined ? {} : { shrinkBudget: options.shrinkBudget } });
    runs += options.runs;
    // A property the engine cannot be judged on kills nothing.
    const failing = result.properties.filter((p) => p.status === 'fail' || p.status === 'not-exercised');
    const failed = failing.find((p) => p.replay !== null) ?? failing[0];
    if (failed !== undefined) {
      return {
        id: mutant.id, description: mutant.description, area: mutant.area, expectedKiller: mutant.expectedKiller, killed: true, cell: id, runs,
        killer: failed,
      };
    }
  }
  return { id: mutant.id, description: mutant.description, area: mutant.area, expectedKiller: mutant.expectedKiller, killed: false, cell: null, killer: null, runs };
}
