/**
 * The training demo's story (`quiescelab demo`), as plain data: the same VM and workload
 * run twice — a plain (crash-consistent) snapshot and an application-consistent one — and
 * their two recorded timelines merged into one list of steps a trainer plays forward and
 * back. Pure: it only reads the two runs the harness recorded (timeline, points, the lab's
 * verdicts, data loss), so another seed tells another, equally true story.
 *
 * A step is one instant of either run: the same event of both runs (the k-th event of a
 * kind, within 100 ms of each other) shares a step, side by side; an event of one run only
 * (the VSS freeze and thaw of the quiesced one) is shown with its absence in the other.
 * The last step is the outcome: per run, what the restore needed (journal replay or not),
 * the level the lab found, and every acknowledged transaction or write absent from the
 * restored image, with why.
 */

import { assert } from '../../core/assert.js';

/** The shapes the demo reads of a recorded run (structurally the harness's OneRun; reports/ does not import scenarios/). */
export interface DemoTimelineEvent {
  readonly atUs: number;
  readonly kind: string;
  readonly detail: string;
}

export interface DemoAppVerdict {
  readonly level: string;
  readonly why: string;
  readonly lost: readonly string[];
  readonly lostDurable: readonly string[];
  readonly recoveryNeeded: boolean;
}

export interface DemoPoint {
  readonly index: number;
  readonly ok: boolean;
  readonly truth: { readonly snapshotAtUs: number; readonly cutUs: number; readonly quiesce: { readonly mode: string } } | null;
  readonly claimed: { readonly vm: string; readonly apps: Readonly<Record<string, string | undefined>> } | null;
  readonly restored: { readonly verdict: { readonly vm: string; readonly why: string; readonly apps: Readonly<Record<string, DemoAppVerdict | undefined>> } } | null;
}

export interface DemoRun {
  readonly outcome: { readonly timeline: readonly DemoTimelineEvent[]; readonly points: readonly DemoPoint[] };
  readonly level: string | null;
}

export type Lane = 'plain' | 'quiesced';
export const LANES: readonly Lane[] = ['plain', 'quiesced'];

export interface LaneEvent {
  readonly atUs: number;
  readonly kind: string;
  readonly text: string;
  /** True when this run has no such event (shown as the other run's step, absent here). */
  readonly absent?: boolean;
}

export interface LostItem {
  readonly point: number;
  readonly app: string;
  readonly id: string;
  readonly why: string;
}

export interface LaneOutcome {
  /** The first stored point's snapshot instant and quiesce mode, or null: no snapshot. */
  readonly snapshotAtUs: number | null;
  readonly quiesce: string | null;
  /** The lowest level the cell's app reached (the run's own), or null. */
  readonly level: string | null;
  /** A restored volume needed journal replay (its file system was not clean). */
  readonly journalReplay: boolean;
  /** Apps that needed crash recovery when they opened the restored image (their log replayed). */
  readonly appRecovery: readonly string[];
  readonly why: string;
  /** Every acknowledged commit or write before the cut absent from a restored point. */
  readonly lost: readonly LostItem[];
}

export interface DemoStep {
  readonly index: number;
  readonly atUs: number;
  /** The event kind (boot, writes, dirty, freeze, snapshot, …) or 'outcome' for the last step. */
  readonly kind: string;
  readonly title: string;
  readonly plain: LaneEvent | null;
  readonly quiesced: LaneEvent | null;
}

export interface DemoStory {
  readonly scenario: string;
  readonly title: string;
  readonly seed: number;
  readonly cell: string;
  readonly app: string;
  readonly lanes: Readonly<Record<Lane, { readonly label: string; readonly how: string }>>;
  readonly steps: readonly DemoStep[];
  readonly outcome: Readonly<Record<Lane, LaneOutcome>>;
}

export interface DemoInput {
  readonly scenario: string;
  readonly title: string;
  readonly seed: number;
  readonly cell: string;
  readonly app: string;
  readonly lanes: DemoStory['lanes'];
  readonly runs: Readonly<Record<Lane, DemoRun>>;
}

