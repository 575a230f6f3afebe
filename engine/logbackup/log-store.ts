/**
 * Where log backups go: a store of log records (one per SQL Server log backup, one per
 * SQLite shipping round, checkpoint, anchor or observation), each with at most one blob
 * (the log's bytes), kept per VM in the order they were put. `LogStore` (sql-job.ts) and
 * `SqliteWalStore` (sqlite-shipper.ts) are this contract for their record types.
 *
 * Contract (test/engine/log-store-contract.test.ts runs it against every implementation):
 * - `put` publishes the record and its blob together or not at all; a record id is
 *   unique in a store (a second put of it is refused with `exists`); the blob is copied.
 * - `list(vmId)` gives that VM's records in the order they were put.
 * - `get(id)` gives the record's blob, checked; `not-found` when the record has none or
 *   is not there, `damaged` when the stored bytes are not what was put.
 * Expected failures are `LogStoreError` Results.
 *
 * Implementations: the repository's (engine/repository/log-store.ts: records and blobs
 * persist with the points' crash safety) and the in-memory twin here, for tests and the
 * simulator. Leaves out: deleting records (prune does, by the repository's rule).
 */

import { err, ok, type Result } from '../../core/result.js';

/** What every log record carries. */
export interface LogRecordBase {
  readonly id: string;
  readonly vmId: string;
}

export type LogStoreError =
  | { readonly kind: 'exists'; readonly id: string }
  | { readonly kind: 'not-found'; readonly id: string }
  /** The stored record or blob is not what was put (`object` names what to look at). */
  | { readonly kind: 'damaged'; readonly id: string; readonly object: string; readonly reason: string }
  /** The store could not be read or written (I/O, the writer lock, a read-only repository). */
  | { readonly kind: 'unavailable'; readonly reason: string };

export function describeLogStoreError(error: LogStoreError): string {
  switch (error.kind) {
    case 'exists': return `log record ${error.id} already exists`;
    case 'not-found': return `log record ${error.id} has no blob in the store`;
    case 'damaged': return `log record ${error.id} (${error.object}) is damaged: ${error.reason}`;
    case 'unavailable': return `the log store is unavailable: ${error.reason}`;
  }
}

/** A store of log records of type R with blobs of type B (null: a record without one). */
export interface LogRecordStore<R extends LogRecordBase, B extends Uint8Array | null = Uint8Array | null> {
  put(record: R, blob: B): Promise<Result<void, LogStoreError>>;
  list(vmId: string): Promise<Result<readonly R[], LogStoreError>>;
  get(id: string): Promise<Result<Uint8Array, LogStoreError>>;
}

/** The in-memory twin. */
export class MemoryRecordStore<R extends LogRecordBase> implements LogRecordStore<R> {
  private readonly records: R[] = [];
  private readonly blobs = new Map<string, Uint8Array>();

  put(record: R, blob: Uint8Array | null): Promise<Result<void, LogStoreError>> {
    if (this.records.some((r) => r.id === record.id)) return Promise.resolve(err({ kind: 'exists', id: record.id }));
    this.records.push(record);
    if (blob !== null) this.blobs.set(record.id, blob.slice());
    return Promise.resolve(ok(undefined));
  }

  list(vmId: string): Promise<Result<readonly R[], LogStoreError>> {
    return Promise.resolve(ok(this.records.filter((r) => r.vmId === vmId)));
  }

  get(id: string): Promise<Result<Uint8Array, LogStoreError>> {
    const blob = this.blobs.get(id);
    return Promise.resolve(blob === undefined ? err({ kind: 'not-found', id }) : ok(blob.slice()));
  }

  /** Drops a record and its blob (tests: a log backup missing from the repository). */
  remove(id: string): void {
    const i = this.records.findIndex((r) => r.id === id);
    if (i >= 0) this.records.splice(i, 1);
    this.blobs.delete(id);
  }

  /** Replaces a blob (tests: a damaged log backup that the store cannot tell from a good one). */
  replaceBlob(id: string, blob: Uint8Array): void {
    this.blobs.set(id, blob.slice());
  }
}
