/**
 * The report server and `quiescelab serve`: a report folder served with its content types,
 * 404 for the rest, nothing above the root (raw and encoded `..`), no listing or dot files;
 * a bad folder, port or host is a typed error in the API and one line with exit 2 in the
 * CLI; SIGTERM closes the server and exits 0.
 */

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReportServerError, startReportServer, type ReportServer } from '../../reports/server.js';
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
}

/** A GET with the path sent as written: fetch would normalise `..` away before sending. */
function rawGet(url: string, path: string): Promise<Raw> {
  const u = new URL(url);
  return new Promise((done, fail) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => { done({ status: res.statusCode ?? 0, type: res.headers['content-type'] ?? '', body }); });
    });
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
