// gradient.test.mjs — DigitalOcean's `@digitalocean/gradient` client (0.1.0-alpha.2, the only version
// published) against imagine. Its images.generate posts to baseURL + '/images/generations' with
// `Authorization: Bearer <modelAccessKey>` (spec/gradient-ts-images-generate.txt, spec/CLIENTS.md).
import assert from 'node:assert/strict';
import test from 'node:test';

import Gradient, { AuthenticationError, BadRequestError, NotFoundError } from '@digitalocean/gradient';

import { outputTokens } from './lib/images.mjs';
import { AUTH_BASE, BASE, KEY_GRADIENT, checkImage, checkResponse } from './lib/server.mjs';

// accessToken/agentAccessKey null: a DIGITALOCEAN_ACCESS_TOKEN in the environment must not add a header
const make = (modelAccessKey, baseURL) =>
  new Gradient({ modelAccessKey, baseURL, accessToken: null, agentAccessKey: null, maxRetries: 0, timeout: 120_000 });

test("gradient: the seed's images.generate({prompt}) with modelAccessKey (server B, bare path)",
  { skip: !AUTH_BASE || !KEY_GRADIENT }, async () => {
    const client = make(KEY_GRADIENT, AUTH_BASE);
    const response = await client.images.generate({
      prompt: 'A cute baby sea otter floating on its back in calm blue water',
    });
    // Gradient's example answer: 1024x1024, quality high, 4160 output tokens
    checkResponse(response, {
      width: 1024, height: 1024, quality: 'high',
      prompt: 'A cute baby sea otter floating on its back in calm blue water', // B runs --no-revise-prompt
    });
    assert.equal(response.usage.output_tokens, 4160);
  });

test('gradient: baseURL with /v1 (server B)', { skip: !AUTH_BASE || !KEY_GRADIENT }, async () => {
  const response = await make(KEY_GRADIENT, AUTH_BASE + '/v1').images.generate({
    prompt: 'an otter', size: '64x64', quality: 'low',
  });
  checkResponse(response, { width: 64, height: 64, quality: 'low', prompt: 'an otter' });
});

test('gradient: a wrong modelAccessKey is an AuthenticationError (server B)', { skip: !AUTH_BASE }, async () => {
  await assert.rejects(make('sk-wrong', AUTH_BASE).images.generate({ prompt: 'an otter' }), (e) => {
    assert.ok(e instanceof AuthenticationError, `an AuthenticationError, not ${e.constructor.name}`);
    assert.equal(e.status, 401);
    return true;
  });
});

const client = make('unused', BASE);

test('gradient: every field the TS types allow, null where they allow it', async () => {
  const response = await client.images.generate({
    prompt: 'an otter', model: 'gpt-image-1', background: null, moderation: null, n: null, output_compression: null,
    output_format: null, partial_images: null, quality: null, size: null, stream: null, user: null,
  });
  checkResponse(response, { width: 1024, height: 1024, quality: 'high' });
});

test('gradient: gpt-image-1 values (landscape, low, webp, transparent, n 2)', async () => {
  const response = await client.images.generate({
    prompt: 'an otter', model: 'gpt-image-1', background: 'transparent', moderation: 'low', n: 2,
    output_compression: 90, output_format: 'webp', quality: 'low', size: '1536x1024', user: 'user-42',
  });
  checkResponse(response, { n: 2, width: 1536, height: 1024, quality: 'low', format: 'webp', background: 'transparent' });
});

test('gradient: streaming with partial_images 1', async () => {
  const stream = await client.images.generate({
    prompt: 'an otter', stream: true, partial_images: 1, size: '1024x1024', quality: 'low', output_format: 'jpeg',
  });
  const events = [];
  for await (const ev of stream) events.push(ev);
  assert.deepEqual(events.map((e) => e.type), ['image_generation.partial_image', 'image_generation.completed']);
  assert.equal(events[0].partial_image_index, 0);
  for (const e of events)
    checkImage(Buffer.from(e.b64_json, 'base64'), { format: 'jpeg', width: 1024, height: 1024, alpha: false });
  assert.equal(events[1].usage.output_tokens, outputTokens('low', 1024, 1024));
});

test('gradient: errors are the SDK classes', async () => {
  await assert.rejects(client.images.generate({ prompt: 'an otter', n: 11 }), (e) => {
    assert.ok(e instanceof BadRequestError, `a BadRequestError, not ${e.constructor.name}`);
    assert.equal(e.status, 400);
    const body = e.error?.error ?? e.error; // 0.1.0-alpha.2 keeps the whole body in .error
    assert.equal(body?.param, 'n');
    assert.equal(body?.code, 'integer_above_max_value');
    assert.match(e.message, /^400 /);
    return true;
  });
  await assert.rejects(client.images.generate({ prompt: 'an otter', model: 'llama3.3-70b-instruct' }), NotFoundError);
  await assert.rejects(client.images.generate({ prompt: '' }), BadRequestError);
});
