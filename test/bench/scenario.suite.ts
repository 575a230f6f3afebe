/**
 * Scenario throughput (issue 5): backup scenarios per second on one core — boot the cell's
 * VM, run the workload (crash injection included where the drawn fault has one), back up
 * (full + CBT incrementals), read back and classify every point, restore a VM — for cells
 * with modelled applications and for SQLite, with the share of each phase. Specs are drawn
 * from the suite's own arbitrary (fixed seed), so the mix of faults and workloads is the
 * matrix's. For the same specs, the repository's byte work alone: what every scenario's
 * stored chunks cost to cut, hash and compress on the way in and to CRC, decompress and
 * hash on the way out, with the real functions (each unique chunk is read once: the
 * repository's checked-chunks memo serves the rest) — a floor no simulation speed-up can
 * go under while the scenario backs up into a real repository. Then the wall time of the
 * whole default matrix through the CLI's worker pool, at QL_BENCH_MATRIX_RUNS runs per
 * cell (default 2), and its extrapolation to 100 runs.
 */

import fc from 'fast-check';
import { selectCells } from '../../scenarios/cells.js';
import { scenarioArb } from '../../scenarios/scenario/arbitraries.js';
import { crc32 } from '../../core/crc32.js';
import { compressChunk, decompressBlob } from '../../engine/repository/compression.js';
import { sha256Hex } from '../../engine/repository/hash.js';
import { unwrap } from '../../core/result.js';
import { Repository } from '../../engine/repository/repository.js';
import { runScenario, runScenarioKeeping, type ScenarioPhase } from '../../scenarios/scenario/run.js';
import { prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';
import { runCellsInPool } from '../../cli/pool.js';
import type { BenchSuite, Report } from './harness.js';

async function throughput(cells: readonly string[], perCell: number): Promise<{ rate: number; phases: Map<string, number> }> {
  const phases = new Map<string, number>();
  let current: ScenarioPhase | null = null;
  let mark = process.hrtime.bigint();
  const onPhase = (next: ScenarioPhase | 'end'): void => {
    const now = process.hrtime.bigint();
    if (current !== null) phases.set(current, (phases.get(current) ?? 0) + Number(now - mark) / 1e6);
    current = next === 'end' ? null : next;
    mark = now;
  };
  let count = 0;
  const start = process.hrtime.bigint();
  for (const cellId of cells) {
    for (const spec of fc.sample(scenarioArb(cellId), { seed: 7, numRuns: perCell })) {
      await runScenario(spec, { onPhase });
      count++;
    }
  }
  return { rate: count / (Number(process.hrtime.bigint() - start) / 1e9), phases };
}

/**
 * Milliseconds per scenario of the repository's byte work for its stored chunks: cut,
 * SHA-256 and compress each (the backup), then CRC32, decompress and SHA-256 it (the
 * read-back). Timed apart from the scenarios, with the repository's own codec settings.
 */
async function byteWorkMs(cells: readonly string[], perCell: number): Promise<{ ms: number; rawBytes: number }> {
  let ns = 0n;
  let rawBytes = 0;
  let count = 0;
  for (const cellId of cells) {
    for (const spec of fc.sample(scenarioArb(cellId), { seed: 7, numRuns: perCell })) {
      const { store } = await runScenarioKeeping(spec);
      const repo = unwrap(await Repository.open(store, { clock: { nowUs: () => 0 } }));
      const chunks: Uint8Array[] = [];
      for (const id of repo.index.keys()) chunks.push(unwrap(await repo.loadChunk(id)));
      const start = process.hrtime.bigint();
      for (const raw of chunks) {
        for (let at = 0; at < raw.length;) at += repo.chunker.cut(raw, at, raw.length, true);
        sha256Hex(raw);
        const stored = compressChunk(raw, repo.codec);
        crc32(stored.bytes);
        crc32(stored.bytes);
        sha256Hex(unwrap(decompressBlob(stored.compression, stored.bytes, raw.length)));
        rawBytes += raw.length;
      }
      ns += process.hrtime.bigint() - start;
      count++;
    }
  }
  return { ms: Number(ns) / 1e6 / count, rawBytes: rawBytes / count };
}

function shares(phases: Map<string, number>): string {
  const total = [...phases.values()].reduce((a, b) => a + b, 0);
  return [...phases].map(([p, ms]) => `${p} ${Math.round((100 * ms) / total)}%`).join(', ');
}

export const suite: BenchSuite = {
  name: 'scenario',
  async run(report: Report) {
    await prepareDefaultApps();
    const modelled = ['win2019/esx41/sqlserver/default', 'win2019/esx41/exchange/default', 'win2019/esx41/ntds/default', 'linux/esx41/files/default', 'win2003-x64/esx35u1/sqlserver/default'];
    await throughput(modelled.slice(0, 1), 3); // warm the JIT
    const m = await throughput(modelled, 12);
    report('backup scenarios/s per core, modelled apps', m.rate, 'scen/s', shares(m.phases));
    const mb = await byteWorkMs(modelled, 12);
    report('  repository byte work per scenario, same specs', mb.ms, 'ms', `${(mb.rawBytes / 1e6).toFixed(2)} MB of unique chunks cut, hashed, compressed, CRC'd, decompressed, hashed; alone it allows ${(1000 / mb.ms).toFixed(0)} scen/s`);
    const sqlite = ['linux/esx41/sqlite/script', 'win2019/esx41/sqlite/default'];
    const s = await throughput(sqlite, 12);
    report('backup scenarios/s per core, SQLite (wasm)', s.rate, 'scen/s', shares(s.phases));
    const sb = await byteWorkMs(sqlite, 12);
    report('  repository byte work per scenario, same specs', sb.ms, 'ms', `${(sb.rawBytes / 1e6).toFixed(2)} MB of unique chunks; alone it allows ${(1000 / sb.ms).toFixed(0)} scen/s`);
    const runs = Number(process.env.QL_BENCH_MATRIX_RUNS ?? 2);
    const cells = selectCells();
    const start = process.hrtime.bigint();
    await runCellsInPool(cells, { runs, seed: 1, mutant: null, workers: 2 });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    report(`full default matrix (${cells.length} cells) x ${runs} runs, 2 workers`, seconds, 's');
    report('  extrapolated to x 100 runs', (seconds * 100) / runs, 's', 'linear in runs; shrinking adds time only when a property fails');
  },
};
