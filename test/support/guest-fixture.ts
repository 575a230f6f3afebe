/**
 * A guest without a hypervisor, for application tests: one simulation, `diskCount`
 * virtual disks with a file system each, and an AppHost over them. `powerLoss()` wipes
 * guest memory (file systems, the app, the VM's timers) and, with `host: true`, the disks'
 * volatile caches; `boot()` remounts (journal replay) and hands out a fresh AppHost.
 */

import { DiskId, VmId } from '../../core/ids.js';
import type { AppId } from '../../core/hypervisor-port.js';
import { unwrap } from '../../core/result.js';
import type { AppHost, GuestApp } from '../../sim/apps/types.js';
import { GUEST_OS, type GuestOsFacts } from '../../sim/guest/catalog.js';
import { FileSystem } from '../../sim/guest/file-system.js';
import { mkfs } from '../../sim/guest/fs-format.js';
import { Simulation } from '../../sim/kernel/simulation.js';
import type { DiskFaults } from '../../sim/storage/types.js';
import { VirtualDisk } from '../../sim/storage/virtual-disk.js';

export interface GuestFixtureOptions {
  readonly seed: number;
  readonly os?: GuestOsFacts;
  readonly diskCount?: number;
  readonly diskBytes?: number;
  readonly writeCache?: 'none' | 'write-back';
  readonly faults?: DiskFaults;
  /** VM-GenerationID the guest sees (null: none). */
  readonly generationId?: string | null;
}

export class GuestFixture {
  readonly sim: Simulation;
  readonly vmId = VmId('vm1');
  readonly os: GuestOsFacts;
  readonly disks: VirtualDisk[] = [];
  volumes: FileSystem[] = [];
  generationId: string | null;
  private boots = 0;
  private apps: GuestApp[] = [];

  constructor(options: GuestFixtureOptions) {
    this.sim = new Simulation({ seed: options.seed });
    this.os = options.os ?? GUEST_OS.linux;
    this.generationId = options.generationId ?? null;
    const count = options.diskCount ?? 1;
    for (let i = 0; i < count; i++) {
      const disk = new VirtualDisk({
        id: DiskId(`disk${i}`), capacityBytes: options.diskBytes ?? 256 * 1024 * 1024, writeCache: options.writeCache ?? 'none',
        prng: this.sim.stream(`disk${i}`), clock: this.sim.clock, history: this.sim.history,
      });
      if (options.faults !== undefined) disk.setFaults(options.faults);
      unwrap(mkfs(disk, { label: `disk${i}` }));
      this.disks.push(disk);
    }
    this.mountAll();
  }

  /** An AppHost for `appId` on the current boot. */
  host(appId: AppId): AppHost {
    return {
      vmId: this.vmId, os: this.os, clock: this.sim.clock, queue: this.sim.queue, history: this.sim.history,
      prng: this.sim.stream(`app:${appId}:boot${this.boots}`), volumes: this.volumes, timerPrefix: `${this.vmId}:app:${appId}`,
      generationId: () => this.generationId,
    };
  }

  /** Remember an app so powerLoss() crashes it. */
  track<T extends GuestApp>(app: T): T {
    this.apps.push(app);
    return app;
  }

  /** Power loss of the VM (and of the host's disk caches with `host`). */
  powerLoss(options: { host?: boolean } = {}): void {
    this.sim.queue.clear((label) => label.startsWith(`${this.vmId}:`));
    for (const app of this.apps) app.crash();
    for (const v of this.volumes) v.crash();
    this.apps = [];
    if (options.host === true) for (const d of this.disks) d.powerLoss();
  }

  /** Clean shutdown: apps, then file systems. */
  shutdown(): void {
    for (const app of this.apps) app.shutdown();
    this.apps = [];
    this.sim.queue.clear((label) => label.startsWith(`${this.vmId}:`));
    for (const v of this.volumes) unwrap(v.unmount());
  }

  /** Mounts every disk again (journal replay) for the next boot. */
  boot(): void {
    this.boots++;
    this.mountAll();
  }

  private mountAll(): void {
    this.volumes = this.disks.map((d, i) => unwrap(FileSystem.mount(d, {
      clock: this.sim.clock, queue: this.sim.queue, history: this.sim.history, writeback: this.os.writeback, label: `${this.vmId}:disk${i}`,
    })));
  }
}
