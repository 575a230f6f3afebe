/**
 * One-disk restore: a point's disk written over a disk of an existing, powered-off VM (the
 * original after a bad change, or another VM), through HypervisorPort's VDDK-style writes.
 * Areas the point holds no data for are written as zeros (the target disk may hold
 * anything). Reports bytes read and written and the simulated duration. The caller powers
 * the VM back on. Leaves out: resizing the target disk, restoring to a new VMDK on a
 * running VM (hot-add).
 */

import type { Clock, TimeUs } from '../../core/clock.js';
import type { HypervisorPort, PortError } from '../../core/hypervisor-port.js';
import type { DiskId, VmId } from '../../core/ids.js';
import { err, ok, type Result } from '../../core/result.js';
import type { PointSource } from './source.js';

export interface DiskRestoreReport {
  readonly bytesRead: number;
  readonly bytesWritten: number;
  readonly durationUs: TimeUs;
}

export type DiskRestoreError =
  | { readonly kind: 'port'; readonly during: string; readonly error: PortError }
  | { readonly kind: 'mismatch'; readonly reason: string };

const CHUNK_BYTES = 4 * 1024 * 1024;

export async function restoreDisk(
  env: { readonly port: HypervisorPort; readonly clock: Clock },
  source: PointSource,
  sourceDiskId: string,
  target: { readonly vmId: VmId; readonly diskId: DiskId },
): Promise<Result<DiskRestoreReport, DiskRestoreError>> {
  const startUs = env.clock.nowUs();
  const disk = source.disks().find((d) => d.diskId === sourceDiskId);
  if (disk === undefined) return err({ kind: 'mismatch', reason: `the point has no disk ${sourceDiskId}` });
  const vm = await env.port.getVm(target.vmId);
  if (!vm.ok) return err({ kind: 'port', during: 'getVm', error: vm.error });
  const targetDisk = vm.value.disks.find((d) => d.diskId === target.diskId);
  if (targetDisk === undefined) return err({ kind: 'mismatch', reason: `${target.vmId} has no disk ${target.diskId}` });
  if (targetDisk.capacityBytes !== disk.capacityBytes) return err({ kind: 'mismatch', reason: `disk sizes differ: ${disk.capacityBytes} in the point, ${targetDisk.capacityBytes} on ${target.diskId}` });
  if (vm.value.powerState !== 'poweredOff') return err({ kind: 'mismatch', reason: `${target.vmId} must be powered off` });
  let read = 0;
  let written = 0;
  const extents = await source.extents(sourceDiskId);
  const zero = new Uint8Array(CHUNK_BYTES);
  const write = async (offsetBytes: number, data: Uint8Array): Promise<Result<void, DiskRestoreError>> => {
    const w = await env.port.writeDisk(target.vmId, target.diskId, offsetBytes, data);
    if (!w.ok) return err({ kind: 'port', during: 'writeDisk', error: w.error });
    written += data.length;
    return ok(undefined);
  };
  let pos = 0;
  for (const extent of [...extents, { startBytes: disk.capacityBytes, lengthBytes: 0 }]) {
    // Zeros over what the point does not hold (the target disk's old content must go).
    while (pos < extent.startBytes) {
      const n = Math.min(CHUNK_BYTES, extent.startBytes - pos);
      const w = await write(pos, zero.subarray(0, n));
      if (!w.ok) return w;
      pos += n;
    }
    for (let at = extent.startBytes; at < extent.startBytes + extent.lengthBytes; at += CHUNK_BYTES) {
      const n = Math.min(CHUNK_BYTES, extent.startBytes + extent.lengthBytes - at);
      const data = await source.read(sourceDiskId, at, n);
      read += n;
      const w = await write(at, data);
      if (!w.ok) return w;
    }
    pos = Math.max(pos, extent.startBytes + extent.lengthBytes);
  }
  return ok({ bytesRead: read, bytesWritten: written, durationUs: env.clock.nowUs() - startUs });
}
