/**
 * The engine's end of the protocol: serves an `Engine` on a pair of streams (a child
 * process's stdin and stdout). Each request runs the Engine method its table entry names
 * (protocol.ts) with the params decoded — references become proxies (proxies.ts), the
 * `$clocks` the request carries set the clocks first — and answers its result encoded.
 * An exception becomes a JSON-RPC error: caused by a host callback that threw, it names
 * the harness's exception (`data.hostException`); otherwise `data.definite` says whether
 * the engine did nothing (no callback since the request began) or may have acted.
 *
 * Binary frames are the server's, not the engine's: its initialize answer declares
 * `binary-frames` (or not, with `binaryFrames: false`, whatever the engine said), and
 * from then on bytes go as binary frames, all-zero ones as `{"$zeros": n}` (writer.ts).
 */

import type { Readable, Writable } from 'node:stream';
import { createMessageConnection, ResponseError } from 'vscode-jsonrpc/node.js';
import { assert } from '../../core/assert.js';
import type { Engine } from '../../scenarios/engine-api.js';
import { BINARY_FRAMES, CLOCKS_FIELD, clip, ENGINE_METHODS, ErrorCode, INITIALIZE, LOG_METHODS, SHUTDOWN, type Returns } from './protocol.js';
import { EngineSide, HostCallbackError } from './proxies.js';
import { decodeWire, encodeValue, WireError, type JsonObject, type WireValue } from './wire.js';
import { FrameWriter } from './writer.js';
import { StrictMessageReader } from './framing.js';

export interface ServeOptions {
  /** Where the server says what went wrong with the connection itself (default: nowhere). */
  readonly log?: (line: string) => void;
  /**
   * Offer binary frames at initialize (default: yes, unless the environment has
   * QUIESCELAB_ENGINE_RPC_BINARY=0: base64 only, as an engine that never offers them; for
   * measuring, and for reading the traffic).
   */
  readonly binaryFrames?: boolean;
}

type AnyFn = (...args: unknown[]) => Promise<unknown>;

interface Route {
  readonly params: readonly string[];
  readonly returns: Returns;
  readonly run: (args: unknown[]) => Promise<unknown>;
}

function routes(engine: Engine): Map<string, Route> {
  const out = new Map<string, Route>();
  for (const [name, spec] of Object.entries(ENGINE_METHODS)) {
    const fn = (engine as unknown as Record<string, AnyFn>)[name] as AnyFn;
    out.set(spec.rpc, { params: spec.params, returns: spec.returns, run: (args) => fn.apply(engine, args) });
  }
  for (const [name, spec] of Object.entries(LOG_METHODS)) {
    out.set(spec.rpc, { params: spec.params, returns: spec.returns, run: (args) => {
      const logs = engine.logs;
      return ((logs as unknown as Record<string, AnyFn>)[name] as AnyFn).apply(logs, args);
    } });
  }
  return out;
}

function invalid(method: string, reason: string): ResponseError<JsonObject> {
  return new ResponseError(ErrorCode.InvalidParams, `${method}: ${reason}`, { definite: true });
}

/** The engine's exception as the error the harness receives. */
function engineError(method: string, e: unknown, definite: boolean): ResponseError<JsonObject> {
  if (e instanceof ResponseError) return e as ResponseError<JsonObject>;
  if (e instanceof HostCallbackError) return new ResponseError(ErrorCode.EngineException, clip(`${method}: ${e.name}: ${e.message}`, 500), { hostException: e.hostException, definite: false });
  const text = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return new ResponseError(ErrorCode.EngineException, clip(`${method}: ${text}`, 500), { definite });
}

class Dispatcher {
  private readonly table: Map<string, Route>;

  constructor(private readonly engine: Engine, private readonly side: EngineSide, private readonly writer: FrameWriter, private readonly binaryFrames: boolean) {
    this.table = routes(engine);
  }

  /** The engine's initialize answer, declaring `binary-frames` as the server offers them; the writer follows. */
  private offer(info: unknown): unknown {
    this.writer.binary = false;
    const i = info as { capabilities?: unknown } | null;
    if (typeof i !== 'object' || i === null || !Array.isArray(i.capabilities)) return info;
    const others = (i.capabilities as unknown[]).filter((c) => c !== BINARY_FRAMES);
    this.writer.binary = this.binaryFrames;
    return { ...i, capabilities: this.binaryFrames ? [...others, BINARY_FRAMES] : others };
  }

  async handle(method: string, params: unknown): Promise<WireValue> {
    const p = (typeof params === 'object' && params !== null && !Array.isArray(params) ? params : undefined) as Record<string, unknown> | undefined;
    if (p === undefined) throw invalid(method, 'params must be an object');
    if (method === INITIALIZE) this.side.reset();
    const { [CLOCKS_FIELD]: clocks, ...rest } = p;
    let decoded: Record<string, unknown>;
    try {
      this.side.applyClocks(clocks);
      decoded = decodeWire(rest, this.side.resolve) as Record<string, unknown>;
    } catch (e) {
      throw invalid(method, e instanceof WireError ? e.message : String(e));
    }
    const before = this.side.callbacks;
    let result: unknown;
    try {
      result = await this.run(method, decoded);
      if (method === INITIALIZE) result = this.offer(result);
    } catch (e) {
      throw engineError(method, e, this.side.callbacks === before);
    }
    try {
      return encodeValue(result);
    } catch (e) {
      throw engineError(method, e, false);
    }
  }

  private run(method: string, p: Record<string, unknown>): Promise<unknown> {
    if (method === INITIALIZE) return this.engine.initialize(p as unknown as Parameters<Engine['initialize']>[0]);
    if (method === SHUTDOWN) return this.engine.shutdown();
    const route = this.table.get(method);
    if (route === undefined) throw new ResponseError(ErrorCode.MethodNotFound, `unknown method '${clip(method, 60)}'`, { definite: true });
    return route.run(route.params.map((name) => p[name]));
  }
}

/**
 * Serves `engine` on `input` (requests in) and `output` (answers out) until `input` ends,
 * `output` breaks, or `input` carries something that is not a frame (there is no finding
 * the next frame after that). `done` resolves then; `broken` says why, when it was not the
 * end of `input`.
 */
export function serveEngine(engine: Engine, input: Readable, output: Writable, options: ServeOptions = {}): { done: Promise<void>; broken: () => string | null } {
  assert(typeof engine.initialize === 'function' && typeof engine.logs === 'object', 'serveEngine needs an Engine');
  assert(input.readable && output.writable, 'serveEngine needs a readable input and a writable output');
  const log = options.log ?? (() => undefined);
  const writer = new FrameWriter(output);
  const connection = createMessageConnection(new StrictMessageReader(input), writer);
  const binaryFrames = options.binaryFrames ?? process.env['QUIESCELAB_ENGINE_RPC_BINARY'] !== '0';
  const dispatcher = new Dispatcher(engine, new EngineSide(connection), writer, binaryFrames);
  connection.onRequest((method, params) => dispatcher.handle(method, params));
  let broken: string | null = null;
  let end: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    end = () => {
      connection.dispose();
      resolve();
    };
  });
  connection.onError(([error]) => {
    broken ??= clip(error.message);
    log(`engine-rpc: ${broken}`);
    end();
  });
  connection.onClose(() => {
    end();
  });
  connection.listen();
  return { done, broken: () => broken };
}
