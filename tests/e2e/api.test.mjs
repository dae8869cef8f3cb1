// api.test.mjs — every body field with valid values, against server A (sd1-tiny first, sd2-tiny, alias
// tiny=sd2), with plain fetch: the response's shape, usage per OpenAI's table, and the images decoded
// (format, exact size, alpha). The error cases are curl's, in cases.sh.
import assert from 'node:assert/strict';
import test from 'node:test';

import { decodeImage, outputTokens } from './lib/images.mjs';
import { BASE, checkImage, checkResponse, expectError, fetchImage, generate, parseSse, post } from './lib/server.mjs';

const HIGH = ', highly detailed, sharp focus';
const MEDIUM = ', detailed';
const VIVID = ', vivid colors, dramatic lighting, high contrast';
const NATURAL = ', natural colors, soft natural light, realistic';
const TRANSPARENT = ', centered on a plain white background';

// ---- defaults ----------------------------------------------------------------------------------------

test('minimal body: defaults are png, 1024x1024, quality high, opaque, b64_json, n 1', async () => {
  const j = await generate({ prompt: 'a red apple' });
  checkResponse(j, { width: 1024, height: 1024, quality: 'high', prompt: 'a red apple' + HIGH });
  const keys = Object.keys(j);
  for (const k of ['created', 'background', 'data', 'output_format', 'quality', 'size', 'usage'])
    assert.ok(keys.includes(k), `key ${k}`);
});

test('every optional field null means its default', async () => {
  const j = await generate({
    prompt: 'a red apple', model: null, n: null, size: null, quality: null, style: null, background: null,
    output_format: null, output_compression: null, response_format: null, moderation: null, stream: null,
    partial_images: null, user: null,
  });
  checkResponse(j, { width: 1024, height: 1024, quality: 'high', prompt: 'a red apple' + HIGH });
});

// ---- model ---------------------------------------------------------------------------------------------

for (const model of ['sd1', 'sd2', 'tiny', 'gpt-image-1', 'gpt-image-1-mini', 'gpt-image-1.5']) {
  test(`model ${model}`, async () => {
    const j = await generate({ prompt: 'a cat', model, size: '64x64', quality: 'low' });
    checkResponse(j, { width: 64, height: 64, quality: 'low', prompt: 'a cat' });
  });
}

test('dall-e-2: url by default, quality auto is medium (standard)', async () => {
  const j = await generate({ prompt: 'a cat', model: 'dall-e-2', size: '256x256' });
  checkResponse(j, { width: 256, height: 256, quality: 'medium', url: true, prompt: 'a cat' + MEDIUM });
  await fetchImage(j.data[0].url, { format: 'png', width: 256, height: 256, alpha: false });
});

test('dall-e-3: url by default, style vivid by default, quality hd is high', async () => {
  const j = await generate({ prompt: 'a cat', model: 'dall-e-3', size: '1024x1024', quality: 'hd' });
  checkResponse(j, { width: 1024, height: 1024, quality: 'high', url: true, prompt: 'a cat' + VIVID + HIGH });
  await fetchImage(j.data[0].url, { format: 'png', width: 1024, height: 1024, alpha: false });
});

test('dall-e-3 with response_format b64_json and style natural', async () => {
  const j = await generate({
    prompt: 'a cat', model: 'dall-e-3', size: '1024x1024', quality: 'standard', style: 'natural',
    response_format: 'b64_json',
  });
  checkResponse(j, { width: 1024, height: 1024, quality: 'medium', prompt: 'a cat' + NATURAL + MEDIUM });
});

// ---- n -----------------------------------------------------------------------------------------------

for (const [label, raw, n] of [
  ['n 1', '1', 1],
  ['n 2', '2', 2],
  ['n 10', '10', 10],
  ['n 2.0 (integral float)', '2.0', 2],
  ['n 1e1 (integral float)', '1e1', 10],
]) {
  test(label, async () => {
    const j = await generate(`{"prompt":"a cat","n":${raw},"size":"64x64","quality":"low"}`);
    checkResponse(j, { n, width: 64, height: 64, quality: 'low' });
  });
}

