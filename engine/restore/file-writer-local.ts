/**
 * The local-directory FileWriter: file-level restore into a real directory (a named I/O
 * adapter of DESIGN.md; its in-memory twin is MemoryFileWriter in file-writer.ts).
 *
 * Containment does not rest on the restore's sanitising alone. Every call checks, again:
 * each component is a fixed point of the sanitising rule (no separator, not '.' or '..',
 * no NUL, at most 255 bytes); the resolved path lies strictly inside the root's real path
 * and is exactly as many levels deep as it has components; a directory that already
 * exists is accepted only when it is a real directory (lstat: never a symlink); files are
 * created with O_CREAT|O_EXCL ('wx'), which refuses an existing file and does not follow
 * a symlink. Holes are not written: the file is cut to its size at close, so sparse guest
 * files stay sparse where the target supports it.
 *
 * Leaves out: ownership, permissions and times (the guest format has none), fsync of the
 * restored files (a restore that is interrupted is simply run again), Windows targets.
 */

import { lstat, mkdir, open, realpath, unlink, type FileHandle } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { err, ok, type Result } from '../../core/result.js';
import { partsProblem, type FileSink, type FileWriter, type FileWriterError } from './file-writer.js';

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function code(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e) {
    const c = e.code;
    return typeof c === 'string' ? c : undefined;
  }
  return undefined;
}

export class LocalDirFileWriter implements FileWriter {
  private constructor(readonly root: string) {}

  /** Creates the target root when missing and resolves its real path (symlinks included). */
  static async create(root: string): Promise<Result<LocalDirFileWriter, FileWriterError>> {
    try {
      await mkdir(root, { recursive: true });
      return ok(new LocalDirFileWriter(await realpath(root)));
    } catch (e) {
      return err({ kind: 'io', path: root, reason: message(e) });
    }
  }

  /** The absolute path of `parts`, or why it is refused. */
  pathOf(parts: readonly string[]): Result<string, FileWriterError> {
    const problem = partsProblem(parts);
    if (problem !== undefined) return err({ kind: 'unsafe-name', parts, reason: problem });
    const full = resolve(this.root, ...parts);
    const rel = relative(this.root, full);
    if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel) || rel.split(sep).length !== parts.length) {
      return err({ kind: 'unsafe-name', parts, reason: `resolves to '${full}', not a path of ${parts.length} levels inside '${this.root}'` });
    }
    return ok(full);
  }

  async mkdir(parts: readonly string[]): Promise<Result<void, FileWriterError>> {
    const path = this.pathOf(parts);
    if (!path.ok) return path;
    try {
      await mkdir(path.value);
      return ok(undefined);
    } catch (e) {
      if (code(e) !== 'EEXIST') return err({ kind: 'io', path: path.value, reason: message(e) });
    }
    try {
      const st = await lstat(path.value);
      return st.isDirectory() && !st.isSymbolicLink() ? ok(undefined) : err({ kind: 'exists', path: path.value });
    } catch (e) {
      return err({ kind: 'io', path: path.value, reason: message(e) });
    }
  }

  async createFile(parts: readonly string[], sizeBytes: number): Promise<Result<FileSink, FileWriterError>> {
    const path = this.pathOf(parts);
    if (!path.ok) return path;
    const full = path.value;
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) return err({ kind: 'invalid-write', path: full, reason: `size ${sizeBytes}` });
    let handle: FileHandle;
    try {
      handle = await open(full, 'wx');
    } catch (e) {
      return err(code(e) === 'EEXIST' ? { kind: 'exists', path: full } : { kind: 'io', path: full, reason: message(e) });
    }
    let isOpen = true;
    let completed = false;
    const closeQuietly = async (): Promise<void> => {
      if (!isOpen) return;
      isOpen = false;
      try {
        await handle.close();
      } catch {
        // closing a handle we abandon: nothing more to do
      }
    };
    const sink: FileSink = {
      write: async (offsetBytes, data) => {
        if (!isOpen) return err({ kind: 'invalid-write', path: full, reason: 'file is closed' });
        if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0 || offsetBytes + data.length > sizeBytes) {
          return err({ kind: 'invalid-write', path: full, reason: `write of ${data.length} bytes at ${offsetBytes} past the size ${sizeBytes}` });
        }
        try {
          // FileHandle.write may write less than asked; each pass writes at least one byte or throws.
          for (let done = 0; done < data.length;) {
            const { bytesWritten } = await handle.write(data, done, data.length - done, offsetBytes + done);
            if (bytesWritten <= 0) return err({ kind: 'io', path: full, reason: 'write made no progress' });
            done += bytesWritten;
          }
          return ok(undefined);
        } catch (e) {
          return err({ kind: 'io', path: full, reason: message(e) });
        }
      },
      close: async () => {
        if (!isOpen) return err({ kind: 'invalid-write', path: full, reason: 'file is closed' });
        try {
          await handle.truncate(sizeBytes);
          isOpen = false;
          await handle.close();
          completed = true;
          return ok(undefined);
        } catch (e) {
          await closeQuietly();
          return err({ kind: 'io', path: full, reason: message(e) });
        }
      },
      abort: async () => {
        if (completed) return;
        await closeQuietly();
        try {
          await unlink(full);
        } catch {
          // already gone
        }
      },
    };
    return ok(sink);
  }
}
