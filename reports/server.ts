/**
 * The report server (`quiescelab serve`): serves one report folder over HTTP with fastify —
 * index.html at / (and at any `dir/`), every file with its content type (UTF-8 for text),
 * 404 for what is not there. Binds 127.0.0.1 unless told otherwise: a report may name an
 * estate's VMs.
 *
 * What it guards:
 * - Paths: only regular files under the root. The request path is refused (404, a body
 *   that names nothing) when it holds `..` or `.` segments, raw or percent-encoded, an
 *   encoded `/`, a backslash, a NUL, an empty segment or a dot file. What is left is walked
 *   from the root's realpath with lstat on every component: a symlink is followed only when
 *   its realpath stays under the root's realpath, and so must the file's. Anything but a
 *   regular file (FIFO, socket, device) is refused from its stat, never opened; the file is
 *   then opened with O_NOFOLLOW | O_NONBLOCK and its fstat must be the same inode, so a
 *   swap between the check and the open is refused too (and a FIFO swapped in cannot hang).
 * - Host (DNS rebinding): the Host header must be `HOST:PORT` (bare HOST on port 80) for
 *   the host given, the address bound, and — bound to loopback — localhost, 127.0.0.1 and
 *   [::1]. Bound to all interfaces (0.0.0.0 or ::), also every address of the machine's
 *   interfaces (os.networkInterfaces at start, IPv6 in brackets, link-local scope dropped)
 *   and its host name (os.hostname). Any other Host, or none: 421, naming nothing.
 * - Headers on every answer: a Content-Security-Policy allowing the report's own files
 *   only (CSP below), X-Content-Type-Options: nosniff, Referrer-Policy: no-referrer,
 *   Cache-Control: no-cache. The report runs no inline script; its one inline code is the
 *   failure pages' `style="left:…%"` timeline ticks, allowed by their SHA-256 hashes
 *   ('unsafe-hashes'), computed per HTML page as it is served — not 'unsafe-inline'.
 * - `exposure` tells the CLI whether the bound address is loopback, one interface or all.
 *
 * What goes wrong at start is a ReportServerError with a `kind` the CLI turns into one
 * line naming the argument or option; a raw Node error never leaves this module.
 * Left out: TLS, authentication, live reload (files are read per request, so a report
 * regenerated in place is served as it now is), ranges and ETags, hashes for inline
 * `<script>`/`<style>` blocks and event handlers (the report has none: they are refused),
 * interfaces that appear after start, hard links (a hard-linked file is in the root).
 */

import { constants, statSync, type Stats } from 'node:fs';
import { lstat, open, realpath, stat, type FileHandle } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { isIP, type AddressInfo } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { extname, join, resolve, sep } from 'node:path';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';

export interface ReportServerOptions {
  /** The report folder; must hold index.html. */
  readonly root: string;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port: number;
}

/** Who can reach the server: this machine only, whoever reaches one address, or every interface. */
export type Exposure = 'loopback' | 'address' | 'all-interfaces';

export interface ReportServer {
  /** `http://HOST:PORT/` with the port really bound (IPv6 hosts in brackets). */
  readonly url: string;
  readonly root: string;
  readonly exposure: Exposure;
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

/** The policy of every answer; an HTML page adds its style attributes' hashes to style-src. */
export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.xml': 'application/xml; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.gif': 'image/gif',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
};

// ---- start-up checks ----

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

// ---- request paths ----

/**
 * The path segments of a request URL (query dropped), or null when the path is refused:
 * not absolute, a backslash or NUL (raw or encoded), bad percent-encoding, an encoded `/`,
 * an empty, `.` or `..` segment, or a dot file. A trailing `/` leaves a last segment ''.
 */
export function requestSegments(url: string): string[] | null {
  const path = url.split('?', 1)[0] ?? '';
  if (!path.startsWith('/')) return null;
  const raw = path.slice(1).split('/');
  const segments: string[] = [];
  for (const [i, part] of raw.entries()) {
    let segment: string;
    try {
      segment = decodeURIComponent(part);
    } catch {
      return null;
    }
    if (/[/\\\0]/.test(segment) || segment.startsWith('.')) return null;
    if (segment === '' && i !== raw.length - 1) return null;
    segments.push(segment);
  }
  return segments;
}

