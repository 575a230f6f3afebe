/**
 * One simulated VM: its configuration, its virtual disks (with their snapshot chains and
 * CBT), and, while it runs, its guest: a mounted file system per disk, the applications
 * and their writers, the guest scripts and programs that VMware Tools can run.
 *
 * Boot mounts every disk (journal replay) and opens every installed application (crash
 * recovery when its data needs it); the reports are kept for the harness. A disk without
 * a file system or a volume that cannot be mounted leaves the guest down (no Tools).
 * Power loss wipes the guest (file systems, applications, their timers); the disks keep
 * what they keep. Leaves out: CPU and memory contention, guest patches, Tools upgrades.
 */

import { assert } from '../../core/assert.js';
import type { AppId, GuestOsId, SnapshotInfo, ToolsId, VmDiskInfo, VmFlags } from '../../core/hypervisor-port.js';
import type { SnapshotId, VmId } from '../../core/ids.js';
import type { HistorySink } from '../../core/history.js';
import type { Prng } from '../../core/prng.js';
import type { AppFactory, AppHost, GuestApp, GuestProgram, OpenReport, ScriptActionResult, ScriptArgument, WorkloadSpec } from '../apps/types.js';
import { GUEST_OS, type GuestOsFacts, type LinuxFreezeSupport } from '../guest/catalog.js';
import { FileSystem } from '../guest/file-system.js';
import type { GuestScript } from '../guest/quiesce/scripts.js';
import type { EventQueue } from '../kernel/event-queue.js';
import type { VirtualClock } from '../kernel/clock.js';
import type { VirtualDisk } from '../storage/virtual-disk.js';
import type { VssSession } from '../vss/requestor.js';
import { FaultyWriter, type WriterFaultPlan } from '../vss/faulty-writer.js';
import type { VssWriter } from '../vss/types.js';

export interface SimDisk {
  info: VmDiskInfo;
  readonly disk: VirtualDisk;
}

export interface SnapshotRecord {
  readonly info: SnapshotInfo;
  /** The snapshot id of each disk, in disk order. */
  readonly diskSnapshots: readonly SnapshotId[];
  readonly session: VssSession | null;
  /** The guest boot the VSS session belongs to (BackupComplete needs the same writers). */
  readonly bootSeq: number;
}

/** Faults of the quiescing path, set by the nemesis. */
export interface QuiesceFaults {
  /** Per writer name. */
  readonly writers?: Readonly<Record<string, WriterFaultPlan>>;
  /** How long the hypervisor's snapshot (the VSS provider commit) takes. */
  readonly snapshotCommitUs?: number;
}

export class GuestRuntime {
  readonly apps = new Map<AppId, GuestApp>();
  readonly openReports = new Map<AppId, OpenReport>();
  dead = false;

  constructor(readonly volumes: readonly FileSystem[], readonly bootSeq: number, private readonly onCrash: () => void) {}

  /** GuestMemory: a power loss. */
  crash(): void {
    if (this.dead) return;
    this.dead = true;
    for (const app of this.apps.values()) app.crash();
    for (const v of this.volumes) if (!v.isDead) v.crash();
    this.onCrash();
  }
}

/** What a VM is created with: its configuration fields. */
export type SimVmSetup = Pick<SimVm, 'vmId' | 'name' | 'guestOs' | 'tools' | 'flags' | 'disks' | 'apps' | 'memoryBytes' | 'linuxFreeze'>;

export interface VmWorld {
  readonly clock: VirtualClock;
  readonly queue: EventQueue;
  readonly history: HistorySink;
  stream(name: string): Prng;
  factory(appId: AppId): AppFactory;
  /** Whether the hypervisor exposes VM-GenerationID to guests of this Tools generation. */
  generationIdExposed(tools: ToolsId): boolean;
}

