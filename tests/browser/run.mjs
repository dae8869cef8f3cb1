// run.mjs — the playground page (issue 18) in a real browser: headless Chromium (Debian's
// /usr/bin/chromium) driven by playwright-core against `imagine serve` on the tiny golden model.
//
//   IMAGINE_BIN=build/imagine IMAGINE_SHARED=../shared IMAGINE_BROWSER_OUT=build node tests/browser/run.mjs
//   (make browser does this)
//
// Starts two servers itself on free loopback ports (--port 0 --port-file), A without a key and B with
// --api-key and --rate-limit 2, and stops them (SIGTERM, then SIGKILL) when the tests end, fail, or
// pass the overall bound of BOUND_MS. Writes a screenshot of the page after a generation to
// $IMAGINE_BROWSER_OUT/playground.png. Environment: IMAGINE_CHROMIUM (default /usr/bin/chromium),
// IMAGINE_BROWSER_KEEP=1 keeps the temp folder (server logs) even when all passed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const BIN = path.resolve(process.env.IMAGINE_BIN || path.join(ROOT, 'build/imagine'));
const SHARED = path.resolve(process.env.IMAGINE_SHARED || path.join(ROOT, '../shared'));
const OUT = path.resolve(process.env.IMAGINE_BROWSER_OUT || path.join(ROOT, 'build'));
const CHROMIUM = process.env.IMAGINE_CHROMIUM || '/usr/bin/chromium';
const MODEL = path.join(SHARED, 'golden/sd1-tiny/model');
const KEY = 'sk-browser-test-key';
const BOUND_MS = 240_000; // the whole run; each test has its own smaller timeout
const T = fs.mkdtempSync(path.join(os.tmpdir(), 'imagine-browser-'));

for (const [what, p] of [['imagine binary', BIN], ['tiny model', path.join(MODEL, 'model_index.json')], ['chromium', CHROMIUM]])
  if (!fs.existsSync(p)) {
    console.error(`browser: no ${what} at ${p}${what === 'chromium' ? ' (apt-get install chromium)' : ''}`);
    process.exit(2);
  }

// ---- servers ----------------------------------------------------------------------------------------

const servers = [];

async function startServer(name, args, extraEnv = {}) {
  const portFile = path.join(T, `${name}.port`);
  const log = fs.openSync(path.join(T, `${name}.log`), 'w');
  const env = { ...process.env, OMP_NUM_THREADS: '1', ...extraEnv };
  delete env.IMAGINE_API_KEY;
  const proc = spawn(BIN, ['serve', '--host', '127.0.0.1', '--port', '0', '--port-file', portFile,
    '--data-dir', path.join(T, `${name}-data`), '--model', `sd1=${MODEL}`, ...args], { env, stdio: ['ignore', log, log] });
  const s = { name, proc, exited: false, url: null };
  proc.on('exit', () => { s.exited = true; });
  servers.push(s);
  for (let i = 0; i < 1200 && !s.exited; i++) { // 60 s: the port file appears once the server listens
    const txt = fs.existsSync(portFile) ? fs.readFileSync(portFile, 'utf8') : '';
    if (/^\d+\n$/.test(txt)) {
      s.url = `http://127.0.0.1:${txt.trim()}`;
      return s;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`server ${name} did not start; its log:\n${fs.readFileSync(path.join(T, `${name}.log`), 'utf8').slice(-2000)}`);
}

async function stopServers() {
  for (const s of servers) if (!s.exited) s.proc.kill('SIGTERM');
  for (let i = 0; i < 100 && servers.some((s) => !s.exited); i++) await new Promise((r) => setTimeout(r, 100));
  for (const s of servers) if (!s.exited) s.proc.kill('SIGKILL');
}

function killNow() {
  for (const s of servers) if (!s.exited) s.proc.kill('SIGKILL');
}
process.on('exit', (code) => {
  killNow();
  if (code === 0 && !process.exitCode && process.env.IMAGINE_BROWSER_KEEP !== '1') fs.rmSync(T, { recursive: true, force: true });
  else console.log(`browser: server logs kept in ${T}`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killNow(); process.exit(130); });
setTimeout(() => {
  console.error(`browser: still running after ${BOUND_MS / 1000} s: stopping; logs in ${T}`);
  killNow();
  process.exit(1);
}, BOUND_MS).unref();

// ---- the browser ---------------------------------------------------------------------------------------

let A, B, browser;

before(async () => {
  [A, B] = await Promise.all([startServer('A', []), startServer('B', ['--api-key', KEY, '--rate-limit', '2'])]);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: 60_000 });
  console.log(`browser: chromium ${browser.version()}, server A ${A.url}, server B ${B.url} (key), temp ${T}`);
});

