/**
 * Mutants of log backups and roll-forward (the logs suite kills them): a roll-forward
 * that stops one past its target (P6), a chain planner that skips the gap check (P7), a
 * schedule rule that waits a full interval after an overrun, a shipping round that fails
 * quietly (P13). Each substitutes one
 * entry point of the engine's `log` record.
 */

import { err, ok } from '../../core/result.js';
import { planRollForward, type LogBackupRef, type RollForwardTarget } from '../../engine/logbackup/chain.js';
import { nextLogBackupStart } from '../../engine/logbackup/schedule.js';
import type { SqliteWalStore } from '../../engine/logbackup/sqlite-shipper.js';
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

export const LOG_MUTANT_ENGINES = { ONE_PAST_TARGET, GAP_IGNORED, LATE_AFTER_OVERRUN, ROUND_FAILS_QUIETLY };

const SQL = 'win2019/esx41/sqlserver/default';
const SQLITE = 'linux/esx41/sqlite/script';

export const LOG_MUTANTS: readonly Mutant[] = [
  { id: 'rollforward-one-past-target', description: 'Roll-forward includes the transaction just after the target (STOPAT / STOPATLSN one past it).', area: 'log chain', cells: [SQL], expectedKiller: 'P6', engine: ONE_PAST_TARGET },
  { id: 'chain-ignores-gap', description: 'The log chain check ignores a gap: past a hole it takes the later log backups as if they joined up.', area: 'log chain', cells: [SQL], expectedKiller: 'P7', engine: GAP_IGNORED },
  { id: 'late-after-overrun', description: 'After a log backup that overran its tick, the next waits a full interval instead of starting at once (seed 003).', area: 'schedule', cells: [SQLITE], expectedKiller: 'P13', engine: LATE_AFTER_OVERRUN },
  { id: 'wal-round-fails-quietly', description: 'A scheduled WAL shipping round now and then reads the WAL but fails to store it; the next round ships it again, so no commit is lost and the RPO holds: only the failed round shows it.', area: 'schedule', cells: [SQLITE], expectedKiller: 'P13', engine: ROUND_FAILS_QUIETLY },
];