/** Events of the two runs further apart than this are separate steps. */
const PAIR_WINDOW_US = 100_000;

const TITLES: Readonly<Record<string, string>> = {
  boot: 'The VM boots', writes: 'The workload commits', dirty: 'Dirty pages in the page cache', fault: 'A fault',
  'power-loss': 'Power loss', freeze: 'VSS freeze', thaw: 'VSS thaw', snapshot: 'The snapshot instant',
  'snapshot-removed': 'The snapshot is removed', backup: 'The backup is stored', restore: 'The restore', verdict: 'The lab judges the restored image',
};

const ABSENT: Readonly<Record<string, string>> = {
  freeze: 'no freeze: a plain snapshot does not ask the guest or its VSS writers to flush and hold their writes',
  thaw: 'no thaw: nothing was frozen',
};

/** The pairing key of each event of a run: its kind, the app it is about (writes), and its occurrence among those. */
function keyed(timeline: readonly DemoTimelineEvent[]): { key: string; event: DemoTimelineEvent }[] {
  const seen = new Map<string, number>();
  return timeline.map((event) => {
    const about = event.kind === 'writes' || event.kind === 'power-loss' ? (/^([\w-]+):/.exec(event.detail)?.[1] ?? '') : '';
    const base = `${event.kind}/${about}`;
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    return { key: `${base}#${n}`, event };
  });
}

interface Draft { atUs: number; kind: string; plain: LaneEvent | null; quiesced: LaneEvent | null }

const laneEvent = (e: DemoTimelineEvent): LaneEvent => ({ atUs: e.atUs, kind: e.kind, text: e.detail });

/** A run's events in time order (a run notes the freeze after the capture's dirty pages, at its earlier instant). */
function byTime(timeline: readonly DemoTimelineEvent[]): DemoTimelineEvent[] {
  return timeline.map((e, i) => ({ e, i })).sort((a, b) => a.e.atUs - b.e.atUs || a.i - b.i).map(({ e }) => e);
}

/** The two timelines merged into steps: paired events side by side, ordered by their earlier instant. */
export function mergeTimelines(plainRaw: readonly DemoTimelineEvent[], quiescedRaw: readonly DemoTimelineEvent[]): Draft[] {
  const plain = byTime(plainRaw);
  const quiesced = byTime(quiescedRaw);
  const drafts: Draft[] = keyed(plain).map(({ event }) => ({ atUs: event.atUs, kind: event.kind, plain: laneEvent(event), quiesced: null }));
  const open = new Map<string, Draft>();
  keyed(plain).forEach(({ key }, i) => open.set(key, drafts[i] as Draft));
  for (const { key, event } of keyed(quiesced)) {
    const mate = open.get(key);
    if (mate !== undefined && Math.abs(mate.atUs - event.atUs) <= PAIR_WINDOW_US) {
      // A shared step takes the quiesced run's instant: its snapshot falls inside its freeze window.
      mate.quiesced = laneEvent(event);
      mate.atUs = event.atUs;
    } else {
      drafts.push({ atUs: event.atUs, kind: event.kind, plain: null, quiesced: laneEvent(event) });
    }
  }
  drafts.forEach((d) => {
    const absent = ABSENT[d.kind];
    if (absent === undefined) return;
    if (d.plain === null) d.plain = { atUs: d.atUs, kind: d.kind, text: absent, absent: true };
    if (d.quiesced === null) d.quiesced = { atUs: d.atUs, kind: d.kind, text: absent, absent: true };
  });
  // Stable: equal instants keep the plain run's order, then the quiesced run's.
  return drafts.map((d, i) => ({ d, i })).sort((a, b) => a.d.atUs - b.d.atUs || a.i - b.i).map(({ d }) => d);
}

