/**
 * What a RecoveryPoint may claim, from the quiesce outcome the hypervisor reported — and
 * nothing else (DESIGN property 2: never claim more than was achieved):
 * - no quiescing (mode none, or a fallback snapshot): crash, for the VM and every app;
 * - the sync-only driver: crash (it flushes but does not hold writes, and the journal
 *   still needs replay; notes fact 5), whatever mode Tools report;
 * - file-system quiescing: filesystem for the VM and every app;
 * - application quiescing: application for each app whose VSS writer came through with no
 *   error, filesystem for an app whose writer failed or that has no writer;
 * - an app named in `appScripts` whose freeze script exited 0 (Linux backupScripts.d) is
 *   application too, if the file systems were frozen.
 * Each level comes with the reason, for the report.
 */

import type { AppId, QuiesceOutcome } from '../../core/hypervisor-port.js';
import type { ConsistencyLevel } from '../../core/levels.js';

/**
 * Apps with no agent of their own (a program writing files): their best level is the file
 * system's, so the `require` policy asks file-system quiescing of them, and application
 * quiescing of every other app the VM runs.
 */
export const APPS_WITHOUT_AGENT: readonly AppId[] = ['files'];

/** Under the `require` policy: why this claim is not enough, or null when it is. */
export function requireShortfall(claim: Claim, apps: readonly AppId[]): string | null {
  if (claim.vm !== 'filesystem') return `the guest was not quiesced (claim ${claim.vm})`;
  const short = apps.filter((a) => !APPS_WITHOUT_AGENT.includes(a) && claim.apps[a] !== 'application');
  return short.length === 0 ? null : `not application-consistent: ${short.join(', ')}`;
}

export interface Claim {
  readonly vm: ConsistencyLevel;
  readonly apps: Readonly<Partial<Record<AppId, ConsistencyLevel>>>;
  readonly reasons: readonly string[];
}

export function claimFor(outcome: QuiesceOutcome, apps: readonly AppId[], appScripts: Readonly<Partial<Record<AppId, string>>> = {}): Claim {
  const reasons: string[] = [];
  const all = (level: ConsistencyLevel): Partial<Record<AppId, ConsistencyLevel>> => Object.fromEntries(apps.map((a) => [a, level]));
  if (!outcome.requested || outcome.mode === 'none') {
    reasons.push(outcome.requested ? 'the guest was not quiesced' : 'application-aware processing is off: a crash-consistent snapshot');
    return { vm: 'crash', apps: all('crash'), reasons };
  }
  if (outcome.quiescer === 'sync-only') {
    reasons.push('the sync-only driver flushes without holding writes: crash-consistent at best');
    return { vm: 'crash', apps: all('crash'), reasons };
  }
  if (outcome.limitedBy !== null) reasons.push(`Tools did not try application quiescing: ${outcome.limitedBy}`);
  if (outcome.fault !== null) reasons.push(`${outcome.fault.kind}: ${outcome.fault.reason}`);
  const claimed: Partial<Record<AppId, ConsistencyLevel>> = {};
  for (const app of apps) {
    const writer = outcome.writers.find((w) => w.app === app);
    const script = appScripts[app];
    const scriptRan = script !== undefined && outcome.scripts.some((s) => s.path === script && s.argument === 'freeze' && s.exitCode === 0);
    if (outcome.mode === 'application' && writer !== undefined && writer.error === null) {
      claimed[app] = 'application';
    } else if (scriptRan) {
      claimed[app] = 'application';
      reasons.push(`${app}: quiesced by the freeze script ${script}`);
    } else {
      claimed[app] = 'filesystem';
      if (writer !== undefined && writer.error !== null) reasons.push(`${app}: writer ${writer.writer} ${writer.state} (${writer.error})`);
      else if (writer === undefined && outcome.mode === 'application') reasons.push(`${app}: no VSS writer took part`);
    }
  }
  return { vm: 'filesystem', apps: claimed, reasons };
}
