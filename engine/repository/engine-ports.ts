/**
 * The repository behind the ports the rest of the engine speaks: `BackupTarget` (what a
 * backup job writes into, engine/backup/sink.ts) and `PointSource` (what a restore reads
 * from, engine/restore/source.ts). A job's own metadata becomes the manifest's meta
 * through `toMeta`; the job's full record rides along in `attributes.job`.
 *
 * Those ports report write failures at commit (a DiskSink's write returns nothing) and
 * read failures by throwing (`PointSource.read`); this adapter keeps the first write
 * error and returns it from commit, and throws a RepositoryError naming the chunk and
 * the manifest on a failed read.
 */

import { DiskId } from '../../core/ids.js';
import { err, ok, type Result } from '../../core/result.js';
import type { BackupTarget, DiskSink, ParentPoint, PointSink } from '../backup/sink.js';
import type { PointDisk, PointSource } from '../restore/source.js';
import { isHashHex, RecoveryPointId } from './hash.js';
import type { JsonValue, RecoveryPointMeta } from './manifest.js';
import type { PointWriter } from './point-writer.js';
import { describeRepoError, type Repository, type RepoError } from './repository.js';
import { ChunkCache } from './chunk-cache.js';

export interface TargetOptions {
  /** The manifest's meta from the job's record (vmId, claimed level, reasons, ...). */
  readonly toMeta: (vmId: string, jobMeta: unknown) => RecoveryPointMeta;
}

class RepositoryPointSink implements PointSink {
  private firstError: RepoError | undefined;
  private readonly declared = new Set<string>();

  constructor(
    private readonly writer: PointWriter,
    private readonly vmId: string,
    private readonly options: TargetOptions,
  ) {}

  disk(diskId: string, capacityBytes: number, fromParent: boolean): Promise<DiskSink> {
    const id = DiskId(diskId);
    if (this.declared.has(diskId)) this.writer.restartDisk(id);
    else this.writer.writeDisk(id, capacityBytes);
    this.declared.add(diskId);
    const parentCapacity = this.writer.parentCapacityBytes(id);
    if (fromParent && parentCapacity !== undefined) this.writer.copyFromParent(id, 0, Math.min(parentCapacity, capacityBytes));
    return Promise.resolve({
      writeExtent: async (offsetBytes: number, bytes: Uint8Array): Promise<void> => {
        if (this.firstError !== undefined) return;
        const written = await this.writer.writeExtent(id, offsetBytes, bytes);
        if (!written.ok) this.firstError = written.error;
      },
    });
  }

  async commit(meta: unknown): Promise<Result<string, string>> {
    if (this.firstError !== undefined) {
      this.writer.abort();
      return err(describeRepoError(this.firstError));
    }
    const base = this.options.toMeta(this.vmId, meta);
    const committed = await this.writer.commit({ meta: { ...base, attributes: { ...base.attributes, job: meta as JsonValue } } });
    return committed.ok ? ok(committed.value.id) : err(describeRepoError(committed.error));
  }

  abort(): Promise<void> {
    this.writer.abort();
    return Promise.resolve();
  }
}

/** A BackupTarget over a repository opened with the writer lock. */
export function repositoryTarget(repo: Repository, options: TargetOptions): BackupTarget {
  return {
    async begin(vmId: string, parent: ParentPoint | null): Promise<PointSink> {
      const parentId = parent !== null && isHashHex(parent.pointId) ? RecoveryPointId(parent.pointId) : undefined;
      const placeholder: RecoveryPointMeta = { vmId, claimedLevel: 'inconsistent', reasons: ['not committed'], writerStates: {}, timingsUs: {}, attributes: {} };
      const begun = await repo.beginPoint(placeholder, parentId === undefined ? {} : { parent: parentId });
      if (!begun.ok) throw new RepositoryError(begun.error);
      return new RepositoryPointSink(begun.value, vmId, options);
    },
  };
}

export class RepositoryError extends Error {
  override readonly name = 'RepositoryError';
  constructor(readonly error: RepoError) {
    super(describeRepoError(error));
  }
}

/** A PointSource over one RecoveryPoint. */
export async function repositorySource(repo: Repository, id: RecoveryPointId): Promise<Result<PointSource, RepoError>> {
  const manifest = await repo.readManifest(id);
  if (!manifest.ok) return manifest;
  const disks: PointDisk[] = manifest.value.disks.map((d) => ({ diskId: d.diskId, capacityBytes: d.capacityBytes }));
  // One read session: the source's reads share the chunks they already fetched and checked.
  const cache = new ChunkCache();
  return ok({
    pointId: id,
    disks: () => disks,
    extents: (diskId: string) => {
      const disk = manifest.value.disks.find((d) => d.diskId === diskId);
      if (disk === undefined) return Promise.reject(new RepositoryError({ kind: 'unknown-disk', id, diskId }));
      // Adjacent map entries (one chunk after another) merge into one data extent.
      const out: { startBytes: number; lengthBytes: number }[] = [];
      for (const e of disk.extents) {
        const last = out[out.length - 1];
        if (last !== undefined && last.startBytes + last.lengthBytes === e.offsetBytes) last.lengthBytes += e.lengthBytes;
        else out.push({ startBytes: e.offsetBytes, lengthBytes: e.lengthBytes });
      }
      return Promise.resolve(out);
    },
    read: async (diskId: string, offsetBytes: number, lengthBytes: number) => {
      const bytes = await repo.readDisk(id, diskId, offsetBytes, lengthBytes, cache);
      if (!bytes.ok) throw new RepositoryError(bytes.error);
      return bytes.value;
    },
  });
}
