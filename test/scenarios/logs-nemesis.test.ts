/**
 * The logs nemesis (scenarios/nemesis/logs.ts): one entry per chain break a logs spec can
 * draw, plus the overrun. Each strikes where the scenario expects it (in a wait after log
 * backup `after`, before the restore, or never), injects through the scenario's target
 * only what its kind does, and describes itself; the overrun slows exactly one log backup.
 */

import { describe, expect, it } from 'vitest';
import { logsNemesisOf, OVERRUN, type LogsNemesisTarget } from '../../scenarios/nemesis/logs.js';
import type { ChainBreakPlan, LogsSpec } from '../../scenarios/scenario/logs-spec.js';

const PLANS: readonly ChainBreakPlan[] = [
  { kind: 'none' },
  { kind: 'copy-only', after: 1 },
  { kind: 'to-nul', after: 0 },
  { kind: 'outside-log-backup', after: 1 },
  { kind: 'outside-checkpoint', after: 0 },
  { kind: 'missing', index: 2 },
];

/** A target that records what was asked of it. */
function recorder(): { target: LogsNemesisTarget; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    target: {
      outside: (phase, program, args) => { calls.push(`${phase}:${program} ${args.join(' ')}`); return Promise.resolve('exit 0'); },
      engineCopyOnly: () => { calls.push('copy-only'); return Promise.resolve('LSN 1 to 2'); },
      removeLogBackup: (index) => { calls.push(`remove ${index}`); return Promise.resolve(index > 5 ? null : { atUs: 42, detail: 'removed' }); },
    },
  };
}

describe('the logs nemesis', () => {
  it('strikes: breaks in a wait after their log backup, a missing log backup before the restore, none never', () => {
    expect(PLANS.map((p) => logsNemesisOf(p).strikes(p))).toEqual([
      { kind: 'never' }, { kind: 'in-wait', after: 1 }, { kind: 'in-wait', after: 0 }, { kind: 'in-wait', after: 1 }, { kind: 'in-wait', after: 0 }, { kind: 'before-restore' },
    ]);
    expect(PLANS.map((p) => logsNemesisOf(p).describe(p))).toEqual(['none', 'copy-only@1', 'to-nul@0', 'outside-log-backup@1', 'outside-checkpoint@0', 'missing@2']);
  });

  it('inject: each kind does its own operation through the target, and nothing else', async () => {
    const seen: string[][] = [];
    for (const plan of PLANS) {
      const { target, calls } = recorder();
      const done = await logsNemesisOf(plan).inject(target, plan);
      expect(done === null, plan.kind).toBe(plan.kind === 'none');
      seen.push(calls);
    }
    expect(seen).toEqual([
      [], ['copy-only'], ['to-nul:sqlcmd backup-log --to-nul'], ['outside:sqlcmd backup-log'], [expect.stringMatching(/^outside:sqlite3 .* checkpoint$/) as string], ['remove 2'],
    ]);
    const { target } = recorder();
    const missing: ChainBreakPlan = { kind: 'missing', index: 9 };
    expect(await logsNemesisOf(missing).inject(target, missing)).toBeNull(); // nothing to remove: no break
  });

  it('the overrun slows only log backup `index` (SQLite: its round\'s first WAL read) by extraPct of an interval', () => {
    const spec = { overrun: { index: 1, extraPct: 150 }, intervalMs: 200 } as unknown as LogsSpec;
    const run = { sqlLogBackup: true, walRead: false, logBackupsBefore: 1, roundSlowed: false };
    expect(OVERRUN.slowUs(spec, run)).toBe(300_000);
    expect(OVERRUN.slowUs(spec, { ...run, logBackupsBefore: 0 })).toBe(0);
    expect(OVERRUN.slowUs(spec, { ...run, sqlLogBackup: false, walRead: true, roundSlowed: true })).toBe(0);
    expect(OVERRUN.slowUs({ ...spec, overrun: null }, run)).toBe(0);
    expect(OVERRUN.describe(spec)).toBe('overrun@1:+150%');
  });
});
