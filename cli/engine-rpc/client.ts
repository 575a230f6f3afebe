/**
 * The harness's end of the protocol: an `Engine` whose every call is a JSON-RPC request to
 * an engine process (README.md in this folder). `RpcEngine` works on any transport (tests
 * use in-memory stream pairs); `StdioEngine` is it on a child process started from a
 * command line (`--engine-cmd`).
 *
 * One process per client (per harness worker), started at the first call, restarted by the
 * next `initialize` after the session went down (a crash, a hang past the time limit,
 * garbage on stdout, a response to an unknown id; session.ts). Results are decoded and
 * their shape checked (a `Result` has a boolean `ok`); anything else an engine does wrong
 * is an EngineProtocolError naming the call. Real time is used here only, for the time
 * limit (cli/ is the real-process layer).
 */

import { assert } from '../../core/assert.js';
import { PROTOCOL_VERSION, type Engine, type EngineInfo, type InitializeParams } from '../../scenarios/engine-api.js';
import type { LogsApi } from '../../scenarios/engine-api-logs.js';
import { splitCommandLine } from './command-line.js';
import type { IdCounter } from './host.js';
import { spawnEngine, type EngineTransport, type SpawnOptions } from './process.js';
import { BINARY_FRAMES, clip, ENGINE_METHODS, shownJson, EngineProtocolError, INITIALIZE, LOG_METHODS, SHUTDOWN, type CoreMethod, type LogMethod, type Returns } from './protocol.js';
import { Session } from './session.js';
import { encodeValue, type WireObject } from './wire.js';

export const DEFAULT_TIMEOUT_MS = 60_000;

export interface RpcEngineOptions {
  /** Inactivity limit of a call: no message from the engine for this long (default 60 s). */
  readonly timeoutMs?: number;
  /** A named mutant, sent with every initialize. */
  readonly mutant?: string;
}

function checkResult(method: string, returns: Returns, value: unknown): unknown {
  if (returns !== 'result') return value;
  const r = value as { ok?: unknown } | null;
  if (typeof r === 'object' && r !== null && typeof r.ok === 'boolean' && (r.ok || 'error' in r)) return r;
  throw new EngineProtocolError(method, 'malformed', `engine answered ${method} with ${shownJson(value)}, not a Result {ok, value | error}`);
}

function checkInfo(value: unknown): EngineInfo {
  const i = value as Partial<EngineInfo> | null;
  const ok = typeof i === 'object' && i !== null && typeof i.name === 'string' && i.name !== '' && typeof i.version === 'string'
    && typeof i.protocolVersion === 'number' && Array.isArray(i.capabilities) && i.capabilities.every((c) => typeof c === 'string');
  if (!ok) throw new EngineProtocolError(INITIALIZE, 'malformed', `engine answered initialize with ${shownJson(value)}, not {name, version, protocolVersion, capabilities}`);
  // Versioning (docs/engine-protocol.md): the harness speaks one version and refuses an engine answering another.
  if (i.protocolVersion !== PROTOCOL_VERSION) throw new EngineProtocolError(INITIALIZE, 'malformed', `engine '${i.name}' speaks protocol version ${i.protocolVersion}; this harness speaks version ${PROTOCOL_VERSION}`);
  return i as EngineInfo;
}

export class RpcEngine implements Engine {
  readonly logs: LogsApi;
  private session: Session | null = null;
  private readonly counter: IdCounter = { next: 1 };
  private readonly timeoutMs: number;
  private transport: EngineTransport | null = null;

  constructor(private readonly start: () => EngineTransport, private readonly options: RpcEngineOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    assert(Number.isSafeInteger(this.timeoutMs) && this.timeoutMs >= 1, `timeoutMs must be a positive whole number, got ${this.timeoutMs}`);
    assert(options.mutant === undefined || options.mutant !== '', 'mutant must not be empty');
    this.logs = this.logsClient();
  }

  /** The engine's log (the last 64 KiB of its stderr), '' before it started. */
  log(): string {
    return this.transport?.log() ?? '';
  }

