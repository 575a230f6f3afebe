/**
 * The partial results file a `matrix --shard I/N` run writes and `merge` reads: a header
 * that says which run it is part of — format and quiescelab version, seed, runs per cell,
 * runs per mutant, the selection (filters, --mutant, whether the hunt ran), the engine, the
 * shard I/N — then the ids of the tasks it covers and their results (a results.json's
 * cells and mutant outcomes, as they are), in task order. JSON, two-space indented:
 *
 *   { "format": "quiescelab-shard", "formatVersion": 1, "tool": "quiescelab",
 *     "version": "0.1.0", "seed": 1, "runs": 100, "mutantRuns": 20,
 *     "selection": { "os": ["linux"], "tools": null, "apps": null, "mutant": null, "hunt": true },
 *     "engine": { "name": "quiescelab", "command": null },
 *     "shard": { "index": 2, "count": 4 },
 *     "tasks": ["mutant:no-quiesce", "cell:linux/esx41/files/default", ...],
 *     "results": [ {MutantOutcome}, {CellResult}, ... ] }
 *
 * Reading checks the header field by field; a file that is not one is a UsageError naming
 * the file and the field.
 */

import type { CellResult, MutantOutcome } from '../core/results.js';
import { APP_IDS, GUEST_OS_IDS, TOOLS_IDS } from '../core/hypervisor-port.js';
import { MUTANTS } from '../scenarios/mutants/index.js';
import { shown, UsageError } from './errors.js';
import { readInputFile } from './output.js';
import { MAX_SHARDS } from './shard.js';

export const SHARD_FORMAT = 'quiescelab-shard';
export const SHARD_FORMAT_VERSION = 1;
/** The largest part merge reads (a whole `--runs 100` matrix is ~5 MiB). */
export const MAX_SHARD_BYTES = 512 * 1024 * 1024;

/** What the run selected: the filters (catalog order, null = all), --mutant, and whether the mutant hunt ran. */
export interface ShardSelection {
  readonly os: readonly string[] | null;
  readonly tools: readonly string[] | null;
  readonly apps: readonly string[] | null;
  readonly mutant: string | null;
  readonly hunt: boolean;
}

/** The engine under test: the name results.json gives it, and the command that ran it (--engine-cmd / --engine-image argv), or null for in process. */
export interface ShardEngine {
  readonly name: string;
  readonly command: readonly string[] | null;
}

export interface ShardHeader {
  readonly format: typeof SHARD_FORMAT;
  readonly formatVersion: typeof SHARD_FORMAT_VERSION;
  readonly tool: 'quiescelab';
  readonly version: string;
  readonly seed: number;
  readonly runs: number;
  /** Runs per cell of each mutant hunted; null when the hunt did not run. */
  readonly mutantRuns: number | null;
  readonly selection: ShardSelection;
  readonly engine: ShardEngine;
  readonly shard: { readonly index: number; readonly count: number };
}

export interface ShardFile extends ShardHeader {
  readonly tasks: readonly string[];
  readonly results: readonly (CellResult | MutantOutcome)[];
}

export function renderShardFile(file: ShardFile): string {
  return `${JSON.stringify(file, null, 2)}\n`;
}

type Check = (value: unknown) => string | null;

/** JSON text of a value, 'none' when there is none. */
const asJson = (v: unknown): string => (v === undefined ? 'none' : JSON.stringify(v));
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const wholeNumber = (min: number, max: number): Check => (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max ? null : `expected a whole number from ${min} to ${max}`);
const stringCheck: Check = (v) => (typeof v === 'string' && v.length > 0 && v.length <= 256 ? null : 'expected a string');
const nullable = (c: Check): Check => (v) => (v === null ? null : c(v));
const idList = (known: readonly string[]): Check => (v) => {
  if (!Array.isArray(v) || v.length === 0) return 'expected a list of ids or null';
  const bad: unknown = v.find((id: unknown) => typeof id !== 'string' || !known.includes(id));
  return bad === undefined ? null : `unknown id ${asJson(bad)}`;
};

/** The first bad field of `obj` under `checks`, as `path: why`. */
function firstProblem(obj: Record<string, unknown>, checks: Readonly<Record<string, Check>>, prefix = ''): string | null {
  for (const [key, check] of Object.entries(checks)) {
    const problem = check(obj[key]);
    // A nested object's problem already names its field (`shard.index: ...`).
    if (problem !== null) return problem.startsWith(`${prefix}${key}.`) ? problem : `${prefix}${key}: ${problem}`;
  }
  return null;
}

