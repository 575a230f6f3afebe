/**
 * The log-store contract (engine/logbackup/log-store.ts), run against every implementation
 * and both record kinds (SQL Server log backups, SQLite WAL records): the in-memory twins,
 * and the repository's stores on the memory ByteStore and on a real folder. Random
 * sequences of puts, against a model: list gives each VM's records in put order, get
 * gives each blob exactly (and `not-found` for a record without one or an unknown id), a
 * second put of an id is refused with `exists` and changes nothing, a blob is copied on
 * put. The repository's stores also give the same after the repository is opened again.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { unwrap } from '../../core/result.js';
import type { LogRecordStore } from '../../engine/logbackup/log-store.js';
import { MemoryLogStore, type StoredLogBackup } from '../../engine/logbackup/sql-job.js';
import { MemorySqliteWalStore, type SqliteWalRecord } from '../../engine/logbackup/sqlite-shipper.js';
import { repositoryLogStore, repositorySqliteWalStore } from '../../engine/repository/log-store.js';
import { Repository } from '../../engine/repository/repository.js';
import type { ByteStore } from '../../engine/store/byte-store.js';
import { LocalDirStore } from '../../engine/store/local-dir-store.js';
import { MemoryStore } from '../../engine/store/memory-store.js';
import { blobOf, logPutArb, recordOf, type LogKindName } from '../support/log-records.js';
import { ManualClock, newRepo } from './support.js';

type AnyRecord = StoredLogBackup | SqliteWalRecord;
type Store = LogRecordStore<AnyRecord>;

interface Subject {
  readonly store: Store;
  /** A store over the same objects, opened again (undefined: nothing persists). */
  reopen(): Promise<Store | undefined>;
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function repositoryStore(kind: LogKindName, repo: Repository): Store {
  return kind === 'sql' ? repositoryLogStore(repo) : repositorySqliteWalStore(repo);
}

async function onRepository(kind: LogKindName, bytes: ByteStore): Promise<Subject> {
  const clock = new ManualClock();
  const repo = await newRepo(bytes, clock);
  return {
    store: repositoryStore(kind, repo),
    reopen: async () => repositoryStore(kind, unwrap(await Repository.open(bytes, { clock }))),
  };
}

const IMPLEMENTATIONS: readonly [string, (kind: LogKindName) => Promise<Subject>][] = [
  ['in-memory twin', (kind) => Promise.resolve({ store: kind === 'sql' ? new MemoryLogStore() : new MemorySqliteWalStore(), reopen: () => Promise.resolve(undefined) })],
  ['repository on the memory store', (kind) => onRepository(kind, new MemoryStore())],
  ['repository on a local directory', async (kind) => {
    const dir = mkdtempSync(join(tmpdir(), 'ql-logstore-'));
    dirs.push(dir);
    return onRepository(kind, unwrap(await LocalDirStore.open(join(dir, 'repo'), { create: true, tempTag: 'test' })));
  }],
];

/** The model: records in put order, and each id's blob. */
interface Model {
  readonly records: AnyRecord[];
  readonly blobs: Map<string, Uint8Array>;
}

async function agrees(store: Store, model: Model): Promise<void> {
  for (const vmId of ['vm-0', 'vm-1', 'vm-none']) {
    expect(unwrap(await store.list(vmId)), `list ${vmId}`).toEqual(model.records.filter((r) => r.vmId === vmId));
  }
  for (const r of model.records) {
    const got = await store.get(r.id);
    const want = model.blobs.get(r.id);
    if (want === undefined) expect(got.ok ? 'a blob' : got.error.kind, r.id).toBe('not-found');
    else expect(got.ok && Buffer.from(got.value).equals(want), `blob of ${r.id}`).toBe(true);
  }
  const unknown = await store.get('vm-0/no-such-record');
  expect(unknown.ok ? 'a blob' : unknown.error.kind).toBe('not-found');
}

describe.each(IMPLEMENTATIONS)('log-store contract: %s', (_name, make) => {
  it.each<LogKindName>(['sql', 'sqlite-wal'])('%s records: list in put order per VM, exact blobs, unique ids (random puts, against a model)', async (kind) => {
    await fc.assert(fc.asyncProperty(fc.array(logPutArb, { minLength: 1, maxLength: 12 }), fc.nat(), async (puts, repeatPick) => {
      const subject = await make(kind);
      const model: Model = { records: [], blobs: new Map() };
      for (const [n, put] of puts.entries()) {
        const { record, blob } = recordOf(kind, n + 1, put, ['base-a', 'base-b']);
        unwrap(await subject.store.put(record, blob));
        model.records.push(record);
        if (blob !== null) model.blobs.set(record.id, blob.slice());
        // The store copied the blob: changing the caller's buffer changes nothing stored.
        blob?.fill(0x5a);
      }
      // A second put of an id already there is refused and changes nothing.
      const again = model.records[repeatPick % model.records.length] as AnyRecord;
      const refused = await subject.store.put(again, blobOf(1, 10));
      expect(refused.ok ? 'stored' : refused.error).toEqual({ kind: 'exists', id: again.id });
      await agrees(subject.store, model);
      const reopened = await subject.reopen();
      if (reopened !== undefined) await agrees(reopened, model);
    }), { numRuns: kind === 'sql' ? 25 : 20 });
  });

  it('an empty blob is a blob (0 bytes), not a missing one', async () => {
    const subject = await make('sql');
    const { record } = recordOf('sql', 1, { vm: 0, base: 0, shape: 'segment', blobBytes: 0, seed: 1 }, ['base-a']);
    unwrap(await subject.store.put(record, new Uint8Array(0)));
    expect(unwrap(await subject.store.get(record.id)).length).toBe(0);
  });
});
