/**
 * The simulated hypervisor: one ESXi-like host with its VMs, implementing HypervisorPort
 * for the engine and a wider API (vm(), addVm, faults, power loss) for the harness.
 *
 * Each port call does its work synchronously and lets the virtual time it costs pass
 * (the guests keep running meanwhile) before its Promise resolves; calls must come from
 * outside the event loop (asserted). Costs: a VmSnapshot commit takes 50 ms (plus the
 * memory dump at 2 GB/s with `memory`), a VDDK transfer moves 200 MB/s, consolidation
 * copies the delta at 200 MB/s, other calls take 1 ms.
 *
 * VM-GenerationID: exposed to guests of Tools of 4.1 and later (vSphere 5.0 U2 brought it;
 * the matrix's third column stands for every later version); it changes on revert and is
 * new for every created VM. Leaves out: several hosts, vMotion, resource contention, HA.
 */

import { assert } from '../../core/assert.js';
import { msToUs, type TimeUs } from '../../core/clock.js';
import type {
  AppId, ChangedAreasPage, GuestProgramResult, HypervisorPort, NewVmSpec, PortError, SnapshotInfo, SnapshotSpec, ToolsId, VmFlags, VmInfo, WriterReport,
} from '../../core/hypervisor-port.js';
import { APP_IDS } from '../../core/hypervisor-port.js';
import type { ChangeId} from '../../core/ids.js';
import { DiskId, SnapshotId, VmId } from '../../core/ids.js';
import { err, ok, type Result } from '../../core/result.js';
import type { AppFactory, GuestProgram, WorkloadSpec } from '../apps/types.js';
import { APPS, GUEST_OS, toolsQuiescer, toolsSupport, TOOLS, type LinuxFreezeSupport } from '../guest/catalog.js';
import { mkfs } from '../guest/fs-format.js';
import type { QuiesceContext } from '../guest/quiesce/context.js';
import type { GuestScript } from '../guest/quiesce/scripts.js';
import { toolsQuiesce } from '../guest/quiesce/tools-quiesce.js';
import { PowerGrid } from '../faults/power.js';
import type { Simulation } from '../kernel/simulation.js';
import type { DiskFaults } from '../storage/types.js';
import { GRAIN_BYTES } from '../storage/types.js';
import { VirtualDisk } from '../storage/virtual-disk.js';
import type { VssSession } from '../vss/requestor.js';
import { builtinProgram } from './guest-programs.js';
import { SimVm, type QuiesceFaults, type SimDisk } from './sim-vm.js';

export const TRANSFER_BYTES_PER_US = 200;
export const SNAPSHOT_COMMIT_US: TimeUs = 50_000;
export const MEMORY_DUMP_BYTES_PER_US = 2_000;
export const CALL_US: TimeUs = 1_000;
export const CONSOLIDATE_FIXED_US: TimeUs = 10_000;
/** Tools give up a quiesce after 15 minutes by default (notes fact 8). */
export const DEFAULT_QUIESCE_TIMEOUT_MS = 15 * 60 * 1000;
export const MAX_VMS = 256;
export const MAX_DISKS_PER_VM = 16;
export const DEFAULT_MEMORY_BYTES = 4 * 1024 ** 3;
export const DEFAULT_FLAGS: VmFlags = { enableUuid: true, encrypted: false, disableAppQuiescing: false, guestWriteCache: 'write-back' };
const HOST_ID = 'esx1';

export interface SimHypervisorOptions {
  readonly sim: Simulation;
  readonly apps: Readonly<Partial<Record<AppId, AppFactory>>>;
  /** The hypervisor exposes VM-GenerationID (to Tools of 4.1 and later); default true. */
  readonly generationId?: boolean;
}

