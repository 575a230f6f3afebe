/**
 * The SQLite VFS of the guest: SQLite's file calls (open, read, write, sync, truncate,
 * delete, size, access) go to a mounted guest FileSystem (sim/guest/file-system.ts) and so
 * through its page cache, its journal and the virtual disk's volatile cache. A `jSync` is
 * the guest's fsync (write back the file's dirty pages, commit the file system journal,
 * flush the disk), so SQLite's durability rests on exactly the stack the simulator models.
 *
 * Models:
 * - Synchronous calls (the non-Asyncify build); every method returns a SQLite result code
 *   and never throws. Short reads zero-fill and return SQLITE_IOERR_SHORT_READ. A file
 *   system error maps to the matching SQLITE_IOERR_* code ('no-space' to SQLITE_FULL).
 * - Deterministic randomness and time: xRandomness draws from the app's PRNG stream and
 *   xCurrentTimeInt64 reads the virtual clock (time 0 = 2024-01-01T00:00:00Z). SQLite seeds
 *   its internal PRNG once from the *default* VFS, so `beginOperation()` makes this VFS the
 *   default and asks SQLite to reseed: every random byte SQLite uses (WAL salts, rollback
 *   journal nonces) comes from the app's stream, whatever ran before in the process.
 * - A mutation interceptor: before every write, sync, truncate and delete that would reach
 *   the file system it may answer 'skip' (the call reports success and does nothing: a
 *   lying fsync, a lost write) or 'power-cut'. From then on nothing reaches the file system
 *   (that call and every later one fail with an I/O error), as if power was lost just
 *   before that call; the caller then powers the guest off. `kill()` does the same for a
 *   power loss that comes from outside (the app's crash()).
 * - Sector size 4096 (the file system's block). Device characteristics: only
 *   SQLITE_IOCAP_POWERSAFE_OVERWRITE, as SQLite's unix VFS reports by default. It holds
 *   here: a torn disk write keeps a prefix of the new bytes and old bytes after it, inside
 *   the written range only, and the file system rewrites a shared block with the same
 *   bytes for the part an earlier commit made durable. So SQLite does not pad a WAL commit
 *   to the sector boundary. No atomic-write or safe-append claims (the 'writeback' data
 *   mode can show stale blocks after a crash).
 * - Files SQLite opens without a name (temporary files) live in memory.
 *
 * Each instance registers under its own name (a process-wide counter: names never reach
 * the disk or the history) and unregisters on release; wa-sqlite frees nothing of the C
 * struct, a few hundred bytes per app instance.
 *
 * Leaves out: locking (the app uses locking_mode=EXCLUSIVE, one connection per database),
 * shared memory (so WAL needs that exclusive mode), file controls, xSleep.
 */

import { FacadeVFS, type WasmBytes, type WasmValue } from '@journeyapps/wa-sqlite/src/FacadeVFS.js';
import { assert } from '../../../core/assert.js';
import type { Clock } from '../../../core/clock.js';
import type { Prng } from '../../../core/prng.js';
import type { FileHandle, FileSystem, FsError } from '../../guest/file-system.js';
import type { SqliteModule } from './wasm-loader.js';

// SQLite result codes and flags (sqlite3.h).
const SQLITE_OK = 0;
const SQLITE_IOERR = 10;
const SQLITE_FULL = 13;
const SQLITE_CANTOPEN = 14;
const SQLITE_IOERR_READ = 266;
const SQLITE_IOERR_SHORT_READ = 522;
const SQLITE_IOERR_WRITE = 778;
const SQLITE_IOERR_FSYNC = 1034;
const SQLITE_IOERR_TRUNCATE = 1546;
const SQLITE_IOERR_FSTAT = 1802;
const SQLITE_IOERR_DELETE = 2570;
const SQLITE_IOERR_ACCESS = 3338;
const SQLITE_IOERR_DELETE_NOENT = 5898;
const SQLITE_OPEN_DELETEONCLOSE = 0x8;
const SQLITE_OPEN_CREATE = 0x4;
const SQLITE_ACCESS_EXISTS = 0;
const SQLITE_IOCAP_POWERSAFE_OVERWRITE = 0x1000;

