/**
 * The raw-image commands: back up, restore and verify a real raw disk image file with the
 * engine's repository in a local folder, so the engine can be used and measured on real
 * data beside other tools.
 *
 *   quiescelab backup-image FILE --repo DIR [--json] [--zstd-level N | --brotli-quality N]
 *   quiescelab restore-image --repo DIR --point ID --to FILE [--force]
 *   quiescelab verify --repo DIR [--metadata-only]
 *
 * backup-image creates the repository when DIR is missing or an empty folder. A second
 * backup of the same path is an incremental of the newest point of that path: the file is
 * read whole (a plain file has no changed block tracking) and chunks already stored are
 * reused. Its last line of output is the new RecoveryPoint's id; --json prints the details
 * as one JSON line before it. restore-image writes a sparse file next to --to and renames
 * it over --to only when the restore succeeded (so a failed restore loses nothing).
 *
 * Exit codes: 0 done (verify: no damage), 1 damage found (verify, or a restore that met a
 * damaged chunk; one line per damage), 2 bad usage or input (one line naming the option
 * or value; nothing stored is touched).
 */

import { constants as fsConstants } from 'node:fs';
import { open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { availableParallelism, hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { DiskId } from '../core/ids.js';
import { err, ok, type Result } from '../core/result.js';
import { LEVEL_RANGE, type CodecSettings } from '../engine/repository/compression.js';
import { backupImage, type ImageSource } from '../engine/repository/image-backup.js';
import type { RecoveryPointMeta } from '../engine/repository/manifest.js';
import { describeRepoError, Repository } from '../engine/repository/repository.js';
import { describeDamage, verifyRepository } from '../engine/repository/verify.js';
import { describeStoreError } from '../engine/store/byte-store.js';
import { LocalDirStore } from '../engine/store/local-dir-store.js';
import { oneLineErrors, parseIntOption, quote, UsageError } from './errors.js';
import { kindOf } from './output.js';
import { cliWriter, openRepositoryFolder, RealClock, repoFailure } from './repo.js';

const DISK = DiskId('disk0');
const MiB = 1024 * 1024;

const codeOf = (error: unknown): string => (error as NodeJS.ErrnoException).code ?? String(error);
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;
const rate = (bytes: number, ms: number): string => `${(bytes / 1e6 / Math.max(ms / 1000, 1e-6)).toFixed(1)} MB/s`;
const tempTag = (): string => `${hostname().replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40)}-${process.pid}`;

async function isDir(path: string): Promise<boolean | undefined> {
  try {
    return (await stat(path)).isDirectory();
  } catch (error) {
    if (codeOf(error) === 'ENOENT') return undefined;
    throw new UsageError(`--repo: cannot read '${path}': ${codeOf(error)}`);
  }
}

/** --repo as an absolute path; '' would silently mean the current folder. */
function repoPath(raw: string): string {
  if (raw.trim() === '') throw new UsageError("--repo: expected a folder, got ''");
  return resolve(raw);
}


interface BackupOptions {
  readonly repo: string;
  readonly json?: boolean;
  readonly zstdLevel?: string;
  readonly brotliQuality?: string;
}

/** The compression a new repository gets from the options (undefined: the default, zstd 4). */
function compressionOption(options: BackupOptions): CodecSettings | undefined {
  if (options.zstdLevel !== undefined && options.brotliQuality !== undefined) throw new UsageError('--zstd-level and --brotli-quality: give one of them');
  for (const [codec, option, raw] of [['zstd', '--zstd-level', options.zstdLevel], ['brotli', '--brotli-quality', options.brotliQuality]] as const) {
    if (raw !== undefined) return { codec, level: parseIntOption(option, raw, ...LEVEL_RANGE[codec]) };
  }
  return undefined;
}

/** The image file: a regular file, checked before it is opened (a FIFO would block the open, a device never ends). */
async function fileSource(path: string): Promise<{ source: ImageSource; close: () => Promise<void>; sizeBytes: number; mtimeMs: number }> {
  const before = await stat(path).catch((error: unknown) => {
    const code = codeOf(error);
    throw new UsageError(`FILE: '${path}' ${code === 'ENOENT' || code === 'ENOTDIR' ? 'does not exist' : `cannot be read: ${code}`}`);
  });
  if (!before.isFile()) throw new UsageError(`FILE: '${path}' is ${kindOf(before)}, not a regular file`);
  let handle;
  try {
    handle = await open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (error) {
    throw new UsageError(`FILE: '${path}' cannot be opened: ${codeOf(error)}`);
  }
  const info = await handle.stat();
  if (!info.isFile()) {
    await handle.close();
    throw new UsageError(`FILE: '${path}' is ${kindOf(info)}, not a regular file`);
  }
  const h = handle;
  let buffer = new Uint8Array(0);
  const source: ImageSource = {
    capacityBytes: info.size,
    async read(offsetBytes, lengthBytes): Promise<Result<Uint8Array, string>> {
      // One buffer, reused: the writer copies what it keeps before the next read.
      if (buffer.length < lengthBytes) buffer = new Uint8Array(lengthBytes);
      const out = buffer.subarray(0, lengthBytes);
      let done = 0;
      for (let step = 0; done < lengthBytes; step++) {
        if (step > 1024) return err('the read made no progress');
        try {
          const r = await h.read(out, done, lengthBytes - done, offsetBytes + done);
          if (r.bytesRead === 0) return err(`the file ended at ${offsetBytes + done} (it shrank during the backup)`);
          done += r.bytesRead;
        } catch (error) {
          return err(codeOf(error));
        }
      }
      return ok(out);
    },
  };
  return { source, close: () => h.close(), sizeBytes: info.size, mtimeMs: info.mtimeMs };
}

/** The repository folder of a backup: new (missing or empty) or an existing repository; checked before anything is made. */
async function backupRepoDir(raw: string): Promise<{ repoDir: string; isNew: boolean }> {
  const repoDir = repoPath(raw);
  const kind = await isDir(repoDir);
  if (kind === false) throw new UsageError(`--repo: '${repoDir}' is not a folder`);
  // New: missing, or empty but for a tmp/ folder an interrupted init left.
  const isNew = kind === undefined || (await readdir(repoDir)).every((name) => name === 'tmp');
  return { repoDir, isNew };
}

async function backupCommand(file: string, options: BackupOptions): Promise<void> {
  if (file.trim() === '') throw new UsageError("FILE: expected a raw image file, got ''");
  const compression = compressionOption(options);
  const { repoDir, isNew } = await backupRepoDir(options.repo);
  const path = resolve(file);
  const { source, close, sizeBytes, mtimeMs } = await fileSource(path);
  try {
    const clock = new RealClock();
    const store = await LocalDirStore.open(repoDir, { create: true, tempTag: tempTag() });
    if (!store.ok) throw new UsageError(`--repo: cannot create '${repoDir}': ${describeStoreError(store.error)}`);
    if (isNew) {
      const made = await Repository.init(store.value, { clock, ...(compression === undefined ? {} : { compression }) });
      if (!made.ok) repoFailure(made.error);
    }
    const opened = await Repository.open(store.value, {
      clock,
      writer: cliWriter(),
      compressionInFlight: Math.max(1, Math.min(4, availableParallelism())),
    });
    if (!opened.ok) repoFailure(opened.error);
    const repo = opened.value;
    try {
      const points = await repo.listPoints();
      if (!points.ok) repoFailure(points.error);
      const parent = points.value.filter((p) => p.meta.attributes.sourcePath === path && p.disks.some((d) => d.diskId === DISK)).at(-1);
      const startMs = performance.now();
      const meta: RecoveryPointMeta = {
        vmId: `image:${basename(path)}`,
        claimedLevel: 'crash',
        reasons: ['a raw image file read as it is, without quiescing: crash-consistent if nothing wrote to it during the read'],
        writerStates: {},
        timingsUs: {},
        attributes: { sourcePath: path, sourceSizeBytes: sizeBytes, sourceMtimeMs: mtimeMs, host: hostname() },
      };
      const result = await backupImage(repo, source, {
        diskId: DISK, meta, ...(parent === undefined ? {} : { parent: parent.id }),
        metaAtCommit: async (m) => {
          const after = await stat(path).catch(() => undefined);
          const changed = after === undefined || after.size !== sizeBytes || after.mtimeMs !== mtimeMs;
          return {
            ...m,
            claimedLevel: changed ? 'inconsistent' : m.claimedLevel,
            reasons: changed ? ['the file changed while it was read: the copy is fuzzy'] : m.reasons,
            timingsUs: { backupUs: Math.round((performance.now() - startMs) * 1000) },
          };
        },
      });
      if (!result.ok) {
        if (result.error.kind === 'source-read') throw new UsageError(`FILE: '${path}': ${describeRepoError(result.error)}`);
        repoFailure(result.error);
      }
      const elapsedMs = performance.now() - startMs;
      const { id, manifest } = result.value;
      const s = manifest.stats;
      if (options.json === true) {
        process.stdout.write(`${JSON.stringify({
          id, parent: manifest.parent, source: path, repository: repoDir, sizeBytes, seconds: elapsedMs / 1000,
          claimedLevel: manifest.meta.claimedLevel, reasons: manifest.meta.reasons, stats: s,
        })}\n`);
      } else {
        const lines = [
          `backup-image ${path} (${sizeBytes} bytes) into ${repoDir}${parent === undefined ? ' (full)' : ` (incremental of ${parent.id.slice(0, 12)}: chunks already stored are reused)`}`,
          `read ${mib(s.bytesScanned)} in ${(elapsedMs / 1000).toFixed(2)} s (${rate(s.bytesScanned, elapsedMs)}): new ${mib(s.bytesNew)} (${mib(s.bytesNewStored)} stored), reused ${mib(s.bytesReused)}, zero ${mib(s.bytesZero)}`,
          `claims ${manifest.meta.claimedLevel}: ${manifest.meta.reasons.join('; ')}`,
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      }
      process.stdout.write(`${id}\n`);
    } finally {
      await repo.close();
    }
  } finally {
    await close();
  }
}

interface RestoreOptions {
  readonly repo: string;
  readonly point: string;
  readonly to: string;
  readonly force?: boolean;
}

async function restoreCommand(options: RestoreOptions): Promise<void> {
  const repoDir = repoPath(options.repo);
  if (options.point.trim() === '') throw new UsageError("--point: expected a RecoveryPoint id (or a prefix of 6+ hex digits), got ''");
  if (options.to.trim() === '') throw new UsageError("--to: expected a file name, got ''");
  const target = resolve(options.to);
  const store = await openRepositoryFolder(repoDir);
  const targetInfo = await stat(target).catch((error: unknown) => {
    if (codeOf(error) === 'ENOENT') return undefined;
    throw new UsageError(`--to: cannot read '${target}': ${codeOf(error)}`);
  });
  if (targetInfo !== undefined && options.force !== true) throw new UsageError(`--to: '${target}' exists (add --force to replace it)`);
  if (targetInfo !== undefined && !targetInfo.isFile()) throw new UsageError(`--to: '${target}' is not a regular file`);
  if ((await isDirOf(dirname(target))) !== true) throw new UsageError(`--to: the folder '${dirname(target)}' does not exist`);
  const opened = await Repository.open(store, { clock: new RealClock() });
  if (!opened.ok) repoFailure(opened.error);
  const repo = opened.value;
  const id = await repo.resolvePoint(options.point.toLowerCase());
  if (!id.ok) {
    if (id.error.kind === 'unknown-point') throw new UsageError(`--point: no recovery point ${quote(options.point)} in ${repoDir}`);
    repoFailure(id.error, '--point');
  }
  const manifest = await repo.readManifest(id.value);
  if (!manifest.ok) {
    process.stderr.write(`quiescelab: ${describeRepoError(manifest.error)}\n`);
    process.exitCode = 1;
    return;
  }
  const disk = manifest.value.disks.find((d) => d.diskId === DISK) ?? manifest.value.disks[0];
  if (disk === undefined) throw new UsageError(`--point: recovery point ${id.value} has no disk`);
  const temp = join(dirname(target), `.${basename(target)}.ql-restore-${process.pid}`);
  const startMs = performance.now();
  const handle = await open(temp, 'wx').catch((error: unknown) => {
    throw new UsageError(`--to: cannot create '${temp}': ${codeOf(error)}`);
  });
  let restored;
  try {
    await handle.truncate(disk.capacityBytes); // sparse: holes are never written
    restored = await repo.restoreDisk(id.value, disk.diskId, async (offsetBytes, bytes) => {
      let done = 0;
      for (let step = 0; done < bytes.length; step++) {
        if (step > 1024) throw new Error('a write made no progress');
        const w = await handle.write(bytes, done, bytes.length - done, offsetBytes + done);
        done += w.bytesWritten;
      }
    });
    if (restored.ok) await handle.sync();
  } finally {
    await handle.close();
  }
  if (!restored.ok) {
    await unlink(temp).catch(() => undefined);
    const damaged = restored.error.kind === 'chunk-damaged' || restored.error.kind === 'chunk-missing' || restored.error.kind === 'manifest-damaged';
    if (!damaged) repoFailure(restored.error);
    process.stderr.write(`quiescelab: restore failed, nothing written to ${target}: ${describeRepoError(restored.error)}\n`);
    process.exitCode = 1;
    return;
  }
  await rename(temp, target);
  await fsyncDir(dirname(target));
  const elapsedMs = performance.now() - startMs;
  process.stdout.write(`restored ${id.value} disk ${disk.diskId} to ${target}: ${disk.capacityBytes} bytes (${mib(restored.value.bytesWritten)} of data, the rest holes) in ${(elapsedMs / 1000).toFixed(2)} s (${rate(disk.capacityBytes, elapsedMs)})\n`);
}

async function isDirOf(path: string): Promise<boolean | undefined> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return undefined;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const h = await open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

interface VerifyCliOptions {
  readonly repo: string;
  readonly metadataOnly?: boolean;
}

async function verifyCommand(options: VerifyCliOptions): Promise<void> {
  const repoDir = repoPath(options.repo);
  const store = await openRepositoryFolder(repoDir);
  const report = await verifyRepository(store, { readData: options.metadataOnly !== true });
  if (!report.ok) throw new UsageError(`--repo: ${describeStoreError(report.error)}`);
  const r = report.value;
  const lines = r.damages.map((d) => `damaged: ${describeDamage(d)}`);
  const g = r.garbage;
  if (g.unindexedPacks.length + g.tempObjects.length + g.unreferencedChunks > 0) {
    lines.push(`garbage (not damage; prune removes it): ${g.unindexedPacks.length} unindexed packs, ${g.unreferencedChunks} unreferenced chunks, ${g.tempObjects.length} temp objects`);
  }
  const c = r.checked;
  lines.push(`${r.damages.length === 0 ? 'no damage' : `${r.damages.length} damaged`}: checked ${c.points} points, ${c.indexFiles} index files, ${c.packs} packs, ${c.blobs} blobs, ${mib(c.bytesRead)} read${options.metadataOnly === true ? ' (metadata only: pack contents not read)' : ''}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  process.exitCode = r.damages.length === 0 ? 0 : 1;
}

export function registerImage(program: Command): void {
  oneLineErrors(program.command('backup-image'))
    .description('back up a raw disk image file into a repository folder (last line: the new RecoveryPoint id)')
    .argument('<FILE>', 'the raw image file')
    .requiredOption('--repo <dir>', 'the repository folder (created when missing or empty)')
    .option('--json', 'print the details as one JSON line before the id')
    .option('--zstd-level <n>', 'compression when this command creates the repository: zstd level 1-19 (default 4)')
    .option('--brotli-quality <n>', 'or a brotli repository (readable by quiescelab before zstd) at quality 0-11 (1 is ~13% larger on text than zstd 4 at about the same speed)')
    .action((file: string, options: BackupOptions) => backupCommand(file, options));
  oneLineErrors(program.command('restore-image'))
    .description('restore a RecoveryPoint of a raw image to a file')
    .requiredOption('--repo <dir>', 'the repository folder')
    .requiredOption('--point <id>', 'the RecoveryPoint id (or a unique prefix of 6+ hex digits)')
    .requiredOption('--to <file>', 'the file to write')
    .option('--force', 'replace --to when it exists')
    .action((options: RestoreOptions) => restoreCommand(options));
  oneLineErrors(program.command('verify'))
    .description('check every object of a repository; exit 1 with one line per damage')
    .requiredOption('--repo <dir>', 'the repository folder')
    .option('--metadata-only', 'check index files and manifests, not pack contents')
    .action((options: VerifyCliOptions) => verifyCommand(options));
}
