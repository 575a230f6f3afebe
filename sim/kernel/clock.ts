/**
 * The virtual clock. Time moves only when the event queue advances it; nothing here reads
 * the real clock.
 */

import { assert } from '../../core/assert.js';
import type { Clock, TimeUs } from '../../core/clock.js';

export class VirtualClock implements Clock {
  private timeUs: TimeUs = 0;

  nowUs(): TimeUs {
    return this.timeUs;
  }

  /** Moves time forward to `timeUs`; moving backwards is a programmer error. */
  advanceTo(timeUs: TimeUs): void {
    assert(Number.isSafeInteger(timeUs), `virtual time must be whole microseconds, got ${timeUs}`);
    assert(timeUs >= this.timeUs, `virtual time cannot go back: ${timeUs} < ${this.timeUs}`);
    this.timeUs = timeUs;
  }
}
