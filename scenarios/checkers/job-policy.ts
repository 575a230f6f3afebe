/**
 * Property 17: the job does what its policy says and survives the faults of its own path
 * (the spec's JobPlan; scenarios/nemesis/job-faults.ts injects them).
 *
 * - `require`: a point is stored only when the hypervisor's record (the tap's) shows the
 *   guest quiesced with no fault and no failed attempt, by a quiescer that holds writes (not
 *   the sync-only driver), and every app of the VM with an agent of its own (all but the
 *   plain file writer) quiesced by it; such a point claims application for those apps.
 *   Otherwise the backup fails with `quiesce-required` — and when that record shows all of
 *   the above, a refusal is a failure too (a backup the engine could have taken).
 * - `off`: no snapshot is quiesced, and every backup succeeds.
 * - `try`: judged by properties 1, 2 and 8; here only the job faults below.
 * - Job faults: each must have struck (the probe; an unfired fault leaves the run unjudged,
 *   never passed), and then: after a CBT reset the incremental is still a whole image
 *   (property 5 compares the bytes; here: the backups after it succeeded); after a refused
 *   removal and with an orphan left, no VmSnapshot remains (property 8 names them; here:
 *   the count).
 *
 * Does not check: the wording of the refusal, a `require` backup whose guest a power loss
 * destroyed (nothing to quiesce: unknown), the level a point reached (properties 1 and 2).
 */

import type { AppId } from '../../core/hypervisor-port.js';
import type { PointRun, PointTruth, ScenarioOutcome } from '../scenario/run.js';
import { isPlainJob, type ScenarioSpec } from '../scenario/spec.js';
import { fail, pass, unknown, type Verdict } from '../verdict.js';

/**
 * Apps with no quiescing agent of their own (the plain file writer): the harness's own
 * knowledge of the world, not the engine's list, so an engine that gets it wrong is judged.
 */
const APPS_WITHOUT_AGENT: readonly AppId[] = ['files'];

/** Why the record says a `require` backup could not be taken, or null when it could. */
export function requireBlocked(truth: PointTruth | null, apps: readonly AppId[]): string | null {
  if (truth === null) return 'no quiesced VmSnapshot could be taken';
  if (truth.quiesceFailed !== null) return `the quiesced attempt failed (${truth.quiesceFailed})`;
  const q = truth.quiesce;
  if (q.mode === 'none' || q.quiescer === 'sync-only') return `the guest was not really quiesced (${q.mode} by ${q.quiescer})`;
  if (q.fault !== null) return `${q.fault.kind}: ${q.fault.reason}`;
  const short = apps.filter((a) => !APPS_WITHOUT_AGENT.includes(a) && !truth.appsQuiesced.includes(a));
  return short.length === 0 ? null : `not quiesced by their agent: ${short.join(', ')}`;
}

function checkRequire(p: PointRun, apps: readonly AppId[]): string | null {
  const blocked = requireBlocked(p.truth, apps);
  if (p.ok) {
    if (blocked !== null) return `backup ${p.index} stored a point under policy require although ${blocked}`;
    const short = apps.filter((a) => !APPS_WITHOUT_AGENT.includes(a) && p.claimed?.apps[a] !== 'application');
    if (short.length > 0) return `backup ${p.index} stored under policy require claims less than application for ${short.join(', ')}`;
    return null;
  }
  if (blocked === null) return `backup ${p.index} failed under policy require though the guest and every app were quiesced: ${p.error ?? ''}`;
  if (p.errorKind !== 'quiesce-required') return `backup ${p.index} under policy require failed with ${p.errorKind ?? '?'} (${p.error ?? ''}), not as a refusal to back up unquiesced (${blocked})`;
  return null;
}

function checkOff(p: PointRun): string | null {
  if (!p.ok) return `backup ${p.index} failed under policy off: ${p.error ?? ''}`;
  if (p.truth?.quiesce.requested === true) return `backup ${p.index} asked Tools to quiesce under policy off`;
  return null;
}

/** The job faults the plan asked for that did not strike (the run says nothing about them). */
function unfired(spec: ScenarioSpec, outcome: ScenarioOutcome): string[] {
  const out: string[] = [];
  const f = outcome.jobFaults;
  if (spec.job.orphan && f.orphansLeft === 0) out.push('orphan');
  if (spec.job.refuseRemoval && f.removalsRefused === 0 && outcome.points.some((p) => p.truth !== null)) out.push('refused removal');
  if (spec.job.cbtReset && f.cbtResets === 0 && spec.backupGapsMs.length > 1) out.push('CBT reset');
  if (spec.job.readFault && f.readsFailed === 0) out.push('failed read');
  return out;
}

export function checkJobPolicy(spec: ScenarioSpec, outcome: ScenarioOutcome, apps: readonly AppId[]): Verdict {
  if (isPlainJob(spec.job)) return unknown('not applicable: policy try with no job fault');
  if (outcome.guestLost !== null) return unknown(`not judged: the guest did not survive the power loss (${outcome.guestLost})`);
  const missed = unfired(spec, outcome);
  if (missed.length > 0) return unknown(`not judged: the plan's ${missed.join(', ')} did not strike`);
  const struck = spec.job.readFault ? outcome.points.find((p) => !p.ok && p.errorKind === 'port' && (p.error ?? '').startsWith('readSnapshotDisk')) : undefined;
  for (const p of outcome.points) {
    if (p === struck) continue;
    const problem = spec.job.policy === 'require' ? checkRequire(p, apps) : spec.job.policy === 'off' ? checkOff(p) : !p.ok && !isQuiesceFaultFailure(p) ? `backup ${p.index} failed: ${p.error ?? ''}` : null;
    if (problem !== null) return fail(problem);
  }
  if (spec.job.readFault && struck === undefined) return fail(`a snapshot read failed (the probe) but no backup failed on it: ${outcome.points.map((p) => p.ok ? 'ok' : p.error ?? '?').join('; ')}`);
  const stored = outcome.points.filter((p) => p.ok).length;
  if (outcome.pointsListed !== null && outcome.pointsListed !== stored) return fail(`the repository lists ${outcome.pointsListed} point(s), ${stored} backup(s) succeeded: a failed backup left a point behind`);
  if (outcome.hygiene.snapshotsLeft.length > 0) return fail(`VmSnapshot(s) left behind after the job faults: ${outcome.hygiene.snapshotsLeft.join(', ')}`);
  const f = outcome.jobFaults;
  return pass(`policy ${spec.job.policy}: ${stored} of ${outcome.points.length} backup(s) stored as the policy allows; faults struck: ${f.orphansLeft} orphan(s), ${f.removalsRefused} refused removal(s), ${f.cbtResets} CBT reset(s), ${f.readsFailed} failed read(s); no VmSnapshot left, no point of a failed backup`);
}

/** A backup under try that failed because its quiesce fault made even the fallback fail (property 8's to judge). */
function isQuiesceFaultFailure(p: PointRun): boolean {
  return p.errorKind === 'port' && (p.error ?? '').startsWith('createSnapshot');
}