after(async () => {
  await browser?.close();
  await stopServers();
  for (const s of servers) {
    const log = fs.readFileSync(path.join(T, `${s.name}.log`), 'utf8');
    if (/AddressSanitizer|LeakSanitizer|runtime error:|Assertion .* failed/.test(log)) {
      console.error(`browser: server ${s.name}'s log has a sanitizer or assertion report:\n${log.slice(-2000)}`);
      process.exitCode = 1;
    }
  }
});

// A fresh page (its own storage) that records console errors, page errors and generation request bodies.
async function open(base) {
  const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  const errors = [];
  const posts = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('request', (r) => { if (r.method() === 'POST') posts.push(JSON.parse(r.postData() || 'null')); });
  await page.goto(base + '/');
  return { context, page, errors, posts };
}

async function fill(page, { prompt = 'a red apple', size = '64x64', quality = 'low', n = '1', format = 'png',
  background = 'auto', previews = '0' } = {}) {
  await page.fill('#prompt', prompt);
  await page.selectOption('#size', size);
  await page.selectOption('#quality', quality);
  await page.fill('#n', n);
  await page.selectOption('#format', format);
  await page.selectOption('#background', background);
  await page.selectOption('#previews', previews);
}

// The result images as the browser decoded them: size, and how many distinct pixel values they hold.
function results(page) {
  return page.$$eval('img.result', (imgs) => Promise.all(imgs.map(async (img) => {
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.naturalWidth, c.height = img.naturalHeight;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const px = g.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set();
    for (let i = 0; i < px.length; i += 4) seen.add((px[i] << 16) | (px[i + 1] << 8) | px[i + 2]);
    return { w: img.naturalWidth, h: img.naturalHeight, colors: seen.size, src: img.src };
  })));
}

const done = (page) => page.waitForFunction(() => !document.body.classList.contains('busy') &&
  /Done|Failed|Cancelled/.test(document.getElementById('status').textContent));

// ---- tests ----------------------------------------------------------------------------------------------

test('the page loads with no console error, every input labelled, models listed', { timeout: 60_000 }, async () => {
  const { context, page, errors, posts } = await open(A.url);
  await page.waitForFunction(() => [...document.querySelectorAll('#model option')].some((o) => o.value === 'sd1'));
  assert.equal(await page.title(), 'imagine playground');
  const unlabelled = await page.$$eval('input, select, textarea', (els) =>
    els.filter((e) => !document.querySelector(`label[for="${e.id}"]`)).map((e) => e.id || e.outerHTML));
  assert.deepEqual(unlabelled, []);
  const models = await page.$$eval('#model option', (os) => os.map((o) => o.value));
  for (const id of ['sd1', 'gpt-image-1', 'dall-e-3']) assert.ok(models.includes(id), `model ${id} in ${models}`);
  // the server lists seed and negative_prompt under /v1/models/{id} `parameters`: the inputs show
  await page.waitForSelector('#seed', { state: 'visible' });
  assert.equal(await page.isVisible('#negative'), true);
  assert.equal(await page.isVisible('#error'), false);
  await page.waitForTimeout(300); // late console errors (the icon, a script's promise)
  assert.deepEqual(errors, []);
  assert.equal(posts.length, 0);
  await context.close();
});

test('streaming: a partial image shows before the final one, of the asked size', { timeout: 60_000 }, async () => {
  const { context, page, errors, posts } = await open(A.url);
  await page.waitForSelector('#model option[value="sd1"]', { state: 'attached' });
  await page.selectOption('#model', 'sd1');
  // sd1-tiny is the standard preset: quality low is 12 steps, so 2 previews land after steps 4 and 8
  await fill(page, { prompt: 'a lighthouse at dusk', size: '64x64', quality: 'low', previews: '2' });
  await page.evaluate(() => { // the order in which previews and results appear
    window.seen = [];
    new MutationObserver(() => window.seen.push('partial')).observe(document.getElementById('partial'), { attributeFilter: ['src'] });
    new MutationObserver(() => window.seen.push('result')).observe(document.getElementById('results'), { childList: true });
  });
  await page.click('#generate');
  await done(page);
  assert.match(await page.textContent('#status'), /^Done: 1 image in \d+\.\d s$/);
  const seen = await page.evaluate(() => window.seen);
  assert.ok(seen.indexOf('partial') >= 0 && seen.indexOf('partial') < seen.indexOf('result'), `order ${seen}`);
  assert.equal(seen.filter((x) => x === 'partial').length, 2, `two previews: ${seen}`);
  const [img, ...more] = await results(page);
  assert.equal(more.length, 0);
  assert.deepEqual([img.w, img.h], [64, 64]);
  assert.ok(img.colors > 50, `a picture, not a flat fill (${img.colors} colours)`);
  assert.match(img.src, /^blob:/);
  const cap = await page.textContent('figcaption');
  assert.match(cap, /64x64 · low · png · \d+\.\d s · \d+ tokens \(\d+ in, \d+ out\)/);
  assert.match(await page.getAttribute('figcaption a', 'download'), /^imagine-\d+-0\.png$/);
  assert.equal(posts.length, 1);
  const body = posts[0];
  assert.equal(body.stream, true);
  assert.equal(body.partial_images, 2);
  assert.equal(body.model, 'sd1');
  assert.ok(!('seed' in body) && !('negative_prompt' in body), 'no extension fields the model does not take');
  assert.deepEqual(errors, []);
  await context.close();
});

