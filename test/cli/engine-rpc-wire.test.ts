/**
 * The engine protocol's pieces on their own: the value encoding (bytes as base64, refused
 * values named by path), the command-line splitter of --engine-cmd, the strict reader
 * of an engine's stdout (frames, garbage, JSON-RPC shape), and binary frames (the writer's
 * layout, the reader's attachments, and what goes wrong with them).
 */

import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Message } from 'vscode-jsonrpc/node.js';
import { CommandLineError, splitCommandLine } from '../../cli/engine-rpc/command-line.js';
import { FramingError, StrictMessageReader } from '../../cli/engine-rpc/framing.js';
import { base64ToBytes, decodeWire, encodeValue, encodeWire, refKind, WireError } from '../../cli/engine-rpc/wire.js';
import { frameOf } from '../../cli/engine-rpc/writer.js';

describe('wire encoding', () => {
  it('carries bytes (views too) as base64 and gives back plain Uint8Arrays with their own buffer', () => {
    const backing = new Uint8Array([9, 1, 2, 3, 255, 9]);
    const value = { a: backing.subarray(1, 5), list: [new Uint8Array(0), 'x', 1.5, null, true], nested: { deep: [{ b: new Uint8Array([0]) }] } };
    const wire = encodeWire(value);
    expect(wire).toEqual({ a: { $bytes: 'AQID/w==' }, list: [{ $bytes: '' }, 'x', 1.5, null, true], nested: { deep: [{ b: { $bytes: 'AA==' } }] } });
    const back = decodeWire(JSON.parse(JSON.stringify(wire))) as typeof value;
    expect(back).toEqual(value);
    expect(Object.getPrototypeOf(back.a)).toBe(Uint8Array.prototype);
    expect(back.a.byteOffset).toBe(0);
    expect(back.a.buffer.byteLength).toBe(4);
  });

  it('leaves out undefined properties and sends undefined array elements as null, as JSON does', () => {
    expect(encodeWire({ a: undefined, b: [undefined, 1] })).toEqual({ b: [null, 1] });
  });

  it.each([
    [{ m: new Map() }, 'at $.m: cannot send a Map'],
    [{ a: [1, Number.NaN] }, 'at $.a[1]: NaN has no JSON form'],
    [{ a: Infinity }, 'at $.a: Infinity has no JSON form'],
    [{ f: () => 1 }, 'at $.f: cannot send a function'],
    [{ n: 1n }, 'at $.n: cannot send a bigint'],
    [{ x: { $ref: 'port-1' } }, "at $.x: the key '$ref' is reserved"],
    [{ d: new Date(0) }, 'at $.d: cannot send a Date'],
    [{ u: new Uint16Array(2) }, 'at $.u: cannot send a Uint16Array'],
  ])('refuses what JSON cannot carry exactly: %o', (value, message) => {
    expect(() => encodeWire(value)).toThrow(new WireError(message.replace(/^at \$[^:]*: /, ''), message.slice(4, message.indexOf(':'))));
    expect(() => encodeWire(value)).toThrow(message);
  });

  it('keeps bytes as they are for the frame writer (encodeValue); decodes {"$zeros": n} as n zero bytes of their own', () => {
    const bytes = new Uint8Array([1, 2]);
    const wire = encodeValue({ a: bytes, list: [bytes], n: 1 }) as { a: unknown; list: unknown[] };
    expect(wire.a).toBe(bytes);
    expect(wire.list[0]).toBe(bytes);
    expect(() => encodeValue({ m: new Map() })).toThrow('at $.m: cannot send a Map');
    const back = decodeWire(JSON.parse('{"z": {"$zeros": 5}, "e": {"$zeros": 0}}')) as { z: Uint8Array; e: Uint8Array };
    expect(back).toEqual({ z: new Uint8Array(5), e: new Uint8Array(0) });
    expect(Object.getPrototypeOf(back.z)).toBe(Uint8Array.prototype);
    for (const bad of ['-1', '1.5', '"3"', 'null', String(2 ** 40)]) expect(() => decodeWire(JSON.parse(`{"z": {"$zeros": ${bad}}}`)), bad).toThrow(/^at \$\.z: not a count of zero bytes/);
    expect(() => decodeWire({ z: { $zeros: 1, x: 2 } })).toThrow("at $.z: the key '$zeros' is reserved");
  });

  it('refuses bad base64, reserved keys and nesting past the limit when decoding', () => {
    expect(() => base64ToBytes('abc')).toThrow(WireError);
    expect(() => base64ToBytes('ab!=')).toThrow(WireError);
    expect(() => decodeWire({ x: { $other: 1 } })).toThrow("at $.x: the key '$other' is reserved");
    expect(() => decodeWire(JSON.parse('{"__proto__": {"$bytes": "AA=="}}'))).toThrow('reserved');
    expect(() => decodeWire({ r: { $ref: 'store-1' } })).toThrow("at $.r: a reference ('store-1') where none may be");
    let deep: unknown = 1;
    for (let i = 0; i < 300; i++) deep = [deep];
    expect(() => decodeWire(deep)).toThrow('nested deeper than 256');
  });

  it('resolves references through the caller and reads their kind from the id', () => {
    expect(decodeWire({ s: { $ref: 'store-3', description: 'memory' } }, (ref) => `proxy of ${ref.$ref} (${JSON.stringify(ref['description'])})`)).toEqual({ s: 'proxy of store-3 ("memory")' });
    expect(refKind('filesink-12')).toBe('filesink');
    for (const bad of ['store-0', 'store-', 'stores-1', '-1', 'port-01', 'port-1x']) expect(refKind(bad), bad).toBeUndefined();
  });
});

