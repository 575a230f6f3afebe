/**
 * Reading messages strictly (both ends use it; the client's concern is the engine's stdout). vscode-jsonrpc's StreamMessageReader waits for a
 * header block as long as it takes and hands on any JSON; an engine that prints a stray
 * line ("hello") would stall the harness until the call's time limit. This reader fails
 * at the first byte that cannot begin or continue a frame of the LSP base protocol
 * (`Content-Length: N\r\n` [`Content-Type: ...\r\n`] `\r\n` then N bytes of UTF-8 JSON),
 * and at a frame that is not a JSON-RPC 2.0 message, with a FramingError saying what came.
 * `check` sees every message before the connection does (the client uses it to refuse a
 * response to a request it never sent).
 *
 * Binary frames (`Content-Type: application/octet-stream`, N raw bytes) are the
 * attachments of the next JSON frame, which names each exactly once as `{"$bin": k}` (the
 * k-th since the message before, from 0); the reader puts each in as a Uint8Array of its
 * own. A binary frame that no message names, a `$bin` naming none or one named twice, or
 * a stream ending after binary frames is garbage. (A reader accepts them always; a
 * writer sends them only to a peer that agreed, writer.ts.)
 */

import { isAscii } from 'node:buffer';
import type { Readable } from 'node:stream';
import { AbstractMessageReader, Disposable, type DataCallback, type Message } from 'vscode-jsonrpc/node.js';
import { clip } from './protocol.js';
import { MAX_DEPTH } from './wire.js';
import { BINARY_CONTENT_TYPE } from './writer.js';

export class FramingError extends Error {
  override readonly name = 'FramingError';
  constructor(readonly kind: 'garbage' | 'unknown-id', message: string) {
    super(message);
  }
}

/** Returns why a well-formed message is refused, or undefined. */
export type MessageCheck = (message: Message) => FramingError | undefined;

const MAX_HEADER_BYTES = 1024;
/** The largest message: a 64 MiB read as base64 with room to spare. */
export const MAX_MESSAGE_BYTES = 128 * 1024 * 1024;
const HEADER_START = Buffer.from('content-', 'ascii');
const HEADER_END = Buffer.from('\r\n\r\n', 'ascii');

function shownBytes(bytes: Buffer): string {
  return clip(JSON.stringify(bytes.subarray(0, 60).toString('utf8')), 80);
}

/** Why `bytes` (the start of a header block) cannot be one, or undefined while it still may be. */
function headerProblem(bytes: Buffer): string | undefined {
  const n = Math.min(bytes.length, HEADER_START.length);
  for (let i = 0; i < n; i++) {
    const b = bytes[i] ?? 0;
    if ((b | 0x20) !== HEADER_START[i]) return `${shownBytes(bytes)} where a Content-Length header was due`;
  }
  const end = bytes.indexOf(HEADER_END);
  const head = end < 0 ? bytes : bytes.subarray(0, end);
  for (const b of head) if (b !== 0x0d && b !== 0x0a && (b < 0x20 || b > 0x7e)) return `a header block holding byte ${b}: ${shownBytes(bytes)}`;
  if (end < 0 && bytes.length > MAX_HEADER_BYTES) return `a header block longer than ${MAX_HEADER_BYTES} bytes: ${shownBytes(bytes)}`;
  return undefined;
}

interface FrameHead {
  readonly length: number;
  /** A binary frame (Content-Type application/octet-stream), not JSON. */
  readonly binary: boolean;
}

/** The content length and type a complete header block gives, or why it gives none. */
function frameHead(block: string): FrameHead | string {
  let length: number | undefined;
  let binary = false;
  for (const line of block.split('\r\n')) {
    const m = /^([A-Za-z-]+):[ \t]*(.*?)[ \t]*$/.exec(line);
    if (m === null) return `a header line that is not 'Name: value': ${JSON.stringify(clip(line, 60))}`;
    const name = (m[1] ?? '').toLowerCase();
    const value = m[2] ?? '';
    if (name === 'content-length') {
      if (!/^\d{1,10}$/.test(value) || Number(value) > MAX_MESSAGE_BYTES) return `Content-Length ${JSON.stringify(clip(value, 20))} (at most ${MAX_MESSAGE_BYTES})`;
      length = Number(value);
    } else if (name === 'content-type') {
      binary = (value.split(';')[0] ?? '').trim().toLowerCase() === BINARY_CONTENT_TYPE;
    } else {
      return `an unknown header '${clip(name, 40)}'`;
    }
  }
  return length === undefined ? 'a header block without Content-Length' : { length, binary };
}

