/**
 * VMware Tools' side of a quiesced snapshot: pick the in-guest quiescer the catalog gives
 * for this OS and Tools (sim/guest/catalog.ts) and run it around the hypervisor's snapshot.
 *
 * - SYNC driver (Windows 2000, XP, 2003 32-bit on old Tools; fact 1): flush and hold every
 *   volume, snapshot, release. File-system level; heavy dirty data stalls the guest for
 *   the flush.
 * - FIFREEZE and vmsync (Linux; fact 5): freeze scripts, FIFREEZE of every volume (an
 *   already-frozen one fails the quiesce, fact 8), snapshot, thaw, thaw scripts.
 * - sync-only (the null driver; fact 5): sync() of every volume and no hold. Tools report
 *   file-system quiescing, but writes between the sync and the snapshot are not flushed
 *   and the journal still needs replay: `quiescer: 'sync-only'` tells an engine so.
 * - VSS (sim/vss/requestor.ts), with or without writers per the catalog's conditions.
 *
 * Tools give up at the deadline (15 minutes by default, fact 8): a quiesce that holds I/O
 * past it is rolled back with FilesystemQuiesceFault, and so is a failing freeze script
 * (fact 7). A failing thaw script lets the other thaw scripts run and then fails the
 * quiesced snapshot too (open-vm-tools reports the error to the host, which fails the
 * task); the guest is thawed on every path.
 */

import type { TimeUs } from '../../../core/clock.js';
import type { QuiesceFault, QuiesceOutcome, Quiescer, ScriptReport, VssBackupType, WriterReport } from '../../../core/hypervisor-port.js';
import type { VssSession } from '../../vss/requestor.js';
import { runVssSnapshot } from '../../vss/requestor.js';
import type { VssWriter } from '../../vss/types.js';
import type { ToolsQuiescePlan } from '../catalog.js';
import { flushDurationUs, freezeVolumes, thawVolumes, type QuiesceContext } from './context.js';
import { runFreezeScripts, runThawScripts, type ActionRunner, type GuestScript } from './scripts.js';

export interface ToolsQuiesceRequest {
  readonly plan: ToolsQuiescePlan;
  readonly backupType: VssBackupType;
  readonly backupId: string;
  /** Writers of the guest's applications (used when the plan involves writers). */
  readonly writers: readonly VssWriter[];
  /** Guest scripts, run when these Tools run scripts (Linux, 4.1 and later). */
  readonly scripts: readonly GuestScript[];
  readonly runScripts: boolean;
  readonly actions: ActionRunner;
}

export type ToolsQuiesceResult =
  | { readonly ok: true; readonly snapshotToken: number; readonly outcome: QuiesceOutcome; readonly session: VssSession | null }
  | { readonly ok: false; readonly powerLost: boolean; readonly fault: QuiesceFault; readonly outcome: QuiesceOutcome };

interface Partial_ {
  quiescer: Quiescer;
  scripts: ScriptReport[];
  writers: readonly WriterReport[];
  attempts: number;
  freezeStartUs: TimeUs | null;
  thawUs: TimeUs | null;
}

function outcomeOf(p: Partial_, mode: QuiesceOutcome['mode'], fault: QuiesceFault | null, limitedBy: string | null): QuiesceOutcome {
  return {
    requested: true, mode, quiescer: p.quiescer, fault, limitedBy, writers: p.writers, scripts: p.scripts, attempts: p.attempts,
    freezeStartUs: p.freezeStartUs, thawUs: p.thawUs,
  };
}

