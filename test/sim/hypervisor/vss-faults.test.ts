/**
 * The VSS requestor under writer and provider faults (notes facts 9-11): each outcome is
 * the documented one, the guest is always thawed afterwards, no VmSnapshot is left behind
 * by a failed attempt, and the writer's hold is always released.
 */

import { describe, expect, it } from 'vitest';
import { sToUs } from '../../../core/clock.js';
import type { VssWriterError } from '../../../core/hypervisor-port.js';
import { unwrap } from '../../../core/result.js';
import { createFilesApp } from '../../../sim/apps/files/files-app.js';
import { WRITER_PHASES, type WriterPhase } from '../../../sim/vss/faulty-writer.js';
import type { QuiesceFaults } from '../../../sim/hypervisor/sim-vm.js';
import { SimHypervisor } from '../../../sim/hypervisor/sim-hypervisor.js';
import { Simulation } from '../../../sim/kernel/simulation.js';
import { probeFactory, type ProbeLog } from '../../support/probe-app.js';
import { judgeSnapshot } from './helpers.js';

const WRITER = 'Probe Writer (sqlserver)';

async function world(faults: QuiesceFaults, seed = 3) {
  const log: ProbeLog = { calls: [] };
  const factories = { sqlserver: probeFactory(log), files: createFilesApp };
  const hv = new SimHypervisor({ sim: new Simulation({ seed }), apps: factories });
  const vm = unwrap(hv.addVm({ name: 'sql', guestOs: 'win2019', tools: 'esx41', apps: ['sqlserver', 'files'], disks: [{ capacityBytes: 64 * 1024 * 1024 }] }));
  hv.setQuiesceFaults(vm.vmId, faults);
  hv.startWorkload(vm.vmId, 'sqlserver', { meanIntervalUs: 10_000 });
  hv.startWorkload(vm.vmId, 'files', { meanIntervalUs: 10_000 });
  hv.runFor(sToUs(2));
  const result = await hv.createSnapshot(vm.vmId, { name: 'b', quiesce: true, memory: false });
  return { hv, vm, log, result, factories };
}

function expectThawedAndRunning(w: Awaited<ReturnType<typeof world>>): void {
  for (const v of w.vm.guest?.volumes ?? []) expect(v.isFrozen).toBe(false);
  const before = w.vm.app('sqlserver').acknowledged().length;
  w.hv.runFor(sToUs(1));
  expect(w.vm.app('sqlserver').acknowledged().length, 'the writer released its hold').toBeGreaterThan(before);
}

