/**
 * Exchange through the backup job (notes fact 15): a full backup truncates the logs once the
 * point is stored (BackupComplete), a copy backup and a differential keep them, an
 * incremental truncates; with circular logging an incremental is refused by the writer —
 * `try` falls back to file-system level and says why, `require` fails the job.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { sToUs } from '../../core/clock.js';
import type { VssBackupType } from '../../core/hypervisor-port.js';
import { unwrap } from '../../core/result.js';
import { runBackup, type EngineEnv } from '../../engine/backup/job.js';
import { exchangeAppFactory } from '../../sim/apps/exchange/index.js';
import { defaultApps, prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';
import { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';
import { Simulation } from '../../sim/kernel/simulation.js';
import { MemoryTarget } from '../support/memory-target.js';

async function generations(hv: SimHypervisor, vmId: Parameters<SimHypervisor['runInGuest']>[0]): Promise<number[]> {
  const out = unwrap(await hv.runInGuest(vmId, 'eseutil', ['list-logs']));
  const parsed = JSON.parse(new TextDecoder().decode(out.stdout)) as { logs?: { gen: number }[] } | { gen: number }[];
  const logs = Array.isArray(parsed) ? parsed : parsed.logs ?? [];
  return logs.map((l) => l.gen);
}

function world(circularLogging = false) {
  const factories = { ...defaultApps().factories, exchange: exchangeAppFactory({ circularLogging, logFileBytes: 16 * 1024 }) };
  const hv = new SimHypervisor({ sim: new Simulation({ seed: 4 }), apps: factories });
  const vm = unwrap(hv.addVm({ name: 'mail', guestOs: 'win2016', tools: 'esx41', apps: ['exchange'], disks: [{ capacityBytes: 64 * 1024 * 1024 }] }));
  hv.startWorkload(vm.vmId, 'exchange', { meanIntervalUs: 5_000, valueBytes: 300 });
  hv.runFor(sToUs(3));
  const env: EngineEnv = { port: hv, target: new MemoryTarget(), clock: hv.sim.clock };
  return { hv, vm, env };
}

describe('Exchange backup types through the engine', () => {
  beforeAll(async () => { await prepareDefaultApps(); });

  it.each<[VssBackupType, boolean]>([['full', true], ['incremental', true], ['copy', false], ['differential', false]])('%s truncates logs: %s', async (type, truncates) => {
    const w = world();
    const before = await generations(w.hv, w.vm.vmId);
    expect(before.length).toBeGreaterThan(2);
    const r = unwrap(await runBackup(w.env, { vmId: w.vm.vmId, policy: 'require', vssBackupType: type }));
    expect(r.meta.claimed.apps.exchange).toBe('application');
    const after = await generations(w.hv, w.vm.vmId);
    const oldest = before[0] ?? 0;
    expect(after.includes(oldest), `generation ${oldest} after a ${type} backup`).toBe(!truncates);
  });

  it('circular logging: an incremental is refused by the writer', async () => {
    const tried = world(true);
    const r = unwrap(await runBackup(tried.env, { vmId: tried.vm.vmId, policy: 'try', vssBackupType: 'incremental' }));
    expect(r.meta.claimed.apps.exchange).toBe('filesystem');
    expect(r.meta.claimed.reasons.join(' ')).toMatch(/FAILED_AT_PREPARE_BACKUP/);
    const required = world(true);
    const failed = await runBackup(required.env, { vmId: required.vm.vmId, policy: 'require', vssBackupType: 'incremental' });
    expect(failed.ok ? null : failed.error.kind).toBe('quiesce-required');
  });
});
