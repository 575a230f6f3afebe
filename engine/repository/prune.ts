/**
 * prune: forgets the RecoveryPoints a policy does not keep, and the log records no kept
 * point's chain needs, and removes exactly what nothing kept references (mark and sweep).
 *
 * Log records (log-record.ts) follow their base point: a record whose `basePointId` is a
 * kept point is kept (its chain: SQL Server log backups, SQLite segments, checkpoints and
 * anchors from that full backup on), and so is the newest record of each SQLite database
 * (VM and path) whatever its base — the shipper's position, from which the next chain's
 * anchor learns the WAL generation. Every other record goes, observations included.
 *
 *   mark   the chunks the kept manifests and log records name (each at the one location
 *          the index uses);
 *   sweep  packs with no marked blob are deleted, packs with some are repacked (their
 *          marked blobs copied, still compressed, into new packs), packs no index file
 *          lists and temps under tmp/ (crash leftovers) are deleted; all index files are
 *          replaced by one.
 *
 * Order, so that a crash at any step leaves every kept point restorable: write new packs,
 * write the new index file, delete the dropped manifests and log records, delete the old index files,
 * delete the packs the new index does not list, delete temps. A pack is deleted only once
 * no index file lists it. A crash leaves at worst duplicate index entries (harmless) and
 * garbage the next prune removes.
 *
 * Prune refuses (a `damaged` Result, nothing changed) when an index file or a manifest is
 * damaged, a log record is damaged, or a kept point's or log record's chunk is missing or damaged: deleting on a wrong picture of
 * the repository could lose data. Run verify to see the damage.
 */

import { assert } from '../../core/assert.js';
import { err, ok, type Result } from '../../core/result.js';
import type { LogRecordBase } from '../logbackup/log-store.js';
import type { StoreError } from '../store/byte-store.js';
import { decompressBlob } from './compression.js';
import { indexName, manifestName, PackId, packName, sha256Hex, type ChunkId, type RecoveryPointId } from './hash.js';
import { decodeIndex, encodeIndex, type IndexedPack } from './index-file.js';
import { decodeLogRecordObject, LOGS_PREFIX, type LogCodec, type LogRecordFile } from './log-record.js';
import { blobBytes, PACK_ENTRY_BYTES, PACK_FOOTER_BYTES, PACK_HEADER_BYTES, PackBuilder, parsePack, type BlobEntry } from './pack.js';
import type { Repository, RepoError } from './repository.js';

export interface PrunePolicy {
  /** Keep every point: only what no point (and no kept log record) references goes (the CLI's `prune`, after `forget`). */
  readonly keepAll?: boolean;
  /** Keep the newest N points (by sequence). */
  readonly keepLast?: number;
  /** Keep these points too. */
  readonly keepIds?: readonly RecoveryPointId[];
}

export interface PruneReport {
  readonly pointsKept: readonly RecoveryPointId[];
  readonly pointsRemoved: readonly RecoveryPointId[];
  readonly logRecordsKept: number;
  /** Object names of the log records removed. */
  readonly logRecordsRemoved: readonly string[];
  readonly packsDeleted: number;
  readonly packsRepacked: number;
  readonly packsWritten: number;
  readonly blobsRemoved: number;
  readonly indexFilesReplaced: number;
  readonly tempObjectsRemoved: number;
  /** Pack bytes deleted minus pack bytes written (packs no index listed are not counted). */
  readonly bytesFreed: number;
}

function packBytesOf(blobs: readonly BlobEntry[]): number {
  return PACK_HEADER_BYTES + PACK_FOOTER_BYTES + blobs.reduce((s, b) => s + b.storedBytes + PACK_ENTRY_BYTES, 0);
}

const storeErr = (error: StoreError): Result<never, RepoError> => err({ kind: 'store', error });

interface LogRecordObject {
  readonly name: string;
  readonly file: LogRecordFile<LogRecordBase>;
  readonly codec: LogCodec<LogRecordBase>;
}

/** The object names of the log records to keep, by the rule in the header. */
function logRecordsToKeep(logs: readonly LogRecordObject[], keptPoints: ReadonlySet<string>): Set<string> {
  const newest = new Map<string, LogRecordObject>();
  for (const l of logs) {
    const position = l.codec.positionKey(l.file.record);
    if (position === null) continue;
    const key = `${l.file.kind} ${position}`;
    const current = newest.get(key);
    if (current === undefined || l.file.sequence > current.file.sequence) newest.set(key, l);
  }
  const keep = new Set([...newest.values()].map((l) => l.name));
  for (const l of logs) {
    const base = l.codec.basePointId(l.file.record);
    if (base !== null && keptPoints.has(base)) keep.add(l.name);
  }
  return keep;
}

