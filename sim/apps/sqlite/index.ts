/**
 * The `sqlite` guest application: the real SQLite engine (wasm) on the simulated guest
 * file system. Load the engine once per process (`await loadSqlite()`) before building an
 * app; everything after that is synchronous.
 */

export { createSqliteApp, sqliteAppFactory, SqliteApp, DB_PATH, WAL_PATH, JOURNAL_PATH, SQLITE_DIR, SQLITE_SCHEMA, vfsCostUs } from './sqlite-app.js';
export type { JournalMode, SqliteAppOptions } from './sqlite-app.js';
export type { MutationInterceptor, MutationVerdict, VfsMutation, VfsMutationKind, VfsCounters } from './guest-vfs.js';
export { loadSqlite } from './wasm-loader.js';
