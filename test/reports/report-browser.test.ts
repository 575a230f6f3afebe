/**
 * The report in a real browser, from file:// (headless Chromium through playwright-core;
 * skipped where /usr/bin/chromium is missing): no console errors, no script run from the
 * hostile strings (no dialog), the heat map present, the charts drawn (non-blank canvases),
 * nothing requested but the report's own files, and a failure page reached from the
 * mutant table by a click.
 */

import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { writeReport } from '../../reports/html/report.js';
import { hostileResults } from '../support/results-fixture.js';

const CHROMIUM = '/usr/bin/chromium';
/** Runs in the page (a string: tsconfig has no DOM types): the painted pixels of each chart canvas. */
const PAINTED = `[...document.querySelectorAll('canvas.chart')].map((canvas) => {
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) n++;
  return n;
})`;

describe.skipIf(!existsSync(CHROMIUM))('the report in Chromium (file://)', () => {
  it('draws the heat map and the charts without errors, runs no hostile script, and reaches a failure page from the mutant table', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ql-report-browser-'));
    writeReport(hostileResults({ beyondSchema: true }), dir);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); void d.dismiss(); });
      page.on('request', (r) => { if (!r.url().startsWith(pathToFileURL(dir).href) && !r.url().startsWith('data:')) problems.push(`request: ${r.url()}`); });

      await page.goto(pathToFileURL(join(dir, 'index.html')).href);
      expect(await page.locator('#heatmap table.heat').count()).toBe(3);
      const painted = await page.evaluate<number[]>(PAINTED);
      expect(painted).toHaveLength(2);
      for (const n of painted) expect(n).toBeGreaterThan(1000);
      expect(await page.locator('#heatmap').innerText()).toContain('<script>alert(1)</script>');

      await page.locator('#mutants a[href^="failures/"]').first().click();
      await page.waitForURL(/failures\/mutant\.no-quiesce\.html$/);
      expect(await page.locator('ol.timeline li').count()).toBe(16);
      expect(await page.locator('pre.cmd').innerText()).toMatch(/^quiescelab replay ql1\./);

      await page.goto(pathToFileURL(join(dir, 'cells', 'win2019.esx41.sqlserver.ide.html')).href);
      expect(await page.locator('canvas.chart').count()).toBe(4);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