/** The file system's block: SQLite pads WAL commits to it when it syncs. */
export const VFS_SECTOR_BYTES = 4096;
/** Julian-day epoch of the Unix epoch in milliseconds (what xCurrentTimeInt64 counts from). */
const UNIX_EPOCH_JULIAN_MS = 24405875n * 8640000n;
/** Virtual time 0 as Unix milliseconds: 2024-01-01T00:00:00Z. */
const VIRTUAL_EPOCH_UNIX_MS = 1_704_067_200_000n;
/** VFS instances registered at once (each app instance holds one until it closes). */
const MAX_REGISTERED = 10_000;
/** Largest in-memory temporary file. */
const MAX_MEMORY_FILE_BYTES = 256 * 1024 * 1024;

export type VfsMutationKind = 'write' | 'sync' | 'truncate' | 'delete';

/** A call about to change the file system. */
export interface VfsMutation {
  /** 0 for the first mutating call of this VFS instance, then 1, 2, ... */
  readonly seq: number;
  readonly kind: VfsMutationKind;
  readonly path: string;
  /** Write offset or truncate size (0 for sync and delete). */
  readonly offsetBytes: number;
  /** Bytes written (0 for the others). */
  readonly lengthBytes: number;
}

/**
 * 'proceed': do it. 'power-cut': power is lost just before this call (see the header).
 * 'skip': report success having done nothing (fault injection: a lying fsync, a lost write).
 */
export type MutationVerdict = 'proceed' | 'power-cut' | 'skip';
export type MutationInterceptor = (mutation: VfsMutation) => MutationVerdict;

/** What the VFS did, for cost models. */
export interface VfsCounters {
  reads: number;
  readBytes: number;
  writes: number;
  writeBytes: number;
  syncs: number;
  truncates: number;
  deletes: number;
  /** Calls that returned an error code. */
  errors: number;
}

export interface GuestVfsOptions {
  readonly fs: FileSystem;
  readonly prng: Prng;
  readonly clock: Clock;
  readonly interceptMutation?: MutationInterceptor;
}

type OpenFile =
  | { readonly kind: 'fs'; readonly path: string; readonly handle: FileHandle; readonly deleteOnClose: boolean }
  | { readonly kind: 'memory'; data: Uint8Array; sizeBytes: number };

let nextVfsNumber = 1;
let registeredCount = 0;

/** Guest VFS instances registered and not yet released (each pins its world in memory). */
export function registeredVfsCount(): number {
  return registeredCount;
}

export function zeroCounters(): VfsCounters {
  return { reads: 0, readBytes: 0, writes: 0, writeBytes: 0, syncs: 0, truncates: 0, deletes: 0, errors: 0 };
}

export class GuestVfs extends FacadeVFS {
  readonly counters: VfsCounters = zeroCounters();
  private readonly m: SqliteModule;
  private readonly fs: FileSystem;
  private readonly prng: Prng;
  private readonly clock: Clock;
  private readonly intercept: MutationInterceptor | undefined;
  private readonly files = new Map<number, OpenFile>();
  /** The registered sqlite3_vfs struct (also wa-sqlite's callback key). */
  private readonly vfsPtr: number;
  private mutationSeq = 0;
  private powered = true;
  private released = false;

  private constructor(module: SqliteModule, name: string, options: GuestVfsOptions) {
    super(name, module);
    this.mxPathname = 512;
    this.m = module;
    this.fs = options.fs;
    this.prng = options.prng;
    this.clock = options.clock;
    this.intercept = options.interceptMutation;
    assert(registeredCount < MAX_REGISTERED, `more than ${MAX_REGISTERED} guest VFS instances registered`);
    const rc = module.vfs_register(this, false);
    assert(rc === SQLITE_OK, `vfs_register failed with ${rc}`);
    registeredCount++;
    const zName = new TextEncoder().encode(`${name}\0`);
    const zPtr = module._sqlite3_malloc(zName.length);
    module.HEAPU8.set(zName, zPtr);
    this.vfsPtr = module._sqlite3_vfs_find(zPtr);
    module._sqlite3_free(zPtr);
    assert(this.vfsPtr !== 0 && module.getCallback(this.vfsPtr) === this, `VFS ${name} not found after registration`);
  }