test('without previews: two images, the revised prompt, usage and time; screenshot', { timeout: 60_000 }, async () => {
  const { context, page, errors } = await open(A.url);
  await page.waitForSelector('#model option[value="sd1"]', { state: 'attached' });
  await fill(page, { prompt: 'a small cabin in a snowy forest', size: '128x128', quality: 'medium', n: '2', previews: '0' });
  await page.click('#generate');
  await done(page);
  assert.match(await page.textContent('#status'), /^Done: 2 images in/);
  const imgs = await results(page);
  assert.equal(imgs.length, 2);
  for (const i of imgs) assert.deepEqual([i.w, i.h], [128, 128]);
  const revised = await page.$$eval('q.revised', (qs) => qs.map((q) => q.textContent));
  assert.equal(revised.length, 2);
  assert.match(revised[0], /^a small cabin in a snowy forest/);
  assert.match(await page.textContent('figcaption'), /\d+ tokens/);
  fs.mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: path.join(OUT, 'playground.png'), fullPage: true });
  console.log(`browser: screenshot in ${path.join(OUT, 'playground.png')}`);
  assert.deepEqual(errors, []);
  await context.close();
});

test("an invalid request shows the server's error message", { timeout: 60_000 }, async () => {
  const { context, page } = await open(A.url);
  await page.waitForSelector('#model option[value="sd1"]', { state: 'attached' });
  await fill(page, { background: 'transparent', format: 'jpeg' });
  await page.click('#generate');
  await page.waitForSelector('#error', { state: 'visible' });
  const shown = await page.textContent('#error');
  const direct = await fetch(A.url + '/v1/images/generations', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ prompt: 'a red apple', background: 'transparent', output_format: 'jpeg' }),
  });
  assert.equal(direct.status, 400);
  const { error } = await direct.json();
  assert.equal(shown, `400: ${error.message}`);
  assert.match(shown, /transparent/);
  assert.equal(await page.textContent('#status'), 'Failed');
  assert.equal(await page.$$eval('img.result', (x) => x.length), 0);
  await context.close();
});

