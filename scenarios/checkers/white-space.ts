/**
 * Property 21: white-space skipping skips only free blocks (seed 002, vReplicator's Active
 * Block Mapping). In the first cycle, every 4 KiB block the source snapshot's guest file
 * system uses — the metadata area, the bitmap, and what the journal's committed
 * transactions allocate — is written to the replica, zeros or not; the bytes the engine
 * reports saved are at most the free bytes; nothing is lost (property 20 compares the used
 * blocks).
 *
 * The truth is read with the simulator's file-system decoder
 * (scenarios/scenario/allocated-blocks.ts) from the hypervisor's image of the snapshot; what
 * was written is the DR hypervisor's record of the writes before the first point.
 *
 * Areas not verified: disks after the first (cells replicate one-disk VMs), a file system
 * the decoder cannot read (every block counts as used then), later cycles (CBT decides
 * what they send; property 20 judges their points).
 */

import type { ReplicationOutcome } from '../scenario/replication-run.js';
import { fail, pass, unknown, type Verdict } from '../verdict.js';

export function checkWhiteSpace(outcome: ReplicationOutcome): Verdict {
  const ws = outcome.whiteSpace;
  if (ws === null) return unknown('not judged: no full cycle completed with white-space skipping on');
  const free = ws.capacityBytes - ws.usedBytes;
  if (ws.usedNotSent > 0) return fail(`the first cycle skipped ${ws.usedNotSent} block(s) the guest file system uses (first: block ${ws.firstUsedNotSent ?? '?'}, byte ${(ws.firstUsedNotSent ?? 0) * 4096}); white space is only the free blocks`);
  if (ws.reportedSkipped > free) return fail(`the engine reports ${ws.reportedSkipped} bytes of white space skipped; the file system has only ${free} free bytes`);
  return pass(`the first cycle sent every used block (${ws.usedBytes} bytes) and skipped ${ws.reportedSkipped} of ${free} free bytes (${((ws.reportedSkipped / ws.capacityBytes) * 100).toFixed(1)} % of the disk)`);
}
