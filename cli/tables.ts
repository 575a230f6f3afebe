/** Plain-text tables the commands print. */

import type { MutantOutcome } from '../core/results.js';

/** The mutant hunt: each mutant, what killed it (or SURVIVED), and its counterexample's size. */
export function mutantTable(results: readonly MutantOutcome[]): string {
  const lines = [`${'mutant'.padEnd(30)} ${'killed by'.padEnd(40)} counterexample`];
  for (const r of results) {
    const killer = r.killer === null ? 'SURVIVED' : `${r.killer.id} ${r.killer.name}`;
    const cex = r.killer === null ? '-' : `${r.killer.counterexampleSize ?? '?'} chars, ${r.killer.shrinks ?? 0} shrinks, on ${r.cell ?? ''}`;
    lines.push(`${r.id.padEnd(30)} ${killer.padEnd(40)} ${cex}`);
  }
  const killed = results.filter((r) => r.killed).length;
  lines.push(`${killed}/${results.length} mutants killed`);
  return lines.join('\n');
}
