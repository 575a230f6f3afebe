/**
 * The report server (`quiescelab serve`): serves one report folder over HTTP with fastify
 * and @fastify/static — index.html at /, every asset with its content type (UTF-8 for
 * text), 404 for what is not there. No directory listing, no dot files, nothing above the
 * root (a `..` or an encoded one in the path is refused), fastify's logging off. Binds
 * 127.0.0.1 unless told otherwise: a report may name an estate's VMs.
 *
 * What goes wrong at start is a ReportServerError with a `kind` the CLI turns into one
 * line naming the argument or option; a raw Node error never leaves this module.
 * Left out: TLS, authentication, live reload (files are read per request, so a report
 * regenerated in place is served as it now is).
 */

import { statSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import fastifyStatic from '@fastify/static';
import Fastify from 'fastify';

export interface ReportServerOptions {
  /** The report folder; must hold index.html. */
  readonly root: string;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port: number;
}

export interface ReportServer {
  /** `http://HOST:PORT/` with the port really bound (IPv6 hosts in brackets). */
  readonly url: string;
  readonly root: string;
  close(): Promise<void>;
}

export type ReportServerErrorKind = 'root-missing' | 'root-not-folder' | 'no-index' | 'port-in-use' | 'port-denied' | 'bad-port' | 'bad-host';

/** Which user input a kind is about: the CLI names it (DIR, --port, --host). */
export function inputOf(kind: ReportServerErrorKind): 'root' | 'port' | 'host' {
  if (kind === 'root-missing' || kind === 'root-not-folder' || kind === 'no-index') return 'root';
  return kind === 'bad-host' ? 'host' : 'port';
}

export class ReportServerError extends Error {
  override readonly name = 'ReportServerError';
  constructor(readonly kind: ReportServerErrorKind, message: string) {
    super(message);
  }
}

export const DEFAULT_HOST = '127.0.0.1';
const MAX_PORT = 65_535;
/** A DNS name (RFC 1123 labels) or an IP literal; anything else is refused before listen. */
const HOSTNAME_RE = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

function checkRoot(root: string): void {
  let isFolder: boolean;
  try {
    isFolder = statSync(root).isDirectory();
  } catch {
    throw new ReportServerError('root-missing', `'${root}' does not exist`);
  }
  if (!isFolder) throw new ReportServerError('root-not-folder', `'${root}' is not a folder`);
  try {
    if (statSync(join(root, 'index.html')).isFile()) return;
  } catch {
    // reported below, as for a folder named index.html
  }
  throw new ReportServerError('no-index', `'${root}' has no index.html (is it a report folder? quiescelab matrix --out writes one)`);
}

function listenError(error: unknown, host: string, port: number): ReportServerError {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  if (code === 'EADDRINUSE') return new ReportServerError('port-in-use', `port ${port} on ${host} is already in use`);
  if (code === 'EACCES') return new ReportServerError('port-denied', `not allowed to listen on port ${port} on ${host} (EACCES)`);
  if (code === 'ERR_SOCKET_BAD_PORT') return new ReportServerError('bad-port', `port ${port} is not a valid port`);
  return new ReportServerError('bad-host', `cannot listen on '${host}'${code === '' ? '' : ` (${code})`}`);
}

/** Starts the server; resolves once it listens. */
export async function startReportServer(options: ReportServerOptions): Promise<ReportServer> {
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port;
  if (!Number.isInteger(port) || port < 0 || port > MAX_PORT) throw new ReportServerError('bad-port', `port ${port} is not between 0 and ${MAX_PORT}`);
  if (isIP(host) === 0 && !HOSTNAME_RE.test(host)) throw new ReportServerError('bad-host', `'${host}' is neither an IP address nor a host name`);
  const root = resolve(options.root);
  checkRoot(root);

  // forceCloseConnections: close() must not wait on a browser's idle keep-alive sockets.
  const app = Fastify({ logger: false, forceCloseConnections: true });
  await app.register(fastifyStatic, {
    root,
    list: false,
    index: ['index.html'],
    dotfiles: 'ignore',
    serveDotFiles: false,
    redirect: false,
    setHeaders: (reply) => { reply.header('X-Content-Type-Options', 'nosniff'); },
  });
  // Plain text rather than fastify's JSON (which echoes the path): a person reads it. A
  // browser asks for /favicon.ico on its own; without one in the report, 204 keeps its
  // console free of a 404 the report did not cause.
  app.setNotFoundHandler((request, reply) => request.url === '/favicon.ico'
    ? reply.code(204).send()
    : reply.code(404).type('text/plain; charset=utf-8').send('404: no such file in this report\n'));
  try {
    await app.listen({ host, port });
  } catch (error) {
    await app.close();
    throw listenError(error, host, port);
  }
  const address = app.server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  const urlHost = isIP(host) === 6 ? `[${host}]` : host;
  return { url: `http://${urlHost}:${bound}/`, root, close: () => app.close() };
}
