/**
 * The browser-test infrastructure (test/support/browser.ts) on a tiny report: headless
 * Chromium opens a page that draws on a canvas from a local script, both from the report
 * server and from file://, with no console error and the canvas drawn. And the collectors
 * can fail: a script error, a console error and a missing asset are each reported, and a
 * blank canvas is told from a drawn one.
 */

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReportServer, type ReportServer } from '../../reports/server.js';
import { allProblems, canvasIsDrawn, HAVE_BROWSER, launchBrowser, openPage } from '../support/browser.js';

const page = (title: string, body: string) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>`;

function tinyReport(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'ql-browser-')), 'report');
  mkdirSync(join(dir, 'assets'), { recursive: true });
  // a classic script, not a module: modules do not load from file://
  writeFileSync(join(dir, 'index.html'), page('tiny', '<h1>tiny</h1><canvas id="chart" width="40" height="20"></canvas><script src="assets/x.js"></script>'));
  writeFileSync(join(dir, 'assets', 'x.js'), 'const ctx = document.getElementById("chart").getContext("2d");\nctx.fillStyle = "#c00";\nctx.fillRect(5, 5, 10, 10);\n');
  writeFileSync(join(dir, 'broken.html'), page('broken', '<canvas id="blank" width="40" height="20"></canvas><script>console.error("drawn wrong"); notAFunction();</script><script src="assets/missing.js"></script>'));
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

  it('from file://, a missing asset is a failed request too', async () => {
    const { page: p, problems } = await openPage(browser, where['file://']('broken.html'));
    try {
      expect(problems.failedRequests.join('\n')).toMatch(/missing\.js/);
    } finally {
      await p.close();
    }
  });
});
