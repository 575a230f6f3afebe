/**
 * A backup job for one VM, speaking only HypervisorPort (as the products of seeds 000-003
 * do): application-aware processing by policy, a quiesced VmSnapshot, a full or
 * CBT-incremental read into the repository, the RecoveryPoint published with the level it
 * may claim and why, BackupComplete sent only once the data is stored, and the VmSnapshot
 * removed on every path, failure included.
 *
 * Policy (application-aware processing): `require` fails the job when the guest cannot be
 * quiesced (a crash claim: no quiescing, or the sync-only driver) or an application other
 * than a plain file writer is not application-consistent (claim.ts, requireShortfall); `try` falls
 * back to a crash-consistent snapshot and records why; `off` takes a plain snapshot.
 *
 * Reading: full backups ask CBT for the allocated areas (`*`) when CBT is on, else read the
 * whole disk; both skip all-zero blocks (64 KiB). Incrementals ask for the areas changed
 * since the parent's change id, paging until the disk is covered, and store zeros too (they
 * override the parent). A disk whose change id is unusable (CBT reset, the parent missing)
 * is read in full, and the report says so. Leaves out: parallel disk reads, transport modes,
 * network throttling, guest file indexing.
 */

import { assert } from '../../core/assert.js';
import type { Clock, TimeUs } from '../../core/clock.js';
import type { AppId, HypervisorPort, PortError, QuiesceOutcome, SnapshotInfo, VmDiskInfo, VmInfo, VssBackupType, WriterReport } from '../../core/hypervisor-port.js';
import type { ChangeId, SnapshotId, VmId } from '../../core/ids.js';
import { err, ok, type Result } from '../../core/result.js';
import { isAllZero } from '../../core/zero.js';
import { claimFor, requireShortfall, type Claim } from './claim.js';
import type { BackupTarget, DiskSink, ParentPoint, PointSink } from './sink.js';

export type AppAwarePolicy = 'require' | 'try' | 'off';

export interface BackupRequest {
  readonly vmId: VmId;
  readonly policy: AppAwarePolicy;
  /** A VSS copy backup: writers do not truncate logs or move the differential base. */
  readonly copyOnly?: boolean;
  /**
   * The VSS backup type the writers see (default full, or copy with `copyOnly`): Exchange
   * truncates its logs after a full or incremental, keeps them after a copy or a
   * differential, and refuses incremental and differential under circular logging.
   */
  readonly vssBackupType?: VssBackupType;
  /** Incremental from this point; absent or null: a full backup. */
  readonly parent?: ParentPoint | null;
  /** Apps quiesced by a guest freeze script (Linux): app -> the script's path. */
  readonly appScripts?: Readonly<Partial<Record<AppId, string>>>;
  readonly readChunkBytes?: number;
  /** Skip all-zero 64 KiB blocks of a full read (default true: a repository stores holes as zeros; a replica must not skip a used block). */
  readonly skipZeroBlocks?: boolean;
  /**
   * The areas a full read of a disk copies instead of CBT's allocated areas (`*`): a
   * replication's white-space skipping reads the guest file system's allocation map
   * (engine/replication/allocation.ts). null: this disk has none (read as without).
   */
  readonly fullReadAreas?: (port: HypervisorPort, vmId: VmId, snapshotId: SnapshotId, disk: VmDiskInfo) => Promise<readonly { readonly startBytes: number; readonly lengthBytes: number }[] | null>;
}

export interface EngineEnv {
  readonly port: HypervisorPort;
  readonly target: BackupTarget;
  readonly clock: Clock;
}

/** `full-allocated`: a full read of the areas the guest file system uses (a replica's white-space skipping). */
export type DiskReadMode = 'full-cbt' | 'full-scan' | 'full-allocated' | 'incremental' | 'full-after-cbt-reset';

export interface DiskReport {
  readonly diskId: string;
  readonly capacityBytes: number;
  readonly mode: DiskReadMode;
  readonly bytesRead: number;
  readonly bytesSkippedZero: number;
  readonly changeId: string | null;
  readonly note: string | null;
}