  /** Registers a new VFS over `options.fs` under a fresh name (see `name`). */
  static create(module: SqliteModule, options: GuestVfsOptions): GuestVfs {
    return new GuestVfs(module, `quiescelab-guest-${nextVfsNumber++}`, options);
  }

  /** False once power was cut (by the interceptor or `kill`). */
  get isPowered(): boolean {
    return this.powered;
  }

  /**
   * Call before each piece of SQLite work (open, a transaction, a checkpoint): makes this
   * VFS the default and has SQLite reseed its PRNG from it on its next use.
   */
  beginOperation(): void {
    assert(!this.released, 'VFS used after release');
    this.m._sqlite3_vfs_register(this.vfsPtr, 1);
    this.m._sqlite3_randomness(0, 0);
  }

  /** Power loss: nothing reaches the file system any more; every call fails. */
  kill(): void {
    this.powered = false;
  }

  /** Unregisters; call after the connection using it is closed. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.files.clear();
    this.m._sqlite3_vfs_unregister(this.vfsPtr);
    this.m.deleteCallback(this.vfsPtr);
    registeredCount--;
  }

  /** The live size of `path` when SQLite has it open (undefined otherwise). */
  openFileSize(path: string): number | undefined {
    if (!this.powered) return undefined;
    for (const file of this.files.values()) {
      if (file.kind !== 'fs' || file.path !== path) continue;
      const size = this.fs.size(file.handle);
      return size.ok ? size.value : undefined;
    }
    return undefined;
  }

  // -------------------------------------------------------------------------------------
  // Determinism

  override xRandomness(_pVfs: number, nByte: number, pCharOut: number): number {
    const bytes = this.prng.fill(new Uint8Array(nByte));
    this.m.HEAPU8.set(bytes, pCharOut);
    return nByte;
  }

  override xCurrentTimeInt64(_pVfs: number, pTime: number): number {
    const unixMs = VIRTUAL_EPOCH_UNIX_MS + BigInt(Math.floor(this.clock.nowUs() / 1000));
    new DataView(this.m.HEAPU8.buffer).setBigInt64(pTime, UNIX_EPOCH_JULIAN_MS + unixMs, true);
    return SQLITE_OK;
  }

  // -------------------------------------------------------------------------------------
  // Files

  /*
   * xRead/xWrite are the hot path: FacadeVFS wraps pData in a proxy object per call (it
   * survives a wasm memory growth). Nothing between here and the file system's copy can
   * grow the memory, so a plain view of HEAPU8 is safe and much cheaper.
   */
  override xRead(pFile: number, pData: number, iAmt: number, iOffsetLo: number, iOffsetHi: number): number {
    return this.jRead(pFile, this.m.HEAPU8.subarray(pData, pData + iAmt), offset64(iOffsetLo, iOffsetHi));
  }

  override xWrite(pFile: number, pData: number, iAmt: number, iOffsetLo: number, iOffsetHi: number): number {
    return this.jWrite(pFile, this.m.HEAPU8.subarray(pData, pData + iAmt), offset64(iOffsetLo, iOffsetHi));
  }

