/**
 * Loads the real SQLite engine (@journeyapps/wa-sqlite 2.0.6, SQLite compiled to
 * WebAssembly) once per process, and binds the few C functions the guest app needs as a
 * small synchronous API (open, prepare, bind, step, column, close).
 *
 * This is the one file of sim/ allowed real I/O (test/architecture/layers.ts IO_ADAPTERS):
 * it reads `dist/wa-sqlite.wasm` from the installed package (resolved through Node's module
 * resolution, never a fixed path) and instantiates the non-Asyncify build, whose JavaScript
 * VFS methods are called synchronously. Nothing is fetched. The load is asynchronous (wasm
 * instantiation is); everything after it is synchronous, so the simulation's event loop
 * never waits on a Promise: call `await loadSqlite()` once (e.g. in beforeAll), then
 * `sqliteModule()` anywhere.
 *
 * The package's own JavaScript API (sqlite-api.js) is not used: most of its calls are
 * async, and it throws on errors. This binding returns Result values.
 *
 * Leaves out: the Asyncify/JSPI builds, user functions, hooks, blob I/O, int64 beyond 2^53
 * (integers are read as doubles, exact up to 2^53).
 */

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { assert } from '../../../core/assert.js';
import { err, ok, type Result } from '../../../core/result.js';

/** The Emscripten module: the exported C functions this folder calls (pointers are numbers). */
export interface SqliteModule {
  /** Replaced when the wasm memory grows: always read it afresh. */
  readonly HEAPU8: Uint8Array;
  UTF8ToString(ptr: number): string;
  /** wa-sqlite's registration of a JavaScript VFS object (libvfs): 0 on success. */
  vfs_register(vfs: object, makeDefault: boolean): number;
  getCallback(key: number): unknown;
  deleteCallback(key: number): void;
  _sqlite3_malloc(bytes: number): number;
  _sqlite3_free(ptr: number): void;
  _sqlite3_open_v2(zFilename: number, ppDb: number, flags: number, zVfs: number): number;
  _sqlite3_close_v2(db: number): number;
  _sqlite3_extended_result_codes(db: number, onoff: number): number;
  _sqlite3_errmsg(db: number): number;
  _sqlite3_errstr(rc: number): number;
  _sqlite3_prepare_v2(db: number, zSql: number, nByte: number, ppStmt: number, pzTail: number): number;
  _sqlite3_step(stmt: number): number;
  _sqlite3_reset(stmt: number): number;
  _sqlite3_finalize(stmt: number): number;
  _sqlite3_clear_bindings(stmt: number): number;
  _sqlite3_bind_double(stmt: number, index: number, value: number): number;
  _sqlite3_bind_blob(stmt: number, index: number, ptr: number, bytes: number, destructor: number): number;
  _sqlite3_bind_null(stmt: number, index: number): number;
  _sqlite3_column_count(stmt: number): number;
  _sqlite3_column_type(stmt: number, column: number): number;
  _sqlite3_column_double(stmt: number, column: number): number;
  _sqlite3_column_text(stmt: number, column: number): number;
  _sqlite3_column_blob(stmt: number, column: number): number;
  _sqlite3_column_bytes(stmt: number, column: number): number;
  _sqlite3_get_autocommit(db: number): number;
  _sqlite3_vfs_find(zName: number): number;
  _sqlite3_vfs_register(pVfs: number, makeDefault: number): number;
  _sqlite3_vfs_unregister(pVfs: number): number;
  _sqlite3_randomness(bytes: number, ptr: number): void;
}