  private open(restart: boolean): Session {
    if (this.session !== null && !(restart && this.session.down)) return this.session;
    this.session?.close().catch(() => undefined);
    const transport = this.start();
    this.transport = transport;
    this.session = new Session(transport, this.counter, { timeoutMs: this.timeoutMs, lastLogLine: () => this.lastLogLine(transport) });
    return this.session;
  }

  private lastLogLine(transport: EngineTransport): string {
    const lines = transport.log().split('\n').map((l) => l.trim()).filter((l) => l !== '');
    return clip(lines[lines.length - 1] ?? '');
  }

  async initialize(params: InitializeParams): Promise<EngineInfo> {
    assert(Number.isSafeInteger(params.protocolVersion) && Number.isSafeInteger(params.seed), 'initialize: protocolVersion and seed are whole numbers');
    const session = this.open(true);
    session.host.newSession();
    const sent = this.options.mutant === undefined ? params : { ...params, mutant: this.options.mutant };
    const body = encodeValue(sent) as WireObject;
    const info = checkInfo(await session.request(INITIALIZE, { ...body, ...session.host.clocksField() }));
    session.binaryFrames = info.capabilities.includes(BINARY_FRAMES);
    return info;
  }

  async shutdown(): Promise<void> {
    await this.open(false).request(SHUTDOWN, {});
  }

  /** Ends the engine process (its stdin closed, then killed after 2 s); a later call starts another. */
  async close(): Promise<void> {
    const s = this.session;
    this.session = null;
    if (s !== null) await s.close();
  }

  private async invoke(rpc: string, names: readonly string[], returns: Returns, args: readonly unknown[]): Promise<unknown> {
    assert(args.length === names.length, `${rpc}: ${names.length} arguments expected, got ${args.length}`);
    const session = this.open(false);
    const params: WireObject = {};
    names.forEach((name, i) => {
      if (args[i] !== undefined) params[name] = session.host.lendArg(name, args[i]);
    });
    Object.assign(params, session.host.clocksField());
    return checkResult(rpc, returns, await session.request(rpc, params));
  }

  private call<K extends CoreMethod>(method: K, args: Parameters<Engine[K]>): ReturnType<Engine[K]> {
    const spec = ENGINE_METHODS[method];
    return this.invoke(spec.rpc, spec.params, spec.returns, args) as ReturnType<Engine[K]>;
  }

  private logsClient(): LogsApi {
    const call = <K extends LogMethod>(method: K, args: Parameters<LogsApi[K]>): ReturnType<LogsApi[K]> => {
      const spec = LOG_METHODS[method];
      return this.invoke(spec.rpc, spec.params, spec.returns, args) as ReturnType<LogsApi[K]>;
    };
    return {
      sqlLogBackup: (...a) => call('sqlLogBackup', a),
      runSqlSchedule: (...a) => call('runSqlSchedule', a),
      nextLogBackupStart: (...a) => call('nextLogBackupStart', a),
      observeSqliteWal: (...a) => call('observeSqliteWal', a),
      startSqliteChain: (...a) => call('startSqliteChain', a),
      shipSqliteWal: (...a) => call('shipSqliteWal', a),
      checkpointSqliteWal: (...a) => call('checkpointSqliteWal', a),
      startSqliteShipping: (...a) => call('startSqliteShipping', a),
      runSqliteShipping: (...a) => call('runSqliteShipping', a),
      listSqlLogBackups: (...a) => call('listSqlLogBackups', a),
      listSqliteRecords: (...a) => call('listSqliteRecords', a),
      rollForwardSql: (...a) => call('rollForwardSql', a),
      rollForwardSqlite: (...a) => call('rollForwardSqlite', a),
    };
  }