/** Why an acknowledged item is absent from the restored image (the lab's own distinction: durable or only buffered). */
export function lostWhy(app: string, durable: boolean, quiesced: boolean): string {
  if (durable) return 'acknowledged as durable before the cut and missing from the image: the storage stack lied about flush, or the image is damaged';
  if (app === 'files') {
    return quiesced
      ? 'written (write() returned) but not fsync\'ed before the freeze: this app has no VSS writer, so nothing flushed it'
      : 'written (write() returned) but not fsync\'ed: dirty in the page cache at the snapshot instant, never on the disk the snapshot captured';
  }
  return 'committed before the cut but not yet on disk: lost with the guest\'s memory at the snapshot instant';
}

/** One run's ending: the first point's snapshot, the level, journal replay, every lost item. */
export function laneOutcome(run: DemoRun, app: string): LaneOutcome {
  const first = run.outcome.points.find((p) => p.truth !== null) ?? null;
  const lost: LostItem[] = [];
  let journalReplay = false;
  const appRecovery = new Set<string>();
  let why = 'no point was stored: nothing to restore';
  for (const p of run.outcome.points) {
    const verdict = p.restored?.verdict;
    if (verdict === undefined) continue;
    const quiesced = p.truth !== null && p.truth.quiesce.mode !== 'none';
    if (p === first || why.startsWith('no point')) why = verdict.apps[app]?.why ?? verdict.why;
    for (const [appId, a] of Object.entries(verdict.apps)) {
      if (a === undefined) continue;
      journalReplay ||= /needs journal replay/.test(`${verdict.why} ${a.why}`);
      if (a.recoveryNeeded) appRecovery.add(appId);
      const durable = new Set(a.lostDurable);
      for (const id of a.lost) lost.push({ point: p.index, app: appId, id, why: lostWhy(appId, durable.has(id), quiesced) });
    }
  }
  return { snapshotAtUs: first?.truth?.snapshotAtUs ?? null, quiesce: first?.truth?.quiesce.mode ?? null, level: run.level, journalReplay, appRecovery: [...appRecovery].sort(), why, lost };
}

function outcomeText(o: LaneOutcome): string {
  const replay = o.journalReplay ? 'the restored volumes needed journal replay (as after a power loss)' : 'no journal replay: the volumes were clean';
  const recovery = o.appRecovery.length === 0 ? '' : `; ${o.appRecovery.join(', ')} needed crash recovery when it opened`;
  const lost = o.lost.length === 0 ? 'every acknowledged transaction and write before the cut came back' : `${o.lost.length} acknowledged item${o.lost.length === 1 ? '' : 's'} lost`;
  return `level ${o.level ?? '-'}; ${replay}${recovery}; ${lost}`;
}

/** The whole story: merged steps, then the outcome step. */
export function buildDemoStory(input: DemoInput): DemoStory {
  assert(Number.isSafeInteger(input.seed) && input.seed >= 0, 'demo seed');
  assert(input.app !== '' && input.cell !== '', 'demo cell and app');
  const drafts = mergeTimelines(input.runs.plain.outcome.timeline, input.runs.quiesced.outcome.timeline);
  assert(drafts.length > 0, 'the runs recorded a timeline');
  const outcome = { plain: laneOutcome(input.runs.plain, input.app), quiesced: laneOutcome(input.runs.quiesced, input.app) };
  const steps: DemoStep[] = drafts.map((d, index) => ({ index, atUs: d.atUs, kind: d.kind, title: TITLES[d.kind] ?? d.kind, plain: d.plain, quiesced: d.quiesced }));
  const endUs = Math.max(...drafts.map((d) => d.atUs));
  steps.push({
    index: steps.length, atUs: endUs, kind: 'outcome', title: 'What came back, what was lost, and why',
    plain: { atUs: endUs, kind: 'outcome', text: outcomeText(outcome.plain) },
    quiesced: { atUs: endUs, kind: 'outcome', text: outcomeText(outcome.quiesced) },
  });
  return { scenario: input.scenario, title: input.title, seed: input.seed, cell: input.cell, app: input.app, lanes: input.lanes, steps, outcome };
}
