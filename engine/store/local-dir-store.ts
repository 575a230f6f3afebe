/**
 * The local-directory ByteStore: one file per object under a root folder (`packs/ab/…` is
 * the file `<root>/packs/ab/…`). This is a named I/O adapter of DESIGN.md; its in-memory
 * twin is memory-store.ts.
 *
 * Atomic publish, in this order: write the bytes to `<root>/tmp/<tag>-<n>` (created
 * exclusively), fsync it, read it back and compare (a short or wrong write is never
 * published), create missing parent folders (fsyncing each new folder's parent), rename
 * the temp onto the name (link for putExclusive, which fails if the name exists), fsync
 * the folder that holds the name. When put returns ok the object is durable; a crash
 * before the rename leaves only a file under tmp/, which `list` does not show.
 *
 * Leaves out: Windows (rename over an existing file and folder fsync differ there),
 * network file systems whose rename or link is not atomic, and O_DIRECT (the read-back
 * reads the page cache, so it catches a wrong write path, not a lying disk).
 */

import { link, lstat, mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { assert, assertInt } from '../../core/assert.js';
import { err, ok, type Result } from '../../core/result.js';
import {
  assertName, assertPrefix, isValidName, LIST_MAX_NAMES, NAME_MAX_SEGMENTS, TEMP_PREFIX,
  type ByteStore, type StoreError, type StoreOperation,
} from './byte-store.js';

/** Reads and writes move at most this many bytes per system call. */
export const IO_STEP_BYTES = 8 * 1024 * 1024;
/** Read-back buffers kept for the next puts (as many as puts a writer runs at once). */
const READ_BACK_BUFFERS_KEPT = 2;
/** A write or read loop makes at most this many system calls per object (a 4 GiB object). */
const IO_MAX_STEPS = 1 << 20;

function errnoOf(error: unknown): { code: string; message: string } {
  const e = error as NodeJS.ErrnoException;
  return { code: typeof e.code === 'string' ? e.code : 'EUNKNOWN', message: e instanceof Error ? e.message : String(error) };
}

function ioError(name: string, operation: StoreOperation, error: unknown): StoreError {
  return { kind: 'io', name, operation, ...errnoOf(error) };
}

export interface LocalDirStoreOptions {
  /** Creates the root folder (one level; its parent must exist) when it is missing. */
  readonly create: boolean;
  /** Makes temp names unique between processes, e.g. `host-pid`; `[A-Za-z0-9_-]` only. */
  readonly tempTag: string;
}

export class LocalDirStore implements ByteStore {
  readonly description: string;
  private tempSequence = 0;
  /** Folders known to exist (so a put does not mkdir on every call). */
  private readonly knownDirs = new Set<string>();
  private readonly readBackBuffers: Uint8Array[] = [];

  private constructor(readonly rootDir: string, private readonly tempTag: string) {
    this.description = `dir ${rootDir}`;
    this.knownDirs.add(rootDir);
  }

  static async open(rootDir: string, options: LocalDirStoreOptions): Promise<Result<LocalDirStore, StoreError>> {
    assert(/^[A-Za-z0-9_-]{1,64}$/.test(options.tempTag), `bad temp tag '${options.tempTag}'`);
    try {
      const info = await stat(rootDir).catch((error: unknown) => {
        if (options.create && errnoOf(error).code === 'ENOENT') return undefined;
        throw error;
      });
      if (info === undefined) {
        await mkdir(rootDir);
        await fsyncDir(dirname(rootDir));
      } else if (!info.isDirectory()) {
        return err({ kind: 'io', name: '', operation: 'list', code: 'ENOTDIR', message: `${rootDir} is not a folder` });
      }
    } catch (error) {
      return err(ioError('', 'list', error));
    }
    return ok(new LocalDirStore(rootDir, options.tempTag));
  }

  async put(name: string, bytes: Uint8Array): Promise<Result<void, StoreError>> {
    assertName(name);
    const temp = await this.writeTemp(name, bytes, 'put');
    if (!temp.ok) return temp;
    const target = this.pathOf(name);
    try {
      await this.ensureDir(dirname(target));
      await rename(temp.value, target);
      await fsyncDir(dirname(target));
    } catch (error) {
      await unlink(temp.value).catch(() => undefined);
      return err(ioError(name, 'put', error));
    }
    return ok(undefined);
  }

  async putExclusive(name: string, bytes: Uint8Array): Promise<Result<void, StoreError>> {
    assertName(name);
    const temp = await this.writeTemp(name, bytes, 'put-exclusive');
    if (!temp.ok) return temp;
    const target = this.pathOf(name);
    try {
      await this.ensureDir(dirname(target));
      // link(2) fails with EEXIST when the name is taken: an atomic create-if-absent.
      await link(temp.value, target);
    } catch (error) {
      await unlink(temp.value).catch(() => undefined);
      return errnoOf(error).code === 'EEXIST' ? err({ kind: 'exists', name }) : err(ioError(name, 'put-exclusive', error));
    }
    try {
      await unlink(temp.value);
      await fsyncDir(dirname(target));
    } catch (error) {
      return err(ioError(name, 'put-exclusive', error));
    }
    return ok(undefined);
  }

  async get(name: string): Promise<Result<Uint8Array, StoreError>> {
    assertName(name);
    const path = this.pathOf(name);
    try {
      const handle = await open(path, 'r');
      try {
        const info = await handle.stat();
        if (!info.isFile()) return err({ kind: 'not-found', name });
        const out = new Uint8Array(info.size);
        const read = await readFully(handle, out, 0);
        if (read !== info.size) return err({ kind: 'io', name, operation: 'get', code: 'ESHORT', message: `read ${read} of ${info.size} bytes` });
        return ok(out);
      } finally {
        await handle.close();
      }
    } catch (error) {
      return notFoundOr(name, 'get', error);
    }
  }

  async getRange(name: string, offsetBytes: number, lengthBytes: number): Promise<Result<Uint8Array, StoreError>> {
    assertName(name);
    assertInt(offsetBytes, 0, Number.MAX_SAFE_INTEGER, 'offsetBytes');
    assertInt(lengthBytes, 0, Number.MAX_SAFE_INTEGER, 'lengthBytes');
    try {
      const handle = await open(this.pathOf(name), 'r');
      try {
        const info = await handle.stat();
        if (!info.isFile()) return err({ kind: 'not-found', name });
        if (offsetBytes + lengthBytes > info.size) return err({ kind: 'out-of-range', name, offsetBytes, lengthBytes, objectBytes: info.size });
        const out = new Uint8Array(lengthBytes);
        const read = await readFully(handle, out, offsetBytes);
        if (read !== lengthBytes) return err({ kind: 'io', name, operation: 'get-range', code: 'ESHORT', message: `read ${read} of ${lengthBytes} bytes` });
        return ok(out);
      } finally {
        await handle.close();
      }
    } catch (error) {
      return notFoundOr(name, 'get-range', error);
    }
  }

  async list(prefix: string): Promise<Result<readonly string[], StoreError>> {
    assertPrefix(prefix);
    const wantTemps = prefix.startsWith(TEMP_PREFIX);
    // Walk from the deepest folder the prefix names completely.
    const cut = prefix.lastIndexOf('/');
    const startRel = cut < 0 ? '' : prefix.slice(0, cut);
    const names: string[] = [];
    const walk = async (rel: string, depth: number): Promise<void> => {
      assert(depth <= NAME_MAX_SEGMENTS, `folder nesting deeper than ${NAME_MAX_SEGMENTS} at ${rel}`);
      let entries;
      try {
        entries = await readdir(rel === '' ? this.rootDir : join(this.rootDir, rel), { withFileTypes: true });
      } catch (error) {
        if (errnoOf(error).code === 'ENOENT') return;
        throw error;
      }
      for (const entry of entries) {
        const name = rel === '' ? entry.name : `${rel}/${entry.name}`;
        if (!wantTemps && name.startsWith(TEMP_PREFIX)) continue;
        if (entry.isDirectory()) {
          // Descend only where names below could start with the prefix.
          if (prefix.startsWith(`${name}/`) || name.startsWith(prefix)) await walk(name, depth + 1);
        } else if (entry.isFile() && name.startsWith(prefix) && isValidName(name)) {
          names.push(name);
          if (names.length > LIST_MAX_NAMES) throw Object.assign(new Error(`more than ${LIST_MAX_NAMES} names`), { code: 'ETOOMANY' });
        }
      }
    };
    try {
      await walk(startRel, startRel === '' ? 0 : startRel.split('/').length);
    } catch (error) {
      return err(ioError(prefix, 'list', error));
    }
    names.sort();
    return ok(names);
  }

  async delete(name: string): Promise<Result<void, StoreError>> {
    assertName(name);
    const path = this.pathOf(name);
    try {
      await unlink(path);
      await fsyncDir(dirname(path));
    } catch (error) {
      if (errnoOf(error).code === 'ENOENT') return ok(undefined);
      return err(ioError(name, 'delete', error));
    }
    return ok(undefined);
  }

  async exists(name: string): Promise<Result<boolean, StoreError>> {
    assertName(name);
    try {
      return ok((await lstat(this.pathOf(name))).isFile());
    } catch (error) {
      const code = errnoOf(error).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return ok(false);
      return err(ioError(name, 'exists', error));
    }
  }

  private pathOf(name: string): string {
    return join(this.rootDir, ...name.split('/'));
  }

  /** Writes, fsyncs and reads back a temp file; returns its path. Removes it on failure. */
  private async writeTemp(name: string, bytes: Uint8Array, operation: StoreOperation): Promise<Result<string, StoreError>> {
    this.tempSequence += 1;
    const tempDir = join(this.rootDir, 'tmp');
    const tempPath = join(tempDir, `${this.tempTag}-${this.tempSequence}`);
    try {
      await this.ensureDir(tempDir);
      const handle = await open(tempPath, 'wx+');
      let same: boolean;
      try {
        let written = 0;
        for (let step = 0; written < bytes.length; step++) {
          assert(step < IO_MAX_STEPS, `write of ${name} took more than ${IO_MAX_STEPS} steps`);
          const n = Math.min(IO_STEP_BYTES, bytes.length - written);
          const r = await handle.write(bytes, written, n, written);
          written += r.bytesWritten;
        }
        await handle.sync();
        // Read back what was written before it is published (DESIGN.md, Style), a step at a
        // time into one buffer, and one byte more, to see that the file is not longer either.
        // Read-back buffers are reused (a fresh 8 MiB buffer per put costs page faults).
        const spare = this.readBackBuffers.pop() ?? new Uint8Array(IO_STEP_BYTES + 1);
        same = await readsBack(handle, bytes, spare);
        if (this.readBackBuffers.length < READ_BACK_BUFFERS_KEPT) this.readBackBuffers.push(spare);
      } finally {
        await handle.close();
      }
      if (!same) {
        await unlink(tempPath).catch(() => undefined);
        return err({ kind: 'read-back-mismatch', name });
      }
    } catch (error) {
      await unlink(tempPath).catch(() => undefined);
      return err(ioError(name, operation, error));
    }
    return ok(tempPath);
  }

  /** Creates `dir` and its missing parents below the root, fsyncing each new folder's parent. */
  private async ensureDir(dir: string): Promise<void> {
    if (this.knownDirs.has(dir)) return;
    const missing: string[] = [];
    for (let d = dir; !this.knownDirs.has(d); d = dirname(d)) {
      assert(d.startsWith(this.rootDir) && missing.length <= NAME_MAX_SEGMENTS, `folder ${dir} is outside the store root ${this.rootDir}`);
      missing.push(d);
    }
    for (const d of missing.reverse()) {
      try {
        await mkdir(d);
        await fsyncDir(dirname(d));
      } catch (error) {
        if (errnoOf(error).code !== 'EEXIST') throw error;
      }
      this.knownDirs.add(d);
    }
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * @internal (exported for its test) True when the file holds exactly `bytes`, read back a
 * step of at most IO_STEP_BYTES at a time into `spare` when it is long enough.
 */
export async function readsBack(handle: Awaited<ReturnType<typeof open>>, bytes: Uint8Array, spare?: Uint8Array): Promise<boolean> {
  const step = Math.min(IO_STEP_BYTES, bytes.length);
  // One byte more than a step: at the last step it must find the end of the file.
  const back = spare !== undefined && spare.length >= step + 1 ? spare : new Uint8Array(step + 1);
  const expected = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let at = 0; ; at += step) {
    const want = Math.min(step, bytes.length - at);
    const last = at + want === bytes.length;
    const read = await readFully(handle, back, at);
    if (read < want || (last && read !== want) || !expected.subarray(at, at + want).equals(back.subarray(0, want))) return false;
    if (last) return true;
  }
}

/** Reads into `out` from `position` until it is full or the file ends; returns the bytes read. */
async function readFully(handle: Awaited<ReturnType<typeof open>>, out: Uint8Array, position: number): Promise<number> {
  let read = 0;
  for (let step = 0; read < out.length; step++) {
    assert(step < IO_MAX_STEPS, `read took more than ${IO_MAX_STEPS} steps`);
    const n = Math.min(IO_STEP_BYTES, out.length - read);
    const r = await handle.read(out, read, n, position + read);
    if (r.bytesRead === 0) break;
    read += r.bytesRead;
  }
  return read;
}

function notFoundOr(name: string, operation: StoreOperation, error: unknown): Result<never, StoreError> {
  const code = errnoOf(error).code;
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return err({ kind: 'not-found', name });
  return err(ioError(name, operation, error));
}
