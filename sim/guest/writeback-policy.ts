/**
 * Writeback policies: when dirty pages of the guest page cache go to disk on their own.
 *
 * Models: a page becomes eligible `dirtyExpireUs` after it was first dirtied; a flusher
 * wakes every `flusherIntervalUs` and writes back every eligible page.
 * - linux: the kernel's defaults, vm.dirty_expire_centisecs = 3000 (30 s) and
 *   vm.dirty_writeback_centisecs = 500 (5 s).
 * - windows: the Cache Manager's lazy writer scans once a second and writes about an
 *   eighth of the dirty pages per scan, so a page waits about 8 s on average. Modelled as
 *   an 8 s expiry with a 1 s scan: an APPROXIMATION (the real lazy writer is paced by
 *   volume, not by age, and writes sooner under memory pressure).
 * Leaves out: dirty_background_ratio pacing, per-device bandwidth estimation, laptop mode.
 */

import { sToUs, type TimeUs } from '../../core/clock.js';

export interface WritebackPolicy {
  readonly name: string;
  /** A dirty page may stay in memory this long before the flusher writes it. */
  readonly dirtyExpireUs: TimeUs;
  /** How often the flusher wakes; 0 disables the flusher (writeback only on demand). */
  readonly flusherIntervalUs: TimeUs;
}

export const LINUX_WRITEBACK: WritebackPolicy = { name: 'linux', dirtyExpireUs: sToUs(30), flusherIntervalUs: sToUs(5) };

/** Approximation of the lazy writer (see the header). */
export const WINDOWS_WRITEBACK: WritebackPolicy = { name: 'windows', dirtyExpireUs: sToUs(8), flusherIntervalUs: sToUs(1) };

/** No background writeback: pages go to disk only on fsync, sync, freeze or memory pressure. */
export const NO_BACKGROUND_WRITEBACK: WritebackPolicy = { name: 'none', dirtyExpireUs: sToUs(30), flusherIntervalUs: 0 };
