/**
 * One replication scenario (seed 002): the cell's VM runs its workload at the source site
 * while the engine replicates it to the DR site in cycles (scenarios/scenario/dr-site.ts);
 * a fault may strike inside a cycle; then nothing, a test failover, a failover, or a
 * failover and a failback. What the hypervisors really did is recorded below the engine:
 * each source VmSnapshot's image and each replica restore point's image (taps), the
 * replica's disks at the instant it powers on, the DR VM's disks when it shut down for
 * failback and the failed-back VM's when it started. The outcome is data the replication
 * properties (P20-P24) judge.
 *
 * Leaves out: re-protection after failback, several VMs per replication job (the group
 * suite's), a replica's restore points judged beyond the ones kept at the end.
 */

import { assert } from '../../core/assert.js';
import type { TimeUs } from '../../core/clock.js';
import type { HypervisorPort, SnapshotInfo } from '../../core/hypervisor-port.js';
import { SnapshotId, type VmId } from '../../core/ids.js';
import type { ConsistencyLevel } from '../../core/levels.js';
import type { AppAwarePolicy } from '../../engine/backup/job.js';
import { GUEST_OS } from '../../sim/guest/catalog.js';
import { inspectImage } from '../../sim/hypervisor/inspect.js';
import type { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';
import { cellVm, findCell, type Cell } from '../cells.js';
import { judgeLevel } from '../checkers/level.js';
import type { CycleReport, Engine } from '../engine-api.js';
import { DrSite, type LinkSpec, type SiteFault } from './dr-site.js';
import { AckLedger } from './ledger.js';
import { appsQuiesced } from './run.js';
import { SparseImage } from './sparse-image.js';
import { GRAIN_BYTES } from '../../sim/storage/types.js';
import { wrapPort } from './port-wrap.js';
import { bootCellWorld, startCellWorkload } from './world.js';
import { allocatedBlocks } from './allocated-blocks.js';

export interface ReplicationSpec {
  readonly seed: number;
  readonly cellId: string;
  readonly policy: AppAwarePolicy;
  readonly intervalMs: number;
  readonly cycles: number;
  readonly keepPoints: number;
  readonly whiteSpace: boolean;
  readonly link: LinkSpec;
  readonly fault: SiteFault;
  readonly after: 'none' | 'test-failover' | 'failover' | 'failback-original' | 'failback-new';
  /** How long the failed-over VM runs at the DR site before failback. */
  readonly drWorkMs: number;
  readonly workload: { readonly meanIntervalMs: number; readonly opsPerTxn: number; readonly valueBytes: number };
}

/** A replica restore point as the DR hypervisor holds it, with the source snapshot it copies. */
export interface JudgedPoint {
  readonly pointId: string;
  readonly cycle: number;
  readonly sourceSnapshotAtUs: TimeUs | null;
  readonly committedAtUs: TimeUs;
  /** The replica point equals the source VmSnapshot (on the blocks the guest uses when white space is skipped). */
  readonly equalsSource: { readonly equal: boolean; readonly detail: string };
  readonly level: ConsistencyLevel | null;
  readonly levelWhy: string;
  readonly claimed: ConsistencyLevel | null;
}

export interface WhiteSpaceRun {
  readonly usedBytes: number;
  readonly capacityBytes: number;
  /** Used blocks (4 KiB) of the source snapshot the first cycle did not write to the replica. */
  readonly usedNotSent: number;
  readonly firstUsedNotSent: number | null;
  readonly reportedSkipped: number;
  readonly bytesSent: number;
}

export interface FailoverRun {
  readonly kind: 'test' | 'failover';
  readonly ok: boolean;
  readonly detail: string;
  /** The point the engine booted, and the newest complete point at that instant. */
  readonly pointId: string | null;
  readonly newestPointId: string | null;
  /** The booted disks equal the point's image. */
  readonly bootedEqualsPoint: { readonly equal: boolean; readonly detail: string } | null;
  /** Test failover: the replica's disks and points unchanged. */
  readonly replicaUntouched: boolean | null;
  readonly boots: boolean;
  readonly rtoUs: TimeUs;
}

export interface FailbackRun {
  readonly ok: boolean;
  readonly detail: string;
  readonly target: 'original' | 'new';
  /** The failed-back VM's disks at power-on equal the DR VM's when it shut down. */
  readonly equalsDr: { readonly equal: boolean; readonly detail: string } | null;
  readonly boots: boolean;
  readonly finalAtUs: TimeUs | null;
}

export interface ReplicationOutcome {
  readonly cellId: string;
  readonly error: string | null;
  readonly cycles: readonly CycleReport[];
  /** Cycles after a failback, replicating the failed-back VM into the same replica (re-protection). */
  readonly reprotectedCycles: readonly CycleReport[];
  readonly points: readonly JudgedPoint[];
  readonly sourceSnapshots: readonly { readonly atUs: TimeUs; readonly quiesceStartUs: TimeUs }[];
  readonly whiteSpace: WhiteSpaceRun | null;
  readonly faultFiredAtUs: TimeUs | null;
  readonly failover: FailoverRun | null;
  readonly failback: FailbackRun | null;
  readonly startUs: TimeUs;
  /** No cycle was to start at or after this instant (the RPO is judged up to it). */
  readonly replicationEndUs: TimeUs;
  /** The cycle interval asked for. */
  readonly intervalUs: TimeUs;
  readonly endUs: TimeUs;
  readonly bytesOverLink: number;
  readonly timeline: readonly { readonly atUs: TimeUs; readonly kind: string; readonly detail: string }[];
}

/** The disks of a VM as they are now (a copy). */
export function currentImages(hv: SimHypervisor, vmId: VmId | string): SparseImage[] {
  const vm = hv.vm(vmId);
  return vm.disks.map((d) => {
    const image = new SparseImage(d.info.capacityBytes, d.info.sectorSizeBytes);
    image.write(0, d.disk.read(0, d.info.capacityBytes));
    return image;
  });
}

export function snapshotImages(hv: SimHypervisor, vmId: VmId | string, snapshotId: string): SparseImage[] | null {
  const vm = hv.vm(vmId);
  const rec = vm.snapshots.get(SnapshotId(snapshotId));
  if (rec === undefined) return null;
  return vm.disks.map((d, i) => SparseImage.fromGrains(d.info.capacityBytes, d.info.sectorSizeBytes, d.disk.snapshotGrains(rec.diskSnapshots[i] as SnapshotId)));
}

export function compareImages(a: readonly SparseImage[], b: readonly SparseImage[], only?: readonly Uint8Array[]): { equal: boolean; detail: string } {
  if (a.length !== b.length) return { equal: false, detail: `${a.length} disks against ${b.length}` };
  for (let i = 0; i < a.length; i++) {
    const used = only?.[i];
    const grain = SparseImage.firstDifference(a[i] as SparseImage, b[i] as SparseImage, used === undefined ? undefined : (g) => used[g] === 1);
    if (grain >= 0) return { equal: false, detail: `disk ${i} differs first at block ${grain} (byte ${grain * GRAIN_BYTES})` };
  }
  return { equal: true, detail: only === undefined ? 'every disk equal' : 'every block the guest uses equal' };
}

/** What the harness records below the engine (hypervisor truth). */
class ReplicationTaps {
  readonly sourceSnaps: { readonly info: SnapshotInfo; readonly calledAtUs: TimeUs; readonly images: SparseImage[] }[] = [];
  /** Each replica VmSnapshot: its images and the source snapshots taken before it. */
  readonly drPoints = new Map<string, { readonly images: SparseImage[]; readonly index: number; readonly atUs: TimeUs; readonly vmId: string }>();
  /** Writes to DR disks, with the number of DR VmSnapshots taken before each (0: the first cycle's). */
  readonly drWrites: { readonly vmId: string; readonly diskId: string; readonly offset: number; readonly length: number; readonly pointsBefore: number }[] = [];
  readonly poweredOn = new Map<string, SparseImage[]>();
  readonly shutDown = new Map<string, SparseImage[]>();
  readonly source: HypervisorPort;
  readonly dr: HypervisorPort;

  constructor(private readonly srcHv: SimHypervisor, private readonly site: DrSite) {
    this.source = wrapPort(site.sourcePort, {
      createSnapshot: async (vm, spec) => {
        const calledAtUs = this.srcHv.sim.clock.nowUs();
        const r = await site.sourcePort.createSnapshot(vm, spec);
        // Any VM's: after a failback, the failed-back VM is the source (re-protection).
        if (r.ok) this.sourceSnaps.push({ info: r.value, calledAtUs, images: snapshotImages(this.srcHv, vm, r.value.snapshotId) ?? [] });
        return r;
      },
      powerOn: async (vm) => {
        if (this.srcHv.vmIds.includes(vm)) this.poweredOn.set(`source:${vm}`, currentImages(this.srcHv, vm));
        return site.sourcePort.powerOn(vm);
      },
    });
    this.dr = this.drPort();
  }

  private drPort(): HypervisorPort {
    const site = this.site;
    const hv = site.hv;
    return wrapPort(site.port, {
      createSnapshot: async (vm, spec) => {
        const r = await site.port.createSnapshot(vm, spec);
        if (r.ok) this.drPoints.set(r.value.snapshotId, { images: snapshotImages(hv, vm, r.value.snapshotId) ?? [], index: this.drPoints.size, atUs: hv.sim.clock.nowUs(), vmId: vm });
        return r;
      },
      writeDisk: async (vm, diskId, offset, data) => {
        const r = await site.port.writeDisk(vm, diskId, offset, data);
        if (r.ok) this.drWrites.push({ vmId: vm, diskId, offset, length: data.length, pointsBefore: this.drPoints.size });
        return r;
      },
      powerOn: async (vm) => {
        if (hv.vmIds.includes(vm)) this.poweredOn.set(`dr:${vm}`, currentImages(hv, vm));
        return site.port.powerOn(vm);
      },
      shutdownGuest: async (vm) => {
        const r = await site.port.shutdownGuest(vm);
        if (r.ok) this.shutDown.set(vm, currentImages(hv, vm));
        return r;
      },
    });
  }
}

const WARMUP_MS = 400;

/** The engine's timer: waiting runs the world until then (it never sleeps). */
function timerOf(hv: SimHypervisor): { clock: SimHypervisor['sim']['clock']; waitUntil(t: TimeUs): Promise<void> } {
  return {
    clock: hv.sim.clock,
    waitUntil: (t) => {
      if (t > hv.sim.clock.nowUs()) hv.runFor(t - hv.sim.clock.nowUs());
      return Promise.resolve();
    },
  };
}

class ReplicationRun {
  readonly world: ReturnType<typeof bootCellWorld>;
  readonly site: DrSite;
  readonly taps: ReplicationTaps;
  readonly ledger = new AckLedger();
  readonly timeline: { atUs: TimeUs; kind: string; detail: string }[] = [];
  replica: string | null = null;
  replicationEndUs: TimeUs = 0;

  constructor(readonly spec: ReplicationSpec, readonly cell: Cell, readonly engine: Engine) {
    this.world = bootCellWorld(cell, { seed: spec.seed });
    startCellWorkload(this.world, spec.workload);
    this.site = new DrSite(this.world.hv, this.world.factories, spec.link, spec.fault);
    this.taps = new ReplicationTaps(this.world.hv, this.site);
  }

  get nowUs(): TimeUs {
    return this.world.hv.sim.clock.nowUs();
  }

  note(kind: string, detail: string): void {
    this.timeline.push({ atUs: this.nowUs, kind, detail });
  }

  get sourceEnv(): { port: HypervisorPort; clock: SimHypervisor['sim']['clock'] } {
    return { port: this.taps.source, clock: this.world.hv.sim.clock };
  }

  get drEnv(): { port: HypervisorPort; clock: SimHypervisor['sim']['clock'] } {
    return { port: this.taps.dr, clock: this.world.hv.sim.clock };
  }

  async replicate(): Promise<{ cycles: readonly CycleReport[]; error: string | null }> {
    this.world.hv.runFor(WARMUP_MS * 1000);
    this.note('boot', `${this.cell.os}/${this.cell.tools} VM runs ${this.world.vm.apps.join(', ')}; link ${(this.spec.link.bytesPerSecond / 1e6).toFixed(1)} MB/s, ${this.spec.link.latencyMs} ms`);
    const hv = this.world.hv;
    const timer = timerOf(hv);
    const untilUs = this.nowUs + this.spec.cycles * this.spec.intervalMs * 1000;
    this.replicationEndUs = untilUs;
    const appScripts = cellVm(this.cell).appScripts;
    const done = await this.engine.replicate(this.sourceEnv, this.drEnv, timer, {
      replica: null, vmId: this.world.vm.vmId, policy: this.spec.policy, intervalUs: this.spec.intervalMs * 1000, untilUs,
      keepPoints: this.spec.keepPoints, whiteSpace: this.spec.whiteSpace, appScripts: appScripts,
    });
    if (this.nowUs < untilUs) hv.runFor(untilUs - this.nowUs);
    this.ledger.collect(this.world.vm);
    if (!done.ok) return { cycles: [], error: `replicate: ${done.error}` };
    this.replica = done.value.replica;
    for (const c of done.value.cycles) this.timeline.push({ atUs: c.startUs, kind: c.ok ? 'cycle' : 'fault', detail: `cycle ${c.cycle} (${c.kind}) ${c.ok ? `point ${c.pointId ?? ''}` : `failed: ${c.error ?? ''}`}, ${c.bytesSent} bytes sent${c.bytesSkippedWhiteSpace > 0 ? `, ${c.bytesSkippedWhiteSpace} bytes of white space skipped` : ''}` });
    this.timeline.sort((a, b) => a.atUs - b.atUs);
    return { cycles: done.value.cycles, error: null };
  }
}


/**
 * The source VmSnapshot a cycle's point copies: the one the hypervisor took at the instant
 * the cycle names (the engine says which snapshot; the images compared are the hypervisor's).
 */
function sourceOf(run: ReplicationRun, c: CycleReport): ReplicationTaps['sourceSnaps'][number] | undefined {
  return c.snapshotAtUs === null ? undefined : run.taps.sourceSnaps.find((s) => s.info.createdAtUs === c.snapshotAtUs);
}

/** Each complete cycle's point: equal to its source VmSnapshot, and the level it reaches in the lab. */
function judgePoints(run: ReplicationRun, cycles: readonly CycleReport[]): JudgedPoint[] {
  const out: JudgedPoint[] = [];
  for (const c of cycles) {
    if (!c.ok || c.pointId === null) continue;
    const tapped = run.taps.drPoints.get(c.pointId);
    const source = sourceOf(run, c);
    const claimed = c.claim?.apps[run.cell.app] ?? c.claim?.vm ?? null;
    if (tapped === undefined || source === undefined) {
      out.push({ pointId: c.pointId, cycle: c.cycle, sourceSnapshotAtUs: null, committedAtUs: c.endUs, equalsSource: { equal: false, detail: tapped === undefined ? `the DR site holds no snapshot ${c.pointId}` : `no source VmSnapshot was taken at ${c.snapshotAtUs ?? '?'} us, the instant the cycle names` }, level: null, levelWhy: 'no image', claimed });
      continue;
    }
    const used = run.spec.whiteSpace ? source.images.map((img) => allocatedBlocks(img) ?? new Uint8Array(Math.ceil(img.capacityBytes / 4096)).fill(1)) : undefined;
    const equalsSource = compareImages(tapped.images, source.images, used);
    const inspection = inspectImage(tapped.images, { os: GUEST_OS[run.cell.os], apps: run.world.vm.apps, factories: run.world.factories });
    const q = source.info.quiesce;
    const verdict = judgeLevel({ inspection, acks: run.ledger.acks(), removals: run.ledger.removals(), cutUs: q.freezeStartUs ?? source.info.createdAtUs, captureUs: source.info.createdAtUs, appQuiesced: appsQuiesced(q, run.world.scripts) });
    const app = verdict.apps[run.cell.app];
    out.push({ pointId: c.pointId, cycle: c.cycle, sourceSnapshotAtUs: source.info.createdAtUs, committedAtUs: tapped.atUs, equalsSource, level: app?.level ?? verdict.vm, levelWhy: app?.why ?? verdict.why, claimed });
  }
  return out;
}

/** The first cycle's white-space skipping against the source snapshot's allocation (null: no full cycle completed with skipping on). */
function judgeWhiteSpace(run: ReplicationRun, cycles: readonly CycleReport[]): WhiteSpaceRun | null {
  const first = cycles.find((c) => c.ok && c.kind === 'full');
  if (!run.spec.whiteSpace || first === undefined || first.pointId === null) return null;
  const tapped = run.taps.drPoints.get(first.pointId);
  const source = sourceOf(run, first);
  if (tapped === undefined || source === undefined) return null;
  const image = source.images[0];
  if (image === undefined) return null;
  const used = allocatedBlocks(image) ?? new Uint8Array(Math.ceil(image.capacityBytes / 4096)).fill(1);
  const sent = new Uint8Array(used.length);
  const diskOfReplica = run.site.hv.vm(tapped.vmId).disks[0]?.info.diskId;
  for (const w of run.taps.drWrites) {
    if (w.vmId !== tapped.vmId || w.pointsBefore !== tapped.index || w.diskId !== diskOfReplica) continue;
    for (let b = Math.floor(w.offset / 4096); b < Math.ceil((w.offset + w.length) / 4096); b++) sent[b] = 1;
  }
  let usedBytes = 0;
  let usedNotSent = 0;
  let firstUsedNotSent: number | null = null;
  for (let b = 0; b < used.length; b++) {
    if (used[b] !== 1) continue;
    usedBytes += 4096;
    if (sent[b] === 1) continue;
    usedNotSent++;
    firstUsedNotSent ??= b;
  }
  return { usedBytes, capacityBytes: image.capacityBytes, usedNotSent, firstUsedNotSent, reportedSkipped: first.bytesSkippedWhiteSpace, bytesSent: first.bytesSent };
}

/** Failover or test failover after the replication; the booted disks against the point's image. */
async function runFailover(run: ReplicationRun, kind: 'test' | 'failover'): Promise<FailoverRun> {
  const replica = run.replica;
  assert(replica !== null, 'a replica to fail over');
  const newest = [...run.taps.drPoints.entries()].filter(([, p]) => p.atUs <= run.nowUs).pop()?.[0] ?? null;
  const replicaVm = newest === null ? null : run.taps.drPoints.get(newest)?.vmId ?? null;
  const before = replicaVm === null ? null : JSON.stringify([currentImages(run.site.hv, replicaVm).map((i) => i.digest()), run.site.hv.vm(replicaVm).snapshots.size]);
  const startUs = run.nowUs;
  const r = kind === 'test' ? await run.engine.testFailover(run.drEnv, { replica, pointId: null }) : await run.engine.failover(run.drEnv, { replica, pointId: null });
  const rtoUs = run.nowUs - startUs;
  if (!r.ok) {
    run.note('fault', `${kind === 'test' ? 'test failover' : 'failover'} failed: ${r.error}`);
    return { kind, ok: false, detail: r.error, pointId: null, newestPointId: newest, bootedEqualsPoint: null, replicaUntouched: null, boots: false, rtoUs };
  }
  const booted = run.taps.poweredOn.get(`dr:${r.value.vmId}`);
  const point = run.taps.drPoints.get(r.value.pointId);
  const bootedEqualsPoint = booted === undefined || point === undefined ? { equal: false, detail: `no image of ${booted === undefined ? 'the booted VM at power-on' : `point ${r.value.pointId}`}` } : compareImages(booted, point.images);
  const vm = run.site.hv.vm(r.value.vmId);
  const after = kind === 'test' && replicaVm !== null ? JSON.stringify([currentImages(run.site.hv, replicaVm).map((i) => i.digest()), run.site.hv.vm(replicaVm).snapshots.size]) : null;
  run.note('restore', `${kind === 'test' ? 'test failover' : 'failover'}: point ${r.value.pointId} booted as ${r.value.vmId} at the DR site in ${(rtoUs / 1e6).toFixed(3)} s; ${bootedEqualsPoint.detail}`);
  return { kind, ok: true, detail: 'booted', pointId: r.value.pointId, newestPointId: newest, bootedEqualsPoint, replicaUntouched: kind === 'test' ? before === after : null, boots: vm.guest !== null, rtoUs };
}

/** Re-protection: the failed-back VM runs its workload and the same replica goes on replicating it for two intervals (by CBT). */
async function reprotect(run: ReplicationRun, vmId: string): Promise<readonly CycleReport[]> {
  const hv = run.world.hv;
  const vm = hv.vm(vmId);
  if (vm.guest === null || run.replica === null) return [];
  startCellWorkload({ hv, vm }, run.spec.workload);
  const timer = timerOf(hv);
  const done = await run.engine.replicate(run.sourceEnv, run.drEnv, timer, {
    replica: run.replica, vmId: vm.vmId, policy: run.spec.policy, intervalUs: run.spec.intervalMs * 1000, untilUs: run.nowUs + 2 * run.spec.intervalMs * 1000,
    keepPoints: run.spec.keepPoints, whiteSpace: run.spec.whiteSpace, appScripts: cellVm(run.cell).appScripts,
  });
  if (!done.ok) {
    run.note('fault', `re-protection refused: ${done.error}`);
    return [];
  }
  for (const c of done.value.cycles) run.timeline.push({ atUs: c.startUs, kind: c.ok ? 'cycle' : 'fault', detail: `re-protection: cycle ${c.cycle} (${c.kind}) ${c.ok ? `point ${c.pointId ?? ''}` : `failed: ${c.error ?? ''}`}, ${c.bytesSent} bytes sent` });
  return done.value.cycles;
}

/** Failover, the VM works at the DR site, then failback; the failed-back disks against the DR VM's at shutdown. */
async function runFailback(run: ReplicationRun, target: 'original' | 'new'): Promise<{ failover: FailoverRun; failback: FailbackRun | null; reprotected?: readonly CycleReport[] }> {
  const fo = await runFailover(run, 'failover');
  if (!fo.ok || run.replica === null) return { failover: fo, failback: null };
  const drVm = [...run.taps.poweredOn.keys()].filter((k) => k.startsWith('dr:')).pop()?.slice(3);
  assert(drVm !== undefined, 'the failed-over VM powered on');
  startCellWorkload({ hv: run.site.hv, vm: run.site.hv.vm(drVm) }, run.spec.workload);
  run.world.hv.runFor(run.spec.drWorkMs * 1000);
  run.site.repairSource();
  if (target === 'new') await run.world.hv.destroyVm(run.world.vm.vmId);
  run.note('writes', `the VM ran ${run.spec.drWorkMs} ms at the DR site; failback to ${target === 'new' ? 'a new VM' : 'the original VM'}`);
  const r = await run.engine.failback(run.sourceEnv, run.drEnv, { replica: run.replica, target });
  if (!r.ok) {
    run.note('fault', `failback failed: ${r.error}`);
    return { failover: fo, failback: { ok: false, detail: r.error, target, equalsDr: null, boots: false, finalAtUs: null } };
  }
  const atShutdown = run.taps.shutDown.get(drVm);
  const started = run.taps.poweredOn.get(`source:${r.value.vmId}`);
  // What the guest sees: the blocks its file system uses (a free block's stale bytes on the original are not the guest's data).
  const used = atShutdown?.map((img) => allocatedBlocks(img) ?? new Uint8Array(Math.ceil(img.capacityBytes / GRAIN_BYTES)).fill(1));
  const equalsDr = atShutdown === undefined || started === undefined ? { equal: false, detail: `no image of ${atShutdown === undefined ? 'the DR VM at its shutdown' : 'the failed-back VM at power-on'}` } : compareImages(started, atShutdown, used);
  run.note('restore', `failback: ${r.value.vmId} started at the source site; ${equalsDr.detail}`);
  const reprotected = await reprotect(run, r.value.vmId);
  return { failover: fo, failback: { ok: true, detail: 'started', target, equalsDr, boots: run.world.hv.vm(r.value.vmId).guest !== null, finalAtUs: r.value.finalAtUs }, reprotected };
}

/** One replication scenario against `engine` (a session the runner initialised). */
export async function runReplication(spec: ReplicationSpec, engine: Engine): Promise<ReplicationOutcome> {
  const cell = findCell(spec.cellId);
  assert(cell !== undefined, `unknown cell ${spec.cellId}`);
  const run = new ReplicationRun(spec, cell, engine);
  const startUs = run.nowUs;
  const { cycles, error } = await run.replicate();
  let failover: FailoverRun | null = null;
  let failback: FailbackRun | null = null;
  // A failover is run at the DR site: the link is back, the datastore has room again.
  if (spec.after !== 'none') run.site.healDrSite();
  if (error === null && spec.after === 'test-failover') failover = await runFailover(run, 'test');
  if (error === null && spec.after === 'failover') failover = await runFailover(run, 'failover');
  let reprotected: readonly CycleReport[] = [];
  if (error === null && (spec.after === 'failback-original' || spec.after === 'failback-new')) ({ failover, failback, reprotected = [] } = await runFailback(run, spec.after === 'failback-new' ? 'new' : 'original'));
  const fired = run.site.probe.firedAtUs;
  if (fired !== null) {
    const what = { 'link-drop': 'the link to the DR site drops', 'source-host-dies': 'the source host loses power', 'dr-full': 'the DR datastore is full', none: '' }[spec.fault.kind];
    run.timeline.push({ atUs: fired, kind: 'fault', detail: `${what} (inside cycle ${spec.fault.kind === 'none' ? '?' : spec.fault.cycle - 1}); ${run.site.probe.refused} call(s) refused` });
    run.timeline.sort((a, b) => a.atUs - b.atUs);
  }
  const points = judgePoints(run, [...cycles, ...reprotected]);
  const outcome: ReplicationOutcome = {
    cellId: spec.cellId, error, cycles, reprotectedCycles: reprotected, points,
    sourceSnapshots: run.taps.sourceSnaps.map((s) => ({ atUs: s.info.createdAtUs, quiesceStartUs: s.calledAtUs })),
    whiteSpace: judgeWhiteSpace(run, cycles), faultFiredAtUs: run.site.probe.firedAtUs, failover, failback,
    startUs, replicationEndUs: run.replicationEndUs, intervalUs: spec.intervalMs * 1000, endUs: run.nowUs, bytesOverLink: run.site.bytesOverLink, timeline: run.timeline,
  };
  run.world.hv.dispose();
  return outcome;
}
