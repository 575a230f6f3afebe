/**
 * verify: reads every object of a repository and names every damaged one. It needs only
 * the store (not an opened Repository), so it still reports when the config is damaged.
 *
 * Checks, in order:
 * - config: its checksum line and format;
 * - the writer lock (locks/writer): absent, or a lock record;
 * - index files: the SHA-256 of the bytes equals the name, the format decodes;
 * - packs (readData): the SHA-256 equals the name, the trailer parses, every blob's CRC32,
 *   decompression, length and SHA-256 (= its chunk id); every index entry agrees with its
 *   pack's trailer, and its pack exists;
 * - manifests: the SHA-256 equals the name (= the point's id), the format decodes, every
 *   chunk an extent names is in an intact index file, has an undamaged copy (a chunk a
 *   later backup stored again has several), and is long enough;
 * - log records (log-record.ts): the SHA-256 equals the name, the format and the record's
 *   shape decode, no two records of a kind share an id, every chunk of the blob is in an
 *   intact index file, is not damaged, and has the length the record says. (Whether the
 *   log bytes form a valid chain is the restore's check: chain.ts, sqlite-chain.ts.)
 *
 * Not damage, reported apart as garbage: packs no index file lists, index entries no
 * manifest or log record needs, temps under tmp/ (a crash leaves them; prune removes them). With
 * `readData: false` packs are only listed, not read (a fast check of the metadata; it
 * cannot find damage inside packs).
 */

import { err, ok, type Result } from '../../core/result.js';
import { TEMP_PREFIX, type ByteStore, type StoreError } from '../store/byte-store.js';
import { decodeLockRecord, LOCK_NAME } from '../store/lock.js';
import { decompressBlob } from './compression.js';
import { CONFIG_NAME, decodeConfig } from './config.js';
import { isHashHex, PackId, packName, sha256Hex, type ChunkId } from './hash.js';
import { decodeIndex } from './index-file.js';
import { decodeLogRecordObject, LOGS_PREFIX } from './log-record.js';
import { decodeManifest } from './manifest.js';
import { blobBytes, parsePack, sameBlobEntry, type BlobEntry } from './pack.js';

export type Damage =
  | { readonly kind: 'config'; readonly object: string; readonly reason: string }
  | { readonly kind: 'lock'; readonly object: string; readonly reason: string }
  | { readonly kind: 'index'; readonly object: string; readonly reason: string }
  | { readonly kind: 'index-entry'; readonly object: string; readonly packId: PackId; readonly chunkId: ChunkId | null; readonly reason: string }
  | { readonly kind: 'pack'; readonly object: string; readonly reason: string }
  | { readonly kind: 'blob'; readonly object: string; readonly chunkId: ChunkId; readonly reason: string }
  | { readonly kind: 'manifest'; readonly object: string; readonly reason: string }
  | { readonly kind: 'manifest-ref'; readonly object: string; readonly chunkId: ChunkId; readonly diskId: string; readonly offsetBytes: number; readonly reason: string }
  | { readonly kind: 'log-record'; readonly object: string; readonly reason: string }
  | { readonly kind: 'log-ref'; readonly object: string; readonly recordId: string; readonly chunkId: ChunkId; readonly reason: string };

export interface VerifyReport {
  readonly damages: readonly Damage[];
  readonly garbage: {
    readonly unindexedPacks: readonly string[];
    readonly unreferencedChunks: number;
    readonly tempObjects: readonly string[];
  };
  readonly checked: {
    readonly indexFiles: number;
    readonly packs: number;
    readonly blobs: number;
    readonly points: number;
    readonly logRecords: number;
    readonly bytesRead: number;
  };
}

export interface VerifyOptions {
  /** Read and check every pack's bytes (default true). */
  readonly readData?: boolean;
}

