/**
 * Shared pieces of application-item restore (app-items.ts): the error vocabulary, reading
 * one guest file of a RecoveryPoint through the engine's own file-system reader
 * (guestfs), and defensive decoding of the untrusted bytes (JSON, frames).
 *
 * Everything read from the image is untrusted: decoders return undefined or an error,
 * never throw, and every loop is bounded by the bytes at hand or a constant.
 */

import { crc32 } from '../../../core/crc32.js';
import { err, ok, type Result } from '../../../core/result.js';
import { openGuestVolume, type GuestFsError } from '../guestfs/index.js';
import type { PointSource } from '../source.js';

/** Where an item (or the damage found instead of it) sits in the point. */
export interface Provenance {
  readonly diskId: string;
  readonly file: string;
  /** Data file page (SQL Server) or database page (ESE) the value was read from, if any. */
  readonly page?: number;
  /** Log record (LSN) or log generation/offset that supplied or changed the value, if any. */
  readonly record?: string;
  /** How the value was obtained: 'page', 'page+redo', 'undo' (prior committed image), 'log'. */
  readonly via: string;
}

export type ItemError =
  /** The point has no such disk, or its guest file system / the file cannot be read. */
  | { readonly kind: 'volume'; readonly diskId: string; readonly file: string; readonly error: GuestFsError }
  | { readonly kind: 'no-disk'; readonly which: string }
  /** The item does not exist (committed) at the point. */
  | { readonly kind: 'not-found'; readonly what: string; readonly file: string }
  /** A structure needed to answer is damaged: names the file and page or record. */
  | { readonly kind: 'damaged'; readonly file: string; readonly page?: number; readonly record?: string; readonly reason: string }
  /** The row's last writer had not committed at the point and its prior value is not in the log. */
  | { readonly kind: 'uncommitted-at-point'; readonly file: string; readonly page: number; readonly txn: number }
  | { readonly kind: 'bad-request'; readonly reason: string };

export interface GuestFile {
  readonly diskId: string;
  readonly path: string;
  readonly bytes: Uint8Array;
}

/** Reads a whole guest file from the first or last disk of the point (journal replayed in memory). */
export async function readGuestFile(source: PointSource, which: 'first' | 'last', path: string): Promise<Result<GuestFile, ItemError>> {
  const disks = source.disks();
  const disk = which === 'first' ? disks[0] : disks[disks.length - 1];
  if (disk === undefined) return err({ kind: 'no-disk', which });
  const volume = await openGuestVolume(source, disk.diskId);
  if (!volume.ok) return err({ kind: 'volume', diskId: disk.diskId, file: path, error: volume.error });
  const inode = await volume.value.lookup(path);
  if (!inode.ok) return err({ kind: 'volume', diskId: disk.diskId, file: path, error: inode.error });
  if (inode.value.type !== 'file') return err({ kind: 'volume', diskId: disk.diskId, file: path, error: { kind: 'is-a-directory', path } });
  const bytes = await volume.value.readFile(inode.value);
  if (!bytes.ok) return err({ kind: 'volume', diskId: disk.diskId, file: path, error: bytes.error });
  return ok({ diskId: disk.diskId, path, bytes: bytes.value });
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** JSON of UTF-8 bytes, or undefined (bad UTF-8 or JSON). */
export function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(bytes)) as unknown;
  } catch {
    return undefined;
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isNat(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

export const FRAME_HEADER_BYTES = 12;

/**
 * A frame `u32 magic | u32 payloadBytes | u32 crc32(payload) | payload (JSON)` at `pos`:
 * its JSON and the offset after it, or undefined when anything is wrong.
 */
export function unframe(bytes: Uint8Array, pos: number, magic: number, maxBytes: number): { readonly json: unknown; readonly next: number } | undefined {
  if (pos < 0 || pos + FRAME_HEADER_BYTES > bytes.length) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(pos, true) !== magic) return undefined;
  const length = view.getUint32(pos + 4, true);
  if (length > maxBytes || pos + FRAME_HEADER_BYTES + length > bytes.length) return undefined;
  const payload = bytes.subarray(pos + FRAME_HEADER_BYTES, pos + FRAME_HEADER_BYTES + length);
  if (crc32(payload) !== view.getUint32(pos + 8, true)) return undefined;
  const json = parseJson(payload);
  return json === undefined ? undefined : { json, next: pos + FRAME_HEADER_BYTES + length };
}
