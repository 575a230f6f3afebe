/**
 * Headless Chromium for the report's browser tests, driven by playwright-core (which ships
 * no browser): the Debian package `chromium` at /usr/bin/chromium, or the program named by
 * QUIESCELAB_CHROMIUM. Tests skip when it is missing — unless QUIESCELAB_REQUIRE_BROWSER=1
 * (CI sets it), where a missing browser fails loudly instead of skipping in silence. Use
 * `describe.skipIf(!HAVE_BROWSER)`.
 *
 * `openPage` collects what a user would call broken — console errors, uncaught page
 * errors, requests that failed or answered 4xx/5xx — so a test can demand none; and
 * `canvasIsDrawn` tells a chart that drew from a blank canvas.
 */

import { accessSync, constants } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.QUIESCELAB_CHROMIUM ?? '/usr/bin/chromium';

function available(): boolean {
  try {
    accessSync(CHROMIUM_PATH, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export const HAVE_BROWSER = available();
if (!HAVE_BROWSER) {
  if (process.env.QUIESCELAB_REQUIRE_BROWSER === '1') throw new Error(`no browser at ${CHROMIUM_PATH} (Debian package chromium, or set QUIESCELAB_CHROMIUM) and QUIESCELAB_REQUIRE_BROWSER=1`);
  console.warn(`no browser at ${CHROMIUM_PATH} (Debian package chromium, or set QUIESCELAB_CHROMIUM): browser tests are skipped`);
}

/**
 * Headless Chromium. --no-sandbox: CI and these containers run as root, where Chromium
 * refuses its sandbox; the pages are our own report. --disable-dev-shm-usage: a
 * container's /dev/shm is often 64 MB, too small for the renderer. `extraArgs` go after
 * these (e.g. `--host-resolver-rules=MAP name 127.0.0.1` to play a DNS-rebinding name).
 */
export function launchBrowser(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run', '--no-default-browser-check', ...extraArgs],
    timeout: 30_000,
  });
}

/** What went wrong on a page, as lines a failing assertion can print. */
export interface PageProblems {
  readonly consoleErrors: string[];
  readonly pageErrors: string[];
  /** Requests that failed (net errors) or answered 400 and above: `404 http://…/x.js`. */
  readonly failedRequests: string[];
}

/** Every problem in one list (empty when the page is clean): `expect(allProblems(p)).toEqual([])`. */
export function allProblems(problems: PageProblems): string[] {
  return [
    ...problems.consoleErrors.map((m) => `console error: ${m}`),
    ...problems.pageErrors.map((m) => `page error: ${m}`),
    ...problems.failedRequests.map((m) => `request failed: ${m}`),
  ];
}

/**
 * Opens `url` in a fresh page with the collectors attached before the first request, and
 * waits for the load event. Close the page (`page.close()`) when done.
 */
export async function openPage(browser: Browser, url: string): Promise<{ page: Page; problems: PageProblems }> {
  const page = await browser.newPage();
  const problems: PageProblems = { consoleErrors: [], pageErrors: [], failedRequests: [] };
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const where = message.location();
    problems.consoleErrors.push(`${message.text()}${where.url === '' ? '' : ` (${where.url}:${where.lineNumber})`}`);
  });
  page.on('pageerror', (error) => { problems.pageErrors.push(error.message); });
  page.on('requestfailed', (request) => {
    problems.failedRequests.push(`${request.failure()?.errorText ?? 'failed'} ${request.url()}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400) problems.failedRequests.push(`${response.status()} ${response.url()}`);
  });
  await page.goto(url, { waitUntil: 'load', timeout: 30_000 });
  return { page, problems };
}

/** The few DOM shapes the in-page check uses (the project compiles without the DOM lib). */
interface CanvasLike {
  readonly tagName: string;
  width: number;
  height: number;
  getContext(kind: '2d'): { drawImage(source: unknown, x: number, y: number): void; getImageData(x: number, y: number, w: number, h: number): { readonly data: ArrayLike<number> } } | null;
}

/**
 * Runs in the page (serialised by playwright: self-contained, no helpers): null when
 * `selector` matches no canvas, else whether one of its pixels is not fully transparent.
 * The canvas is copied onto a 2d canvas first, so it works whatever context drew it.
 */
function pageCanvasDrawn(selector: string): boolean | null {
  const doc = (globalThis as unknown as { document: { querySelector(s: string): CanvasLike | null; createElement(tag: 'canvas'): CanvasLike } }).document;
  const source = doc.querySelector(selector);
  if (source === null || source.tagName !== 'CANVAS') return null;
  if (source.width === 0 || source.height === 0) return false;
  const copy = doc.createElement('canvas');
  copy.width = source.width;
  copy.height = source.height;
  const ctx = copy.getContext('2d');
  if (ctx === null) return false;
  ctx.drawImage(source, 0, 0);
  const data = ctx.getImageData(0, 0, copy.width, copy.height).data;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return true;
  return false;
}

/**
 * Whether the canvas at `selector` has a pixel that is not fully transparent, waiting up to
 * `timeoutMs` for one (a chart may draw after load, or animate in). A selector that
 * matches no canvas throws.
 */
export async function canvasIsDrawn(page: Page, selector: string, options: { readonly timeoutMs?: number } = {}): Promise<boolean> {
  if (await page.evaluate(pageCanvasDrawn, selector) === null) throw new Error(`canvasIsDrawn: no <canvas> matches '${selector}'`);
  try {
    await page.waitForFunction(pageCanvasDrawn, selector, { timeout: options.timeoutMs ?? 5_000, polling: 50 });
    return true;
  } catch (error) {
    if (error instanceof Error && error.name === 'TimeoutError') return false;
    throw error;
  }
}