export interface RecoveryPointMeta {
  readonly format: 'quiescelab-recovery-point/1';
  readonly vmId: string;
  readonly vmName: string;
  readonly guestOs: string;
  readonly tools: string;
  readonly apps: readonly AppId[];
  readonly kind: 'full' | 'incremental';
  readonly copyOnly: boolean;
  readonly parent: string | null;
  readonly snapshotAtUs: TimeUs;
  readonly claimed: Claim;
  readonly quiesce: QuiesceOutcome;
  readonly fallback: string | null;
  readonly disks: readonly DiskReport[];
  readonly changeIds: Readonly<Record<string, string>>;
  readonly timings: { readonly startUs: TimeUs; readonly snapshotDoneUs: TimeUs; readonly readDoneUs: TimeUs };
}

export interface BackupReport {
  readonly pointId: string;
  readonly meta: RecoveryPointMeta;
  readonly writersAfterComplete: readonly WriterReport[];
  readonly endUs: TimeUs;
}

export type BackupError =
  | { readonly kind: 'port'; readonly during: string; readonly error: PortError }
  | { readonly kind: 'quiesce-required'; readonly reason: string }
  | { readonly kind: 'store'; readonly reason: string };

export const DEFAULT_READ_CHUNK_BYTES = 4 * 1024 * 1024;
/** Names of the VmSnapshots this engine takes (so a later job can find ones a crash left). */
export const SNAPSHOT_PREFIX = 'quiescelab-';
const ZERO_BLOCK_BYTES = 64 * 1024;
/** Most CBT pages one disk may take (a 64 TiB disk in 64 MiB pages is a million). */
const MAX_CBT_PAGES = 1_100_000;

function portErr<T>(during: string, error: PortError): Result<T, BackupError> {
  return err({ kind: 'port', during, error });
}

interface ReadContext {
  readonly port: HypervisorPort;
  readonly vmId: VmId;
  readonly snapshotId: SnapshotId;
  readonly chunkBytes: number;
  readonly skipZero: boolean;
  readonly fullReadAreas: BackupRequest['fullReadAreas'];
}

/** Reads [start, start+length) of the snapshot into the sink; zero blocks skipped when `skipZero`. */
async function copyRange(ctx: ReadContext, disk: VmDiskInfo, sink: DiskSink, startBytes: number, lengthBytes: number, skipZero: boolean, counters: { read: number; zero: number }): Promise<Result<void, BackupError>> {
  const end = startBytes + lengthBytes;
  for (let pos = startBytes; pos < end;) {
    const n = Math.min(ctx.chunkBytes, end - pos);
    const bytes = await ctx.port.readSnapshotDisk(ctx.vmId, ctx.snapshotId, disk.diskId, pos, n);
    if (!bytes.ok) return portErr('readSnapshotDisk', bytes.error);
    counters.read += n;
    if (!skipZero) {
      await sink.writeExtent(pos, bytes.value);
    } else {
      // Write maximal runs of non-zero blocks.
      let runStart = -1;
      for (let b = 0; b < n; b += ZERO_BLOCK_BYTES) {
        const block = bytes.value.subarray(b, Math.min(n, b + ZERO_BLOCK_BYTES));
        if (isAllZero(block)) {
          counters.zero += block.length;
          if (runStart >= 0) await sink.writeExtent(pos + runStart, bytes.value.subarray(runStart, b));
          runStart = -1;
        } else if (runStart < 0) {
          runStart = b;
        }
      }
      if (runStart >= 0) await sink.writeExtent(pos + runStart, bytes.value.subarray(runStart, n));
    }
    pos += n;
  }
  return ok(undefined);
}

/** Pages through QueryChangedDiskAreas and copies each area. */
async function copyChanged(ctx: ReadContext, disk: VmDiskInfo, sink: DiskSink, changeId: ChangeId | '*', skipZero: boolean, counters: { read: number; zero: number }): Promise<Result<void, BackupError>> {
  let offset = 0;
  for (let pages = 0; offset < disk.capacityBytes; pages++) {
    assert(pages < MAX_CBT_PAGES, `more than ${MAX_CBT_PAGES} CBT pages for ${disk.diskId}`);
    const page = await ctx.port.queryChangedDiskAreas(ctx.vmId, ctx.snapshotId, disk.diskId, offset, changeId);
    if (!page.ok) return portErr('queryChangedDiskAreas', page.error);
    for (const area of page.value.changedAreas) {
      const copied = await copyRange(ctx, disk, sink, area.startBytes, area.lengthBytes, skipZero, counters);
      if (!copied.ok) return copied;
    }
    const next = page.value.startOffsetBytes + page.value.lengthBytes;
    assert(next > offset, `CBT page did not advance at ${offset} on ${disk.diskId}`);
    offset = next;
  }
  return ok(undefined);
}

