/**
 * The guest-operations tap: a HypervisorPort in front of another (the snapshot tap) that
 * passes every call through and writes down each program run inside a guest — which VM,
 * which program and arguments, the virtual instant it ran (the guest program does its work
 * at the call's instant) and the instant the call returned, its exit code, and the stdout
 * of the runs the scenario asks to keep (log backups). Log backups, WAL reads and
 * restores all happen through guest operations, so this is the harness's ground truth of
 * when the engine took what, independent of what the engine records.
 *
 * The nemesis hooks in here too: `slowUs` makes a run take longer than the guest program
 * says (a slow guest), after the program did its work.
 *
 * Leaves out: port calls other than runInGuest (the snapshot tap records those).
 */

import { assert } from '../../core/assert.js';
import type { TimeUs } from '../../core/clock.js';
import type { HypervisorPort } from '../../core/hypervisor-port.js';
import type { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';
import { wrapPort } from './port-wrap.js';

export interface GuestRun {
  readonly vmId: string;
  /** The scenario's phase when the run happened (who ran it). */
  readonly phase: string;
  readonly program: string;
  readonly args: readonly string[];
  /** The instant the program ran. */
  readonly atUs: TimeUs;
  /** The instant the call returned (the program's duration and any slowness later). */
  readonly endUs: TimeUs;
  /** null: the port refused the call. */
  readonly exitCode: number | null;
  /** Kept when `keep` said so. */
  readonly stdout: Uint8Array | null;
}

export interface RunStart {
  readonly vmId: string;
  readonly phase: string;
  readonly program: string;
  readonly args: readonly string[];
}

const MAX_RUNS = 100_000;

export class GuestTap {
  readonly runs: GuestRun[] = [];
  /** Set by the scenario before it (or the engine on its behalf) runs something. */
  phase = '';
  /** Extra virtual time a run takes (0: none). */
  slowUs: (run: RunStart) => TimeUs = () => 0;
  /** Which runs' stdout to keep. */
  keep: (run: RunStart) => boolean = () => false;
  readonly port: HypervisorPort;

  constructor(private readonly hv: SimHypervisor, inner: HypervisorPort) {
    const runInGuest: HypervisorPort['runInGuest'] = async (vmId, program, args, input) => {
      const start: RunStart = { vmId, phase: this.phase, program, args: [...args] };
      const atUs = this.hv.sim.clock.nowUs();
      const r = await inner.runInGuest(vmId, program, args, input);
      const extraUs = this.slowUs(start);
      if (extraUs > 0) this.hv.runFor(extraUs);
      assert(this.runs.length < MAX_RUNS, 'guest runs bound');
      this.runs.push({
        ...start, atUs, endUs: this.hv.sim.clock.nowUs(), exitCode: r.ok ? r.value.exitCode : null,
        stdout: r.ok && this.keep(start) ? r.value.stdout.slice() : null,
      });
      return r;
    };
    this.port = wrapPort(inner, { runInGuest });
  }
}