function frames(n: number): string {
  return n === 1 ? '1 binary frame' : `${n} binary frames`;
}

/**
 * Puts the binary frames sent before `message` in place of the `{"$bin": k}` objects naming
 * them (in place); says what is wrong when one is named twice, names none, or is not named.
 */
function attach(message: object, attached: readonly Uint8Array[]): string | undefined {
  const named = new Uint8Array(attached.length);
  let problem: string | undefined;
  const walk = (value: unknown, depth: number): unknown => {
    if (typeof value !== 'object' || value === null || depth > MAX_DEPTH || problem !== undefined) return value;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const v: unknown = value[i];
        if (typeof v === 'object' && v !== null) value[i] = walk(v, depth + 1);
      }
      return value;
    }
    const obj = value as Record<string, unknown>;
    if (Object.hasOwn(obj, '$bin')) {
      const k = obj['$bin'];
      const keys = Object.keys(obj).length;
      if (keys !== 1 || typeof k !== 'number' || !Number.isSafeInteger(k) || k < 0) {
        problem = `a binary reference that is not {"$bin": <index>}: ${clip(JSON.stringify(obj), 60)}`;
        return value;
      }
      if (k >= attached.length) {
        problem = `a message naming binary frame ${k} after ${frames(attached.length)}`;
        return value;
      }
      if (named[k] === 1) {
        problem = `a message naming binary frame ${k} twice`;
        return value;
      }
      named[k] = 1;
      return attached[k];
    }
    for (const key of Object.keys(obj)) {
      const v = obj[key];
      // '__proto__' is left as it is: the value decoder refuses it.
      if (typeof v === 'object' && v !== null && key !== '__proto__') obj[key] = walk(v, depth + 1);
    }
    return obj;
  };
  walk(message, 0);
  if (problem !== undefined) return problem;
  const unnamed = named.indexOf(0);
  return unnamed < 0 ? undefined : `a message that does not name binary frame ${unnamed} of the ${frames(attached.length)} before it`;
}

/** Why a parsed frame is not a JSON-RPC 2.0 message, or undefined. */
export function messageProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'a frame that is not a JSON object (batches are not used)';
  const m = value as Record<string, unknown>;
  if (m['jsonrpc'] !== '2.0') return 'a message without "jsonrpc": "2.0"';
  const id = m['id'];
  const idOk = typeof id === 'number' || typeof id === 'string';
  if (typeof m['method'] === 'string') return id === undefined || idOk ? undefined : 'a request with a bad id';
  if (!idOk && id !== null) return 'a message with neither a method nor an id';
  const hasResult = 'result' in m;
  const error = m['error'];
  const errorOk = typeof error === 'object' && error !== null && typeof (error as Record<string, unknown>)['code'] === 'number' && typeof (error as Record<string, unknown>)['message'] === 'string';
  if (hasResult === (error !== undefined)) return 'a response with both or neither of result and error';
  return hasResult || errorOk ? undefined : 'a response whose error has no code or message';
}

