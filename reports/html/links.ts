/**
 * Where every page of a report lives, decided once from the results: a page per cell, a
 * failure page per failing property of a cell and per mutant killer. Paths are relative
 * to the report's folder ('cells/…', 'failures/…'); pages are found by position, so
 * duplicate ids in the input still get pages of their own.
 */

import type { MatrixResults, PropertyResult } from '../../core/results.js';
import { encodeId, NameRegistry } from './names.js';

export interface ReportLinks {
  /** cells[i]'s page. */
  readonly cells: readonly string[];
  /** cells[i].properties[j]'s failure page, or undefined when it passed. */
  readonly cellFailures: readonly (readonly (string | undefined)[])[];
  /** mutants.results[k]'s failure page (its killer), or undefined when it survived. */
  readonly mutantFailures: readonly (string | undefined)[];
  /** The first cell with this id, or undefined. */
  cellIndex(id: string): number | undefined;
}

/** A property result has a failure page when it failed. */
export function hasFailurePage(p: PropertyResult): boolean {
  return !p.pass;
}

export function planLinks(results: MatrixResults): ReportLinks {
  const cellNames = new NameRegistry();
  const failureNames = new NameRegistry();
  const cells = results.cells.map((c) => `cells/${cellNames.unique(encodeId(c.id), c.id)}.html`);
  const cellFailures = results.cells.map((c) => c.properties.map((p) => {
    if (!hasFailurePage(p)) return undefined;
    const key = `${c.id}/${p.id}`;
    return `failures/${failureNames.unique(`${encodeId(c.id)}.${encodeId(p.id)}`, key)}.html`;
  }));
  const mutantFailures = (results.mutants?.results ?? []).map((m) => (m.killer === null
    ? undefined
    : `failures/${failureNames.unique(`mutant.${encodeId(m.id)}`, `mutant/${m.id}`)}.html`));
  const byId = new Map<string, number>();
  results.cells.forEach((c, i) => { if (!byId.has(c.id)) byId.set(c.id, i); });
  return { cells, cellFailures, mutantFailures, cellIndex: (id) => byId.get(id) };
}
