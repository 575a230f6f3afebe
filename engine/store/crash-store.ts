/**
 * The crash-injection twin: wraps a MemoryStore and kills the writer at its N-th mutating
 * call (put, putExclusive, delete), leaving exactly what a process or host crash at that
 * instant would leave behind in a store with atomic publish:
 *
 * - `before`:     the call never started;
 * - `torn-temp`:  a put had written part of its temporary object (a random prefix of the
 *                 bytes under `tmp/`) and never renamed it;
 * - `full-temp`:  a put had written and synced its temporary object, not renamed it;
 * - `after`:      the call finished, but the writer died before it learned so.
 *
 * From the crash on, every call (reads too) throws CrashError: the process is dead. The
 * test then opens a new Repository on the wrapped MemoryStore, which holds the survivors.
 *
 * Leaves out: crashes inside a read (they change nothing), and losing a put that had
 * returned ok (the store contract makes returned puts durable; a store that breaks it is a
 * mutant, modelled by the tests' lying store).
 */

import { assert, assertInt } from '../../core/assert.js';
import type { Prng } from '../../core/prng.js';
import type { Result } from '../../core/result.js';
import type { ByteStore, StoreError } from './byte-store.js';
import type { MemoryStore } from './memory-store.js';

export type CrashMode = 'before' | 'torn-temp' | 'full-temp' | 'after';

export class CrashError extends Error {
  override readonly name = 'CrashError';
}

export interface CrashPlan {
  /** 1-based index of the mutating call that crashes; 0 never crashes (to count calls). */
  readonly crashAtCall: number;
  /** Picks the crash mode and the torn length. */
  readonly prng: Prng;
}

export class CrashingStore implements ByteStore {
  readonly description: string;
  private calls = 0;
  private dead = false;
  /** What happened at the crash, for the test's message. */
  crashed: { readonly call: number; readonly operation: string; readonly name: string; readonly mode: CrashMode } | undefined;

  constructor(
    private readonly inner: MemoryStore,
    private readonly plan: CrashPlan,
  ) {
    assertInt(plan.crashAtCall, 0, Number.MAX_SAFE_INTEGER, 'crashAtCall');
    this.description = `crashing(${inner.description})`;
  }

  /** Mutating calls made so far (including the one that crashed). */
  get mutatingCalls(): number {
    return this.calls;
  }

  async put(name: string, bytes: Uint8Array): Promise<Result<void, StoreError>> {
    this.alive();
    if (this.crashesNow()) await this.crash('put', name, bytes, () => this.inner.put(name, bytes));
    return this.inner.put(name, bytes);
  }

  async putExclusive(name: string, bytes: Uint8Array): Promise<Result<void, StoreError>> {
    this.alive();
    if (this.crashesNow()) await this.crash('putExclusive', name, bytes, () => this.inner.putExclusive(name, bytes));
    return this.inner.putExclusive(name, bytes);
  }

  async delete(name: string): Promise<Result<void, StoreError>> {
    this.alive();
    if (this.crashesNow()) await this.crash('delete', name, undefined, () => this.inner.delete(name));
    return this.inner.delete(name);
  }

  get(name: string): Promise<Result<Uint8Array, StoreError>> {
    this.alive();
    return this.inner.get(name);
  }

  getRange(name: string, offsetBytes: number, lengthBytes: number): Promise<Result<Uint8Array, StoreError>> {
    this.alive();
    return this.inner.getRange(name, offsetBytes, lengthBytes);
  }

  list(prefix: string): Promise<Result<readonly string[], StoreError>> {
    this.alive();
    return this.inner.list(prefix);
  }

  exists(name: string): Promise<Result<boolean, StoreError>> {
    this.alive();
    return this.inner.exists(name);
  }

  private alive(): void {
    if (this.dead) throw new CrashError(`the writer crashed at mutating call ${this.crashed?.call ?? '?'}`);
  }

  private crashesNow(): boolean {
    this.calls += 1;
    return this.calls === this.plan.crashAtCall;
  }

  private async crash(operation: string, name: string, bytes: Uint8Array | undefined, complete: () => Promise<Result<void, StoreError>>): Promise<never> {
    const modes: readonly CrashMode[] = bytes === undefined ? ['before', 'after'] : ['before', 'torn-temp', 'full-temp', 'after'];
    const mode = this.plan.prng.pick(modes);
    switch (mode) {
      case 'before':
        break;
      case 'torn-temp':
        assert(bytes !== undefined, 'a torn temp needs bytes');
        this.inner.writeTemp(this.inner.nextTempName(), bytes.subarray(0, this.plan.prng.int(0, Math.max(0, bytes.length - 1))));
        break;
      case 'full-temp':
        assert(bytes !== undefined, 'a full temp needs bytes');
        this.inner.writeTemp(this.inner.nextTempName(), bytes);
        break;
      case 'after':
        // The call's own outcome (even `exists`) is what the store now holds; the writer never sees it.
        await complete();
        break;
    }
    this.dead = true;
    this.crashed = { call: this.calls, operation, name, mode };
    throw new CrashError(`crash (${mode}) at mutating call ${this.calls}: ${operation} ${name}`);
  }
}