export class StrictMessageReader extends AbstractMessageReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private bodyLength = -1;
  private binaryBody = false;
  /** Binary frames read since the last message (its attachments). */
  private attached: Uint8Array[] = [];
  private attachedBytes = 0;
  private failed = false;
  private callback: DataCallback | undefined;
  private listening: Disposable | undefined;

  constructor(private readonly readable: Readable, private readonly check: MessageCheck = () => undefined) {
    super();
  }

  listen(callback: DataCallback): Disposable {
    this.callback = callback;
    const onData = (data: Buffer): void => {
      this.onData(data);
    };
    const onError = (error: Error): void => {
      this.fireError(error);
    };
    let closed = false;
    const onClose = (): void => {
      if (closed) return;
      closed = true;
      if (!this.failed && this.attached.length > 0) this.fail(new FramingError('garbage', `${frames(this.attached.length)} and then the end of the stream, no message naming them`));
      this.fireClose();
    };
    this.readable.on('data', onData);
    this.readable.on('error', onError);
    // Errors after dispose must not become unhandled 'error' events.
    this.readable.on('error', () => undefined);
    this.readable.on('end', onClose);
    this.readable.on('close', onClose);
    this.listening = Disposable.create(() => {
      this.readable.off('data', onData);
      this.readable.off('error', onError);
      this.readable.off('end', onClose);
      this.readable.off('close', onClose);
    });
    return this.listening;
  }

  override dispose(): void {
    this.listening?.dispose();
    this.listening = undefined;
    super.dispose();
  }

  private fail(error: FramingError): void {
    this.failed = true;
    this.chunks = [];
    this.attached = [];
    this.fireError(error);
  }

  private onData(data: Buffer): void {
    if (this.failed) return;
    this.chunks.push(data);
    this.buffered += data.length;
    for (;;) {
      // A body is joined once it is all here (a 5 MiB read arrives in ~80 chunks).
      if (this.bodyLength < 0 ? this.buffered === 0 : this.buffered < this.bodyLength) return;
      if (this.bodyLength >= 0 && this.binaryBody) {
        this.takeBinary();
        continue;
      }
      const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.buffered);
      const used = this.bodyLength < 0 ? this.readHeader(all) : this.readBody(all);
      if (used <= 0) {
        this.chunks = used < 0 ? [] : [all];
        return;
      }
      const rest = all.subarray(used);
      this.chunks = rest.length === 0 ? [] : [rest];
      this.buffered = rest.length;
    }
  }

  /** Bytes of a complete header block at the start of `all` (0: not complete yet; -1: failed). */
  private readHeader(all: Buffer): number {
    const problem = headerProblem(all);
    if (problem !== undefined) {
      this.fail(new FramingError('garbage', problem));
      return -1;
    }
    const end = all.indexOf(HEADER_END);
    if (end < 0) return 0;
    const head = frameHead(all.subarray(0, end).toString('ascii'));
    if (typeof head === 'string') {
      this.fail(new FramingError('garbage', head));
      return -1;
    }
    if (head.binary && this.attachedBytes + head.length > MAX_MESSAGE_BYTES) {
      this.fail(new FramingError('garbage', `binary frames of more than ${MAX_MESSAGE_BYTES} bytes before one message`));
      return -1;
    }
    this.bodyLength = head.length;
    this.binaryBody = head.binary;
    return end + HEADER_END.length;
  }

  /** A binary frame's body, all buffered: copied out of the chunks into an array of its own. */
  private takeBinary(): void {
    const body = new Uint8Array(this.bodyLength);
    let filled = 0;
    let i = 0;
    for (; filled < body.length; i++) {
      const chunk = this.chunks[i] as Buffer;
      const n = Math.min(chunk.length, body.length - filled);
      body.set(n === chunk.length ? chunk : chunk.subarray(0, n), filled);
      filled += n;
      if (n < chunk.length) {
        this.chunks[i] = chunk.subarray(n);
        break;
      }
    }
    this.chunks = this.chunks.slice(i);
    this.buffered -= body.length;
    this.bodyLength = -1;
    this.binaryBody = false;
    this.attached.push(body);
    this.attachedBytes += body.length;
  }

  private readBody(all: Buffer): number {
    if (all.length < this.bodyLength) return 0;
    const body = all.subarray(0, this.bodyLength);
    const used = this.bodyLength;
    this.bodyLength = -1;
    let message: unknown;
    try {
      // ASCII (base64 and most JSON) reads 3x faster as latin1, with the same result.
      message = JSON.parse(body.toString(isAscii(body) ? 'latin1' : 'utf8'));
    } catch {
      this.fail(new FramingError('garbage', `a frame that is not JSON: ${shownBytes(body)}`));
      return -1;
    }
    let problem = messageProblem(message);
    if (problem === undefined) {
      problem = attach(message as object, this.attached);
      this.attached = [];
      this.attachedBytes = 0;
    }
    const refused = problem === undefined ? this.check(message as Message) : new FramingError('garbage', `${problem}: ${clip(body.toString('utf8'), 80)}`);
    if (refused !== undefined) {
      this.fail(refused);
      return -1;
    }
    this.callback?.(message as Message);
    return used;
  }
}