function inside(realRoot: string, real: string): boolean {
  return real === realRoot || real.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep);
}

/** lstat of `path`, or null when it is not there (or cannot be read). */
async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch {
    return null;
  }
}

/**
 * The realpath and stat of the regular file `segments` name under `realRoot` ('' last:
 * the folder's index.html), or null: a component missing, a symlink leaving the root,
 * a file that is not regular. Nothing is opened.
 */
async function resolveUnderRoot(realRoot: string, segments: readonly string[]): Promise<{ real: string; stats: Stats } | null> {
  const names = segments.map((s) => (s === '' ? 'index.html' : s));
  let current = realRoot;
  for (const name of names) {
    current = join(current, name);
    const link = await lstatOrNull(current);
    if (link === null) return null;
    if (link.isSymbolicLink() && !inside(realRoot, await realpath(current).catch(() => ''))) return null;
  }
  const real = await realpath(current).catch(() => '');
  if (real === '' || !inside(realRoot, real)) return null;
  const stats = await stat(real).catch(() => null);
  return stats?.isFile() === true ? { real, stats } : null;
}

/** Opens the checked file without following a link or blocking, or null if it is no longer that inode. */
async function openChecked(file: { real: string; stats: Stats }): Promise<FileHandle | null> {
  const handle = await open(file.real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => null);
  if (handle === null) return null;
  const now = await handle.stat().catch(() => null);
  if (now?.isFile() === true && now.ino === file.stats.ino && now.dev === file.stats.dev) return handle;
  await handle.close();
  return null;
}

// ---- Content-Security-Policy ----

function decodeEntities(value: string): string {
  return value.replace(/&(?:#(\d+)|#x([0-9a-f]+)|(amp|lt|gt|quot|apos));/gi, (whole, dec?: string, hex?: string, name?: string) => {
    if (dec !== undefined) return String.fromCodePoint(Number(dec));
    if (hex !== undefined) return String.fromCodePoint(parseInt(hex, 16));
    const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
    return named[(name ?? '').toLowerCase()] ?? whole;
  });
}

/** The distinct `'sha256-…'` sources of a page's style attributes, in order of appearance. */
export function styleAttributeHashes(html: string): string[] {
  const hashes = new Set<string>();
  for (const m of html.matchAll(/\sstyle\s*=\s*(?:"([^"]*)"|'([^']*)')/gi)) {
    const value = decodeEntities(m[1] ?? m[2] ?? '');
    hashes.add(`'sha256-${createHash('sha256').update(value, 'utf8').digest('base64')}'`);
  }
  return [...hashes];
}

/** CSP with `html`'s style attributes allowed by hash (CSP itself when it has none). */
export function cspFor(html: string): string {
  const hashes = styleAttributeHashes(html);
  return hashes.length === 0 ? CSP : CSP.replace("style-src 'self'", `style-src 'self' 'unsafe-hashes' ${hashes.join(' ')}`);
}

// ---- Host header ----

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}

/** Where a bound address lets the server be reached from. */
export function exposureOf(address: string): Exposure {
  if (address === '0.0.0.0' || address === '::') return 'all-interfaces';
  return isLoopback(address) ? 'loopback' : 'address';
}

function hostName(host: string): string {
  const bare = host.replace(/%.*$/, '').toLowerCase();
  return isIP(bare) === 6 ? `[${bare}]` : bare;
}

/** The machine's interface addresses and host name (for a server on every interface). */
function machineNames(): string[] {
  const addresses = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
  return [...addresses, hostname()];
}

/**
 * The Host header values accepted by a server started with `--host given` and bound to
 * `address`:`port` (lower case). `machine` supplies the names for all interfaces.
 */
