/**
 * What an in-guest quiescer works with: the guest's volumes, a way to let virtual time
 * pass while the guest keeps running, and the hypervisor's half of the job (taking the
 * VmSnapshot of every disk at one instant). Shared by the SYNC driver, the Linux freeze
 * drivers, the script runner and the VSS requestor.
 *
 * Time model: freezing a volume flushes its dirty pages; the flush takes
 * `FLUSH_FIXED_US + dirtyBytes / FLUSH_BYTES_PER_US` (a 200 MB/s virtual disk), during which
 * new writes are held. Leaves out: per-disk bandwidth, queueing behind the guest's own I/O.
 */

import type { Clock, TimeUs } from '../../../core/clock.js';
import { msToUs } from '../../../core/clock.js';
import type { HistorySink } from '../../../core/history.js';
import type { FileSystem } from '../file-system.js';

export const FLUSH_BYTES_PER_US = 200;
export const FLUSH_FIXED_US = msToUs(2);

export interface SnapshotTaken {
  /** The hypervisor's handle for the snapshot just taken (to keep or discard it). */
  readonly token: number;
  /** How long the hypervisor's snapshot (the provider commit) takes after its instant. */
  readonly commitUs: TimeUs;
}

export interface QuiesceContext {
  readonly vmId: string;
  readonly clock: Clock;
  readonly history: HistorySink;
  readonly volumes: readonly FileSystem[];
  /** Tools give up when the quiesce runs past this instant (15 minutes by default). */
  readonly deadlineUs: TimeUs;
  /** Lets `durationUs` of virtual time pass; false when the guest lost power meanwhile. */
  advance(durationUs: TimeUs): boolean;
  /** The VmSnapshot, taken now, of every disk at this one instant. */
  takeSnapshot(): SnapshotTaken;
  /** Removes a snapshot taken during a quiesce that then failed. */
  discardSnapshot(token: number): void;
  record(kind: string, data: { readonly [key: string]: string | number | boolean | null }): void;
}

/** The time to flush what is dirty on these volumes now. */
export function flushDurationUs(volumes: readonly FileSystem[]): TimeUs {
  let dirty = 0;
  for (const v of volumes) dirty += v.stats().dirtyBytes;
  return FLUSH_FIXED_US + Math.ceil(dirty / FLUSH_BYTES_PER_US);
}

export type FreezeFailure = { readonly volume: number; readonly reason: string };

/**
 * Flush-and-hold of every volume (FIFREEZE, the SYNC driver, VSS's FlushAndHoldWrites):
 * freezes them in order and lets the flush time pass. On failure the volumes frozen so far
 * are thawed again. Returns the flush duration.
 */
export function freezeVolumes(ctx: QuiesceContext): { ok: true; flushUs: TimeUs } | { ok: false; failure: FreezeFailure } {
  const flushUs = flushDurationUs(ctx.volumes);
  for (let i = 0; i < ctx.volumes.length; i++) {
    const v = ctx.volumes[i] as FileSystem;
    const frozen = v.freeze();
    if (!frozen.ok) {
      for (let j = i - 1; j >= 0; j--) (ctx.volumes[j] as FileSystem).thaw();
      const e = frozen.error;
      const reason = e.kind === 'already-frozen' ? 'the file system is already frozen' : `freeze failed: ${e.kind}${e.kind === 'no-space' ? ` (${e.detail})` : ''}`;
      return { ok: false, failure: { volume: i, reason } };
    }
  }
  return { ok: true, flushUs };
}

/** Thaws every frozen volume, last first. */
export function thawVolumes(ctx: QuiesceContext): void {
  for (let i = ctx.volumes.length - 1; i >= 0; i--) {
    const v = ctx.volumes[i] as FileSystem;
    if (!v.isDead && v.isFrozen) v.thaw();
  }
}
