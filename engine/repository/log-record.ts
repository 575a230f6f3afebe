/**
 * Log records in the repository: one object per record a log store was given (a SQL
 * Server log backup, a SQLite shipping round, checkpoint, anchor or observation), named
 * `logs/<kind>/<SHA-256 of the bytes>` like a manifest, so any changed byte is found. The
 * record is the commit point of its blob: the blob's chunks are in packs listed by an
 * index file published before it (log-store.ts).
 *
 * Format (JSON, UTF-8, one line):
 *   {"format":"quiescelab-log-record","version":1,"kind":"sql"|"sqlite-wal","sequence":n,
 *    "record":{…the log record…},
 *    "blob":null|{"bytes":n,"sha256":"<hex of the whole blob>","chunks":[["<chunk sha256>",rawBytes],…]}}
 * `sequence` orders the records of a kind in the order they were put (1 + the highest one
 * stored). The record is checked field by field against its kind's shape.
 *
 * Prune's rule needs two facts of a record (the codec gives them): the point whose chain
 * it belongs to, and the stream whose newest record is the shipper's position.
 *
 * Leaves out: whether a record agrees with its blob and with the records around it (a
 * log backup's header, a segment's frames and checksums): the chain planners check that
 * at restore time (chain.ts, sqlite-chain.ts).
 */

import { err, ok, type Result } from '../../core/result.js';
import type { LogRecordBase } from '../logbackup/log-store.js';
import type { StoredLogBackup } from '../logbackup/sql-job.js';
import type { Continuity, GenerationRef, SqliteWalRecord } from '../logbackup/sqlite-shipper.js';
import type { WalChecksum, WalHeader } from '../logbackup/sqlite-wal.js';
import { ChunkId, isHashHex, sha256Hex } from './hash.js';
import { isObject, isWhole, parseJsonBytes } from './manifest.js';

export const LOG_KINDS = ['sql', 'sqlite-wal'] as const;
export type LogKind = (typeof LOG_KINDS)[number];
export const LOGS_PREFIX = 'logs/';

export const logRecordName = (kind: LogKind, hex: string): string => `${LOGS_PREFIX}${kind}/${hex}`;

/** The kind and hash of a log record's object name; undefined when it is not one. */
export function parseLogRecordName(name: string): { readonly kind: LogKind; readonly hex: string } | undefined {
  const [top, kind, hex, ...rest] = name.split('/');
  if (`${top ?? ''}/` !== LOGS_PREFIX || rest.length > 0 || hex === undefined || !isHashHex(hex)) return undefined;
  const known = LOG_KINDS.find((k) => k === kind);
  return known === undefined ? undefined : { kind: known, hex };
}

export interface LogBlobChunk {
  readonly chunkId: ChunkId;
  readonly rawBytes: number;
}

export interface LogBlobRef {
  readonly bytes: number;
  readonly sha256: string;
  readonly chunks: readonly LogBlobChunk[];
}

export interface LogRecordFile<R extends LogRecordBase> {
  readonly kind: LogKind;
  readonly sequence: number;
  readonly record: R;
  readonly blob: LogBlobRef | null;
}

/** A log record kind's shape and the facts prune needs. */
export interface LogCodec<R extends LogRecordBase> {
  readonly kind: LogKind;
  decode(value: unknown): Result<R, string>;
  /** The RecoveryPoint whose chain the record belongs to (null: none). */
  basePointId(record: R): string | null;
  /** The stream whose newest record prune keeps whatever its base (null: none). */
  positionKey(record: R): string | null;
}

/** A blob of at most this many chunks (16 GiB of 4 MiB chunks: far past a log backup). */
const LOG_BLOB_MAX_CHUNKS = 4096;

export function encodeLogRecord<R extends LogRecordBase>(file: LogRecordFile<R>): Uint8Array {
  const body = {
    format: 'quiescelab-log-record', version: 1, kind: file.kind, sequence: file.sequence, record: file.record,
    blob: file.blob === null ? null : { bytes: file.blob.bytes, sha256: file.blob.sha256, chunks: file.blob.chunks.map((c) => [c.chunkId, c.rawBytes]) },
  };
  return new TextEncoder().encode(JSON.stringify(body));
}

function decodeBlobRef(v: unknown): Result<LogBlobRef | null, string> {
  if (v === null) return ok(null);
  if (!isObject(v) || !isWhole(v.bytes) || typeof v.sha256 !== 'string' || !isHashHex(v.sha256) || !Array.isArray(v.chunks) || v.chunks.length > LOG_BLOB_MAX_CHUNKS) return err('bad blob');
  const chunks: LogBlobChunk[] = [];
  let total = 0;
  for (const t of v.chunks as unknown[]) {
    if (!Array.isArray(t) || t.length !== 2) return err('bad blob chunk');
    const [id, rawBytes] = t as unknown[];
    if (typeof id !== 'string' || !isHashHex(id) || !isWhole(rawBytes) || rawBytes === 0) return err(`bad blob chunk ${JSON.stringify(t).slice(0, 100)}`);
    chunks.push({ chunkId: ChunkId(id), rawBytes });
    total += rawBytes;
  }
  if (total !== v.bytes) return err(`blob chunks hold ${total} bytes, the blob ${v.bytes}`);
  return ok({ bytes: v.bytes, sha256: v.sha256, chunks });
}

