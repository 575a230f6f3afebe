/**
 * The repository's log stores beyond the shared contract:
 * - crash safety (as for points): a crash at a random mutating store call of a log put
 *   never loses an earlier record and never exposes a partial one (the records listed are
 *   the earlier ones, plus the new one only when it is whole, every blob exact), verify
 *   finds no damage, and the next writer puts again; a crash inside a prune leaves every
 *   record the rule keeps listed and readable;
 * - prune's rule: it keeps exactly the records whose base point is kept and each SQLite
 *   database's newest record, their blobs read back, and afterwards the packs hold exactly
 *   the chunks the kept points and records name (each once), with no garbage;
 * - damage is named, never hidden: a damaged record fails the list naming the object, a
 *   damaged blob chunk fails the get naming the pack; a record pruned away is not-found;
 * - a reader's store lists and gets but does not put; a blob put twice is stored once.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unwrap } from '../../core/result.js';
import type { LogRecordStore } from '../../engine/logbackup/log-store.js';
import type { StoredLogBackup } from '../../engine/logbackup/sql-job.js';
import type { SqliteWalRecord } from '../../engine/logbackup/sqlite-shipper.js';
import type { ChunkId, RecoveryPointId } from '../../engine/repository/hash.js';
import { decodeLogRecordObject } from '../../engine/repository/log-record.js';
import { repositoryLogStore, repositorySqliteWalStore } from '../../engine/repository/log-store.js';
import { parsePack } from '../../engine/repository/pack.js';
import { prune } from '../../engine/repository/prune.js';
import { Repository } from '../../engine/repository/repository.js';
import { verifyRepository } from '../../engine/repository/verify.js';
import { DEFAULT_STALE_AFTER_US } from '../../engine/store/lock.js';
import type { ByteStore } from '../../engine/store/byte-store.js';
import { MemoryStore } from '../../engine/store/memory-store.js';
import { blobOf, kindPutArb, putLogs, recordOf, sqlRecord, type LogKindName } from '../support/log-records.js';
import { asWriter, backupChain, chainArb, crashAtRandomCall, ManualClock, newRepo, type ArbValue } from './support.js';

type AnyRecord = StoredLogBackup | SqliteWalRecord;

interface Put {
  readonly kind: LogKindName;
  readonly record: AnyRecord;
  readonly blob: Uint8Array | null;
}

function storeOf(repo: Repository, kind: LogKindName): LogRecordStore<AnyRecord> {
  return kind === 'sql' ? repositoryLogStore(repo) : repositorySqliteWalStore(repo);
}

/** What a reader of `bytes` sees equals `expected` (in put order per kind and VM), every blob exact. */
async function readerSees(bytes: ByteStore, clock: ManualClock, expected: readonly Put[], context: string): Promise<void> {
  const reader = unwrap(await Repository.open(bytes, { clock }));
  for (const kind of ['sql', 'sqlite-wal'] as const) {
    const store = storeOf(reader, kind);
    for (const vmId of ['vm-0', 'vm-1']) {
      const want = expected.filter((p) => p.kind === kind && p.record.vmId === vmId);
      expect(unwrap(await store.list(vmId)), `${context}: ${kind} records of ${vmId}`).toEqual(want.map((p) => p.record));
      for (const p of want) {
        const got = await store.get(p.record.id);
        if (p.blob === null) expect(got.ok ? 'a blob' : got.error.kind).toBe('not-found');
        else expect(got.ok && Buffer.from(got.value).equals(p.blob), `${context}: blob of ${p.record.id}`).toBe(true);
      }
    }
  }
}

/** The rule of prune.ts on the model: base kept, or the newest SQLite record of its database. */
function keptByRule(puts: readonly Put[], keptPoints: ReadonlySet<string>): Put[] {
  const newest = new Map<string, Put>();
  for (const p of puts) if (p.kind === 'sqlite-wal' && 'dbPath' in p.record) newest.set(JSON.stringify([p.record.vmId, p.record.dbPath]), p);
  const keepNewest = new Set(newest.values());
  return puts.filter((p) => keepNewest.has(p) || (p.record.basePointId !== null && keptPoints.has(p.record.basePointId)));
}

const crashCase = fc.record({
  chain: chainArb(60_000, 2),
  logs: fc.array(kindPutArb, { minLength: 1, maxLength: 5 }),
  next: kindPutArb,
  callPick: fc.nat(),
  seed: fc.nat(0xffff),
});