export interface AddVmSpec extends NewVmSpec {
  /** Faults of every disk of the VM (lying cache, power-loss plan, CBT bugs). */
  readonly diskFaults?: DiskFaults;
  readonly memoryBytes?: number;
  /** What a Linux guest's kernel offers the freeze driver (default FIFREEZE). */
  readonly linuxFreeze?: LinuxFreezeSupport;
  /** How the guest file system of each disk is formatted (default: mkfs's geometry for the disk's size). */
  readonly guestFs?: { readonly journalBlocks?: number; readonly inodeCount?: number };
  /** Areas per QueryChangedDiskAreas page of each disk (default the disk's, 1024). */
  readonly cbtPageAreas?: number;
}

interface Taken {
  readonly ids: SnapshotId[];
  /** The instant every disk was captured. */
  readonly atUs: TimeUs;
}

function done<T>(r: Result<T, PortError>): Promise<Result<T, PortError>> {
  return Promise.resolve(r);
}

export class SimHypervisor implements HypervisorPort {
  readonly sim: Simulation;
  readonly grid: PowerGrid;
  private readonly vms = new Map<string, SimVm>();
  private readonly factories: Readonly<Partial<Record<AppId, AppFactory>>>;
  private readonly exposesGenerationId: boolean;
  private vmSeq = 0;

  constructor(options: SimHypervisorOptions) {
    this.sim = options.sim;
    this.factories = options.apps;
    this.exposesGenerationId = options.generationId ?? true;
    this.grid = new PowerGrid(this.sim.queue, this.sim.history);
    this.grid.addHost(HOST_ID);
  }

  // ---- harness API (not part of the port) ----------------------------------------------

  vm(vmId: VmId | string): SimVm {
    const vm = this.vms.get(vmId);
    assert(vm !== undefined, `unknown VM ${vmId}`);
    return vm;
  }

  get vmIds(): VmId[] {
    return [...this.vms.keys()].map(VmId);
  }

  /** Creates a VM with formatted disks and its applications installed, and boots it. */
  addVm(spec: AddVmSpec): Result<SimVm, PortError> {
    const created = this.create(spec, true);
    if (!created.ok) return created;
    const vm = created.value;
    this.bootVm(vm);
    return ok(vm);
  }

  startWorkload(vmId: VmId, appId: AppId, spec: WorkloadSpec): void {
    this.vm(vmId).startWorkload(appId, spec);
  }

  setQuiesceFaults(vmId: VmId, faults: QuiesceFaults): void {
    this.vm(vmId).quiesceFaults = faults;
  }

  installScripts(vmId: VmId, scripts: readonly GuestScript[]): void {
    this.vm(vmId).scripts = [...scripts];
  }

  /** Installs guest programs in the VM (runInGuest finds them after the apps' own). */
  installPrograms(vmId: VmId, programs: Readonly<Record<string, GuestProgram>>): void {
    this.vm(vmId).programs = { ...programs };
  }

  powerLossHost(): void {
    this.grid.powerLossHost(HOST_ID);
  }

  /** Lets virtual time pass with no call in flight. */
  runFor(durationUs: TimeUs): void {
    this.advance(durationUs);
  }

  // ---- HypervisorPort -------------------------------------------------------------------

  listVms(): Promise<readonly VmInfo[]> {
    return Promise.resolve([...this.vms.values()].map((vm) => this.info(vm)));
  }

  getVm(vmId: VmId): Promise<Result<VmInfo, PortError>> {
    const vm = this.vms.get(vmId);
    return done(vm === undefined ? err({ kind: 'unknown-vm', vmId }) : ok(this.info(vm)));
  }

  createSnapshot(vmId: VmId, spec: SnapshotSpec): Promise<Result<SnapshotInfo, PortError>> {
    return done(this.withVm(vmId, (vm) => this.snapshot(vm, spec)));
  }

