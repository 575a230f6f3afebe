/**
 * One run of the group suite (P25, P26): an application spanning two or three VMs
 * (sim/apps/group/orders.ts: documents on a file server, orders referencing them on a
 * database VM, with three VMs the application server's journal referencing the orders),
 * all VMs of the cell's guest OS and Tools in one simulation and one hypervisor.
 *
 * 1. The VMs boot, the orders workload runs for the warm-up.
 * 2. The engine backs the group up (`backupGroup`): together (the application server's
 *    `orders-freeze` / `orders-thaw` programs around the VMs' snapshots) or one VM at a
 *    time, in the spec's order; a gap of workload; a second group backup, in which one VM's
 *    snapshot may be refused (the set is then incomplete), and afterwards perhaps a
 *    single-VM backup of one VM (a newer point outside every set).
 * 3. Each group point is read back through the engine and inspected in the lab: the
 *    orders, documents and journal entries its images hold, the references that broke
 *    (an order whose document is absent, a journal entry whose order is absent), the
 *    half-present transactions (a document without its order, an order without its
 *    journal entry), the orders acknowledged before the first capture that are missing.
 *    The truth beside it comes from the hypervisor's history, not the engine's word: each
 *    VM's capture instant, and whether the application was paused at it.
 * 4. The engine recovers a datastore's VMs or the whole site (`recoverScope`); each VM
 *    restored, where its point came from (the harness's own record of what each backup
 *    stored), whether it boots, and the references among the restored VMs.
 *
 * Datastores (the harness's layout; the port has none): with three VMs `ds1` holds the
 * application server and the database, `ds2` the file server; with two, `ds1` holds both.
 * Leaves out: faults inside the guests, incrementals, VMs on several hosts.
 */

