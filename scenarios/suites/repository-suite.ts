/**
 * The repository suite: properties 9 (a crash during a backup), 10 (verify finds every
 * injected corruption), 15 (forget and prune keep the kept points) and 19 (repair saves
 * what can be saved), on one scenario. A cell's VM boots and runs its workload
 * (scenarios/scenario/run.ts); the engine under test opens a repository on an in-memory
 * store through a journal (scenarios/scenario/store-journal.ts) and stores k points (a
 * full, then CBT incrementals), each read back through the engine. Then:
 *
 * - Property 10, on a copy of the store: verify it, flip one byte of one object (config,
 *   index files, packs, manifests: every object but the writer's lock), verify again.
 * - Property 9: one more backup (an incremental from the last point) and the writer's
 *   close, journalled; the store is rebuilt as a crash of the engine (or of the host it
 *   runs on: the store keeps every put that returned, nothing the writer held in memory)
 *   at one of those store calls leaves it; a restarted engine opens it, lists and reads
 *   back every point and verifies it.
 *
 * The arbitrary draws the world and the backups as the backup suite does (no faults: they
 * are that suite's), the crash (which call, modulo the calls the window made; its mode and
 * a torn temporary's length from a seed) and the flip (which object, modulo the objects;
 * which byte, modulo its size; the xor), so fast-check shrinks towards the first call and
 * the first byte of the first object.
 *
 * The repository runs as `quiescelab backup-image` runs it: zstd, chunk workers on (two
 * threads, writerThreads of a 2-core machine: the bytes and the order of the store calls
 * do not depend on the thread count or on which thread answers first), and in half the
 * runs the CLI's chunking and packs (1 MiB chunks, 16 MiB packs). The other half uses
 * small chunks (4 KiB on average) and packs (4 KiB stored), so even an incremental writes
 * a few packs and a full a few tens: places for the crash and the flip to land (the
 * default 1 MiB chunks put a whole 16 MiB disk in one pack).
 *
 * - Property 15, in a share of the runs (drawn; every PRUNE_EVERY-th run of the survey
 *   forces it, so it judges at least a tenth of every cell's runs), on another copy of the
 *   store: `forget --keep-last N` and `prune` as the CLI runs them, then every kept point
 *   read back against its VmSnapshot and verify (repository-prune.ts).
 *
 * - Property 19, in a share of the runs (drawn; runs 2 and 7 of every ten force it, a
 *   truncated and a deleted pack), on another copy of the store damaged one way (P10's
 *   flipped byte, one pack deleted or truncated): `repair` as the CLI runs it, then every
 *   point read back against its VmSnapshot (the lost ranges as zeros), verify, and the
 *   objects left (repository-repair.ts).
 *
 * Leaves out: a host power loss while the engine reads the VmSnapshot (the world's side:
 * the job fails and publishes nothing, which the crash at the window's first call already
 * covers on the repository's side), crashes during prune (test/engine/crash.test.ts),
 * several writers.
 *
 * Cells: the repository does not depend on the guest matrix, so the suite runs on two
 * representative cells only — plain files on Linux (FIFREEZE) and SQL Server on Windows
 * 2019 (VSS), both with Tools of 4.1 — and there with the full number of runs per cell.
 */