/** One line per damage, naming the object first. */
export function describeDamage(d: Damage): string {
  switch (d.kind) {
    case 'blob': return `${d.object}: blob ${d.chunkId}: ${d.reason}`;
    case 'index-entry': return `${d.object}: entry for pack ${d.packId}${d.chunkId === null ? '' : ` chunk ${d.chunkId}`}: ${d.reason}`;
    case 'manifest-ref': return `${d.object}: disk ${d.diskId} at ${d.offsetBytes}: chunk ${d.chunkId}: ${d.reason}`;
    case 'log-ref': return `${d.object}: log record ${d.recordId}: chunk ${d.chunkId}: ${d.reason}`;
    default: return `${d.object}: ${d.reason}`;
  }
}

function storeFailure(error: StoreError): Result<never, StoreError> {
  return err(error);
}

/** Reads the named objects one by one; a vanished object is skipped. Returns the bytes read. */
async function readEach(store: ByteStore, names: readonly string[], visit: (name: string, bytes: Uint8Array) => void): Promise<Result<number, StoreError>> {
  let bytesRead = 0;
  for (const name of names) {
    const bytes = await store.get(name);
    if (!bytes.ok) {
      if (bytes.error.kind === 'not-found') continue;
      return storeFailure(bytes.error);
    }
    bytesRead += bytes.value.length;
    visit(name, bytes.value);
  }
  return ok(bytesRead);
}

