// ui_browser.mjs — drives the web UI in headless Chromium for t_ui.sh.
//   node ui_browser.mjs main|scale URL SHOTDIR
// Environment: CHROMIUM (the browser), PW (playwright-core's directory).
// Prints "ok - …" / "not ok - …" lines (t_ui.sh counts them) and writes a
// PNG per page into SHOTDIR. Every step has a short timeout: a hung page is a
// failure, not a hung test.
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PW);
const [mode, base, shots] = process.argv.slice(2);

let failed = 0;
function ok(name) {
  console.log(`ok - ${name}`);
}
function notOk(name, why) {
  failed++;
  console.log(`not ok - ${name} # ${String(why).split('\n')[0]}`);
}
async function step(name, fn) {
  try {
    await fn();
    ok(name);
  } catch (e) {
    notOk(name, e.message || e);
  }
}
function expect(cond, what) {
  if (!cond) throw new Error(what);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const problems = []; // console errors and CSP violations: none allowed

async function newPage(opts = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...opts });
  const page = await ctx.newPage();
  page.setDefaultTimeout(10000);
  page.on('console', (m) => {
    // refusals the test provokes are logged by Chromium as failed loads
    if (m.type() === 'error' && !/status of 40[13]/.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => {
    if (!r.url().startsWith(base)) problems.push(`request to another site: ${r.url()}`);
  });
  return page;
}

const shot = (page, name) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });

async function login(page, user, pass) {
  await page.goto(`${base}/`);
  await page.waitForSelector('form.login');
  await page.fill('#user', user);
  await page.fill('#pass', pass);
  await page.press('#pass', 'Enter');
  await page.waitForSelector('#who button');
}

