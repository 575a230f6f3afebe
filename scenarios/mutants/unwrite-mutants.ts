/**
 * Mutants only a workload that takes data back exposes (issue 15, class 5): the files app
 * in un-write mode (ScenarioSpec.unwrite) zeroes, truncates and deletes what an earlier
 * point held, so the blocks that became zero are changed areas of the next incremental.
 *
 * - incremental-skips-zeroed-areas: the CBT incremental skips all-zero 64 KiB blocks of
 *   each changed area, as the full backup rightly does (a full has no parent to
 *   override) — so the parent's stale bytes stay in the point where the guest wrote zeros.
 *   Built on the port: each changed area of an incremental (change id not `*`) is read
 *   back and its all-zero 64 KiB pieces (from the area's start, as the engine's reader
 *   steps) are left out of the answer.
 */

import type { ChangedArea, HypervisorPort } from '../../core/hypervisor-port.js';
import type { DiskId, SnapshotId, VmId } from '../../core/ids.js';
import { ok } from '../../core/result.js';
import { isAllZero } from '../../core/zero.js';
import { withPort, type Mutant } from './mutant.js';

const FILES = 'linux/esx41/files/default';
const SQLITE_FS = 'linux/esx41/sqlite/default';
const SQL = 'win2019/esx41/sqlserver/default';

/** The engine's zero-block size (engine/backup/job.ts reads and skips in 64 KiB blocks). */
const ZERO_BLOCK_BYTES = 64 * 1024;

/** The areas less their all-zero 64 KiB pieces, adjacent kept pieces merged; null on a read error. */
async function withoutZeroBlocks(port: HypervisorPort, vmId: VmId, snapshotId: SnapshotId, diskId: DiskId, areas: readonly ChangedArea[]): Promise<ChangedArea[] | null> {
  const kept: ChangedArea[] = [];
  for (const area of areas) {
    const end = area.startBytes + area.lengthBytes;
    for (let pos = area.startBytes; pos < end; pos += ZERO_BLOCK_BYTES) {
      const n = Math.min(ZERO_BLOCK_BYTES, end - pos);
      const bytes = await port.readSnapshotDisk(vmId, snapshotId, diskId, pos, n);
      if (!bytes.ok) return null;
      if (isAllZero(bytes.value)) continue;
      const last = kept[kept.length - 1];
      if (last !== undefined && last.startBytes + last.lengthBytes === pos) kept[kept.length - 1] = { startBytes: last.startBytes, lengthBytes: last.lengthBytes + n };
      else kept.push({ startBytes: pos, lengthBytes: n });
    }
  }
  return kept;
}

export const UNWRITE_MUTANTS: readonly Mutant[] = [
  {
    id: 'incremental-skips-zeroed-areas',
    description: 'The CBT incremental skips changed 64 KiB blocks that read back all zero, as the full rightly does: the parent\'s stale bytes stay where the guest zeroed, truncated or deleted data.',
    area: 'cbt', cells: [FILES, SQL, SQLITE_FS], expectedKiller: 'P5',
    engine: withPort('incremental-skips-zeroed-areas', (port) => ({
      queryChangedDiskAreas: async (vmId, snapshotId, diskId, start, changeId) => {
        const page = await port.queryChangedDiskAreas(vmId, snapshotId, diskId, start, changeId);
        if (!page.ok || changeId === '*') return page;
        const kept = await withoutZeroBlocks(port, vmId, snapshotId, diskId, page.value.changedAreas);
        return kept === null ? page : ok({ ...page.value, changedAreas: kept });
      },
    })),
  },
];
