/**
 * repair: brings a damaged repository back to one that `verify` passes, keeping every
 * byte that can still be read and reporting exactly what was lost (restic's `repair
 * index` and `repair snapshots` in one). It needs only the store, like verify, so it
 * still runs when the config or the lock object is garbage.
 *
 * Phases, each finished before the next begins (like restic's checker):
 *   lock      take the writer lock; a `locks/writer` that does not decode (garbage: a live
 *             writer's lock always decodes, puts are atomic) is deleted and retaken;
 *   hints     read every index file, intact or not: its entries are hints of where blobs
 *             are (every hint is checked end to end before it is used, so a damaged index
 *             can only fail to help, never make wrong data look good);
 *   config    an intact config is kept; else it is rebuilt from its own JSON line when that
 *             still makes a valid config, else from the defaults (the codec guessed from
 *             the hints). Reads never need the config; only a future backup's dedup does;
 *   packs     every object under packs/ is read whole: its trailer and the hints for it
 *             give candidate blobs, each checked (CRC32, decompression, SHA-256 = chunk
 *             id). A pack whose bytes hash to its name, whose trailer parses and whose
 *             blobs all check is intact and indexed from its trailer. Any other (a flipped
 *             bit, truncated, garbage appended, a stray name) is damaged: its good blobs are
 *             copied, still compressed, into a new pack, and the damaged object is moved to
 *             `damaged/<its name>` at the end (never deleted: it is user data);
 *   index     one new index file lists every intact and salvaged pack (sorted, so a repair
 *             of a sound repository writes the same bytes again);
 *   points    an intact manifest whose chunks are all indexed stays. One that needs a chunk
 *             no pack holds any more is rewritten without those extents (they read as
 *             zeros), its claim lowered to `inconsistent`, its reasons and
 *             `attributes.repair` saying what was lost; the original goes to
 *             `damaged/points/<id>` (put the pack back and the manifest back to undo). A
 *             manifest that does not match its name or decode is moved to damaged/: that
 *             point is lost whole. Rewrites carry no time, so a second repair after a
 *             crash writes the same bytes and the same id;
 *   logs      a log record whose blob lost a chunk, or that does not decode, is moved to
 *             damaged/ (a blob is only whole; the chain planners refuse the gap by name);
 *   sweep     the old index files are deleted, the damaged packs moved aside, temps deleted.
 *
 * Crash safety: new packs, the config and the new index are published before anything
 * is removed; a rewritten manifest is published before its original is moved; an object
 * is copied to damaged/ before it is deleted; nothing a kept point reads is deleted. A
 * crash at any step leaves every intact point restorable and no point whose chunks are
 * not indexed that was not already so; the next repair finishes the job (same names).
 *
 * Leaves out: blobs of a pack whose trailer and every index hint are lost (a truncated
 * pack with no index: its blob boundaries are unknown), two log records with the same id
 * (verify names them; repair leaves both), and a second writer racing to break the same
 * garbage lock.
 */

import { assert } from '../../core/assert.js';
import type { Clock } from '../../core/clock.js';
import { err, ok, type Result } from '../../core/result.js';
import { TEMP_PREFIX, type ByteStore, type StoreError } from '../store/byte-store.js';
import { LOCK_NAME, StoreLock, type LockRecord } from '../store/lock.js';
import { CHUNK_MAX_BYTES_LIMIT } from './chunker.js';
import { decompressBlob } from './compression.js';
import { CONFIG_NAME, DEFAULT_CHUNKER, DEFAULT_PACK_TARGET_BYTES, DEFAULT_ZERO, decodeConfig, encodeConfig, makeConfig, type RepositoryConfig } from './config.js';
import { indexName, isHashHex, manifestName, PackId, packName, RecoveryPointId, sha256Hex, type ChunkId } from './hash.js';
import { decodeIndex, encodeIndex, type IndexedPack } from './index-file.js';
import { decodeLogRecordObject, LOGS_PREFIX } from './log-record.js';
import { decodeManifest, encodeManifest, type DiskManifest, type JsonValue, type Manifest } from './manifest.js';
import type { MappedExtent } from './extent-map.js';
import { blobBytes, PackBuilder, parsePack, type BlobEntry } from './pack.js';
import type { RepoError } from './repository.js';

