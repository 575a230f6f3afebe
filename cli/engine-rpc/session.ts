/**
 * One connection to one engine process (or in-memory pair): the JSON-RPC connection, the
 * host objects lent on it, the calls in flight, and the ways it can end. A failure of the
 * connection — the process exits, stdout carries garbage or a response to a request never
 * sent, stdin breaks (EPIPE), no message for the time limit while the engine owes one —
 * rejects every call in flight with an EngineProtocolError naming that call, kills the
 * process, and leaves the session down: later calls fail at once, until the client starts
 * a new session (the next initialize).
 */

import { createMessageConnection, Message, ResponseError, type MessageConnection } from 'vscode-jsonrpc/node.js';
import { FramingError, StrictMessageReader } from './framing.js';
import { HostObjects, type IdCounter } from './host.js';
import type { EngineExit, EngineTransport } from './process.js';
import { clip, EngineProtocolError, ErrorCode, type FailureKind } from './protocol.js';
import { decodeWire, type WireObject } from './wire.js';
import { FrameWriter } from './writer.js';

/** How the session ended: "<verb> during <call><detail>". */
interface Failure {
  readonly kind: FailureKind;
  readonly verb: string;
  readonly detail: string;
}

interface Call {
  readonly method: string;
  readonly reject: (error: unknown) => void;
  /** Host exceptions thrown before the call began. */
  readonly hostExceptionsBefore: number;
}

/** Fires when the engine owes a message (a call in flight, no callback of its running) and sent none for `ms`. */
class Watchdog {
  private timer: NodeJS.Timeout | undefined;
  private lastUs = 0;
  private busy = 0;

  constructor(private readonly ms: number, private readonly owed: () => boolean, private readonly fire: () => void) {}

  touch(): void {
    this.lastUs = performance.now();
    this.update();
  }

  enter(): void {
    this.busy++;
    this.update();
  }

  leave(): void {
    this.busy--;
    this.touch();
  }

  update(): void {
    if (!this.owed()) {
      clearTimeout(this.timer);
      this.timer = undefined;
    } else if (this.busy === 0 && this.timer === undefined) {
      this.lastUs = performance.now();
      this.schedule(this.ms);
    }
    // While a callback runs, a timer set before stays (it fires to no effect, and the
    // callback's end sets another): no timer is made and cleared per callback.
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.busy > 0 || !this.owed()) return;
      const quiet = performance.now() - this.lastUs;
      if (quiet >= this.ms) this.fire();
      else this.schedule(this.ms - quiet);
    }, Math.max(1, Math.ceil(ms)));
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function exitFailure(exit: EngineExit, lastLine: string): Failure {
  const said = lastLine === '' ? '' : `: ${lastLine}`;
  if (exit.spawnError !== undefined) return { kind: 'spawn', verb: 'could not start', detail: `: ${exit.spawnError}` };
  if (exit.exitCode === 0) return { kind: 'exited', verb: 'exited', detail: ` (exit 0)${said}` };
  const how = exit.signal === undefined ? `exit ${exit.exitCode ?? '?'}` : `signal ${exit.signal}`;
  return { kind: 'crashed', verb: 'crashed', detail: ` (${how})${said}` };
}

export interface SessionOptions {
  readonly timeoutMs: number;
  /** The last line of the engine's log, for crash messages. */
  readonly lastLogLine: () => string;
}

export class Session {
  readonly host: HostObjects;
  private readonly connection: MessageConnection;
  private readonly writer: FrameWriter;
  private readonly calls = new Set<Call>();
  private readonly sent = new Set<number | string>();
  private readonly watchdog: Watchdog;
  private failure: Failure | null = null;
  private grace: NodeJS.Timeout | undefined;

  constructor(private readonly transport: EngineTransport, counter: IdCounter, private readonly options: SessionOptions) {
    this.host = new HostObjects(counter);
    this.watchdog = new Watchdog(options.timeoutMs, () => this.calls.size > 0, () => {
      this.fail({ kind: 'hung', verb: 'hung', detail: `: no message for ${options.timeoutMs} ms (killed)` });
    });
    const reader = new StrictMessageReader(transport.input, (m) => this.check(m));
    this.writer = new FrameWriter(transport.output, (id) => this.sent.add(id));
    this.connection = createMessageConnection(reader, this.writer);
    this.connection.onRequest(async (method, params) => {
      this.watchdog.enter();
      try {
        return await this.host.handle(method, params);
      } finally {
        this.watchdog.leave();
      }
    });
    this.connection.onError(([error]) => {
      this.onError(error);
    });
    this.connection.onClose(() => {
      this.afterGrace({ kind: 'closed', verb: 'closed its stdout', detail: '' });
    });
    void transport.exited.then((exit) => {
      this.fail(exitFailure(exit, options.lastLogLine()));
    });
    this.connection.listen();
  }

  get down(): boolean {
    return this.failure !== null;
  }