import fc from 'fast-check';
import { assert } from '../../core/assert.js';
import type { BackupReport } from '../../engine/backup/job.js';
import { parentFrom } from '../engine-api.js';
import { decodeIndex } from '../../engine/repository/index-file.js';
import { decodeManifest } from '../../engine/repository/manifest.js';
import { packName } from '../../engine/repository/hash.js';
import { writerThreads } from '../../engine/repository/chunk-workers.js';
import { DEFAULT_CODEC } from '../../engine/repository/compression.js';
import type { InitOptions } from '../../engine/repository/repository.js';
import { describeDamage } from '../../engine/repository/verify.js';
import { describeStoreError, TEMP_PREFIX } from '../../engine/store/byte-store.js';
import { LOCK_NAME } from '../../engine/store/lock.js';
import { MemoryStore } from '../../engine/store/memory-store.js';
import { cellId, findCell } from '../cells.js';
import { checkCrashDuringBackup, type CrashRecord, type PointDigests } from '../checkers/crash-during-backup.js';
import { fail } from '../verdict.js';
import { checkRepositoryVerify, type CorruptionRecord, type VerifyRun } from '../checkers/repository-verify.js';
import { scenarioArb } from '../scenario/arbitraries.js';
import type { Engine } from '../engine-api.js';
import { Scenario, type TimelineEvent } from '../scenario/run.js';
import type { ScenarioSpec } from '../scenario/spec.js';
import { StoreJournal } from '../scenario/store-journal.js';
import type { Suite } from './suite.js';
import { checkPruneKeeps, type PruneRecord } from '../checkers/prune-keeps.js';
import { forgetAndPrune, type PrunePlan } from './repository-prune.js';
import { checkRepairSaves, type RepairRecord } from '../checkers/repair-saves.js';
import { damageAndRepair, type RepairDamage, type RepairPlan } from './repository-repair.js';

export const REPOSITORY_CELLS: readonly string[] = ['linux/esx41/files/default', 'win2019/esx41/sqlserver/default'];

export interface RepositorySpec extends ScenarioSpec {
  /** The repository's chunking and packs: the CLI's defaults, or small ones (more places to crash). */
  readonly repository: RepositoryProfile;
  readonly crash: {
    /** The crash strikes store call 1 + callPick % (calls of the window). */
    readonly callPick: number;
    /** The crash's PRNG seed: its mode and a torn temporary's length. */
    readonly seed: number;
  };
  readonly corruption: {
    /** The object: objectPick % objects, in name order. */
    readonly objectPick: number;
    /** The byte: offsetPick % its size. */
    readonly offsetPick: number;
    readonly xor: number;
  };
  /** Property 15's forget and prune (null: not in this run). */
  readonly prune: PrunePlan | null;
  /** Property 19's damage and repair (null: not in this run). */
  readonly repair: RepairPlan | null;
}

/** Every this many survey runs (the first included), property 15's forget and prune run whatever was drawn. */
export const PRUNE_EVERY = 5;
/** Survey runs REPAIR_AT (mod REPAIR_EVERY) repair whatever was drawn: a truncated pack in the first, a deleted one in the second. */
export const REPAIR_EVERY = 5;
export const REPAIR_AT = 2;

function forcedRepair(spec: RepositorySpec, runIndex: number): RepositorySpec {
  if (runIndex % REPAIR_EVERY !== REPAIR_AT || spec.repair !== null) return spec;
  const damage: RepairDamage = Math.floor(runIndex / REPAIR_EVERY) % 2 === 0 ? 'truncate-pack' : 'delete-pack';
  return { ...spec, repair: { damage } };
}

function forcedPrune(spec: RepositorySpec, runIndex: number): RepositorySpec {
  return runIndex % PRUNE_EVERY === 0 && spec.prune === null ? { ...spec, prune: { keepPick: 1 } } : spec;
}

export interface RepositoryRun {
  readonly crash: CrashRecord;
  readonly corruption: CorruptionRecord;
  readonly prune: PruneRecord | null;
  readonly repair: RepairRecord | null;
  /** What happened, for a replay. */
  readonly timeline: readonly TimelineEvent[];
}

export type RepositoryProfile = 'cli' | 'small';

const KiB = 1024;
const REPOSITORY_INIT: Readonly<Record<RepositoryProfile, Omit<InitOptions, 'clock'>>> = {
  cli: { compression: DEFAULT_CODEC },
  small: {
    compression: DEFAULT_CODEC,
    chunker: { minBytes: 2 * KiB, avgBytes: 4 * KiB, maxBytes: 16 * KiB, gearSeed: 7 },
    packTargetBytes: 4 * KiB,
  },
};
/** The chunk worker threads of backup-image on a 2-core machine (the CI's). */
const CHUNK_WORKERS = writerThreads(2);

