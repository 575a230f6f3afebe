/**
 * The local-directory FileWriter: file-level restore into a real directory (a named I/O
 * adapter of DESIGN.md; its in-memory twin is MemoryFileWriter in file-writer.ts).
 *
 * Containment does not rest on the restore's sanitising alone. Every call checks, again:
 * each component is a fixed point of the sanitising rule (no separator, not '.' or '..',
 * no NUL, at most 255 bytes); the resolved path lies strictly inside the root's real path
 * and is exactly as many levels deep as it has components; the real path of its folder is
 * that folder's own path (a folder swapped for a symlink, even during the restore, is
 * refused), checked again after a folder or file is made; a directory that already
 * exists is accepted only when it is a real directory (lstat: never a symlink); files are
 * created with O_CREAT|O_EXCL|O_NOFOLLOW, which refuses an existing file and never follows
 * a symlink, and a file that still landed elsewhere (a swap between the check and the
 * open) is found through its descriptor and removed. The root itself may not be a
 * symlink. Holes are not written: the file is cut to its size at close, so sparse guest
 * files stay sparse where the target supports it.
 *
 * Leaves out: ownership, permissions and times (the guest format has none), fsync of the
 * restored files (a restore that is interrupted is simply run again), Windows targets.
 */

import { constants } from 'node:fs';
import { lstat, mkdir, open, readlink, realpath, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
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

  /** Creates the target root when missing and resolves its real path; a root that is a symlink is refused. */
  static async create(root: string): Promise<Result<LocalDirFileWriter, FileWriterError>> {
    try {
      await mkdir(root, { recursive: true });
      const st = await lstat(root);
      if (!st.isDirectory()) return err({ kind: st.isSymbolicLink() ? 'exists' : 'not-a-directory', path: root });
      return ok(new LocalDirFileWriter(await realpath(root)));
    } catch (e) {
      return err({ kind: 'io', path: root, reason: message(e) });
    }
  }

  /** Refuses `full` when the real path of its folder is not that folder's path: a symlink on the way. */
  private async folderProblem(parts: readonly string[], full: string): Promise<FileWriterError | undefined> {
    const folder = dirname(full);
    try {
      const real = await realpath(folder);
      return real === folder ? undefined : { kind: 'unsafe-name', parts, reason: `its folder '${folder}' resolves to '${real}'` };
    } catch (e) {
      return { kind: 'io', path: folder, reason: message(e) };
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
    const before = await this.folderProblem(parts, path.value);
    if (before !== undefined) return err(before);
    try {
      await mkdir(path.value);
    } catch (e) {
      if (code(e) !== 'EEXIST') return err({ kind: 'io', path: path.value, reason: message(e) });
    }
    try {
      const st = await lstat(path.value);
      if (!st.isDirectory() || st.isSymbolicLink()) return err({ kind: 'exists', path: path.value });
      const real = await realpath(path.value);
      return real === path.value ? ok(undefined) : err({ kind: 'unsafe-name', parts, reason: `resolves to '${real}'` });
    } catch (e) {
      return err({ kind: 'io', path: path.value, reason: message(e) });
    }
  }

  /** Opens a new file at `full` without following a symlink, and checks it landed there (a swap between check and open). */
  private async openNew(parts: readonly string[], full: string): Promise<Result<FileHandle, FileWriterError>> {
    const before = await this.folderProblem(parts, full);
    if (before !== undefined) return err(before);
    let handle: FileHandle;
    try {
      handle = await open(full, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o666);
    } catch (e) {
      const c = code(e);
      return err(c === 'EEXIST' || c === 'ELOOP' ? { kind: 'exists', path: full } : { kind: 'io', path: full, reason: message(e) });
    }
    const landed = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => full);
    const after = await this.folderProblem(parts, full);
    if (landed === full && after === undefined) return ok(handle);
    await handle.close().catch(() => undefined);
    await unlink(landed).catch(() => undefined); // made by this open (O_EXCL): ours to remove
    return err(after ?? { kind: 'unsafe-name', parts, reason: `the file landed at '${landed}'` });
  }

  async createFile(parts: readonly string[], sizeBytes: number): Promise<Result<FileSink, FileWriterError>> {
    const path = this.pathOf(parts);
    if (!path.ok) return path;
    const full = path.value;
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) return err({ kind: 'invalid-write', path: full, reason: `size ${sizeBytes}` });
    const opened = await this.openNew(parts, full);
    if (!opened.ok) return opened;
    const handle = opened.value;
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
