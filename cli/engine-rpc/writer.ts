/**
 * Writing messages: one LSP base-protocol frame (`Content-Length: N\r\n\r\n` + N bytes of
 * UTF-8 JSON) per message, in one stream write. Departures from vscode-jsonrpc's
 * StreamMessageWriter, all measured:
 *
 * - Bytes get their wire form here. Values come encoded by `encodeValue` (wire.ts), their
 *   bytes still Uint8Arrays; the writer sends each as `{"$bytes": "<base64>"}`, or, once
 *   the peer agreed to binary frames (`binary`), as a binary frame of its own
 *   (`Content-Length: N\r\nContent-Type: application/octet-stream\r\n\r\n` + the N
 *   bytes) written before the message, which names it `{"$bin": k}` (the k-th binary
 *   frame since the last message, from 0); bytes that are all zero go as `{"$zeros": n}`
 *   (a restore writes zeros over a disk's holes: 16 of the 19 MB a backup scenario
 *   moves). The bytes are copied into the frame: a message is what its values were when
 *   it was sent.
 * - Base64 is cheap. JSON.stringify escapes a long string at ~300 MB/s (Node 20), and a
 *   read of 4 MiB is a 5.6 MB base64 string; so the `{"$bytes": ...}` strings are swapped
 *   for short placeholders, the rest is stringified, and the base64 is copied into the
 *   frame as it is (base64 needs no escaping): 20 ms less per 4 MiB.
 * - `write` never rejects: a failed write (EPIPE, a destroyed stream) is reported through
 *   `onError`, which both ends watch. The library's `sendRequest` would rethrow a rejection
 *   from inside a promise executor, an unhandled rejection that ends the process.
 */

import { randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';
import { AbstractMessageWriter, Message, type MessageWriter } from 'vscode-jsonrpc/node.js';
import { bytesToBase64 } from './wire.js';

/** The Content-Type of a binary frame. */
export const BINARY_CONTENT_TYPE = 'application/octet-stream';
/** Placeholders carry a per-process nonce, so no data string can be mistaken for one. */
const MARK = `$bytes:${randomBytes(8).toString('hex')}:`;
/** Below this much base64 in a message, plain JSON.stringify is as fast. */
const SPLICE_FROM_CHARS = 64 * 1024;

/** A place in a message holding bytes: a Uint8Array (`bytes`), or a `{"$bytes": ...}` object already encoded (`bytes` undefined). */
interface Slot {
  readonly parent: Record<string | number, unknown>;
  readonly key: string | number;
  readonly bytes: Uint8Array | undefined;
  base64: string;
}

/** The bytes of a message, in the order JSON.stringify visits them. */
function bytesSlots(value: unknown, parent: Record<string | number, unknown>, key: string | number, out: Slot[], depth: number): void {
  if (typeof value !== 'object' || value === null || depth > 300) return;
  if (value instanceof Uint8Array) {
    out.push({ parent, key, bytes: value, base64: '' });
    return;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) bytesSlots(value[i], value as unknown as Record<number, unknown>, i, out, depth + 1);
    return;
  }
  const obj = value as Record<string, unknown>;
  const b = obj['$bytes'];
  if (typeof b === 'string') {
    out.push({ parent, key, bytes: undefined, base64: b });
    return;
  }
  for (const k of Object.keys(obj)) bytesSlots(obj[k], obj, k, out, depth + 1);
}

/** JSON.stringify(msg) with each slot's value swapped for `put(slot, i)` meanwhile. */
function stringifyWith(msg: Message, slots: readonly Slot[], put: (s: Slot, i: number) => unknown): string {
  const kept = slots.map((s) => s.parent[s.key]);
  slots.forEach((s, i) => { s.parent[s.key] = put(s, i); });
  try {
    return JSON.stringify(msg);
  } finally {
    slots.forEach((s, i) => { s.parent[s.key] = kept[i]; });
  }
}

/**
 * The frames of one message, in one buffer: its bytes as base64 in the JSON, or
 * (`binary`) each Uint8Array as a binary frame before the JSON frame that names it, or
 * as `{"$zeros": n}` when it is all zero.
 */
