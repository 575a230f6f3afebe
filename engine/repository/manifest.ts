/**
 * Manifests: one per RecoveryPoint, named `points/<SHA-256 of the bytes>` (that hash is the
 * RecoveryPoint's id). A manifest is the commit point of a backup: it is written last,
 * after the packs and the index that hold its chunks, so a visible manifest is complete.
 *
 * Each manifest is self-contained: per disk it maps the whole disk (an incremental copies
 * its parent's map and overrides the changed ranges), so restoring a point needs only its
 * manifest and the chunks it names, never its parent. `parent` records lineage only.
 *
 * Format (JSON, UTF-8, one line):
 *   {"format":"quiescelab-manifest","version":1,"sequence":n,"parent":"<id>"|null,
 *    "startedAtUs":t,"committedAtUs":t,"meta":{…},"stats":{…},
 *    "disks":[{"diskId":"…","capacityBytes":n,"extents":[[offsetBytes,lengthBytes,"<chunk sha256>",chunkOffsetBytes],…]}]}
 */

import type { TimeUs } from '../../core/clock.js';
import { DiskId } from '../../core/ids.js';
import { isLevel, type ConsistencyLevel } from '../../core/levels.js';
import { err, ok, type Result } from '../../core/result.js';
import { mapProblem, type MappedExtent } from './extent-map.js';
import { ChunkId, isHashHex, RecoveryPointId } from './hash.js';

export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** What the caller (a backup job, the CLI) says about the point. */
export interface RecoveryPointMeta {
  readonly vmId: string;
  /** The level the point claims (never more than was achieved, DESIGN.md property 2). */
  readonly claimedLevel: ConsistencyLevel;
  /** Why the level is what it is (fallbacks, faults), one sentence each. */
  readonly reasons: readonly string[];
  /** VSS writer (or quiescer) name -> its final state. */
  readonly writerStates: Readonly<Record<string, string>>;
  /** Named phases -> virtual duration, e.g. { freezeUs: 1200 }. */
  readonly timingsUs: Readonly<Record<string, number>>;
  /** Anything else: source path, job id, copy-only. */
  readonly attributes: Readonly<Record<string, JsonValue>>;
}

export interface CommitStats {
  /** Bytes handed to writeExtent. */
  readonly bytesScanned: number;
  /** Of those, bytes in zero runs (holes, not stored). */
  readonly bytesZero: number;
  /** Raw bytes of chunks this point stored. */
  readonly bytesNew: number;
  /** Their stored (compressed) size. */
  readonly bytesNewStored: number;
  /** Raw bytes of chunks that were already stored. */
  readonly bytesReused: number;
  readonly chunksNew: number;
  readonly chunksReused: number;
  readonly packsWritten: number;
  /** Mapped bytes taken over from the parent without reading them. */
  readonly bytesCopiedFromParent: number;
}

export interface DiskManifest {
  readonly diskId: DiskId;
  readonly capacityBytes: number;
  readonly extents: readonly MappedExtent[];
}

export interface Manifest {
  readonly format: 'quiescelab-manifest';
  readonly version: 1;
  /** 1 + the highest sequence in the repository when the point began. */
  readonly sequence: number;
  readonly parent: RecoveryPointId | null;
  readonly startedAtUs: TimeUs;
  readonly committedAtUs: TimeUs;
  readonly meta: RecoveryPointMeta;
  readonly stats: CommitStats;
  readonly disks: readonly DiskManifest[];
}

/** A manifest lists at most this many disks, and a disk at most this many extents. */
export const MANIFEST_MAX_DISKS = 256;
export const DISK_MAX_EXTENTS = 1 << 23;
/** Disks up to 64 TiB (VMware's limit for a virtual disk is 62 TiB). */
export const DISK_MAX_CAPACITY_BYTES = 2 ** 46;

export function encodeManifest(m: Manifest): Uint8Array {
  const body = {
    format: m.format, version: m.version, sequence: m.sequence, parent: m.parent,
    startedAtUs: m.startedAtUs, committedAtUs: m.committedAtUs, meta: m.meta, stats: m.stats,
    disks: m.disks.map((d) => ({
      diskId: d.diskId, capacityBytes: d.capacityBytes,
      extents: d.extents.map((e) => [e.offsetBytes, e.lengthBytes, e.chunkId, e.chunkOffsetBytes]),
    })),
  };
  return new TextEncoder().encode(JSON.stringify(body));
}

