/**
 * Linux quiescing with guest scripts (notes facts 5-8): order of backupScripts.d and the
 * legacy scripts, freezeFail after a failing freeze script, a hanging script killed at
 * Tools' limit, a failing thaw script, an already-frozen file system, and application
 * level through a freeze script that holds the application. The guest is thawed on every
 * path and a failed quiesce leaves no VmSnapshot.
 */

import { describe, expect, it } from 'vitest';
import { sToUs } from '../../../core/clock.js';
import { unwrap } from '../../../core/result.js';
import { createFilesApp } from '../../../sim/apps/files/files-app.js';
import { LEGACY_POST_THAW, LEGACY_PRE_FREEZE, SCRIPTS_DIR, type GuestScript } from '../../../sim/guest/quiesce/scripts.js';
import type { LinuxFreezeSupport } from '../../../sim/guest/catalog.js';
import { SimHypervisor } from '../../../sim/hypervisor/sim-hypervisor.js';
import { Simulation } from '../../../sim/kernel/simulation.js';
import { probeFactory, type ProbeLog } from '../../support/probe-app.js';
import { judgeSnapshot } from './helpers.js';

async function linux(scripts: readonly GuestScript[], options: { timeoutMs?: number; tools?: 'esx35u2' | 'esx41'; preFreeze?: boolean; kernel?: LinuxFreezeSupport } = {}) {
  const log: ProbeLog = { calls: [] };
  const factories = { sqlite: probeFactory(log, 'sqlite'), files: createFilesApp };
  const hv = new SimHypervisor({ sim: new Simulation({ seed: 5 }), apps: factories });
  const vm = unwrap(hv.addVm({ name: 'web', guestOs: 'linux', tools: options.tools ?? 'esx41', apps: ['sqlite', 'files'], disks: [{ capacityBytes: 64 * 1024 * 1024 }], linuxFreeze: options.kernel ?? 'fifreeze' }));
  hv.installScripts(vm.vmId, scripts);
  hv.startWorkload(vm.vmId, 'sqlite', { meanIntervalUs: 10_000 });
  hv.startWorkload(vm.vmId, 'files', { meanIntervalUs: 10_000 });
  hv.runFor(sToUs(2));
  const system = vm.guest?.volumes[0];
  if (options.preFreeze === true && system !== undefined) unwrap(system.freeze());
  const result = await hv.createSnapshot(vm.vmId, {
    name: 'b', quiesce: true, memory: false, ...options.timeoutMs === undefined ? {} : { quiesceSpec: { vssBackupType: 'full', timeoutMs: options.timeoutMs } },
  });
  return { hv, vm, log, result, factories };
}

const script = (name: string, on: GuestScript['on'] = {}): GuestScript => ({ path: `${SCRIPTS_DIR}/${name}`, on });