async function digestsOf(s: Scenario, repo: string, pointId: string): Promise<PointDigests> {
  const read = await s.readBack(repo, pointId);
  return read.ok ? { pointId, digests: read.value.images.map((i) => i.digest()), error: null } : { pointId, digests: null, error: read.error };
}

/**
 * The objects whose damage verify may name instead of `name`'s own (see the checker).
 * White-box: decodes the index files and manifests, as P10 may for an engine declaring 'repository-format:quiescelab/1'.
 */
function dependents(store: Map<string, Uint8Array>): Map<string, string[]> {
  const chunkIndexFiles = new Map<string, string[]>();
  const out = new Map<string, string[]>();
  const add = (object: string, dependent: string): void => {
    const list = out.get(object) ?? [];
    if (!list.includes(dependent)) list.push(dependent);
    out.set(object, list);
  };
  const chunkPacks = new Map<string, string>();
  for (const [name, bytes] of store) {
    if (!name.startsWith('index/')) continue;
    const packs = decodeIndex(bytes);
    if (!packs.ok) continue; // damaged before the flip (a broken engine): the clean verify names it
    for (const p of packs.value) {
      add(packName(p.packId), name);
      for (const b of p.blobs) {
        chunkPacks.set(b.chunkId, packName(p.packId));
        chunkIndexFiles.set(b.chunkId, [...chunkIndexFiles.get(b.chunkId) ?? [], name]);
      }
    }
  }
  for (const [name, bytes] of store) {
    if (!name.startsWith('points/')) continue;
    const manifest = decodeManifest(bytes);
    if (!manifest.ok) continue;
    for (const disk of manifest.value.disks) {
      for (const e of disk.extents) {
        const pack = chunkPacks.get(e.chunkId);
        if (pack !== undefined) add(pack, name);
        for (const index of chunkIndexFiles.get(e.chunkId) ?? []) add(index, name);
      }
    }
  }
  return out;
}

async function verifyRun(engine: Engine, store: MemoryStore): Promise<VerifyRun> {
  const report = await engine.verify(store);
  return report.ok
    ? { error: null, damages: report.value.damages.map((d) => ({ object: d.object, text: describeDamage(d) })) }
    : { error: describeStoreError(report.error), damages: [] };
}

/** Property 10's part: verify, flip one byte of one object, verify again (on `store`, a copy). */
async function corrupt(engine: Engine, store: MemoryStore, plan: RepositorySpec['corruption']): Promise<CorruptionRecord> {
  const clean = await verifyRun(engine, store);
  // White-box: the objects by the repository format's names (the writer's lock, temporaries), as P10 may for 'repository-format:quiescelab/1'.
  const objects = new Map<string, Uint8Array>();
  for (const n of store.allNames()) {
    if (n === LOCK_NAME || n.startsWith(TEMP_PREFIX)) continue;
    const bytes = await store.get(n);
    assert(bytes.ok, `object ${n} reads`);
    objects.set(n, bytes.value);
  }
  // An empty object has no byte to flip (only a broken engine leaves one; the clean verify names it).
  const names = [...objects.keys()].filter((n) => (objects.get(n) as Uint8Array).length > 0);
  if (names.length === 0) return { objects: 0, target: null, clean, corrupted: clean };
  const name = names[plan.objectPick % names.length] as string;
  const bytes = objects.get(name) as Uint8Array;
  const offsetBytes = plan.offsetPick % bytes.length;
  const flipped = bytes.slice();
  flipped[offsetBytes] = (flipped[offsetBytes] as number) ^ plan.xor;
  const put = await store.put(name, flipped);
  assert(put.ok, `object ${name} rewritten`);
  const corrupted = await verifyRun(engine, store);
  return {
    objects: names.length,
    target: { name, sizeBytes: bytes.length, offsetBytes, xor: plan.xor, dependents: dependents(objects).get(name) ?? [] },
    clean, corrupted,
  };
}

