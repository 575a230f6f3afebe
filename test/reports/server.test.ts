/**
 * The report server and `quiescelab serve`: a report folder served with its content types,
 * 404 for the rest, nothing above the root (raw and encoded `..`, NUL, backslashes), no
 * listing or dot files; symlinks followed only while they stay in the root, FIFOs refused
 * without hanging; a Host header other than the bound address's (or loopback's) is 421;
 * every answer carries the CSP, nosniff and no-referrer, a page's style attributes allowed
 * by hash; a bad folder, port or host is a typed error in the API and one line with exit 2
 * in the CLI; a non-loopback bind warns on stderr; SIGTERM closes the server and exits 0.
 */

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { request, type OutgoingHttpHeaders } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exposureWarning } from '../../cli/serve.js';
import { acceptedHosts, CSP, cspFor, exposureOf, ReportServerError, requestSegments, startReportServer, styleAttributeHashes, type ReportServer } from '../../reports/server.js';
import { cli, cliArgs, expectUsageError, ROOT } from '../support/cli.js';


/** A report-like folder: index.html and assets, beside a file that must never be served. */
function reportFolder(): string {
  const base = mkdtempSync(join(tmpdir(), 'ql-serve-'));
  writeFileSync(join(base, 'secret.txt'), 'outside the root');
  const dir = join(base, 'report');
  mkdirSync(join(dir, 'assets'), { recursive: true });
  writeFileSync(join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><title>r</title><h1>Rapport — é</h1>');
  writeFileSync(join(dir, 'assets', 'app.js'), 'console.log("x");');
  writeFileSync(join(dir, 'assets', 'style.css'), 'body{}');
  writeFileSync(join(dir, 'results.json'), '{"tool":"quiescelab"}');
  writeFileSync(join(dir, 'assets', 'dot.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  writeFileSync(join(dir, 'assets', 'shot.png'), Buffer.from('89504e470d0a1a0a', 'hex'));
  writeFileSync(join(dir, '.hidden'), 'dot file');
  return dir;
}

interface Raw {
  readonly status: number;
  readonly type: string;
  readonly body: string;
  readonly csp: string;
}

/**
 * A GET with the path (and headers) sent as written: fetch would normalise `..` away before
 * sending, and sets Host itself. `host: ''` sends no Host header at all.
 */
function rawGet(url: string, path: string, headers: OutgoingHttpHeaders = {}): Promise<Raw> {
  const u = new URL(url);
  const { host, ...others } = headers;
  const setHost = host !== '';
  return new Promise((done, fail) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET', headers: setHost ? headers : others, setHost, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => { done({ status: res.statusCode ?? 0, type: res.headers['content-type'] ?? '', body, csp: String(res.headers['content-security-policy']) }); });
    });
    req.on('timeout', () => { req.destroy(new Error(`GET ${path}: no answer in 5 s`)); });
    req.on('error', fail);
    req.end();
  });
}

/** A port bound by this process for the test's lifetime. */
async function busyPort(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((done) => server.close(() => { done(); })) };
}

async function startError(options: Parameters<typeof startReportServer>[0]): Promise<ReportServerError> {
  try {
    const s = await startReportServer(options);
    await s.close();
  } catch (error) {
    if (error instanceof ReportServerError) return error;
    throw error;
  }
  throw new Error('the server started');
}

