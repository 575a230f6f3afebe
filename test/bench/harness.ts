/**
 * The benchmark harness: each suite measures with the real clock (this is test/, not a
 * deterministic layer) and reports named figures. `npm run bench` runs every suite and
 * prints a table; `--json FILE` also writes the figures.
 */

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface Figure {
  readonly suite: string;
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly note?: string;
}

export type Report = (name: string, value: number, unit: string, note?: string) => void;

export interface BenchSuite {
  readonly name: string;
  run(report: Report): Promise<void> | void;
}

/** Runs `fn` repeatedly for at least `minMs` and returns operations per second. */
export function opsPerSecond(fn: () => number, minMs = 500): number {
  let ops = 0;
  const start = process.hrtime.bigint();
  let elapsedNs = 0n;
  const minNs = BigInt(minMs) * 1_000_000n;
  while (elapsedNs < minNs) {
    ops += fn();
    elapsedNs = process.hrtime.bigint() - start;
  }
  return ops / (Number(elapsedNs) / 1e9);
}

/** Wall time of one call, in milliseconds (median of `repeats`). */
export function timeMs(fn: () => void, repeats = 5): number {
  const samples: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = process.hrtime.bigint();
    fn();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] ?? 0;
}

/** A forced full GC, so heap deltas mean something and a measurement does not pay for earlier garbage (bench only; the flag is set at runtime). */
export function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as unknown;
  // Twice: array buffers of objects found dead in the first pass are freed by the second.
  if (typeof gc === 'function') for (let i = 0; i < 2; i++) (gc as () => void)();
}