async function main() {
  const page = await newPage();
  await step('anonymous: the login form', async () => {
    await page.goto(`${base}/`);
    await page.waitForSelector('form.login');
    await shot(page, 'login');
  });
  await step('wrong password refused', async () => {
    await page.fill('#user', 'admin');
    await page.fill('#pass', 'nope');
    await page.click('form.login button');
    await page.waitForFunction(() => document.querySelector('#login-error').textContent.includes('Wrong'));
  });
  await step('log in as admin (token service)', async () => {
    await page.fill('#pass', 'admin-Pw1');
    await page.click('form.login button');
    await page.waitForSelector('.lbody >> text=team/app');
    const who = await page.textContent('#who');
    expect(who.includes('admin'), `header shows ${who}`);
    const names = await page.$$eval('.lbody [role=row] > :first-child', (t) => t.map((x) => x.textContent));
    expect(names.join() === 'hub/lib/tool,other/secret,team/app,team/multi', `list: ${names}`);
    await shot(page, 'repositories');
  });
  await step('search by label finds the pushed image', async () => {
    await page.fill('#q', 'org.opencontainers.image.version=v2');
    await page.press('#q', 'Enter');
    await page.waitForSelector('text=label:org.opencontainers.image.version=v2');
    const names = await page.$$eval('.lbody [role=row] > :first-child', (t) => t.map((x) => x.textContent));
    expect(names.join() === 'team/app', `search: ${names}`);
    await shot(page, 'search');
  });
  await step('search by name', async () => {
    await page.fill('#q', 'multi');
    await page.press('#q', 'Enter');
    await page.waitForFunction(() => [...document.querySelectorAll('.lbody [role=row] > :first-child')].map((x) => x.textContent).join() === 'team/multi');
  });
  await step('repository page: tags, digests, sizes, platforms, pull lines', async () => {
    await page.fill('#q', 'team/app');
    await page.press('#q', 'Enter');
    await page.click('a:text-is("team/app")');
    await page.waitForSelector('th >> text=v2');
    const text = await page.textContent('main');
    expect(text.includes('linux/amd64'), 'platform shown');
    expect(text.includes(`docker pull ${new URL(base).host}/team/app:v1`), 'docker pull line');
    expect(text.includes(`podman pull ${new URL(base).host}/team/app:v2`), 'podman pull line');
    expect(/sha256:[0-9a-f]{12}…/.test(text), 'digest shown');
    await shot(page, 'repository');
    // the README's picture (docs/ui-repository.png): the top of the page
    await page.screenshot({ path: path.join(shots, 'readme-repository.png'), clip: { x: 0, y: 0, width: 1280, height: 430 } });
  });
  await step('manifest page: layers, configuration, history', async () => {
    await page.click('th a:text-is("v1")');
    await page.waitForSelector('h2:text-is("Layers")');
    await page.waitForSelector('h2:text-is("Configuration")');
    const layers = await page.$$eval('[aria-label="Layers"] tbody tr', (t) => t.length);
    expect(layers === 2, `${layers} layers`);
    const text = await page.textContent('main');
    for (const s of ['/app/server', 'APP_MODE', 'app1', 'wharf-ui-demo', 'RUN ./configure app1', '30 KB'])
      expect(text.includes(s), `"${s}" shown`);
  });
  await step('manifest page: the SBOM referrer by artifactType', async () => {
    await page.waitForSelector('[aria-label="Referrers"] td:text-is("application/spdx+json")');
    await shot(page, 'manifest');
  });
  await step('an index: its platforms', async () => {
    await page.goto(`${base}/#/m/team/multi@latest`);
    await page.waitForSelector('h2:text-is("Platforms")');
    const text = await page.textContent('main');
    expect(text.includes('linux/amd64') && text.includes('linux/arm64/v8'), 'both platforms');
    await shot(page, 'index');
  });
  await step('delete a tag: confirmation, then gone', async () => {
    await page.goto(`${base}/#/r/team/app`);
    await page.waitForSelector('th >> text=v2');
    await page.click('button[data-tag="v2"]');
    await page.waitForSelector('dialog[open]');
    await shot(page, 'confirm');
    await page.click('#confirm-ok');
    await page.waitForFunction(() => !document.querySelector('button[data-tag="v2"]') && document.querySelector('button[data-tag="v1"]'));
  });
  await step('cancel keeps the tag (keyboard: Escape)', async () => {
    await page.click('button[data-tag="v1"]');
    await page.waitForSelector('dialog[open]');
    await page.keyboard.press('Escape');
    await page.waitForSelector('dialog:not([open])', { state: 'attached' });
    expect(await page.$('button[data-tag="v1"]'), 'v1 still listed');
  });
  await step('storage per repository', async () => {
    await page.click('a[data-nav="usage"]');
    await page.waitForSelector('meter');
    await shot(page, 'storage');
  });
  await step('mirror page: the upstream and what it cached', async () => {
    await page.click('a[data-nav="upstreams"]');
    await page.waitForSelector('[aria-label="Cached repositories"] >> text=hub/lib/tool');
    const text = await page.textContent('main');
    expect(text.includes('24 h after the last pull'), 'ttl shown');
    await shot(page, 'mirror');
  });
  await step('a mirrored repository offers no delete', async () => {
    await page.click('a:text-is("hub/lib/tool")');
    await page.waitForSelector('th >> text=v1');
    expect(!(await page.$('main button.danger')), 'no delete button');
  });
  await step('GC dry run report, then run it (admin)', async () => {
    await page.click('a[data-nav="gc"]');
    await page.waitForSelector('h2:text-is("Dry run")');
    const text = await page.textContent('main');
    expect(/Blobs to delete\s*[1-9]/.test(text), 'blobs to delete');
    await shot(page, 'gc');
    await page.click('button:text-is("Run garbage collection")');
    await page.click('#confirm-ok');
    await page.waitForSelector('h2:text-is("Done")', { timeout: 30000 });
    expect(/Blobs deleted\s*[1-9]/.test(await page.textContent('main')), 'blobs deleted');
  });
  await step('keyboard: Tab reaches the skip link, then the navigation', async () => {
    await page.goto(`${base}/#/usage`);
    await page.reload();
    await page.waitForSelector('table');
    await page.keyboard.press('Tab');
    expect((await page.evaluate(() => document.activeElement.className)) === 'skip', 'skip link first');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    expect((await page.evaluate(() => document.activeElement.textContent)) === 'Repositories', 'then the navigation');
  });
  await step('log out', async () => {
    await page.click('#who button');
    await page.waitForSelector('form.login');
  });

  // alice: pull on team/* only
  await step('alice sees only what she may pull', async () => {
    await page.fill('#user', 'alice');
    await page.fill('#pass', 'alice-Pw2');
    await page.click('form.login button');
    await page.waitForSelector('.lbody >> text=team/app');
    const names = await page.$$eval('.lbody [role=row] > :first-child', (t) => t.map((x) => x.textContent));
    expect(names.join() === 'team/app,team/multi', `list: ${names}`);
  });
  await step('alice is refused a tag delete the rules forbid', async () => {
    await page.click('a:text-is("team/app")');
    await page.click('button[data-tag="v1"]');
    await page.click('#confirm-ok');
    await page.waitForSelector('#alert:not([hidden])');
    const a = await page.textContent('#alert');
    expect(/Refused/.test(a), `alert: ${a}`);
    expect(await page.$('button[data-tag="v1"]'), 'v1 still listed');
    await shot(page, 'refused');
  });
  await step('alice may not open the GC page', async () => {
    await page.click('a[data-nav="gc"]');
    await page.waitForSelector('#alert:not([hidden])');
  });
  await page.context().close();

  // a phone, dark
  const phone = await newPage({ viewport: { width: 390, height: 844 }, colorScheme: 'dark', isMobile: true, hasTouch: true });
  await step('phone, dark: no horizontal scrolling of the page', async () => {
    await login(phone, 'admin', 'admin-Pw1');
    await phone.goto(`${base}/#/r/team/app`);
    await phone.waitForSelector('th >> text=v1');
    const w = await phone.evaluate(() => document.documentElement.scrollWidth);
    expect(w <= 390, `page ${w}px wide`);
    const bg = await phone.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(bg === 'rgb(15, 20, 25)', `dark background ${bg}`);
    await shot(phone, 'phone-dark');
    await phone.goto(`${base}/#/m/team/app@v1`);
    await phone.waitForSelector('h2:text-is("Layers")');
    await shot(phone, 'phone-manifest');
  });
  await phone.context().close();
}