  completeBackup(vmId: VmId, snapshotId: SnapshotId, succeeded: boolean): Promise<Result<readonly WriterReport[], PortError>> {
    return done(this.withVm(vmId, (vm) => {
      const rec = vm.snapshots.get(snapshotId);
      if (rec === undefined) return err({ kind: 'unknown-snapshot', vmId, snapshotId });
      if (rec.session === null) return ok([]);
      if (vm.guest === null || vm.guest.bootSeq !== rec.bootSeq) return err({ kind: 'invalid-state', vmId, reason: 'the guest restarted since the snapshot: its VSS session is gone' });
      const reports = rec.session.complete(succeeded);
      this.advance(CALL_US);
      return ok(reports);
    }));
  }

  removeSnapshot(vmId: VmId, snapshotId: SnapshotId): Promise<Result<void, PortError>> {
    return done(this.withVm(vmId, (vm) => {
      const rec = vm.snapshots.get(snapshotId);
      if (rec === undefined) return err({ kind: 'unknown-snapshot', vmId, snapshotId });
      // Consolidation: the VM keeps writing while each delta is copied down.
      for (let i = 0; i < vm.disks.length; i++) {
        const d = vm.disks[i] as SimDisk;
        const diskSnap = rec.diskSnapshots[i] as SnapshotId;
        const layers = d.disk.stats().allocatedGrainsPerLayer;
        const deltaGrains = layers[layers.length - 1] ?? 0;
        const window = d.disk.startRemoveSnapshot(diskSnap);
        this.advance(CONSOLIDATE_FIXED_US + Math.ceil((deltaGrains * GRAIN_BYTES) / TRANSFER_BYTES_PER_US));
        window.finish();
      }
      vm.snapshots.delete(snapshotId);
      this.sim.history.record({ kind: 'vm.snapshot.remove', subject: vm.vmId, data: { snapshotId } });
      return ok(undefined);
    }));
  }

  revertToSnapshot(vmId: VmId, snapshotId: SnapshotId): Promise<Result<void, PortError>> {
    return done(this.withVm(vmId, (vm) => {
      const rec = vm.snapshots.get(snapshotId);
      if (rec === undefined) return err({ kind: 'unknown-snapshot', vmId, snapshotId });
      if (vm.powerState === 'poweredOn') this.hardOff(vm, 'revert');
      for (let i = 0; i < vm.disks.length; i++) (vm.disks[i] as SimDisk).disk.revertToSnapshot(rec.diskSnapshots[i] as SnapshotId);
      // Later snapshots were discarded by the disks; forget them here too.
      const order = [...vm.snapshots.keys()];
      for (const id of order.slice(order.indexOf(snapshotId) + 1)) vm.snapshots.delete(id);
      vm.generation++;
      this.sim.history.record({ kind: 'vm.revert', subject: vm.vmId, data: { snapshotId } });
      this.advance(CALL_US);
      return ok(undefined);
    }));
  }

  enableChangeTracking(vmId: VmId): Promise<Result<void, PortError>> {
    return done(this.withVm(vmId, (vm) => {
      for (const d of vm.disks) {
        if (!d.disk.changeTrackingEnabled) d.disk.enableChangeTracking();
        d.info = { ...d.info, changeTrackingEnabled: true };
      }
      this.advance(CALL_US);
      return ok(undefined);
    }));
  }

  /**
   * Resets CBT on every disk of the VM as an administrator does (VMware KB 2139574:
   * disable, then enable again) or as a storage vMotion does: a new epoch starts, and
   * every change id issued before is refused from now on. Not a HypervisorPort call: the
   * harness's nemesis (the engine finds out when its next query is refused). Returns the
   * disks reset (those with CBT on).
   */
  resetChangeTracking(vmId: VmId): number {
    const vm = this.vm(vmId);
    let reset = 0;
    for (const d of vm.disks) {
      if (!d.disk.changeTrackingEnabled) continue;
      d.disk.disableChangeTracking();
      d.disk.enableChangeTracking();
      reset++;
    }
    return reset;
  }

