/**
 * The repository's log stores: `LogStore` (SQL Server log backups) and `SqliteWalStore`
 * (shipped SQLite WAL records) on the repository's ByteStore, with the points' crash
 * safety (engine/logbackup/log-store.ts has the contract; log-record.ts the format).
 *
 * put publishes, each step only after the previous one returned ok:
 *   1. the blob, cut by the repository's chunker into content-addressed chunks that go
 *      through a PackWriter (a chunk already stored is reused; new ones are compressed
 *      into packs, read back before they are published), then one index file;
 *   2. (the writer lock is checked to be still ours: a fence) the record — the commit point —
 *      encoded, decoded again and compared with what was meant before it is written.
 * Every put is the store's atomic publish (write a temp, fsync, rename). A crash before
 * step 2 leaves garbage (packs, an index file, temps) that prune removes and no record; an
 * earlier record's objects are never rewritten. Puts need the writer lock; list and get
 * take none (everything they read is hash-checked).
 *
 * list reads every record of its kind (decoded records are cached by object name: the
 * objects are immutable) and gives a VM's records in sequence order — the order they
 * were put, also after the repository is opened again. A damaged record fails the list,
 * naming it: a record left out could silently shorten a chain. get reassembles a blob
 * from its chunks, each checked end to end, then the whole blob against its SHA-256.
 *
 * Leaves out: concurrent writers (the lock excludes them), a cache of blobs, and batching
 * several records into one pack (each record with a blob writes one index file; prune
 * merges them).
 */

import { assert } from '../../core/assert.js';
import { err, ok, type Result } from '../../core/result.js';
import { type LogRecordBase, type LogRecordStore, type LogStoreError } from '../logbackup/log-store.js';
import type { LogStore } from '../logbackup/sql-job.js';
import type { SqliteWalStore } from '../logbackup/sqlite-shipper.js';
import { describeStoreError } from '../store/byte-store.js';
import { packName, sha256Hex } from './hash.js';
import type { IndexedPack } from './index-file.js';
import {
  decodeLogRecord, encodeLogRecord, logRecordName, LOG_CODECS, LOGS_PREFIX, parseLogRecordName, type LogBlobChunk, type LogCodec, type LogRecordFile,
} from './log-record.js';
import { PackWriter } from './pack-writer.js';
import { describeRepoError, type Repository, type RepoError } from './repository.js';

const unavailable = (reason: string): Result<never, LogStoreError> => err({ kind: 'unavailable', reason });
const repoFailure = (error: RepoError): Result<never, LogStoreError> => unavailable(describeRepoError(error));

export class RepositoryLogStore<R extends LogRecordBase> implements LogRecordStore<R> {
  /** Decoded records by object name (objects are immutable; a pruned one is dropped at the next list). */
  private readonly cache = new Map<string, LogRecordFile<R>>();

  constructor(
    private readonly repo: Repository,
    private readonly codec: LogCodec<R>,
  ) {}

  async put(record: R, blob: Uint8Array | null): Promise<Result<void, LogStoreError>> {
    const lock = this.repo.lock;
    if (lock === undefined) return unavailable('a log record is written under the writer lock (open the repository with writer options)');
    const files = await this.refresh();
    if (!files.ok) return files;
    if (files.value.some((f) => f.record.id === record.id)) return err({ kind: 'exists', id: record.id });
    const sequence = 1 + files.value.reduce((m, f) => Math.max(m, f.sequence), 0);
    let packs: readonly IndexedPack[] = [];
    let blobRef: LogRecordFile<R>['blob'] = null;
    if (blob !== null) {
      const writer = new PackWriter(this.repo, lock);
      const chunks: LogBlobChunk[] = [];
      // The writer takes the chunks' buffer (it may move it to a worker): a copy of the blob.
      const own = new Uint8Array(blob);
      const views: Uint8Array[] = [];
      // Each step takes at least one byte: bounded by the blob's length.
      for (let at = 0; at < own.length;) {
        const length = this.repo.chunker.cut(own, at, own.length, true);
        assert(length > 0, 'a final cut takes at least one byte');
        views.push(own.subarray(at, at + length));
        at += length;
      }
      const lengths = views.map((v) => v.length);
      const added = await writer.submit(views, (ids) => {
        ids.forEach((chunkId, i) => chunks.push({ chunkId, rawBytes: lengths[i] as number }));
      });
      if (!added.ok) return repoFailure(added.error);
      const finished = await writer.finish();
      if (!finished.ok) return repoFailure(finished.error);
      packs = finished.value;
      blobRef = { bytes: blob.length, sha256: sha256Hex(blob), chunks };
    }
    const file: LogRecordFile<R> = { kind: this.codec.kind, sequence, record, blob: blobRef };
    const bytes = encodeLogRecord(file);
    // Read back what we are about to publish: it must decode to what we meant.
    const back = decodeLogRecord(bytes, this.codec);
    assert(back.ok && back.value.sequence === sequence && JSON.stringify(back.value.record) === JSON.stringify(record) && JSON.stringify(back.value.blob) === JSON.stringify(blobRef),
      `log record ${record.id} does not decode to itself: ${back.ok ? 'it differs' : back.error}`);
    // A shipper with nothing new writes no pack: refresh here too, so an idle chain keeps its lock.
    const refreshed = await lock.refreshIfDue();
    if (!refreshed.ok) return repoFailure({ kind: 'lock', error: refreshed.error });
    const fence = await lock.check();
    if (!fence.ok) return repoFailure({ kind: 'lock', error: fence.error });
    const name = logRecordName(this.codec.kind, sha256Hex(bytes));
    const put = await this.repo.store.put(name, bytes);
    if (!put.ok) return unavailable(describeStoreError(put.error));
    this.repo.addToIndex(packs);
    this.cache.set(name, back.value);
    return ok(undefined);
  }

