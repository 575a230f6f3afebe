/**
 * The repository: RecoveryPoints stored as content-addressed, compressed, deduplicated
 * chunks in packs, found through index files, described by manifests (formats: pack.ts,
 * index-file.ts, manifest.ts, config.ts; layout and rules: engine/README.md).
 *
 * Crash safety rests on the publish order of a commit (point-writer.ts): packs, then the
 * index file that lists them, then the manifest, which is the commit point. Readers see
 * only manifests, so a crash never exposes a partial point; objects are immutable and
 * only prune deletes, so a crash never loses an earlier one. Garbage a crash leaves (packs
 * and index entries no manifest needs, temps under tmp/) is removed by prune.
 *
 * Writers (beginPoint, prune) need the writer lock, taken by `open` with `writer`
 * options; readers (list, read, restore, verify) take none.
 *
 * A chunk is reused by a backup only where a read would find it intact (checkForReuse:
 * each pack reused from is read once, its trailer and every blob's CRC32 checked); one whose
 * pack is missing, short or damaged is stored again, and reads fall back to its copies.
 *
 * Leaves out: encryption, a cache of index files on the reader's side (every open loads
 * every index file), and concurrent readers' protection from prune (a read during prune
 * can fail with a named missing pack). Rebuilding a lost index from pack trailers is
 * repair.ts's.
 */

import { assert, assertInt } from '../../core/assert.js';
import type { Clock } from '../../core/clock.js';
import type { DiskId } from '../../core/ids.js';
import { err, ok, type Result } from '../../core/result.js';
import { describeStoreError, TEMP_PREFIX, type ByteStore, type StoreError } from '../store/byte-store.js';
import { describeLockError, StoreLock, type LockError, type LockRecord } from '../store/lock.js';
import { Chunker } from './chunker.js';
import { decompressBlob, DEFAULT_CODEC, type CodecSettings } from './compression.js';
import {
  codecOf, CONFIG_NAME, DEFAULT_CHUNKER, DEFAULT_PACK_TARGET_BYTES, DEFAULT_ZERO, decodeConfig, encodeConfig, makeConfig, type RepositoryConfig,
} from './config.js';
import { endOf, firstExtentEndingAfter, type MappedExtent } from './extent-map.js';
import {
  isHashHex, manifestName, packName, RecoveryPointId, sha256Hex,
  type ChunkId, type PackId,
} from './hash.js';
import { decodeIndex, type ChunkLocation, type IndexedPack } from './index-file.js';
import { decodeManifest, mappedBytes, type Manifest, type RecoveryPointMeta } from './manifest.js';
import { crc32 } from '../../core/crc32.js';
import { PointWriter } from './point-writer.js';
import { blobBytes, PACK_ENTRY_BYTES, PACK_FOOTER_BYTES, PACK_HEADER_BYTES, parsePack, sameBlobEntry } from './pack.js';
import { ChunkWorkers } from './chunk-workers.js';
import { ChunkCache, CheckedChunks } from './chunk-cache.js';

export type RepoError =
  | { readonly kind: 'store'; readonly error: StoreError }
  | { readonly kind: 'not-a-repository'; readonly where: string; readonly reason: string }
  | { readonly kind: 'already-a-repository'; readonly where: string }
  | { readonly kind: 'lock'; readonly error: LockError }
  | { readonly kind: 'read-only'; readonly operation: string }
  | { readonly kind: 'unknown-point'; readonly id: string }
  | { readonly kind: 'ambiguous-point'; readonly prefix: string; readonly matches: readonly RecoveryPointId[] }
  | { readonly kind: 'manifest-damaged'; readonly id: RecoveryPointId; readonly reason: string }
  | { readonly kind: 'unknown-disk'; readonly id: RecoveryPointId; readonly diskId: string }
  | { readonly kind: 'chunk-missing'; readonly chunkId: ChunkId; readonly pointId: RecoveryPointId; readonly diskId: string; readonly offsetBytes: number }
  | { readonly kind: 'chunk-damaged'; readonly chunkId: ChunkId; readonly packId: PackId; readonly pointId: RecoveryPointId; readonly diskId: string; readonly offsetBytes: number; readonly reason: string }
  | { readonly kind: 'source-read'; readonly offsetBytes: number; readonly reason: string }
  | { readonly kind: 'damaged'; readonly operation: string; readonly problems: readonly string[] };