  override jOpen(filename: string | null, pFile: number, flags: number, pOutFlags: WasmValue): number {
    if (!this.powered) return this.fail(SQLITE_CANTOPEN);
    if (filename === null || filename === '') {
      this.files.set(pFile, { kind: 'memory', data: new Uint8Array(0), sizeBytes: 0 });
    } else {
      const opened = this.fs.open(filename, { create: (flags & SQLITE_OPEN_CREATE) !== 0 });
      if (!opened.ok) return this.fail(SQLITE_CANTOPEN);
      this.files.set(pFile, { kind: 'fs', path: filename, handle: opened.value, deleteOnClose: (flags & SQLITE_OPEN_DELETEONCLOSE) !== 0 });
    }
    pOutFlags.setInt32(0, flags, true);
    return SQLITE_OK;
  }

  override jClose(pFile: number): number {
    const file = this.files.get(pFile);
    this.files.delete(pFile);
    if (file?.kind !== 'fs' || !this.powered) return SQLITE_OK;
    this.fs.close(file.handle);
    if (file.deleteOnClose) return this.jDelete(file.path, 0);
    return SQLITE_OK;
  }

  override jRead(pFile: number, pData: WasmBytes, iOffset: number): number {
    const file = this.files.get(pFile);
    if (file === undefined || !this.powered) return this.fail(SQLITE_IOERR_READ);
    const want = pData.byteLength;
    let got: Uint8Array;
    if (file.kind === 'memory') {
      got = file.data.subarray(Math.min(iOffset, file.sizeBytes), Math.min(iOffset + want, file.sizeBytes));
    } else {
      const read = this.fs.read(file.handle, iOffset, want);
      if (!read.ok) return this.fail(SQLITE_IOERR_READ);
      got = read.value;
    }
    this.counters.reads++;
    this.counters.readBytes += got.length;
    pData.set(got, 0);
    if (got.length < want) {
      pData.fill(0, got.length);
      return SQLITE_IOERR_SHORT_READ;
    }
    return SQLITE_OK;
  }

  override jWrite(pFile: number, pData: WasmBytes, iOffset: number): number {
    const file = this.files.get(pFile);
    if (file === undefined || !this.powered) return this.fail(SQLITE_IOERR_WRITE);
    // pData views wasm memory, which SQLite reuses. The file system copies what it keeps
    // before write() returns (and nothing here can grow the wasm memory meanwhile), so a
    // view is enough; the memory file copies too.
    const data = pData.subarray(0, pData.byteLength);
    if (file.kind === 'memory') return this.writeMemory(file, iOffset, data);
    const verdict = this.mutate('write', file.path, iOffset, data.length);
    if (verdict !== 'proceed') return verdict === 'skip' ? SQLITE_OK : this.fail(SQLITE_IOERR_WRITE);
    const written = this.fs.write(file.handle, iOffset, data);
    if (!written.ok) return this.fail(writeError(written.error));
    if (written.value < data.length) return this.fail(SQLITE_FULL);
    this.counters.writes++;
    this.counters.writeBytes += data.length;
    return SQLITE_OK;
  }

  override jTruncate(pFile: number, size: number): number {
    const file = this.files.get(pFile);
    if (file === undefined || !this.powered) return this.fail(SQLITE_IOERR_TRUNCATE);
    if (file.kind === 'memory') {
      if (size < file.sizeBytes) file.data.fill(0, size, file.sizeBytes);
      file.sizeBytes = Math.min(file.sizeBytes, size);
      return SQLITE_OK;
    }
    const verdict = this.mutate('truncate', file.path, size, 0);
    if (verdict !== 'proceed') return verdict === 'skip' ? SQLITE_OK : this.fail(SQLITE_IOERR_TRUNCATE);
    const done = this.fs.truncate(file.handle, size);
    if (!done.ok) return this.fail(SQLITE_IOERR_TRUNCATE);
    this.counters.truncates++;
    return SQLITE_OK;
  }

  override jSync(pFile: number): number {
    const file = this.files.get(pFile);
    if (file === undefined || !this.powered) return this.fail(SQLITE_IOERR_FSYNC);
    if (file.kind === 'memory') return SQLITE_OK;
    const verdict = this.mutate('sync', file.path, 0, 0);
    if (verdict !== 'proceed') return verdict === 'skip' ? SQLITE_OK : this.fail(SQLITE_IOERR_FSYNC);
    const done = this.fs.fsync(file.handle);
    if (!done.ok) return this.fail(SQLITE_IOERR_FSYNC);
    this.counters.syncs++;
    return SQLITE_OK;
  }