import { assert } from '../../core/assert.js';
import type { TimeUs } from '../../core/clock.js';
import type { HypervisorPort } from '../../core/hypervisor-port.js';
import { VmId } from '../../core/ids.js';
import { err, ok, unwrap, type Result } from '../../core/result.js';
import { MemoryStore } from '../../engine/store/memory-store.js';
import { FREEZE_PROGRAM, OrdersWorkload, THAW_PROGRAM, type OrdersRole } from '../../sim/apps/group/orders.js';
import { GUEST_OS } from '../../sim/guest/catalog.js';
import type { FileSystem } from '../../sim/guest/file-system.js';
import { defaultApps } from '../../sim/hypervisor/default-apps.js';
import { mountImages } from '../../sim/hypervisor/inspect.js';
import { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';
import type { SimVm } from '../../sim/hypervisor/sim-vm.js';
import { Simulation } from '../../sim/kernel/simulation.js';
import { cellVm, findCell, type Cell } from '../cells.js';
import type { Engine, GroupBackupReport, ScopeRecoveryReport } from '../engine-api.js';
import { checkReferences, holdsLine, readRoleData, type ReferenceCheck, type RoleData } from './group-refs.js';
import { wrapPort } from './port-wrap.js';
import type { TimelineEvent, TimelineKind } from './run.js';
import { SparseImage } from './sparse-image.js';
import { SCENARIO_GUEST_FS } from './world.js';

export interface GroupSpec {
  readonly cellId: string;
  readonly seed: number;
  readonly vms: 2 | 3;
  readonly together: boolean;
  /** The file server is backed up first (its documents are captured before the orders that reference them). */
  readonly docsFirst: boolean;
  readonly workload: { readonly meanIntervalMs: number; readonly rpcLatencyMs: number; readonly docBytes: number };
  readonly warmupMs: number;
  readonly gapMs: number;
  /** The second group backup: as the first, with one VM's snapshot refused, or followed by a single-VM backup. */
  readonly second: 'clean' | 'vm-fails' | 'extra-single';
  /** Which VM (index) the second backup's fault or extra backup concerns. */
  readonly faultVm: number;
  readonly scope: 'datastore' | 'site';
}

export interface GroupVm {
  readonly vmId: string;
  readonly name: string;
  readonly roles: readonly OrdersRole[];
  readonly datastore: string;
}

/** What the hypervisor's history shows of one VM's capture in a group backup. */
export interface MemberTruth {
  readonly vmId: string;
  readonly pointId: string | null;
  readonly error: string | null;
  /** The instant its disks were captured (null: no snapshot was kept). */
  readonly capturedAtUs: TimeUs | null;
  /** The application was paused (its freeze program had let the transaction in flight finish) at that instant. */
  readonly paused: boolean;
  /** What its point holds, read back through the engine (`holdsLine` per role; null: not read). */
  readonly holds: readonly string[] | null;
}

export interface GroupBackupRun {
  readonly index: number;
  readonly together: boolean;
  /** The engine's report (its claim), or null when the call failed. */
  readonly report: GroupBackupReport | null;
  readonly error: string | null;
  readonly members: readonly MemberTruth[];
  /** The references in the points read back through the engine (null: nothing to read). */
  readonly refs: ReferenceCheck | null;
}

export interface RestoredVm {
  readonly vmId: string;
  readonly restoredVmId: string;
  readonly pointId: string;
  /** Which backup of this run stored the point: `group-<index>`, `single`, or `unknown`. */
  readonly from: string;
  readonly boots: boolean;
  /** What the restored VM's volume holds (`holdsLine` per role; null: it did not boot). */
  readonly holds: readonly string[] | null;
}

export interface ScopeRun {
  readonly scope: 'datastore' | 'site';
  readonly name: string;
  readonly vmIds: readonly string[];
  readonly report: ScopeRecoveryReport | null;
  readonly error: string | null;
  readonly restored: readonly RestoredVm[];
  /** The references among the restored VMs (null: none booted). */
  readonly refs: ReferenceCheck | null;
}

export interface GroupOutcome {
  readonly cellId: string;
  readonly vms: readonly GroupVm[];
  readonly backups: readonly GroupBackupRun[];
  readonly single: { readonly vmId: string; readonly pointId: string | null; readonly error: string | null } | null;
  readonly recovery: ScopeRun | null;
  readonly acknowledged: number;
  /** VmSnapshots of the group's VMs still there after the backups (the engine must remove every one it took). */
  readonly snapshotsLeft: readonly string[];
  readonly timeline: readonly TimelineEvent[];
  readonly historyDigest: string;
}

const ROLES_3: readonly (readonly OrdersRole[])[] = [['journal'], ['orders'], ['docs']];
const ROLES_2: readonly (readonly OrdersRole[])[] = [['orders'], ['docs']];
const NAMES_3 = ['app-server', 'orders-db', 'file-server'];
const NAMES_2 = ['orders-app', 'file-server'];
/** Orders one run issues at most (then the application idles): each is a document file on the file server. */
export const GROUP_MAX_ORDERS = 1_500;
/** Inodes of the file server's volume: a document each, with room to spare. */
const DOCS_INODES = 2_048;

export class GroupScenario {
  readonly timeline: TimelineEvent[] = [];
  readonly hv: SimHypervisor;
  readonly vms: SimVm[] = [];
  readonly layout: GroupVm[] = [];
  readonly workload: OrdersWorkload;
  /** Snapshots of this VM are refused while set (the second backup's fault). */
  refuseSnapshotsOf: string | null = null;
  readonly port: HypervisorPort;
  /** Every point this run's backups stored: point id -> `group-<index>` or `single`. */
  readonly origins = new Map<string, string>();

  constructor(readonly spec: GroupSpec, readonly cell: Cell, readonly engine: Engine) {
    assert([2, 3].includes(spec.vms), 'a group of 2 or 3 VMs');
    const sim = new Simulation({ seed: spec.seed });
    this.hv = new SimHypervisor({ sim, apps: defaultApps().factories });
    const setup = cellVm(cell);
    const roles = spec.vms === 3 ? ROLES_3 : ROLES_2;
    const names = spec.vms === 3 ? NAMES_3 : NAMES_2;
    roles.forEach((r, i) => {
      // The file server holds a file per order: more inodes than a cell VM's few dozen files need.
      const guestFs = r.includes('docs') ? { ...SCENARIO_GUEST_FS, inodeCount: DOCS_INODES } : SCENARIO_GUEST_FS;
      const vm = unwrap(this.hv.addVm({ name: names[i] ?? `vm${i}`, guestOs: cell.os, tools: cell.tools, apps: [], disks: setup.disks, flags: setup.flags, guestFs }));
      if (setup.scripts.length > 0) this.hv.installScripts(vm.vmId, setup.scripts);
      this.vms.push(vm);
      this.layout.push({ vmId: vm.vmId, name: vm.name, roles: r, datastore: spec.vms === 3 && r.includes('docs') ? 'ds2' : 'ds1' });
    });
    const coordinator = this.vms[0] as SimVm;
    this.workload = new OrdersWorkload({
      clock: sim.clock, queue: sim.queue, history: sim.history, prng: sim.stream('group:orders'),
      timerPrefix: `${coordinator.vmId}:group:orders`, subject: `${coordinator.vmId}/orders`, withJournal: spec.vms === 3,
      volume: (role) => this.volumeOf(role),
    });
    this.hv.installPrograms(coordinator.vmId, this.workload.programs());
    this.port = wrapPort(this.hv, {
      createSnapshot: (vmId, s) => (vmId === this.refuseSnapshotsOf
        ? Promise.resolve(err({ kind: 'invalid-state', vmId, reason: 'the datastore refused the snapshot (the nemesis)' }))
        : this.hv.createSnapshot(vmId, s)),
    });
    this.note('boot', `${spec.vms} VMs of ${cell.os} with Tools ${cell.tools}: ${this.layout.map((v) => `${v.name} ${v.vmId} (${v.roles.join(', ')}; ${v.datastore})`).join(', ')}`);
  }

  get nowUs(): TimeUs {
    return this.hv.sim.clock.nowUs();
  }

  note(kind: TimelineKind | 'note', detail: string, atUs: TimeUs = this.nowUs): void {
    assert(this.timeline.length < 10_000, 'timeline bound');
    this.timeline.push({ atUs, kind: kind as TimelineKind, detail });
  }

  private volumeOf(role: OrdersRole): FileSystem | null {
    const i = this.layout.findIndex((v) => v.roles.includes(role));
    const guest = this.vms[i]?.guest ?? null;
    return guest === null ? null : guest.volumes[guest.volumes.length - 1] ?? null;
  }

  /** The group in the order the spec backs it up. */
  groupOrder(): VmId[] {
    const ids = this.vms.map((v) => v.vmId);
    const docs = ids[ids.length - 1] as VmId;
    const rest = ids.slice(0, -1);
    return this.spec.docsFirst ? [docs, ...rest] : [...rest, docs];
  }

  scopeVms(): GroupVm[] {
    return this.spec.scope === 'site' ? [...this.layout] : this.layout.filter((v) => v.datastore === 'ds1');
  }
}

/** Reads a point back through the engine as a restore would: its disks' images. */
export async function readPoint(engine: Engine, repo: string, pointId: string, sectorBytes: ConstructorParameters<typeof SparseImage>[1]): Promise<Result<SparseImage[], string>> {
  const opened = await engine.openPoint(repo, pointId);
  if (!opened.ok) return opened;
  try {
    const images: SparseImage[] = [];
    for (const disk of opened.value.disks) {
      const image = new SparseImage(disk.capacityBytes, sectorBytes);
      const extents = await engine.pointExtents(opened.value.point, disk.diskId);
      if (!extents.ok) return extents;
      for (const e of extents.value) {
        const bytes = await engine.readPoint(opened.value.point, disk.diskId, e.startBytes, e.lengthBytes);
        if (!bytes.ok) return bytes;
        image.write(e.startBytes, bytes.value);
      }
      images.push(image);
    }
    return ok(images);
  } finally {
    await engine.closePoint(opened.value.point);
  }
}

/** The application's data in a point's images, mounted in the lab (journal replay in memory only). */
export function labVolume(images: readonly SparseImage[], cell: Cell): FileSystem | string {
  const mounted = mountImages(images, GUEST_OS[cell.os], new Simulation({ seed: 0 }));
  if (typeof mounted === 'string') return mounted;
  return mounted[mounted.length - 1] ?? 'no volume';
}

export function findGroupCell(spec: GroupSpec): Cell {
  const cell = findCell(spec.cellId);
  assert(cell !== undefined, `unknown cell ${spec.cellId}`);
  return cell;
}

/** What the history shows of each VM's capture since event `from`: its instant, and whether the application was paused then. */
function capturesSince(s: GroupScenario, from: number, pausedBefore: boolean): Map<string, { atUs: TimeUs; paused: boolean }> {
  const events = s.hv.sim.history.events();
  const takes = new Map<string, { atUs: TimeUs; paused: boolean }>();
  const kept = new Map<string, { atUs: TimeUs; paused: boolean }>();
  let paused = pausedBefore;
  for (let i = from; i < events.length; i++) {
    const e = events[i] as (typeof events)[number];
    const snapshotId = typeof e.data['snapshotId'] === 'string' ? e.data['snapshotId'] : '';
    if (e.kind === 'group.orders.pause') paused = true;
    else if (e.kind === 'group.orders.resume') paused = false;
    else if (e.kind === 'vm.snapshot.take') takes.set(snapshotId, { atUs: e.timeUs, paused });
    else if (e.kind === 'vm.snapshot.create') {
      const t = takes.get(snapshotId);
      if (t !== undefined) kept.set(e.subject, t);
    } else if (e.kind === 'guest.run') {
      // Every guest program the engine ran: the application's freeze and thaw, or anything else in their place.
      const program = typeof e.data['program'] === 'string' ? e.data['program'] : '?';
      const exit = typeof e.data['exitCode'] === 'number' ? e.data['exitCode'] : -1;
      const kind = program === FREEZE_PROGRAM ? 'freeze' : program === THAW_PROGRAM ? 'thaw' : 'note';
      s.note(kind, `${kind === 'note' ? 'guest program ' : ''}${program} on ${e.subject}: exit ${exit}`, e.timeUs);
    }
  }
  for (const [vmId, k] of kept) s.note('snapshot', `${vmId} captured${k.paused ? ' while the application was paused' : ' while the application ran'}`, k.atUs);
  return kept;
}

/** Reads each stored point of a group back through the engine and checks the references among them. */
async function judgeSet(s: GroupScenario, repo: string, members: readonly MemberTruth[]): Promise<{ refs: ReferenceCheck | null; holds: Map<string, string[]> }> {
  const data: Partial<Record<OrdersRole, RoleData>> = {};
  const holds = new Map<string, string[]>();
  const malformedReads: string[] = [];
  for (const m of members) {
    if (m.pointId === null) continue;
    const vm = s.layout.find((v) => v.vmId === m.vmId);
    assert(vm !== undefined, `a VM of the group: ${m.vmId}`);
    const images = await readPoint(s.engine, repo, m.pointId, 512);
    const fs = images.ok ? labVolume(images.value, s.cell) : images.error;
    if (typeof fs === 'string') {
      malformedReads.push(`${m.vmId}: ${fs}`);
      continue;
    }
    for (const role of vm.roles) data[role] = readRoleData(fs, role, m.vmId);
    holds.set(m.vmId, vm.roles.map((role) => holdsLine(data[role] as RoleData)));
  }
  if (Object.keys(data).length === 0) return { refs: null, holds };
  const captures = members.map((m) => m.capturedAtUs).filter((t): t is number => t !== null);
  const firstUs = captures.length === 0 ? null : Math.min(...captures);
  const acked = firstUs === null ? null : s.workload.acknowledged().filter((a) => a.timeUs < firstUs).map((a) => a.id);
  const refs = checkReferences(data, acked);
  return { refs: malformedReads.length === 0 ? refs : { ...refs, malformed: [...refs.malformed, ...malformedReads] }, holds };
}

async function groupBackup(s: GroupScenario, repo: string, index: number): Promise<GroupBackupRun> {
  const from = s.hv.sim.history.events().length;
  const pausedBefore = s.workload.isPaused;
  s.note('note', `group backup ${index}: ${s.spec.together ? 'quiesced together' : 'one VM at a time'}, order ${s.groupOrder().join(', ')}; ${s.workload.acknowledged().length} orders acknowledged so far`);
  const coordinator = s.vms[0] as SimVm;
  const r = await s.engine.backupGroup({ port: s.port, clock: s.hv.sim.clock }, {
    repo, vmIds: s.groupOrder(), policy: 'try', together: s.spec.together,
    coordinator: { vmId: coordinator.vmId, freeze: FREEZE_PROGRAM, thaw: THAW_PROGRAM },
  });
  const kept = capturesSince(s, from, pausedBefore);
  const report = r.ok ? r.value : null;
  const members: MemberTruth[] = s.groupOrder().map((vmId) => {
    const m = report?.members.find((x) => x.vmId === vmId);
    const k = kept.get(vmId);
    if (m?.pointId !== undefined && m.pointId !== null) s.origins.set(m.pointId, `group-${index}`);
    return { vmId, pointId: m?.pointId ?? null, error: m?.error ?? (r.ok ? 'not in the report' : r.error), capturedAtUs: k?.atUs ?? null, paused: k?.paused ?? false, holds: null };
  });
  s.note('backup', report === null ? `group backup ${index} failed: ${r.ok ? '' : r.error}` : `group ${report.groupId}: ${members.filter((m) => m.pointId !== null).length}/${members.length} points; claims ${report.consistent ? 'consistent' : 'not consistent'}: ${report.reason}`);
  const { refs, holds } = await judgeSet(s, repo, members);
  if (refs !== null) s.note('verdict', `group point ${index}: ${refs.brokenTotal} broken reference(s)${refs.broken[0] === undefined ? '' : ` (first ${refs.broken[0]})`}, ${refs.halfPresentTotal} half-present`);
  return { index, together: s.spec.together, report, error: r.ok ? null : r.error, members: members.map((m) => ({ ...m, holds: holds.get(m.vmId) ?? null })), refs };
}

async function recover(s: GroupScenario, repo: string): Promise<ScopeRun> {
  const scope = s.scopeVms();
  const name = s.spec.scope === 'site' ? 'site' : 'ds1';
  const flags = cellVm(s.cell).flags;
  s.note('restore', `recovering ${s.spec.scope} ${name}: ${scope.map((v) => v.vmId).join(', ')}`);
  const r = await s.engine.recoverScope({ port: s.port, clock: s.hv.sim.clock }, {
    repo, scope: { kind: s.spec.scope, name },
    vms: scope.map((v) => ({ vmId: VmId(v.vmId), spec: { name: `restored-${v.name}`, guestOs: s.cell.os, tools: s.cell.tools, apps: [], flags } })),
  });
  if (!r.ok) {
    s.note('restore', `recovery of ${s.spec.scope} ${name} failed: ${r.error}`);
    return { scope: s.spec.scope, name, vmIds: scope.map((v) => v.vmId), report: null, error: r.error, restored: [], refs: null };
  }
  const restored: RestoredVm[] = [];
  const data: Partial<Record<OrdersRole, RoleData>> = {};
  for (const x of r.value.restored) {
    const vm = s.hv.vm(x.restoredVmId);
    const guest = vm.guest;
    const from = s.origins.get(x.pointId) ?? 'unknown';
    s.note('restore', `${x.vmId} restored as ${x.restoredVmId} from point ${x.pointId.slice(0, 12)} (${from}): ${guest === null ? 'does not boot' : 'boots'}`);
    const fs = guest === null ? undefined : guest.volumes[guest.volumes.length - 1];
    const roles = s.layout.find((v) => v.vmId === x.vmId)?.roles ?? [];
    if (fs !== undefined) for (const role of roles) data[role] = readRoleData(fs, role, x.vmId);
    const holds = fs === undefined ? null : roles.map((role) => holdsLine(data[role] as RoleData));
    restored.push({ vmId: x.vmId, restoredVmId: x.restoredVmId, pointId: x.pointId, from, boots: guest !== null, holds });
  }
  const refs = Object.keys(data).length === 0 ? null : checkReferences(data, null);
  s.note('verdict', `recovered ${r.value.groupId} (claims ${r.value.consistent ? 'consistent' : 'not consistent'}): ${refs === null ? 'nothing to check' : `${refs.brokenTotal} broken reference(s), ${refs.halfPresentTotal} half-present`}`);
  return { scope: s.spec.scope, name, vmIds: scope.map((v) => v.vmId), report: r.value, error: null, restored, refs };
}

async function singleBackup(s: GroupScenario, repo: string, vmId: string): Promise<GroupOutcome['single']> {
  const r = await s.engine.backup({ port: s.port, clock: s.hv.sim.clock }, { repo, vmId: VmId(vmId), policy: 'try', parent: null });
  if (r.ok) s.origins.set(r.value.pointId, 'single');
  s.note('backup', r.ok ? `single-VM backup of ${vmId}: point ${r.value.pointId.slice(0, 12)} (in no group)` : `single-VM backup of ${vmId} failed`);
  return { vmId, pointId: r.ok ? r.value.pointId : null, error: r.ok ? null : r.error.kind };
}

/** Initialises and opens the run's repository through the engine (as the backup scenario does). */
async function openRepository(s: GroupScenario): Promise<string> {
  const store = new MemoryStore();
  unwrap(await s.engine.initRepository(store, s.hv.sim.clock, { compression: { codec: 'brotli', level: 0 } }));
  return unwrap(await s.engine.openRepository(store, s.hv.sim.clock, { writer: 'scenario', compressionInFlight: 0 }));
}

export async function runGroupScenario(spec: GroupSpec, engine: Engine): Promise<GroupOutcome> {
  const cell = findGroupCell(spec);
  const s = new GroupScenario(spec, cell, engine);
  try {
    const w = spec.workload;
    s.workload.start({ meanIntervalUs: w.meanIntervalMs * 1000, rpcLatencyUs: w.rpcLatencyMs * 1000, docBytes: w.docBytes, maxOrders: GROUP_MAX_ORDERS });
    s.hv.runFor(spec.warmupMs * 1000);
    const repo = await openRepository(s);
    const backups = [await groupBackup(s, repo, 1)];
    s.hv.runFor(spec.gapMs * 1000);
    const faulty = s.layout[spec.faultVm % s.layout.length] as GroupVm;
    if (spec.second === 'vm-fails') {
      s.refuseSnapshotsOf = faulty.vmId;
      s.note('fault', `snapshots of ${faulty.vmId} are refused during group backup 2`);
    }
    backups.push(await groupBackup(s, repo, 2));
    s.refuseSnapshotsOf = null;
    s.hv.runFor(spec.gapMs * 500);
    const single = spec.second === 'extra-single' ? await singleBackup(s, repo, faulty.vmId) : null;
    const snapshotsLeft = s.vms.flatMap((vm) => [...vm.snapshots.keys()]);
    s.workload.stop();
    const recovery = await recover(s, repo);
    s.note('writes', `${s.workload.acknowledged().length} orders acknowledged in all${s.workload.error === null ? '' : `; the workload stopped: ${s.workload.error}`}`);
    return {
      cellId: spec.cellId, vms: s.layout, backups, single, recovery, acknowledged: s.workload.acknowledged().length, snapshotsLeft,
      timeline: [...s.timeline].sort((a, b) => a.atUs - b.atUs), historyDigest: s.hv.sim.history.digest(),
    };
  } finally {
    s.hv.dispose();
  }
}