const REQUIRED_FUNCTIONS: readonly string[] = [
  'UTF8ToString', 'vfs_register', 'getCallback', 'deleteCallback', '_sqlite3_malloc', '_sqlite3_free', '_sqlite3_open_v2',
  '_sqlite3_close_v2', '_sqlite3_extended_result_codes', '_sqlite3_errmsg', '_sqlite3_errstr', '_sqlite3_prepare_v2', '_sqlite3_step',
  '_sqlite3_reset', '_sqlite3_finalize', '_sqlite3_clear_bindings', '_sqlite3_bind_double', '_sqlite3_bind_blob', '_sqlite3_bind_null',
  '_sqlite3_column_count', '_sqlite3_column_type', '_sqlite3_column_double', '_sqlite3_column_text', '_sqlite3_column_blob',
  '_sqlite3_column_bytes', '_sqlite3_get_autocommit', '_sqlite3_vfs_find', '_sqlite3_vfs_register', '_sqlite3_vfs_unregister',
  '_sqlite3_randomness',
];

let loading: Promise<SqliteModule> | undefined;
let loaded: SqliteModule | undefined;

/** Loads and instantiates the engine; later calls return the same module. */
export function loadSqlite(): Promise<SqliteModule> {
  loading ??= instantiate();
  return loading;
}

/** The loaded engine; asserts that `loadSqlite()` finished first. */
export function sqliteModule(): SqliteModule {
  assert(loaded !== undefined, 'the SQLite engine is not loaded: await loadSqlite() before building a sqlite app');
  return loaded;
}

async function instantiate(): Promise<SqliteModule> {
  const require = createRequire(import.meta.url);
  const wasmPath = require.resolve('@journeyapps/wa-sqlite/dist/wa-sqlite.wasm');
  const { default: factory } = await import('@journeyapps/wa-sqlite/dist/wa-sqlite.mjs');
  const instance = await factory({ wasmBinary: readFileSync(wasmPath) });
  const record = instance as Record<string, unknown>;
  for (const name of REQUIRED_FUNCTIONS) assert(typeof record[name] === 'function', `wa-sqlite module lacks ${name}`);
  assert(record.HEAPU8 instanceof Uint8Array, 'wa-sqlite module lacks HEAPU8');
  loaded = instance as SqliteModule;
  return loaded;
}

// ---------------------------------------------------------------------------------------
// The synchronous binding

export const SQLITE_OK = 0;
export const SQLITE_ROW = 100;
export const SQLITE_DONE = 101;
const SQLITE_INTEGER = 1;
const SQLITE_FLOAT = 2;
const SQLITE_TEXT = 3;
const SQLITE_BLOB = 4;
const SQLITE_OPEN_READWRITE = 0x2;
const SQLITE_OPEN_CREATE = 0x4;
/** The SQLITE_TRANSIENT destructor: SQLite copies the bound bytes at once. */
const SQLITE_TRANSIENT = -1;
/** Most statements one `exec` string may hold, and most rows one statement may return. */
const MAX_STATEMENTS = 1_000;
const MAX_ROWS = 10_000_000;

export type SqlValue = number | string | Uint8Array | null;
export type SqlRow = readonly SqlValue[];

export interface SqlError {
  /** The (extended) SQLite result code, e.g. 11 = SQLITE_CORRUPT, 26 = SQLITE_NOTADB, 10 = SQLITE_IOERR. */
  readonly code: number;
  readonly message: string;
}

const encoder = new TextEncoder();

/** Copies a string into sqlite3_malloc'd memory, NUL-terminated (caller frees). */
function cString(m: SqliteModule, text: string): { ptr: number; bytes: number } {
  const utf8 = encoder.encode(text);
  const ptr = m._sqlite3_malloc(utf8.length + 1);
  assert(ptr !== 0, 'sqlite3_malloc failed');
  m.HEAPU8.set(utf8, ptr);
  m.HEAPU8[ptr + utf8.length] = 0;
  return { ptr, bytes: utf8.length };
}

function readPtr(m: SqliteModule, at: number): number {
  return new DataView(m.HEAPU8.buffer).getUint32(at, true);
}

/** A prepared statement; reuse it with run/all (each resets it first). */
export class SqlStatement {
  private finalized = false;

