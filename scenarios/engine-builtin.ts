/**
 * The built-in engine behind the black-box interface (engine-api.ts): an `Engine` made of
 * an `EngineUnderTest` record (scenario/engine.ts) — quiescelab's own engine, or a mutant
 * of it. The handles it gives out name objects it keeps in this session: open
 * repositories (`repo-N`), open points (`point-N`) and shipping jobs (`job-N`).
 *
 * Port identity: the record's `port(world)` may wrap the world's port with state (a
 * mutant's does), so one host port gets one wrapper for the session (a WeakMap), whatever
 * the number of calls that lend it. Over the protocol the same host port arrives as the
 * same reference, so the two paths wrap alike.
 */

import type { Clock } from '../core/clock.js';
import type { HypervisorPort } from '../core/hypervisor-port.js';
import { err, ok, type Result } from '../core/result.js';
import { assert } from '../core/assert.js';
import { RecoveryPointId } from '../engine/repository/hash.js';
import { describeRepoError, Repository, type RepoError } from '../engine/repository/repository.js';
import type { LockRecord } from '../engine/store/lock.js';
import type { PointSource } from '../engine/restore/source.js';
import type { BackupTarget } from '../engine/backup/sink.js';
import { repositoryLogStore, repositorySqliteWalStore } from '../engine/repository/log-store.js';
import type { LogStore } from '../engine/logbackup/sql-job.js';
import { describeLogStoreError } from '../engine/logbackup/log-store.js';
import type { SqliteWalStore } from '../engine/logbackup/sqlite-shipper.js';
import { startSqliteLogShipping, type SqliteLogShipping } from '../engine/logbackup/sqlite-job.js';
import { QUIESCELAB_ENGINE, type EngineUnderTest } from './scenario/engine.js';
import { CAPABILITIES, PROTOCOL_VERSION, type CallEnv, type Engine, type EngineFailure } from './engine-api.js';
import type { LogDest, LogsApi } from './engine-api-logs.js';
import { builtinReplication } from './engine-builtin-replication.js';
import { builtinGroup } from './engine-builtin-group.js';

export const BUILTIN_VERSION = '0.1.0';

interface OpenRepo {
  readonly repo: Repository;
  target: BackupTarget | null;
  /** The repository's log stores, made once (each keeps a cache of the records it decoded). */
  logs: { readonly sql: LogStore; readonly wal: SqliteWalStore } | null;
}

export class Handles<T> {
  private readonly items = new Map<string, T>();
  private next = 1;

  /** Forgets every handle (a new session); the numbering starts again. */
  clear(): void {
    this.items.clear();
    this.next = 1;
  }

  constructor(private readonly prefix: string) {}

  add(item: T): string {
    const id = `${this.prefix}-${this.next++}`;
    this.items.set(id, item);
    return id;
  }

  get(id: string): T | undefined {
    return this.items.get(id);
  }

  delete(id: string): void {
    this.items.delete(id);
  }
}

function unknownHandle(kind: string, id: string): EngineFailure {
  return `unknown ${kind} handle '${id}'`;
}

function failed(error: RepoError): EngineFailure {
  return describeRepoError(error);
}

