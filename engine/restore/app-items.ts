/**
 * Application-item restore (issue 4, point 4): items straight from a RecoveryPoint,
 * without restoring the VM. Each finder reads the application's files through the
 * engine's own guest file-system reader and parses the application's formats itself
 * (engine/ never imports sim/): see items/sql.ts (SQL Server rows), items/exchange.ts
 * (Exchange mailbox items) and items/ntds.ts (Active Directory users), both over items/ese.ts.
 *
 * Every finder returns Result<item with provenance (file, page or record), ItemError>;
 * nothing read from the image is trusted and nothing throws.
 */

export { findSqlRow, type SqlRow, type SqlRowQuery } from './items/sql.js';
export { findMailItem, type FoundMailItem, type MailItem, type MailItemQuery } from './items/exchange.js';
export { findAdUser, type AdUser, type FoundAdUser } from './items/ntds.js';
export type { ItemError, Provenance } from './items/common.js';