async function crashInPutNeverLosesOrExposes(input: ArbValue<typeof crashCase>): Promise<void> {
  const memory = new MemoryStore();
  const clock = new ManualClock();
  const setup = await newRepo(memory, clock, 'setup');
  const { ids } = await backupChain(setup, input.chain.specs, input.chain.firstSizeBytes);
  const earlier: Put[] = await putLogs(setup, input.logs, ids);
  unwrap(await setup.close());
  const next = { kind: input.next.kind, ...recordOf(input.next.kind, 100, input.next.put, ids) };
  const context = await crashAtRandomCall(memory, (store) => asWriter(store, clock, 'log-writer', async (repo) => {
    unwrap(await storeOf(repo, next.kind).put(next.record, next.blob));
  }), input);

  const reader = unwrap(await Repository.open(memory, { clock }));
  const published = unwrap(await storeOf(reader, next.kind).list(next.record.vmId)).some((r) => r.id === next.record.id);
  await readerSees(memory, clock, published ? [...earlier, next] : earlier, context);
  expect(unwrap(await verifyRepository(memory)).damages, context).toEqual([]);

  // The next writer (once the crashed one's lock is stale) puts the record, and prune clears the garbage.
  clock.advance(DEFAULT_STALE_AFTER_US);
  await asWriter(memory, clock, 'next-writer', async (again) => {
    if (!published) unwrap(await storeOf(again, next.kind).put(next.record, next.blob));
    unwrap(await prune(again, { keepLast: 100 }));
  });
  await readerSees(memory, clock, keptByRule([...earlier, next], new Set(ids)), `${context}, then pruned`);
  const clean = unwrap(await verifyRepository(memory));
  expect(clean.damages).toEqual([]);
  expect(clean.garbage).toEqual({ unindexedPacks: [], unreferencedChunks: 0, tempObjects: [] });
}

const pruneCase = fc.record({
  chain: chainArb(60_000, 4),
  logs: fc.array(kindPutArb, { maxLength: 8 }),
  keepLast: fc.integer({ min: 0, max: 4 }),
  keepPicks: fc.array(fc.nat(), { maxLength: 2 }),
});

/** Chunks the kept manifests and log records name, and the chunks the packs hold. */
async function chunkCensus(store: MemoryStore, repo: Repository): Promise<{ referenced: Set<ChunkId>; stored: ChunkId[] }> {
  const referenced = new Set<ChunkId>();
  for (const p of unwrap(await repo.listPoints())) for (const d of unwrap(await repo.readManifest(p.id)).disks) for (const e of d.extents) referenced.add(e.chunkId);
  for (const name of unwrap(await store.list('logs/'))) {
    const file = unwrap(decodeLogRecordObject(name, unwrap(await store.get(name)))).file;
    for (const c of file.blob?.chunks ?? []) referenced.add(c.chunkId);
  }
  const stored: ChunkId[] = [];
  for (const name of unwrap(await store.list('packs/'))) for (const e of unwrap(parsePack(unwrap(await store.get(name))))) stored.push(e.chunkId);
  return { referenced, stored };
}

