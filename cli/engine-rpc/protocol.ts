/**
 * The engine protocol's method names and parameter names (README.md in this folder has the
 * whole protocol): one request per `Engine` method from the harness to the engine, and the
 * callbacks the engine makes into the host objects it was lent. Both sides read these
 * tables, so a method's name and its params' names are written once.
 */

import type { HypervisorPort } from '../../core/hypervisor-port.js';
import type { Capability, Engine } from '../../scenarios/engine-api.js';
import type { LogsApi } from '../../scenarios/engine-api-logs.js';
import { oneLine } from '../errors.js';

/** The methods of `Engine` other than initialize, shutdown and the logs object. */
export type CoreMethod = Exclude<keyof Engine, 'initialize' | 'shutdown' | 'logs'>;
export type LogMethod = keyof LogsApi;

/** One parameter name per argument of F, in order (the tuple's length is checked). */
type ParamNames<F> = F extends (...args: infer A) => unknown ? { readonly [I in keyof A]: string } : never;

/** What a method's result is: a `Result` ({ok, value|error}), nothing, or other data. */
export type Returns = 'result' | 'void' | 'data';

interface MethodSpec<F> {
  readonly rpc: string;
  readonly params: ParamNames<F>;
  readonly returns: Returns;
}

/**
 * Parameter names double as roles: `store` is a ByteStore, `clock` a Clock, `env` a CallEnv
 * ({port, clock}), `dr` a CallEnv of the DR site, `timer` a Timer, `logs` a LogDest, `writer` a FileWriter; the harness
 * lends those as references. Every other parameter is data.
 */
export const ENGINE_METHODS: { readonly [K in CoreMethod]: MethodSpec<Engine[K]> } = {
  initRepository: { rpc: 'repository/init', params: ['store', 'clock', 'init'], returns: 'result' },
  openRepository: { rpc: 'repository/open', params: ['store', 'clock', 'params'], returns: 'result' },
  backup: { rpc: 'backup', params: ['env', 'params'], returns: 'result' },
  listPoints: { rpc: 'points/list', params: ['repo'], returns: 'result' },
  closeRepository: { rpc: 'repository/close', params: ['repo'], returns: 'result' },
  openPoint: { rpc: 'point/open', params: ['repo', 'pointId'], returns: 'result' },
  pointExtents: { rpc: 'point/extents', params: ['point', 'diskId'], returns: 'result' },
  readPoint: { rpc: 'point/read', params: ['point', 'diskId', 'offsetBytes', 'lengthBytes'], returns: 'result' },
  closePoint: { rpc: 'point/close', params: ['point'], returns: 'void' },
  restoreVm: { rpc: 'restore/vm', params: ['env', 'params'], returns: 'result' },
  restoreDisk: { rpc: 'restore/disk', params: ['env', 'params'], returns: 'result' },
  restoreFiles: { rpc: 'restore/files', params: ['writer', 'params'], returns: 'result' },
  findSqlRow: { rpc: 'items/sqlRow', params: ['repo', 'pointId', 'query'], returns: 'result' },
  findMailItem: { rpc: 'items/mailItem', params: ['repo', 'pointId', 'query'], returns: 'result' },
  findAdUser: { rpc: 'items/adUser', params: ['repo', 'pointId', 'name'], returns: 'result' },
  verify: { rpc: 'verify', params: ['store'], returns: 'result' },
  forget: { rpc: 'forget', params: ['repo', 'policy'], returns: 'result' },
  prune: { rpc: 'prune', params: ['repo', 'policy'], returns: 'result' },
  repair: { rpc: 'repair', params: ['store', 'clock', 'params'], returns: 'result' },
  replicate: { rpc: 'replication/replicate', params: ['env', 'dr', 'timer', 'params'], returns: 'result' },
  failover: { rpc: 'replication/failover', params: ['dr', 'params'], returns: 'result' },
  testFailover: { rpc: 'replication/testFailover', params: ['dr', 'params'], returns: 'result' },
  failback: { rpc: 'replication/failback', params: ['env', 'dr', 'params'], returns: 'result' },
  backupGroup: { rpc: 'group/backup', params: ['env', 'params'], returns: 'result' },
  recoverScope: { rpc: 'group/recoverScope', params: ['env', 'params'], returns: 'result' },
};