async function scale() {
  const page = await newPage();
  await step('log in (htpasswd: the form sends Basic)', async () => {
    await login(page, 'admin', 'admin-Pw1');
  });
  await step('10,000 repositories render in under a second', async () => {
    await page.waitForSelector('main[data-rendered]');
    // from the click on the page size to the first frame painted with the
    // 10,000 rows: the requests, the DOM, style and layout
    const wall = await page.evaluate(() => new Promise((resolve) => {
      const t0 = performance.now();
      new MutationObserver((_, obs) => {
        if (document.querySelector('main').dataset.rendered !== '10000') return;
        obs.disconnect();
        requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - t0), 0));
      }).observe(document.querySelector('main'), { attributes: true });
      location.hash = '#/?n=10000';
    }));
    const ms = Number(await page.getAttribute('main', 'data-ms'));
    const waited = Number(await page.getAttribute('main', 'data-waited'));
    const rows = await page.$$eval('.lbody [role=row]', (t) => t.length);
    expect(rows === 10000, `${rows} rows`);
    console.log(`# 10000 repositories: fetched and built in ${ms} ms (${waited} ms waiting for the API), painted after ${Math.round(wall)} ms`);
    expect(wall < 1000, `${Math.round(wall)} ms`);
    await page.screenshot({ path: path.join(shots, 'repositories-10000.png') });
  });
}

try {
  if (mode === 'main') await main();
  else await scale();
  await step('no console errors, CSP violations or requests to other sites', async () => {
    expect(problems.length === 0, problems.join(' | '));
  });
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