describe('startReportServer', () => {
  const dir = reportFolder();
  let server: ReportServer;
  beforeAll(async () => { server = await startReportServer({ root: dir, port: 0 }); });
  afterAll(async () => { await server.close(); });

  it('listens on 127.0.0.1 on a free port and serves index.html at / as UTF-8 HTML', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const r = await fetch(server.url);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await r.text()).toContain('Rapport — é');
  });

  it.each([
    ['assets/app.js', /^(text|application)\/javascript; charset=utf-8$/],
    ['assets/style.css', /^text\/css; charset=utf-8$/],
    ['results.json', /^application\/json; charset=utf-8$/],
    ['assets/dot.svg', /^image\/svg\+xml/],
    ['assets/shot.png', /^image\/png$/],
  ])('%s is served with its content type', async (path, type) => {
    const r = await fetch(new URL(path, server.url));
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(type);
  });

  it('/favicon.ico is 204 when the report has none (a browser asks on its own), served when it has one', async () => {
    expect((await fetch(new URL('favicon.ico', server.url))).status).toBe(204);
    writeFileSync(join(dir, 'favicon.ico'), Buffer.from([0, 0, 1, 0]));
    const r = await fetch(new URL('favicon.ico', server.url));
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^image\//);
  });

  it.each(['/nope.html', '/assets/', '/assets', '/.hidden'])('%s is 404 (no file, no listing, no dot file)', async (path) => {
    const r = await rawGet(server.url, path);
    expect(r.status).toBe(404);
    expect(r.body).not.toContain('app.js');
    expect(r.body).not.toContain('dot file');
  });

  it.each(['/../secret.txt', '/assets/../../secret.txt', '/%2e%2e/secret.txt', '/%2E%2E%2Fsecret.txt', '/..%5csecret.txt', '/assets/..%2f..%2fsecret.txt'])('%s is refused: nothing above the root', async (path) => {
    const r = await rawGet(server.url, path);
    expect([400, 403, 404]).toContain(r.status);
    expect(r.body).not.toContain('outside the root');
  });

  it.each(['/assets/%2e%2e/index.html', '/%2e/index.html', '/./index.html', '//index.html', '/assets\\app.js', '/assets%5capp.js', '/assets%2fapp.js', '/index.html%00', '/index.html%00.png', '/%zz'])('%s is refused although it names a file in the root, and the answer names nothing', async (path) => {
    const r = await rawGet(server.url, path);
    expect([400, 404]).toContain(r.status);
    expect(r.body).not.toMatch(/index|app\.js|assets|zz/);
  });

  it('every answer carries the CSP, nosniff and no-referrer: pages, assets, 404s', async () => {
    for (const path of ['/', '/assets/app.js', '/results.json', '/nope.html', '/../secret.txt']) {
      const r = await fetch(new URL(path, server.url));
      expect(r.headers.get('content-security-policy'), path).toBe(CSP);
      expect(r.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(r.headers.get('referrer-policy'), path).toBe('no-referrer');
    }
  });

  it('a missing folder, a file, a folder without index.html, a bad host and a busy port are typed errors', async () => {
    expect((await startError({ root: join(dir, 'missing'), port: 0 })).kind).toBe('root-missing');
    expect((await startError({ root: join(dir, 'index.html'), port: 0 })).kind).toBe('root-not-folder');
    expect((await startError({ root: join(dir, 'assets'), port: 0 })).kind).toBe('no-index');
    expect((await startError({ root: dir, port: 0, host: 'no such host!' })).kind).toBe('bad-host');
    expect((await startError({ root: dir, port: 70_000 })).kind).toBe('bad-port');
    const busy = await busyPort();
    try {
      const e = await startError({ root: dir, port: busy.port });
      expect(e.kind).toBe('port-in-use');
      expect(e.message).toContain(String(busy.port));
    } finally {
      await busy.close();
    }
  });
});

/** `ln -s`: a folder in the root with symlinks in and out of it, and a FIFO. */
function linkedFolder(): { dir: string; outside: string } {
  const dir = reportFolder();
  const outside = join(dir, '..');
  symlinkSync(join(outside, 'secret.txt'), join(dir, 'leak.txt'));
  symlinkSync('../secret.txt', join(dir, 'leak-relative.txt'));
  symlinkSync(outside, join(dir, 'up'));
  symlinkSync('/etc/passwd', join(dir, 'passwd'));
  symlinkSync('/dev/zero', join(dir, 'zero.bin'));
  symlinkSync(join(dir, 'missing'), join(dir, 'dangling.txt'));
  symlinkSync('index.html', join(dir, 'same.html'));
  symlinkSync('assets', join(dir, 'assets-too'));
  mkdirSync(join(dir, 'piped'));
  execFileSync('mkfifo', [join(dir, 'pipe.js'), join(dir, 'piped', 'index.html')]);
  symlinkSync('pipe.js', join(dir, 'to-pipe.js'));
  return { dir, outside };
}

