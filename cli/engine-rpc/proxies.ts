/**
 * The engine's side of the host objects: one proxy per reference id for the session (so
 * an engine that keys state by object, as the built-in adapter's port wrappers are keyed,
 * sees one object per host object), each method a callback request to the harness, and
 * the clocks as the harness last reported them.
 *
 * A callback the harness answers with a HostException rejects with a HostCallbackError
 * that carries the exception's id, name and message (an engine that catches it and
 * reports `e.message` reports what it would in-process); the server turns an engine
 * failure caused by one back into an error naming the id.
 */

import type { Clock } from '../../core/clock.js';
import type { HypervisorPort } from '../../core/hypervisor-port.js';
import type { ByteStore } from '../../engine/store/byte-store.js';
import type { LogRecordBase, LogRecordStore } from '../../engine/logbackup/log-store.js';
import type { FileSink, FileWriter } from '../../engine/restore/file-writer.js';
import type { Timer } from '../../scenarios/engine-api.js';
import { ResponseError, type MessageConnection } from 'vscode-jsonrpc/node.js';
import { CLOCKS_FIELD, clip, ErrorCode, HYPERVISOR_METHODS, shownJson } from './protocol.js';
import { decodeWire, encodeValue, refKind, WireError, type JsonObject, type RefKind, type WireObject } from './wire.js';