export function decodeLogRecord<R extends LogRecordBase>(bytes: Uint8Array, codec: LogCodec<R>): Result<LogRecordFile<R>, string> {
  const parsed = parseJsonBytes(bytes);
  if (!parsed.ok) return parsed;
  const v = parsed.value;
  if (!isObject(v) || v.format !== 'quiescelab-log-record' || v.version !== 1) return err('not a version 1 log record');
  if (v.kind !== codec.kind) return err(`a ${String(v.kind)} record where ${codec.kind} records are`);
  if (!isWhole(v.sequence) || v.sequence === 0) return err('bad sequence');
  const record = codec.decode(v.record);
  if (!record.ok) return err(`record: ${record.error}`);
  const blob = decodeBlobRef(v.blob);
  if (!blob.ok) return blob;
  return ok({ kind: codec.kind, sequence: v.sequence, record: record.value, blob: blob.value });
}

// Field checks: each returns the name of the first bad field, or undefined.

type Check = (v: unknown) => boolean;
const isStr: Check = (v) => typeof v === 'string';
const isTime: Check = (v) => typeof v === 'number' && Number.isFinite(v);
const isU32: Check = (v) => isWhole(v) && v <= 0xffff_ffff;
const isBool: Check = (v) => typeof v === 'boolean';
const orNull = (check: Check): Check => (v) => v === null || check(v);
const shape = (fields: Readonly<Record<string, Check>>): Check => (v) => isObject(v) && Object.entries(fields).every(([k, check]) => check(v[k]));

function badField(v: unknown, fields: Readonly<Record<string, Check>>): string | undefined {
  if (!isObject(v)) return '(not an object)';
  return Object.entries(fields).find(([k, check]) => !check(v[k]))?.[0];
}

const checksum: Check = shape({ s0: isU32, s1: isU32 } satisfies Record<keyof WalChecksum, Check>);
const generation: Check = shape({ checkpointSeq: isU32, salt1: isU32 } satisfies Record<keyof GenerationRef, Check>);
const walHeader: Check = shape({
  magic: isU32, bigEndianChecksums: isBool, version: isU32, pageBytes: isU32, checkpointSeq: isU32, salt1: isU32, salt2: isU32, checksum,
} satisfies Record<keyof WalHeader, Check>);
const CONTINUITIES: readonly Continuity[] = ['chain-start', 'continued', 'new-generation', 'idle', 'break'];

const SQL_FIELDS: Record<keyof StoredLogBackup, Check> = {
  id: isStr, vmId: isStr, dbName: isStr, basePointId: isStr, firstLsn: isWhole, lastLsn: isWhole, backupTimeUs: isTime,
  copyOnly: isBool, startedUs: isTime, endedUs: isTime, bytes: isWhole,
};

const SQLITE_COMMON = { id: isStr, vmId: isStr, dbPath: isStr, seq: isWhole, atUs: isTime, nextGeneration: orNull(generation) };
const SQLITE_FIELDS: { readonly [K in SqliteWalRecord['kind']]: Record<keyof Extract<SqliteWalRecord, { kind: K }>, Check> } = {
  segment: {
    ...SQLITE_COMMON, kind: isStr, basePointId: isStr, header: orNull(walHeader), startOffset: isWhole, endOffset: isWhole,
    startChecksum: checksum, endChecksum: checksum, frames: isWhole, commits: isWhole, bytes: isWhole, startedUs: isTime, endedUs: isTime,
    continuity: (v) => CONTINUITIES.some((c) => c === v), note: orNull(isStr),
  },
  checkpoint: { ...SQLITE_COMMON, kind: isStr, basePointId: isStr, sealed: orNull(generation), sealedOffset: isWhole },
  anchor: { ...SQLITE_COMMON, kind: isStr, basePointId: isStr, baseAtUs: orNull(isTime), restarts: isWhole, expected: orNull(generation), reason: isStr },
  observation: { ...SQLITE_COMMON, kind: isStr, basePointId: (v) => v === null, header: orNull(walHeader), walBytes: isWhole },
};

export const SQL_LOG_CODEC: LogCodec<StoredLogBackup> = {
  kind: 'sql',
  decode(v) {
    const bad = badField(v, SQL_FIELDS);
    return bad === undefined ? ok(v as StoredLogBackup) : err(`field ${bad}`);
  },
  basePointId: (r) => r.basePointId,
  positionKey: () => null,
};

export const SQLITE_WAL_CODEC: LogCodec<SqliteWalRecord> = {
  kind: 'sqlite-wal',
  decode(v) {
    const kind = isObject(v) ? v.kind : undefined;
    const fields = kind === 'segment' || kind === 'checkpoint' || kind === 'anchor' || kind === 'observation' ? SQLITE_FIELDS[kind] : undefined;
    if (fields === undefined) return err('field kind');
    const bad = badField(v, fields);
    return bad === undefined ? ok(v as SqliteWalRecord) : err(`field ${bad}`);
  },
  basePointId: (r) => r.basePointId,
  // The shipper starts a new chain from the newest record of the database (sqlite-shipper.ts).
  positionKey: (r) => JSON.stringify([r.vmId, r.dbPath]),
};

export const LOG_CODECS: { readonly sql: LogCodec<StoredLogBackup>; readonly 'sqlite-wal': LogCodec<SqliteWalRecord> } = {
  sql: SQL_LOG_CODEC,
  'sqlite-wal': SQLITE_WAL_CODEC,
};

/** A log record object of any kind, decoded and checked against its name (verify and prune). */
export function decodeLogRecordObject(name: string, bytes: Uint8Array): Result<{ readonly file: LogRecordFile<LogRecordBase>; readonly codec: LogCodec<LogRecordBase> }, string> {
  const parsed = parseLogRecordName(name);
  if (parsed === undefined) return err('not a log record name');
  if (sha256Hex(bytes) !== parsed.hex) return err('SHA-256 of the bytes does not match the name');
  const codec: LogCodec<LogRecordBase> = LOG_CODECS[parsed.kind];
  const file = decodeLogRecord(bytes, codec);
  return file.ok ? ok({ file: file.value, codec }) : file;
}