describe('symlinks and special files', () => {
  const { dir } = linkedFolder();
  let server: ReportServer;
  beforeAll(async () => { server = await startReportServer({ root: dir, port: 0 }); });
  afterAll(async () => { await server.close(); });

  it.each(['/leak.txt', '/leak-relative.txt', '/up/secret.txt', '/up/report/index.html', '/passwd', '/zero.bin', '/dangling.txt'])('%s (a symlink leaving the root, even one that comes back) is 404 and reveals nothing', async (path) => {
    const r = await rawGet(server.url, path);
    expect(r.status).toBe(404);
    expect(r.body).toBe('404: no such file in this report\n');
  });

  it('symlinks that stay in the root are followed', async () => {
    expect((await rawGet(server.url, '/same.html')).body).toContain('Rapport');
    const r = await rawGet(server.url, '/assets-too/app.js');
    expect(r.status).toBe(200);
    expect(r.body).toBe('console.log("x");');
  });

  it.each(['/pipe.js', '/to-pipe.js', '/piped/'])('%s (a FIFO, or a link to one) is 404 at once: never opened, so nothing hangs', async (path) => {
    const r = await rawGet(server.url, path);
    expect(r.status).toBe(404);
    expect(r.body).toBe('404: no such file in this report\n');
  });

  it('a root reached through a symlink is served', async () => {
    const link = join(mkdtempSync(join(tmpdir(), 'ql-serve-link-')), 'report');
    symlinkSync(dir, link);
    const s = await startReportServer({ root: link, port: 0 });
    try {
      expect((await rawGet(s.url, '/')).body).toContain('Rapport');
      expect((await rawGet(s.url, '/leak.txt')).status).toBe(404);
    } finally {
      await s.close();
    }
  });
});

describe('requestSegments', () => {
  it('splits a clean path, keeps a trailing slash as a last empty segment, drops the query', () => {
    expect(requestSegments('/')).toEqual(['']);
    expect(requestSegments('/cells/a%20b.html?x=1')).toEqual(['cells', 'a b.html']);
    expect(requestSegments('/cells/')).toEqual(['cells', '']);
  });

  it.each(['', 'index.html', '/..', '/a/../b', '/%2e%2e/x', '/%2E%2e', '/.', '/a//b', '/a%2fb', '/a%5cb', '/a\\b', '/a%00', '/.git/config', '/%'])('%j is refused', (url) => {
    expect(requestSegments(url)).toBeNull();
  });
});

describe('the Host header (DNS rebinding)', () => {
  const dir = reportFolder();
  let server: ReportServer;
  let port = '';
  beforeAll(async () => {
    server = await startReportServer({ root: dir, port: 0 });
    port = new URL(server.url).port;
  });
  afterAll(async () => { await server.close(); });

  it.each(['127.0.0.1', 'localhost', 'LOCALHOST', '[::1]'])('%s:PORT is served on a loopback bind', async (host) => {
    const r = await rawGet(server.url, '/', { host: `${host}:${port}` });
    expect(r.status).toBe(200);
    expect(r.body).toContain('Rapport');
  });

  it.each(['evil.example', 'localhost.evil.example', '127.0.0.1.nip.io', '192.168.1.10'])('%s:PORT is 421, the name not echoed', async (host) => {
    const r = await rawGet(server.url, '/', { host: `${host}:${port}` });
    expect(r.status).toBe(421);
    expect(r.csp).toBe(CSP);
    expect(r.body).not.toContain(host);
    expect(r.body).not.toContain('Rapport');
  });

  it('the right name on another port or without one is 421; no Host at all is refused', async () => {
    for (const host of [`127.0.0.1:${Number(port) + 1}`, '127.0.0.1', 'localhost']) {
      expect((await rawGet(server.url, '/', { host })).status, host).toBe(421);
    }
    expect([400, 421]).toContain((await rawGet(server.url, '/', { host: '' })).status);
  });

  it('acceptedHosts: loopback names on loopback, the machine on all interfaces, only the address on one', () => {
    const machine = () => ['10.1.2.3', 'fe80::1%eth0', 'buildhost'];
    expect([...acceptedHosts('127.0.0.1', '127.0.0.1', 8080, machine)].sort()).toEqual(['127.0.0.1:8080', '[::1]:8080', 'localhost:8080']);
    expect([...acceptedHosts('::1', '::1', 80, machine)].sort()).toEqual(['127.0.0.1', '127.0.0.1:80', '[::1]', '[::1]:80', 'localhost', 'localhost:80']);
    expect([...acceptedHosts('0.0.0.0', '0.0.0.0', 8080, machine)].sort()).toEqual(['0.0.0.0:8080', '10.1.2.3:8080', '127.0.0.1:8080', '[::1]:8080', '[fe80::1]:8080', 'buildhost:8080', 'localhost:8080']);
    expect([...acceptedHosts('Report.Example', '10.1.2.3', 8080, machine)].sort()).toEqual(['10.1.2.3:8080', 'report.example:8080']);
    expect(exposureOf('127.0.0.5')).toBe('loopback');
    expect(exposureOf('::')).toBe('all-interfaces');
    expect(exposureOf('10.1.2.3')).toBe('address');
  });
});

