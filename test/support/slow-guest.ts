/**
 * A slow guest: every guest program run through the returned port takes `extraUs` longer
 * of virtual time (the simulation runs on after it returns), so scheduled log backups
 * overrun their interval. Everything else is the hypervisor's own.
 */

import type { HypervisorPort } from '../../core/hypervisor-port.js';
import type { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';
import { wrapPort } from '../../scenarios/scenario/port-wrap.js';

export function slowGuest(hv: SimHypervisor, extraUs: number): HypervisorPort {
  return wrapPort(hv, {
    runInGuest: async (...args) => {
      const r = await hv.runInGuest(...args);
      hv.runFor(extraUs);
      return r;
    },
  });
}

/** The scheduler's `waitUntil` over the simulation: lets it run until `timeUs`. */
export function simWait(hv: SimHypervisor): (timeUs: number) => Promise<void> {
  return (timeUs) => {
    hv.runFor(timeUs - hv.sim.clock.nowUs());
    return Promise.resolve();
  };
}