describe('--engine-cmd splitting (no shell)', () => {
  it.each([
    ['node engine.js', ['node', 'engine.js']],
    ['  ./my\\ engine   --opt=1\t-v ', ['./my engine', '--opt=1', '-v']],
    [`python3 -c 'print("hi $HOME")'`, ['python3', '-c', 'print("hi $HOME")']],
    [`run "a \\"quoted\\" \\$x" '' ""`, ['run', 'a "quoted" $x', '', '']],
    [`a'b'"c"d`, ['abcd']],
    ['path/~x', ['path/~x']],
  ])('%s', (text, argv) => {
    expect(splitCommandLine(text)).toEqual(argv);
  });

  it.each([
    ['', 'no program given'],
    ['   ', 'no program given'],
    ['node "x', 'unterminated double quote'],
    ["node 'x", 'unterminated single quote'],
    ['node x\\', 'a backslash at the end'],
    ['node $ENGINE', "'$' needs a shell"],
    ['node a | tee log', "'|' needs a shell"],
    ['node a > out', "'>' needs a shell"],
    ['node *.js', "'*' needs a shell"],
    ['~/engine', "'~' needs a shell"],
    ['node a\nb', 'no newline'],
  ])('refuses %o', (text, message) => {
    expect(() => splitCommandLine(text)).toThrow(CommandLineError);
    expect(() => splitCommandLine(text)).toThrow(message);
  });
});

/** Feeds `chunks` to a strict reader; what it delivered and the first error. */
async function read(chunks: readonly (string | Buffer)[], check?: (m: Message) => FramingError | undefined, end = false): Promise<{ messages: Message[]; error: Error | undefined }> {
  const input = new PassThrough();
  const reader = new StrictMessageReader(input, check);
  const messages: Message[] = [];
  let error: Error | undefined;
  reader.onError((e) => { error ??= e; });
  reader.listen((m) => messages.push(m));
  for (const c of chunks) input.write(c);
  if (end) input.end();
  await new Promise((r) => setImmediate(r));
  reader.dispose();
  return { messages, error };
}

