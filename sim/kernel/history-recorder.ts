/**
 * The history recorder: appends events stamped with virtual time and a gapless sequence,
 * and a SHA-256 over their canonical JSON so two runs can be compared by one hash. Hashing
 * is pure computation, not I/O, and lazy: kept events are hashed when a digest is asked
 * for (most runs never ask), so recording stays cheap. `maxEvents` bounds memory; the hash
 * still covers events past the bound (they are hashed at once, counted, not kept).
 */

import { createHash, type Hash } from 'node:crypto';
import { assert } from '../../core/assert.js';
import { sortSmall } from '../../core/sort-small.js';
import type { Clock } from '../../core/clock.js';
import type { HistoryEvent, HistoryEventInput, HistorySink, HistoryValue } from '../../core/history.js';

/** Object keys as JSON strings, memoised: events reuse a small set of field names. */
const QUOTED = new Map<string, string>();

function quoted(key: string): string {
  let q = QUOTED.get(key);
  if (q === undefined) {
    q = JSON.stringify(key);
    if (QUOTED.size < 4096) QUOTED.set(key, q);
  }
  return q;
}

/**
 * JSON with object keys sorted (by UTF-16 code units, as Array.prototype.sort does), so
 * equal events always serialise alike. Hot (every event of every run is hashed once), so
 * it builds one string without intermediate arrays.
 */
export function canonicalJson(value: HistoryValue | HistoryEvent): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number') {
      assert(Number.isFinite(value), 'history numbers must be finite');
      return String(value);
    }
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i] as HistoryValue);
    return `${out}]`;
  }
  const record = value as { readonly [key: string]: HistoryValue };
  const keys = Object.keys(record);
  if (keys.length > 1) sortSmall(keys);
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    out += `${i === 0 ? '' : ','}${quoted(k)}:${canonicalJson(record[k] as HistoryValue)}`;
  }
  return `${out}}`;
}

const HASH_BATCH_CHARS = 65536;

export class HistoryRecorder implements HistorySink {
  private readonly kept: HistoryEvent[] = [];
  private readonly hash: Hash = createHash('sha256');
  private count = 0;
  /** Kept events already fed to the hash. */
  private hashed = 0;
  /** Canonical JSON of events past the bound, not yet fed to the hash (fed in ~64 KiB batches). */
  private overflow = '';

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
      if (this.hashed < this.kept.length) this.catchUp();
      this.overflow += `${canonicalJson(full)}\n`;
      if (this.overflow.length >= HASH_BATCH_CHARS) {
        this.hash.update(this.overflow);
        this.overflow = '';
      }
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

  /** Feeds the kept events not hashed yet, then any overflow (events past the bound come after every kept one). */
  private catchUp(): void {
    // Fed in batches: one hash update per ~64 KiB of JSON, not one per event.
    let batch = '';
    for (; this.hashed < this.kept.length; this.hashed++) {
      batch += `${canonicalJson(this.kept[this.hashed] as HistoryEvent)}\n`;
      if (batch.length >= HASH_BATCH_CHARS) {
        this.hash.update(batch);
        batch = '';
      }
    }
    if (batch.length > 0) this.hash.update(batch);
    if (this.overflow.length > 0) {
      this.hash.update(this.overflow);
      this.overflow = '';
    }
  }
}
