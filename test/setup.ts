/**
 * Every test file starts here. fast-check runs from one fixed seed by default, so a test
 * run is as repeatable as the simulator it tests (CI never flakes on a seed it has not seen
 * before); set QUIESCELAB_FC_SEED to another integer to explore elsewhere, or to `random`
 * for a fresh seed each run. A failure prints its seed and path either way.
 */

import fc from 'fast-check';

const DEFAULT_SEED = 20261122;
const chosen = process.env.QUIESCELAB_FC_SEED;
if (chosen !== 'random') {
  const seed = chosen === undefined ? DEFAULT_SEED : Number(chosen);
  if (!Number.isSafeInteger(seed)) throw new Error(`QUIESCELAB_FC_SEED: expected an integer or 'random', got '${chosen ?? ''}'`);
  fc.configureGlobal({ seed });
}