function frame(body: string): string {
  return `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

describe('the strict reader of an engine\'s stdout', () => {
  it('reads frames split anywhere, two in a chunk, with a Content-Type header and multi-byte UTF-8', async () => {
    const a = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { text: 'é€😀' } });
    const b = JSON.stringify({ jsonrpc: '2.0', id: 'e1', method: 'store/get', params: { name: 'x' } });
    const all = Buffer.from(frame(a) + `content-length: ${Buffer.byteLength(b)}\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n${b}`);
    const bytes = [...all];
    const { messages, error } = await read([Buffer.from(bytes.slice(0, 3)), Buffer.from(bytes.slice(3, 40)), Buffer.from(bytes.slice(40))]);
    expect(error).toBeUndefined();
    expect(messages).toEqual([JSON.parse(a), JSON.parse(b)]);
  });

  it.each([
    ['a stray line', ['hello from the engine\n'], /^"hello from the engine\\n" where a Content-Length header was due$/],
    ['an unknown header', ['Con', 'tent-Length: 5\r\nX-Other: 1\r\n\r\n'], /^an unknown header 'x-other'$/],
    ['a bad length', ['Content-Length: abc\r\n\r\n'], /^Content-Length "abc"/],
    ['no length', ['Content-Type: x\r\n\r\n'], /^a header block without Content-Length$/],
    ['not JSON', [frame('{not json')], /^a frame that is not JSON: "\{not json"$/],
    ['a batch', [frame('[1,2]')], /^a frame that is not a JSON object/],
    ['no jsonrpc', [frame('{"id":1,"result":2}')], /^a message without "jsonrpc": "2.0"/],
    ['no result', [frame('{"jsonrpc":"2.0","id":1}')], /^a response with both or neither of result and error/],
    ['a bad error', [frame('{"jsonrpc":"2.0","id":1,"error":{"code":"x"}}')], /^a response whose error has no code or message/],
    ['an endless header', [`Content-Length: 1\r\n${'x'.repeat(2000)}`], /^a header block longer than 1024 bytes/],
  ])('fails at garbage: %s', async (_label, chunks, message) => {
    const { messages, error } = await read(chunks);
    expect(messages).toEqual([]);
    expect(error).toBeInstanceOf(FramingError);
    expect((error as FramingError).kind).toBe('garbage');
    expect(error?.message).toMatch(message);
  });

  it('hands every message to the check first, and stops at the first it refuses', async () => {
    const seen: unknown[] = [];
    const { messages, error } = await read([frame('{"jsonrpc":"2.0","id":1,"result":1}') + frame('{"jsonrpc":"2.0","id":7,"result":1}') + frame('{"jsonrpc":"2.0","id":2,"result":1}')], (m) => {
      seen.push((m as unknown as { id: number }).id);
      return (m as unknown as { id: number }).id === 7 ? new FramingError('unknown-id', 'id 7') : undefined;
    });
    expect(seen).toEqual([1, 7]);
    expect(messages.map((m) => (m as unknown as { id: number }).id)).toEqual([1]);
    expect(error?.message).toBe('id 7');
  });
});

describe('the frame writer', () => {
  it('splices large byte strings into the frame as they are; the reader gets the message back exactly', async () => {
    const big = (n: number, k: number) => Uint8Array.from({ length: n }, (_v, i) => (i * k) & 0xff);
    const result = encodeWire({ first: big(100_000, 7), text: 'é "quoted" \\ $bytes:0 \u2028', list: [big(3, 1), { deep: big(70_000, 13) }], n: 1.5 });
    const msg = { jsonrpc: '2.0', id: 4, result } as unknown as Message;
    const frame = frameOf(msg);
    expect(frame.subarray(0, 30).toString('latin1')).toMatch(/^Content-Length: \d+\r\n\r\n\{/);
    const { messages, error } = await read([frame.subarray(0, 1000), frame.subarray(1000)]);
    expect(error).toBeUndefined();
    expect(messages).toEqual([JSON.parse(JSON.stringify(msg))]);
    // The message itself is left as it was.
    expect(JSON.stringify(msg)).toBe(JSON.stringify({ jsonrpc: '2.0', id: 4, result }));
    expect(decodeWire((messages[0] as unknown as { result: unknown }).result)).toEqual({ first: big(100_000, 7), text: 'é "quoted" \\ $bytes:0 \u2028', list: [big(3, 1), { deep: big(70_000, 13) }], n: 1.5 });
  });
});

/** A binary frame of `bytes`, as the writer makes one. */
function binaryFrame(bytes: Uint8Array | string): Buffer {
  const body = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : Buffer.from(bytes);
  return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\nContent-Type: application/octet-stream\r\n\r\n`), body]);
}

