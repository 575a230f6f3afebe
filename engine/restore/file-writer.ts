/**
 * Where file-level restore writes: a `FileWriter` creates directories and files under a
 * target root, addressed by path components relative to that root (never by a joined
 * string, so no separator inside a name can be mistaken for a level). The in-memory twin
 * lives here; the local-directory adapter is file-writer-local.ts.
 *
 * Also here, because writers and the restore must agree on it: the rule that maps any
 * guest name (raw bytes, untrusted) to a safe component, and the check a writer applies
 * to every component it is given (a component is safe when the rule leaves it unchanged).
 *
 * The sanitising rule, per name, in this order:
 *  1. Bytes that are not valid UTF-8 become `%XX` (names.ts); valid sequences stay.
 *  2. Every character no target can hold in a name becomes '_': '/', '\', NUL and the other
 *     C0 controls (U+0000-U+001F), DEL (U+007F), and Windows' `< > : " | ? *` (so a drive
 *     letter `C:` or an alternate stream `a:b` is neither).
 *  3. Trailing dots and spaces are removed (Windows drops them silently, which would merge
 *     names).
 *  4. A name left empty (also '.', '..', '...', '  ') becomes '_'.
 *  5. A Windows device name (CON, PRN, AUX, NUL, COM0-9, LPT0-9, also with superscript
 *     digits, case-insensitive, alone or before a '.') gets a '_' prefix.
 *  6. A name longer than 255 UTF-8 bytes is cut at a character boundary to 246 bytes and
 *     '~' plus the 8 hex digits of the CRC32 of the raw name is appended.
 * Within one directory, names must also be unique after the rule, compared after NFC
 * normalisation and lower-casing (so the tree restores alike on case-insensitive targets):
 * entries are taken in byte order of their raw names; those the rule left unchanged keep
 * their names first; every later clash gets the first free '~N' (N = 2, 3, ...) before
 * its extension. `sanitiseDirectory` applies all of it; the result is a pure function of
 * the directory's raw names.
 */

import { crc32 } from '../../core/crc32.js';
import { err, ok, type Result } from '../../core/result.js';
import { compareBytes, decodeName, encodeName } from './guestfs/names.js';

export type FileWriterError =
  | { readonly kind: 'unsafe-name'; readonly parts: readonly string[]; readonly reason: string }
  | { readonly kind: 'exists'; readonly path: string }
  | { readonly kind: 'not-a-directory'; readonly path: string }
  | { readonly kind: 'too-large'; readonly path: string; readonly sizeBytes: number; readonly maxBytes: number }
  | { readonly kind: 'invalid-write'; readonly path: string; readonly reason: string }
  | { readonly kind: 'io'; readonly path: string; readonly reason: string };

export interface FileSink {
  /** Writes `data` at `offsetBytes` (inside the size given at creation). */
  write(offsetBytes: number, data: Uint8Array): Promise<Result<void, FileWriterError>>;
  /** Completes the file at its size: what was not written reads as zeros. */
  close(): Promise<Result<void, FileWriterError>>;
  /** Removes the partial file. Never fails. */
  abort(): Promise<void>;
}

export interface FileWriter {
  /** Creates directory `parts` under the root; its parent must exist; an existing directory is fine. */
  mkdir(parts: readonly string[]): Promise<Result<void, FileWriterError>>;
  /** Creates a new file of `sizeBytes` at `parts`; its parent must exist; nothing may exist there. */
  createFile(parts: readonly string[], sizeBytes: number): Promise<Result<FileSink, FileWriterError>>;
}

// ---------------------------------------------------------------------------------------
// The sanitising rule

