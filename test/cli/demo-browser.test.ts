/**
 * The demo page in headless Chromium (skipped where none is installed, unless
 * QUIESCELAB_REQUIRE_BROWSER=1): `quiescelab demo --out d`, opened from file://, stepped
 * with Next through every step and Back once, then with the keyboard alone (arrows, Home,
 * End, the scrubber); the current step is marked aria-current="step"; no console error, no
 * request; the last step lists the lost transactions demo.json holds (grouped by why).
 */

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoStory } from '../../reports/demo/steps.js';
import { allProblems, HAVE_BROWSER, launchBrowser, openPage } from '../support/browser.js';
import { cli } from '../support/cli.js';

const current = (page: Page): Promise<string | null> => page.locator('[aria-current="step"]').getAttribute('data-step');

describe.skipIf(!HAVE_BROWSER)('the demo page in Chromium', () => {
  let browser: Browser;
  let dir = '';
  let story: DemoStory;

  beforeAll(async () => {
    dir = join(mkdtempSync(join(tmpdir(), 'ql-demo-browser-')), 'd');
    const r = await cli('demo', '--seed', '3', '--out', dir);
    expect(r.exitCode, r.stderr).toBe(0);
    story = JSON.parse(readFileSync(join(dir, 'demo.json'), 'utf8')) as DemoStory;
    browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
  });

  it('Next through every step, Back once, the keyboard and the scrubber; the last step lists the lost transactions; no error', async () => {
    const { page, problems } = await openPage(browser, `${pathToFileURL(dir).href}/index.html`);
    const requests: string[] = [];
    page.on('request', (r) => { requests.push(r.url()); });
    const last = story.steps.length - 1;
    expect(await page.locator('[data-step]').count()).toBe(story.steps.length);
    expect(await current(page)).toBe('0');
    expect(await page.locator('#back').isDisabled()).toBe(true);
    for (let i = 1; i <= last; i++) {
      await page.locator('#next').click();
      expect(await current(page)).toBe(String(i));
      expect(await page.locator(`[data-step="${i}"]`).isVisible()).toBe(true);
    }
    expect(await page.locator('#next').isDisabled()).toBe(true);
    const items = page.locator(`[data-step="${last}"] [data-lost]`);
    const shown: (string | null)[] = [];
    for (let i = 0; i < await items.count(); i++) shown.push(await items.nth(i).getAttribute('data-lost'));
    const lost = [...story.outcome.plain.lost, ...story.outcome.quiesced.lost].map((l) => `${l.app}:${l.id}`);
    expect(shown.sort()).toEqual(lost.sort()); // grouped by why on the page
    await page.locator('#back').click();
    expect(await current(page)).toBe(String(last - 1));
    expect(await page.locator(`[data-step="${last}"]`).isVisible()).toBe(false);

    await page.locator('body').click();
    await page.keyboard.press('Home');
    expect(await current(page)).toBe('0');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    expect(await current(page)).toBe('2');
    await page.keyboard.press('ArrowLeft');
    expect(await current(page)).toBe('1');
    await page.keyboard.press('End');
    expect(await current(page)).toBe(String(last));
    await page.locator('#scrub').focus();
    await page.keyboard.press('Home'); // the range's own keys
    expect(await current(page)).toBe('0');
    await page.keyboard.press('ArrowRight');
    expect(await current(page)).toBe('1');
    await page.keyboard.press('Tab'); // to Next, then Enter
    await page.keyboard.press('Enter');
    expect(await current(page)).toBe('2');
    expect(await page.locator('#where').innerText()).toMatch(new RegExp(`^step 3 of ${story.steps.length}: `));
    expect(allProblems(problems)).toEqual([]);
    expect(requests).toEqual([]);
    await page.close();
  }, 120_000);
});