describe('binary frames', () => {
  const big = (n: number, k: number) => Uint8Array.from({ length: n }, (_v, i) => (i * k + 1) & 0xff);
  const value = () => ({ first: big(40, 7), zeros: new Uint8Array(9), text: 'é $bin', list: [big(3, 1), { deep: big(5, 13), empty: new Uint8Array(0) }], n: 1.5 });

  it('the writer sends bytes as binary frames before the message that names them, zeros as {"$zeros": n}; the message is left as it was', () => {
    const msg = { jsonrpc: '2.0', id: 4, result: encodeValue(value()) } as unknown as Message;
    const before = JSON.stringify(msg);
    const frames = frameOf(msg, true).toString('latin1');
    expect(JSON.stringify(msg)).toBe(before);
    const heads = [...frames.matchAll(/Content-Length: (\d+)\r\n(Content-Type: application\/octet-stream\r\n)?\r\n/g)];
    const last = heads[3];
    const jsonAt = (last?.index ?? 0) + (last?.[0].length ?? 0);
    expect(heads.map((h) => [Number(h[1]), h[2] !== undefined])).toEqual([[40, true], [3, true], [5, true], [frames.length - jsonAt, false]]);
    expect(frames.slice((heads[0]?.[0].length ?? 0), (heads[0]?.[0].length ?? 0) + 40)).toBe(Buffer.from(big(40, 7)).toString('latin1'));
    const json = JSON.parse(Buffer.from(frames.slice(jsonAt), 'latin1').toString('utf8')) as unknown;
    expect(json).toEqual({ jsonrpc: '2.0', id: 4, result: { first: { $bin: 0 }, zeros: { $zeros: 9 }, text: 'é $bin', list: [{ $bin: 1 }, { deep: { $bin: 2 }, empty: { $zeros: 0 } }], n: 1.5 } });
    // Without binary frames: base64, as before.
    expect(JSON.parse(frameOf(msg).toString('utf8').replace(/^[^{]*/, ''))).toEqual(JSON.parse(JSON.stringify({ jsonrpc: '2.0', id: 4, result: encodeWire(value()) })));
  });

  it('the reader gets the message back exactly with the frames split at every byte boundary, and in one chunk with the next message', async () => {
    const msg = { jsonrpc: '2.0', id: 'e7', method: 'store/put', params: encodeValue(value()) } as unknown as Message;
    const all = frameOf(msg, true);
    const next = Buffer.from(frame('{"jsonrpc":"2.0","id":8,"result":null}'));
    for (let at = 0; at <= all.length; at++) {
      const { messages, error } = await read([all.subarray(0, at), all.subarray(at)]);
      expect(error, `split at ${at}`).toBeUndefined();
      expect(messages, `split at ${at}`).toHaveLength(1);
      expect(decodeWire((messages[0] as unknown as { params: unknown }).params), `split at ${at}`).toEqual(value());
    }
    const { messages, error } = await read([Buffer.concat([all, all, next])]);
    expect(error).toBeUndefined();
    expect(messages).toHaveLength(3);
    const got = (messages[1] as unknown as { params: { first: Uint8Array } }).params.first;
    expect(got).toEqual(big(40, 7));
    expect(Object.getPrototypeOf(got)).toBe(Uint8Array.prototype);
    expect([got.byteOffset, got.buffer.byteLength]).toEqual([0, 40]);
    // Byte by byte.
    const bytes = [...all].map((b) => Buffer.from([b]));
    const one = await read(bytes);
    expect(one.error).toBeUndefined();
    expect(decodeWire((one.messages[0] as unknown as { params: unknown }).params)).toEqual(value());
  });

  const ok = (result: string) => frame(`{"jsonrpc":"2.0","id":1,"result":${result}}`);
  it.each([
    ['a binary frame and then the end of the stream', [binaryFrame('abc')], /^1 binary frame and then the end of the stream, no message naming them$/],
    ['a binary frame no message names', [binaryFrame('abc'), binaryFrame('de'), ok('{"$bin":0}')], /^a message that does not name binary frame 1 of the 2 binary frames before it: /],
    ['a message naming a binary frame that was not sent', [ok('{"a":{"$bin":0}}')], /^a message naming binary frame 0 after 0 binary frames: \{"jsonrpc"/],
    ['a message naming one twice', [binaryFrame('abc'), ok('[{"$bin":0},{"$bin":0}]')], /^a message naming binary frame 0 twice/],
    ['a reference that is not one', [binaryFrame('abc'), ok('{"$bin":"0"}')], /^a binary reference that is not \{"\$bin": <index>\}: \{"\$bin":"0"\}/],
    ['a reference with more', [binaryFrame('abc'), ok('{"$bin":0,"x":1}')], /^a binary reference that is not \{"\$bin": <index>\}/],
    ['a binary frame shorter than its length says', [binaryFrame('abc').toString('latin1').replace('Length: 3', 'Length: 5'), ok('{"$bin":0}')], /^"ntent-Length: \d+\\r\\n\\r\\n\{\\"jsonrpc\\".*" where a Content-Length header was due$/],
    ['a binary frame longer than its length says', [binaryFrame('abcdef').toString('latin1').replace('Length: 6', 'Length: 4'), ok('{"$bin":0}')], /^"ef" where a Content-Length header was due$/],
    ['a binary frame past the limit', ['Content-Length: 134217729\r\nContent-Type: application/octet-stream\r\n\r\n'], /^Content-Length "134217729" \(at most 134217728\)$/],
  ])('is garbage, in one line: %s', async (_label, chunks, message) => {
    const { messages, error } = await read(chunks, undefined, true);
    expect(messages).toEqual([]);
    expect(error).toBeInstanceOf(FramingError);
    expect((error as FramingError).kind).toBe('garbage');
    expect(error?.message).toMatch(message);
    expect(error?.message).not.toContain('\n');
  });

  it('binary frames of more than 128 MiB before one message are garbage', async () => {
    const head = (n: number) => `Content-Length: ${n}\r\nContent-Type: application/octet-stream\r\n\r\n`;
    const { error } = await read([head(100 * 1024 * 1024), Buffer.alloc(100 * 1024 * 1024), head(40 * 1024 * 1024)]);
    expect(error?.message).toBe('binary frames of more than 134217728 bytes before one message');
  });
});
