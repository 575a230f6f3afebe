/**
 * An application's repeating background work (lazy writers, checkpoints, replication), on
 * the guest's timers: labels `<timerPrefix>:<what>`, so a VM power loss cancels them, and
 * `cancelAll` for a clean shutdown or crash. Each job reschedules itself after it ran.
 */

import { assert } from '../../core/assert.js';
import type { TimeUs } from '../../core/clock.js';
import type { FileSystem } from '../guest/file-system.js';
import type { TimerHandle } from '../kernel/event-queue.js';
import type { AppHost } from './types.js';

export class AppTimers {
  private readonly handles = new Map<string, TimerHandle>();

  constructor(private readonly host: Pick<AppHost, 'queue' | 'timerPrefix'>) {}

  /** Runs `tick` after `firstDelayUs`, then every `intervalUs`, until it returns false or cancelAll. */
  repeat(what: string, firstDelayUs: TimeUs, intervalUs: TimeUs, tick: () => boolean): void {
    assert(intervalUs > 0, `${what} interval must be positive`);
    const label = `${this.host.timerPrefix}:${what}`;
    const run = (): void => {
      if (tick()) this.handles.set(what, this.host.queue.after(intervalUs, label, run));
    };
    this.handles.set(what, this.host.queue.after(firstDelayUs, label, run));
  }

  cancelAll(): void {
    for (const t of this.handles.values()) this.host.queue.cancel(t);
    this.handles.clear();
  }
}

/** Whether any live volume is frozen (FIFREEZE / VSS hold): background writes must wait. */
export function anyVolumeFrozen(volumes: readonly FileSystem[]): boolean {
  return volumes.some((v) => !v.isDead && v.isFrozen);
}
