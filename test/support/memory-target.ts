/**
 * A test BackupTarget that keeps every committed point's disks as full byte arrays (no
 * chunking, no compression): the reference against which the engine's reads are checked.
 * `failAfterWrites` makes writeExtent throw after that many calls (a store failure).
 */

import { ok, type Result } from '../../core/result.js';
import type { BackupTarget, DiskSink, ParentPoint, PointSink } from '../../engine/backup/sink.js';
import type { PointSource } from '../../engine/restore/source.js';

export interface StoredPoint {
  readonly id: string;
  readonly parent: string | null;
  readonly disks: Map<string, Uint8Array>;
  readonly meta: unknown;
}

export class MemoryTarget implements BackupTarget {
  readonly points: StoredPoint[] = [];
  readonly log: string[] = [];
  failAfterWrites = Infinity;
  private writes = 0;

  begin(vmId: string, parent: ParentPoint | null): Promise<PointSink> {
    const disks = new Map<string, Uint8Array>();
    const base = parent === null ? undefined : this.points.find((p) => p.id === parent.pointId);
    let aborted = false;
    const point: PointSink = {
      disk: (diskId, capacityBytes, fromParent) => {
        const from = fromParent ? base?.disks.get(diskId) : undefined;
        const bytes = from === undefined ? new Uint8Array(capacityBytes) : from.slice();
        disks.set(diskId, bytes);
        const sink: DiskSink = {
          writeExtent: (offsetBytes, data) => {
            if (++this.writes > this.failAfterWrites) return Promise.reject(new Error('store failure (injected)'));
            bytes.set(data, offsetBytes);
            return Promise.resolve();
          },
        };
        return Promise.resolve(sink);
      },
      commit: (meta): Promise<Result<string, string>> => {
        const id = `rp-${this.points.length + 1}`;
        this.points.push({ id, parent: parent?.pointId ?? null, disks, meta });
        this.log.push(`commit ${id} ${vmId}`);
        return Promise.resolve(ok(id));
      },
      abort: () => {
        if (!aborted) this.log.push('abort');
        aborted = true;
        return Promise.resolve();
      },
    };
    return Promise.resolve(point);
  }
}

const BLOCK = 64 * 1024;

/** A restore source over a stored point: extents are its non-zero 64 KiB blocks. */
export function sourceOf(point: StoredPoint): PointSource {
  return {
    pointId: point.id,
    disks: () => [...point.disks].map(([diskId, bytes]) => ({ diskId, capacityBytes: bytes.length })),
    extents: (diskId) => {
      const bytes = point.disks.get(diskId) ?? new Uint8Array(0);
      const out: { startBytes: number; lengthBytes: number }[] = [];
      for (let b = 0; b < bytes.length; b += BLOCK) {
        const block = bytes.subarray(b, b + BLOCK);
        if (block.every((x) => x === 0)) continue;
        const last = out.at(-1);
        if (last !== undefined && last.startBytes + last.lengthBytes === b) last.lengthBytes += block.length;
        else out.push({ startBytes: b, lengthBytes: block.length });
      }
      return Promise.resolve(out);
    },
    read: (diskId, offsetBytes, lengthBytes) => Promise.resolve((point.disks.get(diskId) ?? new Uint8Array(0)).slice(offsetBytes, offsetBytes + lengthBytes)),
  };
}
