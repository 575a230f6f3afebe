/**
 * Application-item restore of Exchange mailbox items, end to end: a win2016 VM running the
 * simulator's Exchange (small log generations, so checkpoints and several generations
 * happen) is backed up into a MemoryTarget; `findMailItem` reads items straight from the
 * point.
 *
 * Oracle: the simulator's own recovery of the same point. The point is restored as a VM
 * (restoreVm), which mounts the database (soft recovery, sim/apps/exchange/ese-store.ts: an
 * independent implementation), and `eseutil get-item <mailbox> <itemId>` there gives the
 * item at the point. Every item acknowledged before the freeze (or the snapshot, for a
 * crash-consistent point) must be found with that value.
 *
 * A writer-frozen point's database is clean (the records alone); a crash-consistent one is
 * dirty, and the items committed after its checkpoint are found only by replaying the log
 * generations (provenance via 'log'). Damage: a byte flipped inside a stored record gives
 * 'damaged' naming the file and the record; an absent item is 'not-found'.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { sToUs } from '../../core/clock.js';
import { unwrap } from '../../core/result.js';
import { runBackup } from '../../engine/backup/job.js';
import { findMailItem, type MailItem } from '../../engine/restore/app-items.js';
import { openGuestVolume } from '../../engine/restore/guestfs/index.js';
import type { PointSource } from '../../engine/restore/source.js';
import { restoreVm } from '../../engine/restore/vm.js';
import { exchangeAppFactory, type ExchangeApp } from '../../sim/apps/exchange/index.js';
import { defaultApps, prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';
import { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';
import { Simulation } from '../../sim/kernel/simulation.js';
import { MemoryTarget, sourceOf, type StoredPoint } from '../support/memory-target.js';

const MiB = 1024 * 1024;
const DB = '/Exchange/Mailbox/DB1/DB1.edb';
const decoder = new TextDecoder();

beforeAll(async () => { await prepareDefaultApps(); });

async function backedUp(seed: number, policy: 'require' | 'off') {
  const factories = { ...defaultApps().factories, exchange: exchangeAppFactory({ circularLogging: false, logFileBytes: 16 * 1024 }) };
  const hv = new SimHypervisor({ sim: new Simulation({ seed }), apps: factories });
  const vm = unwrap(hv.addVm({ name: 'mail', guestOs: 'win2016', tools: 'esx41', apps: ['exchange'], disks: [{ capacityBytes: 64 * MiB }] }));
  hv.startWorkload(vm.vmId, 'exchange', { meanIntervalUs: 5_000, valueBytes: 300 });
  hv.runFor(sToUs(3));
  const target = new MemoryTarget();
  const report = unwrap(await runBackup({ port: hv, target, clock: hv.sim.clock }, { vmId: vm.vmId, policy }));
  const point = target.points.find((p) => p.id === report.pointId);
  if (point === undefined) throw new Error('no point');
  const cutUs = report.meta.quiesce.freezeStartUs ?? report.meta.snapshotAtUs;
  const app = hv.vm(vm.vmId).app('exchange') as unknown as ExchangeApp;
  // Every item the app holds now (the source has moved on), by id: its mailbox.
  const mailboxOf = new Map<string, string>();
  for (const key of app.store?.records.keys() ?? []) {
    const [, mailbox = '', itemId = ''] = key.split(':');
    if (key.startsWith('item:')) mailboxOf.set(itemId, mailbox);
  }
  const ackedBefore = app.acknowledged().filter((a) => a.timeUs < cutUs).map((a) => a.id);
  return { hv, point, source: sourceOf(point), mailboxOf, ackedBefore, claimed: report.meta.claimed.apps.exchange };
}

/** The oracle: `eseutil get-item` in the restored VM, for every item id given (null: absent). */
async function oracle(hv: SimHypervisor, source: PointSource, name: string, items: readonly (readonly [string, string])[]): Promise<Map<string, MailItem | null>> {
  const restored = unwrap(await restoreVm({ port: hv, clock: hv.sim.clock }, source, { name, guestOs: 'win2016', tools: 'esx41', apps: ['exchange'] }));
  expect(hv.vm(restored.vmId).guest?.openReports.get('exchange')).toMatchObject({ ok: true });
  const out = new Map<string, MailItem | null>();
  for (const [mailbox, itemId] of items) {
    const run = unwrap(await hv.runInGuest(restored.vmId, 'eseutil', ['get-item', mailbox, itemId]));
    if (run.exitCode === 1) {
      out.set(itemId, null);
      continue;
    }
    expect(run.exitCode).toBe(0);
    out.set(itemId, JSON.parse(decoder.decode(run.stdout)) as MailItem);
  }
  return out;
}

/** The disk byte offset of byte `offset` of a guest file (through the engine's own reader). */
async function diskOffsetOf(source: PointSource, path: string, offset: number): Promise<number> {
  const diskId = source.disks().at(-1)?.diskId ?? '';
  const volume = unwrap(await openGuestVolume(source, diskId));
  const inode = unwrap(await volume.lookup(path));
  const block = Math.floor(offset / 4096);
  const extent = inode.extents.find((e) => block >= e.logical && block < e.logical + e.length);
  if (extent === undefined) throw new Error(`no block ${block} in ${path}`);
  return (extent.physical + block - extent.logical) * 4096 + (offset % 4096);
}