  constructor(
    private readonly m: SqliteModule,
    private readonly conn: SqlConnection,
    readonly ptr: number,
  ) {}

  /** Binds `params` (1-based in order), steps to the end and returns every row. */
  all(params: readonly SqlValue[] = []): Result<SqlRow[], SqlError> {
    assert(!this.finalized, 'statement used after finalize');
    const m = this.m;
    m._sqlite3_reset(this.ptr);
    const bound = this.bind(params);
    if (!bound.ok) return bound;
    const rows: SqlRow[] = [];
    const columns = m._sqlite3_column_count(this.ptr);
    for (let n = 0; n <= MAX_ROWS; n++) {
      assert(n < MAX_ROWS, `statement returned more than ${MAX_ROWS} rows`);
      const rc = m._sqlite3_step(this.ptr);
      if (rc === SQLITE_DONE) break;
      if (rc !== SQLITE_ROW) {
        const error = this.conn.error(rc);
        m._sqlite3_reset(this.ptr);
        return err(error);
      }
      if (columns > 0) rows.push(this.row(columns));
    }
    m._sqlite3_reset(this.ptr);
    return ok(rows);
  }

  /** Like `all`, for statements whose rows do not matter. */
  run(params: readonly SqlValue[] = []): Result<void, SqlError> {
    const result = this.all(params);
    return result.ok ? ok(undefined) : result;
  }

  finalize(): void {
    if (this.finalized) return;
    this.finalized = true;
    this.m._sqlite3_finalize(this.ptr);
  }

  private bind(params: readonly SqlValue[]): Result<void, SqlError> {
    const m = this.m;
    m._sqlite3_clear_bindings(this.ptr);
    for (let i = 0; i < params.length; i++) {
      const value = params[i];
      let rc: number;
      if (value === null || value === undefined) rc = m._sqlite3_bind_null(this.ptr, i + 1);
      else if (typeof value === 'number') rc = m._sqlite3_bind_double(this.ptr, i + 1, value);
      else {
        const bytes = typeof value === 'string' ? encoder.encode(value) : value;
        const ptr = m._sqlite3_malloc(Math.max(1, bytes.length));
        assert(ptr !== 0, 'sqlite3_malloc failed');
        m.HEAPU8.set(bytes, ptr);
        rc = m._sqlite3_bind_blob(this.ptr, i + 1, ptr, bytes.length, SQLITE_TRANSIENT);
        m._sqlite3_free(ptr);
      }
      if (rc !== SQLITE_OK) return err(this.conn.error(rc));
    }
    return ok(undefined);
  }

  private row(columns: number): SqlValue[] {
    const m = this.m;
    const out: SqlValue[] = [];
    for (let c = 0; c < columns; c++) {
      const type = m._sqlite3_column_type(this.ptr, c);
      if (type === SQLITE_INTEGER || type === SQLITE_FLOAT) out.push(m._sqlite3_column_double(this.ptr, c));
      else if (type === SQLITE_TEXT) out.push(m.UTF8ToString(m._sqlite3_column_text(this.ptr, c)));
      else if (type === SQLITE_BLOB) {
        const ptr = m._sqlite3_column_blob(this.ptr, c);
        const bytes = m._sqlite3_column_bytes(this.ptr, c);
        out.push(m.HEAPU8.slice(ptr, ptr + bytes));
      } else out.push(null);
    }
    return out;
  }
}

/** One database connection through a registered VFS. */
export class SqlConnection {
  private closed = false;
  private readonly statements = new Set<SqlStatement>();

  private constructor(
    private readonly m: SqliteModule,
    readonly db: number,
    /** 8 bytes of scratch for out-parameters (ppStmt, pzTail). */
    private readonly scratch: number,
  ) {}

