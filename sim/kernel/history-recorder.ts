/**
 * The history recorder: appends events stamped with virtual time and a gapless sequence,
 * and a SHA-256 over their canonical JSON so two runs can be compared by one hash. Hashing
 * is pure computation, not I/O, and lazy: kept events are hashed when a digest is asked
 * for (most runs never ask), so recording stays cheap. `maxEvents` bounds memory; the hash
 * still covers events past the bound (they are hashed at once, counted, not kept).
 */

import { createHash, type Hash } from 'node:crypto';
import { assert } from '../../core/assert.js';
import type { Clock } from '../../core/clock.js';
import type { HistoryEvent, HistoryEventInput, HistorySink, HistoryValue } from '../../core/history.js';

/** JSON with object keys sorted, so equal events always serialise alike. */
export function canonicalJson(value: HistoryValue | HistoryEvent): string {
  if (value === null || typeof value !== 'object') {
    assert(typeof value !== 'number' || Number.isFinite(value), 'history numbers must be finite');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v: HistoryValue) => canonicalJson(v)).join(',')}]`;
  const record = value as { readonly [key: string]: HistoryValue };
  const keys = Object.keys(record).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k] as HistoryValue)}`).join(',')}}`;
}

export class HistoryRecorder implements HistorySink {
  private readonly kept: HistoryEvent[] = [];
  private readonly hash: Hash = createHash('sha256');
  private count = 0;
  /** Kept events already fed to the hash. */
  private hashed = 0;

  constructor(
    private readonly clock: Clock,
    private readonly maxEvents = 1_000_000,
  ) {}

  record(event: HistoryEventInput): void {
    // Built field by field (one object shape for every event), not by spreading the input.
    const full: HistoryEvent = { seq: this.count++, timeUs: this.clock.nowUs(), kind: event.kind, subject: event.subject, data: event.data };
    if (this.kept.length < this.maxEvents) {
      this.kept.push(full);
    } else {
      this.catchUp();
      this.hash.update(`${canonicalJson(full)}\n`);
    }
  }

  get length(): number {
    return this.count;
  }

  /** The events kept (all of them unless more than `maxEvents` were recorded). */
  events(): readonly HistoryEvent[] {
    return this.kept;
  }

  /** Hex SHA-256 of every event so far; recording may continue afterwards. */
  digest(): string {
    this.catchUp();
    return this.hash.copy().digest('hex');
  }

  private catchUp(): void {
    for (; this.hashed < this.kept.length; this.hashed++) this.hash.update(`${canonicalJson(this.kept[this.hashed] as HistoryEvent)}\n`);
  }
}