/** Why a chunk could not be read: in no index, damaged (or its pack gone), or the store failed. */
export type ChunkReadError =
  | { readonly kind: 'missing' }
  | { readonly kind: 'damaged'; readonly packId: PackId; readonly reason: string }
  | { readonly kind: 'store'; readonly error: StoreError };

export function describeRepoError(error: RepoError): string {
  switch (error.kind) {
    case 'store': return `store: ${describeStoreError(error.error)}`;
    case 'not-a-repository': return error.reason.startsWith('config: ')
      ? `${error.where}: its config is damaged (${error.reason.slice('config: '.length)}); nothing was written: \`quiescelab repair\` rebuilds it`
      : `${error.where} is not a quiescelab repository (${error.reason})`;
    case 'already-a-repository': return `${error.where} is already a quiescelab repository`;
    case 'lock': return `repository ${describeLockError(error.error)}`;
    case 'read-only': return `${error.operation} needs the writer lock (open with writer options)`;
    case 'unknown-point': return `no recovery point '${error.id}'`;
    case 'ambiguous-point': return `'${error.prefix}' matches ${error.matches.length} recovery points`;
    case 'manifest-damaged': return `manifest ${manifestName(error.id)} is damaged: ${error.reason}`;
    case 'unknown-disk': return `recovery point ${error.id} has no disk '${error.diskId}'`;
    case 'chunk-missing': return `chunk ${error.chunkId} (disk ${error.diskId} at ${error.offsetBytes}) of manifest ${manifestName(error.pointId)} is in no index`;
    case 'chunk-damaged': return `chunk ${error.chunkId} (disk ${error.diskId} at ${error.offsetBytes}) of manifest ${manifestName(error.pointId)} in ${packName(error.packId)}: ${error.reason}`;
    case 'source-read': return `reading the source at ${error.offsetBytes}: ${error.reason}`;
    case 'damaged': return `${error.operation} refused, the repository is damaged: ${error.problems.slice(0, 3).join('; ')}${error.problems.length > 3 ? ` (+${error.problems.length - 3} more)` : ''}`;
  }
}

export interface InitOptions {
  readonly clock: Clock;
  readonly chunker?: RepositoryConfig['chunker'];
  readonly zero?: RepositoryConfig['zero'];
  readonly packTargetBytes?: number;
  /** Default zstd level 4 (compression.ts); `{ codec: 'brotli', level: q }` makes a version 1 (brotli) repository. */
  readonly compression?: CodecSettings;
}

export interface WriterOptions {
  /** Who holds the lock, e.g. `host:pid` or a job id. */
  readonly owner: string;
  readonly staleAfterUs?: number;
  readonly attributes?: Readonly<Record<string, string | number>>;
  readonly isStale?: (record: LockRecord) => boolean;
}

export interface OpenOptions {
  readonly clock: Clock;
  /** Take the writer lock (needed by beginPoint and prune). */
  readonly writer?: WriterOptions;
  /**
   * Work off the main thread while a writer reads and cuts: zstd repositories hash,
   * checksum and compress chunks on this many worker threads (chunk-workers.ts), brotli
   * ones compress on libuv's thread pool; 0 does everything in the calling thread (the
   * simulator's choice). Same bytes either way (pack-writer.ts).
   */
  readonly compressionInFlight?: number;
}

export interface PointSummary {
  readonly id: RecoveryPointId;
  readonly sequence: number;
  readonly parent: RecoveryPointId | null;
  readonly committedAtUs: number;
  readonly meta: RecoveryPointMeta;
  readonly disks: readonly { readonly diskId: DiskId; readonly capacityBytes: number; readonly mappedBytes: number }[];
}