export type BootReport = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export class SimVm {
  readonly vmId: VmId;
  readonly name: string;
  readonly guestOs: GuestOsId;
  readonly tools: ToolsId;
  readonly flags: VmFlags;
  readonly disks: SimDisk[];
  readonly apps: readonly AppId[];
  readonly memoryBytes: number;
  readonly linuxFreeze: LinuxFreezeSupport;
  readonly os: GuestOsFacts;
  readonly snapshots = new Map<string, SnapshotRecord>();
  scripts: GuestScript[] = [];
  /** Guest programs the harness installed beside the apps' (an application spanning VMs: sim/apps/group/). */
  programs: Readonly<Record<string, GuestProgram>> = {};
  quiesceFaults: QuiesceFaults = {};
  guest: GuestRuntime | null = null;
  lastBoot: BootReport | null = null;
  /** Bumped on revert and on creation: the VM-GenerationID. */
  generation = 1;
  bootSeq = 0;
  snapshotSeq = 0;

  constructor(setup: SimVmSetup, private readonly world: VmWorld) {
    this.vmId = setup.vmId;
    this.name = setup.name;
    this.guestOs = setup.guestOs;
    this.tools = setup.tools;
    this.flags = setup.flags;
    this.disks = setup.disks;
    this.apps = setup.apps;
    this.memoryBytes = setup.memoryBytes;
    this.linuxFreeze = setup.linuxFreeze;
    this.os = GUEST_OS[setup.guestOs];
  }

  /** Powered on even when the guest did not come up (an unmountable disk). */
  powerState: 'poweredOn' | 'poweredOff' = 'poweredOff';

  get toolsRunning(): boolean {
    return this.guest !== null && !this.guest.dead;
  }

  get generationId(): string | null {
    return this.world.generationIdExposed(this.tools) ? `${this.vmId}-gen-${this.generation}` : null;
  }

  /** Boots the guest; `attach` registers the runtime's memory with the power grid. */
  boot(attach: (memory: GuestRuntime) => void): BootReport {
    assert(this.guest === null, `${this.vmId} is already running`);
    this.bootSeq++;
    const volumes: FileSystem[] = [];
    for (let i = 0; i < this.disks.length; i++) {
      const d = this.disks[i] as SimDisk;
      const mounted = FileSystem.mount(d.disk, {
        clock: this.world.clock, queue: this.world.queue, history: this.world.history, writeback: this.os.writeback, label: `${this.vmId}:disk${i}`,
      });
      if (!mounted.ok) {
        for (const v of volumes) v.crash();
        this.powerState = 'poweredOn';
        const reason = `disk ${i}: ${mounted.error.kind} (${mounted.error.problems.slice(0, 3).join('; ')})`;
        this.world.history.record({ kind: 'guest.boot', subject: this.vmId, data: { ok: false, reason } });
        this.lastBoot = { ok: false, reason };
        return this.lastBoot;
      }
      volumes.push(mounted.value);
    }
    const runtime = new GuestRuntime(volumes, this.bootSeq, () => {
      if (this.guest === runtime) {
        this.guest = null;
        this.powerState = 'poweredOff';
      }
    });
    this.guest = runtime;
    this.powerState = 'poweredOn';
    attach(runtime);
    for (const appId of this.apps) {
      const app = this.world.factory(appId)(this.appHost(appId, volumes));
      runtime.apps.set(appId, app);
      const report = app.open();
      runtime.openReports.set(appId, report);
      this.world.history.record({ kind: 'app.open', subject: `${this.vmId}/${appId}`, data: { ...report } });
    }
    this.world.history.record({ kind: 'guest.boot', subject: this.vmId, data: { ok: true, volumes: volumes.length, apps: this.apps.length } });
    this.lastBoot = { ok: true };
    return this.lastBoot;
  }

  appHost(appId: AppId, volumes: readonly FileSystem[]): AppHost {
    return {
      vmId: this.vmId, os: this.os, clock: this.world.clock, queue: this.world.queue, history: this.world.history,
      prng: this.world.stream(`${this.vmId}:app:${appId}:boot${this.bootSeq}`), volumes, timerPrefix: `${this.vmId}:app:${appId}`,
      generationId: () => (this.os.vmGenerationId ? this.generationId : null),
    };
  }

  app(appId: AppId): GuestApp {
    const app = this.guest?.apps.get(appId);
    assert(app !== undefined, `${this.vmId} runs no ${appId} (or is down)`);
    return app;
  }

  startWorkload(appId: AppId, spec: WorkloadSpec): void {
    this.app(appId).startWorkload(spec);
  }

  /** The writers the VSS requestor talks to, with the nemesis's faults wrapped around them. */
  writers(): VssWriter[] {
    const out: VssWriter[] = [];
    if (this.guest === null) return out;
    for (const app of this.guest.apps.values()) {
      if (app.writer === null) continue;
      const plan = this.quiesceFaults.writers?.[app.writer.name];
      out.push(plan === undefined ? app.writer : new FaultyWriter(app.writer, plan));
    }
    return out;
  }

  /** Runs a script action `<appId>:<action>` on the running guest. */
  runAction(action: string, arg: ScriptArgument): ScriptActionResult | undefined {
    const colon = action.indexOf(':');
    if (colon < 0 || this.guest === null) return undefined;
    const app = this.guest.apps.get(action.slice(0, colon) as AppId);
    const run = app?.scriptActions[action.slice(colon + 1)];
    return run === undefined ? undefined : run(arg);
  }
}
