/**
 * Mutants of log backups and roll-forward (the logs suite kills them): a roll-forward
 * that stops one past its target (P6), a chain planner that skips the gap check (P7), a
 * schedule rule that waits a full interval after an overrun, a shipping round that fails
 * quietly (P13); bugs only a chain boundary shows (P6: an LSN at a log backup's last
 * record, the base's own instant — the logs suite's BUGGIFY targets them); and a
 * repository log store that, opened again, hides records without a blob (P6, only on the
 * repository path). Each substitutes one entry point of the engine's `log` record, or
 * wraps the store the repository is opened on.
 */

import { err, ok, type Result } from '../../core/result.js';
import { planRollForward, type LogBackupRef, type RollForwardTarget } from '../../engine/logbackup/chain.js';
import { nextLogBackupStart } from '../../engine/logbackup/schedule.js';
import { planSqliteRollForward } from '../../engine/logbackup/sqlite-chain.js';
import type { SqliteWalStore } from '../../engine/logbackup/sqlite-shipper.js';
import { decodeLogRecordObject, LOGS_PREFIX } from '../../engine/repository/log-record.js';
import { Repository } from '../../engine/repository/repository.js';
import type { ByteStore, StoreError } from '../../engine/store/byte-store.js';
import { QUIESCELAB_ENGINE, QUIESCELAB_LOG_ENGINE, type EngineUnderTest } from '../scenario/engine.js';
import type { Mutant } from './mutant.js';

function broken(name: string, log: Partial<EngineUnderTest['log']>): EngineUnderTest {
  return { ...QUIESCELAB_ENGINE, name, log: { ...QUIESCELAB_LOG_ENGINE, ...log } };
}

/** Roll-forward includes the transaction just after the target: STOPAT / STOPATLSN one past it. */
const ONE_PAST_TARGET = broken('rollforward-one-past-target', {
  rollForwardSql: (env, restored, target) => QUIESCELAB_LOG_ENGINE.rollForwardSql(env, restored, target.kind === 'lsn' ? { kind: 'lsn', lsn: target.lsn + 1 } : target.kind === 'time' ? { kind: 'time', timeUs: target.timeUs + 1 } : target),
});

/** The chain check ignores a gap: past a hole it takes the later log backups as if they joined up. */
const GAP_IGNORED = broken('chain-ignores-gap', {
  planSqlRollForward: (backups, startLsn, target: RollForwardTarget) => {
    const plan = planRollForward(backups, startLsn, target);
    if (plan.ok || plan.error.kind !== 'gap') return plan;
    const chain = backups.filter((b) => !b.copyOnly && b.lastLsn > startLsn).slice().sort((a, b) => a.firstLsn - b.firstLsn);
    const reached = (b: LogBackupRef): boolean => (target.kind === 'time' ? b.backupTimeUs >= target.timeUs : target.kind === 'lsn' ? b.lastLsn > target.lsn : false);
    const end = chain.findIndex(reached);
    return ok(end < 0 ? chain : chain.slice(0, end + 1));
  },
});

/** After a log backup that overran its tick, the next waits a full interval instead of starting at once. */
const LATE_AFTER_OVERRUN = broken('late-after-overrun', {
  nextLogBackupStart: (schedule, startedUs, endedUs) => {
    const next = nextLogBackupStart(schedule, startedUs, endedUs);
    return next !== null && next === endedUs ? endedUs + schedule.intervalUs : next;
  },
});

/**
 * A WAL shipping round that reads the WAL and then fails to store it now and then (about
 * one round in three, chosen by the virtual clock at the round's start, so runs stay
 * deterministic): the next round ships again from the last stored frame, so no commit is
 * lost for good and the RPO holds, but a round on schedule stored nothing.
 */
const ROUND_FAILS_QUIETLY = broken('wal-round-fails-quietly', {
  shipSqliteWal: (env, request) => {
    if (Math.floor(env.clock.nowUs() / 1000) % 3 !== 0) return QUIESCELAB_LOG_ENGINE.shipSqliteWal(env, request);
    const store: SqliteWalStore = { put: () => Promise.resolve(err({ kind: 'unavailable', reason: 'the put was dropped' })), list: (vmId) => env.store.list(vmId), get: (id) => env.store.get(id) };
    return QUIESCELAB_LOG_ENGINE.shipSqliteWal({ ...env, store }, request);
  },
});

/**
 * The roll-forward takes a log backup's end as exclusive: when an LSN target is the last
 * record of a stored log backup (lastLsn - 1), it stops one record early (STOPATLSN
 * target - 1), and the record there — often the commit that ended the backup — is lost.
 * Composed: the real roll-forward, given the target one LSN lower exactly then.
 */
const BOUNDARY_EXCLUSIVE = broken('rollforward-boundary-exclusive', {
  rollForwardSql: async (env, restored, target) => {
    if (target.kind !== 'lsn') return QUIESCELAB_LOG_ENGINE.rollForwardSql(env, restored, target);
    const listed = await env.logs.list(restored.sourceVmId);
    const atEnd = listed.ok && listed.value.some((b) => !b.copyOnly && b.lastLsn - 1 === target.lsn);
    return QUIESCELAB_LOG_ENGINE.rollForwardSql(env, restored, atEnd ? { kind: 'lsn', lsn: target.lsn - 1 } : target);
  },
});