/** Where repair moves what it cannot use (verify does not look there). */
export const DAMAGED_PREFIX = 'damaged/';

export interface RepairOptions {
  readonly clock: Clock;
  /** The writer lock's owner and facts (the CLI: host:pid). */
  readonly owner: string;
  readonly attributes?: Readonly<Record<string, string | number>>;
  readonly isStale?: (record: LockRecord) => boolean;
}

export interface LostChunk {
  readonly chunkId: ChunkId;
  readonly reason: string;
}

export interface DamagedPack {
  readonly object: string;
  readonly reason: string;
  readonly blobsSalvaged: number;
  readonly lost: readonly LostChunk[];
  /** New packs the good blobs were copied into. */
  readonly copiedInto: readonly string[];
  /** Where the damaged object went (undefined: its rebuilt bytes replaced it under the same name). */
  readonly movedTo: string | undefined;
}

export interface DiskLoss {
  readonly diskId: string;
  readonly chunks: number;
  readonly bytes: number;
  /** Byte ranges [start, end) of the disk that now read as zeros. */
  readonly ranges: readonly (readonly [number, number])[];
}

export type PointRepair =
  | { readonly kind: 'rewritten'; readonly id: RecoveryPointId; readonly newId: RecoveryPointId; readonly sequence: number; readonly vmId: string; readonly disks: readonly DiskLoss[]; readonly movedTo: string }
  | { readonly kind: 'unreadable'; readonly object: string; readonly reason: string; readonly movedTo: string };

export interface RepairReport {
  /** Why locks/writer was removed (null: it was fine or absent). */
  readonly lockCleared: string | null;
  readonly config: { readonly state: 'intact' | 'rebuilt-from-its-line' | 'rebuilt-from-defaults'; readonly reason: string | null };
  readonly packs: { readonly read: number; readonly intact: number; readonly bytesRead: number; readonly damaged: readonly DamagedPack[]; readonly missing: readonly string[] };
  readonly index: { readonly filesBefore: number; readonly damagedFiles: number; readonly file: string | null; readonly written: boolean; readonly packs: number; readonly blobs: number };
  readonly points: { readonly checked: number; readonly repaired: readonly PointRepair[] };
  readonly logRecords: { readonly checked: number; readonly movedAside: readonly { readonly object: string; readonly reason: string; readonly movedTo: string }[] };
  readonly tempObjectsRemoved: number;
}

/** True when the repair lost data: a point or a log record lost chunks or was unreadable. */
export function repairLostData(report: RepairReport): boolean {
  return report.points.repaired.length > 0 || report.logRecords.movedAside.length > 0;
}

const storeErr = (error: StoreError): Result<never, RepoError> => err({ kind: 'store', error });

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

/** Copies an object to `damaged/<name>` (a suffixed name when another copy is there); returns where. */
async function copyAside(store: ByteStore, name: string, bytes: Uint8Array): Promise<Result<string, RepoError>> {
  const plain = `${DAMAGED_PREFIX}${name}`;
  const there = await store.get(plain);
  if (!there.ok && there.error.kind !== 'not-found') return storeErr(there.error);
  if (there.ok && sameBytes(there.value, bytes)) return ok(plain);
  const target = there.ok ? `${plain}.${sha256Hex(bytes).slice(0, 12)}` : plain;
  const put = await store.put(target, bytes);
  return put.ok ? ok(target) : storeErr(put.error);
}

/** Copies an object to damaged/ (copyAside), then deletes it. */
export async function moveAside(store: ByteStore, name: string, bytes: Uint8Array): Promise<Result<string, RepoError>> {
  const copied = await copyAside(store, name, bytes);
  if (!copied.ok) return copied;
  const removed = await store.delete(name);
  return removed.ok ? copied : storeErr(removed.error);
}

// ---- lock ----

