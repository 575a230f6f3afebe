/**
 * Application items as the simulator itself reads them out of a VM's disk images: the
 * Exchange mail items and the Active Directory users (with the originating changes that
 * name them) that the isolated lab's apps find when they open the images (inspect.ts: the
 * same mounting in an in-memory overlay, the same app factories, soft recovery in memory;
 * the images are never written). An independent reading for checkers that judge an
 * engine's item restore, which parses the ESE files itself.
 *
 * Leaves out: SQL Server rows (the checkers take those from the acknowledgements), items
 * the app could not open.
 */

import type { JsonValue } from '../apps/exchange/ese-format.js';
import { ExchangeApp, type MailItem } from '../apps/exchange/exchange-app.js';
import { NtdsApp, parseObject, type StoredObject } from '../apps/ntds/ntds-app.js';
import type { GuestApp } from '../apps/types.js';
import type { AppId } from '../../core/hypervisor-port.js';
import { err, ok, type Result } from '../../core/result.js';
import { Simulation } from '../kernel/simulation.js';
import type { BlockReader } from '../storage/types.js';
import { labApp, mountImages, type InspectOptions } from './inspect.js';

/**
 * Opens `appId` on the images as the lab does, hands the opened app to `read`, then crashes
 * it (nothing is ever written to the images); an error when the images do not mount, the
 * app has no factory or its open fails.
 */
export function readOpenedApp<T>(images: readonly BlockReader[], options: InspectOptions, appId: AppId, read: (app: GuestApp) => T): Result<T, string> {
  const sim = new Simulation({ seed: 0 });
  const volumes = mountImages(images, options.os, sim);
  if (typeof volumes === 'string') return err(`the images do not mount: ${volumes}`);
  const app = labApp(sim, volumes, options, appId);
  if (app === undefined) return err(`no factory for ${appId}`);
  try {
    const open = app.open();
    return open.ok ? ok(read(app)) : err(`${appId} does not open on the images: ${open.detail}`);
  } finally {
    app.crash();
  }
}

export interface ImageMailItems {
  readonly databaseName: string;
  /** Every mail item the database holds, by item id. */
  readonly items: ReadonlyMap<string, MailItem>;
}

/** The Exchange database's name and mail items in the images. */
export function readImageMailItems(images: readonly BlockReader[], options: InspectOptions): Result<ImageMailItems, string> {
  const read = readOpenedApp(images, options, 'exchange', (app) => {
    if (!(app instanceof ExchangeApp) || app.store === null) return null;
    const items = new Map<string, MailItem>();
    for (const key of app.store.records.keys()) {
      const parts = key.split(':');
      if (parts.length !== 3 || parts[0] !== 'item') continue;
      const item = app.item(parts[1] ?? '', parts[2] ?? '');
      if (item !== undefined) items.set(item.itemId, item);
    }
    return { databaseName: app.databaseName, items };
  });
  if (!read.ok) return read;
  return read.value === null ? err('the exchange factory does not build an ExchangeApp') : ok(read.value);
}

export interface ImageAdUsers {
  /** Every user object the directory holds, by name. */
  readonly users: ReadonlyMap<string, StoredObject>;
  /** Every originating or replicated change record: its id (`<invocationId>:<usn>`, the acknowledgement id) -> the object it wrote. */
  readonly changes: ReadonlyMap<string, string>;
}

function changeObject(v: JsonValue | undefined): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const object = (v as { readonly [key: string]: JsonValue }).object;
  return typeof object === 'string' ? object : undefined;
}

/** The directory's users and change records in the images. */
export function readImageAdUsers(images: readonly BlockReader[], options: InspectOptions): Result<ImageAdUsers, string> {
  const read = readOpenedApp(images, options, 'ntds', (app) => {
    if (!(app instanceof NtdsApp) || app.store === null) return null;
    const users = new Map<string, StoredObject>();
    const changes = new Map<string, string>();
    for (const [key, value] of app.store.records) {
      if (key.startsWith('obj:')) {
        const user = parseObject(value);
        if (user !== undefined) users.set(user.name, user);
      } else if (key.startsWith('chg:')) {
        const object = changeObject(value);
        if (object !== undefined) changes.set(key.slice('chg:'.length), object);
      }
    }
    return { users, changes };
  });
  if (!read.ok) return read;
  return read.value === null ? err('the ntds factory does not build an NtdsApp') : ok(read.value);
}
