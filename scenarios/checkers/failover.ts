/**
 * Property 23: failover boots the last complete restore point, never a half-applied one.
 * After the replication (with a fault inside a cycle in most runs: the link dropped, the
 * source host died, the DR datastore filled up), a failover powers the replica on: the
 * point it boots is the newest one complete at that instant, the disks at power-on equal
 * that point's image byte for byte (whatever a failed cycle wrote beyond it), and the
 * guest comes up. A test failover boots a copy and leaves the replica's disks and
 * restore points untouched.
 *
 * Instants and images are the DR hypervisor's (its VmSnapshots of the replica and the
 * disks at the powerOn call), not the engine's word.
 *
 * Areas not verified: failover to an older point on purpose (the scenario asks for the
 * newest), network isolation of a test failover (the simulator has no network).
 */

import type { ReplicationOutcome } from '../scenario/replication-run.js';
import { Findings, unknown, type Verdict } from '../verdict.js';

export function checkFailover(outcome: ReplicationOutcome): Verdict {
  const fo = outcome.failover;
  if (fo === null) return unknown(`not judged: no failover ran${outcome.error === null ? '' : ` (${outcome.error})`}`);
  const f = new Findings();
  const what = fo.kind === 'test' ? 'test failover' : 'failover';
  const fault = outcome.faultFiredAtUs === null ? 'no fault' : `a fault at ${(outcome.faultFiredAtUs / 1e6).toFixed(3)} s`;
  if (!fo.ok) {
    if (fo.newestPointId !== null) f.fail(`${what} after ${fault} failed: ${fo.detail} (point ${fo.newestPointId} was complete)`, 3);
    return f.verdict(`no point was complete; the ${what} refused: ${fo.detail}`);
  }
  if (fo.pointId !== fo.newestPointId) f.fail(`${what} after ${fault} booted point ${fo.pointId ?? '?'}; the newest complete point is ${fo.newestPointId ?? 'none'}`, 2);
  if (fo.bootedEqualsPoint !== null && !fo.bootedEqualsPoint.equal) f.fail(`${what} after ${fault}: the disks at power-on are not point ${fo.pointId ?? '?'}: ${fo.bootedEqualsPoint.detail} (a half-applied cycle booted)`, 3);
  if (!fo.boots) f.fail(`${what} after ${fault}: the VM does not boot`, 2);
  if (fo.replicaUntouched === false) f.fail(`test failover after ${fault} changed the replica (its disks or its restore points)`, 2);
  return f.verdict(`${what} after ${fault} booted the newest complete point ${fo.pointId ?? ''} (disks equal to it) in ${(fo.rtoUs / 1e6).toFixed(3)} s`);
}
