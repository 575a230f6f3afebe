/**
 * SQL Server point-in-time restore through the engine: a full application-aware backup,
 * native log backups on a schedule, a whole-VM restore and a roll-forward to a random
 * target time lands exactly on it (every transaction committed at or before it, none
 * after), with the log backups in the in-memory twin or in the repository (read back after
 * it is opened again); a broken chain, a damaged log backup in the repository and a VSS
 * snapshot alone are refused before anything is applied.
 */

import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { sToUs } from '../../core/clock.js';
import { unwrap } from '../../core/result.js';
import { runBackup, type EngineEnv } from '../../engine/backup/job.js';
import { MemoryLogStore, runSqlLogBackup, type LogStore } from '../../engine/logbackup/sql-job.js';
import { repositoryLogStore } from '../../engine/repository/log-store.js';
import { Repository } from '../../engine/repository/repository.js';
import { rollForwardSql } from '../../engine/restore/sql-rollforward.js';
import { restoreVm } from '../../engine/restore/vm.js';
import { MemoryStore } from '../../engine/store/memory-store.js';
import { defaultApps, prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';
import { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';
import { Simulation } from '../../sim/kernel/simulation.js';
import { MemoryTarget, sourceOf } from '../support/memory-target.js';

const MiB = 1024 * 1024;

/** Where the log backups go: the in-memory twin, or the repository (read back through a reader that opened it again). */
type LogsIn = 'memory' | 'repository';

async function scenario(seed: number, logBackups: number, logsIn: LogsIn = 'memory') {
  const hv = new SimHypervisor({ sim: new Simulation({ seed }), apps: defaultApps().factories });
  const vm = unwrap(hv.addVm({ name: 'sql', guestOs: 'win2019', tools: 'esx41', apps: ['sqlserver'], disks: [{ capacityBytes: 32 * MiB }, { capacityBytes: 32 * MiB }] }));
  hv.startWorkload(vm.vmId, 'sqlserver', { meanIntervalUs: 4_000, opsPerTxn: 2, valueBytes: 100 });
  hv.runFor(sToUs(1));
  const target = new MemoryTarget();
  const env: EngineEnv = { port: hv, target, clock: hv.sim.clock };
  const full = unwrap(await runBackup(env, { vmId: vm.vmId, policy: 'require' }));
  const memoryLogs = new MemoryLogStore();
  const store = new MemoryStore();
  unwrap(await Repository.init(store, { clock: hv.sim.clock }));
  const writer = unwrap(await Repository.open(store, { clock: hv.sim.clock, writer: { owner: 'engine' } }));
  const written: LogStore = logsIn === 'memory' ? memoryLogs : repositoryLogStore(writer);
  for (let i = 0; i < logBackups; i++) {
    hv.runFor(300_000);
    unwrap(await runSqlLogBackup({ port: hv, clock: hv.sim.clock, store: written }, { vmId: vm.vmId, basePointId: full.pointId }));
  }
  unwrap(await writer.close());
  const logs: LogStore = logsIn === 'memory' ? memoryLogs : repositoryLogStore(unwrap(await Repository.open(store, { clock: hv.sim.clock })));
  const acks = [...vm.app('sqlserver').acknowledged()];
  const point = target.points.find((p) => p.id === full.pointId);
  if (point === undefined) throw new Error('point');
  return { hv, vm, full, logs, memoryLogs, store, acks, point };
}

describe('SQL Server roll-forward', () => {
  beforeAll(async () => { await prepareDefaultApps(); });

  it.each<LogsIn>(['memory', 'repository'])('lands exactly on a random target time (log backups in %s)', async (logsIn) => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 100_000 }), fc.double({ min: 0, max: 1, noNaN: true }), async (seed, where) => {
      const s = await scenario(seed, 4, logsIn);
      const list = unwrap(await s.logs.list(s.vm.vmId));
      const lo = s.full.meta.snapshotAtUs;
      const hi = list.at(-1)?.backupTimeUs ?? lo;
      const targetUs = Math.floor(lo + where * (hi - lo));
      const restored = unwrap(await restoreVm({ port: s.hv, clock: s.hv.sim.clock }, sourceOf(s.point), { name: 'sql-restored', guestOs: 'win2019', tools: 'esx41', apps: ['sqlserver'] }));
      const report = unwrap(await rollForwardSql({ port: s.hv, clock: s.hv.sim.clock, logs: s.logs }, { vmId: restored.vmId, sourceVmId: s.vm.vmId }, { kind: 'time', timeUs: targetUs }));
      expect(report.applied.length).toBeGreaterThan(0);
      const committed = s.hv.vm(restored.vmId).app('sqlserver').committed();
      const expected = new Set(s.acks.filter((a) => a.timeUs <= targetUs).map((a) => a.id));
      const missing = [...expected].filter((id) => !committed.has(id));
      const extra = [...committed].filter((id) => !expected.has(id));
      expect({ missing, extra }).toEqual({ missing: [], extra: [] });
      expect(restored.rtoUs).toBeGreaterThan(0);
    }), { numRuns: logsIn === 'memory' ? 5 : 3 });
  });

  it('refuses a broken chain before applying anything', async () => {
    const s = await scenario(21, 4);
    const list = unwrap(await s.logs.list(s.vm.vmId));
    const second = list[1];
    if (second === undefined) throw new Error('log backups');
    s.memoryLogs.remove(second.id);
    const restored = unwrap(await restoreVm({ port: s.hv, clock: s.hv.sim.clock }, sourceOf(s.point), { name: 'r', guestOs: 'win2019', tools: 'esx41', apps: ['sqlserver'] }));
    const r = await rollForwardSql({ port: s.hv, clock: s.hv.sim.clock, logs: s.logs }, { vmId: restored.vmId, sourceVmId: s.vm.vmId }, { kind: 'time', timeUs: list.at(-1)?.backupTimeUs ?? 0 });
    expect(r.ok ? null : r.error).toMatchObject({ kind: 'refused', refusal: { kind: 'gap' } });
    const status = JSON.parse(new TextDecoder().decode(unwrap(await s.hv.runInGuest(restored.vmId, 'sqlcmd', ['status'])).stdout)) as { state: string };
    expect(status.state).toBe('RESTORING');
  });

  it('refuses a damaged log backup in the repository before applying anything, naming its pack', async () => {
    const s = await scenario(25, 3, 'repository');
    const list = unwrap(await s.logs.list(s.vm.vmId));
    const pack = unwrap(await s.store.list('packs/'))[0] as string; // one log backup's (the point is not in this repository; the plan needs all three)
    const bytes = unwrap(await s.store.get(pack));
    bytes[20] = (bytes[20] as number) ^ 0x08;
    unwrap(await s.store.put(pack, bytes));
    const restored = unwrap(await restoreVm({ port: s.hv, clock: s.hv.sim.clock }, sourceOf(s.point), { name: 'r', guestOs: 'win2019', tools: 'esx41', apps: ['sqlserver'] }));
    const r = await rollForwardSql({ port: s.hv, clock: s.hv.sim.clock, logs: s.logs }, { vmId: restored.vmId, sourceVmId: s.vm.vmId }, { kind: 'time', timeUs: list.at(-1)?.backupTimeUs ?? 0 });
    expect(r.ok ? null : r.error).toMatchObject({ kind: 'log-store', error: { kind: 'damaged', object: pack } });
    const status = JSON.parse(new TextDecoder().decode(unwrap(await s.hv.runInGuest(restored.vmId, 'sqlcmd', ['status'])).stdout)) as { state: string };
    expect(status.state).toBe('RESTORING');
  });

  it('refuses to roll a VSS snapshot forward without log backups', async () => {
    const s = await scenario(23, 0);
    const restored = unwrap(await restoreVm({ port: s.hv, clock: s.hv.sim.clock }, sourceOf(s.point), { name: 'r', guestOs: 'win2019', tools: 'esx41', apps: ['sqlserver'] }));
    const r = await rollForwardSql({ port: s.hv, clock: s.hv.sim.clock, logs: s.logs }, { vmId: restored.vmId, sourceVmId: s.vm.vmId }, { kind: 'latest' });
    expect(r.ok ? null : r.error).toMatchObject({ kind: 'refused', refusal: { kind: 'no-log-backups' } });
  });
});
