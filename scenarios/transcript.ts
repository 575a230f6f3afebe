/**
 * A run's transcript: every request the harness makes of the engine and every call the
 * engine makes back into the hypervisor it was lent, in order, each with a digest of its
 * answer — the messages a protocol run carries, recorded at the interface so that the
 * in-process engine and an engine over the protocol give the same lines. Property 11
 * compares two runs' transcripts and names the first message that differs.
 *
 * A line: `> backup {"params":…} = ok {…}` (a request of the engine) or
 * `  < hypervisor/createSnapshot ["vm-1",…] = ok {…}` (a call back). Bytes are written as
 * their length and CRC-32; host objects as their kind; long values are cut with their
 * length and CRC-32, so a line stays short and the transcript stays small.
 *
 * Areas not recorded: the engine's calls into the stores, file writers and timers it was
 * lent (their effects show in the outcome), and anything the engine does inside itself.
 */

import { crc32 } from '../core/crc32.js';
import type { HypervisorPort } from '../core/hypervisor-port.js';
import type { Engine } from './engine-api.js';
import type { LogsApi } from './engine-api-logs.js';

const MAX_LINES = 20_000;
const MAX_VALUE_CHARS = 160;

function isPort(value: object): value is HypervisorPort {
  return typeof (value as { createSnapshot?: unknown }).createSnapshot === 'function' && typeof (value as { readSnapshotDisk?: unknown }).readSnapshotDisk === 'function';
}

/** A value as a transcript writes it: data as JSON, bytes and host objects summarised. */
function summary(value: unknown): string {
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof Uint8Array) return `bytes[${v.length}:${crc32(v).toString(16)}]`;
    if (typeof v === 'object' && v !== null && Object.getPrototypeOf(v) !== Object.prototype && !Array.isArray(v)) return `<${v.constructor.name}>`;
    if (typeof v === 'function') return '<fn>';
    return v;
  }) as string | undefined ?? 'undefined';
  if (text.length <= MAX_VALUE_CHARS) return text;
  return `${text.slice(0, MAX_VALUE_CHARS)}…(${text.length} chars, crc ${crc32(new TextEncoder().encode(text)).toString(16)})`;
}

export class Transcript {
  readonly lines: string[] = [];
  /** Lines past MAX_LINES, counted, not kept. */
  dropped = 0;
  private readonly ports = new WeakMap<HypervisorPort, HypervisorPort>();

  add(line: string): void {
    if (this.lines.length < MAX_LINES) this.lines.push(line);
    else this.dropped++;
  }

  /** The port lent to the engine, recording each call; one recorder per port (the engine's wrappers key on it). */
  port(inner: HypervisorPort): HypervisorPort {
    let p = this.ports.get(inner);
    if (p === undefined) {
      p = new Proxy(inner, {
        get: (target, key: string) => {
          const value: unknown = Reflect.get(target, key);
          if (typeof value !== 'function') return value;
          return async (...args: unknown[]) => {
            const r: unknown = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
            this.add(`  < hypervisor/${key} ${summary(args)} = ${summary(r)}`);
            return r;
          };
        },
      });
      this.ports.set(inner, p);
    }
    return p;
  }

  /** Params with every lent port swapped for its recorder (one level deep: CallEnv's port). */
  lend(args: readonly unknown[]): unknown[] {
    return args.map((a) => {
      if (typeof a !== 'object' || a === null) return a;
      if (isPort(a)) return this.port(a);
      const port = (a as { port?: unknown }).port;
      return typeof port === 'object' && port !== null && isPort(port) ? { ...a, port: this.port(port) } : a;
    });
  }
}

function recorded<T extends object>(inner: T, t: Transcript, prefix: string): T {
  return new Proxy(inner, {
    get(target, key: string) {
      const value: unknown = Reflect.get(target, key);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        const index = t.lines.length;
        t.add(`> ${prefix}${key} ${summary(args)}`);
        const r: unknown = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, t.lend(args));
        const line = t.lines[index];
        if (line !== undefined) t.lines[index] = `${line} = ${summary(r)}`;
        return r;
      };
    },
  });
}

/** `engine`, recording into `t` every request made of it and every hypervisor call it makes. */
export function recordingEngine(engine: Engine, t: Transcript): Engine {
  const logs = recorded<LogsApi>(engine.logs, t, 'logs/');
  const outer = recorded(engine, t, '');
  return new Proxy(outer, { get: (target, key: string) => (key === 'logs' ? logs : Reflect.get(target, key) as unknown) });
}

/** The first line where two transcripts differ, or null when they are equal. */
export function firstDivergence(a: Transcript, b: Transcript): { readonly index: number; readonly first: string | null; readonly second: string | null } | null {
  const n = Math.max(a.lines.length, b.lines.length);
  for (let i = 0; i < n; i++) {
    const x = a.lines[i] ?? null;
    const y = b.lines[i] ?? null;
    if (x !== y) return { index: i, first: x, second: y };
  }
  return a.dropped === b.dropped ? null : { index: n, first: `${a.dropped} more lines`, second: `${b.dropped} more lines` };
}