const NO_VERIFY: CrashRecord['verify'] = { error: null, damages: [], garbage: { unindexedPacks: 0, unreferencedChunks: 0, tempObjects: 0 } };

/**
 * Property 9's part: one more backup (an incremental from the last point) and the writer's
 * close in the journal's window, the store a crash at one of its calls leaves, and what a
 * restarted engine finds there.
 */
async function crashDuringBackup(s: Scenario, repo: string, journal: StoreJournal, from: { readonly index: number; readonly earlier: readonly PointDigests[]; readonly parent: BackupReport | undefined }, plan: RepositorySpec['crash']): Promise<CrashRecord> {
  const engine = s.engine;
  journal.open();
  const { run } = await s.backup(repo, from.index, from.parent === undefined ? null : parentFrom(from.parent));
  const callsBeforeAck = journal.calls;
  const crashed = run.pointId === null ? null : await digestsOf(s, repo, run.pointId);
  const closed = await engine.closeRepository(repo);
  if (!closed.ok) s.note('backup', `the writer's close failed: ${closed.error}`);
  const windowCalls = journal.close().length;
  const record = { earlier: from.earlier, crashed, windowCalls, callsBeforeAck };
  if (windowCalls === 0) return { ...record, crash: null, reopenError: null, listed: [], verify: NO_VERIFY };
  const after = await journal.crashAt(1 + plan.callPick % windowCalls, plan.seed);
  const crash = { call: after.call, operation: after.operation, name: after.name, mode: after.mode };
  s.note('fault', `the engine crashes at store call ${after.call} of ${windowCalls} (${after.operation} ${after.name}, ${after.mode})`);
  const reader = await engine.openRepository(after.store, s.hv.sim.clock, {});
  if (!reader.ok) return { ...record, crash, reopenError: reader.error, listed: [], verify: NO_VERIFY };
  const points = await engine.listPoints(reader.value);
  const listed: PointDigests[] = [];
  if (points.ok) for (const p of points.value) listed.push(await digestsOf(s, reader.value, p.id));
  const report = await engine.verify(after.store);
  const verify = report.ok
    ? {
      error: null, damages: report.value.damages.map(describeDamage),
      garbage: { unindexedPacks: report.value.garbage.unindexedPacks.length, unreferencedChunks: report.value.garbage.unreferencedChunks, tempObjects: report.value.garbage.tempObjects.length },
    }
    : { ...NO_VERIFY, error: describeStoreError(report.error) };
  s.note('restore', `a restarted engine lists ${listed.length} point(s); verify names ${verify.damages.length} damage(s)`);
  return { ...record, crash, reopenError: points.ok ? null : `listing the points: ${points.error}`, listed, verify };
}