export function toolsQuiesce(ctx: QuiesceContext, request: ToolsQuiesceRequest): ToolsQuiesceResult {
  const plan = request.plan;
  const p: Partial_ = { quiescer: plan.quiescer, scripts: [], writers: [], attempts: 1, freezeStartUs: null, thawUs: null };
  const failed = (reason: string, powerLost = false): ToolsQuiesceResult => {
    const fault: QuiesceFault = { kind: 'FilesystemQuiesceFault', reason };
    ctx.record('quiesce.fail', { quiescer: plan.quiescer, reason });
    return { ok: false, powerLost, fault, outcome: outcomeOf(p, 'none', fault, plan.limitedBy) };
  };
  ctx.record('quiesce.begin', { quiescer: plan.quiescer, maxMode: plan.maxMode });

  if (plan.quiescer === 'none') return failed(plan.limitedBy ?? 'no quiescer');

  if (plan.quiescer === 'vss') {
    const r = runVssSnapshot(ctx, request.writers, { backupType: request.backupType, backupId: request.backupId, withWriters: plan.vssWriters });
    p.writers = r.writers;
    p.attempts = r.attempts;
    if (!r.ok) return failed(r.reason, r.powerLost);
    p.freezeStartUs = r.freezeStartUs;
    p.thawUs = r.thawUs;
    ctx.record('quiesce.end', { quiescer: 'vss', mode: r.mode });
    return { ok: true, snapshotToken: r.snapshotToken, outcome: outcomeOf(p, r.mode, r.fault, plan.limitedBy), session: r.session };
  }

  // SYNC driver and the Linux drivers: scripts (Linux only), then flush (and hold).
  const scripts = request.runScripts ? request.scripts : [];
  p.freezeStartUs = ctx.clock.nowUs();
  ctx.record('quiesce.freeze', { quiescer: plan.quiescer });
  const frozenScripts = runFreezeScripts(ctx, scripts, request.actions);
  p.scripts.push(...frozenScripts.reports);
  if (frozenScripts.powerLost) return failed('the guest lost power during a freeze script', true);
  if (frozenScripts.failed !== null) {
    const f = frozenScripts.failed;
    return failed(f.timedOut ? `Custom quiesce script failed: ${f.path} timed out` : `Custom quiesce script failed: ${f.path} exited ${String(f.exitCode)}`);
  }
  const thawAll = (): { failed: ScriptReport | null; powerLost: boolean } => {
    thawVolumes(ctx);
    const thawed = runThawScripts(ctx, scripts, request.actions);
    p.scripts.push(...thawed.reports);
    p.thawUs = ctx.clock.nowUs();
    ctx.record('quiesce.thaw', { quiescer: plan.quiescer });
    return { failed: thawed.failed, powerLost: thawed.powerLost };
  };

  const hold = plan.quiescer !== 'sync-only';
  if (hold) {
    const held = freezeVolumes(ctx);
    if (!held.ok) {
      thawAll();
      return failed(`FIFREEZE failed on volume ${held.failure.volume}: ${held.failure.reason}`);
    }
    if (!ctx.advance(held.flushUs)) return failed('the guest lost power during the flush', true);
  } else {
    const flushUs = flushDurationUs(ctx.volumes);
    for (const v of ctx.volumes) v.sync();
    if (!ctx.advance(flushUs)) return failed('the guest lost power during sync', true);
  }

  const taken = ctx.takeSnapshot();
  const alive = ctx.advance(Math.min(taken.commitUs, Math.max(0, ctx.deadlineUs - ctx.clock.nowUs())));
  if (!alive) {
    ctx.discardSnapshot(taken.token);
    return failed('the guest lost power during the snapshot', true);
  }
  if (ctx.clock.nowUs() >= ctx.deadlineUs) {
    ctx.discardSnapshot(taken.token);
    const t = thawAll();
    return failed(`the snapshot held I/O past the quiesce time limit${t.failed === null ? '' : `; thaw script ${t.failed.path} failed`}`, t.powerLost);
  }
  const t = thawAll();
  if (t.powerLost) {
    ctx.discardSnapshot(taken.token);
    return failed('the guest lost power during a thaw script', true);
  }
  if (t.failed !== null) {
    ctx.discardSnapshot(taken.token);
    return failed(`Custom quiesce script failed: thaw ${t.failed.path} ${t.failed.timedOut ? 'timed out' : `exited ${String(t.failed.exitCode)}`}`);
  }
  ctx.record('quiesce.end', { quiescer: plan.quiescer, mode: 'filesystem' });
  return { ok: true, snapshotToken: taken.token, outcome: outcomeOf(p, 'filesystem', null, plan.limitedBy), session: null };
}