describe('Linux freeze scripts', () => {
  it('run in the documented order: legacy pre-freeze, ascending; thaw descending, legacy post-thaw last', async () => {
    const w = await linux([script('20-b'), { path: LEGACY_POST_THAW, on: {} }, script('10-a'), { path: LEGACY_PRE_FREEZE, on: {} }]);
    const snap = unwrap(w.result);
    expect(snap.quiesce.scripts.map((s) => `${s.argument} ${s.path}`)).toEqual([
      `freeze ${LEGACY_PRE_FREEZE}`, `freeze ${SCRIPTS_DIR}/10-a`, `freeze ${SCRIPTS_DIR}/20-b`,
      `thaw ${SCRIPTS_DIR}/20-b`, `thaw ${SCRIPTS_DIR}/10-a`, `thaw ${LEGACY_POST_THAW}`,
    ]);
    expect(snap.quiesce).toMatchObject({ quiescer: 'fifreeze', mode: 'filesystem' });
  });

  it('a nonzero freeze exit aborts the quiesce; the scripts that froze get freezeFail, newest first', async () => {
    const w = await linux([script('10-a'), script('20-b', { freeze: { exitCode: 3 } }), script('30-c')]);
    expect(w.result.ok).toBe(false);
    if (w.result.ok || w.result.error.kind !== 'quiesce') throw new Error('expected a quiesce fault');
    expect(w.result.error.fault).toEqual({ kind: 'FilesystemQuiesceFault', reason: `Custom quiesce script failed: ${SCRIPTS_DIR}/20-b exited 3` });
    expect(w.result.error.outcome.scripts.map((s) => `${s.argument} ${s.path.slice(-4)}`)).toEqual(['freeze 10-a', 'freeze 20-b', 'freezeFail 20-b', 'freezeFail 10-a']);
    for (const d of w.vm.disks) expect(d.disk.listSnapshots()).toEqual([]);
    for (const v of w.vm.guest?.volumes ?? []) expect(v.isFrozen).toBe(false);
  });

  it('a hanging freeze script is killed at the quiesce time limit', async () => {
    const w = await linux([script('10-hang', { freeze: { hang: true } })], { timeoutMs: 60_000 });
    if (w.result.ok || w.result.error.kind !== 'quiesce') throw new Error('expected a quiesce fault');
    expect(w.result.error.fault.reason).toMatch(/10-hang timed out/);
    expect(w.result.error.outcome.scripts[0]).toMatchObject({ exitCode: null, timedOut: true, durationUs: sToUs(60) });
    for (const v of w.vm.guest?.volumes ?? []) expect(v.isFrozen).toBe(false);
  });

  it('a failing thaw script lets the others thaw, then fails the snapshot', async () => {
    const w = await linux([script('10-a'), script('20-b', { thaw: { exitCode: 1 } })]);
    if (w.result.ok || w.result.error.kind !== 'quiesce') throw new Error('expected a quiesce fault');
    expect(w.result.error.fault.reason).toMatch(/thaw .*20-b exited 1/);
    expect(w.result.error.outcome.scripts.map((s) => `${s.argument} ${s.path.slice(-4)} ${String(s.exitCode)}`)).toEqual(['freeze 10-a 0', 'freeze 20-b 0', 'thaw 20-b 1', 'thaw 10-a 0']);
    for (const d of w.vm.disks) expect(d.disk.listSnapshots()).toEqual([]);
    for (const v of w.vm.guest?.volumes ?? []) expect(v.isFrozen).toBe(false);
  });

  it('an already-frozen file system fails the quiesce (open-vm-tools 12.2+)', async () => {
    const w = await linux([], { preFreeze: true });
    if (w.result.ok || w.result.error.kind !== 'quiesce') throw new Error('expected a quiesce fault');
    expect(w.result.error.fault.reason).toMatch(/already frozen/);
  });

  it('a freeze script that holds the application makes it application-consistent; without it, filesystem', async () => {
    const held = await linux([script('10-db', { freeze: { action: 'sqlite:lock' }, thaw: { action: 'sqlite:lock' }, freezeFail: { action: 'sqlite:lock' } })]);
    const snap = unwrap(held.result);
    expect(held.log.calls).toEqual(['script:freeze', 'script:thaw']);
    expect(judgeSnapshot(held.hv, held.vm.vmId, snap, held.factories).apps.sqlite?.level).toBe('application');
    const plain = await linux([]);
    expect(judgeSnapshot(plain.hv, plain.vm.vmId, unwrap(plain.result), plain.factories).apps.sqlite?.level).toBe('filesystem');
  });

  it('Tools of 3.5 U2 to 4.0 only sync: no scripts, no hold, and the image needs journal replay', async () => {
    const w = await linux([script('10-db', { freeze: { action: 'sqlite:lock' } })], { tools: 'esx35u2' });
    const snap = unwrap(w.result);
    expect(snap.quiesce).toMatchObject({ quiescer: 'sync-only', scripts: [] });
    const verdict = judgeSnapshot(w.hv, w.vm.vmId, snap, w.factories);
    expect(verdict.vm).toBe('crash');
  });

  it('falls back from FIFREEZE to vmsync (same hold) and then to the sync-only driver by kernel', async () => {
    const vmsync = await linux([], { kernel: 'vmsync' });
    const snap = unwrap(vmsync.result);
    expect(snap.quiesce.quiescer).toBe('vmsync');
    expect(judgeSnapshot(vmsync.hv, vmsync.vm.vmId, snap, vmsync.factories).vm).toBe('filesystem');
    const none = await linux([], { kernel: 'none' });
    const weak = unwrap(none.result);
    expect(weak.quiesce.quiescer).toBe('sync-only');
    expect(judgeSnapshot(none.hv, none.vm.vmId, weak, none.factories).vm).toBe('crash');
  });
});