// ---- size --------------------------------------------------------------------------------------------

for (const size of ['1024x1024', '1536x1024', '1024x1536', '256x256', '512x512', '1792x1024', '1024x1792']) {
  test(`listed size ${size}`, async () => {
    const [width, height] = size.split('x').map(Number);
    const j = await generate({ prompt: 'a cat', size, quality: 'low' });
    checkResponse(j, { width, height, quality: 'low', prompt: 'a cat' });
  });
}

for (const size of ['64x64', '2048x2048', '200x120', '72x1000', '2048x64', '64x2048', '1000x64']) {
  test(`custom size ${size}`, async () => {
    const [width, height] = size.split('x').map(Number);
    const j = await generate({ prompt: 'a cat', size, quality: 'low', output_format: 'jpeg', output_compression: 80 });
    checkResponse(j, { width, height, quality: 'low', format: 'jpeg' });
  });
}

test('size auto is 1024x1024', async () => {
  const j = await generate({ prompt: 'a cat', size: 'auto', quality: 'low' });
  checkResponse(j, { width: 1024, height: 1024, quality: 'low' });
});

// ---- quality -------------------------------------------------------------------------------------------

for (const [quality, tier, words] of [
  ['auto', 'high', HIGH],
  ['low', 'low', ''],
  ['medium', 'medium', MEDIUM],
  ['high', 'high', HIGH],
  ['standard', 'medium', MEDIUM],
  ['hd', 'high', HIGH],
]) {
  test(`quality ${quality} → ${tier}, usage per OpenAI's table`, async () => {
    const j = await generate({ prompt: 'a cat', quality, size: '1024x1024' });
    checkResponse(j, { width: 1024, height: 1024, quality: tier, prompt: 'a cat' + words });
    assert.equal(j.usage.output_tokens, { low: 272, medium: 1056, high: 4160 }[tier]);
  });
}

test('usage: 1536x1024 medium is 1568 output tokens, n multiplies it', async () => {
  const j = await generate({ prompt: 'a cat', quality: 'medium', size: '1536x1024', n: 2 });
  checkResponse(j, { n: 2, width: 1536, height: 1024, quality: 'medium' });
  assert.equal(j.usage.output_tokens, 2 * 1568);
});

test('usage: 1024x1536 high is 6240 output tokens', async () => {
  const j = await generate({ prompt: 'a cat', quality: 'high', size: '1024x1536', output_format: 'webp', output_compression: 50 });
  checkResponse(j, { width: 1024, height: 1536, quality: 'high', format: 'webp' });
  assert.equal(j.usage.output_tokens, 6240);
});

// ---- style -------------------------------------------------------------------------------------------

for (const [style, words] of [['vivid', VIVID], ['natural', NATURAL]]) {
  test(`style ${style}`, async () => {
    const j = await generate({ prompt: 'a cat', style, size: '64x64', quality: 'low' });
    checkResponse(j, { width: 64, height: 64, quality: 'low', prompt: 'a cat' + words });
  });
}

// ---- background, output_format, output_compression -----------------------------------------------------

test('background transparent, png: RGBA with alpha 0 and 255', async () => {
  const j = await generate({ prompt: 'a cat', background: 'transparent', size: '256x256', quality: 'low' });
  checkResponse(j, { width: 256, height: 256, quality: 'low', background: 'transparent', prompt: 'a cat' + TRANSPARENT });
});

test('background transparent, non-square non-native size 1536x1024', async () => {
  const j = await generate({ prompt: 'a cat', background: 'transparent', size: '1536x1024', quality: 'low' });
  checkResponse(j, { width: 1536, height: 1024, quality: 'low', background: 'transparent' });
});