describe('the repository\'s log stores', () => {
  it('a crash at a random mutating call of a log put never loses an earlier record and never exposes a partial one', async () => {
    await fc.assert(fc.asyncProperty(crashCase, crashInPutNeverLosesOrExposes), { numRuns: 150 });
  });

  it('prune keeps exactly the records of kept points\' chains and each SQLite database\'s newest; the packs hold exactly what is kept', async () => {
    await fc.assert(fc.asyncProperty(pruneCase, async (input) => {
      const store = new MemoryStore();
      const clock = new ManualClock();
      const repo = await newRepo(store, clock);
      const { ids } = await backupChain(repo, input.chain.specs, input.chain.firstSizeBytes);
      const puts = await putLogs(repo, input.logs, ids);
      const keepIds = input.keepPicks.map((p) => ids[p % ids.length] as RecoveryPointId);
      const report = unwrap(await prune(repo, { keepLast: input.keepLast, keepIds }));
      const kept = keptByRule(puts, new Set(report.pointsKept));
      expect(report.logRecordsKept).toBe(kept.length);
      expect(report.logRecordsRemoved).toHaveLength(puts.length - kept.length);
      await readerSees(store, clock, kept, 'after prune');
      const { referenced, stored } = await chunkCensus(store, repo);
      expect(stored.length, 'each chunk stored once').toBe(new Set(stored).size);
      expect(new Set(stored)).toEqual(referenced);
      const verified = unwrap(await verifyRepository(store));
      expect(verified.damages).toEqual([]);
      expect(verified.garbage).toEqual({ unindexedPacks: [], unreferencedChunks: 0, tempObjects: [] });
    }), { numRuns: 100 });
  });

  it('a crash at a random mutating call of a prune leaves every record the rule keeps listed and readable', async () => {
    const pruneCrash = fc.record({ chain: chainArb(60_000, 3), logs: fc.array(kindPutArb, { minLength: 1, maxLength: 6 }), keepLast: fc.integer({ min: 1, max: 3 }), callPick: fc.nat(), seed: fc.nat(0xffff) });
    await fc.assert(fc.asyncProperty(pruneCrash, async (input) => {
      const memory = new MemoryStore();
      const clock = new ManualClock();
      const setup = await newRepo(memory, clock, 'setup');
      const { ids } = await backupChain(setup, input.chain.specs, input.chain.firstSizeBytes);
      const puts = await putLogs(setup, input.logs, ids);
      unwrap(await setup.close());
      const context = await crashAtRandomCall(memory, (store) => asWriter(store, clock, 'pruner', async (repo) => unwrap(await prune(repo, { keepLast: input.keepLast }))), input);
      const reader = unwrap(await Repository.open(memory, { clock }));
      const mustStay = keptByRule(puts, new Set(ids.slice(-input.keepLast)));
      for (const kind of ['sql', 'sqlite-wal'] as const) {
        const store = storeOf(reader, kind);
        for (const p of mustStay.filter((q) => q.kind === kind)) {
          expect(unwrap(await store.list(p.record.vmId)), context).toContainEqual(p.record);
          const got = await store.get(p.record.id);
          if (p.blob !== null) expect(got.ok && Buffer.from(got.value).equals(p.blob), `${context}: ${p.record.id}`).toBe(true);
        }
      }
      expect(unwrap(await verifyRepository(memory)).damages, context).toEqual([]);
    }), { numRuns: 100 });
  });

  it('a damaged record fails the list, naming it; a damaged blob chunk fails the get, naming its pack', async () => {
    const store = new MemoryStore();
    const repo = await newRepo(store, new ManualClock());
    const [put] = await putLogs(repo, [{ kind: 'sql', put: { vm: 0, base: 0, shape: 'segment', blobBytes: 3000, seed: 5 } }], ['base-a']);
    if (put === undefined) throw new Error('put');
    const logs = repositoryLogStore(repo);
    const pack = unwrap(await store.list('packs/'))[0] as string;
    const packBytes = unwrap(await store.get(pack));
    packBytes[20] = (packBytes[20] as number) ^ 1;
    unwrap(await store.put(pack, packBytes));
    const got = await logs.get(put.record.id);
    expect(got.ok ? 'a blob' : got.error).toMatchObject({ kind: 'damaged', id: put.record.id, object: pack });
    const record = unwrap(await store.list('logs/sql/'))[0] as string;
    const recordBytes = unwrap(await store.get(record));
    recordBytes[10] = (recordBytes[10] as number) ^ 1;
    unwrap(await store.put(record, recordBytes));
    const fresh = repositoryLogStore(unwrap(await Repository.open(store, { clock: new ManualClock() })));
    const listed = await fresh.list('vm-0');
    expect(listed.ok ? 'a list' : listed.error).toMatchObject({ kind: 'damaged', object: record });
  });

  it('a record pruned away is not-found, also through a store that had it cached', async () => {
    const store = new MemoryStore();
    const repo = await newRepo(store, new ManualClock());
    const [put] = await putLogs(repo, [{ kind: 'sql', put: { vm: 0, base: 0, shape: 'segment', blobBytes: 3000, seed: 5 } }], ['not-a-point']);
    if (put === undefined) throw new Error('put');
    const logs = repositoryLogStore(repo);
    expect(unwrap(await logs.get(put.record.id)).length).toBe(3000);
    const report = unwrap(await prune(repo, { keepLast: 1 }));
    expect(report.logRecordsRemoved).toHaveLength(1);
    const got = await logs.get(put.record.id);
    expect(got.ok ? 'a blob' : got.error.kind).toBe('not-found');
    expect(unwrap(await logs.list('vm-0'))).toEqual([]);
  });

  it('a reader\'s store lists and gets but does not put; a blob put twice is stored once', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    const repo = await newRepo(store, clock);
    const blob = blobOf(7, 40_000);
    const logs = repositoryLogStore(repo);
    const first = sqlRecord(1, 'vm-0', 'b', blob.length);
    const second = sqlRecord(2, 'vm-0', 'b', blob.length);
    unwrap(await logs.put(first, blob));
    const packs = unwrap(await store.list('packs/')).length;
    unwrap(await logs.put(second, blob));
    expect(unwrap(await store.list('packs/')).length, 'no new pack for the same bytes').toBe(packs);
    unwrap(await repo.close());
    const reader = repositoryLogStore(unwrap(await Repository.open(store, { clock })));
    expect(unwrap(await reader.list('vm-0')).map((r) => r.id)).toEqual([first.id, second.id]);
    expect(Buffer.from(unwrap(await reader.get(second.id))).equals(blob)).toBe(true);
    const refused = await reader.put(sqlRecord(3, 'vm-0', 'b', 1), new Uint8Array(1));
    expect(refused.ok ? 'stored' : refused.error.kind).toBe('unavailable');
  });
});

