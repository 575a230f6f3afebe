/**
 * The CLI's files: every path a command reads or writes is checked before any work starts,
 * and every failure is a one-line usage error naming the option.
 *
 * Rules (issue 14): an input file is a regular file of a bounded size, checked before it
 * is opened (a FIFO would block, /dev/zero would never end); an output folder is new,
 * empty, or one quiescelab wrote (it carries MARKER), so nothing the user stored there is
 * overwritten or deleted; an output file may be replaced only when it is a regular file,
 * never a folder, a symbolic link, a FIFO or a device; files are opened with O_NOFOLLOW
 * and O_NONBLOCK, so a path swapped after the check fails instead of hanging or escaping.
 */

import { accessSync, closeSync, constants, fstatSync, ftruncateSync, lstatSync, mkdirSync, openSync, readdirSync, readSync, statSync, writeSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from './errors.js';
import { VERSION } from './version.js';

/** The file that marks a folder quiescelab wrote (and so may write again). */
export const MARKER = '.quiescelab-report';
const MARKER_MAX_BYTES = 4096;
const MAX_DEPTH = 256;
const MiB = 1024 * 1024;

const codeOf = (error: unknown): string => (error as NodeJS.ErrnoException).code ?? String(error);

/** What a non-regular file is, for the message. */
export function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'a regular file';
}

/** stat (or lstat) that is undefined for a missing path; any other failure names the option. */
function statOrMissing(path: string, option: string, follow = true): Stats | undefined {
  try {
    return follow ? statSync(path) : lstatSync(path);
  } catch (error) {
    const code = codeOf(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined; // ENOTDIR: a parent is a file, which the caller names
    throw new UsageError(`${option}: cannot read '${path}': ${code}`);
  }
}

function assertWritable(dir: string, option: string): void {
  try {
    accessSync(dir, constants.W_OK);
  } catch (error) {
    throw new UsageError(`${option}: '${dir}' is not writable: ${codeOf(error)}`);
  }
}

/** A missing folder can be made when its nearest existing ancestor is a writable folder. */
function assertCreatable(dir: string, option: string): void {
  for (let d = dir, depth = 0; ; d = dirname(d), depth++) {
    if (depth > MAX_DEPTH) throw new UsageError(`${option}: the path is more than ${MAX_DEPTH} folders deep`);
    const parent = dirname(d);
    if (parent === d) throw new UsageError(`${option}: cannot create '${dir}'`);
    const st = statOrMissing(parent, option);
    if (st === undefined) continue;
    if (!st.isDirectory()) throw new UsageError(`${option}: '${parent}' exists and is not a folder`);
    assertWritable(parent, option);
    return;
  }
}

/** Opens a file that must be regular, without blocking on a FIFO; `flags` adds O_NOFOLLOW and the like. */
function openRegular(path: string, flags: number, what: string, mode = 0o666): number {
  let fd: number;
  try {
    fd = openSync(path, flags | constants.O_NONBLOCK, mode);
  } catch (error) {
    const code = codeOf(error);
    const why = code === 'ELOOP' ? 'is a symbolic link' : code === 'ENXIO' ? 'is not a regular file' : code === 'EISDIR' ? 'is a folder' : `cannot be opened: ${code}`;
    throw new UsageError(`${what}: '${path}' ${why}`);
  }
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    throw new UsageError(`${what}: '${path}' is ${kindOf(st)}, not a regular file`);
  }
  return fd;
}

/** Reads a whole regular file of at most `maxBytes`; its type and size are checked before it is opened. */
export function readInputFile(file: string, maxBytes: number, what: string): Buffer {
  const st = statOrMissing(file, file);
  if (st === undefined) throw new UsageError(`${file}: cannot read: ENOENT`);
  assertInputStat(st, file, maxBytes, what);
  const fd = openRegular(file, constants.O_RDONLY, file);
  try {
    const opened = fstatSync(fd);
    assertInputStat(opened, file, maxBytes, what);
    // One byte more than its size: a file that grows while it is read is refused, not cut.
    const buffer = Buffer.alloc(opened.size + 1);
    let done = 0;
    for (let n = 1; n > 0 && done < buffer.length; done += n) n = readSync(fd, buffer, done, buffer.length - done, null);
    if (done !== opened.size) throw new UsageError(`${file}: changed while it was read`);
    return buffer.subarray(0, done);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`${file}: cannot read: ${codeOf(error)}`);
  } finally {
    closeSync(fd);
  }
}

function assertInputStat(st: Stats, file: string, maxBytes: number, what: string): void {
  if (!st.isFile()) throw new UsageError(`${file}: is ${kindOf(st)}, not a regular file`);
  if (st.size > maxBytes) throw new UsageError(`${file}: ${(st.size / MiB).toFixed(1)} MiB is more than the ${maxBytes / MiB} MiB ${what} may have`);
}

