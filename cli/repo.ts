/**
 * The repository maintenance commands, for a repository folder made by backup-image
 * (restic's and borg's words):
 *
 *   quiescelab points --repo DIR [--json]
 *   quiescelab forget --repo DIR (--point ID ... | --keep-last N) [--dry-run] [--prune]
 *   quiescelab prune --repo DIR
 *   quiescelab repair --repo DIR
 *
 * points lists the RecoveryPoints, oldest first (a point repair rewrote is marked). forget
 * removes points (manifests) only: ids or unique prefixes of 6+ hex digits, or all but the
 * newest N of each source file; the data stays until prune (forget.ts says why a parent
 * may go). prune removes the packs and index entries no point references, repacking packs
 * that are partly used (prune.ts). repair rebuilds the index from the packs, moves what
 * cannot be read to damaged/, rewrites the points that lost chunks and says which lost
 * what (repair.ts). Each writing command takes the writer lock (a lock whose process on
 * this host is gone is stale at once) and is crash-safe: a kill at any instant loses no
 * point and shows no partial one; the next run finishes the job.
 *
 * Exit codes: 0 done; 1 damage: repair lost data (which, one line per point), or prune
 * refused because the repository is damaged (run repair); 2 bad usage or input (one line
 * naming the option: a malformed or unknown id, a missing folder, not a repository, a
 * repository locked by a live writer).
 *
 * Leaves out: keep-daily/weekly policies, tags, and a repair that reads packs from a
 * second copy of the repository.
 */

import { stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { Clock } from '../core/clock.js';
import { forget, sourceOf, type ForgetReport } from '../engine/repository/forget.js';
import type { RecoveryPointId } from '../engine/repository/hash.js';
import { prune, type PruneReport } from '../engine/repository/prune.js';
import { repairLostData, repairRepository, type DiskLoss, type PointRepair, type RepairReport } from '../engine/repository/repair.js';
import { describeRepoError, Repository, type PointSummary, type RepoError } from '../engine/repository/repository.js';
import { describeDamage, verifyRepository } from '../engine/repository/verify.js';
import { describeStoreError } from '../engine/store/byte-store.js';
import { LocalDirStore } from '../engine/store/local-dir-store.js';
import type { LockRecord } from '../engine/store/lock.js';
import { oneLine, parseIntOption, UsageError } from './errors.js';

const MiB = 1024 * 1024;
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;
const short = (id: string): string => id.slice(0, 12);
const codeOf = (error: unknown): string => (error as NodeJS.ErrnoException).code ?? String(error);
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The real clock, in whole microseconds, never going back. */
export class RealClock implements Clock {
  private lastUs = 0;
  nowUs(): number {
    this.lastUs = Math.max(this.lastUs, Date.now() * 1000);
    return this.lastUs;
  }
}

/** A lock left by a dead process on this host is stale at once (not only after 30 minutes). */
export function holderIsDead(record: LockRecord): boolean {
  const { host, pid } = record.attributes;
  if (host !== hostname() || typeof pid !== 'number' || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return codeOf(error) === 'ESRCH';
  }
}

/** This process as the writer lock's owner. */
export function cliWriter(): { owner: string; attributes: { host: string; pid: number }; isStale: (r: LockRecord) => boolean } {
  return { owner: `${hostname()}:${process.pid}`, attributes: { host: hostname(), pid: process.pid }, isStale: holderIsDead };
}

/** The store of an existing repository folder (exit 2 when it is not one); a damaged config still counts as one. */
export async function openRepositoryFolder(dir: string): Promise<LocalDirStore> {
  const info = await stat(dir).catch((error: unknown) => {
    if (codeOf(error) === 'ENOENT') throw new UsageError(`--repo: '${dir}' does not exist`);
    throw new UsageError(`--repo: cannot read '${dir}': ${codeOf(error)}`);
  });
  if (!info.isDirectory()) throw new UsageError(`--repo: '${dir}' is not a folder`);
  const tag = `${hostname().replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40)}-${process.pid}`;
  const store = await LocalDirStore.open(dir, { create: false, tempTag: tag });
  if (!store.ok) throw new UsageError(`--repo: ${describeStoreError(store.error)}`);
  const marks = await Promise.all(['config', 'packs', 'index', 'points'].map(async (n) => (await stat(join(dir, n)).catch(() => undefined)) !== undefined));
  if (!marks.some(Boolean)) throw new UsageError(`--repo: '${dir}' is not a quiescelab repository (no config object)`);
  return store.value;
}

/** A repository error as the one-line usage error naming `option`. */
export function repoFailure(error: RepoError, option = '--repo'): never {
  throw new UsageError(`${option}: ${describeRepoError(error)}`);
}

/** Opens the repository in `dir`, as the writer when `write`; runs `body`; releases the lock. */
async function withRepository<T>(dir: string, write: boolean, body: (repo: Repository) => Promise<T>): Promise<T> {
  const store = await openRepositoryFolder(dir);
  const opened = await Repository.open(store, { clock: new RealClock(), ...(write ? { writer: cliWriter() } : {}) });
  if (!opened.ok) repoFailure(opened.error);
  try {
    return await body(opened.value);
  } finally {
    await opened.value.close();
  }
}

// ---- points ----

interface RepairAttribute {
  readonly originalId?: string;
  readonly lostChunks?: number;
  readonly lostBytes?: number;
}

function pointLine(p: PointSummary): string {
  const mapped = p.disks.reduce((s, d) => s + d.mappedBytes, 0);
  const capacity = p.disks.reduce((s, d) => s + d.capacityBytes, 0);
  const repair = p.meta.attributes.repair as RepairAttribute | undefined;
  const mark = repair === undefined ? '' : `  DAMAGED: repair lost ${plural(repair.lostChunks ?? 0, 'chunk')} (${mib(repair.lostBytes ?? 0)} now read as zeros; was ${short(repair.originalId ?? '')})`;
  const when = new Date(Math.floor(p.committedAtUs / 1000)).toISOString();
  return `#${p.sequence}  ${short(p.id)}  ${when}  ${p.meta.claimedLevel.padEnd(12)}  ${capacity} bytes (${mib(mapped)} mapped)  ${sourceOf(p)}${mark}`;
}

async function pointsCommand(options: { readonly repo: string; readonly json?: boolean }): Promise<void> {
  const dir = resolve(options.repo);
  await withRepository(dir, false, async (repo) => {
    const points = await repo.listPoints();
    if (!points.ok) repoFailure(points.error);
    if (options.json === true) {
      for (const p of points.value) process.stdout.write(`${JSON.stringify({ ...p, damaged: p.meta.attributes.repair !== undefined })}\n`);
      return;
    }
    const lines = points.value.map(pointLine);
    lines.push(`${plural(points.value.length, 'point')} in ${dir}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  });
}

// ---- forget ----

interface ForgetOptions {
  readonly repo: string;
  readonly point?: readonly string[];
  readonly keepLast?: string;
  readonly dryRun?: boolean;
  readonly prune?: boolean;
}

/** The full ids of --point values (each checked before anything is removed). */
async function resolveIds(repo: Repository, dir: string, raw: readonly string[]): Promise<RecoveryPointId[]> {
  const ids: RecoveryPointId[] = [];
  for (const value of raw) {
    const prefix = value.trim().toLowerCase();
    if (!/^[0-9a-f]{6,64}$/.test(prefix)) throw new UsageError(`--point: '${value}' is not a RecoveryPoint id (6 to 64 hex digits)`);
    const id = await repo.resolvePoint(prefix);
    if (!id.ok) {
      if (id.error.kind === 'unknown-point') throw new UsageError(`--point: no recovery point '${value}' in ${dir}`);
      repoFailure(id.error, '--point');
    }
    ids.push(id.value);
  }
  return ids;
}

function forgetLines(r: ForgetReport, dir: string, dryRun: boolean, all: readonly PointSummary[]): string[] {
  const verb = dryRun ? 'would remove' : 'removed';
  const byId = new Map(all.map((p) => [p.id, p]));
  const lines = [`forget ${dir}: ${verb} ${plural(r.removed.length, 'point')}, ${r.kept.length} kept`];
  for (const id of r.removed) {
    const p = byId.get(id);
    lines.push(`${verb} ${short(id)}${p === undefined ? ' (a damaged manifest)' : ` (#${p.sequence}, ${sourceOf(p)})`}`);
  }
  if (r.childrenOfRemoved.length > 0) {
    lines.push(`${r.childrenOfRemoved.map(short).join(', ')} named a removed point as parent: every manifest is self-contained, ${r.childrenOfRemoved.length === 1 ? 'it restores' : 'they restore'} as before`);
  }
  if (r.logRecordsOfRemoved > 0) lines.push(`${plural(r.logRecordsOfRemoved, 'log record')} belong to removed points' chains: prune removes them`);
  return lines;
}

async function forgetCommand(options: ForgetOptions): Promise<void> {
  const dir = resolve(options.repo);
  const points = options.point ?? [];
  if (points.length > 0 && options.keepLast !== undefined) throw new UsageError('--point and --keep-last: give one of them');
  if (points.length === 0 && options.keepLast === undefined) throw new UsageError('--point or --keep-last: say which points to forget');
  const keepLast = options.keepLast === undefined ? undefined : parseIntOption('--keep-last', options.keepLast, 1, 1_000_000);
  await withRepository(dir, options.dryRun !== true, async (repo) => {
    const ids = await resolveIds(repo, dir, points);
    const all = await repo.listPoints();
    if (!all.ok) repoFailure(all.error);
    const dryRun = options.dryRun === true;
    const done = await forget(repo, keepLast === undefined ? { ids } : { keepLast }, { dryRun });
    if (!done.ok) repoFailure(done.error);
    const lines = forgetLines(done.value, dir, dryRun, all.value);
    if (dryRun) {
      process.stdout.write(`${lines.join('\n')}\n`);
      return;
    }
    if (options.prune === true) lines.push(...(await pruneLines(repo, dir)));
    else if (done.value.removed.length > 0) lines.push(`no data was removed: \`quiescelab prune --repo ${dir}\` frees what no remaining point needs`);
    process.stdout.write(`${lines.join('\n')}\n`);
  });
}

// ---- prune ----

function describePrune(r: PruneReport, dir: string): string[] {
  return [
    `prune ${dir}: ${plural(r.pointsKept.length, 'point')} kept${r.pointsRemoved.length > 0 ? `, ${r.pointsRemoved.length} removed` : ''}${r.logRecordsRemoved.length > 0 ? `, ${plural(r.logRecordsRemoved.length, 'log record')} removed` : ''}`,
    `removed ${plural(r.blobsRemoved, 'unreferenced blob')}: ${plural(r.packsDeleted, 'pack')} deleted, ${r.packsRepacked} repacked into ${plural(r.packsWritten, 'new pack')}; ${plural(r.indexFilesReplaced, 'index file')} replaced by 1; ${plural(r.tempObjectsRemoved, 'temp object')} removed`,
    `freed ${mib(Math.max(0, r.bytesFreed))}`,
  ];
}

/** Prunes (the lock is held by `repo`); a damaged repository exits 1 with the problems. */
async function pruneLines(repo: Repository, dir: string): Promise<string[]> {
  const pruned = await prune(repo, { keepAll: true });
  if (pruned.ok) return describePrune(pruned.value, dir);
  if (pruned.error.kind !== 'damaged') repoFailure(pruned.error);
  process.exitCode = 1;
  return [...pruned.error.problems.map((p) => `damaged: ${p}`), `prune refused, the repository is damaged (nothing was removed): run \`quiescelab repair --repo ${dir}\``];
}

async function pruneCommand(options: { readonly repo: string }): Promise<void> {
  const dir = resolve(options.repo);
  await withRepository(dir, true, async (repo) => {
    const lines = await pruneLines(repo, dir);
    process.stdout.write(`${lines.join('\n')}\n`);
  });
}

// ---- repair ----

function rangesText(loss: DiskLoss): string {
  const shown = loss.ranges.slice(0, 4).map(([a, b]) => `[${a}, ${b})`).join(', ');
  return `${shown}${loss.ranges.length > 4 ? ` and ${loss.ranges.length - 4} more` : ''}`;
}

function pointRepairLine(p: PointRepair): string {
  if (p.kind === 'unreadable') return `point ${short(p.object.slice('points/'.length))}: LOST whole: its manifest ${p.object} is unreadable (${p.reason}); moved to ${p.movedTo}`;
  const disks = p.disks.map((d) => `disk ${d.diskId} lost ${plural(d.chunks, 'chunk')}, ${d.bytes} bytes at ${rangesText(d)}`).join('; ');
  return `point ${short(p.id)} (#${p.sequence}, ${p.vmId}): DAMAGED: ${disks}; rewritten as ${short(p.newId)} (those bytes read as zeros, claim inconsistent); the original manifest is in ${p.movedTo}`;
}

function packLines(r: RepairReport): string[] {
  const p = r.packs;
  const lines = [`packs: ${p.read} read (${mib(p.bytesRead)}), ${p.intact} intact, ${p.damaged.length} damaged${p.missing.length > 0 ? `, ${p.missing.length} listed by the index but missing` : ''}`];
  for (const d of p.damaged) {
    const lost = d.lost.length === 0 ? 'no blob lost' : `${plural(d.lost.length, 'blob')} lost (${d.lost.slice(0, 2).map((l) => `${short(l.chunkId)}: ${l.reason}`).join('; ')}${d.lost.length > 2 ? '; …' : ''})`;
    const copied = d.copiedInto.length === 0 ? '' : `, ${plural(d.blobsSalvaged, 'good blob')} copied into ${d.copiedInto.join(', ')}`;
    lines.push(`damaged pack ${d.object}: ${d.reason}; ${lost}${copied}; the damaged bytes are in ${d.movedTo ?? '?'}`);
  }
  for (const m of p.missing) lines.push(`missing pack ${m}: listed by an index file, not in packs/`);
  return lines;
}

function describeRepair(r: RepairReport, dir: string): string[] {
  const lines = [`repair ${dir}`];
  if (r.lockCleared !== null) lines.push(`lock: locks/writer did not decode (${r.lockCleared}): removed`);
  lines.push(r.config.state === 'intact' ? 'config: intact' : `config: ${r.config.reason ?? 'damaged'}: ${r.config.state === 'rebuilt-from-its-line' ? 'rewritten from its own JSON line' : 'rewritten with the default chunker and codec (reads are unaffected; later backups may dedup less against older chunks)'}`);
  lines.push(...packLines(r));
  const ix = r.index;
  lines.push(`index: ${plural(ix.filesBefore, 'index file')} (${ix.damagedFiles} damaged) ${ix.written ? 'replaced by' : 'kept as'} ${ix.file ?? '(none: no packs)'}: ${plural(ix.packs, 'pack')}, ${plural(ix.blobs, 'blob')}`);
  lines.push(...r.points.repaired.map(pointRepairLine));
  lines.push(`points: ${r.points.checked} checked, ${r.points.checked - r.points.repaired.length} intact, ${r.points.repaired.length} lost data`);
  for (const l of r.logRecords.movedAside) lines.push(`log record ${l.object}: LOST: ${l.reason}; moved to ${l.movedTo}`);
  if (r.logRecords.checked > 0) lines.push(`log records: ${r.logRecords.checked} checked, ${r.logRecords.movedAside.length} lost`);
  if (r.tempObjectsRemoved > 0) lines.push(`temps: ${r.tempObjectsRemoved} removed`);
  return lines;
}

async function repairCommand(options: { readonly repo: string }): Promise<void> {
  const dir = resolve(options.repo);
  const store = await openRepositoryFolder(dir);
  const repaired = await repairRepository(store, { clock: new RealClock(), ...cliWriter() });
  if (!repaired.ok) repoFailure(repaired.error);
  const lines = describeRepair(repaired.value, dir);
  // Self-check: the metadata as verify sees it (the packs were all read just now).
  const check = await verifyRepository(store, { readData: false });
  if (!check.ok) throw new UsageError(`--repo: ${describeStoreError(check.error)}`);
  lines.push(...check.value.damages.map((d) => `still damaged: ${describeDamage(d)}`));
  const lost = repairLostData(repaired.value);
  if (check.value.damages.length > 0) lines.push('repair could not make the repository sound: see the lines above');
  else lines.push(lost ? 'data lost: see the points above; the repository is sound again (verify passes)' : 'no data lost: the repository is sound (verify passes)');
  // Reasons quote damaged bytes (a garbage lock's text): one line each whatever they hold.
  process.stdout.write(`${lines.map(oneLine).join('\n')}\n`);
  process.exitCode = lost || check.value.damages.length > 0 ? 1 : 0;
}

export function registerRepo(program: Command): void {
  program
    .command('points')
    .description('list the RecoveryPoints of a repository, oldest first (damaged ones marked)')
    .requiredOption('--repo <dir>', 'the repository folder')
    .option('--json', 'one JSON line per point')
    .action((options: { repo: string; json?: boolean }) => pointsCommand(options));
  program
    .command('forget')
    .description('remove RecoveryPoints (not their data: prune frees it)')
    .requiredOption('--repo <dir>', 'the repository folder')
    .option('--point <id...>', 'the points to remove (ids or unique prefixes of 6+ hex digits)')
    .option('--keep-last <n>', 'keep the newest N points of each source file, remove the others')
    .option('--dry-run', 'say what would be removed, remove nothing')
    .option('--prune', 'prune afterwards')
    .action((options: ForgetOptions) => forgetCommand(options));
  program
    .command('prune')
    .description('remove the packs and index entries no RecoveryPoint references (repacking partly used packs)')
    .requiredOption('--repo <dir>', 'the repository folder')
    .action((options: { repo: string }) => pruneCommand(options));
  program
    .command('repair')
    .description('rebuild the index from the packs, set damaged objects aside, rewrite points that lost data; exit 1 when data was lost')
    .requiredOption('--repo <dir>', 'the repository folder')
    .action((options: { repo: string }) => repairCommand(options));
}
