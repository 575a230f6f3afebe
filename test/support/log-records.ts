/**
 * Log records for log-store tests, of both kinds: SQL Server log backups and SQLite WAL
 * records (segments with and without frames, checkpoints, anchors, observations). Their
 * contents are plausible, not a real chain: the stores must keep them as given.
 */

import fc from 'fast-check';
import { unwrap } from '../../core/result.js';
import type { LogRecordStore } from '../../engine/logbackup/log-store.js';
import type { StoredLogBackup } from '../../engine/logbackup/sql-job.js';
import type { SqliteWalRecord } from '../../engine/logbackup/sqlite-shipper.js';
import { repositoryLogStore, repositorySqliteWalStore } from '../../engine/repository/log-store.js';
import type { Repository } from '../../engine/repository/repository.js';
import { xorshiftBytes } from './bytes.js';

export type LogKindName = 'sql' | 'sqlite-wal';

/** A SQL Server log backup record number `n` of `vmId`'s chain from `basePointId`. */
export function sqlRecord(n: number, vmId: string, basePointId: string, blobBytes: number): StoredLogBackup {
  return {
    id: `${vmId}/log/b${n}`, vmId, dbName: 'app', basePointId, firstLsn: 100 * n, lastLsn: 100 * (n + 1), backupTimeUs: 1_000_000 + n,
    copyOnly: false, startedUs: 1_000_000 + n, endedUs: 1_000_010 + n, bytes: blobBytes,
  };
}

const header = (gen: number) => ({
  magic: 0x377f0682, bigEndianChecksums: false, version: 3007000, pageBytes: 4096, checkpointSeq: gen, salt1: 0x1000 + gen, salt2: 0xabcdef, checksum: { s0: 1, s1: 2 },
});

/** A SQLite WAL record number `n` (its `seq`) of `vmId`; `withBlob` makes a segment with frames. */
export function sqliteRecord(n: number, vmId: string, basePointId: string | null, shape: 'segment' | 'empty-segment' | 'checkpoint' | 'anchor' | 'observation', blobBytes = 0): SqliteWalRecord {
  const common = { id: `${vmId}/sqlite-wal/${n}`, vmId, dbPath: '/sqlite/app.db', seq: n, atUs: 2_000_000 + n, nextGeneration: { checkpointSeq: 3, salt1: 0x1003 } };
  if (shape === 'observation' || basePointId === null) return { ...common, kind: 'observation', basePointId: null, header: header(3), walBytes: 32 };
  switch (shape) {
    case 'segment':
    case 'empty-segment':
      return {
        ...common, kind: 'segment', basePointId, header: shape === 'segment' ? header(3) : null, startOffset: 32, endOffset: 32 + blobBytes,
        startChecksum: { s0: 1, s1: 2 }, endChecksum: { s0: 3, s1: 4 }, frames: shape === 'segment' ? 1 : 0, commits: shape === 'segment' ? 1 : 0,
        bytes: blobBytes, startedUs: 2_000_000 + n, endedUs: 2_000_005 + n, continuity: 'continued', note: shape === 'segment' ? null : 'idle',
      };
    case 'checkpoint':
      return { ...common, kind: 'checkpoint', basePointId, sealed: { checkpointSeq: 3, salt1: 0x1003 }, sealedOffset: 32 };
    case 'anchor':
      return { ...common, kind: 'anchor', basePointId, baseAtUs: 1_999_000, restarts: 1, expected: { checkpointSeq: 4, salt1: 0x1004 }, reason: 'test' };
  }
}

/** Pseudo-random blob bytes, every other KiB text, so some chunks compress. */
export function blobOf(seed: number, lengthBytes: number): Uint8Array {
  const out = xorshiftBytes(seed, lengthBytes);
  const text = new TextEncoder().encode('INSERT INTO txns VALUES (42, \'quiescelab\'); ');
  for (let i = 0; i < lengthBytes; i++) if (i % 2048 < 1024) out[i] = text[i % text.length] as number;
  return out;
}

/** One put of a log record: which VM, which base, what shape, how many blob bytes. */
export interface LogPut {
  readonly vm: number;
  readonly base: number;
  readonly shape: 'segment' | 'empty-segment' | 'checkpoint' | 'anchor' | 'observation';
  readonly blobBytes: number;
  readonly seed: number;
}

export const logPutArb: fc.Arbitrary<LogPut> = fc.record({
  vm: fc.integer({ min: 0, max: 1 }),
  base: fc.integer({ min: 0, max: 2 }),
  shape: fc.constantFrom('segment', 'segment', 'empty-segment', 'checkpoint', 'anchor', 'observation'),
  blobBytes: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1000, max: 60_000 })),
  seed: fc.nat(),
});

/** The record and blob of put number `n` of `kind` (SQL records always have a blob); bases name `bases[put.base]`. */
export function recordOf(kind: LogKindName, n: number, put: LogPut, bases: readonly string[]): { record: StoredLogBackup | SqliteWalRecord; blob: Uint8Array | null } {
  const vmId = `vm-${put.vm}`;
  const base = bases[put.base % bases.length] ?? 'no-base';
  if (kind === 'sql') return { record: sqlRecord(n, vmId, base, put.blobBytes), blob: blobOf(put.seed, put.blobBytes) };
  const withBlob = put.shape === 'segment';
  return { record: sqliteRecord(n, vmId, put.shape === 'observation' ? null : base, put.shape, withBlob ? put.blobBytes : 0), blob: withBlob ? blobOf(put.seed, put.blobBytes) : null };
}

/** A log put of either kind. */
export interface KindPut {
  readonly kind: LogKindName;
  readonly put: LogPut;
}

export const kindPutArb: fc.Arbitrary<KindPut> = fc.record({ kind: fc.constantFrom<LogKindName>('sql', 'sqlite-wal'), put: logPutArb });

/** Puts log records into the repository's stores (bases name `bases`); returns what was put, in order. */
export async function putLogs(repo: Repository, puts: readonly KindPut[], bases: readonly string[], firstNumber = 1): Promise<{ kind: LogKindName; record: StoredLogBackup | SqliteWalRecord; blob: Uint8Array | null }[]> {
  const stores = { sql: repositoryLogStore(repo), 'sqlite-wal': repositorySqliteWalStore(repo) };
  const out: { kind: LogKindName; record: StoredLogBackup | SqliteWalRecord; blob: Uint8Array | null }[] = [];
  for (const [i, { kind, put }] of puts.entries()) {
    const { record, blob } = recordOf(kind, firstNumber + i, put, bases);
    const store: LogRecordStore<typeof record> = stores[kind];
    unwrap(await store.put(record, blob));
    out.push({ kind, record, blob });
  }
  return out;
}
