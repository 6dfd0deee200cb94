// builds_browser.mjs — the web UI's builds pages in headless Chromium, for
// t_builds.sh: node builds_browser.mjs URL USER PASS SHOTDIR
// Environment: CHROMIUM (the browser), PW (playwright-core's directory).
// Prints "ok - …" / "not ok - …" lines (t_builds.sh counts them); each step
// has a short timeout.
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PW);
const [base, user, pass, shots] = process.argv.slice(2);

let failed = 0;
async function step(name, fn) {
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name} # ${String(e.message || e).split('\n')[0]}`);
  }
}
function expect(cond, what) {
  if (!cond) throw new Error(what);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const problems = [];
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15000);
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 40[13]/.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => {
    if (!r.url().startsWith(base)) problems.push(`request to another site: ${r.url()}`);
  });
  await step('ui: log in', async () => {
    await page.goto(`${base}/`);
    await page.waitForSelector('form.login');
    await page.fill('#user', user);
    await page.fill('#pass', pass);
    await page.press('#pass', 'Enter');
    await page.waitForSelector('#who button');
  });
  await step('ui: the Builds page lists the builds with their status', async () => {
    await page.click('a[data-nav="builds"]');
    await page.waitForSelector('table tbody tr');
    const n = await page.$$eval('table tbody tr[data-status="succeeded"]', (r) => r.length);
    expect(n >= 3, `${n} succeeded rows`);
    const cancelled = await page.$$eval('table tbody tr[data-status="cancelled"]', (r) => r.length);
    expect(cancelled >= 1, 'no cancelled build listed');
    await page.screenshot({ path: path.join(shots, 'builds.png'), fullPage: true });
  });
  await step('ui: a build shows its facts and its log', async () => {
    await page.click('table tbody tr[data-status="succeeded"] a');
    await page.waitForSelector('pre.log');
    const log = await page.textContent('pre.log');
    expect(log.includes('buildah bud --isolation chroot'), 'no buildah line in the log');
    const st = await page.textContent('.facts .build-status');
    expect(st === 'succeeded', st);
  });
  await step('ui: build now queues a build and its page follows it to the end', async () => {
    await page.click('a[data-nav="builds"]');
    await page.waitForSelector('#build-source');
    await page.fill('#build-source', 'app');
    await page.click('form.search button');
    await page.waitForFunction(() => location.hash.startsWith('#/b/'));
    await page.waitForFunction(() => {
      const s = document.querySelector('.facts .build-status');
      return s && s.textContent === 'succeeded';
    }, null, { timeout: 60000 });
    const trig = await page.textContent('.facts');
    expect(trig.includes(`manual by ${user}`), 'trigger not shown');
    await page.screenshot({ path: path.join(shots, 'build.png'), fullPage: true });
  });
  await step('ui: no console errors, CSP violations or requests to other sites', async () => {
    expect(problems.length === 0, problems.join(' | '));
  });
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