export interface RepoStats {
  readonly points: number;
  readonly packs: number;
  readonly uniqueChunks: number;
  /** Raw bytes of every stored chunk. */
  readonly chunkRawBytes: number;
  /** Bytes of all packs (blobs after compression, plus headers and trailers). */
  readonly packBytes: number;
  readonly indexBytes: number;
  readonly manifestBytes: number;
  /** Mapped bytes summed over every point and disk: what restoring everything gives. */
  readonly logicalBytes: number;
  /** logicalBytes / chunkRawBytes: what deduplication saves. */
  readonly dedupRatio: number;
  /** chunkRawBytes / blob bytes: what compression saves. */
  readonly compressionRatio: number;
}

export interface RestoreStats {
  readonly bytesWritten: number;
  readonly chunksRead: number;
  readonly bytesRead: number;
}

/** readDisk hands back at most this many bytes at once. */
export const READ_MAX_BYTES = 1 << 30;

export class Repository {
  /** Where each chunk is (first index file loaded wins; further copies are in `copies`). */
  readonly index = new Map<ChunkId, ChunkLocation>();
  /**
   * Further copies of chunks stored more than once (a backup writes a chunk again when the
   * pack of its first copy is missing or damaged): reads fall back to them in load order.
   */
  private readonly copies = new Map<ChunkId, ChunkLocation[]>();
  /** Per pack checked for reuse this session: the chunks whose blob is intact there. */
  private readonly reusableIn = new Map<PackId, ReadonlySet<ChunkId>>();
  /** Index files that failed their hash or format (verify names them). */
  readonly damagedIndexFiles: string[] = [];
  private readonly manifests = new Map<RecoveryPointId, { readonly manifest: Manifest; readonly bytes: number }>();
  private indexBytesTotal = 0;
  private writerOpen = false;
  /** Chunks this repository read and checked already (chunk-cache.ts says why that is safe). */
  private readonly checked = new CheckedChunks();
  readonly chunker: Chunker;
  readonly codec: CodecSettings;
  /** Started when a writer opens in a zstd repository with compressionInFlight > 0. */
  private chunkWorkers: ChunkWorkers | undefined;

  private constructor(
    readonly store: ByteStore,
    readonly config: RepositoryConfig,
    readonly clock: Clock,
    readonly lock: StoreLock | undefined,
    readonly compressionInFlight: number,
  ) {
    this.chunker = new Chunker(config.chunker);
    this.codec = codecOf(config);
  }

  /** Writes the config object of a new repository; refuses when one exists. */
  static async init(store: ByteStore, options: InitOptions): Promise<Result<RepositoryConfig, RepoError>> {
    const config = makeConfig(options.compression ?? DEFAULT_CODEC, {
      chunker: options.chunker ?? DEFAULT_CHUNKER,
      zero: options.zero ?? DEFAULT_ZERO,
      packTargetBytes: options.packTargetBytes ?? DEFAULT_PACK_TARGET_BYTES,
      createdAtUs: options.clock.nowUs(),
    });
    const put = await store.putExclusive(CONFIG_NAME, encodeConfig(config));
    if (!put.ok) return put.error.kind === 'exists' ? err({ kind: 'already-a-repository', where: store.description }) : err({ kind: 'store', error: put.error });
    return ok(config);
  }

