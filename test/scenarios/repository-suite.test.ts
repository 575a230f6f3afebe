/**
 * The repository suite: properties 9 and 10 hold for quiescelab's engine on its two cells,
 * and each fails, with a shrunk counterexample and a replay token, for an engine broken
 * the way the property describes: a store that publishes a manifest before its packs, a
 * store that renames without fsync (the data reaches the disk when the writer closes), a
 * verify that reads no pack data. The crash journal rebuilds exactly what a crash at a
 * store call leaves.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { createPrng } from '../../core/prng.js';
import { unwrap } from '../../core/result.js';
import type { ByteStore } from '../../engine/store/byte-store.js';
import { CrashError, CrashingStore } from '../../engine/store/crash-store.js';
import { MemoryStore } from '../../engine/store/memory-store.js';
import { findCell, selectCells, cellId } from '../../scenarios/cells.js';
import { replay } from '../../scenarios/replay.js';
import { decodeReplayToken } from '../../scenarios/replay-token.js';
import { runCell, type PropertyResult } from '../../scenarios/runner.js';
import { QUIESCELAB_ENGINE, type EngineUnderTest } from '../../scenarios/scenario/engine.js';
import { builtinEngine } from '../../scenarios/engine-builtin.js';
import type { Engine } from '../../scenarios/engine-api.js';
import { StoreJournal } from '../../scenarios/scenario/store-journal.js';
import { REPOSITORY_CELLS, REPOSITORY_SUITE, type RepositorySpec } from '../../scenarios/suites/repository-suite.js';
import { REPOSITORY_MUTANT_ENGINES } from '../../scenarios/mutants/repository-mutants.js';
import { prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';

function cell(id: string) {
  const c = findCell(id);
  if (c === undefined) throw new Error(`no cell ${id}`);
  return c;
}

const FILES = 'linux/esx41/files/default';
const SQL = 'win2019/esx41/sqlserver/default';

const { MANIFEST_FIRST, NO_FSYNC, SHALLOW_VERIFY } = REPOSITORY_MUTANT_ENGINES;

async function killed(eut: EngineUnderTest, id: 'P9' | 'P10', runs: number): Promise<PropertyResult> {
  const engine = builtinEngine(eut);
  const r = await runCell(cell(FILES), { runs, seed: 7, engine, suites: [REPOSITORY_SUITE], shrinkBudget: 15 });
  const p = r.properties.find((x) => x.id === id);
  if (p === undefined) throw new Error(`no ${id}`);
  expect(p.pass, `${eut.name} survived ${id}`).toBe(false);
  expect(p.counterexample).not.toBeNull();
  expect(p.replay).not.toBeNull();
  const token = decodeReplayToken(p.replay ?? '');
  if (!token.ok) throw new Error(token.error);
  expect(token.value).toMatchObject({ cell: FILES, suite: 'repository', property: id, runs });
  const again = await replay(token.value, { resolve: () => engine });
  expect(again.ok && again.value.spec).toEqual(p.counterexample);
  expect(again.ok && again.value.verdict).toEqual({ valid: false, evidence: p.evidence });
  return p;
}

describe('the repository suite', () => {
  beforeAll(async () => { await prepareDefaultApps(); });

  it('applies to its two representative cells only', () => {
    expect(selectCells().filter((c) => REPOSITORY_SUITE.appliesTo(c)).map(cellId).sort()).toEqual([...REPOSITORY_CELLS].sort());
  });

  it('runs the repository as backup-image does (zstd, chunk workers, CLI chunking in some runs), one seed one outcome', async () => {
    const runs: RepositorySpec[] = [];
    // Recorded, not expected inside the engine: a failed expect there would only make the run throw.
    const writers: { owner: string; workers: number | undefined; codec: string }[] = [];
    const checking: EngineUnderTest = {
      ...QUIESCELAB_ENGINE,
      openRepository: async (store, options) => {
        const opened = await QUIESCELAB_ENGINE.openRepository(store, options);
        if (opened.ok && opened.value.isWriter) writers.push({ owner: options.writer?.owner ?? '', workers: options.compressionInFlight, codec: opened.value.codec.codec });
        return opened;
      },
    };
    const engine = builtinEngine(checking);
    const suite = { ...REPOSITORY_SUITE, run: (spec: RepositorySpec, e: Engine) => { runs.push(spec); return REPOSITORY_SUITE.run(spec, e); } };
    const once = await runCell(cell(SQL), { runs: 6, seed: 11, engine, suites: [suite] });
    expect(new Set(runs.map((r) => r.repository))).toEqual(new Set(['cli', 'small']));
    for (const p of once.properties) expect(p.failures + p.unknown, `${p.id}: ${p.evidence ?? ''}`).toBe(0);
    // The backups' writer runs chunk workers as backup-image does; forget's writer runs none, as the CLI's.
    const backupWriters = writers.filter((w) => w.owner === 'scenario');
    expect(backupWriters).toHaveLength(6);
    for (const w of backupWriters) expect(w.workers).toBeGreaterThanOrEqual(2);
    for (const w of writers) expect(w.codec).toBe('zstd');
    const twice = await runCell(cell(SQL), { runs: 6, seed: 11, engine, suites: [suite] });
    expect(JSON.stringify(twice)).toBe(JSON.stringify(once));
  });

  it.each(REPOSITORY_CELLS)('properties 9, 10, 15 and 19 hold for quiescelab on %s', async (id) => {
    const r = await runCell(cell(id), { runs: 6, seed: 7, suites: [REPOSITORY_SUITE] });
    expect(r.properties.map((p) => p.id)).toEqual(['P9', 'P10', 'P15', 'P19']);
    for (const p of r.properties) {
      // P15 and P19 run in a share of the runs (every fifth at least: P15 runs 0 and 5 of 6, P19 run 2).
      if (p.id === 'P15') expect(p.runs).toBeGreaterThanOrEqual(2);
      else if (p.id === 'P19') expect(p.runs).toBeGreaterThanOrEqual(1);
      else expect(p.runs).toBe(6);
      expect(p.failures + p.unknown, `${p.id}: ${p.evidence ?? ''}`).toBe(0);
    }
  });

  it('P9 fails when the manifest is published before its packs (a partial point is visible)', async () => {
    const p = await killed(MANIFEST_FIRST, 'P9', 8);
    expect(p.evidence).toMatch(/listed but partial/);
  });

  it('P9 fails when objects are renamed into place before their bytes are durable', async () => {
    const p = await killed(NO_FSYNC, 'P9', 4);
    expect(p.evidence).toMatch(/earlier point \w+ (is no longer listed|no longer reads back)/);
  });

  it('P10 fails for a verify that reads no pack data', async () => {
    const p = await killed(SHALLOW_VERIFY, 'P10', 16);
    expect(p.evidence).toMatch(/^flipped byte \d+ of packs\/.*verify found nothing/);
  });
});

describe('the crash journal', () => {
  it('rebuilds, for every call of a window, the store a CrashingStore leaves', async () => {
    const calls = async (store: ByteStore): Promise<void> => {
      unwrap(await store.put('packs/aa/one', new Uint8Array([1, 2, 3, 4])));
      unwrap(await store.put('index/two', new Uint8Array([5, 6])));
      unwrap(await store.delete('packs/aa/one'));
      await store.putExclusive('locks/writer', new Uint8Array([7]));
    };
    const seeded = new MemoryStore();
    unwrap(await seeded.put('config', new Uint8Array([9])));
    const journal = new StoreJournal(seeded.clone());
    journal.open();
    await calls(journal);
    expect(journal.close().map((c) => `${c.operation} ${c.name}`)).toEqual(['put packs/aa/one', 'put index/two', 'delete packs/aa/one', 'putExclusive locks/writer']);
    for (let call = 1; call <= 4; call++) {
      for (const seed of [0, 1, 2, 3, 4, 5]) {
        const direct = seeded.clone();
        await expect(calls(new CrashingStore(direct, { crashAtCall: call, prng: createPrng(seed) }))).rejects.toThrow(CrashError);
        const rebuilt = await journal.crashAt(call, seed);
        expect(rebuilt.store.allNames(), `call ${call} seed ${seed}`).toEqual(direct.allNames());
        for (const name of direct.allNames()) expect(unwrap(await rebuilt.store.get(name))).toEqual(unwrap(await direct.get(name)));
      }
    }
  });
});
