/**
 * One scenario, end to end (DESIGN.md roles): the client drives the engine under test
 * through HypervisorPort; the nemesis sets up the spec's fault; the tap records what the
 * hypervisor really did; then every stored RecoveryPoint is read back through the engine,
 * compared with its VmSnapshot's image, and judged in the isolated lab (level and data
 * loss) against the ledger of acknowledgements. The first point is also restored as a new
 * VM that must boot (the restore's simulated duration is the RTO).
 *
 * The outcome is plain data: properties (scenarios/properties/) are pure functions of
 * (spec, outcome). Leaves out: log backups and roll-forward, repository faults and engine
 * crashes (their own scenario kinds), more than one VM per world.
 *
 * The world and its steps (`Scenario`: boot, warm-up, one backup, read a point back,
 * restore a VM) are shared with the other suites' scenarios (scenarios/suites/).
 */

import { assert } from '../../core/assert.js';
import type { TimeUs } from '../../core/clock.js';
import type { AppId, HypervisorPort, QuiesceOutcome } from '../../core/hypervisor-port.js';
import type { VmId } from '../../core/ids.js';
import type { ConsistencyLevel } from '../../core/levels.js';
import { ok, unwrap, type Result } from '../../core/result.js';
import type { BackupReport } from '../../engine/backup/job.js';
import type { ParentPoint } from '../../engine/backup/sink.js';
import type { InitOptions } from '../../engine/repository/repository.js';
import type { ByteStore } from '../../engine/store/byte-store.js';
import { MemoryStore } from '../../engine/store/memory-store.js';
import { GUEST_OS } from '../../sim/guest/catalog.js';
import { PAGE_BYTES } from '../../sim/guest/page-cache.js';
import type { GuestScript } from '../../sim/guest/quiesce/scripts.js';
import type { AppSet } from '../../sim/hypervisor/default-apps.js';
import { inspectImage } from '../../sim/hypervisor/inspect.js';
import type { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';
import type { SimVm } from '../../sim/hypervisor/sim-vm.js';
import { cellVm, findCell, type Cell } from '../cells.js';
import { judgeLevel, type LevelVerdict } from '../checkers/level.js';
import { EVERY_CAPABILITY, lacking, parentFrom, type Capabilities, type Engine, type OpenedPoint } from '../engine-api.js';
import { builtinEngine } from '../engine-builtin.js';
import { AckLedger, type CrashLoss } from './ledger.js';
import type { FaultPlan, ScenarioSpec } from './spec.js';
import { SparseImage } from './sparse-image.js';
import { SnapshotTap } from './tap.js';
import { bootCellWorld, startCellWorkload } from './world.js';
import { nemesisOf, type NemesisTarget } from '../nemesis/index.js';
import { FILE_ITEM_RESTORES, judgeFileItemRestores, type FileItemRestoreRun } from './item-restore.js';
import { jobFaultPort, leaveOrphan, newJobFaultProbe, resetCbt, type JobFaultProbe } from '../nemesis/job-faults.js';

export type TimelineKind = 'boot' | 'writes' | 'dirty' | 'fault' | 'power-loss' | 'freeze' | 'thaw' | 'snapshot' | 'snapshot-removed' | 'backup' | 'restore' | 'verdict';

export interface TimelineEvent {
  readonly atUs: TimeUs;
  readonly kind: TimelineKind;
  readonly detail: string;
}

export interface PointTruth {
  readonly quiesce: QuiesceOutcome;
  readonly snapshotAtUs: TimeUs;
  /** Start of the freeze window, or the capture instant when nothing froze. */
  readonly cutUs: TimeUs;
  /** The quiesced attempt of this backup failed (the engine fell back, or gave up). */
  readonly quiesceFailed: string | null;
  /** Apps the quiescer really quiesced (their writer came through, or their freeze script ran). */
  readonly appsQuiesced: readonly AppId[];
}

/** A writer told BackupComplete: the backup type it saw, whether the backup succeeded, the log generations it truncated. */
export interface WriterCompletion {
  readonly writer: string;
  readonly backupType: string;
  readonly succeeded: boolean;
  readonly truncated: number;
}

export interface PointClaim {
  readonly vm: ConsistencyLevel;
  readonly apps: Readonly<Partial<Record<AppId, ConsistencyLevel>>>;
  readonly reasons: readonly string[];
}

export interface RestoredPoint {
  readonly verdict: LevelVerdict;
  /** The restored disks equal the VmSnapshot's image byte for byte (null: no image to compare). */
  readonly equalsSnapshot: { readonly equal: boolean; readonly detail: string } | null;
  /** Bytes the restore read from the repository. */
  readonly bytesRead: number;
}

export interface VmRestoreRun {
  /** The restored VM (null: the restore failed before creating one). */
  readonly vmId: string | null;
  readonly ok: boolean;
  readonly detail: string;
  readonly rtoUs: TimeUs;
  readonly bytesRead: number;
  /** Each app's open report on the restored VM's first boot. */
  readonly appsOpened: Readonly<Partial<Record<AppId, { readonly ok: boolean; readonly recoveryNeeded: boolean }>>>;
}

export interface PointRun {
  readonly index: number;
  readonly kind: 'full' | 'incremental';
  /** The engine reported success. */
  readonly ok: boolean;
  readonly error: string | null;
  /** The kind of the engine's error (`quiesce-required`: the require policy refused), or null. */
  readonly errorKind: string | null;
  /** What each VSS writer recorded of BackupComplete during this backup (the hypervisor's history, not the engine's word). */
  readonly writersCompleted: readonly WriterCompletion[];
  readonly pointId: string | null;
  readonly truth: PointTruth | null;
  readonly claimed: PointClaim | null;
  readonly restored: RestoredPoint | null;
  readonly restoreError: string | null;
}

export interface Hygiene {
  /** Volumes of the guest still frozen after the backups. */
  readonly frozenVolumes: number;
  readonly snapshotsCreated: number;
  /** VmSnapshots the engine left behind. */
  readonly snapshotsLeft: readonly string[];
}

export interface ScenarioOutcome {
  readonly cellId: string;
  readonly points: readonly PointRun[];
  readonly vmRestore: VmRestoreRun | null;
  /** File-level and item restores from the first and last good points (property 16), or null: no point stored. */
  readonly fileItemRestore: FileItemRestoreRun | null;
  readonly hygiene: Hygiene;
  /** Points the repository lists after the backups (a failed backup must have stored none), or null when the listing failed. */
  readonly pointsListed: number | null;
  readonly crashLosses: readonly CrashLoss[];
  /** How often each fault of the job's own path struck (the spec's JobPlan). */
  readonly jobFaults: JobFaultProbe;
  /** The guest did not come back after the fault's power loss (why), or null: the backups saw a dead guest. */
  readonly guestLost: string | null;
  readonly timeline: readonly TimelineEvent[];
  /** The simulation's history digest at the end (determinism evidence). */
  readonly historyDigest: string;
  readonly endUs: TimeUs;
}

/** The phases of a run, for a profiler the caller injects (the bench); the run never reads a clock. */
export type ScenarioPhase = 'boot' | 'workload' | 'backup' | 'restore' | 'classify';

export interface RunOptions {
  /** The engine under test (default: the built-in one). */
  readonly engine?: Engine;
  /** What it declared (default: everything): what it lacks is not asked of it (no incremental, copy backup, restores). */
  readonly capabilities?: Capabilities;
  /** Called as each phase begins (and with 'end' at the end). */
  readonly onPhase?: (phase: ScenarioPhase | 'end') => void;
  /** Disk size of the cell's VM (default 16 MiB). */
  readonly diskBytes?: number;
}

const MAX_BACKUPS = 8;
/**
 * The scenario repository compresses at brotli quality 0: the bytes stored are the
 * engine's all the same (compression is transparent to every property), at a fraction of
 * the CPU of the default quality, which the scenario throughput pays for.
 */
const SCENARIO_BROTLI_QUALITY = 0;

function scriptsFor(cell: Cell, fault: FaultPlan): GuestScript[] {
  return [...cellVm(cell).scripts, ...nemesisOf(fault).boot(fault).scripts];
}

/** Apps the quiescer really quiesced (their writer came through, or their freeze script ran). */
export function appsQuiesced(q: QuiesceOutcome, scripts: readonly GuestScript[]): Set<AppId> {
  const out = new Set<AppId>();
  for (const w of q.writers) if (w.error === null && q.mode === 'application') out.add(w.app);
  for (const s of q.scripts) {
    const action = scripts.find((x) => x.path === s.path)?.on.freeze?.action;
    if (s.argument === 'freeze' && s.exitCode === 0 && action !== undefined) out.add(action.split(':')[0] as AppId);
  }
  return out;
}

function claimOf(attributes: Readonly<Record<string, unknown>>, vmLevel: ConsistencyLevel, reasons: readonly string[]): PointClaim {
  const apps = (attributes['appLevels'] ?? {}) as Partial<Record<AppId, ConsistencyLevel>>;
  return { vm: vmLevel, apps, reasons };
}

/** A point read back through the engine: each disk's image and the bytes the reads moved. */
export interface ReadBack {
  readonly images: readonly SparseImage[];
  readonly bytesRead: number;
}

export class Scenario implements NemesisTarget {
  readonly timeline: TimelineEvent[] = [];
  readonly ledger = new AckLedger();
  readonly jobFaults = newJobFaultProbe();
  readonly hv: SimHypervisor;
  readonly vm: SimVm;
  readonly vmId: VmId;
  readonly tap: SnapshotTap;
  readonly scripts: GuestScript[];
  /** The world's application models (and the AdDomain its domain controllers share). */
  readonly apps: AppSet;
  /** Why the guest did not come back after the fault's power loss, or null. */
  guestLost: string | null = null;
  /** Acknowledgements up to this instant are on the timeline already. */
  private writesNotedUs = -1;
  /** History events already searched for snapshot captures. */
  private historyCursor = 0;
  /** The port the backups go through (one per scenario: the engine may keep state per port, as a mutant's does). */
  private backupPort: HypervisorPort | null = null;

  constructor(readonly spec: ScenarioSpec, readonly cell: Cell, readonly engine: Engine, diskBytes: number | undefined, readonly caps: Capabilities = EVERY_CAPABILITY) {
    const lying = nemesisOf(spec.fault).boot(spec.fault).lyingCache;
    const world = bootCellWorld(cell, { seed: spec.seed, diskBytes, lyingCache: lying, scripts: scriptsFor(cell, spec.fault), cbtPageAreas: spec.cbtPageAreas, disks: spec.disks, unwrite: spec.unwrite });
    this.apps = world.apps;
    this.hv = world.hv;
    this.vm = world.vm;
    this.vmId = this.vm.vmId;
    this.scripts = [...world.scripts];
    this.tap = new SnapshotTap(this.hv, this.vmId, true);
    this.note('boot', `${cell.os} with Tools ${cell.tools}, apps ${this.vm.apps.join(', ')}${lying ? ', disk cache lies about flush' : ''}`);
  }

  get factories(): AppSet['factories'] {
    return this.apps.factories;
  }

  get nowUs(): TimeUs {
    return this.hv.sim.clock.nowUs();
  }

  note(kind: TimelineKind, detail: string, atUs: TimeUs = this.nowUs): void {
    assert(this.timeline.length < 10_000, 'timeline bound');
    this.timeline.push({ atUs, kind, detail });
  }

  /** Puts the guest's acknowledged work since the last call on the timeline: per app, how many, how many durable. */
  noteWrites(): void {
    this.ledger.collect(this.vm);
    const sinceUs = this.writesNotedUs;
    let lastUs = sinceUs;
    for (const [app, acks] of Object.entries(this.ledger.acks())) {
      const fresh = acks.filter((a) => a.timeUs > sinceUs);
      if (fresh.length === 0) continue;
      const last = fresh.reduce((m, a) => (a.timeUs > m.timeUs ? a : m));
      const durable = fresh.filter((a) => a.durable).length;
      const what = app === 'files' ? 'writes' : 'commits';
      this.note('writes', `${app}: ${fresh.length} ${what} acknowledged (${durable} durable, ${fresh.length - durable} only buffered) since ${sinceUs < 0 ? 'boot' : `${(sinceUs / 1e6).toFixed(3)} s`}; last ${last.id}`, last.timeUs);
      lastUs = Math.max(lastUs, last.timeUs);
    }
    this.writesNotedUs = Math.max(lastUs, this.nowUs);
  }

  /** The guest's dirty page-cache pages when the snapshot captured the disks (what the image cannot hold). */
  private noteDirty(snapshotId: string): void {
    const events = this.hv.sim.history.events();
    for (; this.historyCursor < events.length; this.historyCursor++) {
      const e = events[this.historyCursor] as (typeof events)[number];
      if (e.kind !== 'vm.snapshot.take' || e.subject !== this.vmId) continue;
      const data = e.data as { snapshotId?: string; dirtyPages?: number };
      if (data.snapshotId !== snapshotId || typeof data.dirtyPages !== 'number') continue;
      const n = data.dirtyPages;
      this.note('dirty', n === 0
        ? 'no dirty pages in the guest page cache at the capture: everything written is on the disk'
        : `${n} dirty page${n === 1 ? '' : 's'} (${(n * PAGE_BYTES) / 1024} KiB) in the guest page cache at the capture: written, not on the disk, not in the snapshot`, e.timeUs);
    }
  }

  startWorkload(): void {
    startCellWorkload(this, this.spec.workload);
  }

  /** The warm-up: the workload runs, and the spec's fault strikes when its nemesis says (scenarios/nemesis/). */
  async warmUp(): Promise<void> {
    this.startWorkload();
    const fault = this.spec.fault;
    const nemesis = nemesisOf(fault);
    const warmupUs = this.spec.warmupMs * 1000;
    const atUs = nemesis.strikesAtUs(fault, warmupUs);
    this.hv.runFor(atUs);
    await nemesis.inject(this, fault, warmupUs - atUs);
  }

  /** NemesisTarget: the VM powered on after a power loss; what the crash lost is booked and the apps restart. */
  async recoverFromPowerLoss(): Promise<boolean> {
    unwrap(await this.hv.powerOn(this.vmId));
    if (this.vm.guest === null) {
      this.guestLost = this.vm.lastBoot?.ok === false ? this.vm.lastBoot.reason : 'the guest did not boot';
      this.note('power-loss', `the guest does not come back: ${this.guestLost}`);
      return false;
    }
    this.ledger.markCrash(this.vm, this.nowUs);
    const lost = this.ledger.crashLosses.filter((l) => l.atUs === this.nowUs);
    for (const l of lost) if (l.lost.length > 0) this.note('power-loss', `${l.app}: ${l.lost.length} acknowledged lost in the crash (${l.lostDurable.length} acknowledged as durable)`);
    this.startWorkload();
    return true;
  }

  /**
   * Initialises a repository on `store` and opens it through the engine under test, as the
   * backups' writer; `compressionInFlight`: its chunk worker threads (0: this thread only).
   */
  async openRepository(store: ByteStore, init: Omit<InitOptions, 'clock'> = {}, compressionInFlight = 0): Promise<string> {
    unwrap(await this.engine.initRepository(store, this.hv.sim.clock, { compression: { codec: 'brotli', level: SCENARIO_BROTLI_QUALITY }, ...init }));
    return unwrap(await this.engine.openRepository(store, this.hv.sim.clock, { writer: 'scenario', compressionInFlight }));
  }

  /** The scenario's `index`-th backup by the engine under test, recorded with the truth the tap saw. */
  async backup(repo: string, index: number, parent: ParentPoint | null): Promise<{ report: BackupReport | null; run: PointRun }> {
    this.backupPort ??= jobFaultPort(this.tap.port, this.spec.job, this.jobFaults, (d) => { this.note('fault', d); });
    const env = { port: this.backupPort, clock: this.hv.sim.clock };
    const appScripts = cellVm(this.cell).appScripts;
    this.tap.backupIndex = index;
    this.noteWrites();
    const kind = parent === null ? 'full' : 'incremental';
    const historyFrom = this.hv.sim.history.events().length;
    const copyOnly = this.spec.job.backupType === 'copy' && this.caps.has('copy-backup');
    const r = await this.engine.backup(env, { repo, vmId: this.vmId, policy: this.spec.job.policy, copyOnly, parent, appScripts });
    const writersCompleted = this.completionsSince(historyFrom);
    const tapped = this.tap.snapshotOf(index);
    const failed = this.tap.failedQuiesces.find((f) => f.backupIndex === index);
    const quiesceFailed = failed === undefined ? null : failed.error.kind === 'quiesce' ? `${failed.error.fault.kind}: ${failed.error.fault.reason}` : failed.error.kind;
    const truth: PointTruth | null = tapped === undefined ? null : {
      quiesce: tapped.info.quiesce, snapshotAtUs: tapped.info.createdAtUs, cutUs: tapped.info.quiesce.freezeStartUs ?? tapped.info.createdAtUs, quiesceFailed,
      appsQuiesced: [...appsQuiesced(tapped.info.quiesce, this.scripts)].sort(),
    };
    if (truth !== null) {
      const q = truth.quiesce;
      this.noteDirty(tapped?.info.snapshotId ?? '');
      if (q.freezeStartUs !== null) this.note('freeze', `${q.quiescer} freezes the guest (${q.mode})`, q.freezeStartUs);
      this.note('snapshot', `VmSnapshot ${tapped?.info.snapshotId ?? ''}: quiesce ${q.mode}${quiesceFailed === null ? '' : ` after a failed attempt (${quiesceFailed})`}`, truth.snapshotAtUs);
      if (q.thawUs !== null) this.note('thaw', 'the guest is thawed', q.thawUs);
    }
    if (!r.ok) {
      const error = r.error.kind === 'port' ? `${r.error.during}: ${r.error.error.kind}` : r.error.reason;
      this.note('backup', `${kind} backup failed: ${error}`);
      return { report: null, run: { index, kind, ok: false, error, errorKind: r.error.kind, writersCompleted, pointId: null, truth, claimed: null, restored: null, restoreError: null } };
    }
    const meta = r.value.stored;
    const claimed = claimOf(meta.attributes, meta.claimedLevel, meta.reasons);
    this.note('backup', `${kind} RecoveryPoint ${r.value.pointId.slice(0, 12)} claims ${claimed.apps[this.cell.app] ?? claimed.vm} for ${this.cell.app}`);
    return { report: r.value, run: { index, kind, ok: true, error: null, errorKind: null, writersCompleted, pointId: r.value.pointId, truth, claimed, restored: null, restoreError: null } };
  }

  /** BackupComplete as the VSS writers recorded it in the history since event `from`. */
  private completionsSince(from: number): WriterCompletion[] {
    const out: WriterCompletion[] = [];
    const events = this.hv.sim.history.events();
    for (let i = from; i < events.length; i++) {
      const e = events[i] as (typeof events)[number];
      if (e.kind !== 'vss.writer.backup-complete' || !e.subject.startsWith(`${this.vmId}/`)) continue;
      const d = e.data as { writer?: unknown; backupType?: unknown; succeeded?: unknown; truncated?: unknown };
      out.push({ writer: String(d.writer), backupType: String(d.backupType), succeeded: d.succeeded !== false, truncated: Array.isArray(d.truncated) ? d.truncated.length : 0 });
    }
    return out;
  }

  /** The spec's backups: a full, then CBT incrementals from the last point stored, each followed by its gap of workload. */
  async backups(repo: string): Promise<{ reports: (BackupReport | null)[]; runs: PointRun[] }> {
    const reports: (BackupReport | null)[] = [];
    const runs: PointRun[] = [];
    let parent: ParentPoint | null = null;
    assert(this.spec.backupGapsMs.length >= 1 && this.spec.backupGapsMs.length <= MAX_BACKUPS, 'backups per scenario');
    const noteFault = (d: string): void => { this.note('fault', d); };
    if (this.spec.job.orphan) await leaveOrphan(this.tap.port, this.vmId, this.jobFaults, noteFault);
    for (const [index, gapMs] of this.spec.backupGapsMs.entries()) {
      const { report, run } = await this.backup(repo, index, parent);
      reports.push(report);
      runs.push(run);
      if (report !== null && this.caps.has('incremental')) parent = parentFrom(report);
      this.hv.runFor(gapMs * 1000);
      if (index === 0 && this.spec.job.cbtReset) resetCbt(this.hv, this.vmId, this.jobFaults, noteFault);
    }
    nemesisOf(this.spec.fault).heal(this, this.spec.fault);
    this.noteWrites();
    this.tap.captureLeftovers();
    return { reports, runs };
  }

  /** Reads every disk of a point back through the engine under test, as a restore would. */
  async readBack(repo: string, pointId: string): Promise<Result<ReadBack, string>> {
    const opened = await this.engine.openPoint(repo, pointId);
    if (!opened.ok) return opened;
    try {
      return await this.readDisks(opened.value);
    } finally {
      await this.engine.closePoint(opened.value.point);
    }
  }

  private async readDisks(opened: OpenedPoint): Promise<Result<ReadBack, string>> {
    const images: SparseImage[] = [];
    let bytesRead = 0;
    for (const disk of opened.disks) {
      const image = new SparseImage(disk.capacityBytes, this.vm.disks[images.length]?.info.sectorSizeBytes ?? 512);
      const extents = await this.engine.pointExtents(opened.point, disk.diskId);
      if (!extents.ok) return extents;
      for (const e of extents.value) {
        const bytes = await this.engine.readPoint(opened.point, disk.diskId, e.startBytes, e.lengthBytes);
        if (!bytes.ok) return bytes;
        image.write(e.startBytes, bytes.value);
        bytesRead += e.lengthBytes;
      }
      images.push(image);
    }
    return ok({ images, bytesRead });
  }

  /** Reads a point back through the engine, compares it with its snapshot and judges it in the lab. */
  async judge(repo: string, run: PointRun): Promise<PointRun> {
    if (run.pointId === null || run.truth === null) return run;
    const read = await this.readBack(repo, run.pointId);
    if (!read.ok) return { ...run, restoreError: read.error };
    const { images, bytesRead } = read.value;
    const tapped = this.tap.snapshotOf(run.index);
    let equalsSnapshot: RestoredPoint['equalsSnapshot'] = null;
    if (tapped?.images !== null && tapped?.images !== undefined) {
      const ref = tapped.images;
      const diffs: string[] = [];
      if (ref.length !== images.length) diffs.push(`${images.length} disks restored, the snapshot has ${ref.length}`);
      for (let i = 0; i < Math.min(ref.length, images.length); i++) {
        const grain = SparseImage.firstDifference(images[i] as SparseImage, ref[i] as SparseImage);
        if (grain >= 0) diffs.push(`disk ${i} differs first at grain ${grain} (byte ${grain * 4096})`);
      }
      equalsSnapshot = { equal: diffs.length === 0, detail: diffs.length === 0 ? 'every disk equals the VmSnapshot image' : diffs.join('; ') };
    }
    const inspection = inspectImage(images, { os: GUEST_OS[this.cell.os], apps: this.vm.apps, factories: this.factories });
    this.ledger.collect(this.vm);
    const verdict = judgeLevel({ inspection, acks: this.ledger.acks(), removals: this.ledger.removals(), cutUs: run.truth.cutUs, captureUs: run.truth.snapshotAtUs, appQuiesced: appsQuiesced(run.truth.quiesce, this.scripts) });
    this.note('verdict', `point ${run.index}: ${this.cell.app} ${verdict.apps[this.cell.app]?.level ?? verdict.vm} (${verdict.apps[this.cell.app]?.why ?? verdict.why})`);
    return { ...run, restored: { verdict, equalsSnapshot, bytesRead } };
  }

  /** Restores a point as a new VM and boots it: the RTO, and whether its apps open. */
  async restoreVm(repo: string, run: PointRun): Promise<VmRestoreRun | null> {
    if (run.pointId === null) return null;
    const startUs = this.nowUs;
    const r = await this.engine.restoreVm({ port: this.tap.port, clock: this.hv.sim.clock }, { repo, pointId: run.pointId, spec: {
      name: `restored-${run.index}`, guestOs: this.cell.os, tools: this.cell.tools, apps: this.vm.apps, flags: cellVm(this.cell).flags,
    } });
    if (!r.ok) return { vmId: null, ok: false, detail: typeof r.error === 'string' ? r.error : r.error.kind === 'port' ? `${r.error.during}: ${r.error.error.kind}` : r.error.reason, rtoUs: this.nowUs - startUs, bytesRead: 0, appsOpened: {} };
    const restored = this.hv.vm(r.value.vmId);
    const appsOpened: Partial<Record<AppId, { ok: boolean; recoveryNeeded: boolean }>> = {};
    for (const [app, report] of restored.guest?.openReports ?? []) appsOpened[app] = { ok: report.ok, recoveryNeeded: report.recoveryNeeded };
    const booted = restored.guest !== null;
    this.note('restore', `point ${run.index} restored as VM ${r.value.vmId}: ${booted ? 'boots' : 'does not boot'}, RTO ${(r.value.rtoUs / 1e6).toFixed(3)} s`);
    return { vmId: r.value.vmId, ok: booted, detail: booted ? 'the restored VM boots' : `the restored VM does not boot: ${restored.lastBoot?.ok === false ? restored.lastBoot.reason : 'no guest'}`, rtoUs: r.value.rtoUs, bytesRead: r.value.bytesRead, appsOpened };
  }

  hygiene(): Hygiene {
    const frozen = (this.vm.guest?.volumes ?? []).filter((v) => v.isFrozen).length;
    return {
      frozenVolumes: frozen,
      snapshotsCreated: this.tap.snapshots.length,
      snapshotsLeft: this.tap.snapshots.filter((s) => !s.removed).map((s) => s.info.snapshotId as string),
    };
  }
}

export async function runScenario(spec: ScenarioSpec, options: RunOptions = {}): Promise<ScenarioOutcome> {
  return (await runScenarioKeeping(spec, options)).outcome;
}

/** runScenario, keeping the repository the backups went to (a file-level export reads it). */
export async function runScenarioKeeping(spec: ScenarioSpec, options: RunOptions = {}): Promise<{ readonly outcome: ScenarioOutcome; readonly repo: string; readonly engine: Engine; readonly store: MemoryStore }> {
  const cell = findCell(spec.cellId);
  assert(cell !== undefined, `unknown cell ${spec.cellId}`);
  const phase = options.onPhase ?? (() => undefined);
  phase('boot');
  const engine = options.engine ?? builtinEngine();
  const caps = options.capabilities ?? EVERY_CAPABILITY;
  const s = new Scenario(spec, cell, engine, options.diskBytes, caps);
  try {
    phase('workload');
    await s.warmUp();
    phase('backup');
    const store = new MemoryStore();
    const repo = await s.openRepository(store);
    const { runs } = await s.backups(repo);
    const hygiene = s.hygiene();
    const listed = await s.engine.listPoints(repo);
    const pointsListed = listed.ok ? listed.value.length : null;
    phase('classify');
    const judged: PointRun[] = [];
    for (const run of runs) judged.push(await s.judge(repo, run));
    phase('restore');
    const first = judged.find((r) => r.ok);
    const vmRestore = first === undefined || !caps.has('restore-vm') ? null : await s.restoreVm(repo, first);
    const fileItemRestore = lacking(caps, FILE_ITEM_RESTORES).length > 0 ? null : await judgeFileItemRestores(s, repo, judged);
    phase('end');
    const outcome: ScenarioOutcome = {
      cellId: spec.cellId, points: judged, vmRestore, fileItemRestore, hygiene, pointsListed, crashLosses: s.ledger.crashLosses, jobFaults: { ...s.jobFaults }, guestLost: s.guestLost, timeline: [...s.timeline].sort((a, b) => a.atUs - b.atUs),
      historyDigest: s.hv.sim.history.digest(), endUs: s.nowUs,
    };
    return { outcome, repo, engine, store };
  } finally {
    s.hv.dispose();
  }
}