  static async open(store: ByteStore, options: OpenOptions): Promise<Result<Repository, RepoError>> {
    const compressionInFlight = assertInt(options.compressionInFlight ?? 0, 0, 64, 'compressionInFlight');
    const configBytes = await store.get(CONFIG_NAME);
    if (!configBytes.ok) {
      return configBytes.error.kind === 'not-found'
        ? err({ kind: 'not-a-repository', where: store.description, reason: 'no config object' })
        : err({ kind: 'store', error: configBytes.error });
    }
    const config = decodeConfig(configBytes.value);
    if (!config.ok) return err({ kind: 'not-a-repository', where: store.description, reason: `config: ${config.error}` });
    let lock: StoreLock | undefined;
    if (options.writer !== undefined) {
      const taken = await StoreLock.acquire(store, { ...options.writer, clock: options.clock });
      if (!taken.ok) return err({ kind: 'lock', error: taken.error });
      lock = taken.value;
    }
    const repo = new Repository(store, config.value, options.clock, lock, compressionInFlight);
    const loaded = await repo.loadIndex();
    if (!loaded.ok) {
      if (lock !== undefined) await lock.release();
      return loaded;
    }
    if (lock !== undefined) {
      // Crash leftovers: only a lock holder may delete temps (no other writer runs).
      const removed = await repo.removeTemps();
      if (!removed.ok) {
        await lock.release();
        return removed;
      }
    }
    return ok(repo);
  }

  get isWriter(): boolean {
    return this.lock !== undefined;
  }

  /**
   * @internal The hashing and zstd workers of a writer (a zstd repository opened with
   * compressionInFlight > 0), started at the first call; undefined otherwise.
   */
  workers(): ChunkWorkers | undefined {
    if (this.compressionInFlight === 0 || this.codec.codec !== 'zstd') return undefined;
    this.chunkWorkers ??= new ChunkWorkers(this.compressionInFlight);
    this.chunkWorkers.start();
    return this.chunkWorkers;
  }

  /** Releases the writer lock and ends the compression workers. The repository must not be written afterwards. */
  async close(): Promise<Result<void, RepoError>> {
    assert(!this.writerOpen, 'close with a point writer still open');
    await this.chunkWorkers?.close();
    this.chunkWorkers = undefined;
    if (this.lock === undefined) return ok(undefined);
    const released = await this.lock.release();
    return released.ok ? ok(undefined) : err({ kind: 'lock', error: released.error });
  }

  /** (Re)loads every index file. */
  async loadIndex(): Promise<Result<void, RepoError>> {
    this.index.clear();
    this.copies.clear();
    this.reusableIn.clear();
    this.damagedIndexFiles.length = 0;
    this.indexBytesTotal = 0;
    const names = await this.store.list('index/');
    if (!names.ok) return err({ kind: 'store', error: names.error });
    for (const name of names.value) {
      const bytes = await this.store.get(name);
      if (!bytes.ok) {
        if (bytes.error.kind === 'not-found') continue; // deleted by a prune meanwhile
        return err({ kind: 'store', error: bytes.error });
      }
      const packs = sha256Hex(bytes.value) === name.slice('index/'.length) ? decodeIndex(bytes.value) : err('hash mismatch');
      if (!packs.ok) {
        this.damagedIndexFiles.push(name);
        continue;
      }
      this.indexBytesTotal += bytes.value.length;
      this.addToIndex(packs.value);
    }
    return ok(undefined);
  }

  /** @internal Adds committed packs to the in-memory index. */
  addToIndex(packs: readonly IndexedPack[]): void {
    for (const pack of packs) {
      for (const blob of pack.blobs) {
        const loc = { ...blob, packId: pack.packId };
        const first = this.index.get(blob.chunkId);
        if (first === undefined) {
          this.index.set(blob.chunkId, loc);
          continue;
        }
        if (first.packId === pack.packId) continue;
        const more = this.copies.get(blob.chunkId) ?? [];
        if (!more.some((c) => c.packId === pack.packId)) more.push(loc);
        this.copies.set(blob.chunkId, more);
      }
    }
  }

  /** Every indexed copy of a chunk, the first loaded first. */
  locations(chunkId: ChunkId): readonly ChunkLocation[] {
    const first = this.index.get(chunkId);
    if (first === undefined) return [];
    return [first, ...(this.copies.get(chunkId) ?? [])];
  }

