/**
 * Sharded speed-up (issue 19): a filtered matrix (QL_BENCH_SHARD_ARGS, default 38 cells of
 * win2003-x64 and linux under the two older Tools, --runs 5, the hunts of the mutants
 * with those cells) split into N = 1, 2 and 4 shards, each shard a separate process of the
 * built CLI (`npm run build` first) with one worker (`--workers 1`), all N started
 * together; then `merge`. Reports the wall time of each N (the slowest shard), the ratio
 * against N = 1, the merge's own time and the imbalance (slowest / fastest shard). On this
 * 2-core machine 4 shards share 2 cores: the ceiling of the ratio is 2, not 4.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import type { BenchSuite, Report } from './harness.js';

const ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'dist/cli/main.js');
const ARGS = (process.env.QL_BENCH_SHARD_ARGS ?? '--os win2003-x64,linux --tools esx35u1,esx35u2 --runs 5 --mutant-runs 10').split(' ').filter((a) => a !== '');

async function timed(args: readonly string[]): Promise<number> {
  const start = process.hrtime.bigint();
  const r = await execa('node', [MAIN, ...args], { cwd: ROOT, reject: false });
  if (r.exitCode !== 0) throw new Error(`quiescelab ${args.join(' ')}: exit ${r.exitCode}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

export const suite: BenchSuite = {
  name: 'shard',
  async run(report: Report) {
    const dir = mkdtempSync(join(tmpdir(), 'ql-bench-shard-'));
    try {
      let single = 0;
      for (const n of [1, 2, 4]) {
        const start = process.hrtime.bigint();
        const shards = await Promise.all(Array.from({ length: n }, (_, i) => timed(['matrix', ...ARGS, '--workers', '1', '--shard', `${i + 1}/${n}`, '--out', join(dir, `n${n}-${i + 1}`)])));
        const wall = Number(process.hrtime.bigint() - start) / 1e9;
        if (n === 1) single = wall;
        const parts = Array.from({ length: n }, (_, i) => join(dir, `n${n}-${i + 1}`, `shard-${i + 1}-of-${n}.json`));
        const merge = await timed(['merge', ...parts, '--out', join(dir, `merged-${n}`)]).catch((e: unknown) => {
          // A failing cell is exit 1 of a merge that worked: time it all the same.
          if (e instanceof Error && /exit 1:/.test(e.message)) return Number.NaN;
          throw e;
        });
        report(`N = ${n}: wall time of the shards (${ARGS.join(' ')})`, wall, 's', `shards ${shards.map((s) => s.toFixed(1)).join(' / ')} s`);
        report(`N = ${n}: speed-up against N = 1`, single / wall, 'x', n > 2 ? '2 cores: at most 2x' : undefined);
        report(`N = ${n}: imbalance, slowest / fastest shard`, Math.max(...shards) / Math.min(...shards), 'x');
        report(`N = ${n}: merge`, merge, 's', 'node start, reading the parts, results.json, report, checks');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
