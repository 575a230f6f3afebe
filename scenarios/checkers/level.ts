/**
 * The level classifier of DESIGN.md for one captured image (a VmSnapshot, a restored VM),
 * judged from what the isolated lab found (sim/hypervisor/inspect.ts) and what the
 * applications acknowledged before the cut.
 *
 * - inconsistent: a volume is corrupt or does not mount, or an application cannot open.
 * - crash: every volume is consistent (after journal replay where needed). Multi-disk
 *   atomicity holds by construction: the hypervisor captures every disk at one instant.
 * - filesystem: no volume needs journal replay, every file write acknowledged before
 *   the freeze (the `files` app's writes) and not taken back by the capture is present
 *   (see below for removals inside the freeze window), and no file record whose removal was
 *   acknowledged before the freeze is (a zeroed, truncated or deleted record back in the
 *   image is stale data: the removal was a completed write too, and a freeze flushes it).
 *   A crash-consistent image may still hold such a record (the removal was not on disk).
 * - application (per app): filesystem, the app was quiesced by its own agent (its VSS
 *   writer came through, or a freeze-script action of it ran), it opens without crash
 *   recovery and holds every commit acknowledged before the freeze.
 *
 * Also reports, per app, the acknowledged commits missing from the image (with whether
 * they were acknowledged as durable), which is the data loss; a record removed before the
 * cut is expected gone, one removed after the capture is expected present. A removal
 * from the cut's instant up to the capture's is neither: the cut is the start of the
 * freeze window, and an app no agent quiesces (the `files` app) goes on until the file
 * system's own freeze, which comes later (after the VSS writers' Freeze, after the freeze
 * scripts) — what it takes back in between may or may not be in the image. Does not
 * check: transaction level (roll-forward restores), RPO/RTO, whether the engine's claim
 * matches (property 2).
 */

import type { TimeUs } from '../../core/clock.js';
import type { AppId } from '../../core/hypervisor-port.js';
import { minLevel, type ConsistencyLevel } from '../../core/levels.js';
import type { AckRecord } from '../../sim/apps/types.js';
import type { ImageInspection } from '../../sim/hypervisor/inspect.js';

export interface AppVerdict {
  readonly level: ConsistencyLevel;
  readonly why: string;
  /** Acked before the cut and missing from the image. */
  readonly lost: readonly string[];
  /** Of those, acked as durable. */
  readonly lostDurable: readonly string[];
  readonly recoveryNeeded: boolean;
  /** Removed (acknowledged) before the cut and present in the image: stale data back. */
  readonly resurrected: readonly string[];
}

export interface LevelVerdict {
  /** The VM's level (volumes and file writes), without application level. */
  readonly vm: ConsistencyLevel;
  readonly why: string;
  readonly apps: Readonly<Partial<Record<AppId, AppVerdict>>>;
}

export interface LevelInput {
  readonly inspection: ImageInspection;
  /** Every acknowledgement of each app up to the capture. */
  readonly acks: Readonly<Partial<Record<AppId, readonly AckRecord[]>>>;
  /** Start of the freeze window; for an unquiesced capture, the capture instant. */
  readonly cutUs: TimeUs;
  /**
   * The instant the image was captured (the snapshot), at or after `cutUs` (default
   * `cutUs`): a removal in [cutUs, captureUs] is neither expected gone nor present.
   */
  readonly captureUs?: TimeUs;
  /** Apps whose own agent quiesced them for this capture. */
  readonly appQuiesced: ReadonlySet<AppId>;
  /** Every acknowledged removal of each app up to the capture (apps that take data back). */
  readonly removals?: Readonly<Partial<Record<AppId, readonly AckRecord[]>>>;
}

/**
 * Acks before the cut, less the records removed at or before the capture (not expected in
 * the image); `removed`: the records removed before the cut (expected gone).
 */
