/**
 * Application-item restore of SQL Server rows, end to end: a Windows VM running the
 * simulator's SQL Server (workload with overlapping transactions) is backed up
 * application-consistently (SQL writer freeze) into a MemoryTarget; `findSqlRow` reads
 * rows straight from the point.
 *
 * Oracle: the simulator's own recovery of the same point. The point is restored as a VM
 * (restoreVm), which boots and opens the database (analysis, redo and the rollback of the
 * transactions in flight at the freeze, sim/apps/sqlserver/database.ts: an independent
 * implementation), and `sqlcmd query <table> <key>` in that VM gives the committed value
 * at the freeze. A second, weaker check ties it to what the app acknowledged: for every
 * row written by a transaction acknowledged before the freeze, the engine's value is that
 * write, or a later transaction's (committed at the freeze but acknowledged after it).
 * Querying the source VM later would not do: it has moved on.
 *
 * Damage: a data page or the log damaged in the stored image gives a 'damaged' error
 * naming the page or the log, never a value; an absent key is 'not-found'.
 */

import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { sToUs } from '../../core/clock.js';
import { unwrap } from '../../core/result.js';
import { runBackup } from '../../engine/backup/job.js';
import { findSqlRow, type ItemError } from '../../engine/restore/app-items.js';
import { openGuestVolume } from '../../engine/restore/guestfs/index.js';
import type { PointSource } from '../../engine/restore/source.js';
import { restoreVm } from '../../engine/restore/vm.js';
import type { SqlServerApp } from '../../sim/apps/sqlserver/index.js';
import { defaultApps, prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';
import { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';
import { Simulation } from '../../sim/kernel/simulation.js';
import { MemoryTarget, sourceOf, type StoredPoint } from '../support/memory-target.js';

const MiB = 1024 * 1024;
const TABLES = ['orders', 'stock'] as const;
const KEYS = 128;
const decoder = new TextDecoder();

beforeAll(async () => { await prepareDefaultApps(); });

interface Expected {
  readonly value: string | null;
  readonly txn: number | null;
}

async function backedUp(seed: number, policy: 'require' | 'off' = 'require') {
  const hv = new SimHypervisor({ sim: new Simulation({ seed }), apps: defaultApps().factories });
  const vm = unwrap(hv.addVm({ name: 'sql', guestOs: 'win2019', tools: 'esx41', apps: ['sqlserver'], disks: [{ capacityBytes: 16 * MiB }, { capacityBytes: 16 * MiB }] }));
  hv.startWorkload(vm.vmId, 'sqlserver', { meanIntervalUs: 2_000, opsPerTxn: 3, valueBytes: 60 });
  hv.runFor(sToUs(1));
  const target = new MemoryTarget();
  const report = unwrap(await runBackup({ port: hv, target, clock: hv.sim.clock }, { vmId: vm.vmId, policy }));
  const point = target.points.find((p) => p.id === report.pointId);
  if (point === undefined) throw new Error('no point');
  const freezeUs = report.meta.quiesce.freezeStartUs ?? 0;
  const app = hv.vm(vm.vmId).app('sqlserver') as unknown as SqlServerApp;
  const acked = app.ackedTransactions().filter((t) => t.timeUs < freezeUs);
  return { hv, point, source: sourceOf(point), acked, claimed: report.meta.claimed.apps.sqlserver };
}

/** The oracle: every row of the point as the simulator's own recovery of the restored VM holds it. */
async function oracle(hv: SimHypervisor, source: PointSource, seed: number, recoveryNeeded = false): Promise<Map<string, Expected>> {
  const restored = unwrap(await restoreVm({ port: hv, clock: hv.sim.clock }, source, { name: `restored-${seed}`, guestOs: 'win2019', tools: 'esx41', apps: ['sqlserver'] }));
  expect(hv.vm(restored.vmId).guest?.openReports.get('sqlserver')).toMatchObject({ ok: true, recoveryNeeded });
  const out = new Map<string, Expected>();
  for (const table of TABLES) {
    for (let k = 0; k < KEYS; k++) {
      const run = unwrap(await hv.runInGuest(restored.vmId, 'sqlcmd', ['query', table, `k${k}`]));
      if (run.exitCode === 1) {
        out.set(`${table}/k${k}`, { value: null, txn: null });
        continue;
      }
      expect(run.exitCode).toBe(0);
      const row = JSON.parse(decoder.decode(run.stdout)) as { value: string; txn: string };
      out.set(`${table}/k${k}`, { value: row.value, txn: Number(row.txn.slice(1)) });
    }
  }
  return out;
}

function txnNumber(id: string): number {
  return Number(/(\d+)$/.exec(id)?.[1] ?? NaN);
}

/** A copy of the point with `mutate` applied to a copy of one disk. */
function damagedCopy(point: StoredPoint, diskIndex: number, mutate: (disk: Uint8Array) => void): PointSource {
  const disks = new Map([...point.disks].map(([id, bytes]) => [id, bytes.slice()]));
  const disk = [...disks.values()][diskIndex];
  if (disk === undefined) throw new Error('no disk');
  mutate(disk);
  return sourceOf({ ...point, disks });
}

/** The disk byte offset of byte `offset` of a guest file (through the engine's own reader). */
async function diskOffsetOf(source: PointSource, diskIndex: number, path: string, offset: number): Promise<number> {
  const diskId = source.disks()[diskIndex]?.diskId ?? '';
  const volume = unwrap(await openGuestVolume(source, diskId));
  const inode = unwrap(await volume.lookup(path));
  const block = Math.floor(offset / 4096);
  const extent = inode.extents.find((e) => block >= e.logical && block < e.logical + e.length);
  if (extent === undefined) throw new Error(`no block ${block} in ${path}`);
  return (extent.physical + block - extent.logical) * 4096 + (offset % 4096);
}

function kindOf(error: ItemError): string {
  return error.kind;
}

describe('SQL Server rows straight from an application-consistent point', () => {
  it('finds exactly the committed value at the freeze for random rows (oracle: the sim recovers the same point)', async () => {
    let undone = 0;
    let compared = 0;
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 100_000 }), fc.array(fc.nat({ max: 2 * KEYS - 1 }), { minLength: 20, maxLength: 40 }), async (seed, picks) => {
      const w = await backedUp(seed);
      expect(w.claimed).toBe('application');
      expect(w.acked.length).toBeGreaterThan(20);
      const expected = await oracle(w.hv, w.source, seed);
      // Rows acknowledged before the freeze, and rows the log shows in flight, plus random ones.
      const keys = new Set<string>();
      for (const t of w.acked.slice(-10)) for (const [table, key] of t.writes) keys.add(`${table}/${key}`);
      for (const p of picks) keys.add(`${TABLES[p % 2] ?? 'orders'}/k${Math.floor(p / 2)}`);
      for (const id of keys) {
        const [table = '', key = ''] = id.split('/');
        const got = await findSqlRow(w.source, { table, key });
        const want = expected.get(id);
        if (want === undefined) continue;
        compared++;
        if (want.value === null) {
          expect(got.ok ? got.value : kindOf(got.error), id).toBe('not-found');
        } else {
          expect(got.ok ? { value: got.value.value, txn: got.value.txn } : got.error, id).toEqual(want);
          if (got.ok && got.value.provenance.via === 'undo') undone++;
        }
      }
      // Every row an acknowledged transaction wrote: that write, or a later committed one.
      const lastAck = new Map<string, { value: string; txn: number }>();
      for (const t of w.acked) for (const [table, key, value] of t.writes) lastAck.set(`${table}/${key}`, { value, txn: txnNumber(t.id) });
      for (const [id, ack] of [...lastAck].slice(-15)) {
        const [table = '', key = ''] = id.split('/');
        const got = unwrap(await findSqlRow(w.source, { table, key }));
        if (got.txn === ack.txn) expect(got.value, id).toBe(ack.value);
        else expect(got.txn, id).toBeGreaterThan(ack.txn);
      }
    }), { numRuns: 4, seed: 4242 });
    expect(compared).toBeGreaterThan(80);
    // The rollback of transactions in flight at the freeze was exercised.
    expect(undone).toBeGreaterThan(0);
  }, 120_000);

  it('a crash-consistent point (no quiescing) gives what crash recovery gives: redo past the checkpoint, undo of losers', async () => {
    let redone = 0;
    for (const seed of [5, 6, 7]) {
      const w = await backedUp(seed, 'off');
      expect(w.claimed).toBe('crash');
      const expected = await oracle(w.hv, w.source, seed, true);
      for (const [id, want] of expected) {
        const [table = '', key = ''] = id.split('/');
        const got = await findSqlRow(w.source, { table, key });
        if (want.value === null) expect(got.ok ? got.value : kindOf(got.error), id).toBe('not-found');
        else expect(got.ok ? { value: got.value.value, txn: got.value.txn } : got.error, id).toEqual(want);
        if (got.ok && got.value.provenance.via.includes('redo')) redone++;
      }
    }
    expect(redone).toBeGreaterThan(0);
  }, 120_000);

  it('an absent key or table is not-found; bad requests are refused', async () => {
    const w = await backedUp(11);
    const absent = await findSqlRow(w.source, { table: 'orders', key: 'no-such-key' });
    expect(absent.ok ? absent.value : absent.error).toMatchObject({ kind: 'not-found', what: 'orders/no-such-key', file: '/sql/db.mdf' });
    const table = await findSqlRow(w.source, { table: 'customers', key: 'k1' });
    expect(table.ok ? table.value : table.error).toMatchObject({ kind: 'not-found' });
    const sys = await findSqlRow(w.source, { table: 'sys.commits', key: '0' });
    expect(sys.ok ? sys.value : sys.error).toMatchObject({ kind: 'bad-request' });
    const db = await findSqlRow(w.source, { table: 'orders', key: 'k1', db: 'other' });
    expect(db.ok ? db.value : db.error).toMatchObject({ kind: 'volume', file: '/sql/other.mdf', error: { kind: 'not-found' } });
  }, 60_000);

  it('a damaged data page is an error naming it, not a value', async () => {
    const w = await backedUp(23);
    // A row that is on a data page (found through the page, with provenance).
    let row;
    for (let k = 0; k < KEYS && row === undefined; k++) {
      const got = await findSqlRow(w.source, { table: 'orders', key: `k${k}` });
      if (got.ok) row = got.value;
    }
    if (row === undefined) throw new Error('no row found');
    const page = row.provenance.page ?? -1;
    expect(page).toBeGreaterThan(1);
    // Change one character of the row's value in place: the page stays valid JSON, only its CRC tells.
    const pageAt = await diskOffsetOf(w.source, 0, '/sql/db.mdf', page * 4096);
    const needle = new TextEncoder().encode(JSON.stringify(row.value));
    const pageBytes = w.point.disks.get(w.source.disks()[0]?.diskId ?? '')?.subarray(pageAt, pageAt + 4096) ?? new Uint8Array(0);
    const within = Buffer.from(pageBytes).indexOf(Buffer.from(needle));
    expect(within).toBeGreaterThan(24);
    const at = pageAt + within + 1;
    const damaged = damagedCopy(w.point, 0, (disk) => { disk[at] = disk[at] === 0x41 ? 0x42 : 0x41; });
    const got = await findSqlRow(damaged, { table: row.table, key: row.key });
    expect(got.ok ? got.value : got.error).toMatchObject({ kind: 'damaged', file: '/sql/db.mdf', page });
    // An absent key whose probe crosses the damaged page cannot be declared absent either.
    const both = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((i) => findSqlRow(damaged, { table: 'orders', key: `absent-${i}` })));
    for (const r of both) expect(r.ok ? r.value : r.error.kind).toBe('damaged');
  }, 60_000);

  it('damaged boot pages or a log cut short are errors naming the file, not a stale value', async () => {
    const w = await backedUp(29);
    const good = unwrap(await findSqlRow(w.source, { table: 'stock', key: 'k3' }).then((r) => r.ok ? r : findSqlRow(w.source, { table: 'orders', key: 'k3' })));
    // Both boot page copies zeroed.
    const boot0 = await diskOffsetOf(w.source, 0, '/sql/db.mdf', 0);
    const boot1 = await diskOffsetOf(w.source, 0, '/sql/db.mdf', 4096);
    const noBoot = damagedCopy(w.point, 0, (disk) => { disk.fill(0, boot0, boot0 + 4096); disk.fill(0, boot1, boot1 + 4096); });
    const r1 = await findSqlRow(noBoot, { table: good.table, key: good.key });
    expect(r1.ok ? r1.value : r1.error).toMatchObject({ kind: 'damaged', file: '/sql/db.mdf', page: 0 });
    // The log's records damaged from the first one on: the log ends before the header's consistent end.
    const rec = await diskOffsetOf(w.source, 1, '/sql/db.ldf', 8192 + 4);
    const cut = damagedCopy(w.point, 1, (disk) => { disk[rec] = (disk[rec] ?? 0) ^ 0xff; });
    const r2 = await findSqlRow(cut, { table: good.table, key: good.key });
    expect(r2.ok ? r2.value : r2.error).toMatchObject({ kind: 'damaged', file: '/sql/db.ldf' });
  }, 60_000);
});
