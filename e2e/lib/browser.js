// Debian's Chromium, headless, through playwright-core; every page records what would show
// a broken portal without failing a click: uncaught errors, CSP violations, the requests.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const SHOTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'portal');

export async function openBrowser() {
  const browser = await chromium.launch({
    executablePath: process.env.HERALD_E2E_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
    headless: true,
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(15000);
  const page = await context.newPage();
  const seen = { errors: [], cspViolations: [], requests: [], dialogs: [] };
  page.on('pageerror', (err) => seen.errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy/i.test(msg.text())) seen.cspViolations.push(msg.text());
  });
  page.on('request', (req) => seen.requests.push({ url: req.url(), headers: req.headers() }));
  return { browser, page, seen };
}

/// A full-page screenshot at docs/portal/<name>.png.
export async function screenshot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}
