/**
 * SQLite log shipping and roll-forward end to end: a Linux VM runs the real SQLite app
 * (workload running throughout); the engine observes the WAL, takes a full backup with the
 * freeze script `sqlite:checkpoint-and-lock` (application-consistent base, empty WAL),
 * starts the chain, then ships WAL frames in rounds and checkpoints under its own control
 * every other round. Roll-forward reads the base out of the RecoveryPoint (file-level
 * reader) and applies the shipped frames; the real `sqlite3` program (Debian package)
 * opens the result: `PRAGMA integrity_check` says ok and the table of transaction ids
 * holds exactly the app's acknowledged transactions up to the target, in the app's order:
 * - transaction targets (property: random seed and k): commits 1..k after the base;
 * - time targets (property): every commit in segments shipped at or before T — exact at
 *   the last shipment S <= T (all acknowledged before S, none after);
 * - a crash-consistent base (no quiescing: the base's own WAL holds commits) as well;
 * - under a heavy workload, the engine's checkpoint (tail read and checkpoint in one
 *   guest step) loses nothing; a torn read ships whole commits only.
 * Refused, with nothing produced: a missing segment (also for a time target between its
 * shipment and the next record's), an out-of-band checkpoint between
 * shipments (frames lost) or between the base and the first shipment, a damaged segment,
 * targets past the chain, a base without a chain. Each check is shown failing on a wrong
 * input: one commit too many or too few, a damaged page, the chain intact vs broken.
 */

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sToUs, type TimeUs } from '../../core/clock.js';
import type { HypervisorPort } from '../../core/hypervisor-port.js';
import type { VmId } from '../../core/ids.js';
import { unwrap } from '../../core/result.js';
import { runBackup, type BackupReport } from '../../engine/backup/job.js';
import type { SqliteTarget } from '../../engine/logbackup/sqlite-chain.js';
import {
  MemorySqliteWalStore, checkpointSqliteWal, freezeScriptSucceeded, observeSqliteWal, shipSqliteWal, startSqliteChain,
  type CheckpointReport, type ShipEnv, type ShipReport, type SqliteSegmentRecord,
} from '../../engine/logbackup/sqlite-shipper.js';
import { rollForwardSqlite, type SqliteRollForwardReport } from '../../engine/restore/sqlite-rollforward.js';
import type { PointSource } from '../../engine/restore/source.js';
import { prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';
import type { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';
import { MemoryTarget, sourceOf } from '../support/memory-target.js';
import { baseIds, exactness, EXACT, openReal, removeTempDirs, SQLITE_DB, SQLITE_SCRIPT, sqliteVm } from '../support/sqlite-oracle.js';
import { HAVE_SQLITE3 } from '../support/sqlite3.js';

const SCRIPT = SQLITE_SCRIPT;
const DB = SQLITE_DB;
const ROUND_US = 120_000;


afterAll(removeTempDirs);
beforeAll(async () => { await prepareDefaultApps(); });

/** A port that cuts the next `wal-frames` answer short by `tearBytes` (a read racing a writer). */
function tearingPort(hv: SimHypervisor): { port: HypervisorPort; tear: (bytes: number) => void } {
  let tearBytes = 0;
  const runInGuest: HypervisorPort['runInGuest'] = async (vmId, program, args, input) => {
    const run = await hv.runInGuest(vmId, program, args, input);
    if (!run.ok || tearBytes === 0 || program !== 'sqlite3' || args[1] !== 'wal-frames') return run;
    const cut = Math.max(0, run.value.stdout.length - tearBytes);
    tearBytes = 0;
    return { ok: true, value: { ...run.value, stdout: run.value.stdout.subarray(0, cut) } };
  };
  const port = new Proxy(hv, {
    get(target, property, receiver): unknown {
      if (property === 'runInGuest') return runInGuest;
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  }) as HypervisorPort;
  return { port, tear: (bytes) => { tearBytes = bytes; } };
}

interface ScenarioOptions {
  readonly quiesce?: boolean;
  readonly meanIntervalUs?: number;
  readonly rounds?: number;
  /** Every n-th round is a controlled checkpoint (0: none). */
  readonly checkpointEvery?: number;
  /** Runs right after the chain starts, before the first round. */
  readonly afterBackup?: (w: World) => Promise<void>;
  /** Runs in round i after the workload ran, before the round's shipment. */
  readonly beforeRound?: (w: World, i: number) => Promise<void>;
}

interface World {
  readonly hv: SimHypervisor;
  readonly vmId: VmId;
  readonly env: ShipEnv;
  readonly store: MemorySqliteWalStore;
  readonly tear: (bytes: number) => void;
}

interface Scenario extends World {
  readonly base: BackupReport;
  readonly source: PointSource;
  readonly ships: readonly ShipReport[];
  readonly checkpoints: readonly CheckpointReport[];
  /** Acknowledged transaction ids in commit order. */
  readonly acks: readonly string[];
  readonly ackTimes: readonly TimeUs[];
}

async function scenario(seed: number, options: ScenarioOptions = {}): Promise<Scenario> {
  const quiesce = options.quiesce ?? true;
  const { hv, vmId } = sqliteVm(seed, { quiesce, ...options.meanIntervalUs === undefined ? {} : { meanIntervalUs: options.meanIntervalUs } });
  const vm = hv.vm(vmId);
  hv.runFor(sToUs(0.5));
  const store = new MemorySqliteWalStore();
  const { port, tear } = tearingPort(hv);
  const env: ShipEnv = { port, clock: hv.sim.clock, store };
  const world: World = { hv, vmId: vm.vmId, env, store, tear };
  unwrap(await observeSqliteWal(env, { vmId: vm.vmId, dbPath: DB }));
  const target = new MemoryTarget();
  const base = unwrap(await runBackup({ port: hv, target, clock: hv.sim.clock }, quiesce
    ? { vmId: vm.vmId, policy: 'try', appScripts: { sqlite: SCRIPT } }
    : { vmId: vm.vmId, policy: 'off' }));
  unwrap(await startSqliteChain(env, {
    vmId: vm.vmId, dbPath: DB, basePointId: base.pointId, baseCheckpointed: freezeScriptSucceeded(base.meta.quiesce, SCRIPT), baseAtUs: base.meta.snapshotAtUs,
  }));
  await options.afterBackup?.(world);
  const ships: ShipReport[] = [];
  const checkpoints: CheckpointReport[] = [];
  const rounds = options.rounds ?? 6;
  const every = options.checkpointEvery ?? 2;
  const request = { vmId: vm.vmId, dbPath: DB, basePointId: base.pointId };
  for (let i = 0; i < rounds; i++) {
    hv.runFor(ROUND_US);
    await options.beforeRound?.(world, i);
    if (every > 0 && (i + 1) % every === 0) {
      const c = unwrap(await checkpointSqliteWal(env, request));
      checkpoints.push(c);
      ships.push(...c.shipped);
    } else {
      ships.push(unwrap(await shipSqliteWal(env, request)));
    }
  }
  const point = target.points.find((p) => p.id === base.pointId);
  if (point === undefined) throw new Error('no point');
  const acked = hv.vm(vm.vmId).app('sqlite').acknowledged();
  return { ...world, base, source: sourceOf(point), ships, checkpoints, acks: acked.map((a) => a.id), ackTimes: acked.map((a) => a.timeUs) };
}


async function restore(s: Scenario, target: SqliteTarget) {
  return rollForwardSqlite({ logs: s.store }, s.source, { vmId: s.vmId, dbPath: DB, target });
}

function segments(s: { readonly ships: readonly ShipReport[] }): SqliteSegmentRecord[] {
  return s.ships.map((r) => r.record);
}

function shippedCommits(s: { readonly ships: readonly ShipReport[] }): number {
  return segments(s).reduce((n, r) => n + r.commits, 0);
}

describe.skipIf(!HAVE_SQLITE3)('SQLite WAL shipping and roll-forward', () => {
  it('lands exactly on a random transaction target (commits 1..k after the base, none after)', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 100_000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), async (seed, where) => {
      const s = await scenario(seed);
      expect(s.base.meta.claimed.apps.sqlite).toBe('application');
      expect(s.ships.map((r) => r.continuity)).not.toContain('break');
      expect(s.checkpoints.length).toBe(3);
      // The chain crosses the engine's checkpoints: three WAL generations hold segments (the last checkpoint ends the run).
      expect(new Set(segments(s).map((r) => r.header?.checkpointSeq)).size).toBe(3);
      const inBase = await baseIds(s.source);
      expect(inBase).toEqual(s.acks.slice(0, inBase.length));
      const total = shippedCommits(s);
      expect(total).toBeGreaterThan(50);
      const k = 1 + Math.floor(where * total);
      const done = unwrap(await restore(s, { kind: 'transaction', index: k }));
      expect(done.report.commitsApplied).toBe(k);
      expect(done.report.baseWalCommits).toBe(0); // an application-consistent base: its WAL was checkpointed and cut
      const real = await openReal(done.database);
      expect(real.integrity).toBe('ok');
      expect(exactness(real.ids, s.acks.slice(0, inBase.length + k))).toEqual(EXACT);
    }), { numRuns: 5 });
  });

  it('the exactness and integrity checks fail on a wrong result: one commit too many or too few, a damaged page', async () => {
    const s = await scenario(7);
    const inBase = await baseIds(s.source);
    const k = Math.floor(shippedCommits(s) / 2);
    const expected = s.acks.slice(0, inBase.length + k);
    const tooMany = await openReal(unwrap(await restore(s, { kind: 'transaction', index: k + 1 })).database);
    expect(exactness(tooMany.ids, expected)).toEqual({ missing: [], extra: [s.acks[inBase.length + k]], order: false });
    const tooFew = await openReal(unwrap(await restore(s, { kind: 'transaction', index: k - 1 })).database);
    expect(exactness(tooFew.ids, expected)).toEqual({ missing: [s.acks[inBase.length + k - 1]], extra: [], order: false });
    const right = unwrap(await restore(s, { kind: 'transaction', index: k }));
    expect(exactness((await openReal(right.database)).ids, expected)).toEqual(EXACT);
    const damaged = right.database.slice();
    damaged.fill(0xff, 4096 + 8, 4096 + 64);
    expect((await openReal(damaged)).integrity).not.toBe('ok');
  });

  it('lands exactly on a random time target: every commit shipped at or before T, exact at the last shipment S <= T', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 100_000 }), fc.double({ min: 0, max: 1, noNaN: true }), async (seed, where) => {
      const s = await scenario(seed, { rounds: 5 });
      const inBase = await baseIds(s.source);
      const records = unwrap(await s.store.list(s.vmId));
      const lo = s.base.meta.snapshotAtUs;
      const hi = Math.max(...records.map((r) => r.atUs));
      const targetUs = Math.floor(lo + where * (hi - lo));
      const done = unwrap(await restore(s, { kind: 'time', timeUs: targetUs }));
      const shippedBy = segments(s).filter((r) => r.atUs <= targetUs);
      const commits = shippedBy.reduce((n, r) => n + r.commits, 0);
      expect(done.report.commitsApplied).toBe(commits);
      const real = await openReal(done.database);
      expect(real.integrity).toBe('ok');
      expect(exactness(real.ids, s.acks.slice(0, inBase.length + commits))).toEqual(EXACT);
      // Exact at S: everything acknowledged before the last shipment at or before T, nothing after it.
      const lastShipUs = Math.max(lo, ...shippedBy.map((r) => r.atUs));
      const have = new Set(real.ids);
      s.acks.forEach((id, i) => {
        const at = s.ackTimes[i] ?? 0;
        if (at < lastShipUs) expect(have.has(id), `ack ${id} at ${at} before S=${lastShipUs}`).toBe(true);
        if (at > lastShipUs) expect(have.has(id), `ack ${id} at ${at} after S=${lastShipUs}`).toBe(false);
      });
    }), { numRuns: 4 });
  });

  it('a crash-consistent base (its own WAL holds commits) rolls forward exactly too', async () => {
    const s = await scenario(11, { quiesce: false });
    expect(s.base.meta.claimed.apps.sqlite).toBe('crash');
    expect(s.ships[0]?.continuity).toBe('chain-start');
    const inBase = await baseIds(s.source);
    expect(inBase).toEqual(s.acks.slice(0, inBase.length));
    const latest = unwrap(await restore(s, { kind: 'latest' }));
    expect(latest.report.baseWalCommits).toBeGreaterThan(0);
    const total = latest.report.commitsApplied;
    for (const k of [1, Math.floor(total / 3), total]) {
      const done = unwrap(await restore(s, { kind: 'transaction', index: k }));
      const real = await openReal(done.database);
      expect(real.integrity).toBe('ok');
      expect(exactness(real.ids, s.acks.slice(0, inBase.length + k)), `k=${k}`).toEqual(EXACT);
    }
  });

  it('the engine\'s checkpoint loses nothing under a heavy workload: commits made after its round are in the tail read with it', async () => {
    const s = await scenario(37, { meanIntervalUs: 1_000, rounds: 4 });
    const tails = s.checkpoints.map((c) => c.shipped.at(-1)?.record);
    expect(tails.every((r) => r !== undefined && r.commits > 0)).toBe(true);
    expect(s.checkpoints.every((c) => c.checkpoint.sealedOffset === c.shipped.at(-1)?.record.endOffset)).toBe(true);
    expect(s.ships.map((r) => r.continuity)).not.toContain('break');
    const inBase = await baseIds(s.source);
    const done = unwrap(await restore(s, { kind: 'latest' }));
    const real = await openReal(done.database);
    expect(real.integrity).toBe('ok');
    expect(exactness(real.ids, s.acks.slice(0, inBase.length + shippedCommits(s)))).toEqual(EXACT);
  });

  it('a torn read ships whole commits only; the rest follows in the next round', async () => {
    const s = await scenario(13, {
      rounds: 4, checkpointEvery: 0,
      beforeRound: (w, i) => {
        if (i === 1) w.tear(4096 + 24 + 100);
        return Promise.resolve();
      },
    });
    const torn = s.ships[1];
    expect(torn?.reason).toMatch(/partial frame/);
    expect(s.ships[2]?.continuity).toBe('continued');
    expect(s.ships[2]?.record.startOffset).toBe(torn?.record.endOffset);
    const inBase = await baseIds(s.source);
    const done = unwrap(await restore(s, { kind: 'latest' }));
    expect(exactness((await openReal(done.database)).ids, s.acks.slice(0, inBase.length + shippedCommits(s)))).toEqual(EXACT);
  });

  it('refuses a missing segment (and still reaches targets before it)', async () => {
    const s = await scenario(17);
    const withCommits = segments(s).filter((r) => r.commits > 0);
    const victim = withCommits[2];
    if (victim === undefined) throw new Error('segments');
    const before = segments(s).filter((r) => r.seq < victim.seq).reduce((n, r) => n + r.commits, 0);
    // Control: the intact chain reaches the end.
    expect((await restore(s, { kind: 'latest' })).ok).toBe(true);
    s.store.remove(victim.id);
    const refused = await restore(s, { kind: 'transaction', index: before + 1 });
    expect(refused.ok ? null : refused.error).toMatchObject({ kind: 'refused', refusal: { kind: 'gap' } });
    expect((await restore(s, { kind: 'latest' })).ok).toBe(false);
    const inBase = await baseIds(s.source);
    const earlier = unwrap(await restore(s, { kind: 'transaction', index: before }));
    expect(exactness((await openReal(earlier.database)).ids, s.acks.slice(0, inBase.length + before))).toEqual(EXACT);
  });

  it('refuses a time target between a lost segment\'s shipment and the next record (found by the logs suite, P7); earlier times still work', async () => {
    const s = await scenario(17, { rounds: 5, checkpointEvery: 0 });
    const victim = segments(s).filter((r) => r.commits > 0)[2];
    const prev = segments(s).filter((r) => victim !== undefined && r.seq < victim.seq).at(-1);
    if (victim === undefined || prev === undefined) throw new Error('segments');
    // Control: the intact chain reaches the victim's shipment.
    expect((await restore(s, { kind: 'time', timeUs: victim.atUs })).ok).toBe(true);
    s.store.remove(victim.id);
    const atLoss = await restore(s, { kind: 'time', timeUs: victim.atUs });
    expect(atLoss.ok ? null : atLoss.error).toMatchObject({ kind: 'refused', refusal: { kind: 'gap' } });
    const timed = unwrap(await restore(s, { kind: 'time', timeUs: prev.atUs - 1 }));
    expect(timed.report.commitsApplied).toBe(segments(s).filter((r) => r.atUs < prev.atUs).reduce((n, r) => n + r.commits, 0));
  });

  it('refuses an out-of-band checkpoint between shipments (frames lost), not the engine\'s own checkpoints', async () => {
    const s = await scenario(19, {
      beforeRound: async (w, i) => {
        // Someone else checkpoints while commits made since the last shipment sit in the WAL.
        if (i === 3) expect(unwrap(await w.hv.runInGuest(w.vmId, 'sqlite3', ['app.db', 'checkpoint'])).exitCode).toBe(0);
      },
    });
    const breaks = s.ships.filter((r) => r.continuity === 'break');
    expect(breaks.length).toBeGreaterThanOrEqual(1);
    expect(breaks[0]?.reason).toMatch(/checkpoint the shipper did not do/);
    const breakSeq = breaks[0]?.record.seq ?? 0;
    const before = segments(s).filter((r) => r.seq < breakSeq).reduce((n, r) => n + r.commits, 0);
    const refused = await restore(s, { kind: 'transaction', index: before + 1 });
    expect(refused.ok ? null : refused.error).toMatchObject({ kind: 'refused', refusal: { kind: 'foreign-checkpoint' } });
    const latest = await restore(s, { kind: 'latest' });
    expect(latest.ok ? null : latest.error).toMatchObject({ kind: 'refused', refusal: { kind: 'foreign-checkpoint' } });
    // Before the break, across the engine's own checkpoint of round 2, the chain is good.
    expect(s.checkpoints.length).toBeGreaterThan(0);
    const inBase = await baseIds(s.source);
    const ok = unwrap(await restore(s, { kind: 'transaction', index: before }));
    expect(exactness((await openReal(ok.database)).ids, s.acks.slice(0, inBase.length + before))).toEqual(EXACT);
  });

  it('refuses an out-of-band checkpoint between the base and the first shipment', async () => {
    const s = await scenario(23, {
      rounds: 3,
      afterBackup: async (w) => {
        w.hv.runFor(50_000);
        expect(unwrap(await w.hv.runInGuest(w.vmId, 'sqlite3', ['app.db', 'checkpoint'])).exitCode).toBe(0);
      },
    });
    expect(s.ships[0]?.continuity).toBe('break');
    const r = await restore(s, { kind: 'transaction', index: 1 });
    expect(r.ok ? null : r.error).toMatchObject({ kind: 'refused', refusal: { kind: 'foreign-checkpoint' } });
    // The same scenario without the foreign checkpoint starts cleanly.
    const clean = await scenario(23, { rounds: 3 });
    expect(clean.ships[0]?.continuity).toBe('chain-start');
    expect((await restore(clean, { kind: 'transaction', index: 1 })).ok).toBe(true);
  });

  it('refuses a damaged segment, targets past the chain, and a base without a chain', async () => {
    const s = await scenario(29, { rounds: 4 });
    const total = shippedCommits(s);
    const past = await restore(s, { kind: 'transaction', index: total + 1 });
    expect(past.ok ? null : past.error).toMatchObject({ kind: 'refused', refusal: { kind: 'target-beyond-chain', commitsAvailable: total } });
    const records = unwrap(await s.store.list(s.vmId));
    const late = await restore(s, { kind: 'time', timeUs: Math.max(...records.map((r) => r.atUs)) + 1 });
    expect(late.ok ? null : late.error).toMatchObject({ kind: 'refused', refusal: { kind: 'target-beyond-chain' } });
    const early = await restore(s, { kind: 'time', timeUs: s.base.meta.snapshotAtUs - 1 });
    expect(early.ok ? null : early.error).toMatchObject({ kind: 'refused', refusal: { kind: 'target-before-base' } });
    const none = await rollForwardSqlite({ logs: new MemorySqliteWalStore() }, s.source, { vmId: s.vmId, dbPath: DB, target: { kind: 'latest' } });
    expect(none.ok ? null : none.error).toMatchObject({ kind: 'refused', refusal: { kind: 'no-chain' } });
    const victim = segments(s).find((r) => r.commits > 2);
    if (victim === undefined) throw new Error('segments');
    const damaged = unwrap(await s.store.get(victim.id));
    damaged[damaged.length - 2000] = (damaged[damaged.length - 2000] ?? 0) ^ 0x10;
    s.store.replaceBlob(victim.id, damaged);
    const corrupt = await restore(s, { kind: 'latest' });
    expect(corrupt.ok ? null : corrupt.error).toMatchObject({ kind: 'refused', refusal: { kind: 'corrupt-segment', recordId: victim.id } });
  });

  it('reports what a restore cost and what shipping cost', async () => {
    const s = await scenario(31);
    const done = unwrap(await restore(s, { kind: 'latest' }));
    const report: SqliteRollForwardReport = done.report;
    expect(report.segmentsApplied.length).toBeGreaterThan(3);
    expect(report.bytesRead).toBeGreaterThan(report.baseDbBytes);
    expect(report.outputBytes).toBe(done.database.length);
    expect(report.simulatedDurationUs).toBeGreaterThan(0);
    const shipped = segments(s);
    expect(shipped.every((r) => r.endedUs >= r.startedUs)).toBe(true);
    expect(shipped.reduce((n, r) => n + r.bytes, 0)).toBeGreaterThan(0);
  });
});
