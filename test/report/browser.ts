/**
 * Opens a report in Debian's Chromium, headless, with a fresh profile and every background service
 * off, and records what a reader's browser would do with it: console messages, page errors and every
 * network request it made.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface PageVisit {
  /** Console messages of type error, and uncaught page errors. */
  errors: string[];
  /** Every request the page made, the document itself included. */
  requests: string[];
}

/**
 * Loads `file` and runs `inspect` on the page; the browser and its profile are gone afterwards.
 *
 * @example
 * const { visit, result } = await openInChromium('report.html', (page) => page.title());
 */
export async function openInChromium<T>(
  file: string,
  inspect: (page: Page) => Promise<T>,
  options: { colorScheme?: 'light' | 'dark'; width?: number } = {},
): Promise<{ visit: PageVisit; result: T }> {
  const profile = await mkdtemp(join(tmpdir(), 'report-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    colorScheme: options.colorScheme ?? 'light',
    viewport: { width: options.width ?? 1150, height: 900 },
  });
  const visit: PageVisit = { errors: [], requests: [] };
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (message) => {
      if (message.type() === 'error') visit.errors.push(message.text());
    });
    page.on('pageerror', (error) => visit.errors.push(error.message));
    context.on('request', (request) => visit.requests.push(request.url()));
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    const result = await inspect(page);
    return { visit, result };
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  }
}