const SELECTION: Readonly<Record<string, Check>> = {
  os: nullable(idList(GUEST_OS_IDS)), tools: nullable(idList(TOOLS_IDS)), apps: nullable(idList(APP_IDS)),
  mutant: nullable((v) => (typeof v === 'string' && MUTANTS.some((m) => m.id === v) ? null : 'expected a mutant id or null')),
  hunt: (v) => (typeof v === 'boolean' ? null : 'expected true or false'),
};

const HEADER: Readonly<Record<string, Check>> = {
  tool: (v) => (v === 'quiescelab' ? null : "expected 'quiescelab'"),
  version: stringCheck,
  seed: wholeNumber(0, 0x7fffffff),
  runs: wholeNumber(1, 100_000),
  mutantRuns: nullable(wholeNumber(1, 10_000)),
  selection: (v) => (isObject(v) ? firstProblem(v, SELECTION, 'selection.') : 'expected an object'),
  engine: (v) => (isObject(v) ? firstProblem(v, {
    name: stringCheck,
    command: nullable((c) => (Array.isArray(c) && c.length > 0 && c.every((a) => typeof a === 'string') ? null : 'expected a list of strings or null')),
  }, 'engine.') : 'expected an object'),
  shard: (v) => (isObject(v) ? firstProblem(v, { index: wholeNumber(1, MAX_SHARDS), count: wholeNumber(1, MAX_SHARDS) }, 'shard.') : 'expected an object'),
  tasks: (v) => (Array.isArray(v) && v.every((t) => typeof t === 'string') ? null : 'expected a list of task ids'),
  results: (v) => (Array.isArray(v) && v.every(isObject) ? null : 'expected a list of results'),
};

/** Parses and checks a part: a UsageError naming the file for anything that is not a shard file of this format. */
export function readShardFile(file: string): ShardFile {
  if (file.trim() === '') throw new UsageError("PART: expected a shard file, got ''");
  const bytes = readInputFile(file, MAX_SHARD_BYTES, 'a shard file');
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new UsageError(`${file}: not JSON: ${(error as Error).message.replace(/\s+/g, ' ')}`);
  }
  if (!isObject(value) || value.format !== SHARD_FORMAT) {
    const what = isObject(value) && value.tool === 'quiescelab' && 'cells' in value ? 'a results.json (already whole: quiescelab report renders it)' : `no "format": "${SHARD_FORMAT}"`;
    throw new UsageError(`${file}: not a quiescelab shard file (${what})`);
  }
  if (value.formatVersion !== SHARD_FORMAT_VERSION) {
    throw new UsageError(`${file}: shard format version ${shown(asJson(value.formatVersion))}; this quiescelab reads version ${SHARD_FORMAT_VERSION}`);
  }
  const problem = firstProblem(value, HEADER);
  if (problem !== null) throw new UsageError(`${file}: malformed shard file: ${problem}`);
  const part = value as unknown as ShardFile;
  if (part.shard.index > part.shard.count) throw new UsageError(`${file}: malformed shard file: shard.index ${part.shard.index} is above shard.count ${part.shard.count}`);
  if (part.results.length !== part.tasks.length) throw new UsageError(`${file}: malformed shard file: ${part.tasks.length} tasks but ${part.results.length} results`);
  return part;
}

/** The header fields two parts of one run must share, each with how to show it. */
export const SHARED_FIELDS: readonly { readonly name: string; readonly of: (h: ShardHeader) => unknown }[] = [
  { name: 'seed', of: (h) => h.seed },
  { name: 'runs', of: (h) => h.runs },
  { name: 'mutant-runs', of: (h) => h.mutantRuns },
  { name: 'selection', of: (h) => h.selection },
  { name: 'engine', of: (h) => h.engine },
  { name: 'shard count', of: (h) => h.shard.count },
];

/** A header field as a message shows it: the selection and the engine compactly. */
export function showField(value: unknown): string {
  if (isObject(value) && 'hunt' in value) {
    const s = value as unknown as ShardSelection;
    const list = (l: readonly string[] | null): string => (l === null ? 'all' : l.join(','));
    return `os ${list(s.os)}, tools ${list(s.tools)}, apps ${list(s.apps)}${s.mutant === null ? '' : `, mutant ${s.mutant}`}, ${s.hunt ? 'with' : 'without'} the mutant hunt`;
  }
  if (isObject(value) && 'name' in value) {
    const e = value as unknown as ShardEngine;
    return `${e.name}${e.command === null ? ' (in process)' : ` (${e.command.join(' ')})`}`;
  }
  return shown(asJson(value));
}
