/**
 * The `quiescelab evaluate` page in Chromium, opened from file://: every VM of the JSON is
 * a row, a click on a header sorts, the risk filter shows exactly the VMs with that risk,
 * no request leaves the file system and no console error.
 */

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EstateEvaluation } from '../../scenarios/estate/evaluate.js';
import { allProblems, HAVE_BROWSER, launchBrowser, openPage } from '../support/browser.js';
import { cli } from '../support/cli.js';

const shownNames = (page: Page): Promise<string[]> => page.locator('#vms tbody tr:not([hidden]) td:first-child').allTextContents();

describe.skipIf(!HAVE_BROWSER)('the evaluate page in Chromium', () => {
  let browser: Browser;
  let dir = '';
  let evaluation: EstateEvaluation;

  beforeAll(async () => {
    dir = join(mkdtempSync(join(tmpdir(), 'ql-eval-browser-')), 'e');
    const r = await cli('evaluate', 'examples/estates/estate.yaml', '--runs', '1', '--out', dir);
    expect(r.exitCode, r.stderr).toBe(0);
    evaluation = JSON.parse(readFileSync(join(dir, 'evaluation.json'), 'utf8')) as EstateEvaluation;
    browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
  });

  it('sorts by a clicked header and filters by risk, offline, without an error', async () => {
    const { page, problems } = await openPage(browser, `${pathToFileURL(dir).href}/index.html`);
    const requests: string[] = [];
    page.on('request', (r) => { requests.push(r.url()); });
    const names = evaluation.vms.map((v) => v.vm);
    expect((await shownNames(page)).sort()).toEqual([...names].sort());
    await page.locator('#vms th').first().click();
    expect(await shownNames(page)).toEqual([...names].sort((a, b) => a.localeCompare(b)));
    await page.locator('#vms th').first().click();
    expect(await shownNames(page)).toEqual([...names].sort((a, b) => b.localeCompare(a)));
    for (const risk of Object.keys(evaluation.summary.risks)) {
      await page.selectOption('#risk', risk);
      const withRisk = evaluation.vms.filter((v) => v.risks.some((r) => r.id === risk)).map((v) => v.vm);
      expect((await shownNames(page)).sort(), risk).toEqual(withRisk.sort());
    }
    await page.selectOption('#risk', 'none');
    expect((await shownNames(page)).sort()).toEqual(evaluation.vms.filter((v) => v.risks.length === 0).map((v) => v.vm).sort());
    expect(requests.filter((u) => !u.startsWith('file:') && !u.startsWith('data:'))).toEqual([]);
    expect(allProblems(problems)).toEqual([]);
  }, 60_000);
});
