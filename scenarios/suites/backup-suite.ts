/**
 * The backup suite: a cell's VM under workload, a full and CBT incrementals by the engine
 * under test, faults of the quiescing path and host power loss, every point read back and
 * judged (scenarios/scenario/run.ts). Properties 1, 2, 3, 4, 5, 8, 11 and 14.
 */

import { firstDivergence, recordingEngine, Transcript } from '../transcript.js';
import { PROTOCOL_VERSION, type Capabilities, type Engine } from '../engine-api.js';
import { FILE_ITEM_RESTORES } from '../scenario/item-restore.js';
import { checkAppNoLoss } from '../checkers/app-no-loss.js';
import { checkBackupType } from '../checkers/backup-type.js';
import { checkCrashRecovers, DATABASES } from '../checkers/crash-recovers.js';
import { checkDeterminism, transcriptsDiffer } from '../checkers/determinism.js';
import { checkIncrementalEqualsFull } from '../checkers/incremental-equals-full.js';
import { checkJobPolicy } from '../checkers/job-policy.js';
import { checkMatrixLevel } from '../checkers/matrix-level.js';
import { checkNoOverclaim } from '../checkers/no-overclaim.js';
import { checkQuiesceHygiene } from '../checkers/quiesce-hygiene.js';
import { checkRestoreVerified } from '../checkers/restore-verified.js';
import { checkFileItemRestore } from '../checkers/file-item-restore.js';
import { jobArb, scenarioArb } from '../scenario/arbitraries.js';
import { runScenario, type ScenarioOutcome } from '../scenario/run.js';
import { ITEM_KIND_OF_APP } from '../scenario/item-restore.js';
import { cellId, cellVm, findCell } from '../cells.js';
import { WRITER_OF } from '../nemesis/index.js';
import { isPlainJob, isQuiesceFault, PLAIN_JOB, type FaultPlan, type JobPlan, type ScenarioSpec } from '../scenario/spec.js';
import type { Suite } from './suite.js';

/** A backup run and, for property 11, a second run of the same spec. */
export interface BackupRun {
  readonly outcome: ScenarioOutcome;
  readonly twin: ScenarioOutcome | null;
  /** Twin runs: where the two runs' engine transcripts first differ (scenarios/transcript.ts), or null. */
  readonly divergence?: Divergence | null;
}

type Divergence = NonNullable<ReturnType<typeof firstDivergence>>;

/** Property 11's twin: the spec run twice, each in a fresh engine session, both transcripts recorded. */
async function runTwins(spec: BackupSpec, engine: Engine, caps: Capabilities | undefined): Promise<BackupRun> {
  const transcripts = [new Transcript(), new Transcript()] as const;
  const outcomes: ScenarioOutcome[] = [];
  for (const t of transcripts) {
    if (outcomes.length > 0) await engine.initialize({ protocolVersion: PROTOCOL_VERSION, seed: spec.seed });
    outcomes.push(await runScenario(spec, { engine: recordingEngine(engine, t), ...caps === undefined ? {} : { capabilities: caps } }));
  }
  return { outcome: outcomes[0] as ScenarioOutcome, twin: outcomes[1] as ScenarioOutcome, divergence: firstDivergence(...transcripts) };
}

/** Every this many runs (the first included), property 11 runs the spec twice. */
export const DETERMINISM_EVERY = 10;

/**
 * Of every this many runs, the second and the sixth run a fixed job variant (property 17)
 * with every job fault, whatever the draw: the second
 * under policy off — a plain snapshot, so that property 4 judges a crash-consistent point
 * of a database cell from two runs on — the sixth under require as a VSS copy backup
 * (property 18: the writers keep their logs); each with at least two
 * backups so that the CBT reset comes before an incremental.
 */
export const JOB_VARIANT_EVERY = 10;
const FORCED_VARIANTS: Readonly<Record<number, JobPlan>> = {
  1: { policy: 'off', backupType: 'full', cbtReset: true, refuseRemoval: true, orphan: true, readFault: true },
  5: { policy: 'require', backupType: 'copy', cbtReset: true, refuseRemoval: true, orphan: true, readFault: false },
};

/**
 * Property 1's run: no fault at all (a power loss through a lying cache may leave no guest
 * to judge), the plain job (policy try). Shrinks and replays of P1 drop a quiesce fault and
 * the job variant the same way, but keep a power loss: P1 judges those runs too.
 */