for (const compression of [100, 60]) {
  test(`background transparent, webp ${compression}: alpha in the file`, async () => {
    const j = await generate({
      prompt: 'a cat', background: 'transparent', output_format: 'webp', output_compression: compression,
      size: '256x256', quality: 'low',
    });
    checkResponse(j, { width: 256, height: 256, quality: 'low', background: 'transparent', format: 'webp' });
    const w = decodeImage(Buffer.from(j.data[0].b64_json, 'base64'));
    assert.equal(w.kind, compression === 100 ? 'lossless' : 'lossy');
  });
}

for (const background of ['opaque', 'auto']) {
  for (const format of ['png', 'webp']) {
    test(`background ${background}, ${format}: no alpha`, async () => {
      const j = await generate({ prompt: 'a cat', background, output_format: format, size: '256x256', quality: 'low' });
      checkResponse(j, { width: 256, height: 256, quality: 'low', background: 'opaque', format });
    });
  }
}

for (const format of ['png', 'jpeg', 'webp']) {
  for (const compression of [0, 50, 100]) {
    test(`output_format ${format}, output_compression ${compression}`, async () => {
      const j = await generate({
        prompt: 'a cat', output_format: format, output_compression: compression, size: '512x512', quality: 'low',
      });
      checkResponse(j, { width: 512, height: 512, quality: 'low', format });
      if (format === 'webp')
        assert.equal(decodeImage(Buffer.from(j.data[0].b64_json, 'base64')).kind, compression === 100 ? 'lossless' : 'lossy');
    });
  }
}

test('output_compression is honoured: jpeg 10 is smaller than jpeg 95', async () => {
  const size = (j) => Buffer.from(j.data[0].b64_json, 'base64').length;
  const lo = await generate({ prompt: 'a cat', output_format: 'jpeg', output_compression: 10, size: '512x512', quality: 'low' });
  const hi = await generate({ prompt: 'a cat', output_format: 'jpeg', output_compression: 95, size: '512x512', quality: 'low' });
  assert.ok(size(lo) < size(hi), `${size(lo)} < ${size(hi)}`);
});

// ---- response_format url --------------------------------------------------------------------------------

for (const format of ['png', 'jpeg', 'webp']) {
  test(`response_format url, ${format}: the file is served with its type, no key needed`, async () => {
    const [width, height] = format === 'png' ? [1536, 1024] : [512, 768];
    const j = await generate({
      prompt: 'a cat', response_format: 'url', output_format: format, n: 2, size: `${width}x${height}`, quality: 'low',
    });
    checkResponse(j, { n: 2, width, height, quality: 'low', format, url: true });
    const seen = new Set();
    for (const d of j.data) {
      assert.ok(d.url.startsWith(BASE + '/v1/images/files/'), `${d.url} is on ${BASE} (from the Host header)`);
      seen.add(d.url);
      const res = await fetch(d.url);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      await res.arrayBuffer();
      await fetchImage(d.url, { format, width, height, alpha: false });
    }
    assert.equal(seen.size, 2, 'each image has its own url');
  });
}

test('response_format url with background transparent', async () => {
  const j = await generate({ prompt: 'a cat', response_format: 'url', background: 'transparent', size: '128x128', quality: 'low' });
  checkResponse(j, { width: 128, height: 128, quality: 'low', background: 'transparent', url: true });
  await fetchImage(j.data[0].url, { format: 'png', width: 128, height: 128, alpha: true });
});

test('unknown or malformed image names are 404', async () => {
  for (const name of ['0123456789abcdef0123456789abcdef.png', 'nope.png', '0123456789abcdef0123456789abcdef.gif', '']) {
    const res = await fetch(`${BASE}/v1/images/files/${name}`);
    assert.equal(res.status, 404, name);
    const j = await res.json();
    assert.equal(j.error.type, 'invalid_request_error');
  }
});

// ---- moderation, user, prompt lengths --------------------------------------------------------------------

