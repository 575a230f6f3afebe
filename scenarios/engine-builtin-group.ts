/**
 * The built-in engine's group backups and scope recovery (engine/backup/group.ts,
 * engine/restore/scope.ts) behind the black-box interface: both work on a repository the
 * session opened (its handle), through the record's port (a mutant may wrap it) and the
 * record's own single-VM job, point source and VM restore, so a mutant of any of them
 * applies to a group as it does to one VM.
 */

import type { Clock } from '../core/clock.js';
import type { HypervisorPort } from '../core/hypervisor-port.js';
import { err, ok, type Result } from '../core/result.js';
import type { BackupTarget } from '../engine/backup/sink.js';
import { describeRepoError, type Repository } from '../engine/repository/repository.js';
import type { PointSource } from '../engine/restore/source.js';
import type { EngineUnderTest } from './scenario/engine.js';
import type { Engine, EngineFailure } from './engine-api.js';

type GroupMethods = Pick<Engine, 'backupGroup' | 'recoverScope'>;

export interface GroupContext {
  readonly portOf: (world: HypervisorPort) => HypervisorPort;
  /** The open repository behind a handle, with its backup target (made once per repository). */
  readonly repoOf: (id: string) => Result<{ readonly repo: Repository; readonly target: BackupTarget }, EngineFailure>;
  readonly sourceOf: (repo: string, pointId: string) => Promise<Result<PointSource, EngineFailure>>;
}

export function builtinGroup(eut: EngineUnderTest, c: GroupContext): GroupMethods {
  return {
    async backupGroup(e, params) {
      const r = c.repoOf(params.repo);
      if (!r.ok) return r;
      const env = { port: c.portOf(e.port), clock: e.clock, target: r.value.target };
      return eut.group.backup(env, {
        vmIds: params.vmIds, policy: params.policy, together: params.together,
        ...params.coordinator === undefined ? {} : { coordinator: params.coordinator },
        ...params.appScripts === undefined ? {} : { appScripts: params.appScripts },
      }, (env2, request) => eut.backup(env2, request));
    },
    async recoverScope(e, params) {
      const r = c.repoOf(params.repo);
      if (!r.ok) return r;
      const repo = r.value.repo;
      const env: { port: HypervisorPort; clock: Clock } = { port: c.portOf(e.port), clock: e.clock };
      return eut.group.recoverScope({
        clock: e.clock,
        async listPoints() {
          const listed = await repo.listPoints();
          return listed.ok ? ok(listed.value) : err(describeRepoError(listed.error));
        },
        async restore(pointId, spec) {
          const s = await c.sourceOf(params.repo, pointId);
          if (!s.ok) return s;
          const done = await eut.restoreVm(env, s.value, spec);
          if (done.ok) return done;
          return err(done.error.kind === 'port' ? `${done.error.during}: ${done.error.error.kind}` : done.error.reason);
        },
      }, { scope: params.scope, vms: params.vms });
    },
  };
}