export const isWhole = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
export const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The value of a UTF-8 JSON object's bytes, or why they are not one. */
export function parseJsonBytes(bytes: Uint8Array): Result<unknown, string> {
  try {
    return ok(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)));
  } catch (error) {
    return err(`not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

const STAT_KEYS: readonly (keyof CommitStats)[] = [
  'bytesScanned', 'bytesZero', 'bytesNew', 'bytesNewStored', 'bytesReused', 'chunksNew', 'chunksReused', 'packsWritten', 'bytesCopiedFromParent',
];

function decodeMeta(v: unknown): Result<RecoveryPointMeta, string> {
  if (!isObject(v)) return err('meta is not an object');
  if (typeof v.vmId !== 'string') return err('meta.vmId');
  if (typeof v.claimedLevel !== 'string' || !isLevel(v.claimedLevel)) return err('meta.claimedLevel');
  if (!Array.isArray(v.reasons) || !v.reasons.every((r) => typeof r === 'string')) return err('meta.reasons');
  if (!isObject(v.writerStates) || !Object.values(v.writerStates).every((s) => typeof s === 'string')) return err('meta.writerStates');
  if (!isObject(v.timingsUs) || !Object.values(v.timingsUs).every((t) => typeof t === 'number')) return err('meta.timingsUs');
  if (!isObject(v.attributes)) return err('meta.attributes');
  return ok(v as unknown as RecoveryPointMeta);
}

export function decodeManifest(bytes: Uint8Array): Result<Manifest, string> {
  const parsed = parseJsonBytes(bytes);
  if (!parsed.ok) return parsed;
  const value = parsed.value;
  if (!isObject(value) || value.format !== 'quiescelab-manifest' || value.version !== 1) return err('not a version 1 manifest');
  const v = value;
  if (!isWhole(v.sequence) || !isWhole(v.startedAtUs) || !isWhole(v.committedAtUs)) return err('bad sequence or times');
  if (v.parent !== null && (typeof v.parent !== 'string' || !isHashHex(v.parent))) return err('bad parent');
  const meta = decodeMeta(v.meta);
  if (!meta.ok) return meta;
  if (!isObject(v.stats) || !STAT_KEYS.every((k) => isWhole((v.stats as Record<string, unknown>)[k]))) return err('bad stats');
  if (!Array.isArray(v.disks) || v.disks.length > MANIFEST_MAX_DISKS) return err('bad disk list');
  const disks: DiskManifest[] = [];
  const seen = new Set<string>();
  for (const d of v.disks as unknown[]) {
    if (!isObject(d) || typeof d.diskId !== 'string' || d.diskId.length === 0 || !isWhole(d.capacityBytes) || d.capacityBytes > DISK_MAX_CAPACITY_BYTES) return err('bad disk');
    if (seen.has(d.diskId)) return err(`disk ${d.diskId} listed twice`);
    seen.add(d.diskId);
    if (!Array.isArray(d.extents) || d.extents.length > DISK_MAX_EXTENTS) return err(`disk ${d.diskId}: bad extent list`);
    const extents: MappedExtent[] = [];
    for (const t of d.extents as unknown[]) {
      if (!Array.isArray(t) || t.length !== 4) return err(`disk ${d.diskId}: bad extent`);
      const [offset, length, chunk, chunkOffset] = t as unknown[];
      if (!isWhole(offset) || !isWhole(length) || typeof chunk !== 'string' || !isHashHex(chunk) || !isWhole(chunkOffset)) return err(`disk ${d.diskId}: bad extent ${JSON.stringify(t).slice(0, 120)}`);
      extents.push({ offsetBytes: offset, lengthBytes: length, chunkId: ChunkId(chunk), chunkOffsetBytes: chunkOffset });
    }
    const problem = mapProblem(extents, d.capacityBytes);
    if (problem !== undefined) return err(`disk ${d.diskId}: ${problem}`);
    disks.push({ diskId: DiskId(d.diskId), capacityBytes: d.capacityBytes, extents });
  }
  return ok({
    format: 'quiescelab-manifest', version: 1, sequence: v.sequence,
    parent: v.parent === null ? null : RecoveryPointId(v.parent),
    startedAtUs: v.startedAtUs, committedAtUs: v.committedAtUs, meta: meta.value,
    stats: v.stats as unknown as CommitStats, disks,
  });
}

/** Raw bytes the manifest maps (allocated, non-zero), over all disks. */
export function mappedBytes(m: Manifest): number {
  let total = 0;
  for (const d of m.disks) for (const e of d.extents) total += e.lengthBytes;
  return total;
}