/** The built-in engine (or a mutant's record) as an `Engine`. */
export function builtinEngine(eut: EngineUnderTest = QUIESCELAB_ENGINE, mutant?: string): Engine {
  const repos = new Handles<OpenRepo>('repo');
  const points = new Handles<PointSource>('point');
  const jobs = new Handles<SqliteLogShipping>('job');
  const wrapped = new WeakMap<HypervisorPort, HypervisorPort>();
  const portOf = (world: HypervisorPort): HypervisorPort => {
    let p = wrapped.get(world);
    if (p === undefined) {
      p = eut.port(world);
      wrapped.set(world, p);
    }
    return p;
  };
  const repoOf = (id: string): Result<OpenRepo, EngineFailure> => {
    const r = repos.get(id);
    return r === undefined ? err(unknownHandle('repository', id)) : ok(r);
  };
  const sourceOf = async (repo: string, pointId: string): Promise<Result<PointSource, EngineFailure>> => {
    const r = repoOf(repo);
    return r.ok ? eut.source(r.value.repo, pointId) : r;
  };
  const env = (e: CallEnv): { port: HypervisorPort; clock: Clock } => ({ port: portOf(e.port), clock: e.clock });
  const replication = builtinReplication(eut, portOf);
  const group = builtinGroup(eut, {
    portOf, sourceOf,
    repoOf: (id) => {
      const r = repoOf(id);
      if (!r.ok) return r;
      r.value.target ??= eut.target(r.value.repo);
      return ok({ repo: r.value.repo, target: r.value.target });
    },
  });

  const engine: Omit<Engine, 'logs' | keyof typeof replication.methods | keyof typeof group> = {
    initialize: (params) => {
      assert(params.protocolVersion === PROTOCOL_VERSION, `protocol version ${params.protocolVersion}`);
      repos.clear();
      points.clear();
      jobs.clear();
      replication.clear();
      return Promise.resolve({ name: mutant === undefined ? eut.name : `quiescelab+${mutant}`, version: BUILTIN_VERSION, protocolVersion: PROTOCOL_VERSION, capabilities: [...CAPABILITIES] });
    },
    async initRepository(store, clock, init) {
      const r = await Repository.init(store, { ...init, clock });
      return r.ok ? ok(undefined) : err(failed(r.error));
    },
    async openRepository(store, clock, params) {
      const r = await eut.openRepository(store, {
        clock, ...params.writer === undefined ? {} : { writer: { owner: params.writer } },
        ...params.compressionInFlight === undefined ? {} : { compressionInFlight: params.compressionInFlight },
      });
      return r.ok ? ok(repos.add({ repo: r.value, target: null, logs: null })) : err(failed(r.error));
    },
    async backup(e, params) {
      const r = repoOf(params.repo);
      if (!r.ok) return err({ kind: 'store', reason: r.error });
      r.value.target ??= eut.target(r.value.repo);
      const done = await eut.backup({ port: portOf(e.port), clock: e.clock, target: r.value.target }, {
        vmId: params.vmId, policy: params.policy, parent: params.parent,
        ...params.copyOnly === undefined ? {} : { copyOnly: params.copyOnly },
        ...params.appScripts === undefined ? {} : { appScripts: params.appScripts },
      });
      if (!done.ok) return done;
      const manifest = await r.value.repo.readManifest(RecoveryPointId(done.value.pointId));
      return manifest.ok ? ok({ ...done.value, stored: manifest.value.meta }) : err({ kind: 'store', reason: `reading back point ${done.value.pointId}: ${failed(manifest.error)}` });
    },
    async listPoints(repo) {
      const r = repoOf(repo);
      if (!r.ok) return r;
      const listed = await r.value.repo.listPoints();
      return listed.ok ? listed : err(failed(listed.error));
    },
    async closeRepository(repo) {
      const r = repoOf(repo);
      if (!r.ok) return r;
      repos.delete(repo);
      const closed = await r.value.repo.close();
      return closed.ok ? ok(undefined) : err(failed(closed.error));
    },
    async openPoint(repo, pointId) {
      const s = await sourceOf(repo, pointId);
      return s.ok ? ok({ point: points.add(s.value), disks: s.value.disks() }) : s;
    },
    async pointExtents(point, diskId) {
      const s = points.get(point);
      if (s === undefined) return err(unknownHandle('point', point));
      try {
        return ok(await s.extents(diskId));
      } catch (e) {
        return err(e instanceof Error ? e.message : String(e));
      }
    },
    async readPoint(point, diskId, offsetBytes, lengthBytes) {
      const s = points.get(point);
      if (s === undefined) return err(unknownHandle('point', point));
      try {
        return ok(await s.read(diskId, offsetBytes, lengthBytes));
      } catch (e) {
        return err(e instanceof Error ? e.message : String(e));
      }
    },
    closePoint(point) {
      points.delete(point);
      return Promise.resolve();
    },
    async restoreVm(e, params) {
      const s = await sourceOf(params.repo, params.pointId);
      return s.ok ? eut.restoreVm(env(e), s.value, params.spec) : s;
    },
    async restoreDisk(e, params) {
      const s = await sourceOf(params.repo, params.pointId);
      return s.ok ? eut.restoreDisk(env(e), s.value, params.diskId, params.target) : s;
    },
    async restoreFiles(writer, params) {
      const s = await sourceOf(params.repo, params.pointId);
      return s.ok ? eut.restoreFiles(s.value, params.diskId, params.selection, writer, params.options ?? {}) : s;
    },
    async findSqlRow(repo, pointId, query) {
      const r = repoOf(repo);
      return r.ok ? eut.items.findSqlRow(r.value.repo, pointId, query) : r;
    },
    async findMailItem(repo, pointId, query) {
      const r = repoOf(repo);
      return r.ok ? eut.items.findMailItem(r.value.repo, pointId, query) : r;
    },
    async findAdUser(repo, pointId, name) {
      const r = repoOf(repo);
      return r.ok ? eut.items.findAdUser(r.value.repo, pointId, name) : r;
    },
    verify: (store) => eut.verify(store),
    async forget(repo, policy) {
      const r = repoOf(repo);
      if (!r.ok) return r;
      const f = await eut.forget(r.value.repo, 'keepLast' in policy ? { keepLast: policy.keepLast } : { ids: policy.ids.map((id) => RecoveryPointId(id)) });
      return f.ok ? f : err(failed(f.error));
    },
    async prune(repo, policy) {
      const r = repoOf(repo);
      if (!r.ok) return r;
      const p = await eut.prune(r.value.repo, {
        ...policy.keepAll === undefined ? {} : { keepAll: policy.keepAll },
        ...policy.keepLast === undefined ? {} : { keepLast: policy.keepLast },
        ...policy.keepIds === undefined ? {} : { keepIds: policy.keepIds.map((id) => RecoveryPointId(id)) },
      });
      return p.ok ? p : err(failed(p.error));
    },
    async repair(store, clock, params) {
      const host = params.attributes?.['host'];
      const pid = params.attributes?.['pid'];
      // A holder on this host whose process is gone (no other process of this host is alive).
      const isStale = (lock: LockRecord): boolean => host !== undefined && lock.attributes.host === host && typeof lock.attributes.pid === 'number' && lock.attributes.pid !== pid;
      const r = await eut.repair(store, { clock, owner: params.owner, ...params.attributes === undefined ? {} : { attributes: params.attributes }, isStale });
      return r.ok ? r : err(failed(r.error));
    },
    shutdown: () => Promise.resolve(),
  };
  return { ...engine, ...replication.methods, ...group, logs: builtinLogs(eut, { repoOf, sourceOf, portOf, jobs }) };
}

