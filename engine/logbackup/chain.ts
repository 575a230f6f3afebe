/**
 * Log chains and roll-forward plans (notes facts 13, 14; seed 004: no roll-forward from a
 * VSS snapshot alone). A restored database that waits in NORECOVERY needs the log from its
 * next LSN on; the plan is the unbroken run of log backups from there to the target, or a
 * refusal that names the break — never a partial plan.
 *
 * Chain rules: backups that count are the non-copy-only ones (a copy-only log backup does
 * not truncate, so its range overlaps the chain's and adds nothing); consecutive backups
 * must have lastLsn(k) = firstLsn(k+1). A gap is a break: a log backup missing from the
 * repository, or the log truncated by someone else (a log backup to NUL). Targets: a time
 * (every transaction committed at or before it), an LSN (every record before it), or the
 * latest point the chain reaches.
 */

import type { TimeUs } from '../../core/clock.js';
import { err, ok, type Result } from '../../core/result.js';

export interface LogBackupRef {
  readonly id: string;
  readonly firstLsn: number;
  readonly lastLsn: number;
  readonly backupTimeUs: TimeUs;
  readonly copyOnly: boolean;
}

export type RollForwardTarget =
  | { readonly kind: 'time'; readonly timeUs: TimeUs }
  | { readonly kind: 'lsn'; readonly lsn: number }
  | { readonly kind: 'latest' };

export type ChainRefusal =
  | { readonly kind: 'no-log-backups'; readonly reason: string }
  | { readonly kind: 'start-not-covered'; readonly startLsn: number; readonly reason: string }
  | { readonly kind: 'gap'; readonly afterBackup: string; readonly missingFromLsn: number; readonly nextAvailableLsn: number; readonly reason: string }
  | { readonly kind: 'target-beyond-chain'; readonly chainEndLsn: number; readonly chainEndTimeUs: TimeUs; readonly reason: string };

/** The backups to apply, in order, to roll a database waiting at `startLsn` forward to `target`. */
export function planRollForward(backups: readonly LogBackupRef[], startLsn: number, target: RollForwardTarget): Result<LogBackupRef[], ChainRefusal> {
  const chain = backups.filter((b) => !b.copyOnly && b.lastLsn > b.firstLsn).slice().sort((a, b) => a.firstLsn - b.firstLsn);
  if (chain.length === 0) return err({ kind: 'no-log-backups', reason: 'there are no log backups: a VSS snapshot alone cannot be rolled forward' });
  const first = chain.find((b) => b.firstLsn <= startLsn && startLsn < b.lastLsn);
  if (first === undefined) {
    return err({ kind: 'start-not-covered', startLsn, reason: `no log backup holds LSN ${startLsn}, where the restored database continues (a missing log backup, or the log was truncated outside the chain)` });
  }
  const plan: LogBackupRef[] = [first];
  const reached = (b: LogBackupRef): boolean => {
    switch (target.kind) {
      case 'time': return b.backupTimeUs >= target.timeUs;
      case 'lsn': return b.lastLsn > target.lsn;
      case 'latest': return false;
    }
  };
  let last = first;
  while (!reached(last)) {
    const next = chain.find((b) => b.firstLsn === last.lastLsn);
    if (next === undefined) {
      const later = chain.find((b) => b.firstLsn > last.lastLsn);
      if (later !== undefined) {
        return err({
          kind: 'gap', afterBackup: last.id, missingFromLsn: last.lastLsn, nextAvailableLsn: later.firstLsn,
          reason: `the log chain breaks after ${last.id}: LSNs ${last.lastLsn} to ${later.firstLsn} are in no log backup`,
        });
      }
      if (target.kind === 'latest') return ok(plan);
      return err({
        kind: 'target-beyond-chain', chainEndLsn: last.lastLsn, chainEndTimeUs: last.backupTimeUs,
        reason: `the target is past the last log backup (${last.id}, LSN ${last.lastLsn})`,
      });
    }
    plan.push(next);
    last = next;
  }
  return ok(plan);
}