  /** Bytes go to the engine as binary frames (it declared `binary-frames`) rather than base64. */
  set binaryFrames(on: boolean) {
    this.writer.binary = on;
  }

  /** Every message from the engine, before the connection sees it. */
  private check(m: Message): FramingError | undefined {
    this.watchdog.touch();
    if (Message.isResponse(m) && (m.id === null || !this.sent.delete(m.id))) {
      return new FramingError('unknown-id', `an answer to request id ${clip(JSON.stringify(m.id), 40)}, which the harness did not send or had an answer to`);
    }
    return undefined;
  }

  private onError(error: Error): void {
    if (error instanceof FramingError) {
      this.fail(error.kind === 'garbage'
        ? { kind: 'garbage', verb: 'wrote garbage on stdout', detail: `: ${error.message}` }
        : { kind: 'unknown-id', verb: 'broke the protocol', detail: `: ${error.message}` });
      return;
    }
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ERR_STREAM_WRITE_AFTER_END') {
      this.afterGrace({ kind: 'epipe', verb: 'stopped reading its stdin', detail: ` (${code})` });
      return;
    }
    this.fail({ kind: 'closed', verb: 'broke the connection', detail: `: ${clip(error.message)}` });
  }

  /** A broken pipe or a closed stdout usually means the process is exiting: its exit status says more, if it comes soon. */
  private afterGrace(failure: Failure): void {
    if (this.failure !== null || this.grace !== undefined) return;
    this.grace = setTimeout(() => {
      this.fail(failure);
    }, 1000);
  }

  private fail(failure: Failure, kill = true): void {
    if (this.failure !== null) return;
    this.failure = failure;
    clearTimeout(this.grace);
    this.watchdog.stop();
    for (const call of this.calls) call.reject(new EngineProtocolError(call.method, failure.kind, `engine ${failure.verb} during ${call.method}${failure.detail}`));
    this.calls.clear();
    if (kill) this.transport.kill();
    this.connection.dispose();
  }

  /** Why a call cannot be made: the session is down. */
  downError(method: string): EngineProtocolError {
    const f = this.failure ?? { kind: 'down' as const, verb: 'stopped', detail: '' };
    return new EngineProtocolError(method, 'down', `engine unavailable for ${method}: it ${f.verb} earlier${f.detail}; the next initialize restarts it`);
  }

  /** Sends one request; resolves with its decoded result. */
  request(method: string, params: WireObject): Promise<unknown> {
    if (this.failure !== null) return Promise.reject(this.downError(method));
    return new Promise((resolve, reject) => {
      const call: Call = { method, reject, hostExceptionsBefore: this.host.exceptionsThrown };
      this.calls.add(call);
      this.watchdog.touch();
      const settle = (): void => {
        this.calls.delete(call);
        this.watchdog.update();
      };
      let sent: Promise<unknown>;
      try {
        sent = this.connection.sendRequest(method, params);
      } catch (e) {
        settle();
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a host exception is rethrown as the very object the harness threw
        reject(this.callError(call, e));
        return;
      }
      sent.then((result) => {
        settle();
        try {
          resolve(decodeWire(result));
        } catch (e) {
          reject(new EngineProtocolError(method, 'malformed', `engine answered ${method} with a malformed result: ${e instanceof Error ? e.message : String(e)}`));
        }
      }, (error: unknown) => {
        settle();
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a host exception is rethrown as the very object the harness threw
        reject(this.callError(call, error));
      });
    });
  }

  private callError(call: Call, error: unknown): unknown {
    if (this.failure !== null) return this.downError(call.method);
    if (!(error instanceof ResponseError)) return new EngineProtocolError(call.method, 'closed', `engine call ${call.method} failed: ${error instanceof Error ? error.message : String(error)}`);
    const data = (typeof error.data === 'object' && error.data !== null ? error.data : {}) as Record<string, unknown>;
    const named = typeof data['hostException'] === 'number' ? this.host.exception(data['hostException']) : undefined;
    if (named !== undefined) return named;
    // An engine that lost the id: the last exception a host object threw during this call.
    if (this.host.exceptionsThrown > call.hostExceptionsBefore) return this.host.exception(this.host.exceptionsThrown);
    const definite = typeof data['definite'] === 'boolean' ? data['definite'] : undefined;
    const how = definite === undefined ? '' : definite ? ' (definite: it did nothing)' : ' (indefinite: it may have acted)';
    const kind = error.code === ErrorCode.InvalidParams ? 'bad-params' : 'refused';
    return new EngineProtocolError(call.method, kind, `engine failed ${call.method}${how}: ${clip(error.message, 300)}`, definite);
  }

  /** Ends the session: the engine's stdin is closed (then it is killed after the grace). */
  async close(): Promise<void> {
    this.fail({ kind: 'down', verb: 'was closed by the harness', detail: '' }, false);
    await this.transport.close();
  }
}
