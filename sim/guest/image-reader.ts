/**
 * Reads files out of a raw qfs image with no live file system: what file-level restore
 * uses on a backup, a snapshot's view or a disk after a crash.
 *
 * Models: `openImage` loads the volume through fs-volume (the same decoder mount and fsck
 * use), replaying committed journal transactions into a read overlay when asked (the
 * default), so the image itself is never written. A tree it cannot trust (any decode
 * problem) is refused as 'corrupt'; lookups that meet a dangling entry or a loop fail the
 * same way, never with an exception.
 *
 * Leaves out: the cross-structure checks of fsck (a leaked block or a wrong link count
 * does not stop reading), timestamps, permissions, streaming reads of huge files.
 */

import { err, ok, type Result } from '../../core/result.js';
import type { BlockReader } from '../storage/types.js';
import { findEntry, openVolume, readFileBytes, splitPath, type Inode, type Volume } from './fs-volume.js';

export interface ImageEntry {
  readonly path: string;
  readonly name: string;
  readonly type: 'file' | 'dir';
  readonly ino: number;
  readonly generation: number;
  readonly sizeBytes: number;
  readonly linkCount: number;
}

export type ImageError =
  | { readonly kind: 'no-filesystem'; readonly problems: readonly string[] }
  | { readonly kind: 'needs-replay'; readonly pendingTransactions: number }
  | { readonly kind: 'corrupt'; readonly problems: readonly string[] }
  | { readonly kind: 'invalid-path'; readonly path: string; readonly reason: string }
  | { readonly kind: 'not-found'; readonly path: string }
  | { readonly kind: 'not-a-directory'; readonly path: string }
  | { readonly kind: 'is-a-directory'; readonly path: string }
  | { readonly kind: 'too-large'; readonly path: string; readonly sizeBytes: number }
  | { readonly kind: 'invalid-range'; readonly offsetBytes: number; readonly lengthBytes: number };

/** Largest read in one call: bounds memory when an image claims a huge (sparse) file. */
export const MAX_READ_BYTES = 256 * 1024 * 1024;

export interface ImageView {
  /** Committed transactions applied in the overlay (0 when the image needed no replay). */
  readonly replayedTransactions: number;
  readonly label: string;
  /** The entries of a directory, sorted by name. */
  list(dirPath: string): Result<ImageEntry[], ImageError>;
  /** Every file and directory below the root (root excluded), sorted by path. */
  walk(): Result<ImageEntry[], ImageError>;
  /** The whole file (at most MAX_READ_BYTES; use readRange for more). */
  readFile(path: string): Result<Uint8Array, ImageError>;
  /** `lengthBytes` from `offsetBytes`, clipped to the size (at most MAX_READ_BYTES). */
  readRange(path: string, offsetBytes: number, lengthBytes: number): Result<Uint8Array, ImageError>;
  stat(path: string): Result<ImageEntry, ImageError>;
}

export interface OpenImageOptions {
  /** Apply committed journal transactions in a read overlay (default true). */
  readonly replay?: boolean;
}

class ImageViewImpl implements ImageView {
  constructor(
    private readonly reader: BlockReader,
    private readonly volume: Volume,
    private readonly rootIno: number,
    readonly replayedTransactions: number,
    readonly label: string,
  ) {}

  private inode(ino: number, path: string): Result<Inode, ImageError> {
    const inode = this.volume.inodes[ino];
    if (inode === undefined || inode.type === 'free') return err({ kind: 'corrupt', problems: [`'${path}' names free inode ${ino}`] });
    return ok(inode);
  }

  private entryOf(path: string, name: string, ino: number): Result<ImageEntry, ImageError> {
    const inode = this.inode(ino, path);
    if (!inode.ok) return inode;
    const { type, generation, sizeBytes, linkCount } = inode.value;
    if (type === 'free') return err({ kind: 'corrupt', problems: [`'${path}' is free`] });
    return ok({ path, name, type, ino, generation, sizeBytes, linkCount });
  }

