/**
 * SQLite WAL shipping on seed 003's schedule, into the repository, against the simulator
 * (DESIGN property 13 for SQLite): a Linux VM runs the real SQLite app; the engine observes
 * the WAL, takes a full backup into the repository with the freeze script
 * `sqlite:checkpoint-and-lock`, and ships on the schedule (the engine checkpoints once the
 * WAL passes a size). Then, from the repository opened again (a reader):
 * - the schedule: the first shipment when the full completed, each next on the next tick
 *   or at once after an overrun (a slow guest forces them), every round in the chain;
 * - the records listed are every record put, in order;
 * - roll-forward to a random target (a transaction, or a time) is exact: the real sqlite3
 *   opens the result, integrity ok, holding the app's acknowledged transactions up to
 *   the target and none after (a time T: exact at the last shipment at or before T);
 * - the RPO: every commit after the full is in a round that ended within
 *   max(interval, longest) + longest of it;
 * - a broken chain is refused (a segment gone from the repository: gap; a damaged blob:
 *   unreadable, named, and verify names the pack and the record), targets before the
 *   break still exact;
 * - no shipping after a full whose freeze script failed, or without quiescing.
 */

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { msToUs, sToUs, type TimeUs } from '../../core/clock.js';
import { unwrap } from '../../core/result.js';
import { runBackup, type BackupReport } from '../../engine/backup/job.js';
import { backupTargetFor } from '../../engine/backup/repository-target.js';
import { nextLogBackupStart, worstRpoUs } from '../../engine/logbackup/schedule.js';
import { runLogSchedule, type ScheduledRun } from '../../engine/logbackup/scheduler.js';
import type { SqliteTarget } from '../../engine/logbackup/sqlite-chain.js';
import { startSqliteLogShipping, type SqliteShipRun } from '../../engine/logbackup/sqlite-job.js';
import { MemorySqliteWalStore, observeSqliteWal, type ShipEnv, type ShipError, type SqliteWalRecord } from '../../engine/logbackup/sqlite-shipper.js';
import { repositorySource } from '../../engine/repository/engine-ports.js';
import { RecoveryPointId } from '../../engine/repository/hash.js';
import { decodeLogRecordObject } from '../../engine/repository/log-record.js';
import { repositorySqliteWalStore } from '../../engine/repository/log-store.js';
import { Repository } from '../../engine/repository/repository.js';
import { verifyRepository } from '../../engine/repository/verify.js';
import { rollForwardSqlite } from '../../engine/restore/sqlite-rollforward.js';
import { MemoryStore } from '../../engine/store/memory-store.js';
import { prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';
import { MemoryTarget } from '../support/memory-target.js';
import { simWait, slowGuest } from '../support/slow-guest.js';
import { baseIds, exactness, EXACT, openReal, removeTempDirs, SQLITE_DB, SQLITE_SCRIPT, sqliteVm } from '../support/sqlite-oracle.js';
import { HAVE_SQLITE3 } from '../support/sqlite3.js';

const INTERVAL_US = msToUs(100);
const CHECKPOINT_AT_WAL_BYTES = 512 * 1024;

afterAll(removeTempDirs);
beforeAll(async () => { await prepareDefaultApps(); });

interface Scheduled {
  readonly vmId: string;
  readonly store: MemoryStore;
  readonly clock: { nowUs(): TimeUs };
  readonly full: BackupReport;
  readonly runs: readonly ScheduledRun<SqliteShipRun, ShipError>[];
  /** Every record the engine put, in order. */
  readonly put: readonly SqliteWalRecord[];
  readonly acks: readonly { readonly id: string; readonly timeUs: TimeUs }[];
}

/** The scenario: observe, full backup into the repository, shipping on the schedule for `windowUs`. */
async function scheduled(seed: number, options: { readonly extraUs?: number; readonly windowUs?: TimeUs } = {}): Promise<Scheduled> {
  const { hv, vmId } = sqliteVm(seed);
  hv.runFor(sToUs(0.5));
  const clock = hv.sim.clock;
  const store = new MemoryStore();
  unwrap(await Repository.init(store, { clock }));
  const repo = unwrap(await Repository.open(store, { clock, writer: { owner: 'engine' } }));
  const env: ShipEnv = { port: slowGuest(hv, options.extraUs ?? 0), clock, store: repositorySqliteWalStore(repo) };
  const observed = unwrap(await observeSqliteWal(env, { vmId, dbPath: SQLITE_DB }));
  const full = unwrap(await runBackup({ port: hv, target: backupTargetFor(repo), clock }, { vmId, policy: 'try', appScripts: { sqlite: SQLITE_SCRIPT } }));
  const shipping = unwrap(await startSqliteLogShipping(env, {
    vmId, dbPath: SQLITE_DB, basePointId: full.pointId, scriptPath: SQLITE_SCRIPT,
    full: { doneUs: full.endUs, snapshotAtUs: full.meta.snapshotAtUs, quiesce: full.meta.quiesce },
    intervalUs: INTERVAL_US, checkpointAtWalBytes: CHECKPOINT_AT_WAL_BYTES,
  }));
  const runs = await runLogSchedule({ clock, waitUntil: simWait(hv) }, { run: shipping.run, schedule: shipping.schedule, untilUs: full.endUs + (options.windowUs ?? sToUs(1.2)) });
  unwrap(await repo.close());
  const put: SqliteWalRecord[] = [observed, shipping.anchor];
  for (const r of runs) {
    const value = unwrap(r.result);
    put.push(...value.shipped.map((s) => s.record), ...value.checkpoint === null ? [] : [value.checkpoint]);
  }
  const acks = hv.vm(vmId).app('sqlite').acknowledged().map((a) => ({ id: a.id, timeUs: a.timeUs }));
  return { vmId, store, clock, full, runs, put, acks };
}

/** A reader of the repository (opened again) and its WAL store. */
async function reopened(s: Scheduled) {
  const repo = unwrap(await Repository.open(s.store, { clock: s.clock }));
  const source = unwrap(await repositorySource(repo, RecoveryPointId(s.full.pointId)));
  return { repo, logs: repositorySqliteWalStore(repo), source };
}

function segments(s: Scheduled) {
  return s.put.filter((r) => r.kind === 'segment');
}

/** The schedule rule of seed 003 holds for the runs, and every round continued the chain. */
function followsTheSchedule(s: Scheduled): void {
  const schedule = { fullDoneUs: s.full.endUs, intervalUs: INTERVAL_US };
  expect(s.runs[0]?.startUs).toBe(s.full.endUs);
  for (let i = 1; i < s.runs.length; i++) {
    const prev = s.runs[i - 1];
    if (prev === undefined) throw new Error('run');
    expect(s.runs[i]?.startUs, `run ${i}`).toBe(nextLogBackupStart(schedule, prev.startUs, prev.endUs));
  }
  for (const r of s.runs) for (const shipped of unwrap(r.result).shipped) expect(shipped.continuity, shipped.reason ?? '').not.toBe('break');
}

describe.skipIf(!HAVE_SQLITE3)('SQLite WAL shipping on the seed 003 schedule, into the repository', () => {
  it('follows the schedule; a roll-forward to a random target from the repository opened again is exact', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 100_000 }), fc.boolean(), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), async (seed, byTime, where) => {
      const s = await scheduled(seed);
      followsTheSchedule(s);
      expect(s.runs.length).toBeGreaterThan(8);
      expect(s.runs.filter((r) => unwrap(r.result).checkpoint !== null).length, 'the engine checkpointed').toBeGreaterThan(0);
      const r = await reopened(s);
      expect(unwrap(await r.logs.list(s.vmId)), 'every record put, in order').toEqual(s.put);
      const inBase = await baseIds(r.source);
      expect(inBase).toEqual(s.acks.slice(0, inBase.length).map((a) => a.id));
      const total = segments(s).reduce((n, x) => n + x.commits, 0);
      expect(total).toBeGreaterThan(50);
      let target: SqliteTarget;
      let expected: number;
      if (byTime) {
        const lo = s.full.meta.snapshotAtUs;
        const hi = Math.max(...s.put.map((x) => x.atUs));
        const timeUs = Math.floor(lo + where * (hi - lo));
        target = { kind: 'time', timeUs };
        expected = segments(s).filter((x) => x.atUs <= timeUs).reduce((n, x) => n + x.commits, 0);
      } else {
        expected = 1 + Math.floor(where * total);
        target = { kind: 'transaction', index: expected };
      }
      const done = unwrap(await rollForwardSqlite({ logs: r.logs }, r.source, { vmId: s.vmId, dbPath: SQLITE_DB, target }));
      expect(done.report.commitsApplied).toBe(expected);
      const real = await openReal(done.database);
      expect(real.integrity).toBe('ok');
      expect(exactness(real.ids, s.acks.slice(0, inBase.length + expected).map((a) => a.id))).toEqual(EXACT);
      expect(unwrap(await verifyRepository(s.store)).damages).toEqual([]);
    }), { numRuns: 4 });
  });

  it('a slow guest overruns the interval: the next round starts at once; RPO <= max(interval, longest) + longest', async () => {
    const s = await scheduled(41, { extraUs: msToUs(60) });
    followsTheSchedule(s);
    expect(s.runs.some((r, i) => i > 0 && (r.startUs - s.full.endUs) % INTERVAL_US !== 0), 'an overrun started off the grid').toBe(true);
    const longest = Math.max(...s.runs.map((r) => r.endUs - r.startUs));
    expect(longest).toBeGreaterThan(INTERVAL_US);
    const lastStart = s.runs.at(-1)?.startUs ?? 0;
    const after = s.acks.filter((a) => a.timeUs > s.full.endUs && a.timeUs < lastStart);
    expect(after.length).toBeGreaterThan(100);
    for (const a of after) {
      const covering = s.runs.find((r) => r.startUs > a.timeUs);
      expect(covering, `ack at ${a.timeUs}`).toBeDefined();
      expect((covering?.endUs ?? 0) - a.timeUs).toBeLessThanOrEqual(worstRpoUs(INTERVAL_US, longest));
    }
    const r = await reopened(s);
    const latest = unwrap(await rollForwardSqlite({ logs: r.logs }, r.source, { vmId: s.vmId, dbPath: SQLITE_DB, target: { kind: 'latest' } }));
    const inBase = await baseIds(r.source);
    expect(exactness((await openReal(latest.database)).ids, s.acks.slice(0, inBase.length + latest.report.commitsApplied).map((a) => a.id))).toEqual(EXACT);
    // Every commit acknowledged before the last round's read is in it.
    expect(inBase.length + latest.report.commitsApplied).toBeGreaterThanOrEqual(s.acks.filter((a) => a.timeUs < lastStart).length);
  });

  it('refuses a broken chain read from the repository: a segment gone (gap), a damaged blob (named); targets before the break stay exact', async () => {
    const s = await scheduled(43, { windowUs: sToUs(0.8) });
    const withCommits = segments(s).filter((x) => x.commits > 0);
    const victim = withCommits[Math.floor(withCommits.length / 2)];
    if (victim === undefined) throw new Error('segments');
    const before = segments(s).filter((x) => x.seq < victim.seq).reduce((n, x) => n + x.commits, 0);
    const objectOf = async (id: string): Promise<string> => {
      for (const name of unwrap(await s.store.list('logs/sqlite-wal/'))) {
        if (unwrap(decodeLogRecordObject(name, unwrap(await s.store.get(name)))).file.record.id === id) return name;
      }
      throw new Error(`no object for ${id}`);
    };
    const restore = async (target: SqliteTarget) => {
      const r = await reopened(s);
      return rollForwardSqlite({ logs: r.logs }, r.source, { vmId: s.vmId, dbPath: SQLITE_DB, target });
    };
    expect((await restore({ kind: 'latest' })).ok, 'the intact chain').toBe(true);

    // A damaged blob: the store names it, the restore refuses it, verify names the pack and the record.
    const victimObject = await objectOf(victim.id);
    const chunk = unwrap(decodeLogRecordObject(victimObject, unwrap(await s.store.get(victimObject)))).file.blob?.chunks[0];
    const reader = unwrap(await Repository.open(s.store, { clock: s.clock }));
    const location = reader.index.get(chunk?.chunkId ?? ('' as never));
    if (location === undefined) throw new Error('chunk');
    const packName = `packs/${location.packId.slice(0, 2)}/${location.packId}`;
    const intactPack = unwrap(await s.store.get(packName));
    const damagedPack = intactPack.slice();
    damagedPack[location.offsetBytes] = (damagedPack[location.offsetBytes] as number) ^ 0x40;
    unwrap(await s.store.put(packName, damagedPack));
    const unreadable = await restore({ kind: 'latest' });
    expect(unreadable.ok ? null : unreadable.error).toMatchObject({ kind: 'refused', refusal: { kind: 'unreadable-blob', recordId: victim.id, error: { kind: 'damaged', object: packName } } });
    const damages = unwrap(await verifyRepository(s.store)).damages.map((d) => `${d.kind}:${d.object}`);
    expect(damages).toContain(`blob:${packName}`);
    expect(damages).toContain(`log-ref:${victimObject}`);
    unwrap(await s.store.put(packName, intactPack));

    // The segment gone from the repository: a gap.
    unwrap(await s.store.delete(victimObject));
    const gap = await restore({ kind: 'transaction', index: before + 1 });
    expect(gap.ok ? null : gap.error).toMatchObject({ kind: 'refused', refusal: { kind: 'gap' } });
    expect((await restore({ kind: 'latest' })).ok).toBe(false);
    const earlier = unwrap(await restore({ kind: 'transaction', index: before }));
    const inBase = await baseIds((await reopened(s)).source);
    expect(exactness((await openReal(earlier.database)).ids, s.acks.slice(0, inBase.length + before).map((a) => a.id))).toEqual(EXACT);
  });

  it.each([['the freeze script failed', 'failing' as const], ['the guest was not quiesced', false as const]])('ships nothing after a full where %s', async (_name, quiesce) => {
    const { hv, vmId } = sqliteVm(47, { quiesce });
    hv.runFor(sToUs(0.3));
    const store = new MemorySqliteWalStore();
    const env: ShipEnv = { port: hv, clock: hv.sim.clock, store };
    unwrap(await observeSqliteWal(env, { vmId, dbPath: SQLITE_DB }));
    const full = unwrap(await runBackup({ port: hv, target: new MemoryTarget(), clock: hv.sim.clock }, { vmId, policy: quiesce === false ? 'off' : 'try', appScripts: { sqlite: SQLITE_SCRIPT } }));
    expect(full.meta.claimed.apps.sqlite).not.toBe('application');
    const before = unwrap(await store.list(vmId));
    const refused = await startSqliteLogShipping(env, {
      vmId, dbPath: SQLITE_DB, basePointId: full.pointId, scriptPath: SQLITE_SCRIPT,
      full: { doneUs: full.endUs, snapshotAtUs: full.meta.snapshotAtUs, quiesce: full.meta.quiesce }, intervalUs: INTERVAL_US,
    });
    expect(refused.ok ? null : refused.error).toMatchObject({ kind: 'refused', refusal: { kind: 'not-app-aware', pointId: full.pointId } });
    expect(unwrap(await store.list(vmId)), 'no anchor, no shipment').toEqual(before);
  });
});