test('cancel closes the stream and the server stops the job', { timeout: 90_000 }, async () => {
  const { context, page } = await open(A.url);
  await page.waitForSelector('#model option[value="sd1"]', { state: 'attached' });
  // 10 images of 1024x1024 at 30 steps: many seconds on the tiny model, stopped long before
  await fill(page, { size: '1024x1024', quality: 'high', n: '10', previews: '3' });
  const jobsDone = () => (fs.readFileSync(path.join(T, 'A.log'), 'utf8').match(/^imagine: job done /gm) || []).length;
  const before = jobsDone();
  await page.click('#generate');
  await page.waitForFunction(async () => (await (await fetch('/health')).json()).queue_depth === 1);
  await page.click('#cancel');
  await done(page);
  assert.equal(await page.textContent('#status'), 'Cancelled');
  assert.equal(await page.isVisible('#error'), false);
  assert.equal(await page.isEnabled('#generate'), true);
  const t0 = Date.now();
  for (;;) { // the server cancels the job at its next step
    const h = await (await fetch(A.url + '/health')).json();
    if (h.queue_depth === 0) break;
    assert.ok(Date.now() - t0 < 20_000, 'the job still runs 20 s after cancel');
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(jobsDone(), before, 'the job was stopped, not finished (no "job done" in the log)');
  await context.close();
});

test('a key-protected server: the page needs no key, works once the key is entered, 429 shown', { timeout: 90_000 }, async () => {
  const html = await (await fetch(B.url + '/')).text();
  const js = await (await fetch(B.url + '/playground.js')).text();
  for (const t of [html, js]) {
    assert.ok(!t.includes(KEY), 'no key in what the page is made of');
    assert.ok(!t.includes(ROOT) && !t.includes('/assets/'), 'no file path either');
  }
  const { context, page } = await open(B.url);
  await page.waitForSelector('#error', { state: 'visible' });
  assert.match(await page.textContent('#error'), /^401: .*API key/);
  assert.equal(await page.getAttribute('#keybox', 'open'), '');
  await page.fill('#key', KEY);
  await page.press('#key', 'Tab'); // change: stored, models listed again
  await page.waitForSelector('#model option[value="sd1"]', { state: 'attached' });
  await page.waitForSelector('#error', { state: 'hidden' });
  assert.equal(await page.evaluate(() => localStorage.getItem('imagine.apiKey')), KEY);
  await page.reload(); // the stored key is used at once
  assert.equal(await page.inputValue('#key'), KEY);
  await page.waitForSelector('#model option[value="sd1"]', { state: 'attached' });
  await fill(page, { size: '64x64' });
  await page.click('#generate');
  await done(page);
  const imgs = await results(page);
  assert.equal(imgs.length, 1, await page.textContent('#status'));
  assert.deepEqual([imgs[0].w, imgs[0].h], [64, 64]);
  // --rate-limit 2 (a burst of 2 per key): the third generation is a 429, its Retry-After shown
  let shown = '';
  for (let i = 0; i < 3 && !shown.startsWith('429'); i++) {
    await page.click('#generate');
    await done(page);
    shown = (await page.isVisible('#error')) ? await page.textContent('#error') : '';
  }
  assert.match(shown, /^429: Rate limit reached.* Retry after \d+ s\.$/);
  // a wrong key: the server's 401 message, not a blank
  await page.fill('#key', 'sk-wrong');
  await page.press('#key', 'Tab');
  await page.waitForFunction(() => /^401: Incorrect API key/.test(document.getElementById('error').textContent));
  await context.close();
});

test('extension fields: shown and sent only when /v1/models/{id} lists them in `parameters`', { timeout: 90_000 }, async () => {
  const { context, page, posts } = await open(A.url);
  // the server's own answer for sd1 lists them; for gpt-image-1 the answer is stripped of them here
  await page.route('**/v1/models/gpt-image-1', async (route) => {
    const res = await route.fetch();
    const j = await res.json();
    delete j.parameters;
    await route.fulfill({ response: res, json: j });
  });
  await page.waitForSelector('#model option[value="sd1"]', { state: 'attached' });
  await page.selectOption('#model', 'sd1');
  await page.waitForSelector('#seed', { state: 'visible' });
  assert.equal(await page.isVisible('#negative'), true);
  // a real generation with a seed, twice: the server repeats the seed, and the same seed gives the same picture
  const pixels = async () => (await page.$$eval('img.result', (imgs) => Promise.all(imgs.map(async (img) => {
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.naturalWidth, c.height = img.naturalHeight;
    c.getContext('2d').drawImage(img, 0, 0);
    return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data).join(',');
  }))))[0];
  const answers = [];
  page.on('response', async (r) => {
    if (r.url().endsWith('/v1/images/generations')) answers.push(await r.text().catch(() => ''));
  });
  await fill(page, { prompt: 'a kite' });
  await page.fill('#seed', '42');
  await page.fill('#negative', 'blurry');
  await page.click('#generate');
  await done(page);
  assert.equal(posts.at(-1).seed, 42);
  assert.equal(posts.at(-1).negative_prompt, 'blurry');
  assert.equal((await results(page)).length, 1);
  const first = await pixels();
  await page.click('#generate');
  await done(page);
  assert.equal(await pixels(), first, 'the same seed gives the same picture');
  await page.waitForFunction(() => true);
  assert.ok(answers.some((a) => /"seed":42\b/.test(a)), 'the response repeats the seed');
  // a model whose answer lists none: hidden again, and not sent
  await page.selectOption('#model', 'gpt-image-1');
  await page.waitForSelector('#seed', { state: 'hidden' });
  await page.click('#generate');
  await done(page);
  assert.ok(!('seed' in posts.at(-1)) && !('negative_prompt' in posts.at(-1)));
  await context.close();
});

test('without assets/playground: a startup warning, and / is a JSON 404, the API still serves', { timeout: 60_000 }, async () => {
  const empty = path.join(T, 'no-assets');
  fs.mkdirSync(empty, { recursive: true });
  const C = await startServer('C', ['--no-warmup'], { IMAGINE_ASSETS: empty });
  const log = fs.readFileSync(path.join(T, 'C.log'), 'utf8');
  assert.match(log, /warning: no playground page: cannot read .*no-assets\/playground\/index\.html \(No such file or directory\); GET \/ answers 404/);
  const res = await fetch(C.url + '/');
  assert.equal(res.status, 404);
  assert.match(res.headers.get('content-type'), /^application\/json/);
  const { error } = await res.json();
  assert.equal(error.message, 'The playground page is not installed on this server.');
  assert.equal((await fetch(C.url + '/v1/models')).status, 200);
  C.proc.kill('SIGTERM');
});
