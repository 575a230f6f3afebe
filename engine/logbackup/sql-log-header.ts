/**
 * Reads the header of a SQL Server native log backup (the blob `sqlcmd backup-log`
 * prints), from its documented format — the engine never imports the simulator:
 *   8 ASCII bytes 'QSLBAK01' | u32 headerBytes | u32 crc32(header) | header (UTF-8 JSON)
 *   | framed records (recordsBytes of them, CRC recordsCrc)
 * little-endian. Only what the engine needs for chains and restores is kept.
 */

import { crc32 } from '../../core/crc32.js';
import { err, ok, type Result } from '../../core/result.js';

export const SQL_LOG_BACKUP_MAGIC = 'QSLBAK01';
const MAX_HEADER_BYTES = 1024 * 1024;

export interface SqlLogBackupHeader {
  readonly dbName: string;
  readonly backupId: string;
  readonly copyOnly: boolean;
  /** Records firstLsn <= lsn < lastLsn are in the backup. */
  readonly firstLsn: number;
  readonly lastLsn: number;
  /** Every record logged up to this instant is in it. */
  readonly backupTimeUs: number;
  readonly recordCount: number;
}

export function parseSqlLogBackup(blob: Uint8Array): Result<SqlLogBackupHeader, string> {
  if (blob.length < 16) return err(`log backup of ${blob.length} bytes is too short`);
  const magic = String.fromCharCode(...blob.subarray(0, 8));
  if (magic !== SQL_LOG_BACKUP_MAGIC) return err(`not a log backup (magic '${magic}')`);
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const headerBytes = view.getUint32(8, true);
  if (headerBytes > MAX_HEADER_BYTES || 16 + headerBytes > blob.length) return err(`log backup header of ${headerBytes} bytes does not fit`);
  const header = blob.subarray(16, 16 + headerBytes);
  if (crc32(header) !== view.getUint32(12, true)) return err('log backup header CRC mismatch');
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(header));
  } catch {
    return err('log backup header is not JSON');
  }
  const h = json as Record<string, unknown>;
  const num = (k: string): number | undefined => (typeof h[k] === 'number' && Number.isSafeInteger(h[k]) ? h[k] : undefined);
  const firstLsn = num('firstLsn');
  const lastLsn = num('lastLsn');
  const backupTimeUs = num('backupTimeUs');
  const recordCount = num('recordCount');
  const recordsBytes = num('recordsBytes');
  if (firstLsn === undefined || lastLsn === undefined || backupTimeUs === undefined || recordCount === undefined || recordsBytes === undefined || lastLsn < firstLsn) {
    return err('log backup header lacks firstLsn/lastLsn/backupTimeUs/recordCount/recordsBytes');
  }
  if (typeof h.dbName !== 'string' || typeof h.backupId !== 'string' || typeof h.copyOnly !== 'boolean') return err('log backup header lacks dbName/backupId/copyOnly');
  if (16 + headerBytes + recordsBytes !== blob.length) return err(`log backup is ${blob.length} bytes, its header says ${16 + headerBytes + recordsBytes}`);
  if (num('recordsCrc') !== crc32(blob.subarray(16 + headerBytes))) return err('log backup records CRC mismatch');
  return ok({ dbName: h.dbName, backupId: h.backupId, copyOnly: h.copyOnly, firstLsn, lastLsn, backupTimeUs, recordCount });
}