export async function verifyRepository(store: ByteStore, options: VerifyOptions = {}): Promise<Result<VerifyReport, StoreError>> {
  const readData = options.readData ?? true;
  const damages: Damage[] = [];
  let bytesRead = 0;

  // Config.
  const config = await store.get(CONFIG_NAME);
  if (!config.ok) {
    if (config.error.kind !== 'not-found') return storeFailure(config.error);
    damages.push({ kind: 'config', object: CONFIG_NAME, reason: 'missing' });
  } else {
    bytesRead += config.value.length;
    const decoded = decodeConfig(config.value);
    if (!decoded.ok) damages.push({ kind: 'config', object: CONFIG_NAME, reason: decoded.error });
  }

  // The writer lock: absent or a lock record (garbage there stops every backup).
  const lock = await store.get(LOCK_NAME);
  if (!lock.ok) {
    if (lock.error.kind !== 'not-found') return storeFailure(lock.error);
  } else {
    bytesRead += lock.value.length;
    const record = decodeLockRecord(lock.value);
    if (!record.ok) damages.push({ kind: 'lock', object: LOCK_NAME, reason: `unreadable (${record.error}): the next writer breaks it as stale; \`quiescelab repair\` removes it` });
  }

  // Index files.
  const indexNames = await store.list('index/');
  if (!indexNames.ok) return storeFailure(indexNames.error);
  /** chunk -> its locations in intact index files (a chunk stored again has several); pack -> the index files (and entries) that list it. */
  const chunkHome = new Map<ChunkId, { readonly packId: PackId; readonly entry: BlobEntry }[]>();
  const packListings = new Map<PackId, { readonly object: string; readonly blobs: readonly BlobEntry[] }[]>();
  const indexRead = await readEach(store, indexNames.value, (name, bytes) => {
    const hex = name.slice('index/'.length);
    if (!isHashHex(hex)) {
      damages.push({ kind: 'index', object: name, reason: 'not a hash name' });
      return;
    }
    if (sha256Hex(bytes) !== hex) {
      damages.push({ kind: 'index', object: name, reason: 'SHA-256 of the bytes does not match the name' });
      return;
    }
    const packs = decodeIndex(bytes);
    if (!packs.ok) {
      damages.push({ kind: 'index', object: name, reason: packs.error });
      return;
    }
    for (const p of packs.value) {
      const listings = packListings.get(p.packId) ?? [];
      listings.push({ object: name, blobs: p.blobs });
      packListings.set(p.packId, listings);
      for (const b of p.blobs) {
        const homes = chunkHome.get(b.chunkId) ?? [];
        if (!homes.some((h) => h.packId === p.packId)) homes.push({ packId: p.packId, entry: b });
        chunkHome.set(b.chunkId, homes);
      }
    }
  });
  if (!indexRead.ok) return indexRead;
  bytesRead += indexRead.value;

  // Packs.
  const packNames = await store.list('packs/');
  if (!packNames.ok) return storeFailure(packNames.error);
  const existingPacks = new Set<PackId>();
  const unindexedPacks: string[] = [];
  /** Damaged copies, keyed `pack chunk`: a reference is damaged only when every copy is. */
  const damagedChunks = new Map<string, string>();
  const copyKey = (packId: PackId, chunkId: ChunkId): string => `${packId} ${chunkId}`;
  let blobs = 0;
  for (const name of packNames.value) {
    const hex = name.split('/')[2] ?? '';
    if (!isHashHex(hex) || name !== packName(PackId(hex))) {
      damages.push({ kind: 'pack', object: name, reason: 'not a pack name' });
      continue;
    }
    existingPacks.add(PackId(hex));
    if (!packListings.has(PackId(hex))) unindexedPacks.push(name);
  }
  for (const [packId, listings] of packListings) {
    if (existingPacks.has(packId)) continue;
    for (const l of listings) damages.push({ kind: 'index-entry', object: l.object, packId, chunkId: null, reason: `pack ${packName(packId)} is missing` });
    for (const l of listings) for (const b of l.blobs) damagedChunks.set(copyKey(packId, b.chunkId), 'its pack is missing');
  }
  if (readData) {
    for (const packId of existingPacks) {
      const name = packName(packId);
      const bytes = await store.get(name);
      if (!bytes.ok) {
        if (bytes.error.kind === 'not-found') continue;
        return storeFailure(bytes.error);
      }
      bytesRead += bytes.value.length;
      if (sha256Hex(bytes.value) !== packId) damages.push({ kind: 'pack', object: name, reason: 'SHA-256 of the bytes does not match the name' });
      const entries = parsePack(bytes.value);
      const listings = packListings.get(packId) ?? [];
      if (!entries.ok) {
        damages.push({ kind: 'pack', object: name, reason: `trailer: ${entries.error}` });
        for (const l of listings) for (const b of l.blobs) damagedChunks.set(copyKey(packId, b.chunkId), `pack ${name} is unreadable`);
        continue;
      }
      const inPack = new Map<ChunkId, BlobEntry>();
      for (const entry of entries.value) {
        blobs += 1;
        inPack.set(entry.chunkId, entry);
        const problem = checkBlob(bytes.value, entry);
        if (problem !== undefined) {
          damages.push({ kind: 'blob', object: name, chunkId: entry.chunkId, reason: problem });
          damagedChunks.set(copyKey(packId, entry.chunkId), `damaged in ${name}: ${problem}`);
        }
      }
      for (const l of listings) {
        for (const b of l.blobs) {
          const there = inPack.get(b.chunkId);
          const reason = there === undefined ? 'not in the pack'
            : !sameBlobEntry(there, b) ? 'differs from the pack trailer' : undefined;
          if (reason !== undefined) {
            damages.push({ kind: 'index-entry', object: l.object, packId, chunkId: b.chunkId, reason });
            damagedChunks.set(copyKey(packId, b.chunkId), `index entry ${reason}`);
          }
        }
      }
    }
  }

  /** The first undamaged copy of a chunk, else why there is none (the first copy's damage). */
  const intactCopy = (chunkId: ChunkId): { readonly packId: PackId; readonly entry: BlobEntry } | string => {
    const homes = chunkHome.get(chunkId) ?? [];
    if (homes.length === 0) return 'in no intact index file';
    return homes.find((h) => !damagedChunks.has(copyKey(h.packId, chunkId))) ?? (damagedChunks.get(copyKey((homes[0] as { readonly packId: PackId }).packId, chunkId)) as string);
  };

  // Manifests.
  const pointNames = await store.list('points/');
  if (!pointNames.ok) return storeFailure(pointNames.error);
  const referenced = new Set<ChunkId>();
  let points = 0;
  const pointsRead = await readEach(store, pointNames.value, (name, bytes) => {
    points += 1;
    const hex = name.slice('points/'.length);
    if (!isHashHex(hex)) {
      damages.push({ kind: 'manifest', object: name, reason: 'not a hash name' });
      return;
    }
    if (sha256Hex(bytes) !== hex) {
      damages.push({ kind: 'manifest', object: name, reason: 'SHA-256 of the bytes does not match the name' });
      return;
    }
    const manifest = decodeManifest(bytes);
    if (!manifest.ok) {
      damages.push({ kind: 'manifest', object: name, reason: manifest.error });
      return;
    }
    const reported = new Set<ChunkId>();
    for (const disk of manifest.value.disks) {
      for (const e of disk.extents) {
        referenced.add(e.chunkId);
        if (reported.has(e.chunkId)) continue;
        const home = intactCopy(e.chunkId);
        const reason = typeof home === 'string' ? home
          : e.chunkOffsetBytes + e.lengthBytes > home.entry.rawBytes ? `extent runs past the chunk's ${home.entry.rawBytes} bytes` : undefined;
        if (reason !== undefined) {
          reported.add(e.chunkId);
          damages.push({ kind: 'manifest-ref', object: name, chunkId: e.chunkId, diskId: disk.diskId, offsetBytes: e.offsetBytes, reason });
        }
      }
    }
  });
  if (!pointsRead.ok) return pointsRead;
  bytesRead += pointsRead.value;

  // Log records.
  const logNames = await store.list(LOGS_PREFIX);
  if (!logNames.ok) return storeFailure(logNames.error);
  const recordIds = new Map<string, string>();
  let logRecords = 0;
  const logsRead = await readEach(store, logNames.value, (name, bytes) => {
    logRecords += 1;
    const decoded = decodeLogRecordObject(name, bytes);
    if (!decoded.ok) {
      damages.push({ kind: 'log-record', object: name, reason: decoded.error });
      return;
    }
    const { kind, record, blob } = decoded.value.file;
    const twin = recordIds.get(`${kind} ${record.id}`);
    if (twin !== undefined) damages.push({ kind: 'log-record', object: name, reason: `record id ${record.id} is also the id of ${twin}` });
    recordIds.set(`${kind} ${record.id}`, name);
    for (const c of blob?.chunks ?? []) {
      referenced.add(c.chunkId);
      const home = intactCopy(c.chunkId);
      const reason = typeof home === 'string' ? home
        : home.entry.rawBytes !== c.rawBytes ? `${home.entry.rawBytes} bytes, the record says ${c.rawBytes}` : undefined;
      if (reason !== undefined) damages.push({ kind: 'log-ref', object: name, recordId: record.id, chunkId: c.chunkId, reason });
    }
  });
  if (!logsRead.ok) return logsRead;
  bytesRead += logsRead.value;

  const temps = await store.list(TEMP_PREFIX);
  if (!temps.ok) return storeFailure(temps.error);
  let unreferencedChunks = 0;
  for (const id of chunkHome.keys()) if (!referenced.has(id)) unreferencedChunks += 1;
  return ok({
    damages,
    garbage: { unindexedPacks, unreferencedChunks, tempObjects: temps.value },
    checked: { indexFiles: indexNames.value.length, packs: readData ? existingPacks.size : 0, blobs, points, logRecords, bytesRead },
  });
}

function checkBlob(pack: Uint8Array, entry: BlobEntry): string | undefined {
  const stored = blobBytes(pack, entry);
  if (!stored.ok) return stored.error;
  const raw = decompressBlob(entry.compression, stored.value, entry.rawBytes);
  if (!raw.ok) return raw.error;
  return sha256Hex(raw.value) === entry.chunkId ? undefined : 'SHA-256 of the raw bytes does not match the chunk id';
}