test('moderation low lets an auto-only term through', async () => {
  const j = await generate({ prompt: 'a nude marble statue', moderation: 'low', size: '64x64', quality: 'low' });
  checkResponse(j, { width: 64, height: 64, quality: 'low' });
});

test('moderation matches whole words only (sextant, gorge, Essex pass)', async () => {
  const j = await generate({ prompt: 'a sextant above a gorge in Essex', size: '64x64', quality: 'low' });
  checkResponse(j, { width: 64, height: 64, quality: 'low' });
});

test('moderation auto blocks a built-in term, whatever its case', async () => {
  await expectError({ prompt: 'NSFW picture', size: '64x64' }, 400, {
    code: 'moderation_blocked', param: 'prompt', type: 'image_generation_user_error',
  });
});

test('user of 256 code points (emoji count once each)', async () => {
  const j = await generate({ prompt: 'a cat', user: '😀'.repeat(256), size: '64x64', quality: 'low' });
  checkResponse(j, { width: 64, height: 64, quality: 'low' });
});

test('prompt of 32000 code points is accepted; text tokens are CLIP tokens', async () => {
  const j = await generate({ prompt: 'a '.repeat(15999) + 'a', size: '64x64', quality: 'low' });
  checkResponse(j, { width: 64, height: 64, quality: 'low' });
  const k = await generate({ prompt: '😀'.repeat(32000), size: '64x64', quality: 'low' });
  checkResponse(k, { width: 64, height: 64, quality: 'low' });
  const short = await generate({ prompt: 'a', size: '64x64', quality: 'low' });
  assert.ok(j.usage.input_tokens > short.usage.input_tokens, 'a longer prompt has more text tokens');
});

test('prompt of 32001 code points is refused, also when it is emoji', async () => {
  await expectError({ prompt: 'a'.repeat(32001) }, 400, { param: 'prompt' });
  await expectError({ prompt: '😀'.repeat(32001) }, 400, { param: 'prompt' });
});

// ---- streaming (raw SSE) --------------------------------------------------------------------------------

async function stream(body) {
  const res = await fetch(BASE + '/v1/images/generations', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/event-stream/);
  const events = parseSse(await res.text());
  for (const e of events) assert.equal(e.event, e.data.type, 'the event: line names the data type');
  return events;
}

for (const partial of [0, 1, 2, 3]) {
  test(`stream with partial_images ${partial}: partials in order, then completed with usage`, async () => {
    const events = await stream({
      prompt: 'a cat', stream: true, partial_images: partial, size: '768x512', quality: 'low', output_format: 'webp',
      output_compression: 80, background: 'transparent',
    });
    assert.equal(events.length, partial + 1);
    events.forEach((e, i) => {
      const last = i === events.length - 1;
      const d = e.data;
      assert.equal(d.type, last ? 'image_generation.completed' : 'image_generation.partial_image');
      if (!last) assert.equal(d.partial_image_index, i);
      else assert.equal(d.partial_image_index, undefined);
      assert.equal(d.background, 'transparent');
      assert.equal(d.output_format, 'webp');
      assert.equal(d.quality, 'low');
      assert.equal(d.size, '768x512');
      assert.ok(Number.isInteger(d.created_at));
      checkImage(Buffer.from(d.b64_json, 'base64'), { format: 'webp', width: 768, height: 512, alpha: true });
      if (last) {
        assert.equal(d.usage.output_tokens, outputTokens('low', 768, 512));
        assert.equal(d.usage.total_tokens, d.usage.input_tokens + d.usage.output_tokens);
        assert.ok(d.usage.input_tokens_details.text_tokens > 0);
      } else assert.equal(d.usage, undefined);
    });
  });
}