async function backupDisk(ctx: ReadContext, disk: VmDiskInfo, snapshot: SnapshotInfo, parent: ParentPoint | null, point: PointSink): Promise<Result<DiskReport, BackupError>> {
  const counters = { read: 0, zero: 0 };
  const changeId = snapshot.changeIds[disk.diskId] ?? null;
  const parentChangeId = parent?.changeIds[disk.diskId];
  const report = (mode: DiskReadMode, note: string | null): DiskReport => ({
    diskId: disk.diskId, capacityBytes: disk.capacityBytes, mode, bytesRead: counters.read, bytesSkippedZero: counters.zero, changeId, note,
  });
  if (parent !== null && changeId !== null && parentChangeId !== undefined) {
    const sink = await point.disk(disk.diskId, disk.capacityBytes, true);
    const copied = await copyChanged(ctx, disk, sink, parentChangeId as ChangeId, false, counters);
    if (copied.ok) return ok(report('incremental', null));
    if (copied.error.kind !== 'port' || copied.error.error.kind !== 'cbt') return copied;
    // The change id is unusable (CBT was reset): this disk is read in full instead.
    const reason = copied.error.error.reason;
    const fresh = await point.disk(disk.diskId, disk.capacityBytes, false);
    const full = await copyChanged(ctx, disk, fresh, '*', ctx.skipZero, counters);
    return full.ok ? ok(report('full-after-cbt-reset', `CBT query refused (${reason}): read in full`)) : full;
  }
  const sink = await point.disk(disk.diskId, disk.capacityBytes, false);
  const note = parent === null ? null : `no usable change id for ${disk.diskId}: read in full`;
  const areas = ctx.fullReadAreas === undefined ? null : await ctx.fullReadAreas(ctx.port, ctx.vmId, ctx.snapshotId, disk);
  if (areas !== null) {
    for (const area of areas) {
      const copied = await copyRange(ctx, disk, sink, area.startBytes, area.lengthBytes, ctx.skipZero, counters);
      if (!copied.ok) return copied;
    }
    return ok(report('full-allocated', note));
  }
  if (changeId !== null) {
    const copied = await copyChanged(ctx, disk, sink, '*', ctx.skipZero, counters);
    return copied.ok ? ok(report('full-cbt', note)) : copied;
  }
  const copied = await copyRange(ctx, disk, sink, 0, disk.capacityBytes, ctx.skipZero, counters);
  return copied.ok ? ok(report('full-scan', note)) : copied;
}

/** Takes the VmSnapshot the policy asks for; the fallback reason when it fell back. */
async function takeSnapshot(env: EngineEnv, vm: VmInfo, request: BackupRequest, startUs: TimeUs): Promise<Result<{ snapshot: SnapshotInfo; fallback: string | null }, BackupError>> {
  const name = `${SNAPSHOT_PREFIX}${vm.vmId}-${startUs}`;
  const quiesce = request.policy !== 'off';
  const first = await env.port.createSnapshot(vm.vmId, {
    name, quiesce, memory: false, quiesceSpec: { vssBackupType: request.vssBackupType ?? (request.copyOnly === true ? 'copy' : 'full') },
  });
  if (first.ok) return ok({ snapshot: first.value, fallback: null });
  if (first.error.kind !== 'quiesce') return portErr('createSnapshot', first.error);
  const reason = `${first.error.fault.kind}: ${first.error.fault.reason}`;
  if (request.policy === 'require') return err({ kind: 'quiesce-required', reason });
  const plain = await env.port.createSnapshot(vm.vmId, { name, quiesce: false, memory: false });
  if (!plain.ok) return portErr('createSnapshot (crash-consistent fallback)', plain.error);
  return ok({ snapshot: plain.value, fallback: `quiescing failed, fell back to a crash-consistent snapshot: ${reason}` });
}

export async function runBackup(env: EngineEnv, request: BackupRequest): Promise<Result<BackupReport, BackupError>> {
  const r = await backupOnce(env, request);
  // The job ends once its snapshot is removed (the inner finally has run by now).
  return r.ok ? ok({ ...r.value, endUs: env.clock.nowUs() }) : r;
}

