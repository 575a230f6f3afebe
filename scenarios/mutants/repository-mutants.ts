/**
 * Mutants of the repository (the repository suite kills them, properties 9 and 10): a
 * store that publishes a point's manifest before its packs, a store that renames without
 * fsync (names durable at once, bytes only when the writer closes), a verify that reads
 * no pack data, a prune that marks only the newest point's chunks (property 15 kills it),
 * a repair that throws away every pack indexed together with a damaged one (property 19).
 * Each wraps the ByteStore the engine opens, or substitutes verify, prune or repair.
 */

import { ok, unwrap, type Result } from '../../core/result.js';
import { manifestName, packName, sha256Hex } from '../../engine/repository/hash.js';
import { decodeIndex } from '../../engine/repository/index-file.js';
import { moveAside, repairRepository } from '../../engine/repository/repair.js';
import { prune } from '../../engine/repository/prune.js';
import { Repository } from '../../engine/repository/repository.js';
import { verifyRepository } from '../../engine/repository/verify.js';
import type { ByteStore, StoreError } from '../../engine/store/byte-store.js';
import { LOCK_NAME } from '../../engine/store/lock.js';
import { QUIESCELAB_ENGINE, type EngineUnderTest } from '../scenario/engine.js';
import type { Mutant } from './mutant.js';

/**
 * A broken engine's store: puts the rule defers stay in memory (reads see them) until a
 * later call writes them down; with `stub`, the name reaches the disk at once, empty.
 */
class DeferringStore implements ByteStore {
  readonly description = 'deferring';
  private readonly held = new Map<string, Uint8Array>();

  constructor(private readonly inner: ByteStore, private readonly rule: {
    readonly defer: (name: string) => boolean;
    readonly stub: boolean;
    /** After a put of such a name, every held object is written down. */
    readonly flushAfterPut: (name: string) => boolean;
    /** Before a delete of such a name, every held object is written down. */
    readonly flushBeforeDelete: (name: string) => boolean;
  }) {}

  async put(name: string, bytes: Uint8Array): Promise<Result<void, StoreError>> {
    if (this.rule.defer(name)) {
      this.held.set(name, bytes.slice());
      return this.rule.stub ? this.inner.put(name, new Uint8Array(0)) : ok(undefined);
    }
    const put = await this.inner.put(name, bytes);
    if (put.ok && this.rule.flushAfterPut(name)) await this.flush();
    return put;
  }

  putExclusive(name: string, bytes: Uint8Array): Promise<Result<void, StoreError>> {
    return this.inner.putExclusive(name, bytes);
  }

  get(name: string): Promise<Result<Uint8Array, StoreError>> {
    const held = this.held.get(name);
    return held === undefined ? this.inner.get(name) : Promise.resolve(ok(held.slice()));
  }

  getRange(name: string, offsetBytes: number, lengthBytes: number): Promise<Result<Uint8Array, StoreError>> {
    const held = this.held.get(name);
    return held === undefined ? this.inner.getRange(name, offsetBytes, lengthBytes) : Promise.resolve(ok(held.slice(offsetBytes, offsetBytes + lengthBytes)));
  }

  async list(prefix: string): Promise<Result<readonly string[], StoreError>> {
    const names = await this.inner.list(prefix);
    if (!names.ok) return names;
    return ok([...new Set([...names.value, ...[...this.held.keys()].filter((n) => n.startsWith(prefix))])].sort());
  }

  async delete(name: string): Promise<Result<void, StoreError>> {
    if (this.rule.flushBeforeDelete(name)) await this.flush();
    this.held.delete(name);
    return this.inner.delete(name);
  }

  exists(name: string): Promise<Result<boolean, StoreError>> {
    return this.held.has(name) ? Promise.resolve(ok(true)) : this.inner.exists(name);
  }

  private async flush(): Promise<void> {
    for (const [name, bytes] of this.held) unwrap(await this.inner.put(name, bytes));
    this.held.clear();
  }
}

const never = (): boolean => false;

function withStore(name: string, wrap: (store: ByteStore) => ByteStore): EngineUnderTest {
  return { ...QUIESCELAB_ENGINE, name, openRepository: (store, options) => Repository.open(wrap(store), options) };
}

/** Publishes a point's manifest first, then its packs and index file. */
const MANIFEST_FIRST = withStore('manifest-first', (store) => new DeferringStore(store, {
  defer: (n) => n.startsWith('packs/') || n.startsWith('index/'), stub: false, flushAfterPut: (n) => n.startsWith('points/'), flushBeforeDelete: never,
}));

/** Renames without fsync: every object's name is durable at once, its bytes only when the writer closes. */
const NO_FSYNC = withStore('no-fsync-before-rename', (store) => new DeferringStore(store, {
  defer: (n) => n !== LOCK_NAME, stub: true, flushAfterPut: never, flushBeforeDelete: (n) => n === LOCK_NAME,
}));