  /** Opens (creating when missing) `path` through the VFS named `vfsName`. */
  static open(m: SqliteModule, path: string, vfsName: string): Result<SqlConnection, SqlError> {
    const scratch = m._sqlite3_malloc(8);
    assert(scratch !== 0, 'sqlite3_malloc failed');
    const zPath = cString(m, path);
    const zVfs = cString(m, vfsName);
    const rc = m._sqlite3_open_v2(zPath.ptr, scratch, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, zVfs.ptr);
    m._sqlite3_free(zPath.ptr);
    m._sqlite3_free(zVfs.ptr);
    const db = readPtr(m, scratch);
    if (rc !== SQLITE_OK) {
      const message = db !== 0 ? m.UTF8ToString(m._sqlite3_errmsg(db)) : m.UTF8ToString(m._sqlite3_errstr(rc));
      if (db !== 0) m._sqlite3_close_v2(db);
      m._sqlite3_free(scratch);
      return err({ code: rc, message });
    }
    m._sqlite3_extended_result_codes(db, 1);
    return ok(new SqlConnection(m, db, scratch));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** True outside an explicit transaction. */
  get autocommit(): boolean {
    return this.m._sqlite3_get_autocommit(this.db) !== 0;
  }

  prepare(sql: string): Result<SqlStatement, SqlError> {
    const prepared = this.prepareAt(sql);
    if (!prepared.ok) return prepared;
    assert(prepared.value.stmt !== undefined, `no statement in '${sql}'`);
    assert(prepared.value.rest.trim() === '', `prepare takes one statement: '${sql}'`);
    return ok(prepared.value.stmt);
  }

  /** Runs every statement of `sql` in order; returns the rows of all of them. */
  exec(sql: string, params: readonly SqlValue[] = []): Result<SqlRow[], SqlError> {
    let rest = sql;
    const rows: SqlRow[] = [];
    for (let n = 0; n <= MAX_STATEMENTS; n++) {
      assert(n < MAX_STATEMENTS, `more than ${MAX_STATEMENTS} statements in one exec`);
      const prepared = this.prepareAt(rest);
      if (!prepared.ok) return prepared;
      const stmt = prepared.value.stmt;
      rest = prepared.value.rest;
      if (stmt === undefined) break;
      const result = stmt.all(n === 0 ? params : []);
      stmt.finalize();
      this.statements.delete(stmt);
      if (!result.ok) return result;
      rows.push(...result.value);
    }
    return ok(rows);
  }

  /** The error of the last call, with `rc` as its code. */
  error(rc: number): SqlError {
    return { code: rc, message: this.m.UTF8ToString(this.m._sqlite3_errmsg(this.db)) };
  }

  /** Finalizes the statements and closes (a WAL database checkpoints on a clean close). */
  close(): number {
    if (this.closed) return SQLITE_OK;
    this.closed = true;
    for (const stmt of this.statements) stmt.finalize();
    this.statements.clear();
    const rc = this.m._sqlite3_close_v2(this.db);
    this.m._sqlite3_free(this.scratch);
    return rc;
  }

  private prepareAt(sql: string): Result<{ stmt: SqlStatement | undefined; rest: string }, SqlError> {
    assert(!this.closed, 'connection used after close');
    const m = this.m;
    const z = cString(m, sql);
    const rc = m._sqlite3_prepare_v2(this.db, z.ptr, z.bytes + 1, this.scratch, this.scratch + 4);
    const stmtPtr = readPtr(m, this.scratch);
    const tailPtr = readPtr(m, this.scratch + 4);
    // The tail is a byte offset into the UTF-8 copy: decode the rest from there.
    const rest = tailPtr === 0 ? '' : m.UTF8ToString(tailPtr);
    m._sqlite3_free(z.ptr);
    if (rc !== SQLITE_OK) return err(this.error(rc));
    if (stmtPtr === 0) return ok({ stmt: undefined, rest: '' });
    const stmt = new SqlStatement(m, this, stmtPtr);
    this.statements.add(stmt);
    return ok({ stmt, rest });
  }
}