/** A host object's method threw in the harness (the id names the exception there). */
export class HostCallbackError extends Error {
  constructor(readonly hostException: number, name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/** The harness refused a callback (an unknown reference, bad arguments): an engine bug. */
export class CallbackRefusedError extends Error {
  override readonly name = 'CallbackRefusedError';
}

type Ref = JsonObject & { readonly $ref: string };
type Method = (...args: never[]) => Promise<unknown>;

export class EngineSide {
  private readonly proxies = new Map<string, unknown>();
  private readonly clocks = new Map<string, number>();
  /** Callbacks made so far (a call that made none before failing did nothing: definite). */
  callbacks = 0;

  constructor(private readonly connection: MessageConnection) {}

  /** A new session: the references of the last one are forgotten. */
  reset(): void {
    this.proxies.clear();
    this.clocks.clear();
  }

  applyClocks(value: unknown): void {
    if (value === undefined) return;
    if (typeof value !== 'object' || value === null) throw new WireError(`${CLOCKS_FIELD} must be an object`);
    for (const [id, t] of Object.entries(value as Record<string, unknown>)) {
      if (refKind(id) !== 'clock' || typeof t !== 'number' || !Number.isSafeInteger(t) || t < 0) throw new WireError(`${CLOCKS_FIELD}: bad entry ${clip(id, 40)}`);
      this.clocks.set(id, t);
    }
  }

  /** The proxy a reference stands for (created on first sight). */
  readonly resolve = (ref: Ref): unknown => {
    const existing = this.proxies.get(ref.$ref);
    if (existing !== undefined) return existing;
    const kind = refKind(ref.$ref);
    if (kind === undefined) throw new WireError(`'${clip(ref.$ref, 40)}' is not a reference id`);
    const proxy = this.create(kind, ref);
    this.proxies.set(ref.$ref, proxy);
    return proxy;
  };

  private create(kind: RefKind, ref: Ref): unknown {
    const target = { $ref: ref.$ref };
    switch (kind) {
      case 'port': return this.port(target);
      case 'store': return this.store(target, typeof ref['description'] === 'string' ? ref['description'] : ref.$ref);
      case 'logstore': return this.logStore(target);
      case 'files': return this.files(target);
      case 'filesink': return this.sink(target);
      case 'clock': return this.clock(ref.$ref);
      case 'timer': return this.timer(target, ref['clock']);
    }
  }

  /** One callback: its value, with the clocks the answer carried applied first. */
  async call(method: string, key: string, target: { $ref: string }, data: Record<string, unknown> = {}): Promise<unknown> {
    const params = encodeValue(data) as WireObject;
    params[key] = target;
    this.callbacks++;
    let reply: unknown;
    try {
      reply = await this.connection.sendRequest(method, params);
    } catch (e) {
      throw this.failure(method, e);
    }
    const r = reply as Record<string, unknown> | null;
    if (typeof r !== 'object' || r === null) throw new WireError(`${method}: the harness answered ${shownJson(reply, 60)}`);
    this.applyClocks(r[CLOCKS_FIELD]);
    return decodeWire(r['value'], this.resolve);
  }

  private failure(method: string, e: unknown): Error {
    if (!(e instanceof ResponseError)) return e instanceof Error ? e : new Error(String(e));
    const data = e.data as Record<string, unknown> | undefined;
    if (e.code === ErrorCode.HostException && typeof data?.['hostException'] === 'number') {
      this.applyClocks(data[CLOCKS_FIELD]);
      return new HostCallbackError(data['hostException'], typeof data['name'] === 'string' ? data['name'] : 'Error', e.message);
    }
    return new CallbackRefusedError(`${method}: ${e.message}`);
  }

  private port(target: { $ref: string }): HypervisorPort {
    const port: Record<string, Method> = {};
    for (const m of HYPERVISOR_METHODS) {
      port[m] = (...args: unknown[]) => {
        let n = args.length;
        while (n > 0 && args[n - 1] === undefined) n--;
        return this.call(`hypervisor/${m}`, 'port', target, { args: args.slice(0, n) });
      };
    }
    return port as unknown as HypervisorPort;
  }

  private store(target: { $ref: string }, description: string): ByteStore {
    const c = (op: string, data: Record<string, unknown>): Promise<never> => this.call(`store/${op}`, 'store', target, data) as Promise<never>;
    return {
      description,
      put: (name, bytes) => c('put', { name, bytes }),
      putExclusive: (name, bytes) => c('putExclusive', { name, bytes }),
      get: (name) => c('get', { name }),
      getRange: (name, offsetBytes, lengthBytes) => c('getRange', { name, offsetBytes, lengthBytes }),
      list: (prefix) => c('list', { prefix }),
      delete: (name) => c('delete', { name }),
      exists: (name) => c('exists', { name }),
    };
  }

  private logStore(target: { $ref: string }): LogRecordStore<LogRecordBase> {
    const c = (op: string, data: Record<string, unknown>): Promise<never> => this.call(`logstore/${op}`, 'store', target, data) as Promise<never>;
    return {
      put: (record, blob) => c('put', { record, blob }),
      list: (vmId) => c('list', { vmId }),
      get: (id) => c('get', { id }),
    };
  }

  private files(target: { $ref: string }): FileWriter {
    return {
      mkdir: (parts) => this.call('files/mkdir', 'writer', target, { parts }) as Promise<never>,
      createFile: (parts, sizeBytes) => this.call('files/createFile', 'writer', target, { parts, sizeBytes }) as Promise<never>,
    };
  }

  private sink(target: { $ref: string }): FileSink {
    return {
      write: (offsetBytes, data) => this.call('filesink/write', 'sink', target, { offsetBytes, data }) as Promise<never>,
      close: () => this.call('filesink/close', 'sink', target) as Promise<never>,
      abort: async () => {
        await this.call('filesink/abort', 'sink', target);
      },
    };
  }

  private clock(id: string): Clock {
    return {
      nowUs: () => {
        const t = this.clocks.get(id);
        if (t === undefined) throw new WireError(`the harness sent no time for ${id}`);
        return t;
      },
    };
  }

  private timer(target: { $ref: string }, clockRef: unknown): Timer {
    const clock = decodeWire(clockRef, this.resolve) as Clock | null;
    if (clock === null || typeof (clock as Partial<Clock>).nowUs !== 'function') throw new WireError(`timer ${target.$ref} has no clock reference`);
    return {
      clock,
      waitUntil: async (timeUs) => {
        await this.call('timer/waitUntil', 'timer', target, { timeUs });
      },
    };
  }
}
