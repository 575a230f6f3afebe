/**
 * Application-item restore (issue 4, point 4): items straight from a RecoveryPoint,
 * without restoring the VM. Each finder reads the application's files through the
 * engine's own guest file-system reader and parses the application's formats itself
 * (engine/ never imports sim/): see items/sql.ts (SQL Server rows).
 *
 * Every finder returns Result<item with provenance (file, page or record), ItemError>;
 * nothing read from the image is trusted and nothing throws.
 */

export { findSqlRow, type SqlRow, type SqlRowQuery } from './items/sql.js';
export type { ItemError, Provenance } from './items/common.js';