function forLevel<S extends ScenarioSpec>(spec: S, runZero: boolean): S {
  return { ...spec, fault: runZero || isQuiesceFault(spec.fault) ? { kind: 'none' } : spec.fault, job: PLAIN_JOB };
}

function withJobVariant<S extends ScenarioSpec>(spec: S, job: JobPlan): S {
  const backupGapsMs = spec.backupGapsMs.length >= 2 ? spec.backupGapsMs : [...spec.backupGapsMs, spec.backupGapsMs[0] ?? 100];
  // A power loss could leave no guest to judge the job by: the forced runs keep quiesce faults only.
  const fault: FaultPlan = spec.fault.kind === 'power-loss' ? { kind: 'none' } : spec.fault;
  return { ...spec, job, backupGapsMs, fault };
}

type BackupSpec = ScenarioSpec & { readonly twin: boolean };

/**
 * BUGGIFY for the freeze window (issue 15, class 8): runs 3, 13, … fail the cell's VSS
 * writer at Freeze, the window's first instant, and runs 7, 17, … at Thaw, its last (a
 * TIMEOUT: the hold ran too long); drawn uniformly, a given phase comes up in 2 % of runs.
 * Cells whose app has no VSS writer keep their drawn fault.
 */
const FREEZE_EDGES: Readonly<Record<number, FaultPlan>> = {
  3: { kind: 'writer', phase: 'freeze', error: 'NONRETRYABLE' },
  7: { kind: 'writer', phase: 'thaw', error: 'TIMEOUT' },
};

function withFreezeEdge<S extends ScenarioSpec>(spec: S, runIndex: number): S {
  const edge = FREEZE_EDGES[runIndex % DETERMINISM_EVERY];
  const app = findCell(spec.cellId)?.app;
  return edge === undefined || app === undefined || WRITER_OF[app] === undefined ? spec : { ...spec, fault: edge };
}

/** What run `runIndex` of the survey runs: its twin (P11), its level run (P1), its job variant (P17). */
function stratum(spec: BackupSpec, runIndex: number): BackupSpec {
  const twin = runIndex % DETERMINISM_EVERY === 0 ? { ...spec, twin: true } : spec;
  if (runIndex === 0) return forLevel(twin, true);
  const variant = FORCED_VARIANTS[runIndex % JOB_VARIANT_EVERY];
  return variant === undefined ? withFreezeEdge(twin, runIndex) : withJobVariant(twin, variant);
}

