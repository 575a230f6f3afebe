/**
 * The engine under test, as the harness drives it: the few entry points a scenario needs
 * (back up a VM, open a RecoveryPoint for reading, restore a VM), each replaceable. The
 * default is quiescelab's own engine (engine/); an engine mutant
 * (scenarios/mutants/) is this record with one piece swapped or wrapped — a port that
 * misbehaves underneath the engine, a substituted component — so no engine file carries a
 * test flag. Another engine plugs in the same way (README: "Plug in another engine").
 */

import type { HypervisorPort } from '../../core/hypervisor-port.js';
import type { Result } from '../../core/result.js';
import { runBackup, type BackupError, type BackupReport, type BackupRequest, type EngineEnv } from '../../engine/backup/job.js';
import { backupTargetFor } from '../../engine/backup/repository-target.js';
import type { BackupTarget } from '../../engine/backup/sink.js';
import { repositorySource } from '../../engine/repository/engine-ports.js';
import { describeRepoError, type Repository } from '../../engine/repository/repository.js';
import { RecoveryPointId } from '../../engine/repository/hash.js';
import type { PointSource } from '../../engine/restore/source.js';
import { restoreVm } from '../../engine/restore/vm.js';
import { err, ok } from '../../core/result.js';

export interface EngineUnderTest {
  readonly name: string;
  /** The port the engine sees, given the world's (a mutant may wrap it). */
  port(world: HypervisorPort): HypervisorPort;
  target(repo: Repository): BackupTarget;
  backup(env: EngineEnv, request: BackupRequest): Promise<Result<BackupReport, BackupError>>;
  source(repo: Repository, pointId: string): Promise<Result<PointSource, string>>;
  readonly restoreVm: typeof restoreVm;
}

export const QUIESCELAB_ENGINE: EngineUnderTest = {
  name: 'quiescelab',
  port: (world) => world,
  target: backupTargetFor,
  backup: runBackup,
  async source(repo, pointId) {
    const s = await repositorySource(repo, RecoveryPointId(pointId));
    return s.ok ? ok(s.value) : err(describeRepoError(s.error));
  },
  restoreVm,
};
