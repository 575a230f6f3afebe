/**
 * The demo's step building (reports/demo/steps.ts), pure: the same event of both runs
 * shares a step (the k-th of its kind and app, within 100 ms), ordered by the quiesced
 * run's instant; a freeze or thaw of one run is shown absent in the other; each run's
 * events are taken in time order; the outcome lists every lost item of every point.
 */

import { describe, expect, it } from 'vitest';
import { buildDemoStory, laneOutcome, mergeTimelines, type DemoRun } from '../../reports/demo/steps.js';

const ev = (atUs: number, kind: string, detail: string) => ({ atUs, kind, detail });

describe('demo steps', () => {
  it('pairs the same events, shows a freeze absent in the plain run, orders by time', () => {
    const plain = [ev(0, 'boot', 'b'), ev(10, 'writes', 'files: 3'), ev(729, 'dirty', '4 dirty'), ev(729, 'snapshot', 'none')];
    const quiesced = [ev(0, 'boot', 'b'), ev(10, 'writes', 'files: 3'), ev(742, 'dirty', 'no dirty'), ev(731, 'freeze', 'vss'), ev(742, 'snapshot', 'application'), ev(800, 'thaw', 't')];
    const drafts = mergeTimelines(plain, quiesced);
    expect(drafts.map((d) => d.kind)).toEqual(['boot', 'writes', 'freeze', 'dirty', 'snapshot', 'thaw']);
    expect(drafts.find((d) => d.kind === 'freeze')?.plain?.absent).toBe(true);
    expect(drafts.find((d) => d.kind === 'snapshot')?.plain?.atUs).toBe(729);
    expect(drafts.find((d) => d.kind === 'snapshot')?.quiesced?.atUs).toBe(742);
    // further apart than 100 ms: two steps
    expect(mergeTimelines([ev(0, 'writes', 'files: 1')], [ev(200_000, 'writes', 'files: 1')])).toHaveLength(2);
  });

  it('the outcome lists every lost item of every point, durable or buffered, and the journal replay', () => {
    const run: DemoRun = {
      level: 'crash',
      outcome: {
        timeline: [ev(0, 'boot', 'b')],
        points: [0, 1].map((index) => ({
          index, ok: true, truth: { snapshotAtUs: 5 + index, cutUs: 5 + index, quiesce: { mode: 'none' } }, claimed: null,
          restored: { verdict: { vm: 'crash', why: 'a volume needs journal replay', apps: {
            files: { level: 'crash', why: 'x', lost: [`w${index}`, 'w9'], lostDurable: ['w9'], recoveryNeeded: false },
            sqlite: { level: 'crash', why: 'y', lost: [], lostDurable: [], recoveryNeeded: true },
          } } },
        })),
      },
    };
    const o = laneOutcome(run, 'sqlite');
    expect(o.lost.map((l) => `${l.point}:${l.id}`)).toEqual(['0:w0', '0:w9', '1:w1', '1:w9']);
    expect(o.lost[1]?.why).toMatch(/^acknowledged as durable/);
    expect(o.lost[0]?.why).toMatch(/dirty in the page cache/);
    expect(o).toMatchObject({ snapshotAtUs: 5, quiesce: 'none', journalReplay: true, appRecovery: ['sqlite'] });
    const story = buildDemoStory({ scenario: 's', title: 't', seed: 1, cell: 'c', app: 'sqlite', lanes: { plain: { label: 'p', how: 'h' }, quiesced: { label: 'q', how: 'h' } }, runs: { plain: run, quiesced: run } });
    expect(story.steps.map((s) => s.kind)).toEqual(['boot', 'outcome']);
    expect(story.steps[1]?.plain?.text).toMatch(/^level crash; the restored volumes needed journal replay .*; sqlite needed crash recovery when it opened; 4 acknowledged items lost$/);
  });
});
