/**
 * Application-item restore of Active Directory users, end to end: a win2016 domain
 * controller running the simulator's NTDS workload (creates and modifies users) is backed
 * up into a MemoryTarget; `findAdUser` reads users straight from the point's ntds.dit and
 * its ESE logs.
 *
 * Oracle: the simulator's own recovery of the same point: restoreVm opens the directory
 * (soft recovery, sim/apps/exchange/ese-store.ts) and `dsquery user <name>` there gives the
 * user at the point. Users the source DC holds later (created after the cut) must be
 * absent from both. A crash-consistent point needs the log generations after the
 * checkpoint replayed; a byte flipped inside a stored record gives 'damaged'.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { sToUs } from '../../core/clock.js';
import { unwrap } from '../../core/result.js';
import { runBackup } from '../../engine/backup/job.js';
import { findAdUser, type AdUser } from '../../engine/restore/app-items.js';
import { openGuestVolume } from '../../engine/restore/guestfs/index.js';
import type { PointSource } from '../../engine/restore/source.js';
import { restoreVm } from '../../engine/restore/vm.js';
import type { NtdsApp } from '../../sim/apps/ntds/index.js';
import { defaultApps, prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';
import { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';
import { Simulation } from '../../sim/kernel/simulation.js';
import { MemoryTarget, sourceOf, type StoredPoint } from '../support/memory-target.js';

const MiB = 1024 * 1024;
const DIT = '/Windows/NTDS/ntds.dit';
const decoder = new TextDecoder();

beforeAll(async () => { await prepareDefaultApps(); });

async function backedUp(seed: number, policy: 'require' | 'off') {
  const hv = new SimHypervisor({ sim: new Simulation({ seed }), apps: defaultApps().factories });
  const vm = unwrap(hv.addVm({ name: 'dc', guestOs: 'win2016', tools: 'esx41', apps: ['ntds'], disks: [{ capacityBytes: 64 * MiB }] }));
  hv.startWorkload(vm.vmId, 'ntds', { meanIntervalUs: 10_000 });
  hv.runFor(sToUs(4));
  const app = hv.vm(vm.vmId).app('ntds') as unknown as NtdsApp;
  // Users acknowledged before the backup starts (so before its freeze or snapshot), as the DC held them then.
  const before = new Map(app.objects().map((o) => [o.name, o]));
  const target = new MemoryTarget();
  const report = unwrap(await runBackup({ port: hv, target, clock: hv.sim.clock }, { vmId: vm.vmId, policy }));
  const point = target.points.find((p) => p.id === report.pointId);
  if (point === undefined) throw new Error('no point');
  hv.runFor(sToUs(1));
  const names = app.objects().map((o) => o.name);
  return { hv, point, source: sourceOf(point), before, names, claimed: report.meta.claimed.apps.ntds };
}

async function oracle(hv: SimHypervisor, source: PointSource, name: string, users: readonly string[]): Promise<Map<string, AdUser | null>> {
  const restored = unwrap(await restoreVm({ port: hv, clock: hv.sim.clock }, source, { name, guestOs: 'win2016', tools: 'esx41', apps: ['ntds'] }));
  expect(hv.vm(restored.vmId).guest?.openReports.get('ntds')).toMatchObject({ ok: true });
  const out = new Map<string, AdUser | null>();
  for (const user of users) {
    const run = unwrap(await hv.runInGuest(restored.vmId, 'dsquery', ['user', user]));
    if (run.exitCode === 1) {
      out.set(user, null);
      continue;
    }
    expect(run.exitCode).toBe(0);
    out.set(user, JSON.parse(decoder.decode(run.stdout)) as AdUser);
  }
  return out;
}

async function diskOffsetOf(source: PointSource, path: string, offset: number): Promise<number> {
  const diskId = source.disks()[0]?.diskId ?? '';
  const volume = unwrap(await openGuestVolume(source, diskId));
  const inode = unwrap(await volume.lookup(path));
  const block = Math.floor(offset / 4096);
  const extent = inode.extents.find((e) => block >= e.logical && block < e.logical + e.length);
  if (extent === undefined) throw new Error(`no block ${block} in ${path}`);
  return (extent.physical + block - extent.logical) * 4096 + (offset % 4096);
}

async function compareAll(seed: number, policy: 'require' | 'off'): Promise<{ via: Map<string, number>; compared: number }> {
  const w = await backedUp(seed, policy);
  expect(w.claimed).toBe(policy === 'require' ? 'application' : 'crash');
  expect(w.before.size).toBeGreaterThan(20);
  expect(w.names.length).toBeGreaterThan(w.before.size);
  const expected = await oracle(w.hv, w.source, `restored-${seed}`, w.names);
  const via = new Map<string, number>();
  let compared = 0;
  for (const name of w.names) {
    const want = expected.get(name);
    const got = await findAdUser(w.source, name);
    if (want === null || want === undefined) {
      expect(got.ok ? got.value : got.error.kind, name).toBe('not-found');
      continue;
    }
    expect(got.ok ? got.value.value : got.error, name).toEqual(want);
    if (got.ok) via.set(got.value.provenance.via, (via.get(got.value.provenance.via) ?? 0) + 1);
    compared++;
  }
  // Users acknowledged before the backup are there, at that version or a later one.
  for (const [name, user] of w.before) {
    const got = expected.get(name);
    expect(got, name).toBeTruthy();
    expect(got?.usnChanged ?? -1, name).toBeGreaterThanOrEqual(user.usnChanged);
  }
  // Users created after the cut are absent at the point.
  expect(compared).toBeLessThan(w.names.length);
  return { via, compared };
}

describe('Active Directory users straight from a point', () => {
  it('writer-frozen point: every user equals what the restored DC reports', async () => {
    for (const seed of [2, 9]) {
      const { via, compared } = await compareAll(seed, 'require');
      expect(compared).toBeGreaterThan(20);
      expect([...via.keys()]).toEqual(['page']);
    }
  }, 120_000);

  it('crash-consistent point: users changed after the checkpoint come from replaying the log generations', async () => {
    const { via, compared } = await compareAll(5, 'off');
    expect(compared).toBeGreaterThan(20);
    expect(via.get('log') ?? 0).toBeGreaterThan(0);
  }, 120_000);

  it('an absent user is not-found; a bad request is refused', async () => {
    const w = await backedUp(11, 'require');
    const absent = await findAdUser(w.source, 'no-such-user');
    expect(absent.ok ? absent.value : absent.error).toMatchObject({ kind: 'not-found', what: 'obj:no-such-user', file: DIT });
    const bad = await findAdUser(w.source, '');
    expect(bad.ok ? bad.value : bad.error.kind).toBe('bad-request');
  }, 60_000);

  it('a damaged record in ntds.dit is an error naming the file and record, never a value', async () => {
    const w = await backedUp(23, 'require');
    const [name = ''] = w.before.keys();
    const good = unwrap(await findAdUser(w.source, name));
    expect(good.provenance).toMatchObject({ file: DIT, via: 'page' });
    const recordAt = Number(/^offset (\d+)$/.exec(good.provenance.record ?? '')?.[1] ?? NaN);
    expect(recordAt).toBeGreaterThanOrEqual(8192);
    // A byte inside the record's orig.invocationId (still valid JSON, still a well-formed user): only the CRC tells.
    const volume = unwrap(await openGuestVolume(w.source, w.source.disks()[0]?.diskId ?? ''));
    const record = unwrap(await volume.readRange(unwrap(await volume.lookup(DIT)), recordAt, 4096));
    const within = Buffer.from(record).indexOf('"invocationId":"');
    expect(within).toBeGreaterThan(8);
    const at = await diskOffsetOf(w.source, DIT, recordAt + within + '"invocationId":"'.length + 1);
    const disks = new Map([...w.point.disks].map(([id, bytes]) => [id, bytes.slice()]));
    const disk = [...disks.values()][0];
    if (disk === undefined) throw new Error('no disk');
    disk[at] = disk[at] === 0x41 ? 0x42 : 0x41;
    const damaged = sourceOf({ ...w.point, disks } satisfies StoredPoint);
    const got = await findAdUser(damaged, name);
    expect(got.ok ? got.value : got.error).toMatchObject({ kind: 'damaged', file: DIT, record: `offset ${recordAt}` });
  }, 60_000);
});
