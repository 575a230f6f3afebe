/**
 * The backup job's RecoveryPoint record as the repository's manifest meta: the level the
 * VM as a whole may claim (per-application levels, which may be higher, go in
 * `attributes.appLevels`), the reasons, the writers' states and the timings; the job's full
 * record rides along in the manifest's `attributes.job` (engine/repository/engine-ports.ts).
 */

import type { RecoveryPointMeta as ManifestMeta } from '../repository/manifest.js';
import { repositoryTarget } from '../repository/engine-ports.js';
import type { Repository } from '../repository/repository.js';
import type { RecoveryPointMeta as JobMeta } from './job.js';
import type { BackupTarget } from './sink.js';

export function manifestMetaOf(vmId: string, job: unknown): ManifestMeta {
  const meta = job as JobMeta;
  const writerStates: Record<string, string> = {};
  for (const w of meta.quiesce.writers) writerStates[w.writer] = w.state;
  return {
    vmId,
    claimedLevel: meta.claimed.vm,
    reasons: meta.claimed.reasons,
    writerStates,
    timingsUs: {
      snapshotUs: meta.timings.snapshotDoneUs - meta.timings.startUs,
      readUs: meta.timings.readDoneUs - meta.timings.snapshotDoneUs,
      ...meta.quiesce.freezeStartUs !== null && meta.quiesce.thawUs !== null ? { freezeWindowUs: meta.quiesce.thawUs - meta.quiesce.freezeStartUs } : {},
    },
    attributes: { kind: meta.kind, copyOnly: meta.copyOnly, snapshotAtUs: meta.snapshotAtUs, appLevels: { ...meta.claimed.apps } },
  };
}

export function backupTargetFor(repo: Repository): BackupTarget {
  return repositoryTarget(repo, { toMeta: manifestMetaOf });
}
