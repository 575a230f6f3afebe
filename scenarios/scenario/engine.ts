/**
 * The engine under test, as the harness drives it: the few entry points a scenario needs
 * (open a repository on a store, back up a VM, open a RecoveryPoint for reading, restore a
 * VM, verify a repository), each replaceable. The
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
import { describeRepoError, Repository, type OpenOptions, type RepoError } from '../../engine/repository/repository.js';
import { RecoveryPointId } from '../../engine/repository/hash.js';
import { verifyRepository, type VerifyReport } from '../../engine/repository/verify.js';
import type { ByteStore, StoreError } from '../../engine/store/byte-store.js';
import type { PointSource } from '../../engine/restore/source.js';
import { restoreVm } from '../../engine/restore/vm.js';
import { err, ok } from '../../core/result.js';

export interface EngineUnderTest {
  readonly name: string;
  /** The port the engine sees, given the world's (a mutant may wrap it). */
  port(world: HypervisorPort): HypervisorPort;
  /** Opens the repository the harness initialised on `store` (a mutant may wrap the store). */
  openRepository(store: ByteStore, options: OpenOptions): Promise<Result<Repository, RepoError>>;
  target(repo: Repository): BackupTarget;
  backup(env: EngineEnv, request: BackupRequest): Promise<Result<BackupReport, BackupError>>;
  source(repo: Repository, pointId: string): Promise<Result<PointSource, string>>;
  readonly restoreVm: typeof restoreVm;
  /** Reads every object of the repository on `store` and names the damaged ones. */
  verify(store: ByteStore): Promise<Result<VerifyReport, StoreError>>;
}

export const QUIESCELAB_ENGINE: EngineUnderTest = {
  name: 'quiescelab',
  port: (world) => world,
  openRepository: (store, options) => Repository.open(store, options),
  target: backupTargetFor,
  backup: runBackup,
  async source(repo, pointId) {
    const s = await repositorySource(repo, RecoveryPointId(pointId));
    return s.ok ? ok(s.value) : err(describeRepoError(s.error));
  },
  restoreVm,
  verify: (store) => verifyRepository(store),
};
