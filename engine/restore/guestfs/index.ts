/**
 * The engine's read-only reader of the guest file system ("qfs") on a RecoveryPoint disk.
 * See volume.ts for what it models and leaves out.
 */

export { openGuestVolume, GuestVolume, MAX_DEPTH, MAX_READ_BYTES, type GuestEntry, type GuestFsError, type GuestInode, type OpenOptions, type RawEntry, type WalkEntry } from './volume.js';
export { decodeName, type DecodedName } from './names.js';
export type { Corrupt } from './format.js';
