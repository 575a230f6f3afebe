/**
 * The Exchange application (ESE model) and its VSS writer: the factory the simulated
 * hypervisor builds a guest's Exchange with, and an option maker for circular logging and
 * the log sizes. The on-disk format is in ese-format.ts.
 */

import type { AppFactory } from '../types.js';
import { ExchangeApp, type ExchangeOptions } from './exchange-app.js';

export { ExchangeApp, exchangeLayout, itemKey, EXCHANGE_ROOT, type ExchangeOptions, type MailItem } from './exchange-app.js';
export { ExchangeWriter, EXCHANGE_WRITER_NAME } from './exchange-writer.js';
export { EseStore, type EseLayout, type EseOpened } from './ese-store.js';
export * from './ese-format.js';

/** A factory for Exchange with these options (circular logging off is Exchange's default). */
export function exchangeAppFactory(options: ExchangeOptions): AppFactory {
  return (host) => new ExchangeApp(host, options);
}

export const createExchangeApp: AppFactory = exchangeAppFactory({ circularLogging: false });
