/**
 * A simulation: one seed, one virtual clock, one event queue, one history. Subsystems take
 * their randomness from `stream(name)`, an independent PRNG stream per name, so the same
 * seed rebuilds the same world byte for byte.
 */

import type { HistorySink } from '../../core/history.js';
import { createPrng, type Prng } from '../../core/prng.js';
import { VirtualClock } from './clock.js';
import { EventQueue } from './event-queue.js';
import { HistoryRecorder } from './history-recorder.js';

export interface SimulationOptions {
  readonly seed: number;
  readonly maxPendingEvents?: number;
  readonly maxHistoryEvents?: number;
}

export class Simulation {
  readonly seed: number;
  readonly clock = new VirtualClock();
  readonly queue: EventQueue;
  readonly history: HistoryRecorder;
  private readonly root: Prng;
  private readonly streams = new Map<string, Prng>();

  constructor(options: SimulationOptions) {
    this.seed = options.seed;
    this.root = createPrng(options.seed);
    this.queue = new EventQueue(this.clock, options.maxPendingEvents === undefined ? {} : { maxPending: options.maxPendingEvents });
    this.history = new HistoryRecorder(this.clock, options.maxHistoryEvents);
  }

  /** The PRNG stream for a subsystem; asking twice gives the same stream object. */
  stream(name: string): Prng {
    let prng = this.streams.get(name);
    if (prng === undefined) {
      prng = this.root.fork(name);
      this.streams.set(name, prng);
    }
    return prng;
  }

  get sink(): HistorySink {
    return this.history;
  }

  /** Runs events until `untilUs` of virtual time. */
  runUntil(untilUs: number): number {
    return this.queue.runUntil(untilUs);
  }

  /** Runs for `durationUs` more of virtual time. */
  runFor(durationUs: number): number {
    return this.queue.runUntil(this.clock.nowUs() + durationUs);
  }
}