function before(acks: readonly AckRecord[] | undefined, removals: readonly AckRecord[] | undefined, cutUs: TimeUs, captureUs: TimeUs): { all: Set<string>; durable: Set<string>; removed: Set<string> } {
  const gone = new Set<string>();
  const removed = new Set<string>();
  for (const r of removals ?? []) {
    if (r.timeUs > Math.max(cutUs, captureUs)) continue;
    gone.add(r.id);
    if (r.timeUs < cutUs) removed.add(r.id);
  }
  const all = new Set<string>();
  const durable = new Set<string>();
  for (const a of acks ?? []) {
    if (a.timeUs >= cutUs || gone.has(a.id)) continue;
    all.add(a.id);
    if (a.durable && (a.durableAtUs ?? a.timeUs) < cutUs) durable.add(a.id);
  }
  return { all, durable, removed };
}

/** The file-write part of the filesystem level: writes before the cut present, removals before it gone. */
function judgeFileWrites(vm: ConsistencyLevel, why: string, acked: ReturnType<typeof before>, found: ReadonlySet<string> | undefined): { vm: ConsistencyLevel; why: string } {
  if (vm !== 'filesystem' || found === undefined) return { vm, why };
  const missing = [...acked.all].filter((id) => !found.has(id));
  if (missing.length > 0) return { vm: 'crash', why: `${missing.length} file writes completed before the freeze are missing (first ${missing[0] ?? ''})` };
  const back = [...acked.removed].filter((id) => found.has(id));
  if (back.length > 0) {
    return { vm: 'crash', why: `${back.length} file records removed (zeroed, truncated or deleted) before the freeze are back in the image (first ${back[0] ?? ''}): stale data` };
  }
  return { vm, why };
}

export function judgeLevel(input: LevelInput): LevelVerdict {
  const { inspection } = input;
  const corrupt = inspection.volumes.findIndex((v) => v.state === 'corrupt');
  let vm: ConsistencyLevel;
  let why: string;
  if (!inspection.mounted || corrupt >= 0) {
    vm = 'inconsistent';
    why = corrupt >= 0 ? `volume ${corrupt} is corrupt: ${inspection.volumes[corrupt]?.problems[0] ?? ''}` : `a volume does not mount: ${inspection.mountError ?? ''}`;
  } else if (inspection.volumes.some((v) => v.state === 'needs-replay')) {
    vm = 'crash';
    why = 'a volume needs journal replay';
  } else {
    vm = 'filesystem';
    why = 'every volume is clean';
  }
  const captureUs = input.captureUs ?? input.cutUs;
  ({ vm, why } = judgeFileWrites(vm, why, before(input.acks.files, input.removals?.files, input.cutUs, captureUs), inspection.apps.files?.committed));

  const apps: Partial<Record<AppId, AppVerdict>> = {};
  for (const [appId, found] of Object.entries(inspection.apps) as [AppId, NonNullable<ImageInspection['apps'][AppId]>][]) {
    const acked = before(input.acks[appId], input.removals?.[appId], input.cutUs, captureUs);
    const lost = [...acked.all].filter((id) => !found.committed.has(id));
    const resurrected = [...acked.removed].filter((id) => found.committed.has(id));
    const lostDurable = lost.filter((id) => acked.durable.has(id));
    let level: ConsistencyLevel;
    let appWhy: string;
    if (vm === 'inconsistent') {
      level = 'inconsistent';
      appWhy = why;
    } else if (!found.open.ok) {
      level = 'inconsistent';
      appWhy = `does not open: ${found.open.detail}`;
    } else if (appId === 'files') {
      level = vm;
      appWhy = why;
    } else if (!input.appQuiesced.has(appId)) {
      level = minLevel(vm, 'filesystem');
      appWhy = `${why}; the application itself was not quiesced`;
    } else if (vm !== 'filesystem') {
      level = vm;
      appWhy = why;
    } else if (found.open.recoveryNeeded) {
      level = 'filesystem';
      appWhy = `needed crash recovery on open: ${found.open.detail}`;
    } else if (lost.length > 0) {
      level = 'filesystem';
      appWhy = `${lost.length} commits acknowledged before the freeze are missing`;
    } else if (resurrected.length > 0) {
      level = 'filesystem';
      appWhy = `${resurrected.length} records removed before the freeze are back (first ${resurrected[0] ?? ''})`;
    } else {
      level = 'application';
      appWhy = 'quiesced by its agent, opens without recovery, every commit before the freeze present';
    }
    apps[appId] = { level, why: appWhy, lost, lostDurable, recoveryNeeded: found.open.recoveryNeeded, resurrected };
  }
  return { vm, why, apps };
}