  initRepository(...a: Parameters<Engine['initRepository']>): ReturnType<Engine['initRepository']> { return this.call('initRepository', a); }
  openRepository(...a: Parameters<Engine['openRepository']>): ReturnType<Engine['openRepository']> { return this.call('openRepository', a); }
  backup(...a: Parameters<Engine['backup']>): ReturnType<Engine['backup']> { return this.call('backup', a); }
  listPoints(...a: Parameters<Engine['listPoints']>): ReturnType<Engine['listPoints']> { return this.call('listPoints', a); }
  closeRepository(...a: Parameters<Engine['closeRepository']>): ReturnType<Engine['closeRepository']> { return this.call('closeRepository', a); }
  openPoint(...a: Parameters<Engine['openPoint']>): ReturnType<Engine['openPoint']> { return this.call('openPoint', a); }
  pointExtents(...a: Parameters<Engine['pointExtents']>): ReturnType<Engine['pointExtents']> { return this.call('pointExtents', a); }
  readPoint(...a: Parameters<Engine['readPoint']>): ReturnType<Engine['readPoint']> { return this.call('readPoint', a); }
  closePoint(...a: Parameters<Engine['closePoint']>): ReturnType<Engine['closePoint']> { return this.call('closePoint', a); }
  restoreVm(...a: Parameters<Engine['restoreVm']>): ReturnType<Engine['restoreVm']> { return this.call('restoreVm', a); }
  replicate(...a: Parameters<Engine['replicate']>): ReturnType<Engine['replicate']> { return this.call('replicate', a); }
  failover(...a: Parameters<Engine['failover']>): ReturnType<Engine['failover']> { return this.call('failover', a); }
  testFailover(...a: Parameters<Engine['testFailover']>): ReturnType<Engine['testFailover']> { return this.call('testFailover', a); }
  failback(...a: Parameters<Engine['failback']>): ReturnType<Engine['failback']> { return this.call('failback', a); }
  backupGroup(...a: Parameters<Engine['backupGroup']>): ReturnType<Engine['backupGroup']> { return this.call('backupGroup', a); }
  recoverScope(...a: Parameters<Engine['recoverScope']>): ReturnType<Engine['recoverScope']> { return this.call('recoverScope', a); }
  restoreDisk(...a: Parameters<Engine['restoreDisk']>): ReturnType<Engine['restoreDisk']> { return this.call('restoreDisk', a); }
  restoreFiles(...a: Parameters<Engine['restoreFiles']>): ReturnType<Engine['restoreFiles']> { return this.call('restoreFiles', a); }
  findSqlRow(...a: Parameters<Engine['findSqlRow']>): ReturnType<Engine['findSqlRow']> { return this.call('findSqlRow', a); }
  findMailItem(...a: Parameters<Engine['findMailItem']>): ReturnType<Engine['findMailItem']> { return this.call('findMailItem', a); }
  findAdUser(...a: Parameters<Engine['findAdUser']>): ReturnType<Engine['findAdUser']> { return this.call('findAdUser', a); }
  verify(...a: Parameters<Engine['verify']>): ReturnType<Engine['verify']> { return this.call('verify', a); }
  forget(...a: Parameters<Engine['forget']>): ReturnType<Engine['forget']> { return this.call('forget', a); }
  prune(...a: Parameters<Engine['prune']>): ReturnType<Engine['prune']> { return this.call('prune', a); }
  repair(...a: Parameters<Engine['repair']>): ReturnType<Engine['repair']> { return this.call('repair', a); }
}

export interface StdioEngineOptions extends RpcEngineOptions, SpawnOptions {}

/**
 * An engine process started from `command` (`--engine-cmd`), split like a shell's simple
 * command (command-line.ts; no shell runs), or given as argv.
 */
export class StdioEngine extends RpcEngine {
  readonly argv: readonly string[];

  constructor(command: string | readonly string[], options: StdioEngineOptions = {}) {
    const argv = typeof command === 'string' ? splitCommandLine(command) : [...command];
    assert(argv.length >= 1 && argv[0] !== '', 'StdioEngine needs a program');
    super(() => spawnEngine(argv, options), options);
    this.argv = argv;
  }
}