/**
 * The SQLite planner takes "before the base" as at or before it: a time target exactly at
 * the base's own instant (the full backup's snapshot, the chain's anchor) is refused as
 * `target-before-base`, though the base alone is exactly what it asks for.
 */
const BASE_INSTANT_REFUSED = broken('sqlite-base-instant-refused', {
  planSqliteRollForward: (records, base, target, load) => {
    const anchor = records.find((r) => r.kind === 'anchor' && r.basePointId === base.basePointId);
    if (target.kind === 'time' && anchor?.kind === 'anchor' && anchor.baseAtUs === target.timeUs) {
      return Promise.resolve(err({ kind: 'target-before-base', baseAtUs: target.timeUs, reason: `the target is not after the base (taken at ${target.timeUs} us)` }));
    }
    return planSqliteRollForward(records, base, target, load);
  },
});

/**
 * A ByteStore seen through a repository opened again without the writer lock (as a
 * restore opens it), whose listing of log records leaves out every record object without
 * a blob — the reader finds records through the blob index — so an anchor, a shipper's
 * checkpoint or an empty segment is invisible to the restore. Only the repository's log
 * store (engine/repository/log-store.ts) reads through it.
 */
class BloblessHiddenStore implements ByteStore {
  readonly description: string;
  constructor(private readonly inner: ByteStore) { this.description = inner.description; }
  put(name: string, bytes: Uint8Array): Promise<Result<void, StoreError>> { return this.inner.put(name, bytes); }
  putExclusive(name: string, bytes: Uint8Array): ReturnType<ByteStore['putExclusive']> { return this.inner.putExclusive(name, bytes); }
  get(name: string): Promise<Result<Uint8Array, StoreError>> { return this.inner.get(name); }
  getRange(name: string, offset: number, length: number): ReturnType<ByteStore['getRange']> { return this.inner.getRange(name, offset, length); }
  delete(name: string): Promise<Result<void, StoreError>> { return this.inner.delete(name); }
  exists(name: string): Promise<Result<boolean, StoreError>> { return this.inner.exists(name); }
  async list(prefix: string): Promise<Result<readonly string[], StoreError>> {
    const names = await this.inner.list(prefix);
    if (!names.ok || !prefix.startsWith(LOGS_PREFIX)) return names;
    const kept: string[] = [];
    for (const name of names.value) {
      const bytes = await this.inner.get(name);
      const decoded = bytes.ok ? decodeLogRecordObject(name, bytes.value) : null;
      if (decoded?.ok !== true || decoded.value.file.blob !== null) kept.push(name);
    }
    return ok(kept);
  }
}

const REOPEN_HIDES_BLOBLESS: EngineUnderTest = {
  ...QUIESCELAB_ENGINE, name: 'repo-log-reopen-hides-blobless',
  openRepository: (store, options) => Repository.open(options.writer === undefined ? new BloblessHiddenStore(store) : store, options),
};

export const LOG_MUTANT_ENGINES = { ONE_PAST_TARGET, GAP_IGNORED, LATE_AFTER_OVERRUN, ROUND_FAILS_QUIETLY, BOUNDARY_EXCLUSIVE, BASE_INSTANT_REFUSED, REOPEN_HIDES_BLOBLESS };

const SQL = 'win2019/esx41/sqlserver/default';
const SQLITE = 'linux/esx41/sqlite/script';

export const LOG_MUTANTS: readonly Mutant[] = [
  { id: 'rollforward-one-past-target', description: 'Roll-forward includes the transaction just after the target (STOPAT / STOPATLSN one past it).', area: 'log chain', cells: [SQL], expectedKiller: 'P6', engine: ONE_PAST_TARGET },
  { id: 'chain-ignores-gap', description: 'The log chain check ignores a gap: past a hole it takes the later log backups as if they joined up.', area: 'log chain', cells: [SQL], expectedKiller: 'P7', engine: GAP_IGNORED },
  { id: 'late-after-overrun', description: 'After a log backup that overran its tick, the next waits a full interval instead of starting at once (seed 003).', area: 'schedule', cells: [SQLITE], expectedKiller: 'P13', engine: LATE_AFTER_OVERRUN },
  { id: 'rollforward-boundary-exclusive', description: 'The SQL Server roll-forward takes a log backup\'s end as exclusive: an LSN target exactly at a log backup\'s last record stops one record early (the commit there is lost).', area: 'log chain', cells: [SQL], expectedKiller: 'P6', engine: BOUNDARY_EXCLUSIVE },
  { id: 'sqlite-base-instant-refused', description: 'The SQLite planner takes "before the base" as at or before it: a time target exactly at the base\'s own instant is refused as before the base.', area: 'log chain', cells: [SQLITE], expectedKiller: 'P6', engine: BASE_INSTANT_REFUSED },
  { id: 'repo-log-reopen-hides-blobless', description: 'Opened again without the writer lock (as a restore opens it), the repository\'s log store lists only records that carry a blob: the SQLite chain\'s anchor, checkpoints and empty segments are invisible, so every roll-forward from the repository is refused.', area: 'repository', cells: [SQLITE], expectedKiller: 'P6', engine: REOPEN_HIDES_BLOBLESS },
  { id: 'wal-round-fails-quietly', description: 'A scheduled WAL shipping round now and then reads the WAL but fails to store it; the next round ships it again, so no commit is lost and the RPO holds: only the failed round shows it.', area: 'schedule', cells: [SQLITE], expectedKiller: 'P13', engine: ROUND_FAILS_QUIETLY },
];
