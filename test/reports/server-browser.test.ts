/**
 * The browser-test infrastructure (test/support/browser.ts) on a tiny report: headless
 * Chromium opens a page that draws on a canvas from a local script, both from the report
 * server and from file://, with no console error and the canvas drawn. And the collectors
 * can fail: a script error, a console error and a missing asset are each reported, and a
 * blank canvas is told from a drawn one; an inline script refused by the server's CSP is a
 * console error too.
 *
 * Then the server's guards as a browser meets them, on a rendered report (the hostile
 * fixture: charts on the index and cell pages, style-attribute timeline ticks on failure
 * pages): every page carries the CSP and loads with no violation, every chart drawn and
 * the ticks placed; a symlink out of the root is a 404; a page reached through a name
 * that resolves to 127.0.0.1 but is not the server's (DNS rebinding) is refused.
 */

import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderReport, writeReport } from '../../reports/html/report.js';
import { CSP, startReportServer, type ReportServer } from '../../reports/server.js';
import { allProblems, canvasIsDrawn, HAVE_BROWSER, launchBrowser, openPage } from '../support/browser.js';
import { hostileResults } from '../support/results-fixture.js';

const page = (title: string, body: string) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>`;

function tinyReport(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'ql-browser-')), 'report');
  mkdirSync(join(dir, 'assets'), { recursive: true });
  // a classic script, not a module: modules do not load from file://
  writeFileSync(join(dir, 'index.html'), page('tiny', '<h1>tiny</h1><canvas id="chart" width="40" height="20"></canvas><script src="assets/x.js"></script>'));
  writeFileSync(join(dir, 'assets', 'x.js'), 'const ctx = document.getElementById("chart").getContext("2d");\nctx.fillStyle = "#c00";\nctx.fillRect(5, 5, 10, 10);\n');
  // the broken script is a file: the server's CSP refuses inline scripts (inline.html)
  writeFileSync(join(dir, 'broken.html'), page('broken', '<canvas id="blank" width="40" height="20"></canvas><script src="assets/broken.js"></script><script src="assets/missing.js"></script>'));
  writeFileSync(join(dir, 'assets', 'broken.js'), 'console.error("drawn wrong"); notAFunction();\n');
  writeFileSync(join(dir, 'inline.html'), page('inline', '<h1 id="h">inline</h1><script>document.getElementById("h").textContent = "ran";</script>'));
  return dir;
}

describe.skipIf(!HAVE_BROWSER)('headless Chromium on a served and a file:// report', () => {
  const dir = tinyReport();
  let server: ReportServer;
  let browser: Browser;
  beforeAll(async () => {
    server = await startReportServer({ root: dir, port: 0 });
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser.close();
    await server.close();
  });

  const where = {
    server: (file: string) => new URL(file, server.url).href,
    'file://': (file: string) => pathToFileURL(join(dir, file)).href,
  };

  it.each(Object.keys(where) as (keyof typeof where)[])('from %s: loads clean and the canvas is drawn', async (from) => {
    const { page: p, problems } = await openPage(browser, where[from](from === 'server' ? '' : 'index.html'));
    try {
      expect(await p.textContent('h1')).toBe('tiny');
      expect(await canvasIsDrawn(p, '#chart')).toBe(true);
      expect(allProblems(problems)).toEqual([]);
    } finally {
      await p.close();
    }
  });

  it('a script error, a console error and a missing asset are reported; a blank canvas is not drawn', async () => {
    const { page: p, problems } = await openPage(browser, where.server('broken.html'));
    try {
      expect(problems.pageErrors.join('\n')).toMatch(/notAFunction is not defined/);
      expect(problems.consoleErrors.join('\n')).toMatch(/drawn wrong/);
      expect(problems.failedRequests.join('\n')).toMatch(/^404 http:\/\/127\.0\.0\.1:\d+\/assets\/missing\.js$/m);
      expect(allProblems(problems).length).toBeGreaterThanOrEqual(3);
      expect(await canvasIsDrawn(p, '#blank', { timeoutMs: 200 })).toBe(false);
      await expect(canvasIsDrawn(p, '#none')).rejects.toThrow(/no <canvas> matches '#none'/);
    } finally {
      await p.close();
    }
  });

  it('from the server, an inline script does not run and its CSP violation is a console error', async () => {
    const { page: p, problems } = await openPage(browser, where.server('inline.html'));
    try {
      expect(await p.textContent('h1')).toBe('inline');
      expect(problems.consoleErrors.join('\n')).toMatch(/Content Security Policy/);
    } finally {
      await p.close();
    }
  });

  it('from file://, a missing asset is a failed request too', async () => {
    const { page: p, problems } = await openPage(browser, where['file://']('broken.html'));
    try {
      expect(problems.failedRequests.join('\n')).toMatch(/missing\.js/);
    } finally {
      await p.close();
    }
  });
});

/** A rendered report (the hostile fixture) with a symlink to a file outside its folder; its .html pages. */
function linkedReport(): { dir: string; pages: string[] } {
  const base = mkdtempSync(join(tmpdir(), 'ql-browser-csp-'));
  writeFileSync(join(base, 'secret.txt'), 'outside the root');
  const dir = join(base, 'report');
  const results = hostileResults({ beyondSchema: true });
  writeReport(results, dir);
  symlinkSync(join(base, 'secret.txt'), join(dir, 'leak.txt'));
  return { dir, pages: [...renderReport(results).keys()].filter((f) => f.endsWith('.html')) };
}

/** In the page: each timeline tick's offset from its strip's left edge, in pixels. */
function tickOffsets(ticks: unknown[]): number[] {
  return ticks.map((t) => (t as { offsetLeft: number }).offsetLeft);
}

/** In the page: the ids of the chart canvases. */
function canvasIds(canvases: unknown[]): string[] {
  return canvases.map((c) => (c as { id: string }).id);
}

const REBIND = 'rebind.quiescelab.test';

describe.skipIf(!HAVE_BROWSER)("the server's guards in Chromium, on a rendered report", () => {
  const { dir, pages } = linkedReport();
  let server: ReportServer;
  let browser: Browser;
  beforeAll(async () => {
    server = await startReportServer({ root: dir, port: 0 });
    // REBIND resolves to 127.0.0.1 in this browser: a DNS-rebinding attacker's name
    browser = await launchBrowser([`--host-resolver-rules=MAP ${REBIND} 127.0.0.1`]);
  }, 60_000);
  afterAll(async () => {
    await browser.close();
    await server.close();
  });

  it('every page carries the CSP and loads with no violation: every chart drawn, every timeline tick placed', async () => {
    expect(pages.length).toBeGreaterThan(10);
    let charts = 0;
    let ticked = 0;
    for (const file of pages) {
      const url = new URL(file, server.url).href;
      const csp = (await fetch(url)).headers.get('content-security-policy') ?? '';
      expect(csp.startsWith(CSP.split("style-src 'self'")[0] ?? ''), file).toBe(true);
      expect(csp, file).not.toContain('unsafe-inline');
      const { page: p, problems } = await openPage(browser, url);
      try {
        const ids = await p.locator('canvas.chart').evaluateAll(canvasIds);
        for (const id of ids) expect(await canvasIsDrawn(p, `#${id}`), `${file} #${id}`).toBe(true);
        charts += ids.length;
        const offsets = await p.locator('.strip .tick').evaluateAll(tickOffsets);
        if (offsets.length > 0) {
          // a tick whose style attribute were refused would sit at 0 with all the others
          expect(new Set(offsets).size, file).toBeGreaterThan(2);
          expect(Math.max(...offsets), file).toBeGreaterThan(100);
          ticked++;
        }
        expect(allProblems(problems), file).toEqual([]);
      } finally {
        await p.close();
      }
    }
    expect(charts).toBeGreaterThan(20);
    expect(ticked).toBeGreaterThanOrEqual(4);
  }, 120_000);

  it('a symlink out of the served root is a 404 that shows nothing of the file', async () => {
    const p = await browser.newPage();
    try {
      const response = await p.goto(new URL('leak.txt', server.url).href);
      expect(response?.status()).toBe(404);
      expect(await p.textContent('body')).not.toContain('outside the root');
    } finally {
      await p.close();
    }
  });

  it('the report reached through another name for 127.0.0.1 (DNS rebinding) is refused with 421', async () => {
    const p = await browser.newPage();
    try {
      const response = await p.goto(`http://${REBIND}:${new URL(server.url).port}/index.html`);
      expect(response?.status()).toBe(421);
      expect(await p.locator('canvas').count()).toBe(0);
      expect(await p.textContent('body')).not.toContain('quiescelab report');
    } finally {
      await p.close();
    }
  });
});