async function takeLock(store: ByteStore, options: RepairOptions): Promise<Result<{ lock: StoreLock; cleared: string | null }, RepoError>> {
  const lockOptions = { owner: options.owner, clock: options.clock, ...(options.attributes === undefined ? {} : { attributes: options.attributes }), ...(options.isStale === undefined ? {} : { isStale: options.isStale }) };
  let cleared: string | null = null;
  for (let round = 0; round < 2; round++) {
    const taken = await StoreLock.acquire(store, lockOptions);
    // acquire breaks a lock that does not decode as stale and says why.
    if (taken.ok) return ok({ lock: taken.value, cleared: cleared ?? taken.value.brokeUnreadable });
    if (taken.error.kind !== 'unreadable' || round > 0) return err({ kind: 'lock', error: taken.error });
    cleared = taken.error.reason;
    const removed = await store.delete(LOCK_NAME);
    if (!removed.ok) return storeErr(removed.error);
  }
  return err({ kind: 'lock', error: { kind: 'contended', name: LOCK_NAME, rounds: 2 } });
}

// ---- hints ----

interface Hints {
  readonly names: readonly string[];
  /** Index files whose bytes match their name and decode. */
  readonly intact: ReadonlySet<string>;
  readonly byPack: ReadonlyMap<PackId, readonly BlobEntry[]>;
}

async function readHints(store: ByteStore): Promise<Result<Hints, RepoError>> {
  const names = await store.list('index/');
  if (!names.ok) return storeErr(names.error);
  const intact = new Set<string>();
  const byPack = new Map<PackId, BlobEntry[]>();
  for (const name of names.value) {
    const bytes = await store.get(name);
    if (!bytes.ok) {
      if (bytes.error.kind === 'not-found') continue;
      return storeErr(bytes.error);
    }
    const packs = decodeIndex(bytes.value);
    if (!packs.ok) continue;
    if (sha256Hex(bytes.value) === name.slice('index/'.length)) intact.add(name);
    for (const p of packs.value) byPack.set(p.packId, [...(byPack.get(p.packId) ?? []), ...p.blobs]);
  }
  return ok({ names: names.value, intact, byPack });
}

// ---- config ----

/** The config as it is, or rebuilt (see the header); written only when it changed. */
async function repairConfig(store: ByteStore, hints: Hints, clock: Clock): Promise<Result<{ config: RepositoryConfig; report: RepairReport['config'] }, RepoError>> {
  const bytes = await store.get(CONFIG_NAME);
  if (!bytes.ok && bytes.error.kind !== 'not-found') return storeErr(bytes.error);
  const decoded = bytes.ok ? decodeConfig(bytes.value) : err('missing');
  if (decoded.ok) return ok({ config: decoded.value, report: { state: 'intact', reason: null } });
  const reason = decoded.error;
  const line = bytes.ok ? Buffer.from(bytes.value).toString('latin1').split('\n')[0] ?? '' : '';
  const fromLine = decodeConfig(new TextEncoder().encode(`${line}\n${sha256Hex(new TextEncoder().encode(line))}\n`));
  let config: RepositoryConfig;
  let state: RepairReport['config']['state'] = 'rebuilt-from-its-line';
  if (fromLine.ok) config = fromLine.value;
  else {
    state = 'rebuilt-from-defaults';
    const all = [...hints.byPack.values()].flat();
    const brotliOnly = all.some((b) => b.compression === 'brotli') && !all.some((b) => b.compression === 'zstd');
    config = makeConfig(brotliOnly ? { codec: 'brotli', level: 1 } : { codec: 'zstd', level: 4 }, {
      chunker: DEFAULT_CHUNKER, zero: DEFAULT_ZERO, packTargetBytes: DEFAULT_PACK_TARGET_BYTES, createdAtUs: clock.nowUs(),
    });
  }
  const put = await store.put(CONFIG_NAME, encodeConfig(config));
  if (!put.ok) return storeErr(put.error);
  return ok({ config, report: { state, reason } });
}

// ---- packs ----

/** Why a candidate blob cannot be used; undefined when it checks end to end. */
function blobProblem(pack: Uint8Array, entry: BlobEntry): string | undefined {
  if (entry.rawBytes > CHUNK_MAX_BYTES_LIMIT) return `raw length ${entry.rawBytes} is beyond any chunk`;
  const stored = blobBytes(pack, entry);
  if (!stored.ok) return stored.error;
  const raw = decompressBlob(entry.compression, stored.value, entry.rawBytes);
  if (!raw.ok) return raw.error;
  return sha256Hex(raw.value) === entry.chunkId ? undefined : 'SHA-256 of the raw bytes does not match the chunk id';
}

