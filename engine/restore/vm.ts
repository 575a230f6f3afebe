/**
 * Whole-VM restore: a new VM with the point's disks, written through HypervisorPort's
 * VDDK-style writes (only the extents the point holds; the rest of a new disk is zeros),
 * then powered on. Reports the simulated restore time (RTO: from the start to the guest
 * booting) and the bytes read and written. The new VM gets a new VM-GenerationID (the
 * hypervisor's business), which is what makes a domain controller restore safe on 2012+.
 * Leaves out: network reconfiguration, instant recovery (booting from the repository).
 */

import type { Clock, TimeUs } from '../../core/clock.js';
import type { AppId, GuestOsId, HypervisorPort, PortError, ToolsId, VmFlags } from '../../core/hypervisor-port.js';
import type { VmId } from '../../core/ids.js';
import { err, ok, type Result } from '../../core/result.js';
import type { PointSource } from './source.js';

export interface VmRestoreSpec {
  readonly name: string;
  readonly guestOs: GuestOsId;
  readonly tools: ToolsId;
  readonly apps: readonly AppId[];
  readonly flags?: Partial<VmFlags>;
  /** Leave the VM powered off (a restore that continues with log roll-forward boots it later). */
  readonly powerOn?: boolean;
  readonly writeChunkBytes?: number;
}

export interface VmRestoreReport {
  readonly vmId: VmId;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  readonly startUs: TimeUs;
  readonly endUs: TimeUs;
  /** endUs - startUs: the simulated restore time. */
  readonly rtoUs: TimeUs;
}

export type RestoreError =
  | { readonly kind: 'port'; readonly during: string; readonly error: PortError }
  | { readonly kind: 'source'; readonly reason: string };

const DEFAULT_WRITE_CHUNK_BYTES = 4 * 1024 * 1024;

export async function restoreVm(env: { readonly port: HypervisorPort; readonly clock: Clock }, source: PointSource, spec: VmRestoreSpec): Promise<Result<VmRestoreReport, RestoreError>> {
  const startUs = env.clock.nowUs();
  const disks = source.disks();
  const created = await env.port.createVm({
    name: spec.name, guestOs: spec.guestOs, tools: spec.tools, apps: spec.apps, disks: disks.map((d) => ({ capacityBytes: d.capacityBytes })),
    ...spec.flags === undefined ? {} : { flags: spec.flags },
  });
  if (!created.ok) return err({ kind: 'port', during: 'createVm', error: created.error });
  const vm = created.value;
  const chunk = spec.writeChunkBytes ?? DEFAULT_WRITE_CHUNK_BYTES;
  let bytes = 0;
  for (const [i, disk] of disks.entries()) {
    const target = vm.disks[i];
    if (target === undefined) return err({ kind: 'source', reason: `the new VM has no disk ${i}` });
    for (const extent of await source.extents(disk.diskId)) {
      for (let pos = extent.startBytes; pos < extent.startBytes + extent.lengthBytes; pos += chunk) {
        const n = Math.min(chunk, extent.startBytes + extent.lengthBytes - pos);
        const data = await source.read(disk.diskId, pos, n);
        const written = await env.port.writeDisk(vm.vmId, target.diskId, pos, data);
        if (!written.ok) return err({ kind: 'port', during: 'writeDisk', error: written.error });
        bytes += n;
      }
    }
  }
  if (spec.powerOn !== false) {
    const on = await env.port.powerOn(vm.vmId);
    if (!on.ok) return err({ kind: 'port', during: 'powerOn', error: on.error });
  }
  const endUs = env.clock.nowUs();
  return ok({ vmId: vm.vmId, bytesRead: bytes, bytesWritten: bytes, startUs, endUs, rtoUs: endUs - startUs });
}
