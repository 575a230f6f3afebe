/**
 * `quiescelab serve [DIR] [--port N] [--host H]`: serves a report folder (reports/server.ts)
 * until SIGINT or SIGTERM, then closes and exits 0. Prints one line on stdout, the folder
 * and the URL; bound to anything but loopback, one warning line on stderr first (who can
 * now read the report). A missing folder, a bad or busy port, a bad host: one line naming
 * DIR, --port or --host, exit 2. What the server refuses (paths, Host, CSP) is in
 * reports/server.ts.
 */

import type { Command } from 'commander';
import { DEFAULT_HOST, inputOf, ReportServerError, startReportServer, type Exposure, type ReportServer } from '../reports/server.js';
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

/** The stderr warning for a server reachable from other machines, or null on loopback. */
export function exposureWarning(host: string, exposure: Exposure): string | null {
  if (exposure === 'loopback') return null;
  const who = exposure === 'all-interfaces'
    ? 'listens on every interface: anyone who can reach this machine can read the report'
    : 'is not a loopback address: anyone who can reach it can read the report';
  return `quiescelab: serve: --host ${host} ${who}`;
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
      const warning = exposureWarning(options.host, server.exposure);
      if (warning !== null) process.stderr.write(`${warning}\n`);
      process.stdout.write(`serving ${server.root} at ${server.url}\n`);
      await stopped;
      await server.close();
      process.exitCode = 0;
    });
}