describe('the Content-Security-Policy of a page with style attributes', () => {
  const dir = reportFolder();
  writeFileSync(join(dir, 'ticks.html'), '<!doctype html><p><span class="tick" style="left:12.50%"></span><span style="left:12.50%"></span><span style=\'color:&#34;red&#34;\'></span></p>');
  let server: ReportServer;
  beforeAll(async () => { server = await startReportServer({ root: dir, port: 0 }); });
  afterAll(async () => { await server.close(); });

  const sha = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

  it("allows each distinct style attribute by its hash ('unsafe-hashes'), never 'unsafe-inline'", async () => {
    const r = await fetch(new URL('ticks.html', server.url));
    const csp = r.headers.get('content-security-policy') ?? '';
    expect(csp).toBe(CSP.replace("style-src 'self'", `style-src 'self' 'unsafe-hashes' ${sha('left:12.50%')} ${sha('color:"red"')}`));
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toMatch(/script-src 'self';/);
  });

  it('a page without style attributes gets the plain policy', () => {
    expect(styleAttributeHashes('<p class="x">style="no"</p>')).toEqual([]);
    expect(cspFor('<p class="x"></p>')).toBe(CSP);
  });
});

describe('quiescelab serve (CLI)', () => {
  const dir = reportFolder();

  it('prints its URL line, answers, and exits 0 on SIGTERM', async () => {
    const child = execa('node', cliArgs('serve', dir, '--port', '0'), { cwd: ROOT, reject: false });
    const line = await new Promise<string>((done, fail) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString('utf8');
        if (out.includes('\n')) done(out);
      });
      child.once('exit', () => { fail(new Error(`serve exited before printing its URL: ${out}`)); });
    });
    const url = /^serving (.+) at (http:\/\/127\.0\.0\.1:\d+\/)\n$/.exec(line);
    expect(url?.[1]).toBe(dir);
    const r = await fetch(url?.[2] ?? '');
    expect(await r.text()).toContain('Rapport');
    child.kill('SIGTERM');
    const done = await child;
    expect(done.exitCode, done.stderr).toBe(0);
    expect(done.stdout.trim().split('\n')).toHaveLength(1);
    expect(done.stderr).toBe('');
  });

  it('--host 0.0.0.0 warns on stderr in one line that every interface can read the report', async () => {
    const child = execa('node', cliArgs('serve', dir, '--port', '0', '--host', '0.0.0.0'), { cwd: ROOT, reject: false });
    await new Promise<void>((done, fail) => {
      child.stdout.once('data', () => { done(); });
      child.once('exit', () => { fail(new Error('serve exited before printing its URL')); });
    });
    child.kill('SIGTERM');
    const r = await child;
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^serving .+ at http:\/\/0\.0\.0\.0:\d+\/$/);
    expect(r.stderr).toBe('quiescelab: serve: --host 0.0.0.0 listens on every interface: anyone who can reach this machine can read the report');
  });

  it('the warning for one non-loopback address, none for loopback', () => {
    expect(exposureWarning('192.168.1.10', 'address')).toBe('quiescelab: serve: --host 192.168.1.10 is not a loopback address: anyone who can reach it can read the report');
    expect(exposureWarning('localhost', 'loopback')).toBeNull();
  });

  it.each([
    [['serve', '/nope'], /^quiescelab: DIR: '\/nope' does not exist$/],
    [['serve', '--port', 'abc'], /^quiescelab: --port: expected a whole number, got 'abc'$/],
    [['serve', '--port', '70000'], /^quiescelab: --port: must be between 0 and 65535, got 70000$/],
    [['serve', '--host', 'bad host'], /^quiescelab: --host: 'bad host' is neither an IP address nor a host name$/],
  ])('bad usage %j: one line, exit 2', async (args, message) => {
    expectUsageError(await cli(...args), message);
  });

  it('a folder without index.html and a port in use: exit 2 naming DIR and --port', async () => {
    const noIndex = await cli('serve', join(dir, 'assets'), '--port', '0');
    expect(noIndex.exitCode).toBe(2);
    expect(noIndex.stderr.trim()).toMatch(/^quiescelab: DIR: '.*assets' has no index\.html/);
    const busy = await busyPort();
    try {
      const r = await cli('serve', dir, '--port', String(busy.port));
      expect(r.exitCode).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.trim()).toBe(`quiescelab: --port: port ${busy.port} on 127.0.0.1 is already in use`);
    } finally {
      await busy.close();
    }
  });
});
