/**
 * The engine as a child process (execa): its stdout and stdin are the protocol's streams,
 * its stderr is its log (the last 64 KiB kept). `EngineTransport` is what the client needs
 * of it; tests give the client in-memory transports of the same shape.
 */

import type { Readable, Writable } from 'node:stream';
import { execa } from 'execa';
import { assert } from '../../core/assert.js';
import { clip } from './protocol.js';

export interface EngineExit {
  readonly exitCode?: number | undefined;
  readonly signal?: string | undefined;
  /** The engine never started (the reason, as `spawn ./engine ENOENT`). */
  readonly spawnError?: string | undefined;
}

export interface EngineTransport {
  /** What the engine writes (its stdout). */
  readonly input: Readable;
  /** What the engine reads (its stdin). */
  readonly output: Writable;
  /** Settles when the engine is gone (never, for a transport without a process). */
  readonly exited: Promise<EngineExit>;
  /** Ends the engine now (SIGKILL). */
  kill(): void;
  /** The engine's log: the last 64 KiB of its stderr. */
  log(): string;
  /** Ends the engine politely: closes its stdin, then kills it after `graceMs`. */
  close(graceMs?: number): Promise<void>;
}

export const LOG_TAIL_BYTES = 64 * 1024;

/** The last `max` bytes of a stream of chunks. */
export class LogTail {
  private chunks: Buffer[] = [];
  private bytes = 0;

  constructor(private readonly max = LOG_TAIL_BYTES) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    while (this.bytes - (this.chunks[0]?.length ?? 0) >= this.max && this.chunks.length > 1) this.bytes -= this.chunks.shift()?.length ?? 0;
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.max)).toString('utf8');
  }
}

export interface SpawnOptions {
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
}

/** Starts `argv[0]` with the rest as arguments (no shell). */
export function spawnEngine(argv: readonly string[], options: SpawnOptions = {}): EngineTransport & { readonly tail: LogTail } {
  assert(argv.length >= 1 && argv[0] !== '', 'spawnEngine needs a program');
  const [file, ...args] = argv as [string, ...string[]];
  const child = execa(file, args, {
    stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', buffer: false, reject: false, encoding: 'buffer',
    stripFinalNewline: false, cleanup: true, windowsHide: true,
    ...options.cwd === undefined ? {} : { cwd: options.cwd },
    ...options.env === undefined ? {} : { env: options.env },
  });
  const tail = new LogTail();
  child.stderr.on('data', (d: Buffer) => {
    tail.push(d);
  });
  const exited: Promise<EngineExit> = child.then((r) => {
    const never = r.exitCode === undefined && r.signal === undefined;
    return { exitCode: r.exitCode, signal: r.signal, spawnError: never ? clip((r as { shortMessage?: string }).shortMessage ?? "the program did not start") : undefined };
  });
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  return {
    input: child.stdout, output: child.stdin, exited, kill, tail, log: () => tail.text(),
    close: async (graceMs = 2000) => {
      child.stdin.end();
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => { timer = setTimeout(resolve, graceMs); });
      await Promise.race([exited, late]);
      clearTimeout(timer);
      kill();
      await exited;
    },
  };
}
