/**
 * The isolated lab: boots a copy of a VM's disk images (a snapshot, a restored VM's disks)
 * without touching them, and reports what a checker needs: each volume's fsck state
 * before any replay, and for each application what opening its data found (crash
 * recovery needed or not, succeeded or not) and which commits the data holds.
 *
 * Writes (journal replay, application recovery) land in an in-memory overlay over each
 * image (sim/storage/overlay-device.ts), on a private simulation, so inspecting is
 * side-effect free and deterministic. Leaves out: running workloads in the lab.
 */

import type { AppId } from '../../core/hypervisor-port.js';
import { VmId } from '../../core/ids.js';
import type { AppFactory, GuestApp, OpenReport } from '../apps/types.js';
import type { GuestOsFacts } from '../guest/catalog.js';
import { FileSystem } from '../guest/file-system.js';
import { fsck, type FsckState } from '../guest/fsck.js';
import { Simulation } from '../kernel/simulation.js';
import { OverlayDevice } from '../storage/overlay-device.js';
import type { BlockReader } from '../storage/types.js';

export interface VolumeInspection {
  readonly state: FsckState;
  readonly problems: readonly string[];
}

export interface AppInspection {
  readonly open: OpenReport;
  readonly committed: ReadonlySet<string>;
}

export interface ImageInspection {
  readonly volumes: readonly VolumeInspection[];
  /** Every volume mounted (after replay where needed). */
  readonly mounted: boolean;
  readonly mountError: string | null;
  readonly apps: Readonly<Partial<Record<AppId, AppInspection>>>;
}

export interface InspectOptions {
  readonly os: GuestOsFacts;
  readonly apps: readonly AppId[];
  readonly factories: Readonly<Partial<Record<AppId, AppFactory>>>;
  /** VM-GenerationID the lab guest sees (null: none). */
  readonly generationId?: string | null;
}

/**
 * Every image mounted as the lab does: each in an in-memory overlay on `sim` (journal replay
 * and later writes stay in memory, the images are never written), or why one cannot be.
 */
export function mountImages(images: readonly BlockReader[], os: GuestOsFacts, sim: Simulation): FileSystem[] | string {
  const mounted: FileSystem[] = [];
  for (let i = 0; i < images.length; i++) {
    const fs = FileSystem.mount(new OverlayDevice(images[i] as BlockReader), {
      clock: sim.clock, queue: sim.queue, history: sim.history, writeback: os.writeback, label: `lab:disk${i}`,
    });
    if (!fs.ok) return `disk ${i}: ${fs.error.kind}`;
    mounted.push(fs.value);
  }
  return mounted;
}

/** The app `appId` as the lab builds it over mounted volumes (not yet opened), or undefined without a factory. */
export function labApp(sim: Simulation, volumes: readonly FileSystem[], options: InspectOptions, appId: AppId): GuestApp | undefined {
  const factory = options.factories[appId];
  if (factory === undefined) return undefined;
  return factory({
    vmId: VmId('lab'), os: options.os, clock: sim.clock, queue: sim.queue, history: sim.history, prng: sim.stream(`lab:${appId}`),
    volumes, timerPrefix: `lab:app:${appId}`, generationId: () => options.generationId ?? null,
  });
}

export function inspectImage(images: readonly BlockReader[], options: InspectOptions): ImageInspection {
  const volumes: VolumeInspection[] = images.map((image) => {
    const report = fsck(image);
    return { state: report.state, problems: report.problems };
  });
  const sim = new Simulation({ seed: 0 });
  const mounted = mountImages(images, options.os, sim);
  if (typeof mounted === 'string') return { volumes, mounted: false, mountError: mounted, apps: {} };
  const apps: Partial<Record<AppId, AppInspection>> = {};
  for (const appId of options.apps) {
    const app = labApp(sim, mounted, options, appId);
    if (app === undefined) continue;
    const open = app.open();
    apps[appId] = { open, committed: open.ok ? app.committed() : new Set() };
    app.crash();
  }
  return { volumes, mounted: true, mountError: null, apps };
}
