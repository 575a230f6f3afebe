/**
 * The nemesis of the logs scenarios (scenarios/scenario/logs-run.ts): one entry per chain
 * break a spec can draw (logs-spec.ts, ChainBreakPlan) and one for the slow log backup,
 * in the shape of the backup suite's nemesis (index.ts) — when it strikes, inject, heal,
 * describe — instead of the if/else chains the scenario had. A new fault of the log chain
 * is one more entry here (and a case of ChainBreakPlan).
 *
 * Strikes: `in-wait` — a quarter into the first wait between scheduled log backups that
 * is long enough (MIN_BREAK_WAIT_US), after scheduled log backup `after`; `before-restore`
 * — once the log window closed, before the restores; `never` (none). Heal: a chain break
 * is not healed (the next full backup starts a new chain; the scenario ends before it);
 * the overrun heals itself (only one log backup is slow).
 *
 * Kinds: none; copy-only (the engine's own copy-only log backup: a control, not a break);
 * to-nul and outside-log-backup (someone else backs the SQL Server log up); an outside
 * WAL checkpoint (SQLite); a stored log backup or segment missing from the store; and the
 * overrun. Where each lives in the world: sim/faults/README.md.
 */

import type { TimeUs } from '../../core/clock.js';
import type { ChainBreakPlan, LogsSpec } from '../scenario/logs-spec.js';
import { DB_PATH } from '../../sim/apps/sqlite/sqlite-app.js';

/** A wait must be at least this long for the nemesis to act in it (a quarter in: its operations take a few ms). */
export const MIN_BREAK_WAIT_US: TimeUs = 60_000;

/** What a log fault acts on and reports to: the log scenario (logs-run.ts's LogScenario). */
export interface LogsNemesisTarget {
  /** Someone else's program in the guest (outside the engine): its exit, for the timeline. */
  outside(phase: string, program: string, args: readonly string[]): Promise<string>;
  /** The engine's own copy-only log backup, stored: what it took, for the timeline. */
  engineCopyOnly(): Promise<string>;
  /** Removes scheduled log backup (SQLite: segment with commits) `index` or later from the store: the break's instant and detail, or null when there was none to remove. */
  removeLogBackup(index: number): Promise<{ readonly atUs: TimeUs; readonly detail: string } | null>;
}

export type LogsStrike = { readonly kind: 'in-wait'; readonly after: number } | { readonly kind: 'before-restore' } | { readonly kind: 'never' };

type Of<K extends ChainBreakPlan['kind']> = Extract<ChainBreakPlan, { readonly kind: K }>;

export interface LogsNemesis<P extends ChainBreakPlan> {
  strikes(plan: P): LogsStrike;
  /** Brings the break on at `atUs`: its instant (when it is not now) and detail, or null when it found nothing to act on. */
  inject(target: LogsNemesisTarget, plan: P): Promise<{ readonly atUs: TimeUs | null; readonly detail: string } | null>;
  /** A chain break stays (the next full starts a new chain). */
  heal(target: LogsNemesisTarget, plan: P): void;
  describe(plan: P): string;
}

const NEVER: LogsStrike = { kind: 'never' };
const stays = (): void => undefined;
const inWait = (plan: { readonly after: number }): LogsStrike => ({ kind: 'in-wait', after: plan.after });

const NONE: LogsNemesis<Of<'none'>> = {
  strikes: () => NEVER, inject: () => Promise.resolve(null), heal: stays, describe: () => 'none',
};

const COPY_ONLY: LogsNemesis<Of<'copy-only'>> = {
  strikes: inWait,
  async inject(target) {
    return { atUs: null, detail: `the engine takes a copy-only log backup: ${await target.engineCopyOnly()}` };
  },
  heal: stays,
  describe: (plan) => `copy-only@${plan.after}`,
};

const TO_NUL: LogsNemesis<Of<'to-nul'>> = {
  strikes: inWait,
  async inject(target) {
    return { atUs: null, detail: `someone else backs the log up to NUL (${await target.outside('to-nul', 'sqlcmd', ['backup-log', '--to-nul'])})` };
  },
  heal: stays,
  describe: (plan) => `to-nul@${plan.after}`,
};

const OUTSIDE_LOG_BACKUP: LogsNemesis<Of<'outside-log-backup'>> = {
  strikes: inWait,
  async inject(target) {
    return { atUs: null, detail: `someone else takes a log backup without COPY_ONLY, kept outside the store (${await target.outside('outside', 'sqlcmd', ['backup-log'])})` };
  },
  heal: stays,
  describe: (plan) => `outside-log-backup@${plan.after}`,
};

const OUTSIDE_CHECKPOINT: LogsNemesis<Of<'outside-checkpoint'>> = {
  strikes: inWait,
  async inject(target) {
    return { atUs: null, detail: `someone else checkpoints the WAL (${await target.outside('outside', 'sqlite3', [DB_PATH, 'checkpoint'])})` };
  },
  heal: stays,
  describe: (plan) => `outside-checkpoint@${plan.after}`,
};

const MISSING: LogsNemesis<Of<'missing'>> = {
  strikes: () => ({ kind: 'before-restore' }),
  inject: (target, plan) => target.removeLogBackup(plan.index),
  heal: stays,
  describe: (plan) => `missing@${plan.index}`,
};

const LOGS_NEMESES: { readonly [K in ChainBreakPlan['kind']]: LogsNemesis<Of<K>> } = {
  'none': NONE, 'copy-only': COPY_ONLY, 'to-nul': TO_NUL, 'outside-log-backup': OUTSIDE_LOG_BACKUP, 'outside-checkpoint': OUTSIDE_CHECKPOINT, 'missing': MISSING,
};

/** The nemesis entry of a chain break. */
export function logsNemesisOf<P extends ChainBreakPlan>(plan: P): LogsNemesis<P> {
  return LOGS_NEMESES[plan.kind] as unknown as LogsNemesis<P>;
}

/** Which program run the overrun slows: SQL Server, scheduled BACKUP LOG `index`; SQLite, the first WAL read of round `index`. */
export interface OverrunRun {
  readonly sqlLogBackup: boolean;
  readonly walRead: boolean;
  /** Scheduled log backups (SQL Server) or rounds (SQLite) before this one. */
  readonly logBackupsBefore: number;
  /** SQLite: a WAL read of this round was slowed already. */
  readonly roundSlowed: boolean;
}

/** The slow log backup: how much longer the run takes (0: not slowed). */
export const OVERRUN = {
  slowUs(spec: LogsSpec, run: OverrunRun): TimeUs {
    const o = spec.overrun;
    if (o === null || o.index !== run.logBackupsBefore) return 0;
    if (!(run.sqlLogBackup || (run.walRead && !run.roundSlowed))) return 0;
    return Math.round((o.extraPct / 100) * spec.intervalMs * 1000);
  },
  describe: (spec: LogsSpec): string => (spec.overrun === null ? 'none' : `overrun@${spec.overrun.index}:+${spec.overrun.extraPct}%`),
} as const;
