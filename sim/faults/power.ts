/**
 * Crash injection: power loss of one VM or of a whole host, now or at any virtual instant.
 *
 * Models: a VM's power loss (a hard reset) drops everything in its guest memory — the page
 * cache, the file system's running transaction, the applications' buffers — and its
 * timers (events whose label starts with `<vmId>:`). The disks' volatile write caches sit
 * in the host's storage stack, so they survive a VM's power loss and are lost, by their own
 * fault plans, only when the host loses power, together with every VM on it.
 * Leaves out: partial host failures (one controller, one datastore), network partitions.
 */

import { assert } from '../../core/assert.js';
import type { TimeUs } from '../../core/clock.js';
import type { HistorySink } from '../../core/history.js';
import type { EventQueue, TimerHandle } from '../kernel/event-queue.js';

/** Something in guest memory that a power loss wipes (a file system, an app). */
export interface GuestMemory {
  crash(): void;
}

/** Storage with a volatile cache that a host power loss resolves (a VirtualDisk). */
export interface VolatileStorage {
  powerLoss(): void;
}

interface VmEntry {
  readonly hostId: string;
  memory: GuestMemory[];
  poweredOn: boolean;
}

interface HostEntry {
  readonly disks: VolatileStorage[];
  readonly vmIds: string[];
}

export class PowerGrid {
  private readonly hosts = new Map<string, HostEntry>();
  private readonly vms = new Map<string, VmEntry>();

  constructor(
    private readonly queue: EventQueue,
    private readonly history: HistorySink,
  ) {}

  addHost(hostId: string, disks: readonly VolatileStorage[] = []): void {
    assert(!this.hosts.has(hostId), `host ${hostId} exists`);
    this.hosts.set(hostId, { disks: [...disks], vmIds: [] });
  }

  addDisk(hostId: string, disk: VolatileStorage): void {
    this.host(hostId).disks.push(disk);
  }

  /** Registers a powered-on VM; its guest memory components are wiped on power loss. */
  addVm(vmId: string, hostId: string, memory: readonly GuestMemory[] = []): void {
    assert(!this.vms.has(vmId), `vm ${vmId} exists`);
    assert(!vmId.includes(':'), `vm id '${vmId}' must not contain ':' (timer labels use it)`);
    this.host(hostId).vmIds.push(vmId);
    this.vms.set(vmId, { hostId, memory: [...memory], poweredOn: true });
  }

  /** Adds guest memory to a running VM (an app started, a file system mounted). */
  attachMemory(vmId: string, memory: GuestMemory): void {
    const vm = this.vm(vmId);
    assert(vm.poweredOn, `vm ${vmId} is powered off`);
    vm.memory.push(memory);
  }

  /** Powers a VM back on with fresh (empty) guest memory. */
  powerOn(vmId: string): void {
    const vm = this.vm(vmId);
    vm.poweredOn = true;
    vm.memory = [];
  }

  isPoweredOn(vmId: string): boolean {
    return this.vm(vmId).poweredOn;
  }

  powerLossVm(vmId: string, cause = 'injected'): void {
    const vm = this.vm(vmId);
    if (!vm.poweredOn) return; // losing power twice is losing it once
    this.history.record({ kind: 'power.loss', subject: vmId, data: { scope: 'vm', cause } });
    this.wipeVm(vmId, vm);
  }

  powerLossHost(hostId: string, cause = 'injected'): void {
    const host = this.host(hostId);
    this.history.record({ kind: 'power.loss', subject: hostId, data: { scope: 'host', cause, vms: host.vmIds.length, disks: host.disks.length } });
    for (const vmId of host.vmIds) {
      const vm = this.vm(vmId);
      if (vm.poweredOn) this.wipeVm(vmId, vm);
    }
    for (const disk of host.disks) disk.powerLoss();
  }

  scheduleVmPowerLoss(atUs: TimeUs, vmId: string): TimerHandle {
    this.vm(vmId);
    // The label must not start with `<vmId>:` or the VM's own power loss would cancel it.
    return this.queue.at(atUs, `fault:power-loss:${vmId}`, () => { this.powerLossVm(vmId, 'scheduled'); });
  }

  scheduleHostPowerLoss(atUs: TimeUs, hostId: string): TimerHandle {
    this.host(hostId);
    return this.queue.at(atUs, `fault:power-loss-host:${hostId}`, () => { this.powerLossHost(hostId, 'scheduled'); });
  }

  private wipeVm(vmId: string, vm: VmEntry): void {
    vm.poweredOn = false;
    const prefix = `${vmId}:`;
    this.queue.clear((label) => label.startsWith(prefix));
    for (const m of vm.memory) m.crash();
    vm.memory = [];
  }

  private vm(vmId: string): VmEntry {
    const vm = this.vms.get(vmId);
    assert(vm !== undefined, `unknown vm ${vmId}`);
    return vm;
  }

  private host(hostId: string): HostEntry {
    const host = this.hosts.get(hostId);
    assert(host !== undefined, `unknown host ${hostId}`);
    return host;
  }
}