export const LOG_METHODS: { readonly [K in LogMethod]: MethodSpec<LogsApi[K]> } = {
  sqlLogBackup: { rpc: 'logs/sqlLogBackup', params: ['env', 'logs', 'request'], returns: 'result' },
  runSqlSchedule: { rpc: 'logs/runSqlSchedule', params: ['env', 'timer', 'logs', 'params'], returns: 'result' },
  nextLogBackupStart: { rpc: 'logs/nextLogBackupStart', params: ['schedule', 'startedUs', 'endedUs'], returns: 'data' },
  observeSqliteWal: { rpc: 'logs/observeSqliteWal', params: ['env', 'logs', 'request'], returns: 'result' },
  startSqliteChain: { rpc: 'logs/startSqliteChain', params: ['env', 'logs', 'request'], returns: 'result' },
  shipSqliteWal: { rpc: 'logs/shipSqliteWal', params: ['env', 'logs', 'request'], returns: 'result' },
  checkpointSqliteWal: { rpc: 'logs/checkpointSqliteWal', params: ['env', 'logs', 'request'], returns: 'result' },
  startSqliteShipping: { rpc: 'logs/startSqliteShipping', params: ['env', 'logs', 'params'], returns: 'result' },
  runSqliteShipping: { rpc: 'logs/runSqliteShipping', params: ['job'], returns: 'result' },
  listSqlLogBackups: { rpc: 'logs/listSqlLogBackups', params: ['logs', 'vmId'], returns: 'result' },
  listSqliteRecords: { rpc: 'logs/listSqliteRecords', params: ['logs', 'vmId'], returns: 'result' },
  rollForwardSql: { rpc: 'logs/rollForwardSql', params: ['env', 'logs', 'restored', 'target'], returns: 'result' },
  rollForwardSqlite: { rpc: 'logs/rollForwardSqlite', params: ['logs', 'point', 'request'], returns: 'result' },
};

export const INITIALIZE = 'initialize';
/** The capability of an engine process that reads and writes binary frames (framing.ts). */
export const BINARY_FRAMES = 'binary-frames' satisfies Capability;
export const SHUTDOWN = 'shutdown';

/** Every HypervisorPort method, callable back as `hypervisor/<method>` {port, args}. */
export const HYPERVISOR_METHODS = [
  'listVms', 'getVm', 'createSnapshot', 'completeBackup', 'removeSnapshot', 'revertToSnapshot',
  'enableChangeTracking', 'queryChangedDiskAreas', 'readSnapshotDisk', 'runInGuest',
  'powerOn', 'powerOff', 'shutdownGuest', 'createVm', 'writeDisk', 'destroyVm',
] as const satisfies readonly (keyof HypervisorPort)[];
type MissingPortMethods = Exclude<keyof HypervisorPort, (typeof HYPERVISOR_METHODS)[number]>;
/** A HypervisorPort method missing from HYPERVISOR_METHODS is a compile error here. */
export const EVERY_PORT_METHOD: [MissingPortMethods] extends [never] ? true : never = true;

/** The `$clocks` field: each lent clock's virtual time when the harness sent the message. */
export const CLOCKS_FIELD = '$clocks';

/** JSON-RPC error codes (the standard ones, and the protocol's own in -32000..-32099). */
export const ErrorCode = {
  InvalidParams: -32602,
  MethodNotFound: -32601,
  InternalError: -32603,
  /** The engine's method threw. data: {definite, hostException?}. */
  EngineException: -32000,
  /** A host object's method threw in the harness. data: {hostException, name, $clocks}. */
  HostException: -32001,
  /** A callback named an unknown or wrong reference, or bad arguments. */
  BadCallback: -32002,
} as const;

/** The reasons a call can fail without an answer from the engine. */
export type FailureKind = 'crashed' | 'exited' | 'garbage' | 'unknown-id' | 'hung' | 'epipe' | 'closed' | 'spawn' | 'down' | 'refused' | 'malformed' | 'bad-params';

/**
 * A call to the engine that failed: the engine crashed, hung, broke the protocol, or
 * answered with an error. The message is one line naming the call
 * (`engine crashed during backup (exit 3): <last stderr line>`).
 */
export class EngineProtocolError extends Error {
  override readonly name = 'EngineProtocolError';
  constructor(
    /** The protocol method of the call (`backup`, `points/list`). */
    readonly method: string,
    readonly kind: FailureKind,
    message: string,
    /** For `refused`: did the engine say it did nothing (true) or may it have acted (false)? */
    readonly definite?: boolean,
  ) {
    super(oneLine(message));
  }
}

/** A value as JSON in a message: one line, at most `max` characters ('nothing' for undefined). */
export function shownJson(value: unknown, max = 120): string {
  return value === undefined ? 'nothing' : clip(JSON.stringify(value), max);
}

/** Text for a message: one line, at most `max` characters. */
export function clip(text: string, max = 200): string {
  const line = oneLine(text);
  return line.length > max ? `${line.slice(0, max)}...` : line;
}