interface PackScan {
  readonly object: string;
  readonly intact: boolean;
  readonly reason: string;
  /** Checked blobs, one per chunk, in offset order. */
  readonly good: readonly BlobEntry[];
  readonly lost: readonly LostChunk[];
}

/** The pack id a name stands for, when it is a well-formed pack name. */
function packIdOf(name: string): PackId | undefined {
  const hex = name.split('/')[2] ?? '';
  return isHashHex(hex) && name === packName(PackId(hex)) ? PackId(hex) : undefined;
}

function scanPack(object: string, bytes: Uint8Array, hints: Hints): PackScan {
  const packId = packIdOf(object);
  const trailer = parsePack(bytes);
  const hashOk = packId !== undefined && sha256Hex(bytes) === packId;
  const candidates = new Map<string, BlobEntry>();
  for (const e of [...(trailer.ok ? trailer.value : []), ...(packId === undefined ? [] : hints.byPack.get(packId) ?? [])]) {
    candidates.set(`${e.chunkId} ${e.offsetBytes} ${e.storedBytes} ${e.rawBytes} ${e.compression} ${e.crc32}`, e);
  }
  const good = new Map<ChunkId, BlobEntry>();
  const failed = new Map<ChunkId, string>();
  for (const e of [...candidates.values()].sort((a, b) => a.offsetBytes - b.offsetBytes)) {
    if (good.has(e.chunkId)) continue;
    const problem = blobProblem(bytes, e);
    if (problem === undefined) good.set(e.chunkId, e);
    else failed.set(e.chunkId, problem);
  }
  const lost = [...failed].filter(([id]) => !good.has(id)).map(([chunkId, reason]) => ({ chunkId, reason }));
  const reason = packId === undefined ? 'not a pack name'
    : !trailer.ok ? `trailer: ${trailer.error}`
      : !hashOk ? 'SHA-256 of the bytes does not match the name'
        : lost.length > 0 ? `${lost.length} blob(s) do not check` : '';
  return { object, intact: reason === '', reason, good: [...good.values()].sort((a, b) => a.offsetBytes - b.offsetBytes), lost };
}

/** Copies a damaged pack's good blobs into new packs; a rebuilt pack that takes the damaged one's own name first saves the damaged bytes. */
async function salvage(store: ByteStore, scan: PackScan, bytes: Uint8Array, targetBytes: number): Promise<Result<{ packs: IndexedPack[]; inPlace: string | undefined }, RepoError>> {
  const packs: IndexedPack[] = [];
  let inPlace: string | undefined;
  let builder = new PackBuilder();
  const flush = async (): Promise<Result<void, RepoError>> => {
    if (builder.blobCount === 0) return ok(undefined);
    const built = builder.finish();
    builder = new PackBuilder();
    const back = parsePack(built.bytes);
    assert(back.ok && back.value.length === built.entries.length, 'a salvaged pack parses back');
    const packId = PackId(sha256Hex(built.bytes));
    if (packName(packId) === scan.object) {
      // The rebuilt pack replaces the damaged one under its own name (atomic put): keep a copy first.
      const saved = await copyAside(store, scan.object, bytes);
      if (!saved.ok) return saved;
      inPlace = saved.value;
    }
    const put = await store.put(packName(packId), built.bytes);
    if (!put.ok) return storeErr(put.error);
    packs.push({ packId, blobs: built.entries });
    return ok(undefined);
  };
  for (const e of scan.good) {
    const stored = blobBytes(bytes, e);
    assert(stored.ok, 'a good blob reads');
    if (builder.blobCount > 0 && builder.projectedBytes + stored.value.length > targetBytes) {
      const flushed = await flush();
      if (!flushed.ok) return flushed;
    }
    builder.add(e.chunkId, { compression: e.compression, bytes: stored.value }, e.rawBytes, e.crc32);
  }
  const flushed = await flush();
  return flushed.ok ? ok({ packs, inPlace }) : flushed;
}

interface PacksPhase {
  readonly indexed: IndexedPack[];
  readonly toMoveAside: { readonly object: string; readonly bytes: Uint8Array }[];
  readonly report: RepairReport['packs'];
  /** Why each chunk a damaged pack held could not be kept. */
  readonly lostReasons: Map<ChunkId, string>;
}

