/**
 * ByteStore: a dumb, flat store of immutable named objects, the only thing the repository
 * writes to. Names are paths of `[A-Za-z0-9._-]` segments joined by '/', such as
 * `packs/ab/abcdef…`, `index/…`, `points/…`, `config`, `locks/writer`.
 *
 * Contract (what the repository's crash safety rests on):
 * - `put` publishes atomically: after a crash the name holds the old object, the new one,
 *   or nothing — never a torn object. A put that returned ok is durable.
 * - `putExclusive` is `put` that fails with `exists` when the name is taken (the lock).
 * - A put keeps no view of the bytes it was given: the caller may reuse them once it resolved.
 * - Temporary objects of unfinished puts live under `tmp/`; `list` of any other prefix
 *   never shows them, and only a writer holding the repository lock deletes them.
 * - Expected failures (not found, exists, an I/O error) are Result values naming the
 *   object; a bad name is a programmer error (assert).
 *
 * Leaves out: permissions, object metadata (mtime), listing with pagination (a list holds
 * at most LIST_MAX_NAMES names), and eventual consistency (cloud stores).
 */

import { assert } from '../../core/assert.js';
import type { Result } from '../../core/result.js';

export type StoreOperation = 'put' | 'put-exclusive' | 'get' | 'get-range' | 'list' | 'delete' | 'exists';

export type StoreError =
  | { readonly kind: 'not-found'; readonly name: string }
  | { readonly kind: 'exists'; readonly name: string }
  /** The object is shorter than the range asked for. */
  | { readonly kind: 'out-of-range'; readonly name: string; readonly offsetBytes: number; readonly lengthBytes: number; readonly objectBytes: number }
  /** What was read back after writing differs from what was written (not published). */
  | { readonly kind: 'read-back-mismatch'; readonly name: string }
  | { readonly kind: 'io'; readonly name: string; readonly operation: StoreOperation; readonly code: string; readonly message: string };

export interface ByteStore {
  /** Where the objects are, for messages: `memory`, `dir /srv/repo`. */
  readonly description: string;
  put(name: string, bytes: Uint8Array): Promise<Result<void, StoreError>>;
  putExclusive(name: string, bytes: Uint8Array): Promise<Result<void, StoreError>>;
  get(name: string): Promise<Result<Uint8Array, StoreError>>;
  getRange(name: string, offsetBytes: number, lengthBytes: number): Promise<Result<Uint8Array, StoreError>>;
  /** Names that start with `prefix`, sorted; `tmp/` objects only when the prefix asks for them. */
  list(prefix: string): Promise<Result<readonly string[], StoreError>>;
  /** Idempotent: deleting a missing object is ok. */
  delete(name: string): Promise<Result<void, StoreError>>;
  exists(name: string): Promise<Result<boolean, StoreError>>;
}

/** A list never returns more names than this (a repository of 16 M objects is far past our scale). */
export const LIST_MAX_NAMES = 1 << 24;
export const NAME_MAX_CHARS = 512;
export const NAME_MAX_SEGMENTS = 8;
export const TEMP_PREFIX = 'tmp/';

const SEGMENT_RE = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

export function isValidName(name: string): boolean {
  if (name.length === 0 || name.length > NAME_MAX_CHARS) return false;
  const segments = name.split('/');
  return segments.length <= NAME_MAX_SEGMENTS && segments.every((s) => SEGMENT_RE.test(s) && s !== '.' && s !== '..');
}

export function assertName(name: string): void {
  assert(isValidName(name), `invalid object name '${name}'`);
}

/** A prefix is a name's beginning: '' or up to and including a '/' or part of a segment. */
export function assertPrefix(prefix: string): void {
  assert(prefix.length <= NAME_MAX_CHARS && /^[A-Za-z0-9._/-]*$/.test(prefix) && !prefix.startsWith('/') && !prefix.includes('//') && !prefix.split('/').includes('..'),
    `invalid list prefix '${prefix}'`);
}

export function describeStoreError(error: StoreError): string {
  switch (error.kind) {
    case 'not-found': return `${error.name}: not found`;
    case 'exists': return `${error.name}: already exists`;
    case 'out-of-range': return `${error.name}: ${error.objectBytes} bytes, asked for ${error.lengthBytes} at ${error.offsetBytes}`;
    case 'read-back-mismatch': return `${error.name}: the bytes read back differ from the bytes written (not published)`;
    case 'io': return `${error.name}: ${error.operation} failed: ${error.code} ${error.message}`;
  }
}