async function backupOnce(env: EngineEnv, request: BackupRequest): Promise<Result<BackupReport, BackupError>> {
  const startUs = env.clock.nowUs();
  const vmInfo = await env.port.getVm(request.vmId);
  if (!vmInfo.ok) return portErr('getVm', vmInfo.error);
  const vm = vmInfo.value;
  // CBT on before the snapshot, so this point carries change ids the next incremental can use.
  if (vm.disks.some((d) => !d.changeTrackingEnabled)) {
    const enabled = await env.port.enableChangeTracking(vm.vmId);
    if (!enabled.ok) return portErr('enableChangeTracking', enabled.error);
  }
  const parent = request.parent !== undefined && request.parent !== null && request.parent.vmId === vm.vmId ? request.parent : null;

  // A job that crashed (engine or host) may have left its VmSnapshot behind: remove it first,
  // or the VM would run on a growing delta forever.
  const orphans: string[] = [];
  for (const s of vm.snapshots) {
    if (!s.name.startsWith(SNAPSHOT_PREFIX)) continue;
    const removed = await env.port.removeSnapshot(vm.vmId, s.snapshotId);
    if (removed.ok) orphans.push(s.snapshotId);
  }

  const taken = await takeSnapshot(env, vm, request, startUs);
  if (!taken.ok) return taken;
  const { snapshot, fallback } = taken.value;
  const snapshotDoneUs = env.clock.nowUs();
  let point: PointSink | null = null;
  let stored = false;
  try {
    const claim = claimFor(snapshot.quiesce, vm.apps, request.appScripts);
    const reasons = [
      ...fallback === null ? [] : [fallback],
      ...orphans.length === 0 ? [] : [`removed ${orphans.length} snapshot(s) a crashed job left behind: ${orphans.join(', ')}`],
      ...claim.reasons,
    ];
    const short = request.policy === 'require' ? requireShortfall(claim, vm.apps) : null;
    if (short !== null) return err({ kind: 'quiesce-required', reason: `${short} (${reasons.join('; ')})` });
    point = await env.target.begin(vm.vmId, parent);
    const ctx: ReadContext = {
      port: env.port, vmId: vm.vmId, snapshotId: snapshot.snapshotId, chunkBytes: request.readChunkBytes ?? DEFAULT_READ_CHUNK_BYTES,
      skipZero: request.skipZeroBlocks ?? true, fullReadAreas: request.fullReadAreas,
    };
    const disks: DiskReport[] = [];
    for (const disk of vm.disks) {
      const done = await backupDisk(ctx, disk, snapshot, parent, point);
      if (!done.ok) return done;
      disks.push(done.value);
    }
    const meta: RecoveryPointMeta = {
      format: 'quiescelab-recovery-point/1', vmId: vm.vmId, vmName: vm.name, guestOs: vm.guestOs, tools: vm.tools, apps: vm.apps,
      kind: parent === null ? 'full' : 'incremental', copyOnly: request.copyOnly === true || request.vssBackupType === 'copy', parent: parent?.pointId ?? null,
      snapshotAtUs: snapshot.createdAtUs, claimed: { ...claim, reasons }, quiesce: snapshot.quiesce, fallback, disks,
      changeIds: { ...snapshot.changeIds }, timings: { startUs, snapshotDoneUs, readDoneUs: env.clock.nowUs() },
    };
    const committed = await point.commit(meta);
    if (!committed.ok) return err({ kind: 'store', reason: committed.error });
    stored = true;
    // BackupComplete only now that the data is stored: writers may truncate logs on it.
    const completed = await env.port.completeBackup(vm.vmId, snapshot.snapshotId, true);
    return ok({ pointId: committed.value, meta, writersAfterComplete: completed.ok ? completed.value : [], endUs: env.clock.nowUs() });
  } finally {
    if (!stored) {
      if (point !== null) await point.abort();
      await env.port.completeBackup(vm.vmId, snapshot.snapshotId, false);
    }
    // Removed on every path; one retry for a transient refusal (a removal is idempotent here).
    const removed = await env.port.removeSnapshot(vm.vmId, snapshot.snapshotId);
    if (!removed.ok && removed.error.kind !== 'unknown-snapshot') await env.port.removeSnapshot(vm.vmId, snapshot.snapshotId);
  }
}

/** The parent handle for the next incremental from a finished backup. */
export function parentOf(report: BackupReport): ParentPoint {
  return { pointId: report.pointId, vmId: report.meta.vmId, changeIds: report.meta.changeIds };
}