async function repairPacks(store: ByteStore, hints: Hints, config: RepositoryConfig, lock: StoreLock): Promise<Result<PacksPhase, RepoError>> {
  const names = await store.list('packs/');
  if (!names.ok) return storeErr(names.error);
  const phase: PacksPhase = { indexed: [], toMoveAside: [], lostReasons: new Map(), report: { read: 0, intact: 0, bytesRead: 0, damaged: [], missing: [] } };
  const damaged: DamagedPack[] = [];
  let bytesRead = 0;
  let intact = 0;
  for (const object of names.value) {
    const refreshed = await lock.refreshIfDue();
    if (!refreshed.ok) return err({ kind: 'lock', error: refreshed.error });
    const bytes = await store.get(object);
    if (!bytes.ok) return storeErr(bytes.error);
    bytesRead += bytes.value.length;
    const scan = scanPack(object, bytes.value, hints);
    if (scan.intact) {
      intact += 1;
      phase.indexed.push({ packId: packIdOf(object) as PackId, blobs: scan.good });
      continue;
    }
    for (const l of scan.lost) phase.lostReasons.set(l.chunkId, `${l.reason} in ${object}`);
    const saved = await salvage(store, scan, bytes.value, config.packTargetBytes);
    if (!saved.ok) return saved;
    phase.indexed.push(...saved.value.packs);
    if (saved.value.inPlace === undefined) phase.toMoveAside.push({ object, bytes: bytes.value });
    damaged.push({
      object, reason: scan.reason, blobsSalvaged: scan.good.length, lost: scan.lost,
      copiedInto: saved.value.packs.map((p) => packName(p.packId)), movedTo: saved.value.inPlace ?? `${DAMAGED_PREFIX}${object}`,
    });
  }
  const indexed = new Set(phase.indexed.flatMap((p) => p.blobs.map((b) => b.chunkId)));
  const reported = damaged.map((d) => ({ ...d, lost: d.lost.filter((l) => !indexed.has(l.chunkId)) }));
  const present = new Set(names.value);
  const missing = [...hints.byPack.keys()].map(packName).filter((n) => !present.has(n)).sort();
  for (const name of missing) for (const b of hints.byPack.get(packIdOf(name) as PackId) ?? []) if (!phase.lostReasons.has(b.chunkId)) phase.lostReasons.set(b.chunkId, `its pack ${name} is missing`);
  return ok({ ...phase, report: { read: names.value.length, intact, bytesRead, damaged: reported, missing } });
}

// ---- index ----

async function writeIndex(store: ByteStore, packs: readonly IndexedPack[], hints: Hints): Promise<Result<RepairReport['index'], RepoError>> {
  const byId = new Map<PackId, IndexedPack>();
  for (const p of packs) byId.set(p.packId, p);
  const sorted = [...byId.values()].sort((a, b) => (a.packId < b.packId ? -1 : a.packId > b.packId ? 1 : 0));
  const blobs = sorted.reduce((s, p) => s + p.blobs.length, 0);
  const base = { filesBefore: hints.names.length, damagedFiles: hints.names.length - hints.intact.size, packs: sorted.length, blobs };
  if (sorted.length === 0) return ok({ ...base, file: null, written: false });
  const bytes = encodeIndex(sorted);
  const file = indexName(sha256Hex(bytes));
  if (hints.intact.has(file)) return ok({ ...base, file, written: false });
  const put = await store.put(file, bytes);
  return put.ok ? ok({ ...base, file, written: true }) : storeErr(put.error);
}

// ---- points ----

/** The extents of a disk whose chunks are gone, as losses, and the extents that stay. */
function splitDisk(disk: DiskManifest, rawBytesOf: ReadonlyMap<ChunkId, number>): { kept: MappedExtent[]; lostIds: ReadonlySet<ChunkId>; loss: DiskLoss | undefined } {
  const kept: MappedExtent[] = [];
  const ranges: [number, number][] = [];
  const chunks = new Set<ChunkId>();
  let bytes = 0;
  for (const e of disk.extents) {
    const raw = rawBytesOf.get(e.chunkId);
    if (raw !== undefined && e.chunkOffsetBytes + e.lengthBytes <= raw) {
      kept.push(e);
      continue;
    }
    chunks.add(e.chunkId);
    bytes += e.lengthBytes;
    const last = ranges.at(-1);
    if (last !== undefined && last[1] === e.offsetBytes) last[1] += e.lengthBytes;
    else ranges.push([e.offsetBytes, e.offsetBytes + e.lengthBytes]);
  }
  return { kept, lostIds: chunks, loss: chunks.size === 0 ? undefined : { diskId: disk.diskId, chunks: chunks.size, bytes, ranges } };
}

