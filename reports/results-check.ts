/**
 * Is this parsed JSON a results.json the report can render? resultsProblem is a light
 * structural check of every field the report reads; schemaProblem adds what
 * results.schema.json says beyond that (closed objects, whole numbers, minimums, enums,
 * patterns). Both name the first bad field, e.g. `cells[3].dataLoss.perRun.level[7]:
 * expected a consistency level or null`.
 */

import { isLevel } from '../core/levels.js';
import type { MatrixResults } from '../core/results.js';

type Primitive = 'string' | 'number' | 'boolean' | 'level' | 'scalar' | 'any' | 'count' | 'positive' | 'nonneg';

type Shape =
  | Primitive
  | { readonly nullable: Shape }
  | { readonly array: Shape }
  | { readonly record: Shape; readonly keys?: 'level' }
  | { readonly object: Readonly<Record<string, Shape>> }
  | { readonly oneOf: readonly string[] }
  | { readonly pattern: RegExp }
  | { readonly strict: Shape; readonly lenient: Shape }
  | { readonly optional: Shape };

const str = 'string';
const num = 'number';
const bool = 'boolean';
const count = 'count';
const arrayOf = (s: Shape): Shape => ({ array: s });
const nullable = (s: Shape): Shape => ({ nullable: s });
const object = (o: Record<string, Shape>): Shape => ({ object: o });

const PROPERTY = object({
  id: { pattern: /^P[0-9]+$/ }, name: str, suite: str, pass: bool, status: { oneOf: ['pass', 'fail', 'not-exercised', 'not-applicable'] },
  runs: count, judged: count, minJudged: 'positive', failures: count, unknown: count,
  counterexample: 'any', counterexampleSize: nullable(count), shrinks: nullable(count), evidence: nullable(str),
  data: nullable(object({ counts: { record: count }, first: nullable(str), worst: nullable(str), last: nullable(str), ids: arrayOf(str), idsOmitted: count })),
  failedRuns: arrayOf(count), replay: nullable({ pattern: /^ql1\.[A-Za-z0-9_-]+$/ }),
  timeline: nullable(arrayOf(object({ atUs: 'nonneg', kind: str, detail: str }))),
});

const CONDITIONS: Shape = {
  strict: object({ controller: { oneOf: ['scsi', 'ide'] }, dynamicDisk: bool, enableUuid: bool, encrypted: bool, disableAppQuiescing: bool, appFreezeScript: bool }),
  lenient: { record: 'scalar' },
};

const REPLICATION = object({
  runs: count, rpoUsMax: 'nonneg', rtoUsMean: nullable('nonneg'), rtoUsMax: nullable('nonneg'), bytesSent: count, bytesSkippedWhiteSpace: count,
  perRun: arrayOf(object({
    run: count, fault: { oneOf: ['none', 'link-drop', 'source-host-dies', 'dr-full'] }, faultFiredAtUs: nullable('nonneg'),
    after: { oneOf: ['none', 'test-failover', 'failover', 'failback-original', 'failback-new'] }, intervalUs: 'nonneg', whiteSpace: bool,
    startUs: 'nonneg', replicationEndUs: 'nonneg', rpo: arrayOf(object({ atUs: 'nonneg', rpoUs: 'nonneg' })),
    cycles: arrayOf(object({ cycle: count, kind: { oneOf: ['full', 'incremental'] }, ok: bool, startUs: 'nonneg', endUs: 'nonneg', bytesSent: count, bytesSkippedWhiteSpace: count })),
    failover: nullable(object({ kind: { oneOf: ['test', 'failover'] }, ok: bool, rtoUs: 'nonneg', pointId: nullable(str) })),
    failback: nullable(object({ ok: bool, target: { oneOf: ['original', 'new'] }, finalAtUs: nullable('nonneg') })),
  })),
});

const CELL = object({
  id: str, os: str, tools: str, app: str, variant: str, conditions: CONDITIONS,
  expected: 'level', expectedWhy: str, sources: arrayOf(str), achieved: { record: count, keys: 'level' }, pass: bool, properties: arrayOf(PROPERTY),
  dataLoss: object({
    committedLost: count, writesLost: count, recoveryNeeded: count, recoverySucceeded: count, rpoUsMax: 'nonneg', rtoUsMax: nullable('nonneg'), rtoUsMean: nullable('nonneg'),
    examples: arrayOf(object({ run: count, point: count, app: str, id: str, why: str })),
    perRun: object({ committedLost: arrayOf('nonneg'), writesLost: arrayOf('nonneg'), rpoUs: arrayOf('nonneg'), rtoUs: arrayOf(nullable(num)), level: arrayOf(nullable('level')) }),
  }),
  replication: { optional: REPLICATION },
});

const RESULTS = object({
  tool: str, version: str, seed: count, runsPerCell: 'positive', engine: str,
  properties: arrayOf(object({ id: str, name: str, description: str })),
  cells: arrayOf(CELL),
  summary: object({ cells: count, passed: count, failed: count }),
  mutants: nullable(object({
    runs: count, killed: count, survived: count,
    results: arrayOf(object({ id: str, description: str, area: str, expectedKiller: str, killed: bool, cell: nullable(str), killer: nullable(PROPERTY), runs: count })),
  })),
});

const PRIMITIVE_NAMES = {
  string: 'a string', number: 'a number', boolean: 'true or false', level: 'a consistency level', scalar: 'a string or a boolean', any: 'anything',
  count: 'a whole number >= 0', positive: 'a whole number >= 1', nonneg: 'a number >= 0',
} as const;

