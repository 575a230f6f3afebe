/**
 * The in-memory ByteStore: the twin of the local-directory store for tests and the
 * simulator. A put writes a temporary object under `tmp/` and then renames it, as the
 * directory store does, so the crash twin (crash-store.ts) can stop between the steps.
 *
 * Models: atomic publish, durable on return (there is no volatile cache: what a put
 * returned ok for survives a crash). Leaves out: latency, bandwidth and I/O errors (wrap
 * it to inject them); objects are copied on the way in and out, so callers never share
 * buffers with the store.
 */

import { ok, err, type Result } from '../../core/result.js';
import {
  assertName, assertPrefix, LIST_MAX_NAMES, TEMP_PREFIX,
  type ByteStore, type StoreError,
} from './byte-store.js';
import { assertInt } from '../../core/assert.js';

/** A copy in a plain Uint8Array of its own (a Node Buffer's `slice` would be a view of the same bytes). */
function copyOf(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

export class MemoryStore implements ByteStore {
  readonly description = 'memory';
  private readonly objects = new Map<string, Uint8Array>();
  private tempSequence = 0;

  /** A fresh temporary name (for this store and for the crash twin's torn temps). */
  nextTempName(): string {
    this.tempSequence += 1;
    return `${TEMP_PREFIX}mem-${this.tempSequence}`;
  }

  put(name: string, bytes: Uint8Array): Promise<Result<void, StoreError>> {
    assertName(name);
    const temp = this.nextTempName();
    this.objects.set(temp, copyOf(bytes));
    this.rename(temp, name);
    return Promise.resolve(ok(undefined));
  }

  putExclusive(name: string, bytes: Uint8Array): Promise<Result<void, StoreError>> {
    assertName(name);
    if (this.objects.has(name)) return Promise.resolve(err({ kind: 'exists', name }));
    return this.put(name, bytes);
  }

  get(name: string): Promise<Result<Uint8Array, StoreError>> {
    assertName(name);
    const bytes = this.objects.get(name);
    return Promise.resolve(bytes === undefined ? err({ kind: 'not-found', name }) : ok(copyOf(bytes)));
  }

  getRange(name: string, offsetBytes: number, lengthBytes: number): Promise<Result<Uint8Array, StoreError>> {
    assertName(name);
    assertInt(offsetBytes, 0, Number.MAX_SAFE_INTEGER, 'offsetBytes');
    assertInt(lengthBytes, 0, Number.MAX_SAFE_INTEGER, 'lengthBytes');
    const bytes = this.objects.get(name);
    if (bytes === undefined) return Promise.resolve(err({ kind: 'not-found', name }));
    if (offsetBytes + lengthBytes > bytes.length) {
      return Promise.resolve(err({ kind: 'out-of-range', name, offsetBytes, lengthBytes, objectBytes: bytes.length }));
    }
    return Promise.resolve(ok(copyOf(bytes.subarray(offsetBytes, offsetBytes + lengthBytes))));
  }

  list(prefix: string): Promise<Result<readonly string[], StoreError>> {
    assertPrefix(prefix);
    const wantTemps = prefix.startsWith(TEMP_PREFIX);
    const names: string[] = [];
    for (const name of this.objects.keys()) {
      if (!name.startsWith(prefix)) continue;
      if (!wantTemps && name.startsWith(TEMP_PREFIX)) continue;
      names.push(name);
      if (names.length > LIST_MAX_NAMES) return Promise.resolve(err({ kind: 'io', name: prefix, operation: 'list', code: 'ETOOMANY', message: `more than ${LIST_MAX_NAMES} names` }));
    }
    names.sort();
    return Promise.resolve(ok(names));
  }

  delete(name: string): Promise<Result<void, StoreError>> {
    assertName(name);
    this.objects.delete(name);
    return Promise.resolve(ok(undefined));
  }

  exists(name: string): Promise<Result<boolean, StoreError>> {
    assertName(name);
    return Promise.resolve(ok(this.objects.has(name)));
  }

  /** Writes a temporary object as a crash would leave it (the crash twin's torn write). */
  writeTemp(temp: string, bytes: Uint8Array): void {
    assertName(temp);
    this.objects.set(temp, copyOf(bytes));
  }

  /** An independent copy with the same objects (to rehearse a run before crashing it). */
  clone(): MemoryStore {
    const copy = new MemoryStore();
    for (const [name, bytes] of this.objects) copy.objects.set(name, copyOf(bytes));
    copy.tempSequence = this.tempSequence;
    return copy;
  }

  /** Every name, temporaries included, sorted (tests and the crash twin). */
  allNames(): string[] {
    return [...this.objects.keys()].sort();
  }

  /** Total bytes of all objects, temporaries included. */
  totalBytes(): number {
    let total = 0;
    for (const bytes of this.objects.values()) total += bytes.length;
    return total;
  }

  private rename(from: string, to: string): void {
    const bytes = this.objects.get(from);
    if (bytes === undefined) return;
    this.objects.delete(from);
    this.objects.set(to, bytes);
  }
}
