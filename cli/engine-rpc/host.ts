/**
 * The harness's side of the host objects (README.md, "References" and "Callbacks"): it
 * lends each host object to the engine as a reference — one id per object for the
 * session (a WeakMap per kind), ids never reused while the client lives — and answers
 * the engine's callbacks by calling the object's method. Every answer carries the
 * virtual time of every clock lent in the session (`$clocks`), so the engine's clock
 * reads what an in-process engine would read: the simulation moves time only inside
 * harness calls, and each of those answers after its time moved.
 *
 * A host method that throws (the crash-injecting store's CrashError: the engine process
 * "dies" mid-write) is answered with a HostException error naming an id; the exception
 * object is kept under it, so the client can rethrow the very object when the engine's
 * call then fails.
 */

import type { Clock } from '../../core/clock.js';
import type { HypervisorPort } from '../../core/hypervisor-port.js';
import type { ByteStore } from '../../engine/store/byte-store.js';
import type { LogRecordBase, LogRecordStore } from '../../engine/logbackup/log-store.js';
import type { FileSink, FileWriter } from '../../engine/restore/file-writer.js';
import type { CallEnv, Timer } from '../../scenarios/engine-api.js';
import type { LogDest } from '../../scenarios/engine-api-logs.js';
import { ResponseError } from 'vscode-jsonrpc/node.js';
import { CLOCKS_FIELD, clip, ErrorCode, HYPERVISOR_METHODS, shownJson } from './protocol.js';
import { decodeWire, encodeValue, refKind, WireError, type JsonObject, type RefKind, type WireObject, type WireValue } from './wire.js';

type AnyFn = (...args: unknown[]) => Promise<unknown>;

/** What a reference of each kind stands for on the harness's side. */
interface Lent {
  port: HypervisorPort;
  store: ByteStore;
  logstore: LogRecordStore<LogRecordBase>;
  files: FileWriter;
  filesink: FileSink;
  clock: Clock;
  timer: Timer;
}

/** Shared by every session of one client: reference ids are never reused. */
export interface IdCounter {
  next: number;
}

function badCallback(method: string, reason: string): ResponseError<undefined> {
  return new ResponseError(ErrorCode.BadCallback, `${method}: ${reason}`);
}

/** A field of a callback's params, checked. */
class Params {
  constructor(readonly method: string, private readonly p: Record<string, unknown>) {}

  raw(name: string): unknown {
    return this.p[name];
  }

  string(name: string): string {
    const v = this.p[name];
    if (typeof v !== 'string') throw badCallback(this.method, `'${name}' must be a string`);
    return v;
  }

  int(name: string): number {
    const v = this.p[name];
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw badCallback(this.method, `'${name}' must be a whole number`);
    return v;
  }

  bytes(name: string): Uint8Array {
    const v = this.p[name];
    if (!(v instanceof Uint8Array)) throw badCallback(this.method, `'${name}' must be bytes`);
    return v;
  }

  strings(name: string): string[] {
    const v = this.p[name];
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw badCallback(this.method, `'${name}' must be a list of strings`);
    return v;
  }

  object(name: string): Record<string, unknown> {
    const v = this.p[name];
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw badCallback(this.method, `'${name}' must be an object`);
    return v as Record<string, unknown>;
  }
}

export class HostObjects {
  private readonly ids = new Map<RefKind, WeakMap<object, string>>();
  private readonly objects = new Map<string, object>();
  private readonly clocks = new Map<string, Clock>();
  private readonly exceptions = new Map<number, unknown>();
  private exceptionCount = 0;

  constructor(private readonly counter: IdCounter) {}

  /** Host exceptions thrown so far in this session (a call compares it before and after). */
  get exceptionsThrown(): number {
    return this.exceptionCount;
  }

  /** The exception object a HostException error named (undefined: not this session's). */
  exception(id: number): unknown {
    return this.exceptions.get(id);
  }

  private lend(kind: RefKind, object: object): string {
    let byKind = this.ids.get(kind);
    if (byKind === undefined) {
      byKind = new WeakMap();
      this.ids.set(kind, byKind);
    }
    let id = byKind.get(object);
    if (id === undefined) {
      id = `${kind}-${this.counter.next++}`;
      byKind.set(object, id);
      this.objects.set(id, object);
      if (kind === 'clock') this.clocks.set(id, object as Clock);
    }
    return id;
  }

