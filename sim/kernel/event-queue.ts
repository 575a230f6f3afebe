/**
 * The event queue: callbacks ordered by (time, sequence). Two events at one instant run in
 * the order they were scheduled, so a run is a pure function of its seed. A binary heap
 * keeps schedule and pop at O(log n). Leaves out: priorities, real concurrency.
 */

import { assert } from '../../core/assert.js';
import type { TimeUs } from '../../core/clock.js';
import type { VirtualClock } from './clock.js';

export interface TimerHandle {
  readonly id: number;
}

interface Entry {
  readonly atUs: TimeUs;
  readonly seq: number;
  readonly label: string;
  readonly run: () => void;
  cancelled: boolean;
}

function before(a: Entry, b: Entry): boolean {
  return a.atUs < b.atUs || (a.atUs === b.atUs && a.seq < b.seq);
}

export interface EventQueueOptions {
  /** Most events that may wait at once: a runaway scheduler fails loudly, not slowly. */
  readonly maxPending?: number;
}

export class EventQueue {
  private readonly heap: Entry[] = [];
  private readonly byId = new Map<number, Entry>();
  private nextSeq = 0;
  private readonly maxPending: number;
  private executedCount = 0;
  private depth = 0;

  constructor(
    private readonly clock: VirtualClock,
    options: EventQueueOptions = {},
  ) {
    this.maxPending = options.maxPending ?? 1_000_000;
  }

  get pending(): number {
    return this.byId.size;
  }

  get executed(): number {
    return this.executedCount;
  }

  /** True while an event's callback runs (code that drives the queue must not run then). */
  get inEvent(): boolean {
    return this.depth > 0;
  }

  /** Runs `run` at virtual time `atUs` (not before now). */
  at(atUs: TimeUs, label: string, run: () => void): TimerHandle {
    assert(Number.isSafeInteger(atUs), `event time must be whole microseconds: ${atUs}`);
    assert(atUs >= this.clock.nowUs(), `cannot schedule '${label}' in the past (${atUs} < ${this.clock.nowUs()})`);
    assert(this.byId.size < this.maxPending, `event queue full (${this.maxPending}) while scheduling '${label}'`);
    const entry: Entry = { atUs, seq: this.nextSeq++, label, run, cancelled: false };
    this.push(entry);
    this.byId.set(entry.seq, entry);
    return { id: entry.seq };
  }

  /** Runs `run` `delayUs` from now. */
  after(delayUs: TimeUs, label: string, run: () => void): TimerHandle {
    assert(delayUs >= 0, `negative delay for '${label}'`);
    return this.at(this.clock.nowUs() + delayUs, label, run);
  }

  cancel(handle: TimerHandle): void {
    const entry = this.byId.get(handle.id);
    if (entry === undefined) return; // already ran or cancelled: cancelling is idempotent
    entry.cancelled = true;
    this.byId.delete(handle.id);
  }

  /** Time of the next live event, or undefined when none waits. */
  peekTimeUs(): TimeUs | undefined {
    this.dropCancelledTop();
    return this.heap[0]?.atUs;
  }

  /** Runs the next event, advancing the clock to it. False when the queue is empty. */
  step(): boolean {
    this.dropCancelledTop();
    const entry = this.pop();
    if (entry === undefined) return false;
    this.byId.delete(entry.seq);
    this.clock.advanceTo(entry.atUs);
    this.executedCount++;
    this.depth++;
    try {
      entry.run();
    } finally {
      this.depth--;
    }
    return true;
  }

  /**
   * Runs every event due at or before `untilUs`, then sets the clock to `untilUs`.
   * `maxEvents` bounds the loop; exceeding it is a programmer error (a livelock).
   */
  runUntil(untilUs: TimeUs, maxEvents = 10_000_000): number {
    let count = 0;
    for (;;) {
      const next = this.peekTimeUs();
      if (next === undefined || next > untilUs) break;
      assert(count < maxEvents, `more than ${maxEvents} events before ${untilUs}us: livelock?`);
      this.step();
      count++;
    }
    if (untilUs > this.clock.nowUs()) this.clock.advanceTo(untilUs);
    return count;
  }

  /** Drops every pending event (a host losing power loses its timers). */
  clear(predicate: (label: string) => boolean = () => true): void {
    for (const entry of this.byId.values()) {
      if (predicate(entry.label)) {
        entry.cancelled = true;
        this.byId.delete(entry.seq);
      }
    }
  }

  private dropCancelledTop(): void {
    while (this.heap.length > 0 && (this.heap[0] as Entry).cancelled) this.pop();
  }

  private push(entry: Entry): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as Entry;
      if (!before(entry, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = entry;
  }

  private pop(): Entry | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    let i = 0;
    const n = heap.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && before(heap[r] as Entry, heap[l] as Entry) ? r : l;
      if (!before(heap[child] as Entry, last)) break;
      heap[i] = heap[child] as Entry;
      i = child;
    }
    heap[i] = last;
    return top;
  }
}
