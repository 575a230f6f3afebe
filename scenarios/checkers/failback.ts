/**
 * Property 24: failback loses no write made at the DR site and equals the DR VM at the
 * failback instant. After a failover the VM works at the DR site; failback sends its
 * changes back (to the original VM, or to a new one when the original is lost) and starts
 * it at the source site: its disks at power-on equal the DR VM's disks when the DR VM shut
 * down for failback, byte for byte on every block the DR VM's file system uses (so every
 * write the DR VM made, the last stretch included, and none of the original's writes the
 * DR site never had; a free block may keep the original's stale bytes), and it boots.
 *
 * Images are the hypervisors': the DR VM's disks when its shutdown completed, the
 * failed-back VM's at its powerOn call.
 *
 * Areas not verified: re-protection after failback, a failback while the source site is
 * still unreachable (the scenario repairs the source host first).
 */

import type { ReplicationOutcome } from '../scenario/replication-run.js';
import { Findings, unknown, type Verdict } from '../verdict.js';

export function checkFailback(outcome: ReplicationOutcome): Verdict {
  const fb = outcome.failback;
  if (fb === null) return unknown(`not judged: no failback ran${outcome.failover?.ok === false ? ` (the failover failed: ${outcome.failover.detail})` : ''}`);
  const f = new Findings();
  if (!fb.ok) {
    f.fail(`failback to ${fb.target === 'new' ? 'a new VM' : 'the original VM'} failed: ${fb.detail}`, 3);
    return f.verdict('');
  }
  if (fb.equalsDr === null || !fb.equalsDr.equal) f.fail(`failback to ${fb.target === 'new' ? 'a new VM' : 'the original VM'}: its disks at power-on are not the DR VM's at the failback instant: ${fb.equalsDr?.detail ?? 'not compared'}`, 3);
  if (!fb.boots) f.fail('the failed-back VM does not boot', 2);
  return f.verdict(`failback to ${fb.target === 'new' ? 'a new VM' : 'the original VM'}: its disks equal the DR VM's at the failback instant (${((fb.finalAtUs ?? 0) / 1e6).toFixed(3)} s) and it boots`);
}