  /** The wire form of one argument of an Engine method, by its parameter name (protocol.ts). */
  lendArg(role: string, value: unknown): WireValue {
    if (typeof value !== 'object' || value === null) return encodeValue(value);
    switch (role) {
      case 'store': return { $ref: this.lend('store', value), description: (value as ByteStore).description };
      case 'clock': return { $ref: this.lend('clock', value) };
      case 'writer': return { $ref: this.lend('files', value) };
      case 'env':
      case 'dr': return this.lendEnv(value as CallEnv);
      case 'timer': return { $ref: this.lend('timer', value), clock: { $ref: this.lend('clock', (value as Timer).clock) } };
      case 'logs': return this.lendLogs(value as LogDest);
      default: return encodeValue(value);
    }
  }

  private lendEnv(env: CallEnv): JsonObject {
    return { port: { $ref: this.lend('port', env.port) }, clock: { $ref: this.lend('clock', env.clock) } };
  }

  private lendLogs(dest: LogDest): WireValue {
    if (dest.kind !== 'host') return encodeValue(dest);
    return { kind: 'host', sql: { $ref: this.lend('logstore', dest.sql) }, wal: { $ref: this.lend('logstore', dest.wal) } };
  }

  /**
   * A new session (initialize): the references lent so far are forgotten (the engine
   * forgets its proxies too); new ones get new ids.
   */
  newSession(): void {
    this.ids.clear();
    this.objects.clear();
    this.clocks.clear();
    this.exceptions.clear();
  }

  /** The `$clocks` field of a message. */
  clocksField(): { [CLOCKS_FIELD]: Record<string, number> } {
    return { [CLOCKS_FIELD]: this.clocksNow() };
  }