/** Is `dir` a folder quiescelab wrote: its marker is a small regular file (not a link) naming quiescelab. */
function isMarked(dir: string): boolean {
  const path = join(dir, MARKER);
  const st = statOrMissing(path, '--out', false);
  if (st === undefined || !st.isFile() || st.size > MARKER_MAX_BYTES) return false;
  try {
    const fd = openRegular(path, constants.O_RDONLY | constants.O_NOFOLLOW, '--out');
    const buffer = Buffer.alloc(MARKER_MAX_BYTES);
    try {
      const value = JSON.parse(buffer.subarray(0, readSync(fd, buffer, 0, MARKER_MAX_BYTES, 0)).toString('utf8')) as unknown;
      return typeof value === 'object' && value !== null && (value as { tool?: unknown }).tool === 'quiescelab';
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

/**
 * Checks, creating nothing, that `raw` may be an output folder: new (its parent can be
 * made), empty, or marked. Returns its absolute path.
 */
export function checkOutDir(raw: string, option: string): string {
  if (raw.trim() === '') throw new UsageError(`${option}: expected a folder, got '' (give '.' for the current folder)`);
  const dir = resolve(raw);
  const st = statOrMissing(dir, option);
  if (st === undefined) {
    assertCreatable(dir, option);
    return dir;
  }
  if (!st.isDirectory()) throw new UsageError(`${option}: '${dir}' exists and is not a folder`);
  assertWritable(dir, option);
  if (listDir(dir, option).length > 0 && !isMarked(dir)) {
    throw new UsageError(`${option}: '${dir}' is not empty and quiescelab did not write it (no ${MARKER} file): give a new or empty folder`);
  }
  return dir;
}

/** The names in a folder; a failure names the option. */
export function listDir(dir: string, option: string): string[] {
  try {
    return readdirSync(dir);
  } catch (error) {
    throw new UsageError(`${option}: cannot list '${dir}': ${codeOf(error)}`);
  }
}

/** Checks, creating nothing, that `raw` names a new or empty real folder (not a symbolic link). Returns its absolute path. */
export function checkEmptyDir(raw: string, option: string): string {
  if (raw.trim() === '') throw new UsageError(`${option}: expected a folder, got ''`);
  const dir = resolve(raw);
  const st = statOrMissing(dir, option, false);
  if (st === undefined) {
    assertCreatable(dir, option);
    return dir;
  }
  if (!st.isDirectory()) throw new UsageError(`${option}: '${dir}' is ${kindOf(st)}, not a folder`);
  assertWritable(dir, option);
  if (listDir(dir, option).length > 0) throw new UsageError(`${option}: '${dir}' is not empty (nothing already stored is overwritten)`);
  return dir;
}

/**
 * Creates `dir` and its missing parents one level at a time (Node's recursive mkdirSync
 * spins forever on some virtual file systems, /proc), each checked with lstat to be a real
 * folder. Returns the folders it created, outermost first.
 */
export function makeDirs(dir: string, option: string): string[] {
  const missing: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    if (missing.length > MAX_DEPTH) throw new UsageError(`${option}: the path is more than ${MAX_DEPTH} folders deep`);
    const st = statOrMissing(d, option);
    if (st !== undefined) {
      if (!st.isDirectory()) throw new UsageError(`${option}: '${d}' exists and is not a folder`);
      break;
    }
    if (dirname(d) === d) break;
    missing.push(d);
  }
  missing.reverse();
  for (const d of missing) {
    try {
      mkdirSync(d);
    } catch (error) {
      throw new UsageError(`${option}: cannot create '${d}': ${codeOf(error)}`);
    }
    const st = statOrMissing(d, option, false);
    if (st === undefined || !st.isDirectory()) throw new UsageError(`${option}: '${d}' was replaced while it was created`);
  }
  return missing;
}

/** Creates the output folder checked by checkOutDir, and marks it and every folder made for it. */
export function claimOutDir(dir: string, option: string): void {
  const created = makeDirs(dir, option);
  const marker = `${JSON.stringify({ tool: 'quiescelab', version: VERSION })}\n`;
  for (const d of created) writeOutput(join(d, MARKER), marker, option);
  if (!created.includes(dir) && !isMarked(dir)) {
    if (listDir(dir, option).length > 0) throw new UsageError(`${option}: '${dir}' is no longer empty (nothing written)`);
    writeOutput(join(dir, MARKER), marker, option);
  }
}

/**
 * Checks, creating nothing, that `raw` may be written as an output file: a new file in an
 * existing writable folder (or in `madeLater`, the --out folder made before it is
 * written), or a regular file to replace. Returns its absolute path.
 */
export function checkOutputFile(raw: string, option: string, madeLater?: string): string {
  if (raw.trim() === '') throw new UsageError(`${option}: expected a file name, got ''`);
  const path = resolve(raw);
  const st = statOrMissing(path, option, false);
  if (st !== undefined) {
    if (!st.isFile()) throw new UsageError(`${option}: '${path}' is ${kindOf(st)}, not a regular file`);
    try {
      accessSync(path, constants.W_OK);
    } catch (error) {
      throw new UsageError(`${option}: '${path}' is not writable: ${codeOf(error)}`);
    }
    return path;
  }
  const parent = dirname(path);
  if (madeLater !== undefined && parent === madeLater) return path;
  const pst = statOrMissing(parent, option);
  if (pst === undefined) throw new UsageError(`${option}: the folder '${parent}' does not exist`);
  if (!pst.isDirectory()) throw new UsageError(`${option}: '${parent}' is not a folder`);
  assertWritable(parent, option);
  return path;
}

/** Writes (or replaces) a regular file: never through a symbolic link, never blocking on a FIFO. */
export function writeOutput(path: string, content: string | Uint8Array, what: string): void {
  const fd = openRegular(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW, what);
  try {
    const bytes = typeof content === 'string' ? Buffer.from(content) : content;
    ftruncateSync(fd, 0);
    for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, bytes.length - done, done);
  } catch (error) {
    throw new UsageError(`${what}: cannot write '${path}': ${codeOf(error)}`);
  } finally {
    closeSync(fd);
  }
}