/** Moves each chunk in `copies` to the first pack (in listing order) where its blob is intact (Repository.checkForReuse). */
async function homesOfCopies(repo: Repository, listings: ReadonlyMap<PackId, readonly BlobEntry[]>, home: Map<ChunkId, PackId>, copies: ReadonlySet<ChunkId>): Promise<Result<void, RepoError>> {
  if (copies.size === 0) return ok(undefined);
  const checked = await repo.checkForReuse([...copies]);
  if (!checked.ok) return checked;
  const settled = new Set<ChunkId>();
  for (const [packId, blobs] of listings) {
    for (const b of blobs) {
      if (!copies.has(b.chunkId) || settled.has(b.chunkId) || !repo.intactIn(b.chunkId, packId)) continue;
      home.set(b.chunkId, packId);
      settled.add(b.chunkId);
    }
  }
  return ok(undefined);
}

export async function prune(repo: Repository, policy: PrunePolicy): Promise<Result<PruneReport, RepoError>> {
  if (!repo.isWriter) return err({ kind: 'read-only', operation: 'prune' });
  assert(policy.keepAll === true || policy.keepLast !== undefined || policy.keepIds !== undefined, 'a prune policy keeps something: keepAll, keepLast or keepIds');
  assert(policy.keepLast === undefined || (Number.isSafeInteger(policy.keepLast) && policy.keepLast >= 0), 'keepLast must be a whole number');
  const store = repo.store;
  const problems: string[] = [];

  // The picture: every index file (raw, all listings), every manifest, every log record.
  const indexNames = await store.list('index/');
  if (!indexNames.ok) return storeErr(indexNames.error);
  const listings = new Map<PackId, readonly BlobEntry[]>();
  const home = new Map<ChunkId, PackId>();
  const copies = new Set<ChunkId>();
  for (const name of indexNames.value) {
    const bytes = await store.get(name);
    if (!bytes.ok) return storeErr(bytes.error);
    const packs = sha256Hex(bytes.value) === name.slice('index/'.length) ? decodeIndex(bytes.value) : err('hash mismatch');
    if (!packs.ok) {
      problems.push(`index file ${name}: ${packs.error}`);
      continue;
    }
    for (const p of packs.value) {
      listings.set(p.packId, p.blobs);
      for (const b of p.blobs) {
        if (!home.has(b.chunkId)) home.set(b.chunkId, p.packId);
        else if (home.get(b.chunkId) !== p.packId) copies.add(b.chunkId);
      }
    }
  }
  // A chunk stored more than once (a backup stores it again when its first pack was
  // missing or damaged) keeps the first copy whose pack is intact: keeping the damaged one
  // and sweeping the good one would lose it.
  const rehomed = await homesOfCopies(repo, listings, home, copies);
  if (!rehomed.ok) return rehomed;
  const points = await repo.listPoints();
  if (!points.ok) return points;
  const pointNames = await store.list('points/');
  if (!pointNames.ok) return storeErr(pointNames.error);
  if (pointNames.value.length !== points.value.length) {
    const intact = new Set(points.value.map((p) => manifestName(p.id)));
    for (const n of pointNames.value) if (!intact.has(n)) problems.push(`manifest ${n} is damaged`);
  }

  const logNames = await store.list(LOGS_PREFIX);
  if (!logNames.ok) return storeErr(logNames.error);
  const logs: LogRecordObject[] = [];
  for (const name of logNames.value) {
    const bytes = await store.get(name);
    if (!bytes.ok) return storeErr(bytes.error);
    const decoded = decodeLogRecordObject(name, bytes.value);
    if (decoded.ok) logs.push({ name, ...decoded.value });
    else problems.push(`log record ${name}: ${decoded.error}`);
  }

  // Keep set.
  const keep = new Set<RecoveryPointId>(policy.keepAll === true ? points.value.map((p) => p.id) : []);
  if (policy.keepLast !== undefined && policy.keepLast > 0) for (const p of points.value.slice(-policy.keepLast)) keep.add(p.id);
  for (const id of policy.keepIds ?? []) {
    if (!points.value.some((p) => p.id === id)) return err({ kind: 'unknown-point', id });
    keep.add(id);
  }
  const dropped = points.value.filter((p) => !keep.has(p.id)).map((p) => p.id);
  const keptLogs = logRecordsToKeep(logs, new Set<string>(keep));
  const droppedLogs = logs.filter((l) => !keptLogs.has(l.name)).map((l) => l.name);

  // Mark.
  const marked = new Set<ChunkId>();
  for (const id of keep) {
    const m = await repo.readManifest(id);
    if (!m.ok) return m;
    for (const d of m.value.disks) {
      for (const e of d.extents) {
        marked.add(e.chunkId);
        if (!home.has(e.chunkId)) problems.push(`chunk ${e.chunkId} of ${manifestName(id)} is in no index`);
      }
    }
  }
  for (const l of logs) {
    if (!keptLogs.has(l.name)) continue;
    for (const c of l.file.blob?.chunks ?? []) {
      marked.add(c.chunkId);
      if (!home.has(c.chunkId)) problems.push(`chunk ${c.chunkId} of log record ${l.name} is in no index`);
    }
  }
  const existing = await store.list('packs/');
  if (!existing.ok) return storeErr(existing.error);
  const existingPacks = new Set(existing.value);
  for (const [chunkId, packId] of home) {
    if (marked.has(chunkId) && !existingPacks.has(packName(packId))) problems.push(`chunk ${chunkId} is in missing pack ${packName(packId)}`);
  }
  if (problems.length > 0) return err({ kind: 'damaged', operation: 'prune', problems: [...new Set(problems)] });

  // Sweep plan: keep, repack or delete each listed pack.
  const keptPacks: IndexedPack[] = [];
  const toRepack: { packId: PackId; used: BlobEntry[] }[] = [];
  let blobsRemoved = 0;
  let bytesFreed = 0;
  for (const [packId, blobs] of listings) {
    const used = blobs.filter((b) => marked.has(b.chunkId) && home.get(b.chunkId) === packId);
    blobsRemoved += blobs.length - used.length;
    if (used.length === blobs.length) keptPacks.push({ packId, blobs });
    else if (used.length > 0) toRepack.push({ packId, used });
    if (used.length < blobs.length) bytesFreed += packBytesOf(blobs);
  }

  // 1. New packs.
  const newPacks: IndexedPack[] = [];
  let builder = new PackBuilder();
  const flush = async (): Promise<Result<void, RepoError>> => {
    if (builder.blobCount === 0) return ok(undefined);
    const { bytes, entries } = builder.finish();
    builder = new PackBuilder();
    const back = parsePack(bytes);
    assert(back.ok && back.value.length === entries.length, 'a repacked pack parses back');
    const packId = PackId(sha256Hex(bytes));
    const put = await store.put(packName(packId), bytes);
    if (!put.ok) return storeErr(put.error);
    newPacks.push({ packId, blobs: entries });
    bytesFreed -= bytes.length;
    return ok(undefined);
  };
  for (const { packId, used } of toRepack) {
    const bytes = await store.get(packName(packId));
    if (!bytes.ok) return storeErr(bytes.error);
    for (const b of used) {
      const stored = blobBytes(bytes.value, b);
      const raw = stored.ok ? decompressBlob(b.compression, stored.value, b.rawBytes) : stored;
      if (!raw.ok || sha256Hex(raw.value) !== b.chunkId) {
        return err({ kind: 'damaged', operation: 'prune', problems: [`chunk ${b.chunkId} in ${packName(packId)}: ${raw.ok ? 'SHA-256 mismatch' : raw.error}`] });
      }
      if (stored.ok) {
        if (builder.blobCount > 0 && builder.projectedBytes + stored.value.length > repo.config.packTargetBytes) {
          const flushed = await flush();
          if (!flushed.ok) return flushed;
        }
        builder.add(b.chunkId, { compression: b.compression, bytes: stored.value }, b.rawBytes);
      }
    }
  }
  const flushed = await flush();
  if (!flushed.ok) return flushed;

  // 2. The one new index file.
  const allPacks = [...keptPacks, ...newPacks];
  let newIndex: string | undefined;
  if (allPacks.length > 0) {
    const bytes = encodeIndex(allPacks);
    newIndex = indexName(sha256Hex(bytes));
    const put = await store.put(newIndex, bytes);
    if (!put.ok) return storeErr(put.error);
  }

  // 3. Dropped manifests and log records.
  for (const id of dropped) {
    const removed = await store.delete(manifestName(id));
    if (!removed.ok) return storeErr(removed.error);
    repo.forgetManifest(id);
  }
  for (const name of droppedLogs) {
    const removed = await store.delete(name);
    if (!removed.ok) return storeErr(removed.error);
  }

  // 4. Old index files.
  let indexFilesReplaced = 0;
  for (const name of indexNames.value) {
    if (name === newIndex) continue;
    const removed = await store.delete(name);
    if (!removed.ok) return storeErr(removed.error);
    indexFilesReplaced += 1;
  }

  // 5. Packs the new index does not list (repacked, unused, never indexed).
  const listed = new Set(allPacks.map((p) => packName(p.packId)));
  let packsDeleted = 0;
  for (const name of existing.value) {
    if (listed.has(name)) continue;
    // A stray object under packs/ that is not a pack name is garbage too.
    const removed = await store.delete(name);
    if (!removed.ok) return storeErr(removed.error);
    packsDeleted += 1;
  }

  // 6. Temps.
  const temps = await repo.removeTemps();
  if (!temps.ok) return temps;

  const reloaded = await repo.loadIndex();
  if (!reloaded.ok) return reloaded;
  return ok({
    pointsKept: points.value.filter((p) => keep.has(p.id)).map((p) => p.id),
    pointsRemoved: dropped,
    logRecordsKept: keptLogs.size,
    logRecordsRemoved: droppedLogs,
    packsDeleted, packsRepacked: toRepack.length, packsWritten: newPacks.length, blobsRemoved,
    indexFilesReplaced, tempObjectsRemoved: temps.value, bytesFreed,
  });
}