  private resolve(path: string): Result<ImageEntry, ImageError> {
    const parts = splitPath(path);
    if (!parts.ok) return err({ kind: 'invalid-path', path, reason: parts.error });
    let current = this.entryOf('/', '', this.rootIno);
    let walked = '';
    for (const part of parts.value) {
      if (!current.ok) return current;
      if (current.value.type !== 'dir') return err({ kind: 'not-a-directory', path: walked === '' ? '/' : walked });
      walked = `${walked}/${part}`;
      const entry = findEntry(this.volume, current.value.ino, part);
      if (entry === undefined) return err({ kind: 'not-found', path: walked });
      current = this.entryOf(walked, part, entry.ino);
    }
    return current;
  }

  stat(path: string): Result<ImageEntry, ImageError> {
    return this.resolve(path);
  }

  list(dirPath: string): Result<ImageEntry[], ImageError> {
    const dir = this.resolve(dirPath);
    if (!dir.ok) return dir;
    if (dir.value.type !== 'dir') return err({ kind: 'not-a-directory', path: dirPath });
    return this.listIno(dir.value.ino, dirPath === '/' ? '' : dirPath);
  }

  private listIno(dirIno: number, prefix: string): Result<ImageEntry[], ImageError> {
    const out: ImageEntry[] = [];
    for (const block of this.volume.dirs.get(dirIno) ?? []) {
      for (const entry of block.slots) {
        if (entry === undefined) continue;
        const e = this.entryOf(`${prefix}/${entry.name}`, entry.name, entry.ino);
        if (!e.ok) return e;
        out.push(e.value);
      }
    }
    out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return ok(out);
  }

  walk(): Result<ImageEntry[], ImageError> {
    const out: ImageEntry[] = [];
    const seen = new Set<number>([this.rootIno]);
    const queue: { ino: number; prefix: string }[] = [{ ino: this.rootIno, prefix: '' }];
    // Each directory is visited once (seen), so the loop is bounded by the inode count.
    for (let head = 0; head < queue.length; head++) {
      const { ino, prefix } = queue[head] as { ino: number; prefix: string };
      const listed = this.listIno(ino, prefix);
      if (!listed.ok) return listed;
      for (const e of listed.value) {
        if (e.type === 'dir') {
          if (seen.has(e.ino)) return err({ kind: 'corrupt', problems: [`directory loop at '${e.path}'`] });
          seen.add(e.ino);
          queue.push({ ino: e.ino, prefix: e.path });
        }
        out.push(e);
      }
    }
    out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return ok(out);
  }

  readFile(path: string): Result<Uint8Array, ImageError> {
    return this.readRange(path, 0, MAX_READ_BYTES + 1);
  }

  readRange(path: string, offsetBytes: number, lengthBytes: number): Result<Uint8Array, ImageError> {
    if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0 || !Number.isSafeInteger(lengthBytes) || lengthBytes < 0) {
      return err({ kind: 'invalid-range', offsetBytes, lengthBytes });
    }
    const e = this.resolve(path);
    if (!e.ok) return e;
    if (e.value.type !== 'file') return err({ kind: 'is-a-directory', path });
    const inode = this.volume.inodes[e.value.ino] as Inode;
    const length = Math.max(0, Math.min(lengthBytes, inode.sizeBytes - offsetBytes));
    if (length > MAX_READ_BYTES) return err({ kind: 'too-large', path, sizeBytes: inode.sizeBytes });
    return ok(readFileBytes(this.reader, inode, offsetBytes, length));
  }
}

/** Opens a raw image for reading. Refuses an image whose metadata does not decode. */
export function openImage(reader: BlockReader, options: OpenImageOptions = {}): Result<ImageView, ImageError> {
  const opened = openVolume(reader, { replay: options.replay ?? true });
  if (!opened.ok) return err(opened.error);
  const { volume, sb, problems } = opened.value;
  if (problems.length > 0) return err({ kind: 'corrupt', problems });
  if (volume.inodes[sb.rootIno]?.type !== 'dir') return err({ kind: 'corrupt', problems: ['root is not a directory'] });
  return ok(new ImageViewImpl(opened.value.reader, volume, sb.rootIno, opened.value.replayedTransactions, sb.label));
}
