/**
 * Guest freeze/thaw scripts as VMware Tools run them on Linux (notes facts 6-8): every
 * executable in /etc/vmware-tools/backupScripts.d plus the legacy /usr/sbin/pre-freeze-script
 * and /usr/sbin/post-thaw-script. Freeze runs the legacy pre-freeze first, then the
 * backupScripts.d scripts in ascending name order with the argument `freeze`; thaw and
 * freezeFail run the backupScripts.d scripts in reverse order, and the legacy post-thaw
 * last (after thaw only). A nonzero freeze exit aborts the quiesce ("Custom quiesce script
 * failed."): the scripts that had frozen get `freezeFail`, newest first. A failing thaw
 * script lets the others run; the error is reported afterwards.
 *
 * Scripts are programs inside the simulation: a declared step per argument (an exit code,
 * a duration, optionally a hang, optionally an application action such as SQLite's
 * `checkpoint-and-lock`), so runs stay deterministic. A hanging script runs until Tools'
 * deadline and is then killed.
 *
 * Leaves out: script output capture, environment variables, scripts on Windows guests.
 */

import { assert } from '../../../core/assert.js';
import type { TimeUs } from '../../../core/clock.js';
import type { ScriptReport } from '../../../core/hypervisor-port.js';
import type { ScriptActionResult, ScriptArgument } from '../../apps/types.js';
import type { QuiesceContext } from './context.js';

export const SCRIPTS_DIR = '/etc/vmware-tools/backupScripts.d';
export const LEGACY_PRE_FREEZE = '/usr/sbin/pre-freeze-script';
export const LEGACY_POST_THAW = '/usr/sbin/post-thaw-script';
export const MAX_SCRIPTS = 64;

export interface ScriptStep {
  readonly exitCode?: number;
  readonly durationUs?: TimeUs;
  /** Never returns: killed at Tools' deadline. */
  readonly hang?: boolean;
  /** An application action to call, as `<appId>:<action>` (e.g. `sqlite:checkpoint-and-lock`). */
  readonly action?: string;
}

export interface GuestScript {
  /** A file in backupScripts.d, or one of the two legacy paths. */
  readonly path: string;
  readonly on: Partial<Record<ScriptArgument, ScriptStep>>;
}

export type ActionRunner = (action: string, arg: ScriptArgument) => ScriptActionResult | undefined;

export function isLegacy(path: string): boolean {
  return path === LEGACY_PRE_FREEZE || path === LEGACY_POST_THAW;
}

/** backupScripts.d entries in ascending name order (the freeze order). */
export function freezeOrder(scripts: readonly GuestScript[]): GuestScript[] {
  assert(scripts.length <= MAX_SCRIPTS, `more than ${MAX_SCRIPTS} guest scripts`);
  return scripts.filter((s) => !isLegacy(s.path)).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export interface ScriptRunResult {
  readonly reports: ScriptReport[];
  /** The first script that failed (nonzero exit or killed), if any. */
  readonly failed: ScriptReport | null;
  /** The guest lost power while a script ran. */
  readonly powerLost: boolean;
}

/** Runs one script with `arg` (a missing step is a script that exits 0 at once). */
function runOne(ctx: QuiesceContext, script: GuestScript, arg: ScriptArgument, actions: ActionRunner): { report: ScriptReport; powerLost: boolean } {
  const step = script.on[arg] ?? {};
  const startUs = ctx.clock.nowUs();
  let exitCode = step.exitCode ?? 0;
  let durationUs = step.durationUs ?? 0;
  if (step.action !== undefined) {
    const done = actions(step.action, arg);
    if (done === undefined) {
      exitCode = 127; // the action's program is not installed
    } else {
      durationUs += done.durationUs;
      if (exitCode === 0) exitCode = done.exitCode;
    }
  }
  let timedOut = false;
  if (step.hang === true || startUs + durationUs > ctx.deadlineUs) {
    timedOut = true;
    durationUs = Math.max(0, ctx.deadlineUs - startUs);
  }
  const alive = ctx.advance(durationUs);
  const report: ScriptReport = { path: script.path, argument: arg, exitCode: timedOut ? null : exitCode, durationUs, timedOut };
  ctx.record('script.run', { path: script.path, argument: arg, exitCode: report.exitCode, timedOut });
  return { report, powerLost: !alive };
}

/**
 * The freeze pass. On failure, the scripts that had succeeded get freezeFail in reverse
 * (the failing one too: it was started), and the result names the failure.
 */
export function runFreezeScripts(ctx: QuiesceContext, scripts: readonly GuestScript[], actions: ActionRunner): ScriptRunResult {
  const reports: ScriptReport[] = [];
  const started: GuestScript[] = [];
  const legacy = scripts.find((s) => s.path === LEGACY_PRE_FREEZE);
  const ordered = [...(legacy === undefined ? [] : [legacy]), ...freezeOrder(scripts)];
  for (const script of ordered) {
    const { report, powerLost } = runOne(ctx, script, 'freeze', actions);
    reports.push(report);
    if (powerLost) return { reports, failed: null, powerLost };
    if (report.exitCode !== 0) {
      if (script.path !== LEGACY_PRE_FREEZE) started.push(script);
      const undo = runFreezeFail(ctx, started, actions);
      return { reports: [...reports, ...undo.reports], failed: report, powerLost: undo.powerLost };
    }
    if (script.path !== LEGACY_PRE_FREEZE) started.push(script);
  }
  return { reports, failed: null, powerLost: false };
}

/** freezeFail to every given backupScripts.d script, newest first. */
export function runFreezeFail(ctx: QuiesceContext, frozen: readonly GuestScript[], actions: ActionRunner): ScriptRunResult {
  const reports: ScriptReport[] = [];
  for (const script of [...frozen].reverse()) {
    const { report, powerLost } = runOne(ctx, script, 'freezeFail', actions);
    reports.push(report);
    if (powerLost) return { reports, failed: null, powerLost };
  }
  return { reports, failed: reports.find((r) => r.exitCode !== 0) ?? null, powerLost: false };
}

/** The thaw pass: reverse order, legacy post-thaw last; every script runs even after a failure. */
export function runThawScripts(ctx: QuiesceContext, scripts: readonly GuestScript[], actions: ActionRunner): ScriptRunResult {
  const reports: ScriptReport[] = [];
  const legacy = scripts.find((s) => s.path === LEGACY_POST_THAW);
  const ordered = [...freezeOrder(scripts).reverse(), ...(legacy === undefined ? [] : [legacy])];
  let failed: ScriptReport | null = null;
  for (const script of ordered) {
    const { report, powerLost } = runOne(ctx, script, 'thaw', actions);
    reports.push(report);
    if (powerLost) return { reports, failed, powerLost };
    if (report.exitCode !== 0 && failed === null) failed = report;
  }
  return { reports, failed, powerLost: false };
}
