/**
 * Is this parsed JSON a results.json the report can render? A light structural check of
 * every field the report reads (results.schema.json is the full description): it names
 * the first bad field, e.g. `cells[3].dataLoss.perRun.level[7]: expected a level or null`.
 */

import { isLevel } from '../core/levels.js';
import type { MatrixResults } from '../core/results.js';

type Shape =
  | 'string' | 'number' | 'boolean' | 'level' | 'scalar' | 'any'
  | { readonly nullable: Shape }
  | { readonly array: Shape }
  | { readonly record: Shape }
  | { readonly object: Readonly<Record<string, Shape>> };

const str = 'string';
const num = 'number';
const bool = 'boolean';
const arrayOf = (s: Shape): Shape => ({ array: s });
const nullable = (s: Shape): Shape => ({ nullable: s });
const object = (o: Record<string, Shape>): Shape => ({ object: o });

const PROPERTY = object({
  id: str, name: str, suite: str, pass: bool, runs: num, failures: num, unknown: num,
  counterexample: 'any', counterexampleSize: nullable(num), shrinks: nullable(num), evidence: nullable(str), replay: nullable(str),
  timeline: nullable(arrayOf(object({ atUs: num, kind: str, detail: str }))),
});

const CELL = object({
  id: str, os: str, tools: str, app: str, variant: str, conditions: { record: 'scalar' },
  expected: 'level', expectedWhy: str, sources: arrayOf(str), achieved: { record: num }, pass: bool, properties: arrayOf(PROPERTY),
  dataLoss: object({
    committedLost: num, writesLost: num, recoveryNeeded: num, recoverySucceeded: num, rpoUsMax: num, rtoUsMax: nullable(num), rtoUsMean: nullable(num),
    examples: arrayOf(object({ run: num, point: num, app: str, id: str, why: str })),
    perRun: object({ committedLost: arrayOf(num), writesLost: arrayOf(num), rpoUs: arrayOf(num), rtoUs: arrayOf(nullable(num)), level: arrayOf(nullable('level')) }),
  }),
});

const RESULTS = object({
  tool: str, version: str, seed: num, runsPerCell: num, engine: str,
  properties: arrayOf(object({ id: str, name: str, description: str })),
  cells: arrayOf(CELL),
  summary: object({ cells: num, passed: num, failed: num }),
  mutants: nullable(object({
    runs: num, killed: num, survived: num,
    results: arrayOf(object({ id: str, description: str, area: str, expectedKiller: str, killed: bool, cell: nullable(str), killer: nullable(PROPERTY), runs: num })),
  })),
});

function describe(shape: Shape): string {
  if (typeof shape === 'string') return { string: 'a string', number: 'a number', boolean: 'true or false', level: 'a consistency level', scalar: 'a string or a boolean', any: 'anything' }[shape];
  if ('nullable' in shape) return `${describe(shape.nullable)} or null`;
  if ('array' in shape) return 'an array';
  return 'an object';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function matches(shape: Shape, value: unknown): boolean {
  switch (shape) {
    case 'any': return true;
    case 'string': return typeof value === 'string';
    case 'number': return typeof value === 'number' && Number.isFinite(value);
    case 'boolean': return typeof value === 'boolean';
    case 'level': return typeof value === 'string' && isLevel(value);
    case 'scalar': return typeof value === 'string' || typeof value === 'boolean';
  }
  if ('nullable' in shape) return value === null || matches(shape.nullable, value);
  return 'array' in shape ? Array.isArray(value) : isObject(value);
}

/** The path of the first field that does not fit, with what was expected; null when the value fits. */
function check(shape: Shape, value: unknown, path: string): string | null {
  if (!matches(shape, value)) return `${path === '' ? 'the file' : path}: expected ${describe(shape)}`;
  if (typeof shape === 'string' || value === null) return null;
  const inner = 'nullable' in shape ? shape.nullable : shape;
  if (typeof inner === 'string') return null;
  if ('array' in inner) {
    const items = value as unknown[];
    for (let i = 0; i < items.length; i++) {
      const bad = check(inner.array, items[i], `${path}[${i}]`);
      if (bad !== null) return bad;
    }
    return null;
  }
  const record = value as Record<string, unknown>;
  if ('record' in inner) {
    for (const [k, v] of Object.entries(record)) {
      const bad = check(inner.record, v, `${path}.${k}`);
      if (bad !== null) return bad;
    }
    return null;
  }
  if ('object' in inner) {
    for (const [k, s] of Object.entries(inner.object)) {
      const at = path === '' ? k : `${path}.${k}`;
      if (!(k in record)) return `${at}: missing`;
      const bad = check(s, record[k], at);
      if (bad !== null) return bad;
    }
  }
  return null;
}

/** Why `value` is not a quiescelab results.json (the first bad field), or null when it is one. */
export function resultsProblem(value: unknown): string | null {
  if (isObject(value) && value.tool !== 'quiescelab') return `tool: expected 'quiescelab', got ${value.tool === undefined ? 'nothing' : JSON.stringify(value.tool)}`;
  return check(RESULTS, value, '');
}

export function isMatrixResults(value: unknown): value is MatrixResults {
  return resultsProblem(value) === null;
}
