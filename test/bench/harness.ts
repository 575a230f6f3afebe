/**
 * The benchmark harness: each suite measures with the real clock (this is test/, not a
 * deterministic layer) and reports named figures. `npm run bench` runs every suite and
 * prints a table; `--json FILE` also writes the figures.
 */

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