test('stream with n 2: a completed event per image', async () => {
  const events = await stream({ prompt: 'a cat', stream: true, n: 2, size: '64x64', quality: 'low' });
  const done = events.filter((e) => e.data.type === 'image_generation.completed');
  assert.equal(done.length, 2);
  for (const e of done) checkImage(Buffer.from(e.data.b64_json, 'base64'), { format: 'png', width: 64, height: 64, alpha: false });
  assert.equal(done[0].data.usage.output_tokens + done[1].data.usage.output_tokens, 2 * outputTokens('low', 64, 64));
});

test('stream with dall-e-3: its url default turns into b64_json', async () => {
  const events = await stream({ prompt: 'a cat', model: 'dall-e-3', stream: true, size: '256x256', quality: 'standard' });
  assert.equal(events.at(-1).data.type, 'image_generation.completed');
  checkImage(Buffer.from(events.at(-1).data.b64_json, 'base64'), { format: 'png', width: 256, height: 256, alpha: false });
});

test('partial_images without stream is accepted and unused', async () => {
  const j = await generate({ prompt: 'a cat', partial_images: 3, stream: false, size: '64x64', quality: 'low' });
  checkResponse(j, { width: 64, height: 64, quality: 'low' });
});

test('an error before the stream is a plain JSON error', async () => {
  const r = await expectError({ prompt: 'a cat', stream: true, n: 11 }, 400, { param: 'n', code: 'integer_above_max_value' });
  assert.match(r.headers.get('content-type'), /^application\/json/);
});

// ---- the other routes -------------------------------------------------------------------------------------

test('GET /v1/models lists the ids first, then the aliases', async () => {
  const res = await fetch(BASE + '/v1/models');
  assert.equal(res.status, 200);
  const j = await res.json();
  assert.equal(j.object, 'list');
  const ids = j.data.map((m) => m.id);
  assert.deepEqual(ids.slice(0, 3), ['sd1', 'sd2', 'tiny']);
  for (const a of ['gpt-image-1', 'gpt-image-1-mini', 'gpt-image-1.5', 'dall-e-2', 'dall-e-3']) assert.ok(ids.includes(a), a);
  assert.equal(new Set(ids).size, ids.length, 'no duplicates');
  for (const m of j.data) {
    assert.equal(m.object, 'model');
    assert.equal(m.owned_by, 'imagine');
    assert.ok(Number.isInteger(m.created));
  }
});

test('GET /v1/models/{id} for an id and an alias; unknown is 404 model_not_found', async () => {
  for (const id of ['sd2', 'gpt-image-1.5']) {
    const res = await fetch(`${BASE}/v1/models/${id}`);
    assert.equal(res.status, 200);
    const j = await res.json();
    assert.equal(j.id, id);
    assert.equal(j.object, 'model');
  }
  const res = await fetch(`${BASE}/v1/models/nope`);
  assert.equal(res.status, 404);
  assert.equal((await res.json()).error.code, 'model_not_found');
});

test('GET /health', async () => {
  const res = await fetch(BASE + '/health');
  assert.equal(res.status, 200);
  const j = await res.json();
  assert.equal(j.status, 'ok');
  assert.ok(Number.isInteger(j.queue_depth));
});

test('GET /metrics is Prometheus text', async () => {
  await post({ prompt: 'a cat', n: 0 }); // one more 400 to be counted
  const res = await fetch(BASE + '/metrics');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const types = {};
  for (const line of text.split('\n')) {
    if (!line) continue;
    const m = line.match(/^# TYPE (\w+) (counter|gauge|histogram|summary|untyped)$/);
    if (m) types[m[1]] = m[2];
    else if (!line.startsWith('# HELP ')) assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9.e+-]+$/, line);
  }
  assert.equal(types.imagine_requests_total, 'counter');
  assert.equal(types.imagine_queue_depth, 'gauge');
  assert.match(text, /^imagine_requests_total\{route="generations",status="200"\} [1-9]\d*$/m);
  assert.match(text, /^imagine_requests_total\{route="generations",status="400"\} [1-9]\d*$/m);
  assert.match(text, /^imagine_queue_depth \d+$/m);
});