describe('VSS requestor', () => {
  it('runs every phase in order and reaches application level', async () => {
    const w = await world({});
    const snap = unwrap(w.result);
    expect(snap.quiesce).toMatchObject({ mode: 'application', quiescer: 'vss', fault: null, attempts: 1 });
    expect(w.log.calls).toEqual(['identify', 'prepareForBackup:full', 'prepareForSnapshot', 'freeze', 'thaw', 'postSnapshot']);
    expect(snap.quiesce.writers).toEqual([{ writer: WRITER, app: 'sqlserver', state: 'WAITING_FOR_BACKUP_COMPLETE', error: null }]);
    const verdict = judgeSnapshot(w.hv, w.vm.vmId, snap, w.factories);
    expect(verdict.apps.sqlserver?.level).toBe('application');
    expect(verdict.apps.files?.level, 'an app without a writer never exceeds filesystem').toBe('filesystem');
    const after = unwrap(await w.hv.completeBackup(w.vm.vmId, snap.snapshotId, true));
    expect(after[0]?.state).toBe('STABLE');
    expect(w.log.calls.at(-1)).toBe('backupComplete:true');
    expectThawedAndRunning(w);
  });

  const NON_RETRYABLE: VssWriterError[] = ['NONRETRYABLE', 'INCONSISTENTSNAPSHOT'];
  const SNAPSHOT_PHASES = WRITER_PHASES.filter((p) => p !== 'backupComplete');
  it.each(SNAPSHOT_PHASES.flatMap((phase) => NON_RETRYABLE.map((error) => ({ phase, error }))))(
    'a writer failing $phase with $error falls back to filesystem and names the writer',
    async ({ phase, error }: { phase: WriterPhase; error: VssWriterError }) => {
      const w = await world({ writers: { [WRITER]: { phase, error } } });
      const snap = unwrap(w.result);
      expect(snap.quiesce.mode).toBe('filesystem');
      expect(snap.quiesce.fault).toMatchObject({ kind: 'ApplicationQuiesceFault', writers: [WRITER] });
      expect(snap.quiesce.writers[0]?.state).toMatch(/^FAILED_AT_/);
      expect(snap.quiesce.attempts).toBe(1);
      const verdict = judgeSnapshot(w.hv, w.vm.vmId, snap, w.factories);
      expect(verdict.vm).toBe('filesystem');
      expect(verdict.apps.sqlserver?.level).toBe('filesystem');
      expectThawedAndRunning(w);
    },
  );

  it('retries a retryable error and then succeeds', async () => {
    const w = await world({ writers: { [WRITER]: { phase: 'freeze', error: 'RETRYABLE', times: 2 } } });
    const snap = unwrap(w.result);
    expect(snap.quiesce).toMatchObject({ mode: 'application', attempts: 3, fault: null });
    expect(w.log.calls.filter((c) => c === 'abort')).toHaveLength(2);
    // Each aborted attempt's VmSnapshot was discarded: only the kept one exists on every disk.
    for (const d of w.vm.disks) expect(d.disk.listSnapshots()).toHaveLength(1);
    expectThawedAndRunning(w);
  });

  it('gives up after 3 retries of a writer that keeps failing retryably', async () => {
    const w = await world({ writers: { [WRITER]: { phase: 'prepareForSnapshot', error: 'TIMEOUT' } } });
    const snap = unwrap(w.result);
    expect(snap.quiesce.attempts).toBe(4);
    expect(snap.quiesce.mode).toBe('filesystem');
    expect(snap.quiesce.writers[0]).toMatchObject({ state: 'FAILED_AT_PREPARE_SNAPSHOT', error: 'TIMEOUT' });
    expectThawedAndRunning(w);
  });

  it('a provider commit over 10 s aborts every attempt: no snapshot, a FilesystemQuiesceFault', async () => {
    const w = await world({ snapshotCommitUs: sToUs(11) });
    expect(w.result.ok).toBe(false);
    if (w.result.ok) return;
    expect(w.result.error).toMatchObject({ kind: 'quiesce', fault: { kind: 'FilesystemQuiesceFault' } });
    if (w.result.error.kind !== 'quiesce') return;
    expect(w.result.error.fault.reason).toMatch(/VSS_E_FLUSH_WRITES_TIMEOUT/);
    expect(w.result.error.outcome.attempts).toBe(4);
    for (const d of w.vm.disks) expect(d.disk.listSnapshots()).toEqual([]);
    expectThawedAndRunning(w);
  });

  it('a commit of 9 s is within the limit', async () => {
    const w = await world({ snapshotCommitUs: sToUs(9) });
    expect(unwrap(w.result).quiesce.mode).toBe('application');
  });

  it('a freeze window over 60 s times the writer out (retryable), then falls back', async () => {
    const w = await world({ writers: { [WRITER]: { phase: 'freeze', error: null, extraDurationUs: sToUs(61) } } });
    const snap = unwrap(w.result);
    expect(snap.quiesce.attempts).toBe(4);
    expect(snap.quiesce.mode).toBe('filesystem');
    expect(snap.quiesce.writers[0]).toMatchObject({ state: 'FAILED_AT_THAW', error: 'TIMEOUT' });
    expectThawedAndRunning(w);
  });

  it('a freeze window that overran once succeeds on the retry', async () => {
    const w = await world({ writers: { [WRITER]: { phase: 'freeze', error: null, extraDurationUs: sToUs(61), times: 1 } } });
    const snap = unwrap(w.result);
    expect(snap.quiesce).toMatchObject({ mode: 'application', attempts: 2 });
  });

  it('commits wait while the writer is frozen: none is acknowledged inside the freeze window', async () => {
    const w = await world({ writers: { [WRITER]: { phase: 'freeze', error: null, extraDurationUs: sToUs(5), times: 1 } } });
    const snap = unwrap(w.result);
    const { freezeStartUs, thawUs } = snap.quiesce;
    expect(freezeStartUs).not.toBeNull();
    const inside = w.vm.app('sqlserver').acknowledged().filter((a) => a.timeUs > (freezeStartUs ?? 0) && a.timeUs < (thawUs ?? 0));
    expect(inside).toEqual([]);
  });

  it('vss.disableAppQuiescing and the conditions of fact 2 give file-system quiescing without writers', async () => {
    for (const flags of [{ disableAppQuiescing: true }, { enableUuid: false }, { encrypted: true }]) {
      const log: ProbeLog = { calls: [] };
      const hv = new SimHypervisor({ sim: new Simulation({ seed: 1 }), apps: { sqlserver: probeFactory(log) } });
      const vm = unwrap(hv.addVm({ name: 'x', guestOs: 'win2016', tools: 'esx41', apps: ['sqlserver'], flags, disks: [{ capacityBytes: 64 * 1024 * 1024 }] }));
      const snap = unwrap(await hv.createSnapshot(vm.vmId, { name: 'b', quiesce: true, memory: false }));
      expect(snap.quiesce.mode).toBe('filesystem');
      expect(snap.quiesce.limitedBy).not.toBeNull();
      expect(log.calls).toEqual([]);
    }
  });
});