/** A verify that only lists packs (metadata only). */
const SHALLOW_VERIFY: EngineUnderTest = { ...QUIESCELAB_ENGINE, name: 'shallow-verify', verify: (store) => verifyRepository(store, { readData: false }) };

/**
 * A prune whose mark phase walks only the newest point (as if every point were a full
 * that holds all the chunks a later one needs): the chunks older kept points use and the
 * newest does not (blocks an incremental has since rewritten) are swept. Built as the real
 * prune run while the older manifests are out of its sight, then put back.
 */
const PRUNE_NEWEST_ONLY: EngineUnderTest = {
  ...QUIESCELAB_ENGINE,
  name: 'prune-drops-shared-chunks',
  async prune(repo, policy) {
    const points = await repo.listPoints();
    if (!points.ok) return points;
    const hidden: [string, Uint8Array][] = [];
    for (const p of points.value.slice(0, -1)) {
      const name = manifestName(p.id);
      hidden.push([name, unwrap(await repo.store.get(name))]);
      unwrap(await repo.store.delete(name));
      repo.forgetManifest(p.id);
    }
    const pruned = await prune(repo, policy);
    for (const [name, bytes] of hidden) unwrap(await repo.store.put(name, bytes));
    return pruned;
  },
};

/** The packs of `store` that are missing or whose bytes do not hash to their name, and the index files that list each pack. */
async function damagedPacksAndIndexes(store: ByteStore): Promise<{ damaged: Set<string>; packsOf: Map<string, string[]> }> {
  const damaged = new Set<string>();
  const packsOf = new Map<string, string[]>();
  for (const index of unwrap(await store.list('index/'))) {
    const packs = decodeIndex(unwrap(await store.get(index)));
    if (packs.ok) packsOf.set(index, packs.value.map((p) => packName(p.packId)));
  }
  const present = new Set(unwrap(await store.list('packs/')));
  for (const name of present) if (sha256Hex(unwrap(await store.get(name))) !== name.split('/')[2]) damaged.add(name);
  for (const packs of packsOf.values()) for (const p of packs) if (!present.has(p)) damaged.add(p);
  return { damaged, packsOf };
}

/**
 * A repair that does not trust an index file naming a damaged pack (nor the damaged pack):
 * every pack listed with it is moved to damaged/ before the real repair runs, which then
 * finds them missing and rewrites the points without their chunks, intact ones too (as a
 * repair that rebuilds the index per file, dropping a file with any bad entry, would).
 */
const REPAIR_DROPS_INTACT: EngineUnderTest = {
  ...QUIESCELAB_ENGINE,
  name: 'repair-drops-intact-chunks',
  async repair(store, options) {
    const { damaged, packsOf } = await damagedPacksAndIndexes(store);
    const doomed = new Set<string>(damaged);
    for (const packs of packsOf.values()) if (packs.some((p) => damaged.has(p))) for (const p of packs) doomed.add(p);
    for (const name of [...doomed].sort()) {
      const bytes = await store.get(name);
      if (bytes.ok) unwrap(await moveAside(store, name, bytes.value));
    }
    return repairRepository(store, options);
  },
};

export const REPOSITORY_MUTANT_ENGINES = { MANIFEST_FIRST, NO_FSYNC, SHALLOW_VERIFY, PRUNE_NEWEST_ONLY, REPAIR_DROPS_INTACT };

const FILES = 'linux/esx41/files/default';
const SQL = 'win2019/esx41/sqlserver/default';

export const REPOSITORY_MUTANTS: readonly Mutant[] = [
  { id: 'manifest-before-packs', description: 'Publishes a point\'s manifest before its packs and index file.', area: 'repository', cells: [FILES, SQL], expectedKiller: 'P9', engine: MANIFEST_FIRST },
  { id: 'success-before-durable', description: 'Reports the point stored before its data is durable: renames without fsync, the bytes reach the disk when the writer closes.', area: 'repository', cells: [FILES, SQL], expectedKiller: 'P9', engine: NO_FSYNC },
  { id: 'verify-skips-pack-data', description: 'Verify checks the metadata only and never reads the packs\' data.', area: 'repository', cells: [FILES, SQL], expectedKiller: 'P10', engine: SHALLOW_VERIFY },
  { id: 'prune-drops-shared-chunks', description: 'Prune marks only the chunks the newest point references: packs older kept points still need are swept.', area: 'repository', cells: [FILES, SQL], expectedKiller: 'P15', engine: PRUNE_NEWEST_ONLY },
  { id: 'repair-drops-intact-chunks', description: 'Repair throws away a damaged pack whole and every pack an index file lists with it: intact chunks are lost and points that did not need the damaged pack lose data.', area: 'repository', cells: [FILES, SQL], expectedKiller: 'P19', engine: REPAIR_DROPS_INTACT },
];