export function acceptedHosts(given: string, address: string, port: number, machine: () => readonly string[] = machineNames): Set<string> {
  const exposure = exposureOf(address);
  const names = [given, address];
  if (exposure !== 'address') names.push('localhost', '127.0.0.1', '::1');
  if (exposure === 'all-interfaces') names.push(...machine());
  const accepted = new Set<string>();
  for (const name of names.map(hostName)) {
    accepted.add(`${name}:${port}`);
    if (port === 80) accepted.add(name);
  }
  return accepted;
}

// ---- answers ----

function securityHeaders(reply: FastifyReply, csp: string): void {
  reply.header('Content-Security-Policy', csp)
    .header('X-Content-Type-Options', 'nosniff')
    .header('Referrer-Policy', 'no-referrer')
    .header('Cache-Control', 'no-cache');
}

/**
 * Plain text rather than fastify's JSON (which echoes the path): a person reads it. A
 * browser asks for /favicon.ico on its own; without one in the report, 204 keeps its
 * console free of a 404 the report did not cause.
 */
function notFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (request.url !== '/favicon.ico') return plainText(reply, 404, '404: no such file in this report\n');
  securityHeaders(reply, CSP);
  return reply.code(204).send();
}

/** An error answer: a short text that names nothing from the request. */
function plainText(reply: FastifyReply, code: number, text: string): FastifyReply {
  securityHeaders(reply, CSP);
  return reply.code(code).type('text/plain; charset=utf-8').send(text);
}

async function sendFile(reply: FastifyReply, file: { real: string; stats: Stats }, handle: FileHandle): Promise<FastifyReply> {
  const type = CONTENT_TYPES[extname(file.real).toLowerCase()] ?? 'application/octet-stream';
  reply.code(200).type(type);
  if (type.startsWith('text/html')) {
    let html: string;
    try {
      html = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
    securityHeaders(reply, cspFor(html));
    return reply.send(html);
  }
  securityHeaders(reply, CSP);
  reply.header('Content-Length', file.stats.size);
  return reply.send(handle.createReadStream());
}

async function serveFile(realRoot: string, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const segments = requestSegments(request.url);
  const file = segments === null ? null : await resolveUnderRoot(realRoot, segments);
  const handle = file === null ? null : await openChecked(file);
  if (file === null || handle === null) return notFound(request, reply);
  return sendFile(reply, file, handle);
}

function boundAddress(address: AddressInfo | string | null, port: number): { address: string; port: number } {
  return typeof address === 'object' && address !== null ? { address: address.address, port: address.port } : { address: '', port };
}

/** Starts the server; resolves once it listens. */
export async function startReportServer(options: ReportServerOptions): Promise<ReportServer> {
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port;
  if (!Number.isInteger(port) || port < 0 || port > MAX_PORT) throw new ReportServerError('bad-port', `port ${port} is not between 0 and ${MAX_PORT}`);
  if (isIP(host) === 0 && !HOSTNAME_RE.test(host)) throw new ReportServerError('bad-host', `'${host}' is neither an IP address nor a host name`);
  const root = resolve(options.root);
  checkRoot(root);
  const realRoot = await realpath(root);

  // forceCloseConnections: close() must not wait on a browser's idle keep-alive sockets.
  // frameworkErrors: a URL the router cannot parse is a plain 400 that does not echo it.
  const app = Fastify({
    logger: false,
    forceCloseConnections: true,
    frameworkErrors: (_error, _request, reply) => { void plainText(reply, 400, '400: bad request\n'); },
  });
  let accepted = new Set<string>();
  app.addHook('onRequest', async (request, reply) => {
    if (accepted.has((request.headers.host ?? '').toLowerCase())) return;
    return plainText(reply, 421, '421: this server does not answer for that host name\n');
  });
  app.get('/*', (request, reply) => serveFile(realRoot, request, reply));
  app.setNotFoundHandler(notFound);
  try {
    await app.listen({ host, port });
  } catch (error) {
    await app.close();
    throw listenError(error, host, port);
  }
  const bound = boundAddress(app.server.address(), port);
  accepted = acceptedHosts(host, bound.address, bound.port);
  const urlHost = isIP(host) === 6 ? `[${host}]` : host;
  return { url: `http://${urlHost}:${bound.port}/`, root, exposure: exposureOf(bound.address), close: () => app.close() };
}