/** The manifest without its lost extents, claiming `inconsistent` and saying what was lost. */
function rewrittenManifest(m: Manifest, id: RecoveryPointId, disks: DiskManifest[], losses: readonly DiskLoss[], lostReasons: ReadonlyMap<ChunkId, string>, lostIds: readonly ChunkId[]): Manifest {
  const lostBytes = losses.reduce((s, l) => s + l.bytes, 0);
  const why = [...new Set(lostIds.map((c) => lostReasons.get(c) ?? 'in no pack'))].slice(0, 3).join('; ');
  const repair: JsonValue = {
    originalId: id,
    lostChunks: lostIds.length,
    lostBytes,
    disks: losses.map((l) => ({ diskId: l.diskId, chunks: l.chunks, bytes: l.bytes, ranges: l.ranges.map(([a, b]) => [a, b]) })),
    reasons: why,
  };
  const reason = `repair: ${lostIds.length} chunk(s) were lost (${why}); ${lostBytes} bytes of ${losses.map((l) => l.diskId).join(', ')} now read as zeros; the original manifest is ${DAMAGED_PREFIX}${manifestName(id)}`;
  return {
    ...m,
    meta: { ...m.meta, claimedLevel: 'inconsistent', reasons: [reason, ...m.meta.reasons], attributes: { ...m.meta.attributes, repair } },
    disks,
  };
}

async function repairManifest(store: ByteStore, name: string, bytes: Uint8Array, rawBytesOf: ReadonlyMap<ChunkId, number>, lostReasons: ReadonlyMap<ChunkId, string>): Promise<Result<PointRepair | undefined, RepoError>> {
  const hex = name.slice('points/'.length);
  const decoded = !isHashHex(hex) ? err('not a hash name') : sha256Hex(bytes) !== hex ? err('SHA-256 of the bytes does not match the name') : decodeManifest(bytes);
  if (!decoded.ok) {
    const moved = await moveAside(store, name, bytes);
    return moved.ok ? ok({ kind: 'unreadable', object: name, reason: decoded.error, movedTo: moved.value }) : moved;
  }
  const m = decoded.value;
  const id = RecoveryPointId(hex);
  const losses: DiskLoss[] = [];
  const lostIds = new Set<ChunkId>();
  const disks = m.disks.map((d) => {
    const { kept, lostIds: lostHere, loss } = splitDisk(d, rawBytesOf);
    if (loss !== undefined) losses.push(loss);
    for (const c of lostHere) lostIds.add(c);
    return { ...d, extents: kept };
  });
  if (losses.length === 0) return ok(undefined);
  const out = encodeManifest(rewrittenManifest(m, id, disks, losses, lostReasons, [...lostIds]));
  const back = decodeManifest(out);
  assert(back.ok, `a rewritten manifest decodes: ${back.ok ? '' : back.error}`);
  const newId = RecoveryPointId(sha256Hex(out));
  const put = await store.put(manifestName(newId), out);
  if (!put.ok) return storeErr(put.error);
  const moved = await moveAside(store, name, bytes);
  if (!moved.ok) return moved;
  return ok({ kind: 'rewritten', id, newId, sequence: m.sequence, vmId: m.meta.vmId, disks: losses, movedTo: moved.value });
}

async function repairPoints(store: ByteStore, rawBytesOf: ReadonlyMap<ChunkId, number>, lostReasons: ReadonlyMap<ChunkId, string>, lock: StoreLock): Promise<Result<RepairReport['points'], RepoError>> {
  const names = await store.list('points/');
  if (!names.ok) return storeErr(names.error);
  const repaired: PointRepair[] = [];
  for (const name of names.value) {
    const refreshed = await lock.refreshIfDue();
    if (!refreshed.ok) return err({ kind: 'lock', error: refreshed.error });
    const bytes = await store.get(name);
    if (!bytes.ok) {
      if (bytes.error.kind === 'not-found') continue;
      return storeErr(bytes.error);
    }
    const fixed = await repairManifest(store, name, bytes.value, rawBytesOf, lostReasons);
    if (!fixed.ok) return fixed;
    if (fixed.value !== undefined) repaired.push(fixed.value);
  }
  return ok({ checked: names.value.length, repaired });
}

