/**
 * The DR site of a replication scenario (seed 002): a second simulated hypervisor (its own
 * host and datastore) on the same simulation as the source site, reached over a WAN link
 * with a bandwidth and a latency in virtual time, and the faults a replication meets.
 *
 * Fault zones (each fires once, at a trigger the spec names, and a probe records that it
 * fired and when):
 * - link-drop: from the trigger, every call to the DR site fails `unreachable` for a while,
 *   then the link heals;
 * - source-host-dies: at the trigger the source host loses power (its VMs stop, caches
 *   lost) and every call to the source site fails `unreachable` until the harness repairs
 *   the host (before a failback); its disks are kept;
 * - dr-full: from the trigger, every write to a disk at the DR site fails `no-space`.
 * The trigger is the `nth` mutating call to the DR site (writeDisk, createSnapshot) after
 * the source's `cycle`-th VmSnapshot (counting from 1), or that cycle's snapshot of the
 * replica if it comes first: a fault inside that cycle, before its restore point exists.
 * The replication phase over, the DR site's faults heal and none fires any more (failover
 * works at the DR site); the source host stays down until the harness repairs it.
 *
 * Leaves out: a link that loses or reorders messages (a call fails whole), asymmetric
 * bandwidth, DR host crashes, several DR datastores.
 */

import type { TimeUs } from '../../core/clock.js';
import type { HypervisorPort, PortError } from '../../core/hypervisor-port.js';
import { err } from '../../core/result.js';
import { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';
import type { AppFactory } from '../../sim/apps/types.js';
import type { AppId } from '../../core/hypervisor-port.js';

export type SiteFault =
  | { readonly kind: 'none' }
  | { readonly kind: 'link-drop'; readonly cycle: number; readonly nth: number; readonly forMs: number }
  | { readonly kind: 'source-host-dies'; readonly cycle: number; readonly nth: number }
  | { readonly kind: 'dr-full'; readonly cycle: number; readonly nth: number };

export interface LinkSpec {
  readonly bytesPerSecond: number;
  readonly latencyMs: number;
}

export interface FaultProbe {
  firedAtUs: TimeUs | null;
  /** Calls the fault refused. */
  refused: number;
}

const MUTATING = new Set(['writeDisk', 'createSnapshot']);

export class DrSite {
  readonly hv: SimHypervisor;
  readonly probe: FaultProbe = { firedAtUs: null, refused: 0 };
  /** The DR site as the engine reaches it (over the link). */
  readonly port: HypervisorPort;
  /** The source site as the engine reaches it (dies with its host). */
  readonly sourcePort: HypervisorPort;
  /** Bytes that crossed the link (both directions). */
  bytesOverLink = 0;
  private sourceSnapshots = 0;
  private mutatingInCycle = 0;
  private sourceDown = false;
  private linkUpAtUs: TimeUs = 0;
  private full = false;
  private armed = true;

  constructor(private readonly source: SimHypervisor, apps: Readonly<Partial<Record<AppId, AppFactory>>>, private readonly link: LinkSpec, private readonly fault: SiteFault) {
    this.hv = new SimHypervisor({ sim: source.sim, apps });
    this.port = this.wanPort();
    this.sourcePort = this.sourceSitePort(source);
  }

  get nowUs(): TimeUs {
    return this.source.sim.clock.nowUs();
  }

  /**
   * The replication phase is over: the link is up again and the DR datastore has room
   * (the operator works at the DR site for failover), no fault fires any more; a dead
   * source host stays down until `repairSource`.
   */
  healDrSite(): void {
    this.linkUpAtUs = 0;
    this.full = false;
    this.armed = false;
  }

  /** The source host is back (its VMs powered off, disks as they were). */
  repairSource(): void {
    this.sourceDown = false;
  }

  private fire(): void {
    if (this.probe.firedAtUs !== null || this.fault.kind === 'none') return;
    this.probe.firedAtUs = this.nowUs;
    if (this.fault.kind === 'link-drop') this.linkUpAtUs = this.nowUs + this.fault.forMs * 1000;
    if (this.fault.kind === 'source-host-dies') {
      this.source.powerLossHost();
      this.sourceDown = true;
    }
    if (this.fault.kind === 'dr-full') this.full = true;
  }

  private refuse(reason: string): Promise<{ ok: false; error: PortError }> {
    this.probe.refused++;
    return Promise.resolve(err({ kind: 'unreachable', reason }));
  }

  private sourceSitePort(hv: SimHypervisor): HypervisorPort {
    return aroundEveryCall(hv, async (name, call) => {
      if (this.sourceDown && name !== 'listVms') return this.refuse('the source host is down');
      const r = await call();
      if (name === 'createSnapshot' && (r as { ok: boolean }).ok) {
        this.sourceSnapshots++;
        this.mutatingInCycle = 0;
      }
      return r;
    });
  }

  /** Every call pays the latency; bytes pay the bandwidth; the faults apply. */
  private wanPort(): HypervisorPort {
    const hv = this.hv;
    return aroundEveryCall(hv, (name, call, args) => {
      if (MUTATING.has(name) && this.fault.kind !== 'none' && this.sourceSnapshots === this.fault.cycle && this.armed) {
        this.mutatingInCycle++;
        // The cycle's restore point (a snapshot) is its last mutating call: a cycle with fewer writes is hit there.
        if (this.mutatingInCycle === this.fault.nth || name === 'createSnapshot') this.fire();
      }
      hv.runFor(this.link.latencyMs * 1000);
      if (this.nowUs < this.linkUpAtUs) return this.refuse('the link to the DR site is down');
      if (this.full && name === 'writeDisk') {
        this.probe.refused++;
        return Promise.resolve(err({ kind: 'no-space', reason: 'the DR datastore is full' } satisfies PortError));
      }
      const bytes = name === 'writeDisk' ? (args[3] as Uint8Array).length : name === 'readSnapshotDisk' ? (args[4] as number) : 0;
      if (bytes > 0) {
        this.bytesOverLink += bytes;
        hv.runFor(Math.ceil((bytes * 1e6) / this.link.bytesPerSecond));
      }
      return call();
    });
  }
}

/**
 * The hypervisor as a port whose every method call goes through `around` (its name, the
 * call itself, its arguments); one wrapper per method, made on first use.
 */
function aroundEveryCall(hv: SimHypervisor, around: (name: string, call: () => Promise<unknown>, args: readonly unknown[]) => Promise<unknown>): HypervisorPort {
  const wrappers = new Map<PropertyKey, (...args: unknown[]) => Promise<unknown>>();
  return new Proxy(hv, {
    get: (target, prop, receiver) => {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      let w = wrappers.get(prop);
      if (w === undefined) {
        const fn = value as (...a: unknown[]) => Promise<unknown>;
        w = (...args: unknown[]) => around(String(prop), () => fn.apply(target, args), args);
        wrappers.set(prop, w);
      }
      return w;
    },
  });
}
