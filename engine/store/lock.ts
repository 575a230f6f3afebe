/**
 * The repository's writer lock: one object (`locks/writer`) created with putExclusive,
 * holding its owner and the virtual time it was taken and last refreshed. A second writer
 * is refused with a `locked` Result naming the holder. Readers (restore, verify) take no
 * lock: every object they read is checked by its hash, so a concurrent prune can make a
 * read fail (a named missing pack), never return wrong bytes.
 *
 * Stale-lock rule: a lock whose `refreshedAtUs` is `staleAfterUs` or more behind the
 * acquirer's clock (default 30 minutes), or that the caller's `isStale` says is dead (the
 * CLI: same host and the process is gone), may be broken: it is deleted and retaken, and
 * the new lock records whose lock it broke. A holder refreshes its lock at least every
 * staleAfterUs / 3 while it writes (the point writer does so at each pack), and checks the
 * lock is still its own before it publishes a manifest (a fence: a writer whose lock was
 * broken while it stalled never commits).
 *
 * Leaves out: shared (reader) locks, and the race of two writers breaking the same stale
 * lock at the same instant (both delete, one link wins, but a slow deleter can delete the
 * winner's fresh lock); the re-read after acquiring and the fence before commit narrow it.
 * Clocks of different processes must agree (one host, or synchronised clocks).
 */

import { assert, assertInt } from '../../core/assert.js';
import type { Clock, TimeUs } from '../../core/clock.js';
import { err, ok, type Result } from '../../core/result.js';
import type { ByteStore, StoreError } from './byte-store.js';

export const LOCK_NAME = 'locks/writer';
/** brokeStaleLockOf of a lock taken over one that did not decode: this, the reason, ')'. */
const UNREADABLE_LOCK = '(an unreadable lock: ';
export const DEFAULT_STALE_AFTER_US = 30 * 60 * 1_000_000;
/** Take, break, retake: an acquire gives up after this many rounds. */
const ACQUIRE_MAX_ROUNDS = 3;

export interface LockRecord {
  readonly format: 'quiescelab-lock';
  readonly owner: string;
  readonly acquiredAtUs: TimeUs;
  readonly refreshedAtUs: TimeUs;
  /** Free-form facts for the stale check (the CLI: host, pid). */
  readonly attributes: Readonly<Record<string, string | number>>;
  readonly brokeStaleLockOf?: string;
}

export type LockError =
  | { readonly kind: 'locked'; readonly name: string; readonly owner: string; readonly refreshedAtUs: TimeUs; readonly ageUs: number; readonly staleAfterUs: number }
  | { readonly kind: 'unreadable'; readonly name: string; readonly reason: string }
  | { readonly kind: 'lost'; readonly name: string; readonly owner: string; readonly holder: string }
  | { readonly kind: 'contended'; readonly name: string; readonly rounds: number }
  | { readonly kind: 'store'; readonly error: StoreError };

export interface LockOptions {
  readonly owner: string;
  readonly clock: Clock;
  readonly staleAfterUs?: number;
  readonly attributes?: Readonly<Record<string, string | number>>;
  /** Extra staleness test beyond age (e.g. the holder's process is gone). */
  readonly isStale?: (record: LockRecord) => boolean;
}

export function describeLockError(error: LockError): string {
  switch (error.kind) {
    case 'locked': return `locked by '${error.owner}' (refreshed ${(error.ageUs / 1e6).toFixed(1)} s ago; stale after ${(error.staleAfterUs / 1e6).toFixed(0)} s)`;
    case 'unreadable': return `the lock ${error.name} is unreadable (${error.reason}); remove it by hand if no writer runs`;
    case 'lost': return `the lock ${error.name} of '${error.owner}' was broken by '${error.holder}'`;
    case 'contended': return `the lock ${error.name} changed hands ${error.rounds} times while taking it`;
    case 'store': return `the lock: ${error.error.kind} ${error.error.name}`;
  }
}

function encode(record: LockRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(record) + '\n');
}

/** A stored lock record, or why the bytes are not one (verify names an unreadable lock as damage). */
export function decodeLockRecord(bytes: Uint8Array): Result<LockRecord, string> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    return err(`not JSON: ${String(error)}`);
  }
  const r = value as Partial<LockRecord> | null;
  if (r === null || typeof r !== 'object' || r.format !== 'quiescelab-lock' || typeof r.owner !== 'string'
    || !Number.isSafeInteger(r.acquiredAtUs) || !Number.isSafeInteger(r.refreshedAtUs) || typeof r.attributes !== 'object') {
    return err('not a lock record');
  }
  return ok(r as LockRecord);
}

export class StoreLock {
  private record: LockRecord;

  private constructor(
    private readonly store: ByteStore,
    private readonly options: LockOptions,
    record: LockRecord,
  ) {
    this.record = record;
  }

  get owner(): string {
    return this.record.owner;
  }