  queryChangedDiskAreas(vmId: VmId, snapshotId: SnapshotId, diskId: DiskId, startOffsetBytes: number, changeId: ChangeId | '*'): Promise<Result<ChangedAreasPage, PortError>> {
    return done(this.withVm(vmId, (vm) => {
      const found = this.diskSnapshot(vm, snapshotId, diskId);
      if (!found.ok) return found;
      const { disk, diskSnap } = found.value;
      if (!Number.isSafeInteger(startOffsetBytes) || startOffsetBytes < 0 || startOffsetBytes >= disk.capacityBytes) {
        return err({ kind: 'invalid-argument', field: 'startOffsetBytes', reason: `${startOffsetBytes} is outside the disk` });
      }
      const page = disk.queryChangedDiskAreas(diskSnap, startOffsetBytes, changeId);
      this.advance(CALL_US);
      if (!page.ok) return err({ kind: 'cbt', vmId, diskId, reason: page.error.kind === 'invalid-change-id' ? `invalid change id ${page.error.changeId}: ${page.error.reason}` : page.error.kind });
      return ok(page.value);
    }));
  }

  readSnapshotDisk(vmId: VmId, snapshotId: SnapshotId, diskId: DiskId, offsetBytes: number, lengthBytes: number): Promise<Result<Uint8Array, PortError>> {
    return done(this.withVm(vmId, (vm) => {
      const found = this.diskSnapshot(vm, snapshotId, diskId);
      if (!found.ok) return found;
      const { disk, diskSnap } = found.value;
      const bad = this.badRange(disk.capacityBytes, disk.sectorSizeBytes, offsetBytes, lengthBytes);
      if (bad !== null) return err(bad);
      const bytes = disk.snapshotReader(diskSnap).read(offsetBytes, lengthBytes);
      this.advance(Math.ceil(lengthBytes / TRANSFER_BYTES_PER_US) + 100);
      return ok(bytes);
    }));
  }

  runInGuest(vmId: VmId, program: string, args: readonly string[], input?: Uint8Array): Promise<Result<GuestProgramResult, PortError>> {
    return done(this.withVm(vmId, (vm) => {
      const guest = vm.guest;
      if (guest === null) return err({ kind: 'guest-unavailable', vmId, reason: vm.powerState === 'poweredOn' ? `the guest did not boot: ${vm.lastBoot?.ok === false ? vm.lastBoot.reason : ''}` : 'the VM is powered off' });
      let run = builtinProgram(program, guest.volumes);
      for (const app of guest.apps.values()) run = app.programs[program] ?? run;
      run = vm.programs[program] ?? run;
      const result: GuestProgramResult = run === undefined
        ? { exitCode: 127, stdout: new Uint8Array(0), stderr: `${program}: command not found`, durationUs: 0 }
        : run(args, input);
      this.sim.history.record({ kind: 'guest.run', subject: vm.vmId, data: { program, args: [...args], exitCode: result.exitCode } });
      this.advance(CALL_US + result.durationUs);
      return ok(result);
    }));
  }

  powerOn(vmId: VmId): Promise<Result<void, PortError>> {
    return done(this.withVm(vmId, (vm) => {
      if (vm.powerState === 'poweredOn') return err({ kind: 'invalid-state', vmId, reason: 'already powered on' });
      this.bootVm(vm);
      this.advance(CALL_US);
      return ok(undefined);
    }));
  }

  /**
   * Lets go of what this world holds outside itself. Every SQLite guest's connection lives
   * in the process's one wasm module, and its VFS registration points back into this world
   * (file system, disks, clock), so a world dropped while a SQLite guest runs would never
   * be collected — about 7 MB per scenario, which sank a 100-run matrix. Every running
   * guest's applications crash (memory gone: nothing reaches the disks) and the event
   * queue is emptied. Records nothing. The world is done afterwards: call it last.
   */
  dispose(): void {
    for (const vm of this.vms.values()) {
      const guest = vm.guest;
      if (guest === null) continue;
      for (const app of guest.apps.values()) app.crash();
    }
    this.sim.queue.clear(() => true);
  }