export const REPOSITORY_SUITE: Suite<RepositorySpec, RepositoryRun> = {
  id: 'repository',
  appliesTo: (cell) => REPOSITORY_CELLS.includes(cellId(cell)),
  // P9, P10, P15 and P19 look inside the stored repository (its index, manifests, packs).
  needs: () => ['backup', 'verify', 'forget', 'prune', 'repair', 'repository-format:quiescelab/1'],
  runsFor: (runs) => runs,
  arbitrary: (cell) => fc.record({
    base: scenarioArb(cellId(cell), { override: { fault: fc.constant({ kind: 'none' as const }) } }),
    repository: fc.constantFrom<RepositoryProfile>('small', 'cli'),
    crash: fc.record({ callPick: fc.nat(), seed: fc.nat(0xffff) }),
    corruption: fc.record({ objectPick: fc.nat(), offsetPick: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
    prune: fc.option(fc.record({ keepPick: fc.nat(7) }), { freq: 2 }),
    repair: fc.option(fc.record({ damage: fc.constantFrom<RepairDamage>('flip', 'truncate-pack', 'delete-pack') }), { freq: 2 }),
  }).map(({ base, repository, crash, corruption, prune, repair }) => ({ ...base, repository, crash, corruption, prune, repair })),
  forRun: (spec, runIndex) => forcedRepair(forcedPrune(spec, runIndex), runIndex),
  forProperty: (spec, propertyId) => {
    if (propertyId === 'P15' && spec.prune === null) return { ...spec, prune: { keepPick: 1 } };
    if (propertyId === 'P19' && spec.repair === null) return { ...spec, repair: { damage: 'truncate-pack' } };
    return spec;
  },
  async run(spec, engine) {
    const cell = findCell(spec.cellId);
    assert(cell !== undefined, `unknown cell ${spec.cellId}`);
    const s = new Scenario(spec, cell, engine, undefined);
    let opened: string | undefined;
    try {
      await s.warmUp();
      const journal = new StoreJournal(new MemoryStore());
      const repo = await s.openRepository(journal, REPOSITORY_INIT[spec.repository], CHUNK_WORKERS);
      opened = repo;
      const { reports, runs } = await s.backups(repo);
      const earlier: PointDigests[] = [];
      for (const run of runs) if (run.pointId !== null) earlier.push(await digestsOf(s, repo, run.pointId));
      const flipped = journal.inner.clone();
      const corruption = await corrupt(engine, flipped, spec.corruption);
      const t = corruption.target;
      if (t !== null) s.note('fault', `on a copy of the store: byte ${t.offsetBytes} of ${t.name} flipped; verify names ${corruption.corrupted.damages.length} damage(s)`);
      const prune = spec.prune === null ? null : await forgetAndPrune(s, journal.inner.clone(), runs, spec.prune);
      const repair = spec.repair === null ? null : await damageAndRepair(s, journal.inner, { store: flipped, object: t?.name ?? null }, runs, spec.repair, spec.corruption);
      const crash = await crashDuringBackup(s, repo, journal, { index: runs.length, earlier, parent: reports.filter((r) => r !== null).at(-1) }, spec.crash);
      return { crash, corruption, prune, repair, timeline: s.timeline };
    } finally {
      // The writer was closed in the crash window; after a failure before it, its chunk
      // workers end here (a second close of the handle is refused, and its result is not needed).
      if (opened !== undefined) await engine.closeRepository(opened).catch(() => undefined);
      s.hv.dispose();
    }
  },
  describe: (spec) => spec,
  timeline: (run) => run.timeline,
  properties: [
    {
      id: 'P9', name: 'a crash during a backup',
      description: 'A crash of the engine or host during a backup leaves every earlier RecoveryPoint restorable and no partial point visible.',
      applies: () => true,
      check: (_cell, _spec, run) => checkCrashDuringBackup(run.crash),
    },
    {
      id: 'P10', name: 'verify finds corruption',
      description: 'The repository\'s verify finds every injected corruption.',
      applies: () => true,
      check: (_cell, _spec, run) => checkRepositoryVerify(run.corruption),
    },
    {
      id: 'P15', name: 'prune keeps the kept points',
      description: 'After forget --keep-last N and prune (as the CLI runs them), every kept point reads back equal to its VmSnapshot, verify (reading every pack) finds nothing, every forgotten point is gone, and prune freed what only the forgotten points used, as it reports.',
      applies: (_cell, spec) => spec.prune !== null,
      check: (_cell, _spec, run) => (run.prune === null ? fail('the run did not forget and prune') : checkPruneKeeps(run.prune)),
    },
    {
      id: 'P19', name: 'repair saves what can be saved',
      description: 'After one object of a copy of the repository is damaged (a flipped byte, a deleted or truncated pack) and repair runs as the CLI runs it: verify finds no damage left; every point that needed nothing lost reads back equal to its VmSnapshot; a point that lost chunks is rewritten, marked by repair with what it lost, its lost ranges read as zeros and its other bytes equal; nothing intact was deleted.',
      applies: (_cell, spec) => spec.repair !== null,
      check: (_cell, _spec, run) => (run.repair === null ? fail('the run did not repair') : checkRepairSaves(run.repair)),
    },
  ],
};
