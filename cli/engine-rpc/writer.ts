/**
 * Writing messages: one LSP base-protocol frame (`Content-Length: N\r\n\r\n` + N bytes of
 * UTF-8 JSON) per message, in one stream write. Two departures from vscode-jsonrpc's
 * StreamMessageWriter, both measured:
 *
 * - Bytes are cheap. JSON.stringify escapes a long string at ~300 MB/s (Node 20), and a
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

/** Placeholders carry a per-process nonce, so no data string can be mistaken for one. */
const MARK = `$bytes:${randomBytes(8).toString('hex')}:`;
/** Below this much base64 in a message, plain JSON.stringify is as fast. */
const SPLICE_FROM_CHARS = 64 * 1024;

interface Slot {
  readonly holder: { $bytes: string };
  readonly base64: string;
}

/** The `{"$bytes": ...}` objects of a message, in the order JSON.stringify visits them. */
function bytesSlots(value: unknown, out: Slot[], depth = 0): void {
  if (typeof value !== 'object' || value === null || depth > 300) return;
  if (Array.isArray(value)) {
    for (const v of value) bytesSlots(v, out, depth + 1);
    return;
  }
  const obj = value as Record<string, unknown>;
  const b = obj['$bytes'];
  if (typeof b === 'string') {
    out.push({ holder: obj as { $bytes: string }, base64: b });
    return;
  }
  for (const key of Object.keys(obj)) bytesSlots(obj[key], out, depth + 1);
}

/** The frame of one message. */
export function frameOf(msg: Message): Buffer {
  const slots: Slot[] = [];
  bytesSlots(msg, slots);
  let base64Chars = 0;
  for (const s of slots) base64Chars += s.base64.length;
  if (base64Chars < SPLICE_FROM_CHARS) return withHeader([Buffer.from(JSON.stringify(msg), 'utf8')]);
  slots.forEach((s, i) => { s.holder.$bytes = `${MARK}${i}`; });
  let text: string;
  try {
    text = JSON.stringify(msg);
  } finally {
    for (const s of slots) s.holder.$bytes = s.base64;
  }
  const parts: Buffer[] = [];
  let at = 0;
  for (const [i, s] of slots.entries()) {
    const mark = `"${MARK}${i}"`;
    const found = text.indexOf(mark, at);
    // Not in the order walked (it always is): the plain way.
    if (found < 0) return withHeader([Buffer.from(JSON.stringify(msg), 'utf8')]);
    parts.push(Buffer.from(text.slice(at, found + 1), 'utf8'), Buffer.from(s.base64, 'latin1'));
    at = found + mark.length - 1;
  }
  parts.push(Buffer.from(text.slice(at), 'utf8'));
  return withHeader(parts);
}

function withHeader(body: readonly Buffer[]): Buffer {
  let length = 0;
  for (const b of body) length += b.length;
  return Buffer.concat([Buffer.from(`Content-Length: ${length}\r\n\r\n`, 'ascii'), ...body]);
}

export class FrameWriter extends AbstractMessageWriter implements MessageWriter {
  private errors = 0;

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
      frame = frameOf(msg);
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