  powerOff(vmId: VmId): Promise<Result<void, PortError>> {
    return done(this.withVm(vmId, (vm) => {
      if (vm.powerState === 'poweredOff') return err({ kind: 'invalid-state', vmId, reason: 'already powered off' });
      this.hardOff(vm, 'power-off');
      this.advance(CALL_US);
      return ok(undefined);
    }));
  }

  shutdownGuest(vmId: VmId): Promise<Result<void, PortError>> {
    return done(this.withVm(vmId, (vm) => {
      const guest = vm.guest;
      if (guest === null) return err({ kind: 'guest-unavailable', vmId, reason: 'no running guest to shut down' });
      for (const app of guest.apps.values()) app.shutdown();
      this.sim.queue.clear((label) => label.startsWith(`${vm.vmId}:`));
      for (const v of guest.volumes) v.unmount();
      guest.dead = true;
      vm.guest = null;
      vm.powerState = 'poweredOff';
      this.grid.powerLossVm(vm.vmId, 'shutdown');
      this.sim.history.record({ kind: 'guest.shutdown', subject: vm.vmId, data: {} });
      this.advance(CALL_US);
      return ok(undefined);
    }));
  }

  createVm(spec: NewVmSpec): Promise<Result<VmInfo, PortError>> {
    this.assertOutsideEvents();
    const created = this.create(spec, false);
    if (!created.ok) return done(created);
    this.advance(CALL_US);
    return done(ok(this.info(created.value)));
  }

  writeDisk(vmId: VmId, diskId: DiskId, offsetBytes: number, data: Uint8Array): Promise<Result<void, PortError>> {
    return done(this.withVm(vmId, (vm) => {
      if (vm.powerState === 'poweredOn') return err({ kind: 'invalid-state', vmId, reason: 'disks of a running VM are written by its guest' });
      const d = vm.disks.find((x) => x.info.diskId === diskId);
      if (d === undefined) return err({ kind: 'unknown-disk', vmId, diskId });
      const bad = this.badRange(d.disk.capacityBytes, d.disk.sectorSizeBytes, offsetBytes, data.length);
      if (bad !== null) return err(bad);
      d.disk.write(offsetBytes, data);
      this.advance(Math.ceil(data.length / TRANSFER_BYTES_PER_US) + 100);
      return ok(undefined);
    }));
  }

  destroyVm(vmId: VmId): Promise<Result<void, PortError>> {
    return done(this.withVm(vmId, (vm) => {
      if (vm.powerState === 'poweredOn') this.hardOff(vm, 'destroy');
      this.vms.delete(vm.vmId);
      this.sim.history.record({ kind: 'vm.destroy', subject: vm.vmId, data: {} });
      return ok(undefined);
    }));
  }

  // ---- internals ------------------------------------------------------------------------

  private assertOutsideEvents(): void {
    assert(!this.sim.queue.inEvent, 'a HypervisorPort call from inside a simulation event: drive the engine from outside the event loop');
  }

  private withVm<T>(vmId: VmId, body: (vm: SimVm) => Result<T, PortError>): Result<T, PortError> {
    this.assertOutsideEvents();
    const vm = this.vms.get(vmId);
    if (vm === undefined) return err({ kind: 'unknown-vm', vmId });
    return body(vm);
  }

  private advance(durationUs: TimeUs): void {
    this.sim.queue.runUntil(this.sim.clock.nowUs() + durationUs);
  }