export function frameOf(msg: Message, binary = false): Buffer {
  const slots: Slot[] = [];
  bytesSlots(msg, {}, '', slots, 0);
  if (slots.length === 0) return withHeader([Buffer.from(JSON.stringify(msg), 'utf8')]);
  if (binary) return binaryFrames(msg, slots);
  let base64Chars = 0;
  for (const s of slots) {
    if (s.bytes !== undefined) s.base64 = bytesToBase64(s.bytes);
    base64Chars += s.base64.length;
  }
  if (base64Chars < SPLICE_FROM_CHARS) return withHeader([Buffer.from(stringifyWith(msg, slots, (s) => ({ $bytes: s.base64 })), 'utf8')]);
  const text = stringifyWith(msg, slots, (_s, i) => ({ $bytes: `${MARK}${i}` }));
  const parts: Buffer[] = [];
  let at = 0;
  for (const [i, s] of slots.entries()) {
    const mark = `"${MARK}${i}"`;
    const found = text.indexOf(mark, at);
    // Not in the order walked (it always is): the plain way.
    if (found < 0) return withHeader([Buffer.from(stringifyWith(msg, slots, (x) => ({ $bytes: x.base64 })), 'utf8')]);
    parts.push(Buffer.from(text.slice(at, found + 1), 'utf8'), Buffer.from(s.base64, 'latin1'));
    at = found + mark.length - 1;
  }
  parts.push(Buffer.from(text.slice(at), 'utf8'));
  return withHeader(parts);
}

const ZEROS = new Uint8Array(64 * 1024);

function allZero(bytes: Uint8Array): boolean {
  for (let at = 0; at < bytes.length; at += ZEROS.length) {
    const n = Math.min(ZEROS.length, bytes.length - at);
    if (Buffer.compare(bytes.subarray(at, at + n), n === ZEROS.length ? ZEROS : ZEROS.subarray(0, n)) !== 0) return false;
  }
  return true;
}

function binaryFrames(msg: Message, all: readonly Slot[]): Buffer {
  // `{"$bytes": ...}` objects already encoded stay as they are (a peer reads every form).
  const arrays = all.filter((s) => s.bytes !== undefined);
  const zero = arrays.map((s) => allZero(s.bytes as Uint8Array));
  const slots = arrays.filter((_s, i) => !zero[i]);
  let k = 0;
  const json = Buffer.from(stringifyWith(msg, arrays, (s, i) => (zero[i] === true ? { $zeros: (s.bytes as Uint8Array).length } : { $bin: k++ })), 'utf8');
  const parts: Uint8Array[] = [];
  let length = json.length;
  for (const s of slots) {
    const bytes = s.bytes as Uint8Array;
    const header = Buffer.from(`Content-Length: ${bytes.length}\r\nContent-Type: ${BINARY_CONTENT_TYPE}\r\n\r\n`, 'ascii');
    parts.push(header, bytes);
    length += header.length + bytes.length;
  }
  const head = Buffer.from(`Content-Length: ${json.length}\r\n\r\n`, 'ascii');
  parts.push(head, json);
  return Buffer.concat(parts, length + head.length);
}

function withHeader(body: readonly Buffer[]): Buffer {
  let length = 0;
  for (const b of body) length += b.length;
  return Buffer.concat([Buffer.from(`Content-Length: ${length}\r\n\r\n`, 'ascii'), ...body]);
}

export class FrameWriter extends AbstractMessageWriter implements MessageWriter {
  private errors = 0;
  /** Bytes go as binary frames (the peer declared `binary-frames`), not as base64. */
  binary = false;

  /** `onRequest` sees the id of every request written (the client refuses answers to others). */
  constructor(private readonly output: Writable, private readonly onRequest: (id: number | string) => void = () => undefined) {
    super();
    output.on('error', (error) => {
      this.fireError(error, undefined, ++this.errors);
    });
    output.on('close', () => {
      this.fireClose();
    });
  }

  write(msg: Message): Promise<void> {
    if (Message.isRequest(msg) && msg.id !== null) this.onRequest(msg.id);
    let frame: Buffer;
    try {
      frame = frameOf(msg, this.binary);
    } catch (error) {
      this.fireError(error, msg, ++this.errors);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      if (this.output.destroyed || this.output.writableEnded) {
        this.fireError(Object.assign(new Error('write after the stream ended'), { code: 'ERR_STREAM_DESTROYED' }), msg, ++this.errors);
        resolve();
        return;
      }
      this.output.write(frame, (error) => {
        if (error) this.fireError(error, msg, ++this.errors);
        resolve();
      });
    });
  }

  end(): void {
    this.output.end();
  }
}
