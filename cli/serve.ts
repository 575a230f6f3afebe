/**
 * `quiescelab serve [DIR] [--port N] [--host H]`: serves a report folder (reports/server.ts)
 * until SIGINT or SIGTERM, then closes and exits 0. Prints one line, the folder and the URL.
 * A missing folder, a bad or busy port, a bad host: one line naming DIR, --port or --host,
 * exit 2.
 */

import type { Command } from 'commander';
import { DEFAULT_HOST, inputOf, ReportServerError, startReportServer, type ReportServer } from '../reports/server.js';
import { parseIntOption, UsageError } from './errors.js';

interface ServeOptions {
  readonly port: string;
  readonly host: string;
}

const INPUT_NAMES = { root: 'DIR', port: '--port', host: '--host' } as const;

async function start(root: string, host: string, port: number): Promise<ReportServer> {
  try {
    return await startReportServer({ root, host, port });
  } catch (error) {
    if (error instanceof ReportServerError) throw new UsageError(`${INPUT_NAMES[inputOf(error.kind)]}: ${error.message}`);
    throw error;
  }
}

/** Resolves with the first of SIGINT or SIGTERM, the handlers removed again. */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolveSignal) => {
    const on = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolveSignal(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve a report folder over HTTP until Ctrl-C (127.0.0.1 by default)')
    .argument('[dir]', 'the report folder', 'report')
    .option('--port <n>', 'port (0 picks a free one)', '8080')
    .option('--host <host>', 'address to listen on', DEFAULT_HOST)
    .action(async (dir: string, options: ServeOptions) => {
      const port = parseIntOption('--port', options.port, 0, 65_535);
      const server = await start(dir, options.host, port);
      const stopped = untilSignal();
      process.stdout.write(`serving ${server.root} at ${server.url}\n`);
      await stopped;
      await server.close();
      process.exitCode = 0;
    });
}