function damagedCopy(point: StoredPoint, at: number): PointSource {
  const disks = new Map([...point.disks].map(([id, bytes]) => [id, bytes.slice()]));
  const disk = [...disks.values()].at(-1);
  if (disk === undefined) throw new Error('no disk');
  disk[at] = disk[at] === 0x41 ? 0x42 : 0x41;
  return sourceOf({ ...point, disks });
}

async function compareAll(seed: number, policy: 'require' | 'off'): Promise<{ via: Map<string, number>; compared: number }> {
  const w = await backedUp(seed, policy);
  expect(w.claimed).toBe(policy === 'require' ? 'application' : 'crash');
  expect(w.ackedBefore.length).toBeGreaterThan(100);
  const items = [...w.mailboxOf].map(([itemId, mailbox]) => [mailbox, itemId] as const);
  const expected = await oracle(w.hv, w.source, `restored-${seed}`, items);
  const via = new Map<string, number>();
  let compared = 0;
  for (const [mailbox, itemId] of items) {
    const want = expected.get(itemId);
    const got = await findMailItem(w.source, { mailbox, itemId });
    if (want === null || want === undefined) {
      expect(got.ok ? got.value : got.error.kind, itemId).toBe('not-found');
      continue;
    }
    expect(got.ok ? got.value.value : got.error, itemId).toEqual(want);
    if (got.ok) via.set(got.value.provenance.via, (via.get(got.value.provenance.via) ?? 0) + 1);
    compared++;
  }
  // Every item acknowledged before the cut is there.
  for (const itemId of w.ackedBefore) {
    expect(expected.get(itemId), itemId).toBeTruthy();
  }
  return { via, compared };
}

describe('Exchange mailbox items straight from a point', () => {
  it('writer-frozen point: every item equals what the restored VM reports; acknowledged ones are all there', async () => {
    for (const seed of [3, 8]) {
      const { via, compared } = await compareAll(seed, 'require');
      expect(compared).toBeGreaterThan(100);
      // A frozen point's database is clean: the records alone answer.
      expect([...via.keys()]).toEqual(['page']);
    }
  }, 120_000);

  it('crash-consistent point: items committed after the checkpoint come from replaying the log generations', async () => {
    const { via, compared } = await compareAll(5, 'off');
    expect(compared).toBeGreaterThan(100);
    expect(via.get('log') ?? 0).toBeGreaterThan(0);
    expect(via.get('page') ?? 0).toBeGreaterThan(0);
  }, 120_000);

  it('an absent item is not-found; bad requests are refused', async () => {
    const w = await backedUp(11, 'require');
    const [itemId = '', mailbox = ''] = [...w.mailboxOf][0] ?? [];
    const absent = await findMailItem(w.source, { mailbox, itemId: 'msg-999999' });
    expect(absent.ok ? absent.value : absent.error).toMatchObject({ kind: 'not-found', what: `item:${mailbox}:msg-999999`, file: DB });
    const wrongBox = await findMailItem(w.source, { mailbox: 'mbx999', itemId });
    expect(wrongBox.ok ? wrongBox.value : wrongBox.error.kind).toBe('not-found');
    const bad = await findMailItem(w.source, { mailbox: '', itemId });
    expect(bad.ok ? bad.value : bad.error.kind).toBe('bad-request');
    const otherDb = await findMailItem(w.source, { mailbox, itemId, database: 'DB2' });
    expect(otherDb.ok ? otherDb.value : otherDb.error).toMatchObject({ kind: 'volume', error: { kind: 'not-found' } });
  }, 60_000);

  it('a damaged record in the database file is an error naming the file and record, never a value', async () => {
    const w = await backedUp(23, 'require');
    const [itemId = '', mailbox = ''] = [...w.mailboxOf][0] ?? [];
    const good = unwrap(await findMailItem(w.source, { mailbox, itemId }));
    expect(good.provenance).toMatchObject({ file: DB, via: 'page' });
    const recordAt = Number(/^offset (\d+)$/.exec(good.provenance.record ?? '')?.[1] ?? NaN);
    expect(recordAt).toBeGreaterThanOrEqual(8192);
    // A byte inside the record's subject (still valid JSON): only the CRC tells.
    const at = await diskOffsetOf(w.source, DB, recordAt + 8 + JSON.stringify({ k: `item:${mailbox}:${itemId}`, v: { mailbox, itemId, subject: '' } }).length);
    const damaged = damagedCopy(w.point, at);
    const got = await findMailItem(damaged, { mailbox, itemId });
    expect(got.ok ? got.value : got.error).toMatchObject({ kind: 'damaged', file: DB, record: `offset ${recordAt}` });
    // Any other item cannot be answered either (the damaged record might have been a later version of it).
    const [otherId = '', otherBox = ''] = [...w.mailboxOf].at(-1) ?? [];
    const other = await findMailItem(damaged, { mailbox: otherBox, itemId: otherId });
    expect(other.ok ? other.value : other.error.kind).toBe('damaged');
  }, 60_000);
});