/** `strict` shapes pick their strict side; a lenient check reads counts as plain numbers. */
function resolved(shape: Shape, strict: boolean): Shape {
  if (typeof shape === 'string') return !strict && (shape === 'count' || shape === 'positive' || shape === 'nonneg') ? 'number' : shape;
  if ('optional' in shape) return resolved(shape.optional, strict);
  return 'strict' in shape ? resolved(strict ? shape.strict : shape.lenient, strict) : shape;
}

function describe(shape: Shape, strict: boolean): string {
  const s = resolved(shape, strict);
  if (typeof s === 'string') return PRIMITIVE_NAMES[s];
  if ('nullable' in s) return `${describe(s.nullable, strict)} or null`;
  if ('array' in s) return 'an array';
  if ('oneOf' in s) return `one of ${s.oneOf.join(', ')}`;
  if ('pattern' in s) return `a string matching ${s.pattern.source}`;
  return 'an object';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function matchesPrimitive(shape: Primitive, value: unknown): boolean {
  const isNumber = typeof value === 'number' && Number.isFinite(value);
  switch (shape) {
    case 'any': return true;
    case 'string': return typeof value === 'string';
    case 'number': return isNumber;
    case 'count': return isNumber && Number.isInteger(value) && value >= 0;
    case 'positive': return isNumber && Number.isInteger(value) && value >= 1;
    case 'nonneg': return isNumber && value >= 0;
    case 'boolean': return typeof value === 'boolean';
    case 'level': return typeof value === 'string' && isLevel(value);
    case 'scalar': return typeof value === 'string' || typeof value === 'boolean';
  }
}

function matches(shape: Shape, value: unknown, strict: boolean): boolean {
  const s = resolved(shape, strict);
  if (typeof s === 'string') return matchesPrimitive(s, value);
  if ('nullable' in s) return value === null || matches(s.nullable, value, strict);
  if ('oneOf' in s) return typeof value === 'string' && s.oneOf.includes(value);
  if ('pattern' in s) return typeof value === 'string' && s.pattern.test(value);
  return 'array' in s ? Array.isArray(value) : isObject(value);
}

/** The path of the first field that does not fit, with what was expected; null when the value fits. */
function check(shape: Shape, value: unknown, path: string, strict: boolean): string | null {
  if (!matches(shape, value, strict)) return `${path === '' ? 'the file' : path}: expected ${describe(shape, strict)}`;
  const s = resolved(shape, strict);
  if (typeof s === 'string' || value === null) return null;
  const inner = resolved('nullable' in s ? s.nullable : s, strict);
  if (typeof inner === 'string' || 'oneOf' in inner || 'pattern' in inner) return null;
  if ('array' in inner) {
    const items = value as unknown[];
    for (let i = 0; i < items.length; i++) {
      const bad = check(inner.array, items[i], `${path}[${i}]`, strict);
      if (bad !== null) return bad;
    }
    return null;
  }
  const record = value as Record<string, unknown>;
  if ('record' in inner) return checkRecord(inner, record, path, strict);
  if ('object' in inner) return checkObject(inner.object, record, path, strict);
  return null;
}

function checkRecord(shape: { readonly record: Shape; readonly keys?: 'level' }, record: Record<string, unknown>, path: string, strict: boolean): string | null {
  for (const [k, v] of Object.entries(record)) {
    if (strict && shape.keys === 'level' && !isLevel(k)) return `${path}.${k}: not a consistency level`;
    const bad = check(shape.record, v, `${path}.${k}`, strict);
    if (bad !== null) return bad;
  }
  return null;
}

function checkObject(fields: Readonly<Record<string, Shape>>, record: Record<string, unknown>, path: string, strict: boolean): string | null {
  for (const [k, s] of Object.entries(fields)) {
    const at = path === '' ? k : `${path}.${k}`;
    if (!Object.hasOwn(record, k)) {
      if (typeof s === 'object' && 'optional' in s) continue;
      return `${at}: missing`;
    }
    const bad = check(s, record[k], at, strict);
    if (bad !== null) return bad;
  }
  if (strict) {
    const extra = Object.keys(record).find((k) => !Object.hasOwn(fields, k));
    if (extra !== undefined) return `${path === '' ? '' : `${path}.`}${extra}: not a field of results.json`;
  }
  return null;
}

/** Why `value` is not a quiescelab results.json the report can render (the first bad field), or null when it is one. */
export function resultsProblem(value: unknown): string | null {
  if (isObject(value) && value.tool !== 'quiescelab') return `tool: expected 'quiescelab', got ${value.tool === undefined ? 'nothing' : JSON.stringify(value.tool)}`;
  return check(RESULTS, value, '', false);
}

/**
 * Why `value` does not conform to results.schema.json (the first bad field), or null: the
 * schema's closed objects, whole-number counts, minimums, enums and patterns, checked
 * here because the schema file is not part of the built package. The CLI's `report`
 * accepts only such files; test/cli/output-safety.test.ts holds it to Ajv's verdict.
 */
export function schemaProblem(value: unknown): string | null {
  if (isObject(value) && value.tool !== 'quiescelab') return resultsProblem(value);
  return check(RESULTS, value, '', true);
}

export function isMatrixResults(value: unknown): value is MatrixResults {
  return resultsProblem(value) === null;
}