  async list(vmId: string): Promise<Result<readonly R[], LogStoreError>> {
    const files = await this.refresh();
    if (!files.ok) return files;
    return ok(files.value.filter((f) => f.record.vmId === vmId).map((f) => f.record));
  }

  async get(id: string): Promise<Result<Uint8Array, LogStoreError>> {
    let found = this.find(id);
    if (found === undefined) {
      const files = await this.refresh();
      if (!files.ok) return files;
      found = this.find(id);
    } else {
      // Cached: make sure a prune has not removed it since.
      const there = await this.repo.store.exists(found.name);
      if (!there.ok) return unavailable(describeStoreError(there.error));
      if (!there.value) {
        this.cache.delete(found.name);
        found = undefined;
      }
    }
    const blob = found?.file.blob ?? null;
    if (found === undefined || blob === null) return err({ kind: 'not-found', id });
    const name = found.name;
    const out = new Uint8Array(blob.bytes);
    let at = 0;
    for (const c of blob.chunks) {
      const chunk = await this.repo.loadChunk(c.chunkId);
      if (!chunk.ok) {
        const e = chunk.error;
        if (e.kind === 'store') return unavailable(describeStoreError(e.error));
        return err(e.kind === 'missing'
          ? { kind: 'damaged', id, object: name, reason: `chunk ${c.chunkId} of its blob is in no index` }
          : { kind: 'damaged', id, object: packName(e.packId), reason: `chunk ${c.chunkId} of its blob: ${e.reason}` });
      }
      if (chunk.value.length !== c.rawBytes) return err({ kind: 'damaged', id, object: name, reason: `chunk ${c.chunkId} has ${chunk.value.length} bytes, the record says ${c.rawBytes}` });
      out.set(chunk.value, at);
      at += c.rawBytes;
    }
    if (sha256Hex(out) !== blob.sha256) return err({ kind: 'damaged', id, object: name, reason: 'the reassembled blob does not match its SHA-256' });
    return ok(out);
  }

  private find(id: string): { readonly name: string; readonly file: LogRecordFile<R> } | undefined {
    for (const [name, file] of this.cache) if (file.record.id === id) return { name, file };
    return undefined;
  }

  /** Every record of this kind, in sequence order; reads only objects not cached yet. */
  private async refresh(): Promise<Result<LogRecordFile<R>[], LogStoreError>> {
    const names = await this.repo.store.list(`${LOGS_PREFIX}${this.codec.kind}/`);
    if (!names.ok) return unavailable(describeStoreError(names.error));
    const present = new Set(names.value);
    for (const name of [...this.cache.keys()]) if (!present.has(name)) this.cache.delete(name);
    for (const name of names.value) {
      if (this.cache.has(name)) continue;
      const bytes = await this.repo.store.get(name);
      if (!bytes.ok) {
        if (bytes.error.kind === 'not-found') continue; // removed by a prune meanwhile
        return unavailable(describeStoreError(bytes.error));
      }
      const file = parseLogRecordName(name)?.hex === sha256Hex(bytes.value) ? decodeLogRecord(bytes.value, this.codec) : err('SHA-256 of the bytes does not match the name');
      if (!file.ok) return err({ kind: 'damaged', id: '(unknown: the record is unreadable)', object: name, reason: file.error });
      this.cache.set(name, file.value);
    }
    return ok([...this.cache.values()].sort((a, b) => a.sequence - b.sequence));
  }
}

/** SQL Server log backups in the repository (a reader's store can list and get; a writer's can put). */
export function repositoryLogStore(repo: Repository): LogStore {
  return new RepositoryLogStore(repo, LOG_CODECS.sql);
}

/** Shipped SQLite WAL records in the repository. */
export function repositorySqliteWalStore(repo: Repository): SqliteWalStore {
  return new RepositoryLogStore(repo, LOG_CODECS['sqlite-wal']);
}