  private badRange(capacityBytes: number, sectorBytes: number, offsetBytes: number, lengthBytes: number): PortError | null {
    if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0 || offsetBytes % sectorBytes !== 0) {
      return { kind: 'invalid-argument', field: 'offsetBytes', reason: `${offsetBytes} is not a ${sectorBytes}-byte aligned offset on the disk` };
    }
    if (!Number.isSafeInteger(lengthBytes) || lengthBytes < 0 || lengthBytes % sectorBytes !== 0 || offsetBytes + lengthBytes > capacityBytes) {
      return { kind: 'invalid-argument', field: 'lengthBytes', reason: `${lengthBytes} bytes at ${offsetBytes} is not whole sectors inside the disk (${capacityBytes} bytes)` };
    }
    return null;
  }

  private diskSnapshot(vm: SimVm, snapshotId: SnapshotId, diskId: DiskId): Result<{ disk: VirtualDisk; diskSnap: SnapshotId }, PortError> {
    const rec = vm.snapshots.get(snapshotId);
    if (rec === undefined) return err({ kind: 'unknown-snapshot', vmId: vm.vmId, snapshotId });
    const index = vm.disks.findIndex((d) => d.info.diskId === diskId);
    if (index < 0) return err({ kind: 'unknown-disk', vmId: vm.vmId, diskId });
    return ok({ disk: (vm.disks[index] as SimDisk).disk, diskSnap: rec.diskSnapshots[index] as SnapshotId });
  }

  private info(vm: SimVm): VmInfo {
    return {
      vmId: vm.vmId, name: vm.name, guestOs: vm.guestOs, tools: vm.tools, flags: vm.flags,
      disks: vm.disks.map((d) => d.info), powerState: vm.powerState, apps: vm.apps,
      snapshots: [...vm.snapshots.values()].map((r) => r.info), generationId: vm.generationId,
    };
  }

  private validate(spec: NewVmSpec): PortError | null {
    const bad = (field: string, reason: string): PortError => ({ kind: 'invalid-argument', field, reason });
    if (typeof spec.name !== 'string' || spec.name.length === 0 || spec.name.length > 80) return bad('name', 'must be 1 to 80 characters');
    if (!(spec.guestOs in GUEST_OS)) return bad('guestOs', `unknown guest OS '${spec.guestOs}'`);
    if (!(spec.tools in TOOLS)) return bad('tools', `unknown Tools '${spec.tools}'`);
    const unsupported = toolsSupport(spec.guestOs, spec.tools);
    if (unsupported !== null) return bad('tools', unsupported);
    if (spec.disks.length === 0 || spec.disks.length > MAX_DISKS_PER_VM) return bad('disks', `a VM has 1 to ${MAX_DISKS_PER_VM} disks`);
    for (const [i, d] of spec.disks.entries()) {
      if (!Number.isSafeInteger(d.capacityBytes) || d.capacityBytes < 16 * 1024 * 1024 || d.capacityBytes % GRAIN_BYTES !== 0) {
        return bad(`disks[${i}].capacityBytes`, 'must be a whole number of 4 KiB grains, at least 16 MiB');
      }
    }
    const seen = new Set<string>();
    for (const app of spec.apps) {
      if (!(APP_IDS as readonly string[]).includes(app)) return bad('apps', `unknown application '${app}'`);
      if (seen.has(app)) return bad('apps', `'${app}' listed twice`);
      seen.add(app);
      if (!APPS[app].supports(GUEST_OS[spec.guestOs])) return bad('apps', `${APPS[app].name} does not run on ${GUEST_OS[spec.guestOs].name} (${APPS[app].note})`);
      if (this.factories[app] === undefined) return bad('apps', `no model of '${app}' is installed in this hypervisor`);
    }
    return null;
  }

  private create(spec: AddVmSpec, format: boolean): Result<SimVm, PortError> {
    const invalid = this.validate(spec);
    if (invalid !== null) return err(invalid);
    assert(this.vms.size < MAX_VMS, `more than ${MAX_VMS} VMs`);
    this.vmSeq++;
    const vmId = VmId(`vm-${this.vmSeq}`);
    const flags: VmFlags = { ...DEFAULT_FLAGS, ...spec.flags };
    const disks: SimDisk[] = spec.disks.map((d, i) => {
      const diskId = DiskId(`${vmId}-disk${i}`);
      const disk = new VirtualDisk({
        id: diskId, capacityBytes: d.capacityBytes, sectorSizeBytes: d.sectorSizeBytes ?? 512,
        writeCache: flags.guestWriteCache === 'write-back' ? 'write-back' : 'none',
        prng: this.sim.stream(`${vmId}:${diskId}`), clock: this.sim.clock, history: this.sim.history,
        ...(spec.cbtPageAreas === undefined ? {} : { maxExtentsPerPage: spec.cbtPageAreas }),
      });
      if (spec.diskFaults !== undefined) disk.setFaults(spec.diskFaults);
      if (format) {
        const made = mkfs(disk, { ...spec.guestFs, label: `${spec.name.slice(0, 8)}-${i}` });
        assert(made.ok, `mkfs of ${diskId}`);
      }
      this.grid.addDisk(HOST_ID, disk);
      return {
        disk,
        info: { diskId, capacityBytes: d.capacityBytes, sectorSizeBytes: d.sectorSizeBytes ?? 512, controller: d.controller ?? 'scsi', dynamic: d.dynamic ?? false, changeTrackingEnabled: false },
      };
    });
    const vm = new SimVm({
      vmId, name: spec.name, guestOs: spec.guestOs, tools: spec.tools, flags, disks, apps: [...spec.apps],
      memoryBytes: spec.memoryBytes ?? DEFAULT_MEMORY_BYTES, linuxFreeze: spec.linuxFreeze ?? 'fifreeze',
    }, {
      clock: this.sim.clock, queue: this.sim.queue, history: this.sim.history,
      stream: (name) => this.sim.stream(name),
      factory: (appId) => {
        const f = this.factories[appId];
        assert(f !== undefined, `no factory for ${appId}`);
        return f;
      },
      generationIdExposed: (tools: ToolsId) => this.exposesGenerationId && tools === 'esx41',
    });
    this.vms.set(vmId, vm);
    this.grid.addVm(vmId, HOST_ID);
    this.grid.powerLossVm(vmId, 'created powered off');
    this.sim.history.record({ kind: 'vm.create', subject: vmId, data: { name: spec.name, guestOs: spec.guestOs, tools: spec.tools, disks: disks.length } });
    return ok(vm);
  }

  private bootVm(vm: SimVm): void {
    this.grid.powerOn(vm.vmId);
    vm.boot((memory) => { this.grid.attachMemory(vm.vmId, memory); });
    if (vm.guest === null) vm.powerState = 'poweredOn';
  }

  private hardOff(vm: SimVm, cause: string): void {
    this.grid.powerLossVm(vm.vmId, cause);
    vm.guest = null;
    vm.powerState = 'poweredOff';
  }

  private snapshot(vm: SimVm, spec: SnapshotSpec): Result<SnapshotInfo, PortError> {
    if (typeof spec.name !== 'string' || spec.name.length > 80) return err({ kind: 'invalid-argument', field: 'name', reason: 'must be a string of at most 80 characters' });
    vm.snapshotSeq++;
    const snapshotId = SnapshotId(`${vm.vmId}/snap-${vm.snapshotSeq}`);
    const commitUs = vm.quiesceFaults.snapshotCommitUs ?? SNAPSHOT_COMMIT_US;
    const memoryUs = spec.memory && vm.powerState === 'poweredOn' ? Math.ceil(vm.memoryBytes / MEMORY_DUMP_BYTES_PER_US) : 0;
    const pending = new Map<number, Taken>();
    let tokenSeq = 0;
    const take = (): Taken => {
      const ids = vm.disks.map((d) => d.disk.createSnapshot());
      // What the guest held in memory and not on disk at the capture instant (page cache).
      let dirtyPages = 0;
      for (const v of vm.guest?.volumes ?? []) if (!v.isDead) dirtyPages += v.dirtyPages;
      this.sim.history.record({ kind: 'vm.snapshot.take', subject: vm.vmId, data: { snapshotId, disks: ids.length, dirtyPages } });
      return { ids, atUs: this.sim.clock.nowUs() };
    };
    const finish = (taken: Taken, quiesce: SnapshotInfo['quiesce'], session: VssSession | null): Result<SnapshotInfo, PortError> => {
      const diskSnapshots = taken.ids;
      const changeIds: Record<string, ChangeId> = {};
      vm.disks.forEach((d, i) => {
        const id = d.disk.snapshotChangeId(diskSnapshots[i] as SnapshotId);
        if (id !== undefined) changeIds[d.info.diskId] = id;
      });
      const info: SnapshotInfo = { snapshotId, name: spec.name, createdAtUs: taken.atUs, memory: spec.memory, quiesce, changeIds };
      vm.snapshots.set(snapshotId, { info, diskSnapshots, session, bootSeq: vm.bootSeq });
      this.sim.history.record({ kind: 'vm.snapshot.create', subject: vm.vmId, data: { snapshotId, mode: quiesce.mode, quiescer: quiesce.quiescer, fault: quiesce.fault?.kind ?? null } });
      return ok(info);
    };
    const unquiesced = (requested: boolean): SnapshotInfo['quiesce'] => ({
      requested, mode: 'none', quiescer: 'none', fault: null, limitedBy: null, writers: [], scripts: [], attempts: 0, freezeStartUs: null, thawUs: null,
    });

    const guest = vm.guest;
    if (!spec.quiesce || vm.powerState === 'poweredOff') {
      // A powered-off VM is quiescent already; vSphere ignores `quiesce` for it.
      this.advance(memoryUs);
      const taken = take();
      this.advance(commitUs);
      return finish(taken, unquiesced(spec.quiesce), null);
    }
    if (guest === null) {
      const outcome = { ...unquiesced(true), fault: { kind: 'ToolsUnavailable' as const, reason: 'VMware Tools are not running in the guest' } };
      return err({ kind: 'quiesce', vmId: vm.vmId, fault: outcome.fault, outcome });
    }
    const plan = toolsQuiescer(vm.guestOs, vm.tools, vm.flags, vm.disks.map((d) => d.info), vm.linuxFreeze);
    const startUs = this.sim.clock.nowUs();
    const ctx: QuiesceContext = {
      vmId: vm.vmId, clock: this.sim.clock, history: this.sim.history, volumes: guest.volumes,
      deadlineUs: startUs + msToUs(spec.quiesceSpec?.timeoutMs ?? DEFAULT_QUIESCE_TIMEOUT_MS),
      advance: (us) => {
        this.advance(us);
        return vm.guest === guest && !guest.dead;
      },
      takeSnapshot: () => {
        this.advance(memoryUs);
        tokenSeq++;
        pending.set(tokenSeq, take());
        return { token: tokenSeq, commitUs };
      },
      discardSnapshot: (token) => {
        const ids = pending.get(token);
        assert(ids !== undefined, `unknown pending snapshot ${token}`);
        pending.delete(token);
        vm.disks.forEach((d, i) => { d.disk.removeSnapshot(ids.ids[i] as SnapshotId); });
        this.sim.history.record({ kind: 'vm.snapshot.discard', subject: vm.vmId, data: { snapshotId } });
      },
      record: (kind, data) => { this.sim.history.record({ kind, subject: vm.vmId, data }); },
    };
    const result = toolsQuiesce(ctx, {
      plan, backupType: spec.quiesceSpec?.vssBackupType ?? 'full', backupId: snapshotId,
      writers: vm.writers(), scripts: vm.scripts, runScripts: TOOLS[vm.tools].linuxScripts && vm.os.family === 'linux',
      actions: (action, arg) => vm.runAction(action, arg),
    });
    if (!result.ok) {
      for (const token of [...pending.keys()]) ctx.discardSnapshot(token);
      return err({ kind: 'quiesce', vmId: vm.vmId, fault: result.fault, outcome: result.outcome });
    }
    const taken = pending.get(result.snapshotToken);
    assert(taken !== undefined, 'the kept snapshot is pending');
    return finish(taken, result.outcome, result.session);
  }
}
