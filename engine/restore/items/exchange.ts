/**
 * Exchange mailbox items straight from a RecoveryPoint (no VM restore): `findMailItem`
 * reads the mailbox database `/Exchange/Mailbox/<db>/<db>.edb`, its checkpoint file
 * `E00.chk` and log generations `E00000001.log`, ... on the point's last disk through the
 * engine's guest file-system reader (items/ese.ts: the ESE model's formats, replaying the
 * generations after the checkpoint in memory as soft recovery would).
 *
 * An item is the record `item:<mailbox>:<itemId>` whose value is { mailbox, itemId,
 * subject, body, deliveredUs } (sim/apps/exchange/exchange-app.ts header). A record of
 * another shape under the key is 'damaged'.
 */

import { err, ok, type Result } from '../../../core/result.js';
import type { PointSource } from '../source.js';
import { isObject, type ItemError, type Provenance } from './common.js';
import { findEseValue, type EseLayout } from './ese.js';

export interface MailItemQuery {
  readonly mailbox: string;
  readonly itemId: string;
  /** Mailbox database name (default 'DB1'). */
  readonly database?: string;
}

export interface MailItem {
  readonly mailbox: string;
  readonly itemId: string;
  readonly subject: string;
  readonly body: string;
  readonly deliveredUs: number;
}

export interface FoundMailItem {
  readonly value: MailItem;
  readonly provenance: Provenance;
}

const MAX_NAME_CHARS = 256;

export function exchangeLayout(database: string): EseLayout {
  return { volume: 'last', dir: `/Exchange/Mailbox/${database}`, databaseName: `${database}.edb`, checkpointName: 'E00.chk', base: 'E00', genDigits: 6 };
}

function mailItemOf(v: unknown): MailItem | undefined {
  if (!isObject(v)) return undefined;
  const { mailbox, itemId, subject, body, deliveredUs } = v;
  if (typeof mailbox !== 'string' || typeof itemId !== 'string' || typeof subject !== 'string' || typeof body !== 'string' || typeof deliveredUs !== 'number') return undefined;
  return { mailbox, itemId, subject, body, deliveredUs };
}

/** The item as the database holds it at the point (after soft recovery). */
export async function findMailItem(source: PointSource, query: MailItemQuery): Promise<Result<FoundMailItem, ItemError>> {
  const database = query.database ?? 'DB1';
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(database)) return err({ kind: 'bad-request', reason: `bad database name '${database}'` });
  const { mailbox, itemId } = query;
  if (mailbox.length === 0 || itemId.length === 0 || mailbox.length > MAX_NAME_CHARS || itemId.length > MAX_NAME_CHARS) {
    return err({ kind: 'bad-request', reason: 'mailbox or item id empty or too long' });
  }
  const found = await findEseValue(source, exchangeLayout(database), `item:${mailbox}:${itemId}`);
  if (!found.ok) return found;
  const item = mailItemOf(found.value.value);
  if (item === undefined || item.mailbox !== mailbox || item.itemId !== itemId) {
    return err({ kind: 'damaged', file: found.value.provenance.file, ...(found.value.provenance.record === undefined ? {} : { record: found.value.provenance.record }), reason: `item:${mailbox}:${itemId} is not a mail item` });
  }
  return ok({ value: item, provenance: found.value.provenance });
}