export const MAX_COMPONENT_BYTES = 255;
const CUT_BYTES = MAX_COMPONENT_BYTES - 9;
// eslint-disable-next-line no-control-regex -- control characters are exactly what this matches
const UNSAFE_CHARS = /[\u0000-\u001f\u007f/\\<>:"|?*]/g;
const DEVICE_NAME = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i;

export interface SanitisedName {
  readonly name: string;
  /** Why the name differs from the guest's (empty when it does not). */
  readonly reasons: readonly string[];
}

function utf8Bytes(text: string): number {
  return encodeName(text).length;
}

/** The longest prefix of `text` whose UTF-8 form fits `maxBytes`, cut between code points. */
function cutToBytes(text: string, maxBytes: number): string {
  let bytes = 0;
  let out = '';
  for (const ch of text) {
    const n = utf8Bytes(ch);
    if (bytes + n > maxBytes) break;
    bytes += n;
    out += ch;
  }
  return out;
}

/** Steps 1-6 of the rule for one raw name. */
export function sanitiseName(raw: Uint8Array): SanitisedName {
  const reasons: string[] = [];
  const decoded = decodeName(raw);
  let name = decoded.text;
  if (!decoded.valid) reasons.push('not UTF-8');
  const replaced = name.replace(UNSAFE_CHARS, '_');
  if (replaced !== name) {
    reasons.push(/[/\\]/.test(name) ? 'holds a path separator' : 'holds a character a target cannot store');
    name = replaced;
  }
  const trimmed = name.replace(/[. ]+$/, '');
  if (trimmed !== name && trimmed !== '') reasons.push('ends in a dot or space');
  if (trimmed === '') {
    reasons.push(name === '' ? 'empty' : `reserved or empty ('${name}')`);
    name = '_';
  } else {
    name = trimmed;
  }
  if (DEVICE_NAME.test(name)) {
    reasons.push('a Windows device name');
    name = `_${name}`;
  }
  if (utf8Bytes(name) > MAX_COMPONENT_BYTES) {
    reasons.push(`longer than ${MAX_COMPONENT_BYTES} bytes`);
    name = `${cutToBytes(name, CUT_BYTES)}~${crc32(raw).toString(16).padStart(8, '0')}`;
  }
  return { name, reasons };
}

/**
 * Why a component given to a writer is unsafe, or undefined when it is safe: it must be a
 * fixed point of the rule (so it holds no separator, is not '.' or '..', is not empty,
 * holds no NUL and fits 255 bytes). Lone surrogates fail too (they do not encode).
 */
export function componentProblem(part: string): string | undefined {
  if (part === '') return 'empty component';
  const bytes = encodeName(part);
  const sanitised = sanitiseName(bytes).name;
  if (sanitised !== part) return `component '${JSON.stringify(part)}' is not safe (the rule makes it '${sanitised}')`;
  return undefined;
}

/** Checks every component of a relative path. */
export function partsProblem(parts: readonly string[]): string | undefined {
  if (parts.length === 0) return 'empty path (the root itself)';
  for (const part of parts) {
    const problem = componentProblem(part);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

function collisionKey(name: string): string {
  return name.normalize('NFC').toLowerCase();
}

/** `name` with '~n' before its extension, cut to fit 255 bytes. */
function withSuffix(name: string, n: number): string {
  const dot = name.lastIndexOf('.');
  const hasExt = dot > 0 && name.length - dot <= 16;
  const stem = hasExt ? name.slice(0, dot) : name;
  const ext = hasExt ? name.slice(dot) : '';
  const suffix = `~${n}${ext}`;
  return `${cutToBytes(stem, MAX_COMPONENT_BYTES - utf8Bytes(suffix))}${suffix}`;
}

export interface NamedEntry<T> {
  readonly entry: T;
  /** The safe, unique name it restores under. */
  readonly name: string;
  readonly reasons: readonly string[];
}

/**
 * Names every entry of one directory (see the rule above). Returns the entries in the
 * order they are restored: byte order of their raw names (ties keep their input order).
 */
export function sanitiseDirectory<T>(entries: readonly T[], rawName: (entry: T) => Uint8Array): NamedEntry<T>[] {
  const items = entries.map((entry, index) => {
    const raw = rawName(entry);
    const s = sanitiseName(raw);
    return { entry, index, raw, base: s.name, reasons: s.reasons };
  });
  items.sort((a, b) => compareBytes(a.raw, b.raw) || a.index - b.index);
  const taken = new Set<string>();
  const names = new Map<number, { name: string; reasons: readonly string[] }>();
  // Names the rule left alone are claimed first, so a renamed entry never displaces one.
  for (const item of items) {
    if (item.reasons.length > 0) continue;
    const key = collisionKey(item.base);
    if (taken.has(key)) continue;
    taken.add(key);
    names.set(item.index, { name: item.base, reasons: [] });
  }
  // Per base name, the next suffix to try: each clash resumes where the last one stopped, so a
  // directory of n identical names costs O(n) tries, not O(n^2).
  const nextSuffix = new Map<string, number>();
  for (const item of items) {
    if (names.has(item.index)) continue;
    let name = item.base;
    let reasons = item.reasons;
    const baseKey = collisionKey(item.base);
    if (taken.has(baseKey)) {
      reasons = [...reasons, 'clashes with another name in its directory'];
      // At most items.length names are taken, so within items.length + 1 tries a suffix is free.
      const first = nextSuffix.get(baseKey) ?? 2;
      for (let n = first; n <= first + items.length; n++) {
        const candidate = withSuffix(item.base, n);
        if (!taken.has(collisionKey(candidate)) && componentProblem(candidate) === undefined) {
          name = candidate;
          nextSuffix.set(baseKey, n + 1);
          break;
        }
      }
    }
    taken.add(collisionKey(name));
    names.set(item.index, { name, reasons });
  }
  return items.map((item) => {
    const named = names.get(item.index) ?? { name: item.base, reasons: item.reasons };
    return { entry: item.entry, name: named.name, reasons: named.reasons };
  });
}

// ---------------------------------------------------------------------------------------
// The in-memory twin

export type MemoryNode = { readonly type: 'dir' } | { readonly type: 'file'; readonly data: Uint8Array; complete: boolean };

export interface MemoryFileWriterOptions {
  /** Largest total of file sizes it holds (default 1 GiB): a sparse giant cannot exhaust memory. */
  readonly maxTotalBytes?: number;
}

/** Keeps the restored tree in a map keyed by the '/'-joined components ('' is the root). */
export class MemoryFileWriter implements FileWriter {
  readonly nodes = new Map<string, MemoryNode>([['', { type: 'dir' }]]);
  private totalBytes = 0;
  private readonly maxTotalBytes: number;

  constructor(options: MemoryFileWriterOptions = {}) {
    this.maxTotalBytes = options.maxTotalBytes ?? 1024 * 1024 * 1024;
  }

  /** Completed files by path. */
  files(): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    for (const [path, node] of this.nodes) if (node.type === 'file' && node.complete) out.set(path, node.data);
    return out;
  }

  directories(): string[] {
    return [...this.nodes].filter(([path, node]) => node.type === 'dir' && path !== '').map(([path]) => path);
  }

  private check(parts: readonly string[]): Result<{ key: string; parent: string }, FileWriterError> {
    const problem = partsProblem(parts);
    if (problem !== undefined) return err({ kind: 'unsafe-name', parts, reason: problem });
    const key = parts.join('/');
    const parent = parts.slice(0, -1).join('/');
    const parentNode = this.nodes.get(parent);
    if (parentNode?.type !== 'dir') return err({ kind: 'not-a-directory', path: parent });
    return ok({ key, parent });
  }

  mkdir(parts: readonly string[]): Promise<Result<void, FileWriterError>> {
    const checked = this.check(parts);
    if (!checked.ok) return Promise.resolve(checked);
    const existing = this.nodes.get(checked.value.key);
    if (existing !== undefined) return Promise.resolve(existing.type === 'dir' ? ok(undefined) : err({ kind: 'exists', path: checked.value.key }));
    this.nodes.set(checked.value.key, { type: 'dir' });
    return Promise.resolve(ok(undefined));
  }

  createFile(parts: readonly string[], sizeBytes: number): Promise<Result<FileSink, FileWriterError>> {
    const checked = this.check(parts);
    if (!checked.ok) return Promise.resolve(checked);
    const key = checked.value.key;
    if (this.nodes.has(key)) return Promise.resolve(err({ kind: 'exists', path: key }));
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0 || this.totalBytes + sizeBytes > this.maxTotalBytes) {
      return Promise.resolve(err({ kind: 'too-large', path: key, sizeBytes, maxBytes: this.maxTotalBytes - this.totalBytes }));
    }
    const node = { type: 'file' as const, data: new Uint8Array(sizeBytes), complete: false };
    this.nodes.set(key, node);
    this.totalBytes += sizeBytes;
    let open = true;
    const sink: FileSink = {
      write: (offsetBytes, data) => {
        if (!open) return Promise.resolve(err({ kind: 'invalid-write', path: key, reason: 'file is closed' }));
        if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0 || offsetBytes + data.length > sizeBytes) {
          return Promise.resolve(err({ kind: 'invalid-write', path: key, reason: `write of ${data.length} bytes at ${offsetBytes} past the size ${sizeBytes}` }));
        }
        node.data.set(data, offsetBytes);
        return Promise.resolve(ok(undefined));
      },
      close: () => {
        if (!open) return Promise.resolve(err({ kind: 'invalid-write', path: key, reason: 'file is closed' }));
        open = false;
        node.complete = true;
        return Promise.resolve(ok(undefined));
      },
      abort: () => {
        if (open) {
          open = false;
          this.nodes.delete(key);
          this.totalBytes -= sizeBytes;
        }
        return Promise.resolve();
      },
    };
    return Promise.resolve(ok(sink));
  }
}