export const BACKUP_SUITE: Suite<BackupSpec, BackupRun> = {
  id: 'backup',
  appliesTo: () => true,
  runsFor: (runs) => runs,
  // Runs 0, 10, 20, … of the survey run their spec twice, for property 11 (so it judges a
  // tenth of the runs whatever the draws), and so does every spec of its shrink or replay.
  // Run 0 has no quiesce fault, so property 1 judges a run however few there are; its
  // shrinks and replays drop a quiesce fault the same way (P1 judges no such run anyway).
  // Runs 1 and 5, 11 and 15, … run a job variant (property 17) whatever the draw.
  arbitrary: (cell) => scenarioArb(cellId(cell), { override: { job: jobArb } }).map((spec) => ({ ...spec, twin: false })),
  forRun: stratum,
  // A shrink or replay keeps the failing run's stratum (its job variant) when it is known.
  forProperty: (drawn, propertyId, runIndex) => {
    const spec = runIndex === undefined ? drawn : stratum(drawn, runIndex);
    return propertyId === 'P11' ? { ...spec, twin: true } : propertyId === 'P1' ? forLevel(spec, runIndex === 0) : spec;
  },
  // Reading points back is the least a backup engine does; the rest is per property.
  needs: () => ['backup'],
  async run(spec, engine, caps) {
    if (spec.twin) return runTwins(spec, engine, caps);
    return { outcome: await runScenario(spec, { engine, ...caps === undefined ? {} : { capabilities: caps } }), twin: null };
  },
  describe: (spec) => spec,
  timeline: (run) => run.outcome.timeline,
  properties: [
    {
      id: 'P1', name: 'matrix level',
      description: 'The achieved level equals the matrix\'s level for the cell (runs without a quiesce fault, policy try).',
      applies: (_cell, spec) => !isQuiesceFault(spec.fault) && spec.job.policy === 'try' && !spec.job.readFault,
      check: (cell, _spec, run) => checkMatrixLevel(cell, run.outcome),
    },
    {
      id: 'P2', name: 'no overclaim',
      description: 'A RecoveryPoint never claims more than was achieved.',
      applies: () => true,
      check: (_cell, _spec, run) => checkNoOverclaim(run.outcome),
    },
    {
      id: 'P3', name: 'application points lose nothing',
      description: 'Application-consistent points lose no transaction committed before the freeze.',
      // Only where the matrix promises application level: elsewhere no point is (a claim of
      // application there is property 2's to fail), and the property would judge nothing.
      appliesToCell: (cell) => cell.app !== 'files' && cell.expected.level === 'application',
      applies: (cell) => cell.app !== 'files',
      check: (cell, _spec, run) => checkAppNoLoss(cell, run.outcome),
    },
    {
      id: 'P4', name: 'crash points recover',
      description: 'Crash-consistent points of a database that honours flush recover, losing nothing committed; when the stack lies about flush, the loss is found and reported.',
      appliesToCell: (cell) => (DATABASES as readonly string[]).includes(cell.app),
      applies: (cell) => (DATABASES as readonly string[]).includes(cell.app),
      check: (cell, spec, run) => checkCrashRecovers(cell, spec, run.outcome),
    },
    {
      id: 'P5', name: 'incremental equals full',
      description: 'Restoring CBT incremental k equals the full image at snapshot k, byte for byte.',
      needs: ['incremental'],
      applies: () => true,
      check: (_cell, _spec, run) => checkIncrementalEqualsFull(run.outcome),
    },
    {
      id: 'P8', name: 'quiesce faults fall back honestly',
      description: 'Quiesce faults (writer failure, freeze or script timeout, nonzero script exit) fall back honestly; the guest is always thawed and the VmSnapshot always removed.',
      applies: () => true,
      check: (_cell, spec, run) => checkQuiesceHygiene(spec, run.outcome),
    },
    {
      id: 'P14', name: 'restore verified',
      description: 'The first good point restored as a new VM boots, and every application the lab recovered from that point opens its data there (a SureBackup-style check, not only a timing).',
      needs: ['restore-vm'],
      applies: () => true,
      check: (_cell, _spec, run) => checkRestoreVerified(run.outcome),
    },
    {
      id: 'P17', name: 'job policy and job faults',
      description: 'Policy require stores a point only when the guest and every application were quiesced (else refuses), policy off never quiesces; after a CBT reset, a refused snapshot removal or an orphan snapshot of a crashed job the backups still succeed and no VmSnapshot is left.',
      applies: (_cell, spec) => !isPlainJob(spec.job),
      check: (cell, spec, run) => checkJobPolicy(spec, run.outcome, cellVm(cell).apps),
    },
    {
      id: 'P18', name: 'VSS backup type',
      description: 'A copy backup leaves Exchange\'s logs alone (the writer sees copy, truncates nothing); a stored full backup tells the Exchange writer (BackupComplete), so the logs are truncated; a failed backup never tells it that it succeeded.',
      // Where the Exchange writer can take part: the cells the matrix promises application.
      appliesToCell: (cell) => cell.app === 'exchange' && cell.expected.level === 'application',
      needs: ['copy-backup'],
      applies: (cell) => cell.app === 'exchange',
      check: (_cell, spec, run) => checkBackupType(spec, run.outcome),
    },
    {
      id: 'P11', name: 'determinism',
      description: 'The same seed gives the same results.',
      applies: (_cell, spec) => spec.twin,
      check: (_cell, _spec, run) => (run.divergence ?? null) === null ? checkDeterminism(run.outcome, run.twin) : transcriptsDiffer(run.divergence as Divergence),
    },
    {
      id: 'P16', name: 'file and item restores',
      description: 'A file-level restore of the files app\'s directory from the first and last good points gives every file of the image byte for byte, with the records the lab found; on SQL Server cells a row restored as an item has the value the app acknowledged before the cut; on Exchange cells a mail item and on NTDS cells an AD user (the latest acknowledged before the cut that the lab found) come back with every field the simulator reads for it in the image.',
      // Every cell's VM runs the files app (cells.ts), so the file-level restore applies everywhere;
      // the item restore where an app has items (ITEM_KIND_OF_APP: sqlserver, exchange, ntds).
      appliesToCell: (cell) => cellVm(cell).apps.some((a) => a === 'files' || ITEM_KIND_OF_APP[a] !== undefined),
      needs: FILE_ITEM_RESTORES,
      applies: () => true,
      check: (_cell, _spec, run) => checkFileItemRestore(run.outcome),
    },
  ],
};

