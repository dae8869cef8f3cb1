// openai.test.mjs — the official `openai` client (6.x, pinned in package.json) against imagine: what
// code written for OpenAI's image API does, unchanged but for baseURL (spec/CLIENTS.md).
import assert from 'node:assert/strict';
import test from 'node:test';

import OpenAI from 'openai';

import { outputTokens } from './lib/images.mjs';
import { AUTH_BASE, BASE, KEY_OPENAI, checkImage, checkResponse, fetchImage } from './lib/server.mjs';

const client = new OpenAI({
  apiKey: 'sk-unused', baseURL: BASE + '/v1', organization: null, project: null, maxRetries: 0, timeout: 120_000,
});

test('openai: images.generate, b64_json (gpt-image-1, portrait, medium)', async () => {
  const r = await client.images.generate({
    model: 'gpt-image-1', prompt: 'A cute baby sea otter', n: 1, size: '1024x1536', quality: 'medium',
  });
  checkResponse(r, { width: 1024, height: 1536, quality: 'medium' });
  assert.equal(r.usage.output_tokens, 1584); // OpenAI's table: 1024x1536 medium
});

test('openai: images.generate, webp with transparency and n 2 (gpt-image-1.5)', async () => {
  const r = await client.images.generate({
    model: 'gpt-image-1.5', prompt: 'A cute baby sea otter', n: 2, size: '256x256', quality: 'low',
    background: 'transparent', output_format: 'webp', output_compression: 70, moderation: 'low', user: 'user-1234',
  });
  checkResponse(r, { n: 2, width: 256, height: 256, quality: 'low', format: 'webp', background: 'transparent' });
});

test('openai: images.generate, url (dall-e-3 defaults), the url fetched', async () => {
  const r = await client.images.generate({ model: 'dall-e-3', prompt: 'A cute baby sea otter', size: '1792x1024' });
  checkResponse(r, { width: 1792, height: 1024, quality: 'medium', url: true });
  await fetchImage(r.data[0].url, { format: 'png', width: 1792, height: 1024, alpha: false });
});

test('openai: images.generate, response_format url with gpt-image-1', async () => {
  const r = await client.images.generate({
    model: 'gpt-image-1', prompt: 'an otter', size: '512x512', quality: 'low', response_format: 'url', output_format: 'jpeg',
  });
  checkResponse(r, { width: 512, height: 512, quality: 'low', format: 'jpeg', url: true });
  await fetchImage(r.data[0].url, { format: 'jpeg', width: 512, height: 512, alpha: false });
});

test('openai: streaming with partial_images 2: partials in order, then completed with usage', async () => {
  const stream = await client.images.generate({
    model: 'gpt-image-1', prompt: 'A cute baby sea otter', stream: true, partial_images: 2, size: '1536x1024',
    quality: 'low',
  });
  const events = [];
  for await (const ev of stream) events.push(ev);
  assert.deepEqual(events.map((e) => e.type), [
    'image_generation.partial_image', 'image_generation.partial_image', 'image_generation.completed',
  ]);
  assert.deepEqual(events.slice(0, 2).map((e) => e.partial_image_index), [0, 1]);
  for (const e of events) {
    assert.equal(e.size, '1536x1024');
    assert.equal(e.quality, 'low');
    assert.equal(e.output_format, 'png');
    assert.equal(e.background, 'opaque');
    checkImage(Buffer.from(e.b64_json, 'base64'), { format: 'png', width: 1536, height: 1024, alpha: false });
  }
  const done = events.at(-1);
  assert.equal(done.usage.output_tokens, outputTokens('low', 1536, 1024));
  assert.equal(done.usage.total_tokens, done.usage.input_tokens + done.usage.output_tokens);
  assert.ok(done.usage.input_tokens_details.text_tokens > 0);
});

test('openai: streaming with partial_images 0 sends only the completed event', async () => {
  const stream = await client.images.generate({
    model: 'gpt-image-1-mini', prompt: 'an otter', stream: true, partial_images: 0, size: '64x64', quality: 'low',
    output_format: 'jpeg',
  });
  const events = [];
  for await (const ev of stream) events.push(ev);
  assert.deepEqual(events.map((e) => e.type), ['image_generation.completed']);
  checkImage(Buffer.from(events[0].b64_json, 'base64'), { format: 'jpeg', width: 64, height: 64, alpha: false });
});

test('openai: an error before the stream is thrown as BadRequestError', async () => {
  await assert.rejects(
    client.images.generate({ model: 'gpt-image-1', prompt: 'an otter', stream: true, partial_images: 4 }),
    (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError, `a BadRequestError, not ${e.constructor.name}`);
      assert.equal(e.status, 400);
      assert.equal(e.code, 'integer_above_max_value');
      assert.equal(e.param, 'partial_images');
      assert.equal(e.type, 'invalid_request_error');
      return true;
    },
  );
  await assert.rejects(
    client.images.generate({ model: 'gpt-image-1', prompt: 'an otter', stream: true, response_format: 'url' }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'response_format',
  );
});

test('openai: errors map to the SDK classes (404 model, moderation, unknown field)', async () => {
  await assert.rejects(client.images.generate({ model: 'dall-e-4', prompt: 'an otter' }), (e) => {
    assert.ok(e instanceof OpenAI.NotFoundError);
    assert.equal(e.code, 'model_not_found');
    assert.equal(e.param, 'model');
    return true;
  });
  await assert.rejects(client.images.generate({ prompt: 'gore' }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.equal(e.code, 'moderation_blocked');
    assert.equal(e.type, 'image_generation_user_error');
    return true;
  });
  // the SDK forwards what it does not know (CLIENTS.md): the server names it
  await assert.rejects(client.images.generate({ prompt: 'an otter', seeds: 42 }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.equal(e.code, 'unknown_parameter');
    assert.equal(e.param, 'seeds');
    return true;
  });
});

test('openai: models.list and models.retrieve', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  for (const id of ['sd1', 'sd2', 'tiny', 'gpt-image-1', 'dall-e-3']) assert.ok(ids.includes(id), id);
  const m = await client.models.retrieve('gpt-image-1');
  assert.equal(m.id, 'gpt-image-1');
  assert.equal(m.object, 'model');
  await assert.rejects(client.models.retrieve('nope'), OpenAI.NotFoundError);
});

test('openai: API keys (server B)', { skip: !AUTH_BASE || !KEY_OPENAI }, async () => {
  const good = new OpenAI({ apiKey: KEY_OPENAI, baseURL: AUTH_BASE + '/v1', maxRetries: 0 });
  const r = await good.images.generate({ model: 'gpt-image-1', prompt: 'an otter', size: '64x64', quality: 'low' });
  checkResponse(r, { width: 64, height: 64, quality: 'low', prompt: 'an otter' }); // B runs --no-revise-prompt
  const bad = new OpenAI({ apiKey: 'sk-wrong', baseURL: AUTH_BASE + '/v1', maxRetries: 0 });
  await assert.rejects(bad.images.generate({ prompt: 'an otter' }), (e) => {
    assert.ok(e instanceof OpenAI.AuthenticationError);
    assert.equal(e.code, 'invalid_api_key');
    return true;
  });
  await assert.rejects(bad.models.list(), OpenAI.AuthenticationError);
});
