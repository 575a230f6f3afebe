/**
 * A crash at any store write of a window, reconstructed after the fact. The journal sits
 * at the bottom of the engine's store stack (directly on the MemoryStore that stands for
 * the disk; whatever an engine wraps around it stays above), copies the store when a
 * window opens and records every mutating call that reaches it while the window is open.
 * `crashAt(k)` then rebuilds what the store held had the writer died at the k-th call of
 * the window: the copy, the calls before it replayed, and the k-th made through a
 * CrashingStore (engine/store/crash-store.ts), which leaves it not started, as a torn or
 * full temporary, or done, as a crash at that instant would.
 *
 * Why after the fact: the window is a backup against the simulated world, which cannot be
 * rehearsed on a copy; the engine's calls up to the k-th depend only on what the store
 * answered before it, so the rebuilt store is the one a real crash leaves. What the
 * engine kept in its own memory (buffers a mutant never wrote down) is lost, as it would be.
 *
 * Leaves out: crashes inside reads (they change nothing), and the world's side of a crash
 * (the backup's VmSnapshot is removed as by a finished job).
 */

import { assert } from '../../core/assert.js';
import { createPrng } from '../../core/prng.js';
import type { Result } from '../../core/result.js';
import type { ByteStore, StoreError } from '../../engine/store/byte-store.js';
import { CrashError, CrashingStore, type CrashMode } from '../../engine/store/crash-store.js';
import type { MemoryStore } from '../../engine/store/memory-store.js';

export interface StoreCall {
  readonly operation: 'put' | 'putExclusive' | 'delete';
  readonly name: string;
  readonly bytes: Uint8Array | null;
}

export interface CrashedStore {
  readonly store: MemoryStore;
  /** 1-based index of the call in the window. */
  readonly call: number;
  readonly operation: StoreCall['operation'];
  readonly name: string;
  readonly mode: CrashMode;
}

/** Most mutating calls one window may record (a backup of a 16 MiB disk makes tens). */
export const WINDOW_MAX_CALLS = 100_000;

function apply(store: ByteStore, call: StoreCall): Promise<Result<void, StoreError>> {
  if (call.operation === 'delete') return store.delete(call.name);
  assert(call.bytes !== null, `${call.operation} without bytes`);
  return call.operation === 'put' ? store.put(call.name, call.bytes) : store.putExclusive(call.name, call.bytes);
}

export class StoreJournal implements ByteStore {
  readonly description: string;
  private window: { readonly base: MemoryStore; readonly calls: StoreCall[] } | null = null;
  private recording = false;

  constructor(readonly inner: MemoryStore) {
    this.description = `journal(${inner.description})`;
  }

  /** Starts recording (a copy of the store as it is now is the window's base). */
  open(): void {
    assert(this.window === null, 'one window per journal');
    this.window = { base: this.inner.clone(), calls: [] };
    this.recording = true;
  }

  /** Mutating calls recorded so far in the open window. */
  get calls(): number {
    return this.window?.calls.length ?? 0;
  }

  /** Stops recording; the calls are kept for crashAt. */
  close(): readonly StoreCall[] {
    assert(this.window !== null && this.recording, 'no window is open');
    this.recording = false;
    return this.window.calls;
  }

  /** The store as a crash at the `call`-th (1-based) mutating call of the window leaves it. */
  async crashAt(call: number, seed: number): Promise<CrashedStore> {
    const window = this.window;
    assert(window !== null && !this.recording, 'crashAt after the window closed');
    assert(Number.isInteger(call) && call >= 1 && call <= window.calls.length, `crash at call ${call} of ${window.calls.length}`);
    const store = window.base.clone();
    for (const c of window.calls.slice(0, call - 1)) await apply(store, c);
    const crashing = new CrashingStore(store, { crashAtCall: 1, prng: createPrng(seed) });
    const last = window.calls[call - 1] as StoreCall;
    try {
      await apply(crashing, last);
    } catch (e) {
      if (!(e instanceof CrashError)) throw e;
    }
    assert(crashing.crashed !== undefined, 'the crashing store crashed');
    return { store, call, operation: last.operation, name: last.name, mode: crashing.crashed.mode };
  }

  put(name: string, bytes: Uint8Array): Promise<Result<void, StoreError>> {
    this.record({ operation: 'put', name, bytes: bytes.slice() });
    return this.inner.put(name, bytes);
  }

  putExclusive(name: string, bytes: Uint8Array): Promise<Result<void, StoreError>> {
    this.record({ operation: 'putExclusive', name, bytes: bytes.slice() });
    return this.inner.putExclusive(name, bytes);
  }

  delete(name: string): Promise<Result<void, StoreError>> {
    this.record({ operation: 'delete', name, bytes: null });
    return this.inner.delete(name);
  }

  get(name: string): Promise<Result<Uint8Array, StoreError>> {
    return this.inner.get(name);
  }

  getRange(name: string, offsetBytes: number, lengthBytes: number): Promise<Result<Uint8Array, StoreError>> {
    return this.inner.getRange(name, offsetBytes, lengthBytes);
  }

  list(prefix: string): Promise<Result<readonly string[], StoreError>> {
    return this.inner.list(prefix);
  }

  exists(name: string): Promise<Result<boolean, StoreError>> {
    return this.inner.exists(name);
  }

  private record(call: StoreCall): void {
    if (this.window === null || !this.recording) return;
    assert(this.window.calls.length < WINDOW_MAX_CALLS, 'mutating calls per window');
    this.window.calls.push(call);
  }
}