  /**
   * @internal Reads each pack that holds a copy of one of `chunkIds` and has not been
   * checked this session: its trailer must parse, and a chunk is reusable there when the
   * trailer's entry equals the index's and the blob's CRC32 holds. A backup reuses only
   * such chunks (reusable) and stores the others again: a missing, short or damaged pack
   * never makes a new point unrestorable. Costs one read of each pack a backup reuses
   * from (CRC32 only: no decompression, no SHA-256).
   */
  async checkForReuse(chunkIds: readonly ChunkId[]): Promise<Result<void, RepoError>> {
    const packs = new Set<PackId>();
    for (const id of chunkIds) for (const loc of this.locations(id)) if (!this.reusableIn.has(loc.packId)) packs.add(loc.packId);
    for (const packId of packs) {
      const checked = await this.checkPack(packId);
      if (!checked.ok) return checked;
      this.reusableIn.set(packId, checked.value);
    }
    return ok(undefined);
  }

  /** @internal After checkForReuse: whether the chunk's copy in `packId` is intact. */
  intactIn(chunkId: ChunkId, packId: PackId): boolean {
    return this.reusableIn.get(packId)?.has(chunkId) === true;
  }

  /** @internal After checkForReuse: whether some copy of the chunk is intact. */
  reusable(chunkId: ChunkId): boolean {
    return this.locations(chunkId).some((loc) => this.intactIn(chunkId, loc.packId));
  }

  private async checkPack(packId: PackId): Promise<Result<ReadonlySet<ChunkId>, RepoError>> {
    const bytes = await this.store.get(packName(packId));
    if (!bytes.ok) return bytes.error.kind === 'not-found' ? ok(new Set()) : err({ kind: 'store', error: bytes.error });
    const entries = parsePack(bytes.value);
    const good = new Set<ChunkId>();
    if (!entries.ok) return ok(good);
    for (const e of entries.value) {
      const indexed = this.locations(e.chunkId).find((loc) => loc.packId === packId);
      if (indexed === undefined || !sameBlobEntry(indexed, e)) continue;
      if (blobBytes(bytes.value, e).ok) good.add(e.chunkId);
    }
    return ok(good);
  }

  /** @internal */
  noteIndexFile(bytes: number): void {
    this.indexBytesTotal += bytes;
  }

  /** @internal */
  noteManifest(id: RecoveryPointId, manifest: Manifest, bytes: number): void {
    this.manifests.set(id, { manifest, bytes });
  }

  /** @internal */
  forgetManifest(id: RecoveryPointId): void {
    this.manifests.delete(id);
  }

  /** @internal The point writer tells when it opens and closes (one at a time). */
  setWriterOpen(open: boolean): void {
    assert(open !== this.writerOpen, open ? 'one point writer at a time' : 'no point writer is open');
    this.writerOpen = open;
  }

  /**
   * Starts a RecoveryPoint. With a parent, the writer may copy ranges of the parent's disks
   * (copyFromParent) and override them (writeExtent).
   */
  async beginPoint(meta: RecoveryPointMeta, options: { readonly parent?: RecoveryPointId } = {}): Promise<Result<PointWriter, RepoError>> {
    if (this.lock === undefined) return err({ kind: 'read-only', operation: 'beginPoint' });
    const points = await this.listPoints();
    if (!points.ok) return points;
    let parent: Manifest | undefined;
    if (options.parent !== undefined) {
      const read = await this.readManifest(options.parent);
      if (!read.ok) return read;
      parent = read.value;
    }
    const sequence = 1 + points.value.reduce((max, p) => Math.max(max, p.sequence), 0);
    return ok(new PointWriter(this, this.lock, { meta, sequence, parentId: options.parent ?? null, parent }));
  }