  /** Virtual time now on every clock lent in this session. */
  clocksNow(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [id, clock] of this.clocks) out[id] = clock.nowUs();
    return out;
  }

  private lookup<K extends RefKind>(kind: K, method: string, ref: unknown): Lent[K] {
    const id = typeof ref === 'object' && ref !== null ? (ref as Record<string, unknown>)['$ref'] : undefined;
    if (typeof id !== 'string' || refKind(id) !== kind) throw badCallback(method, `expected a ${kind} reference, got ${shownJson(ref, 60)}`);
    const object = this.objects.get(id);
    if (object === undefined) throw badCallback(method, `unknown reference '${clip(id, 40)}' (not lent in this session)`);
    return object as Lent[K];
  }

  /** Answers one callback from the engine: `{value, $clocks}`, or a JSON-RPC error. */
  async handle(method: string, params: unknown): Promise<WireObject> {
    if (typeof params !== 'object' || params === null || Array.isArray(params)) throw badCallback(method, 'params must be an object');
    let decoded: Record<string, unknown>;
    try {
      decoded = decodeWire(params, (ref) => ref) as Record<string, unknown>;
    } catch (e) {
      throw badCallback(method, e instanceof WireError ? e.message : String(e));
    }
    const p = new Params(method, decoded);
    const run = this.dispatch(method, p);
    let value: unknown;
    try {
      value = await run();
    } catch (e) {
      throw this.hostException(e);
    }
    const encoded = method === 'files/createFile' ? this.lendSink(value) : encodeValue(value);
    return { value: encoded, ...this.clocksField() };
  }

  private hostException(e: unknown): ResponseError<JsonObject> {
    const id = ++this.exceptionCount;
    this.exceptions.set(id, e);
    const name = e instanceof Error ? e.name : 'Error';
    const message = e instanceof Error ? e.message : String(e);
    return new ResponseError(ErrorCode.HostException, message, { hostException: id, name, [CLOCKS_FIELD]: this.clocksNow() });
  }

  /** createFile's Result with the sink lent as a reference. */
  private lendSink(value: unknown): WireValue {
    const r = value as { ok: boolean; value?: FileSink };
    return r.ok && r.value !== undefined ? { ok: true, value: { $ref: this.lend('filesink', r.value) } } : encodeValue(r);
  }

  /** The host call a callback names (checked before it runs; it runs when called). */
  private dispatch(method: string, p: Params): () => Promise<unknown> {
    const slash = method.indexOf('/');
    const family = method.slice(0, slash);
    const op = method.slice(slash + 1);
    switch (family) {
      case 'hypervisor': return this.hypervisorCall(method, op, p);
      case 'store': return this.storeCall(method, op, p);
      case 'logstore': return this.logStoreCall(method, op, p);
      case 'files': return this.filesCall(method, op, p);
      case 'filesink': return this.sinkCall(method, op, p);
      case 'timer': {
        const timer = this.lookup('timer', method, p.raw('timer'));
        if (op !== 'waitUntil') break;
        const timeUs = p.int('timeUs');
        return () => timer.waitUntil(timeUs);
      }
      default: break;
    }
    throw new ResponseError(ErrorCode.MethodNotFound, `unknown callback '${clip(method, 60)}'`);
  }

  private hypervisorCall(method: string, op: string, p: Params): () => Promise<unknown> {
    const port = this.lookup('port', method, p.raw('port'));
    if (!(HYPERVISOR_METHODS as readonly string[]).includes(op)) throw new ResponseError(ErrorCode.MethodNotFound, `unknown callback '${clip(method, 60)}'`);
    const args = p.raw('args');
    if (!Array.isArray(args) || args.length > 8) throw badCallback(method, "'args' must be a list of at most 8 arguments");
    const fn = (port as unknown as Record<string, AnyFn | undefined>)[op];
    if (fn === undefined) throw badCallback(method, 'the port has no such method');
    return () => fn.apply(port, args);
  }

  private storeCall(method: string, op: string, p: Params): () => Promise<unknown> {
    const s = this.lookup('store', method, p.raw('store'));
    switch (op) {
      case 'put': { const name = p.string('name'); const bytes = p.bytes('bytes'); return () => s.put(name, bytes); }
      case 'putExclusive': { const name = p.string('name'); const bytes = p.bytes('bytes'); return () => s.putExclusive(name, bytes); }
      case 'get': { const name = p.string('name'); return () => s.get(name); }
      case 'getRange': { const name = p.string('name'); const offset = p.int('offsetBytes'); const length = p.int('lengthBytes'); return () => s.getRange(name, offset, length); }
      case 'list': { const prefix = p.string('prefix'); return () => s.list(prefix); }
      case 'delete': { const name = p.string('name'); return () => s.delete(name); }
      case 'exists': { const name = p.string('name'); return () => s.exists(name); }
      default: throw new ResponseError(ErrorCode.MethodNotFound, `unknown callback '${clip(method, 60)}'`);
    }
  }

  private logStoreCall(method: string, op: string, p: Params): () => Promise<unknown> {
    const s = this.lookup('logstore', method, p.raw('store'));
    switch (op) {
      case 'put': {
        const record = p.object('record') as unknown as LogRecordBase;
        const blob = p.raw('blob') === null ? null : p.bytes('blob');
        return () => s.put(record, blob);
      }
      case 'list': { const vmId = p.string('vmId'); return () => s.list(vmId); }
      case 'get': { const id = p.string('id'); return () => s.get(id); }
      default: throw new ResponseError(ErrorCode.MethodNotFound, `unknown callback '${clip(method, 60)}'`);
    }
  }

  private filesCall(method: string, op: string, p: Params): () => Promise<unknown> {
    const w = this.lookup('files', method, p.raw('writer'));
    const parts = p.strings('parts');
    if (op === 'mkdir') return () => w.mkdir(parts);
    if (op === 'createFile') { const size = p.int('sizeBytes'); return () => w.createFile(parts, size); }
    throw new ResponseError(ErrorCode.MethodNotFound, `unknown callback '${clip(method, 60)}'`);
  }

  private sinkCall(method: string, op: string, p: Params): () => Promise<unknown> {
    const sink = this.lookup('filesink', method, p.raw('sink'));
    switch (op) {
      case 'write': { const offset = p.int('offsetBytes'); const data = p.bytes('data'); return () => sink.write(offset, data); }
      case 'close': return () => sink.close();
      case 'abort': return () => sink.abort();
      default: throw new ResponseError(ErrorCode.MethodNotFound, `unknown callback '${clip(method, 60)}'`);
    }
  }
}
