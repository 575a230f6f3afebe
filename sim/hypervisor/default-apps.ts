/**
 * The application models a simulated hypervisor installs by default, by id. The domain
 * controllers of one world share one AdDomain (their replication partner and RID master),
 * so each world builds its own set with `defaultApps()`. The real SQLite engine is a wasm
 * module loaded asynchronously: `await prepareDefaultApps()` once per process before a
 * guest running sqlite boots (everything after that is synchronous).
 */

import type { AppId } from '../../core/hypervisor-port.js';
import { createExchangeApp } from '../apps/exchange/index.js';
import { createFilesApp } from '../apps/files/files-app.js';
import { AdDomain, ntdsAppFactory } from '../apps/ntds/index.js';
import { createSqliteApp, loadSqlite } from '../apps/sqlite/index.js';
import { createSqlServerApp } from '../apps/sqlserver/index.js';
import type { AppFactory } from '../apps/types.js';

/** Loads what the default apps need before their first boot (the SQLite wasm module). */
export async function prepareDefaultApps(): Promise<void> {
  await loadSqlite();
}

export interface AppSet {
  readonly domain: AdDomain;
  readonly factories: Readonly<Partial<Record<AppId, AppFactory>>>;
}

export function defaultApps(): AppSet {
  const domain = new AdDomain();
  return {
    domain,
    factories: {
      files: createFilesApp,
      sqlite: createSqliteApp,
      sqlserver: createSqlServerApp,
      exchange: createExchangeApp,
      ntds: ntdsAppFactory(domain),
    },
  };
}