interface LogsContext {
  readonly repoOf: (id: string) => Result<OpenRepo, EngineFailure>;
  readonly sourceOf: (repo: string, pointId: string) => Promise<Result<PointSource, EngineFailure>>;
  readonly portOf: (world: HypervisorPort) => HypervisorPort;
  readonly jobs: Handles<SqliteLogShipping>;
}

function builtinLogs(eut: EngineUnderTest, c: LogsContext): LogsApi {
  const stores = (dest: LogDest): Result<{ sql: LogStore; wal: SqliteWalStore }, EngineFailure> => {
    if (dest.kind === 'host') return ok({ sql: dest.sql, wal: dest.wal });
    const r = c.repoOf(dest.repo);
    if (!r.ok) return r;
    r.value.logs ??= { sql: repositoryLogStore(r.value.repo), wal: repositorySqliteWalStore(r.value.repo) };
    return ok(r.value.logs);
  };
  const shipEnv = (e: CallEnv, dest: LogDest): Result<{ port: HypervisorPort; clock: Clock; store: SqliteWalStore }, EngineFailure> => {
    const s = stores(dest);
    return s.ok ? ok({ port: c.portOf(e.port), clock: e.clock, store: s.value.wal }) : s;
  };
  const log = eut.log;
  return {
    async sqlLogBackup(e, dest, request) {
      const s = stores(dest);
      return s.ok ? log.sqlLogBackup({ port: c.portOf(e.port), clock: e.clock, store: s.value.sql }, request) : s;
    },
    async runSqlSchedule(e, timer, dest, params) {
      const s = stores(dest);
      if (!s.ok) return s;
      return ok(await log.runSqlSchedule({ port: c.portOf(e.port), clock: e.clock, store: s.value.sql, waitUntil: (t) => timer.waitUntil(t) }, params));
    },
    nextLogBackupStart: (schedule, startedUs, endedUs) => Promise.resolve(log.nextLogBackupStart(schedule, startedUs, endedUs)),
    async observeSqliteWal(e, dest, request) {
      const env = shipEnv(e, dest);
      return env.ok ? log.observeSqliteWal(env.value, request) : env;
    },
    async startSqliteChain(e, dest, request) {
      const env = shipEnv(e, dest);
      return env.ok ? log.startSqliteChain(env.value, request) : env;
    },
    async shipSqliteWal(e, dest, request) {
      const env = shipEnv(e, dest);
      return env.ok ? log.shipSqliteWal(env.value, request) : env;
    },
    async checkpointSqliteWal(e, dest, request) {
      const env = shipEnv(e, dest);
      return env.ok ? log.checkpointSqliteWal(env.value, request) : env;
    },
    async startSqliteShipping(e, dest, params) {
      const env = shipEnv(e, dest);
      if (!env.ok) return env;
      const started = await startSqliteLogShipping(env.value, params);
      return started.ok ? ok({ job: c.jobs.add(started.value), schedule: started.value.schedule, anchor: started.value.anchor }) : started;
    },
    async runSqliteShipping(job) {
      const j = c.jobs.get(job);
      return j === undefined ? err(unknownHandle('job', job)) : j.run();
    },
    async listSqlLogBackups(dest, vmId) {
      const s = stores(dest);
      if (!s.ok) return s;
      const listed = await s.value.sql.list(vmId);
      return listed.ok ? listed : err(`listing the log backups: ${describeLogStoreError(listed.error)}`);
    },
    async listSqliteRecords(dest, vmId) {
      const s = stores(dest);
      if (!s.ok) return s;
      const listed = await s.value.wal.list(vmId);
      return listed.ok ? listed : err(`listing the WAL records: ${describeLogStoreError(listed.error)}`);
    },
    async rollForwardSql(e, dest, restored, target) {
      const s = stores(dest);
      return s.ok ? log.rollForwardSql({ port: c.portOf(e.port), clock: e.clock, logs: s.value.sql, plan: log.planSqlRollForward }, restored, target) : s;
    },
    async rollForwardSqlite(dest, point, request) {
      const s = stores(dest);
      if (!s.ok) return s;
      const source = await c.sourceOf(point.repo, point.pointId);
      return source.ok ? log.rollForwardSqlite({ logs: s.value.wal, plan: log.planSqliteRollForward }, source.value, request) : source;
    },
  };
}
