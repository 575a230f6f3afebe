/**
 * Content addresses: SHA-256 (node:crypto, pure computation) as 64 lower-case hex digits.
 * A chunk's id is the hash of its raw bytes; a pack's, an index file's and a manifest's
 * object name is the hash of the object's bytes, so any change to any byte is found by
 * hashing it again.
 */

import { createHash } from 'node:crypto';
import type { Brand } from '../../core/ids.js';

export type ChunkId = Brand<string, 'ChunkId'>;
export type PackId = Brand<string, 'PackId'>;
/** A RecoveryPoint's id: the SHA-256 of its manifest's bytes. */
export type RecoveryPointId = Brand<string, 'RecoveryPointId'>;

export const HASH_HEX_CHARS = 64;
export const HASH_BYTES = 32;
const HEX_RE = /^[0-9a-f]{64}$/;

export function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function isHashHex(text: string): boolean {
  return HEX_RE.test(text);
}

export const ChunkId = (hex: string): ChunkId => hex as ChunkId;
export const PackId = (hex: string): PackId => hex as PackId;
export const RecoveryPointId = (hex: string): RecoveryPointId => hex as RecoveryPointId;

/** Object names of the repository layout (engine/README.md, "Repository format"). */
export const packName = (id: PackId): string => `packs/${id.slice(0, 2)}/${id}`;
export const indexName = (hex: string): string => `index/${hex}`;
export const manifestName = (id: RecoveryPointId): string => `points/${id}`;
