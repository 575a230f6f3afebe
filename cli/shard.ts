/**
 * `quiescelab matrix --shard I/N`: which 1/N of the matrix's work a shard runs. The work is
 * the list of tasks the unsharded matrix runs (the mutant hunts, then the cells, each with
 * all its runs); every task has a cost estimated from a static table (cli/shard-cost.ts)
 * and the tasks are dealt out by longest-processing-time-first: the costliest task not yet
 * dealt goes to the shard with the least estimated work so far (ties: the lower task
 * index, the lower shard). Pure and deterministic: `merge` computes the same plan again and
 * checks each part against it. `--shard auto` reads the index and count from the
 * environment of a CI system.
 */

import { assert } from '../core/assert.js';
import { quote, UsageError } from './errors.js';
import type { PoolTask } from './pool.js';

/** Shard `index` (1-based) of `count`. */
export interface ShardSpec {
  readonly index: number;
  readonly count: number;
}

/** The most shards a run may be split into. */
export const MAX_SHARDS = 1000;

/** A task's stable id in a shard file: `cell:<cell id>` or `mutant:<mutant id>`. */
export function taskId(task: PoolTask): string {
  return task.kind === 'cell' ? `cell:${task.cellId}` : `mutant:${task.mutantId}`;
}

/** `--shard I/N`: 1 <= I <= N <= MAX_SHARDS; anything else is one line naming --shard. */
export function parseShard(raw: string): ShardSpec {
  const m = /^\s*(\d{1,6})\s*\/\s*(\d{1,6})\s*$/.exec(raw);
  if (m === null) throw new UsageError(`--shard: expected I/N (shard I of N, from 1/N to N/N) or auto, got ${quote(raw)}`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || count > MAX_SHARDS) throw new UsageError(`--shard: the count N must be between 1 and ${MAX_SHARDS}, got ${quote(raw)}`);
  if (index < 1 || index > count) throw new UsageError(`--shard: the index I must be between 1 and ${count} (I/N counts from 1), got ${quote(raw)}`);
  return { index, count };
}

type Env = Readonly<Record<string, string | undefined>>;

/** A whole number from the environment, or a UsageError naming the variable. */
function envNumber(env: Env, name: string, min: number): number {
  const raw = env[name] ?? '';
  if (!/^\s*\d{1,6}\s*$/.test(raw)) throw new UsageError(`--shard auto: ${name}: expected a whole number, got ${quote(raw)}`);
  const value = Number(raw);
  if (value < min) throw new UsageError(`--shard auto: ${name}: must be at least ${min}, got ${value}`);
  return value;
}

/** The count of a Kubernetes Indexed Job: --shard-count, else QUIESCELAB_SHARD_COUNT. */
function indexedJobCount(env: Env, countOption: string | undefined): { count: number; from: string } {
  if (countOption !== undefined) {
    if (!/^\s*\d{1,6}\s*$/.test(countOption)) throw new UsageError(`--shard-count: expected a whole number, got ${quote(countOption)}`);
    return { count: Number(countOption), from: `--shard-count ${Number(countOption)}` };
  }
  if (env.QUIESCELAB_SHARD_COUNT === undefined) {
    throw new UsageError(`--shard auto: found JOB_COMPLETION_INDEX=${env.JOB_COMPLETION_INDEX ?? ''} (Kubernetes Indexed Job) but no count: give --shard-count N or set QUIESCELAB_SHARD_COUNT (the Job's completions)`);
  }
  const count = envNumber(env, 'QUIESCELAB_SHARD_COUNT', 1);
  return { count, from: `QUIESCELAB_SHARD_COUNT=${count}` };
}

/**
 * `--shard auto`: Kubernetes Indexed Jobs (JOB_COMPLETION_INDEX, 0-based, with the count
 * from --shard-count or QUIESCELAB_SHARD_COUNT) first, then GitLab's `parallel:`
 * (CI_NODE_INDEX of CI_NODE_TOTAL, 1-based). Returns the shard and the line saying what was
 * found; nothing found, or values out of range, is a UsageError.
 */
export function shardFromEnv(env: Env, countOption: string | undefined): { spec: ShardSpec; found: string } {
  if (env.JOB_COMPLETION_INDEX !== undefined) {
    const zeroBased = envNumber(env, 'JOB_COMPLETION_INDEX', 0);
    const { count, from } = indexedJobCount(env, countOption);
    if (count < 1 || count > MAX_SHARDS) throw new UsageError(`--shard auto: the count must be between 1 and ${MAX_SHARDS}, got ${count} (${from})`);
    if (zeroBased >= count) throw new UsageError(`--shard auto: JOB_COMPLETION_INDEX=${zeroBased} is not below the count ${count} (${from})`);
    return { spec: { index: zeroBased + 1, count }, found: `shard ${zeroBased + 1}/${count} from JOB_COMPLETION_INDEX=${zeroBased} (Kubernetes Indexed Job, 0-based) and ${from}` };
  }
  if (env.CI_NODE_INDEX !== undefined || env.CI_NODE_TOTAL !== undefined) {
    if (env.CI_NODE_INDEX === undefined || env.CI_NODE_TOTAL === undefined) {
      throw new UsageError(`--shard auto: found ${env.CI_NODE_INDEX === undefined ? 'CI_NODE_TOTAL' : 'CI_NODE_INDEX'} without ${env.CI_NODE_INDEX === undefined ? 'CI_NODE_INDEX' : 'CI_NODE_TOTAL'} (GitLab parallel sets both)`);
    }
    const index = envNumber(env, 'CI_NODE_INDEX', 1);
    const count = envNumber(env, 'CI_NODE_TOTAL', 1);
    if (count > MAX_SHARDS) throw new UsageError(`--shard auto: CI_NODE_TOTAL: must be at most ${MAX_SHARDS}, got ${count}`);
    if (index > count) throw new UsageError(`--shard auto: CI_NODE_INDEX=${index} is above CI_NODE_TOTAL=${count}`);
    if (countOption !== undefined && Number(countOption) !== count) throw new UsageError(`--shard-count: ${quote(countOption)} but CI_NODE_TOTAL=${count} (GitLab parallel)`);
    return { spec: { index, count }, found: `shard ${index}/${count} from CI_NODE_INDEX=${index} and CI_NODE_TOTAL=${count} (GitLab parallel, 1-based)` };
  }
  throw new UsageError('--shard auto: found neither JOB_COMPLETION_INDEX (Kubernetes Indexed Job) nor CI_NODE_INDEX/CI_NODE_TOTAL (GitLab parallel) in the environment: give --shard I/N');
}

/**
 * Deals the tasks (their estimated costs, in task order) to `count` shards: the costliest
 * first, each to the least loaded shard. Returns, per shard (0-based), its task indexes in
 * task order.
 */
export function planShards(costs: readonly number[], count: number): number[][] {
  assert(Number.isInteger(count) && count >= 1 && count <= MAX_SHARDS, `shard count ${count}`);
  assert(costs.every((c) => Number.isFinite(c) && c >= 0), 'task costs are finite and not negative');
  const order = costs.map((_, i) => i).sort((a, b) => (costs[b] ?? 0) - (costs[a] ?? 0) || a - b);
  const load = new Array<number>(count).fill(0);
  const shards: number[][] = Array.from({ length: count }, () => []);
  for (const i of order) {
    let least = 0;
    for (let s = 1; s < count; s++) if ((load[s] ?? 0) < (load[least] ?? 0)) least = s;
    load[least] = (load[least] ?? 0) + (costs[i] ?? 0);
    shards[least]?.push(i);
  }
  for (const s of shards) s.sort((a, b) => a - b);
  return shards;
}