// ---- log records ----

async function repairLogs(store: ByteStore, rawBytesOf: ReadonlyMap<ChunkId, number>): Promise<Result<RepairReport['logRecords'], RepoError>> {
  const names = await store.list(LOGS_PREFIX);
  if (!names.ok) return storeErr(names.error);
  const movedAside: { object: string; reason: string; movedTo: string }[] = [];
  for (const name of names.value) {
    const bytes = await store.get(name);
    if (!bytes.ok) {
      if (bytes.error.kind === 'not-found') continue;
      return storeErr(bytes.error);
    }
    const decoded = decodeLogRecordObject(name, bytes.value);
    const lost = decoded.ok ? (decoded.value.file.blob?.chunks ?? []).filter((c) => rawBytesOf.get(c.chunkId) !== c.rawBytes) : [];
    const reason = !decoded.ok ? decoded.error : lost.length > 0 ? `${lost.length} chunk(s) of its blob were lost` : undefined;
    if (reason === undefined) continue;
    const moved = await moveAside(store, name, bytes.value);
    if (!moved.ok) return moved;
    movedAside.push({ object: name, reason, movedTo: moved.value });
  }
  return ok({ checked: names.value.length, movedAside });
}

// ---- sweep ----

async function sweep(store: ByteStore, keepIndex: string | null, packs: PacksPhase): Promise<Result<number, RepoError>> {
  const indexNames = await store.list('index/');
  if (!indexNames.ok) return storeErr(indexNames.error);
  for (const name of indexNames.value) {
    if (name === keepIndex) continue;
    const removed = await store.delete(name);
    if (!removed.ok) return storeErr(removed.error);
  }
  for (const { object, bytes } of packs.toMoveAside) {
    const moved = await moveAside(store, object, bytes);
    if (!moved.ok) return moved;
  }
  const temps = await store.list(TEMP_PREFIX);
  if (!temps.ok) return storeErr(temps.error);
  for (const name of temps.value) {
    const removed = await store.delete(name);
    if (!removed.ok) return storeErr(removed.error);
  }
  return ok(temps.value.length);
}

async function runPhases(store: ByteStore, options: RepairOptions, lock: StoreLock, lockCleared: string | null): Promise<Result<RepairReport, RepoError>> {
  const hints = await readHints(store);
  if (!hints.ok) return hints;
  const fence = await lock.check();
  if (!fence.ok) return err({ kind: 'lock', error: fence.error });
  const config = await repairConfig(store, hints.value, options.clock);
  if (!config.ok) return config;
  const packs = await repairPacks(store, hints.value, config.value.config, lock);
  if (!packs.ok) return packs;
  const index = await writeIndex(store, packs.value.indexed, hints.value);
  if (!index.ok) return index;
  const rawBytesOf = new Map<ChunkId, number>();
  for (const p of packs.value.indexed) for (const b of p.blobs) rawBytesOf.set(b.chunkId, b.rawBytes);
  const points = await repairPoints(store, rawBytesOf, packs.value.lostReasons, lock);
  if (!points.ok) return points;
  const logs = await repairLogs(store, rawBytesOf);
  if (!logs.ok) return logs;
  const temps = await sweep(store, index.value.file, packs.value);
  if (!temps.ok) return temps;
  return ok({
    lockCleared, config: config.value.report, packs: packs.value.report, index: index.value,
    points: points.value, logRecords: logs.value, tempObjectsRemoved: temps.value,
  });
}

/** Repairs the repository in `store` (see the header); takes and releases the writer lock. */
export async function repairRepository(store: ByteStore, options: RepairOptions): Promise<Result<RepairReport, RepoError>> {
  const taken = await takeLock(store, options);
  if (!taken.ok) return taken;
  const { lock, cleared } = taken.value;
  const report = await runPhases(store, options, lock, cleared);
  const released = await lock.release();
  if (!report.ok) return report;
  return released.ok ? report : err({ kind: 'lock', error: released.error });
}