  /** Every intact RecoveryPoint, oldest first (by sequence, then commit time, then id). */
  async listPoints(): Promise<Result<PointSummary[], RepoError>> {
    const names = await this.store.list('points/');
    if (!names.ok) return err({ kind: 'store', error: names.error });
    const out: PointSummary[] = [];
    for (const name of names.value) {
      const hex = name.slice('points/'.length);
      if (!isHashHex(hex)) continue;
      const read = await this.readManifest(RecoveryPointId(hex));
      if (!read.ok) {
        if (read.error.kind === 'manifest-damaged' || read.error.kind === 'unknown-point') continue; // verify names it
        return read;
      }
      const m = read.value;
      out.push({
        id: RecoveryPointId(hex), sequence: m.sequence, parent: m.parent, committedAtUs: m.committedAtUs, meta: m.meta,
        disks: m.disks.map((d) => ({ diskId: d.diskId, capacityBytes: d.capacityBytes, mappedBytes: d.extents.reduce((s, e) => s + e.lengthBytes, 0) })),
      });
    }
    out.sort((a, b) => a.sequence - b.sequence || a.committedAtUs - b.committedAtUs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return ok(out);
  }

  /** The id of the one point whose id starts with `prefix` (at least 6 hex digits). */
  async resolvePoint(prefix: string): Promise<Result<RecoveryPointId, RepoError>> {
    if (!/^[0-9a-f]{6,64}$/.test(prefix)) return err({ kind: 'unknown-point', id: prefix });
    const names = await this.store.list(`points/${prefix}`);
    if (!names.ok) return err({ kind: 'store', error: names.error });
    const matches = names.value.map((n) => n.slice('points/'.length)).filter(isHashHex).map(RecoveryPointId);
    if (matches.length === 0) return err({ kind: 'unknown-point', id: prefix });
    if (matches.length > 1) return err({ kind: 'ambiguous-point', prefix, matches });
    return ok(matches[0] as RecoveryPointId);
  }

  /** A manifest, checked against its name's hash. */
  async readManifest(id: RecoveryPointId): Promise<Result<Manifest, RepoError>> {
    const cached = this.manifests.get(id);
    if (cached !== undefined) return ok(cached.manifest);
    const bytes = await this.store.get(manifestName(id));
    if (!bytes.ok) return bytes.error.kind === 'not-found' ? err({ kind: 'unknown-point', id }) : err({ kind: 'store', error: bytes.error });
    if (sha256Hex(bytes.value) !== id) return err({ kind: 'manifest-damaged', id, reason: 'hash mismatch' });
    const decoded = decodeManifest(bytes.value);
    if (!decoded.ok) return err({ kind: 'manifest-damaged', id, reason: decoded.error });
    this.manifests.set(id, { manifest: decoded.value, bytes: bytes.value.length });
    return ok(decoded.value);
  }

  /**
   * A chunk's raw bytes, checked end to end; an error names the point and disk place that
   * needs it. `memo`: use and feed the repository's memo of checked chunks (random-access
   * reads re-read chunks; a streaming restore reads each once, and copying its stored
   * bytes into the memo cost a 1 GiB restore 10%).
   */
  async readChunk(chunkId: ChunkId, at: { readonly pointId: RecoveryPointId; readonly diskId: string; readonly offsetBytes: number }, memo = false): Promise<Result<Uint8Array, RepoError>> {
    const chunk = await this.loadChunk(chunkId, memo);
    if (chunk.ok) return chunk;
    const e = chunk.error;
    switch (e.kind) {
      case 'missing': return err({ kind: 'chunk-missing', chunkId, ...at });
      case 'damaged': return err({ kind: 'chunk-damaged', chunkId, packId: e.packId, reason: e.reason, ...at });
      case 'store': return err({ kind: 'store', error: e.error });
    }
  }

  /** A chunk's raw bytes, checked end to end (CRC32 of the stored bytes, SHA-256 of the raw); `memo` as for readChunk. */
  async loadChunk(chunkId: ChunkId, memo = false): Promise<Result<Uint8Array, ChunkReadError>> {
    const locs = this.locations(chunkId);
    if (locs.length === 0) return err({ kind: 'missing' });
    let first: Result<Uint8Array, ChunkReadError> | undefined;
    for (const loc of locs) {
      const read = await this.loadChunkAt(chunkId, loc, memo);
      if (read.ok || read.error.kind === 'store') return read;
      first ??= read;
    }
    return first as Result<Uint8Array, ChunkReadError>;
  }

  /** One copy of a chunk, checked end to end. */
  private async loadChunkAt(chunkId: ChunkId, loc: ChunkLocation, memo: boolean): Promise<Result<Uint8Array, ChunkReadError>> {
    const damaged = (reason: string): Result<never, ChunkReadError> => err({ kind: 'damaged', packId: loc.packId, reason });
    const stored = await this.store.getRange(packName(loc.packId), loc.offsetBytes, loc.storedBytes);
    if (!stored.ok) {
      if (stored.error.kind === 'not-found') return damaged('pack missing');
      if (stored.error.kind === 'out-of-range') return damaged('pack too short');
      return err({ kind: 'store', error: stored.error });
    }
    if (crc32(stored.value) !== loc.crc32) return damaged('CRC32 mismatch');
    const known = memo ? this.checked.rawFor(chunkId, loc.compression, stored.value) : undefined;
    if (known !== undefined && known.length === loc.rawBytes) return ok(known);
    const raw = decompressBlob(loc.compression, stored.value, loc.rawBytes);
    if (!raw.ok) return damaged(raw.error);
    if (sha256Hex(raw.value) !== chunkId) return damaged('SHA-256 mismatch');
    if (memo) this.checked.remember(chunkId, loc.compression, stored.value, raw.value);
    return ok(raw.value);
  }

  /** A chunk through a read session's cache (`fetched`: it was not there, and was read and checked now). */
  private async sessionChunk(cache: ChunkCache | undefined, e: MappedExtent, at: { readonly pointId: RecoveryPointId; readonly diskId: string; readonly offsetBytes: number }, memo: boolean): Promise<Result<{ readonly bytes: Uint8Array; readonly fetched: boolean }, RepoError>> {
    const cached = cache?.get(e.chunkId);
    if (cached !== undefined) return ok({ bytes: cached, fetched: false });
    const chunk = await this.readChunk(e.chunkId, at, memo);
    if (!chunk.ok) return chunk;
    cache?.put(e.chunkId, chunk.value);
    return ok({ bytes: chunk.value, fetched: true });
  }

  private async diskOf(id: RecoveryPointId, diskId: string): Promise<Result<Manifest['disks'][number], RepoError>> {
    const m = await this.readManifest(id);
    if (!m.ok) return m;
    const disk = m.value.disks.find((d) => d.diskId === diskId);
    return disk === undefined ? err({ kind: 'unknown-disk', id, diskId }) : ok(disk);
  }

  /**
   * Bytes [offsetBytes, offsetBytes + lengthBytes) of a disk of a point; holes read as zeros.
   * A caller reading a point range by range passes one `cache` for the whole read session.
   */
  async readDisk(id: RecoveryPointId, diskId: string, offsetBytes: number, lengthBytes: number, cache?: ChunkCache): Promise<Result<Uint8Array, RepoError>> {
    const disk = await this.diskOf(id, diskId);
    if (!disk.ok) return disk;
    assertInt(lengthBytes, 0, READ_MAX_BYTES, 'lengthBytes');
    assert(Number.isSafeInteger(offsetBytes) && offsetBytes >= 0 && offsetBytes + lengthBytes <= disk.value.capacityBytes,
      `read [${offsetBytes}, +${lengthBytes}) outside disk ${diskId} of ${disk.value.capacityBytes} bytes`);
    const out = new Uint8Array(lengthBytes);
    const end = offsetBytes + lengthBytes;
    const extents = disk.value.extents;
    for (let i = firstExtentEndingAfter(extents, offsetBytes); i < extents.length; i++) {
      const e = extents[i] as MappedExtent;
      if (e.offsetBytes >= end) break;
      const chunk = await this.sessionChunk(cache, e, { pointId: id, diskId, offsetBytes: e.offsetBytes }, true);
      if (!chunk.ok) return chunk;
      const bytes = chunk.value.bytes;
      const from = Math.max(offsetBytes, e.offsetBytes);
      const to = Math.min(end, endOf(e));
      const inChunk = e.chunkOffsetBytes + (from - e.offsetBytes);
      if (inChunk + (to - from) > bytes.length) {
        return err({ kind: 'manifest-damaged', id, reason: `extent at ${e.offsetBytes} runs past the end of chunk ${e.chunkId}` });
      }
      out.set(bytes.subarray(inChunk, inChunk + (to - from)), from - offsetBytes);
    }
    return ok(out);
  }

  /**
   * Streams every mapped extent of a disk, in order, to `sink` (holes are skipped: the
   * caller starts from a zeroed target of `capacityBytes`). Each chunk is checked.
   */
  async restoreDisk(id: RecoveryPointId, diskId: string, sink: (offsetBytes: number, bytes: Uint8Array) => Promise<void>): Promise<Result<RestoreStats, RepoError>> {
    const disk = await this.diskOf(id, diskId);
    if (!disk.ok) return disk;
    const cache = new ChunkCache();
    let bytesWritten = 0;
    let chunksRead = 0;
    let bytesRead = 0;
    for (const e of disk.value.extents) {
      const chunk = await this.sessionChunk(cache, e, { pointId: id, diskId, offsetBytes: e.offsetBytes }, false);
      if (!chunk.ok) return chunk;
      const bytes = chunk.value.bytes;
      if (chunk.value.fetched) {
        chunksRead += 1;
        bytesRead += this.index.get(e.chunkId)?.storedBytes ?? 0;
      }
      if (e.chunkOffsetBytes + e.lengthBytes > bytes.length) {
        return err({ kind: 'manifest-damaged', id, reason: `extent at ${e.offsetBytes} runs past the end of chunk ${e.chunkId}` });
      }
      await sink(e.offsetBytes, bytes.subarray(e.chunkOffsetBytes, e.chunkOffsetBytes + e.lengthBytes));
      bytesWritten += e.lengthBytes;
    }
    return ok({ bytesWritten, chunksRead, bytesRead });
  }

  async stats(): Promise<Result<RepoStats, RepoError>> {
    const points = await this.listPoints();
    if (!points.ok) return points;
    let logicalBytes = 0;
    let manifestBytes = 0;
    for (const p of points.value) {
      const cached = this.manifests.get(p.id);
      if (cached === undefined) continue;
      logicalBytes += mappedBytes(cached.manifest);
      manifestBytes += cached.bytes;
    }
    const packs = new Map<PackId, { blobs: number; bytes: number }>();
    let chunkRawBytes = 0;
    let blobBytes = 0;
    for (const loc of this.index.values()) {
      chunkRawBytes += loc.rawBytes;
      blobBytes += loc.storedBytes;
      const p = packs.get(loc.packId) ?? { blobs: 0, bytes: PACK_HEADER_BYTES + PACK_FOOTER_BYTES };
      p.blobs += 1;
      p.bytes += loc.storedBytes + PACK_ENTRY_BYTES;
      packs.set(loc.packId, p);
    }
    let packBytes = 0;
    for (const p of packs.values()) packBytes += p.bytes;
    return ok({
      points: points.value.length, packs: packs.size, uniqueChunks: this.index.size, chunkRawBytes, packBytes,
      indexBytes: this.indexBytesTotal, manifestBytes, logicalBytes,
      dedupRatio: chunkRawBytes === 0 ? 1 : logicalBytes / chunkRawBytes,
      compressionRatio: blobBytes === 0 ? 1 : chunkRawBytes / blobBytes,
    });
  }

  /** @internal Deletes every temp object (crash leftovers). Lock holders only. */
  async removeTemps(): Promise<Result<number, RepoError>> {
    assert(this.lock !== undefined, 'only a lock holder removes temps');
    const temps = await this.store.list(TEMP_PREFIX);
    if (!temps.ok) return err({ kind: 'store', error: temps.error });
    for (const name of temps.value) {
      const removed = await this.store.delete(name);
      if (!removed.ok) return err({ kind: 'store', error: removed.error });
    }
    return ok(temps.value.length);
  }
}