  override jFileSize(pFile: number, pSize: WasmValue): number {
    const file = this.files.get(pFile);
    if (file === undefined || !this.powered) return this.fail(SQLITE_IOERR_FSTAT);
    let size: number;
    if (file.kind === 'memory') size = file.sizeBytes;
    else {
      const got = this.fs.size(file.handle);
      if (!got.ok) return this.fail(SQLITE_IOERR_FSTAT);
      size = got.value;
    }
    pSize.setBigInt64(0, BigInt(size), true);
    return SQLITE_OK;
  }

  override jDelete(filename: string, syncDir: number): number {
    if (!this.powered) return this.fail(SQLITE_IOERR_DELETE);
    const verdict = this.mutate('delete', filename, 0, 0);
    if (verdict !== 'proceed') return verdict === 'skip' ? SQLITE_OK : this.fail(SQLITE_IOERR_DELETE);
    const done = this.fs.unlink(filename);
    if (!done.ok) return done.error.kind === 'not-found' ? SQLITE_IOERR_DELETE_NOENT : this.fail(SQLITE_IOERR_DELETE);
    this.counters.deletes++;
    // Syncing the directory = committing the unlink: the file system journal commits on sync.
    if (syncDir !== 0 && !this.fs.sync().ok) return this.fail(SQLITE_IOERR_DELETE);
    return SQLITE_OK;
  }

  override jAccess(filename: string, flags: number, pResOut: WasmValue): number {
    if (!this.powered) return this.fail(SQLITE_IOERR_ACCESS);
    const stat = this.fs.stat(filename);
    // As the unix VFS: for ACCESS_EXISTS an empty regular file does not count.
    const exists = stat.ok && (flags !== SQLITE_ACCESS_EXISTS || stat.value.type === 'dir' || stat.value.sizeBytes > 0);
    pResOut.setInt32(0, exists ? 1 : 0, true);
    return SQLITE_OK;
  }

  override jSectorSize(): number {
    return VFS_SECTOR_BYTES;
  }

  override jDeviceCharacteristics(): number {
    return SQLITE_IOCAP_POWERSAFE_OVERWRITE;
  }

  // -------------------------------------------------------------------------------------

  /** Asks the interceptor: 'power-cut' also turns the power off. */
  private mutate(kind: VfsMutationKind, path: string, offsetBytes: number, lengthBytes: number): MutationVerdict {
    const seq = this.mutationSeq++;
    const verdict = this.intercept?.({ seq, kind, path, offsetBytes, lengthBytes }) ?? 'proceed';
    if (verdict === 'power-cut') this.powered = false;
    return verdict;
  }

  private writeMemory(file: Extract<OpenFile, { kind: 'memory' }>, offset: number, data: Uint8Array): number {
    const end = offset + data.length;
    if (end > MAX_MEMORY_FILE_BYTES) return this.fail(SQLITE_FULL);
    if (end > file.data.length) {
      const grown = new Uint8Array(Math.max(end, file.data.length * 2));
      grown.set(file.data.subarray(0, file.sizeBytes));
      file.data = grown;
    }
    file.data.set(data, offset);
    file.sizeBytes = Math.max(file.sizeBytes, end);
    return SQLITE_OK;
  }

  private fail(code: number): number {
    this.counters.errors++;
    return code;
  }
}

/** A 64-bit offset Emscripten passed as two signed 32-bit halves. */
function offset64(lo: number, hi: number): number {
  return hi * 0x1_0000_0000 + (lo >>> 0);
}

function writeError(error: FsError): number {
  return error.kind === 'no-space' ? SQLITE_FULL : error.kind === 'frozen' ? SQLITE_IOERR_WRITE : SQLITE_IOERR;
}
