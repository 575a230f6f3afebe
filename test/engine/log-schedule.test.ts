/**
 * The log-backup schedule of seed 003: the worked example, and a property over random
 * durations — every start is a tick or the end of an overrunning predecessor, starts never
 * overlap a running backup, no tick with no backup running is skipped, and nothing starts
 * at or after the next full backup; and none without a successful application-aware full.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { logBackupStarts, logScheduleAfter, nextLogBackupStart, type LogSchedule } from '../../engine/logbackup/schedule.js';

const MIN = 60_000_000;

describe('seed 003 log-backup schedule', () => {
  const noon = 12 * 60 * MIN;
  const s: LogSchedule = { fullDoneUs: noon, intervalUs: 30 * MIN };

  it('follows the worked example', () => {
    expect(nextLogBackupStart(s, noon, noon + 20 * MIN)).toBe(noon + 30 * MIN); // ends 12:20 -> 12:30
    expect(nextLogBackupStart(s, noon, noon + 45 * MIN)).toBe(noon + 45 * MIN); // ends 12:45 -> at once
    expect(nextLogBackupStart(s, noon + 45 * MIN, noon + 50 * MIN)).toBe(noon + 60 * MIN); // back on the grid
    expect(nextLogBackupStart({ ...s, nextFullUs: noon + 60 * MIN }, noon + 45 * MIN, noon + 50 * MIN)).toBeNull();
  });

  it('needs a successful application-aware full backup', () => {
    const full = { pointId: 'rp-1', doneUs: noon, appAware: true, reason: 'writer ok' };
    expect(logScheduleAfter(full, { intervalUs: 30 * MIN, nextFullUs: noon + 60 * MIN })).toEqual({ ok: true, value: { ...s, nextFullUs: noon + 60 * MIN } });
    const refused = logScheduleAfter({ ...full, appAware: false, reason: 'the writer failed' }, { intervalUs: 30 * MIN });
    expect(refused.ok ? null : refused.error).toEqual({ kind: 'not-app-aware', pointId: 'rp-1', reason: 'no log backups after rp-1: the writer failed' });
  });

  it('the first log backup starts when the full backup completes', () => {
    expect(logBackupStarts(s, noon + 100 * MIN, () => 5 * MIN)).toEqual([0, 30, 60, 90].map((m) => noon + m * MIN));
  });

  it('holds for random durations', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 120 }), fc.array(fc.integer({ min: 0, max: 200 }), { minLength: 1, maxLength: 40 }), fc.option(fc.integer({ min: 1, max: 2000 }), { nil: undefined }),
      (intervalMin, durationsMin, nextFullMin) => {
        const schedule: LogSchedule = { fullDoneUs: 0, intervalUs: intervalMin * MIN, ...nextFullMin === undefined ? {} : { nextFullUs: nextFullMin * MIN } };
        const duration = (i: number): number => (durationsMin[i % durationsMin.length] ?? 0) * MIN;
        const starts = logBackupStarts(schedule, 3000 * MIN, duration);
        expect(starts[0]).toBe(0);
        for (let i = 1; i < starts.length; i++) {
          const prevStart = starts[i - 1] ?? 0;
          const prevEnd = prevStart + duration(i - 1);
          const start = starts[i] ?? 0;
          const onTick = start % schedule.intervalUs === 0;
          expect(start).toBeGreaterThanOrEqual(prevEnd); // never overlaps the previous one
          expect(onTick || start === prevEnd).toBe(true); // a tick, or at once after an overrun
          // No free tick skipped: the first tick after prevStart is used unless prevEnd passed it.
          const firstTick = (Math.floor(prevStart / schedule.intervalUs) + 1) * schedule.intervalUs;
          expect(start).toBe(Math.max(firstTick, prevEnd));
          if (schedule.nextFullUs !== undefined) expect(start).toBeLessThan(schedule.nextFullUs);
        }
      },
    ), { numRuns: 300 });
  });
});
