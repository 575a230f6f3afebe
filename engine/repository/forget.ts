/**
 * forget: removes RecoveryPoints (their manifests) and nothing else; `prune` then frees
 * the chunks no remaining point needs (restic's and borg's split).
 *
 * Which points: explicit ids, or the newest N of each source (restic groups by host and
 * paths; here by `attributes.sourcePath` when the point has one, else by `meta.vmId`), so
 * one image's many backups never push out another image's only one.
 *
 * A point other points name as their parent is removed like any other: every manifest is
 * self-contained (it maps its whole disk; manifest.ts), so `parent` is lineage only and
 * the children restore exactly as before. The report counts them so the caller can say so.
 *
 * Crash safety: each manifest is one delete (atomic); a crash leaves some of the points
 * forgotten and the others whole, never a partial point; running forget again finishes.
 *
 * Leaves out: time-based policies (keep-daily/weekly), tags, and removing the log records
 * whose base point was forgotten (prune does that by its rule, prune.ts).
 */

import { assert } from '../../core/assert.js';
import { err, ok, type Result } from '../../core/result.js';
import { manifestName, type RecoveryPointId } from './hash.js';
import { decodeLogRecordObject, LOGS_PREFIX } from './log-record.js';
import type { PointSummary, Repository, RepoError } from './repository.js';

export type ForgetPolicy =
  | { readonly ids: readonly RecoveryPointId[] }
  /** Keep the newest `keepLast` points (by sequence) of each source; forget the rest. */
  | { readonly keepLast: number };

export interface ForgetReport {
  readonly removed: readonly RecoveryPointId[];
  readonly kept: readonly PointSummary[];
  /** Remaining points whose parent was removed (they stay whole: manifests are self-contained). */
  readonly childrenOfRemoved: readonly RecoveryPointId[];
  /** Log records whose chain starts at a removed point (the next prune removes them). */
  readonly logRecordsOfRemoved: number;
}

/** The group a point belongs to for keep-last: its source path, else its VM. */
export function sourceOf(p: PointSummary): string {
  const path = p.meta.attributes.sourcePath;
  return typeof path === 'string' ? path : `vm ${p.meta.vmId}`;
}

/** The points keep-last N forgets: all but the newest N of each source (points are oldest first). */
export function pointsBeyondKeepLast(points: readonly PointSummary[], keepLast: number): RecoveryPointId[] {
  assert(Number.isSafeInteger(keepLast) && keepLast >= 1, 'keepLast is a whole number of at least 1');
  const bySource = new Map<string, PointSummary[]>();
  for (const p of points) bySource.set(sourceOf(p), [...(bySource.get(sourceOf(p)) ?? []), p]);
  const drop = new Set<RecoveryPointId>();
  for (const group of bySource.values()) for (const p of group.slice(0, Math.max(0, group.length - keepLast))) drop.add(p.id);
  return points.filter((p) => drop.has(p.id)).map((p) => p.id);
}

async function logRecordsBasedOn(repo: Repository, ids: ReadonlySet<string>): Promise<Result<number, RepoError>> {
  const names = await repo.store.list(LOGS_PREFIX);
  if (!names.ok) return err({ kind: 'store', error: names.error });
  let count = 0;
  for (const name of names.value) {
    const bytes = await repo.store.get(name);
    if (!bytes.ok) {
      if (bytes.error.kind === 'not-found') continue;
      return err({ kind: 'store', error: bytes.error });
    }
    const decoded = decodeLogRecordObject(name, bytes.value);
    if (!decoded.ok) continue; // verify names it
    const base = decoded.value.codec.basePointId(decoded.value.file.record);
    if (base !== null && ids.has(base)) count += 1;
  }
  return ok(count);
}

/**
 * Removes the points the policy names. Explicit ids may name a damaged manifest (the
 * caller resolved them by name); keep-last looks only at intact points. `dryRun` removes
 * nothing and reports what would go (it needs no writer lock).
 */
export async function forget(repo: Repository, policy: ForgetPolicy, options: { readonly dryRun?: boolean } = {}): Promise<Result<ForgetReport, RepoError>> {
  if (!repo.isWriter && options.dryRun !== true) return err({ kind: 'read-only', operation: 'forget' });
  const points = await repo.listPoints();
  if (!points.ok) return points;
  const removed = 'ids' in policy ? [...new Set(policy.ids)] : pointsBeyondKeepLast(points.value, policy.keepLast);
  const gone = new Set<string>(removed);
  const kept = points.value.filter((p) => !gone.has(p.id));
  const childrenOfRemoved = kept.filter((p) => p.parent !== null && gone.has(p.parent)).map((p) => p.id);
  const logs = await logRecordsBasedOn(repo, gone);
  if (!logs.ok) return logs;
  if (options.dryRun !== true) {
    const fence = await repo.lock?.check();
    if (fence !== undefined && !fence.ok) return err({ kind: 'lock', error: fence.error });
    for (const id of removed) {
      const deleted = await repo.store.delete(manifestName(id));
      if (!deleted.ok) return err({ kind: 'store', error: deleted.error });
      repo.forgetManifest(id);
    }
  }
  return ok({ removed, kept, childrenOfRemoved, logRecordsOfRemoved: logs.value });
}
