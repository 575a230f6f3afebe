/**
 * Replication (issue 17): the cycle throughput through the link model and what
 * white-space skipping saves.
 *
 * - Link throughput: a VM replicated over links of 2, 8 and 32 MB/s (5 ms latency), the
 *   first cycle (full, white space skipped) and the CBT cycles: bytes sent per second of
 *   virtual cycle time (start to end, quiescing and the snapshot's removal included), as a
 *   share of the link's bandwidth.
 * - White space on a half-empty disk: the cell VM's files app volume filled to 90 % with
 *   files (written and fsynced through the guest's file system), every other one deleted,
 *   then one full cycle with white-space skipping and one without (CBT's allocated areas:
 *   the virtual disk's written grains, deleted files' included): bytes sent each way and
 *   the virtual time of the cycle.
 * - Wall time: replication scenarios per second against backup scenarios per second of the
 *   same cell, measured in the same run (the replication suite's share of the matrix).
 */

import fc from 'fast-check';
import { unwrap } from '../../core/result.js';
import { findCell } from '../../scenarios/cells.js';
import { PROTOCOL_VERSION } from '../../scenarios/engine-api.js';
import { builtinEngine } from '../../scenarios/engine-builtin.js';
import { scenarioArb } from '../../scenarios/scenario/arbitraries.js';
import { runReplication, type ReplicationSpec } from '../../scenarios/scenario/replication-run.js';
import { runScenario } from '../../scenarios/scenario/run.js';
import { REPLICATION_SUITE, replicationArb, replicationForRun } from '../../scenarios/suites/replication-suite.js';
import { DrSite } from '../../scenarios/scenario/dr-site.js';
import { bootCellWorld } from '../../scenarios/scenario/world.js';
import { replicate, REPLICATION_DEFAULTS } from '../../engine/replication/replicator.js';
import type { ReplicaState } from '../../engine/replication/replica-target.js';
import { prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';
import type { BenchSuite, Report } from './harness.js';

const CELL = 'linux/esx41/files/default';
const MB = 1e6;

function baseSpec(bytesPerSecond: number): ReplicationSpec {
  return {
    seed: 7, cellId: CELL, policy: 'try', intervalMs: 3_000, cycles: 4, keepPoints: 2, whiteSpace: true,
    link: { bytesPerSecond, latencyMs: 5 }, fault: { kind: 'none' }, after: 'none', drWorkMs: 0,
    workload: { meanIntervalMs: 20, opsPerTxn: 2, valueBytes: 400 },
  };
}

async function linkThroughput(report: Report): Promise<void> {
  for (const bw of [2 * MB, 8 * MB, 32 * MB]) {
    const engine = builtinEngine();
    await engine.initialize({ protocolVersion: PROTOCOL_VERSION, seed: 7 });
    const o = await runReplication(baseSpec(bw), engine);
    const rate = (cycles: typeof o.cycles): number => {
      const bytes = cycles.reduce((n, c) => n + c.bytesSent, 0);
      const us = cycles.reduce((n, c) => n + (c.endUs - c.startUs), 0);
      return us === 0 ? 0 : bytes / us;
    };
    const full = o.cycles.filter((c) => c.kind === 'full');
    const incr = o.cycles.filter((c) => c.kind === 'incremental');
    report(`full cycle over a ${bw / MB} MB/s link`, rate(full), 'MB/s', `${((rate(full) * MB) / bw * 100).toFixed(0)} % of the link; ${full[0]?.bytesSent ?? 0} bytes`);
    report(`CBT cycle over a ${bw / MB} MB/s link`, rate(incr), 'MB/s', `${((rate(incr) * MB) / bw * 100).toFixed(0)} % of the link; ${incr.length} cycles, ${Math.round(incr.reduce((n, c) => n + c.bytesSent, 0) / Math.max(1, incr.length))} bytes each`);
  }
}

/**
 * Makes the files app's volume half empty the way a disk becomes so: files written (and
 * fsynced) until `high` of the free space is used, then every other one deleted. The
 * virtual disk keeps every block it was written (CBT's allocated areas cover them all);
 * the file system's bitmap frees half.
 */
function halfEmpty(world: ReturnType<typeof bootCellWorld>, high: number): void {
  const guest = world.vm.guest;
  if (guest === null) throw new Error('the VM runs');
  const fs = guest.volumes[guest.volumes.length - 1];
  if (fs === undefined) throw new Error('a volume');
  unwrap(fs.mkdir('/bench'));
  const chunk = new Uint8Array(256 * 1024).map((_, i) => (i * 31 + 7) & 0xff);
  const free0 = fs.stats().freeBlocks;
  let files = 0;
  while (fs.stats().freeBlocks > free0 * (1 - high)) {
    const h = unwrap(fs.create(`/bench/f-${files++}`));
    unwrap(fs.write(h, 0, chunk));
    unwrap(fs.fsync(h));
    fs.close(h);
  }
  for (let i = 0; i < files; i += 2) unwrap(fs.unlink(`/bench/f-${i}`));
  unwrap(fs.sync());
}

async function whiteSpace(report: Report): Promise<void> {
  const sent: Record<string, { bytes: number; us: number }> = {};
  for (const ws of [true, false]) {
    const cell = findCell(CELL);
    if (cell === undefined) throw new Error(CELL);
    const world = bootCellWorld(cell, { seed: 3 });
    halfEmpty(world, 0.9);
    const site = new DrSite(world.hv, world.factories, { bytesPerSecond: 8 * MB, latencyMs: 5 }, { kind: 'none' });
    const state: ReplicaState = { handle: 'bench', sourceVmId: world.vm.vmId, replicaVmId: null, parent: null, points: [], cycles: 0, failedOver: null };
    const clock = world.hv.sim.clock;
    const [c] = await replicate({ source: site.sourcePort, dr: site.port, clock, waitUntil: () => Promise.resolve() }, state, {
      vmId: world.vm.vmId, policy: 'try', intervalUs: 1_000_000, untilUs: clock.nowUs() + 1, keepPoints: 1, whiteSpace: ws,
    }, REPLICATION_DEFAULTS);
    sent[String(ws)] = { bytes: c?.bytesSent ?? 0, us: (c?.endUs ?? 0) - (c?.startUs ?? 0) };
    if (ws) report('white space skipped on a half-full 16 MiB disk', c?.bytesSkippedWhiteSpace ?? 0, 'bytes');
    world.hv.dispose();
  }
  const on = sent['true'] ?? { bytes: 0, us: 0 };
  const off = sent['false'] ?? { bytes: 0, us: 1 };
  report('first cycle sent, white space skipped', on.bytes, 'bytes', `${(on.us / 1e6).toFixed(2)} s of virtual time`);
  report('first cycle sent, whole disk (CBT allocated areas)', off.bytes, 'bytes', `${(off.us / 1e6).toFixed(2)} s of virtual time`);
  report('bytes saved by white-space skipping', off.bytes === 0 ? 0 : (1 - on.bytes / off.bytes) * 100, '%', `cycle time ${(on.us / Math.max(1, off.us)).toFixed(2)}x`);
}

async function wallRates(report: Report): Promise<void> {
  const cell = findCell('win2019/esx41/sqlserver/default');
  if (cell === undefined) throw new Error('cell');
  const specs = fc.sample(replicationArb(cell), { seed: 5, numRuns: 8 }).map((s, i) => replicationForRun(s, i));
  const backups = fc.sample(scenarioArb('win2019/esx41/sqlserver/default'), { seed: 5, numRuns: 8 });
  let replicationMs = 0;
  let backupMs = 0;
  for (let round = 0; round < 2; round++) {
    for (const [i, s] of specs.entries()) {
      const engine = builtinEngine();
      await engine.initialize({ protocolVersion: PROTOCOL_VERSION, seed: s.seed });
      let t = performance.now();
      await REPLICATION_SUITE.run(s, engine);
      replicationMs += performance.now() - t;
      t = performance.now();
      await runScenario(backups[i] ?? (backups[0] as never));
      backupMs += performance.now() - t;
    }
  }
  report('replication scenarios per second (win2019 sqlserver)', (specs.length * 2) / (replicationMs / 1000), '/s', `${(backupMs / replicationMs).toFixed(2)}x the backup scenarios' rate, interleaved`);
}

export const suite: BenchSuite = {
  name: 'replication',
  async run(report) {
    await prepareDefaultApps();
    await linkThroughput(report);
    await whiteSpace(report);
    await wallRates(report);
  },
};
