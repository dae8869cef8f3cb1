// server.mjs — where the servers run.sh started are, and the checks every test shares.
//
// run.sh exports:
//   IMAGINE_E2E_URL        server A: no API key, models sd1 (first) and sd2, alias tiny=sd2, prompt revision on
//   IMAGINE_E2E_AUTH_URL   server B: API keys, --rate-limit, --max-queue 1, --public-url
//   IMAGINE_E2E_KEY_OPENAI / IMAGINE_E2E_KEY_GRADIENT   keys of server B reserved for the SDK tests
import assert from 'node:assert/strict';

import { decodeImage, outputTokens } from './images.mjs';

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the node tests through tests/e2e/run.sh`);
  return v.replace(/\/+$/, '');
}

export const BASE = need('IMAGINE_E2E_URL');
export const AUTH_BASE = process.env.IMAGINE_E2E_AUTH_URL?.replace(/\/+$/, '') ?? null;
export const KEY_OPENAI = process.env.IMAGINE_E2E_KEY_OPENAI ?? null;
export const KEY_GRADIENT = process.env.IMAGINE_E2E_KEY_GRADIENT ?? null;

// POSTs body (an object is JSON-encoded; a string is sent as written) to /v1/images/generations.
export async function post(body, { base = BASE, path = '/v1/images/generations', headers = {} } = {}) {
  const res = await fetch(base + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* left null: the caller's assertion says what was expected */
  }
  return { status: res.status, headers: res.headers, text, json };
}

export async function generate(body, opts) {
  const r = await post(body, opts);
  assert.equal(r.status, 200, `expected 200, got ${r.status}: ${r.text.slice(0, 400)}`);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  assert.ok(r.json, 'the body is JSON');
  return r.json;
}

export async function expectError(body, status, { code, param, type = 'invalid_request_error', opts } = {}) {
  const r = await post(body, opts);
  assert.equal(r.status, status, `expected ${status}, got ${r.status}: ${r.text.slice(0, 400)}`);
  assert.ok(r.json?.error, `an error body: ${r.text.slice(0, 200)}`);
  const e = r.json.error;
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0);
  assert.equal(e.type, type);
  if (code !== undefined) assert.equal(e.code, code);
  if (param !== undefined) assert.equal(e.param, param);
  return r;
}

export function b64image(s) {
  assert.equal(typeof s, 'string');
  assert.match(s, /^[A-Za-z0-9+/]+={0,2}$/, 'plain base64, no line breaks or data: prefix');
  return Buffer.from(s, 'base64');
}

// Checks an image's bytes: format, exact size, alpha channel present or absent.
export function checkImage(buf, { format, width, height, alpha }) {
  const img = decodeImage(buf);
  assert.equal(img.format, format, 'image format');
  assert.equal(img.width, width, 'image width');
  assert.equal(img.height, height, 'image height');
  assert.equal(img.hasAlpha, alpha, alpha ? 'an alpha channel' : 'no alpha channel');
  if (format === 'png' && alpha) {
    // transparent: the keyed background is alpha 0, the subject 255 (noise from random weights still
    // has both); opaque PNGs have no alpha channel at all
    assert.ok(img.alpha.zero > 0, `some pixels fully transparent (${JSON.stringify(img.alpha)})`);
    assert.ok(img.alpha.full > 0, `some pixels fully opaque (${JSON.stringify(img.alpha)})`);
  }
  if (format === 'png' && !alpha) assert.equal(img.channels, 3, 'PNG RGB');
  if (format === 'jpeg') assert.equal(img.channels, 3, 'JPEG YCbCr');
  return img;
}

// Checks an ImagesResponse against what was asked; returns the decoded images' bytes.
//   want: {n, width, height, format, quality, background, url, prompt (revised_prompt's start)}
export function checkResponse(json, want) {
  const { n = 1, width, height, format = 'png', quality, background = 'opaque', url = false } = want;
  const now = Date.now() / 1000;
  assert.ok(Number.isInteger(json.created) && Math.abs(json.created - now) < 600, `created ${json.created}`);
  assert.equal(json.background, background);
  assert.equal(json.output_format, format);
  assert.equal(json.quality, quality);
  assert.equal(json.size, `${width}x${height}`);
  assert.ok(Array.isArray(json.data));
  assert.equal(json.data.length, n, 'one data item per image');
  const u = json.usage;
  assert.ok(u, 'usage');
  const text = u.input_tokens_details?.text_tokens;
  assert.ok(Number.isInteger(text) && text > 0 && text <= 77, `text_tokens ${text} (CLIP tokens of the prompt)`);
  assert.equal(u.input_tokens_details.image_tokens, 0);
  assert.equal(u.input_tokens, text);
  assert.equal(u.output_tokens, n * outputTokens(quality, width, height), 'output tokens per OpenAI table');
  assert.equal(u.total_tokens, u.input_tokens + u.output_tokens);
  if (u.output_tokens_details) assert.equal(u.output_tokens_details.image_tokens, u.output_tokens);
  const bufs = [];
  for (const d of json.data) {
    if (want.prompt !== undefined) assert.equal(d.revised_prompt, want.prompt, 'revised_prompt');
    else assert.equal(typeof d.revised_prompt, 'string');
    if (url) {
      assert.equal(d.b64_json, undefined, 'url responses carry no b64_json');
      assert.match(d.url, new RegExp(`/v1/images/files/[0-9a-f]{32}\\.${format}$`));
    } else {
      assert.equal(d.url, undefined, 'b64_json responses carry no url');
      const buf = b64image(d.b64_json);
      checkImage(buf, { format, width, height, alpha: background === 'transparent' });
      bufs.push(buf);
    }
  }
  for (let i = 1; i < bufs.length; i++)
    assert.ok(!bufs[i].equals(bufs[0]), `image ${i} differs from image 0 (each has its own noise)`);
  return bufs;
}

// Fetches a url response's image and checks it like a b64_json one.
export async function fetchImage(url, want) {
  const res = await fetch(url);
  assert.equal(res.status, 200, `GET ${url}`);
  const mime = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' }[want.format];
  assert.equal(res.headers.get('content-type'), mime);
  const buf = Buffer.from(await res.arrayBuffer());
  checkImage(buf, want);
  return buf;
}

export { parseSse } from './sse.mjs';
