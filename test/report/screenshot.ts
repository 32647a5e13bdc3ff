/**
 * The README's picture of the report: `npx tsx test/report/screenshot.ts demo-report.html docs/report-demo.png`
 * opens the page in the same headless Chromium as the browser test and saves its first 1,700 pixels.
 */
import { openInChromium } from './browser.js';

const [file, png, height = '1700'] = process.argv.slice(2);
if (!file || !png) throw new Error('usage: screenshot.ts REPORT.html OUT.png [height]');
const { visit } = await openInChromium(file, (page) =>
  page.screenshot({ path: png, fullPage: true, clip: { x: 0, y: 0, width: 1150, height: Number(height) } }),
);
if (visit.errors.length > 0) throw new Error(`console errors: ${visit.errors.join('; ')}`);
process.stdout.write(`${png}\n`);