  /** Why the lock found in place was unreadable, when taking this one broke it (else null). */
  get brokeUnreadable(): string | null {
    const broke = this.record.brokeStaleLockOf;
    return broke?.startsWith(UNREADABLE_LOCK) === true ? broke.slice(UNREADABLE_LOCK.length, -1) : null;
  }

  get refreshedAtUs(): TimeUs {
    return this.record.refreshedAtUs;
  }

  get staleAfterUs(): number {
    return this.options.staleAfterUs ?? DEFAULT_STALE_AFTER_US;
  }

  static async acquire(store: ByteStore, options: LockOptions): Promise<Result<StoreLock, LockError>> {
    assert(options.owner.length > 0 && options.owner.length <= 200, 'lock owner must be 1..200 characters');
    const staleAfterUs = assertInt(options.staleAfterUs ?? DEFAULT_STALE_AFTER_US, 1, Number.MAX_SAFE_INTEGER, 'staleAfterUs');
    let broke: string | undefined;
    for (let round = 0; round < ACQUIRE_MAX_ROUNDS; round++) {
      const nowUs = options.clock.nowUs();
      const record: LockRecord = {
        format: 'quiescelab-lock', owner: options.owner, acquiredAtUs: nowUs, refreshedAtUs: nowUs,
        attributes: options.attributes ?? {}, ...(broke === undefined ? {} : { brokeStaleLockOf: broke }),
      };
      const put = await store.putExclusive(LOCK_NAME, encode(record));
      if (put.ok) {
        const lock = new StoreLock(store, options, record);
        const mine = await lock.check();
        return mine.ok ? ok(lock) : err(mine.error);
      }
      if (put.error.kind !== 'exists') return err({ kind: 'store', error: put.error });
      const held = await store.get(LOCK_NAME);
      if (!held.ok) {
        if (held.error.kind === 'not-found') continue; // released meanwhile: try again
        return err({ kind: 'store', error: held.error });
      }
      const current = decodeLockRecord(held.value);
      if (!current.ok) {
        // A lock is published whole (putExclusive), so bytes that are no lock record were
        // never a live writer's: damage, broken like a stale lock (verify names it). A
        // writer whose own lock turns to garbage fails its next check (the fence).
        broke = `${UNREADABLE_LOCK}${current.error.slice(0, 80)})`;
        const removed = await store.delete(LOCK_NAME);
        if (!removed.ok) return err({ kind: 'store', error: removed.error });
        continue;
      }
      const ageUs = nowUs - current.value.refreshedAtUs;
      const stale = ageUs >= staleAfterUs || (options.isStale?.(current.value) ?? false);
      if (!stale) {
        return err({ kind: 'locked', name: LOCK_NAME, owner: current.value.owner, refreshedAtUs: current.value.refreshedAtUs, ageUs, staleAfterUs });
      }
      broke = current.value.owner;
      const removed = await store.delete(LOCK_NAME);
      if (!removed.ok) return err({ kind: 'store', error: removed.error });
    }
    return err({ kind: 'contended', name: LOCK_NAME, rounds: ACQUIRE_MAX_ROUNDS });
  }

  /** Ok while the stored lock is still this holder's. */
  async check(): Promise<Result<void, LockError>> {
    const held = await this.store.get(LOCK_NAME);
    if (!held.ok) {
      if (held.error.kind === 'not-found') return err({ kind: 'lost', name: LOCK_NAME, owner: this.record.owner, holder: '(nobody)' });
      return err({ kind: 'store', error: held.error });
    }
    const current = decodeLockRecord(held.value);
    if (!current.ok) return err({ kind: 'unreadable', name: LOCK_NAME, reason: current.error });
    if (current.value.owner !== this.record.owner || current.value.acquiredAtUs !== this.record.acquiredAtUs) {
      return err({ kind: 'lost', name: LOCK_NAME, owner: this.record.owner, holder: current.value.owner });
    }
    return ok(undefined);
  }

  /** Rewrites the lock with the current time when a third of the stale age has passed. */
  async refreshIfDue(): Promise<Result<void, LockError>> {
    const nowUs = this.options.clock.nowUs();
    if (nowUs - this.record.refreshedAtUs < Math.floor(this.staleAfterUs / 3)) return ok(undefined);
    const mine = await this.check();
    if (!mine.ok) return mine;
    const next: LockRecord = { ...this.record, refreshedAtUs: nowUs };
    const put = await this.store.put(LOCK_NAME, encode(next));
    if (!put.ok) return err({ kind: 'store', error: put.error });
    this.record = next;
    return ok(undefined);
  }

  /** Deletes the lock if it is still this holder's. */
  async release(): Promise<Result<void, LockError>> {
    const mine = await this.check();
    if (!mine.ok) return mine;
    const removed = await this.store.delete(LOCK_NAME);
    return removed.ok ? ok(undefined) : err({ kind: 'store', error: removed.error });
  }
}
