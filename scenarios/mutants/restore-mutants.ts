/**
 * Mutants of the file-level and item restores (the backup suite's property 16 kills them):
 * a file-level restore that does not write the last partial block of each file, and an
 * item restore whose block cache is keyed by disk and offset but not by point, so a second
 * point of the same repository is answered from the first one's pages, and an Exchange item
 * restore that canonicalises the mailbox name to upper case (Exchange compares mailbox names
 * case-insensitively), so the item comes back filed under a mailbox the database does not
 * have. Each wraps one EngineUnderTest entry point.
 */

import { ok, type Result } from '../../core/result.js';
import type { FileSink, FileWriter, FileWriterError } from '../../engine/restore/file-writer.js';
import type { Repository } from '../../engine/repository/repository.js';
import type { PointSource } from '../../engine/restore/source.js';
import { findSqlRow } from '../../engine/restore/app-items.js';
import { QUIESCELAB_ENGINE, QUIESCELAB_ITEM_ENGINE, type EngineUnderTest } from '../scenario/engine.js';
import type { Mutant } from './mutant.js';

const BLOCK_BYTES = 4096;

/** A writer whose files lose whatever a write puts past the last whole block of the file. */
function dropsLastPartialBlock(inner: FileWriter): FileWriter {
  return {
    mkdir: (parts) => inner.mkdir(parts),
    async createFile(parts, sizeBytes): Promise<Result<FileSink, FileWriterError>> {
      const created = await inner.createFile(parts, sizeBytes);
      if (!created.ok) return created;
      const sink = created.value;
      const wholeEnd = sizeBytes - (sizeBytes % BLOCK_BYTES);
      return ok({
        write: (offsetBytes, data) => (offsetBytes + data.length <= wholeEnd ? sink.write(offsetBytes, data)
          : offsetBytes >= wholeEnd ? Promise.resolve(ok(undefined)) : sink.write(offsetBytes, data.subarray(0, wholeEnd - offsetBytes))),
        close: () => sink.close(),
        abort: () => sink.abort(),
      });
    },
  };
}

const FILE_RESTORE_DROPS_LAST_BLOCK: EngineUnderTest = {
  ...QUIESCELAB_ENGINE,
  name: 'file-restore-drops-last-block',
  restoreFiles: (source, diskId, selection, writer, options) => QUIESCELAB_ENGINE.restoreFiles(source, diskId, selection, dropsLastPartialBlock(writer), options),
};

/** The item restore's block cache, one per repository, keyed by disk and offset only (the bug: not by point). */
const staleCaches = new WeakMap<Repository, Map<string, Uint8Array>>();

function cachedSource(repo: Repository, source: PointSource): PointSource {
  let cache = staleCaches.get(repo);
  if (cache === undefined) {
    cache = new Map();
    staleCaches.set(repo, cache);
  }
  const pages = cache;
  return {
    pointId: source.pointId,
    disks: () => source.disks(),
    extents: (diskId) => source.extents(diskId),
    async read(diskId, offsetBytes, lengthBytes) {
      const key = `${diskId}:${offsetBytes}:${lengthBytes}`;
      const hit = pages.get(key);
      if (hit !== undefined) return hit.slice();
      const bytes = await source.read(diskId, offsetBytes, lengthBytes);
      pages.set(key, bytes.slice());
      return bytes;
    },
  };
}

const ITEM_RESTORE_STALE_PAGE: EngineUnderTest = {
  ...QUIESCELAB_ENGINE,
  name: 'item-restore-stale-page',
  items: {
    ...QUIESCELAB_ITEM_ENGINE,
    async findSqlRow(repo, pointId, query) {
      const source = await QUIESCELAB_ENGINE.source(repo, pointId);
      return source.ok ? findSqlRow(cachedSource(repo, source.value), query) : source;
    },
  },
};

const MAIL_ITEM_WRONG_MAILBOX: EngineUnderTest = {
  ...QUIESCELAB_ENGINE,
  name: 'mail-item-wrong-mailbox',
  items: {
    ...QUIESCELAB_ITEM_ENGINE,
    async findMailItem(repo, pointId, query) {
      const r = await QUIESCELAB_ITEM_ENGINE.findMailItem(repo, pointId, query);
      return r.ok ? ok({ ...r.value, value: { ...r.value.value, mailbox: r.value.value.mailbox.toUpperCase() } }) : r;
    },
  },
};

export const RESTORE_MUTANT_ENGINES = { FILE_RESTORE_DROPS_LAST_BLOCK, ITEM_RESTORE_STALE_PAGE, MAIL_ITEM_WRONG_MAILBOX };

const FILES = 'linux/esx41/files/default';
const SQL = 'win2019/esx41/sqlserver/default';
const EXCHANGE = 'win2019/esx41/exchange/default';

export const RESTORE_MUTANTS: readonly Mutant[] = [
  {
    id: 'file-restore-drops-last-block', description: 'A file-level restore does not write the last partial block of each file (the file keeps its size, its tail reads as zeros).',
    area: 'restore', cells: [FILES, SQL], expectedKiller: 'P16', engine: FILE_RESTORE_DROPS_LAST_BLOCK,
  },
  {
    id: 'item-restore-stale-page', description: 'An item restore caches the point\'s blocks by disk and offset but not by point: a row restored from a later point is read from an earlier point\'s pages.',
    area: 'restore', cells: [SQL], expectedKiller: 'P16', engine: ITEM_RESTORE_STALE_PAGE,
  },
  {
    id: 'mail-item-wrong-mailbox', description: 'An Exchange item restore canonicalises the mailbox name to upper case (Exchange compares them case-insensitively): the item comes back filed under a mailbox the database does not have.',
    area: 'restore', cells: [EXCHANGE], expectedKiller: 'P16', engine: MAIL_ITEM_WRONG_MAILBOX,
  },
];
