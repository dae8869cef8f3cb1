// edits.test.mjs — /v1/images/edits and /v1/images/variations through the official `openai` client
// (images.edit with one image, an image list, a mask, a stream; images.createVariation) and the seed
// extension (issue 15 items 1, 2, 4, 5). Inputs are made by the server itself: a 64x64 PNG drawn with a
// seed, and an RGBA mask from a background:"transparent" draw of the same size (alpha 0 = repaint).
//
// WAITS ON THE LIBRARY: ig_generate refuses init_image with IG_ERR_UNSUPPORTED until the img2img /
// inpainting pipeline lands (src/lib, src/pipeline). The server then answers 400 code "unsupported";
// the tests that need real img2img output skip with that reason, and only then. Every request check
// before the library (validation, multipart, mask size) runs and must pass today.
import assert from 'node:assert/strict';
import test from 'node:test';

import OpenAI, { toFile } from 'openai';

import { decodePng } from './lib/images.mjs';
import { BASE, b64image, checkImage, parseSse } from './lib/server.mjs';

const client = new OpenAI({
  apiKey: 'sk-unused', baseURL: BASE + '/v1', organization: null, project: null, maxRetries: 0, timeout: 120_000,
});
const tiny = { size: '64x64', quality: 'low' };

async function draw(extra) {
  const r = await client.images.generate({ prompt: 'a red apple', ...tiny, seed: 7, ...extra });
  return b64image(r.data[0].b64_json);
}
const input = await draw({});
const maskPng = await draw({ background: 'transparent', prompt: 'a red apple' });
const file = (buf, name = 'in.png') => toFile(buf, name, { type: 'image/png' });

// Runs fn; a 400 "unsupported" (the library has no img2img yet) skips the test with its message.
async function orSkip(t, fn) {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof OpenAI.BadRequestError && e.code === 'unsupported') {
      t.skip(`waits on the library's img2img: ${e.message}`);
      return null;
    }
    throw e;
  }
}

function pixels(buf) {
  const img = decodePng(buf);
  assert.ok(img.pixels, 'decoded pixels');
  return img;
}

test('seed: repeated in the response, same seed gives byte-identical images', async () => {
  const a = await client.images.generate({ prompt: 'an otter', ...tiny, seed: 1234, steps: 2, guidance_scale: 3 });
  const b = await client.images.generate({ prompt: 'an otter', ...tiny, seed: 1234, steps: 2, guidance_scale: 3 });
  assert.equal(a.seed, 1234);
  assert.equal(a.data[0].b64_json, b.data[0].b64_json);
  const c = await client.images.generate({ prompt: 'an otter', ...tiny, seed: 1235, steps: 2, guidance_scale: 3 });
  assert.notEqual(a.data[0].b64_json, c.data[0].b64_json);
});

test('models.retrieve lists the extension parameters with ranges', async () => {
  const m = await client.models.retrieve('sd1');
  assert.equal(m.parameters.seed.type, 'integer');
  assert.equal(m.parameters.steps.maximum, 150);
  assert.ok(m.parameters.sampler.enum.includes(m.parameters.sampler.default));
  assert.deepEqual(m.parameters.strength.endpoints, ['edits', 'variations']);
});

test('images.edit refusals reach the client with their param', async () => {
  const other = await client.images.generate({ prompt: 'x', size: '128x64', quality: 'low' });
  await assert.rejects(
    client.images.edit({ image: await file(input), mask: await file(b64image(other.data[0].b64_json)), prompt: 'x' }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'mask');
  await assert.rejects(client.images.edit({ image: await file(Buffer.from('not an image')), prompt: 'x' }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'image' && e.code === 'invalid_image');
  await assert.rejects(client.images.edit({ image: await file(input), prompt: 'x', strength: 3 }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'strength');
});

test('images.edit: one image', async (t) => {
  const r = await orSkip(t, async () => client.images.edit({ image: await file(input), prompt: 'a green apple', ...tiny, seed: 3 }));
  if (!r) return;
  assert.equal(r.seed, 3);
  checkImage(b64image(r.data[0].b64_json), { format: 'png', width: 64, height: 64, alpha: false });
});

test('images.edit: an image list (image[]), size auto keeps the input size', async (t) => {
  const r = await orSkip(t, async () =>
    client.images.edit({ image: [await file(input), await file(maskPng, 'b.png')], prompt: 'a pear', quality: 'low' }));
  if (!r) return;
  assert.equal(r.size, '64x64');
  checkImage(b64image(r.data[0].b64_json), { format: 'png', width: 64, height: 64, alpha: false });
});

test('images.edit with a mask: unmasked pixels kept, the masked region changed', async (t) => {
  const r = await orSkip(t, async () =>
    client.images.edit({ image: await file(input), mask: await file(maskPng, 'mask.png'), prompt: 'a blue ball', ...tiny, seed: 5 }));
  if (!r) return;
  const out = pixels(b64image(r.data[0].b64_json)), inp = pixels(input), mask = pixels(maskPng);
  let keptMax = 0, changed = 0, nMasked = 0, nKept = 0;
  const W = 64, H = 64, near = (x, y) => { // any repaint pixel within 2 px (the feathered edge)
    for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) {
      const xx = x + dx, yy = y + dy;
      if (xx >= 0 && yy >= 0 && xx < W && yy < H && mask.pixels[(yy * W + xx) * 4 + 3] !== 255) return true;
    }
    return false;
  };
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const a = mask.pixels[(y * W + x) * 4 + 3];
    let d = 0;
    for (let c = 0; c < 3; c++) d = Math.max(d, Math.abs(out.pixels[(y * W + x) * 3 + c] - inp.pixels[(y * W + x) * 3 + c]));
    if (a === 255 && !near(x, y)) nKept++, keptMax = Math.max(keptMax, d);
    if (a === 0) nMasked++, changed += d > 0 ? 1 : 0;
  }
  console.log(`mask: ${nKept} kept pixels, max diff ${keptMax} (tolerance 2); ${changed}/${nMasked} masked pixels changed`);
  assert.ok(nKept > 0 && nMasked > 0, 'the mask has both regions');
  assert.ok(keptMax <= 2, `unmasked pixels kept (max diff ${keptMax})`);
  assert.ok(changed > nMasked / 2, 'the masked region changed');
});

test('images.edit stream: image_edit.partial_image then image_edit.completed', async (t) => {
  // raw fetch of the same multipart body the SDK builds, to see the SSE event names
  const form = new FormData();
  form.append('image', new Blob([input], { type: 'image/png' }), 'in.png');
  form.append('prompt', 'a pear');
  form.append('stream', 'true');
  form.append('partial_images', '1');
  form.append('quality', 'medium');
  form.append('size', '64x64');
  const res = await fetch(BASE + '/v1/images/edits', { method: 'POST', body: form });
  const text = await res.text();
  if (res.status === 400 && JSON.parse(text).error.code === 'unsupported') return t.skip(`waits on the library: ${text}`);
  assert.equal(res.status, 200, text.slice(0, 300));
  const events = parseSse(text);
  const types = events.map((e) => e.data?.type ?? e.event);
  // the job fails after the stream started: an `error` event (the library's img2img is not there yet)
  if (types.at(-1) === 'error' && events.at(-1).data.error?.code === 'unsupported')
    return t.skip(`waits on the library: ${events.at(-1).data.error.message}`);
  assert.equal(types.at(-1), 'image_edit.completed');
  assert.ok(types.slice(0, -1).every((x) => x === 'image_edit.partial_image'), types.join());
  // and through the SDK's stream iterator
  const stream = await client.images.edit({ image: await file(input), prompt: 'a pear', stream: true, ...tiny });
  const seen = [];
  for await (const ev of stream) seen.push(ev.type);
  assert.equal(seen.at(-1), 'image_edit.completed');
});

test('images.createVariation', async (t) => {
  const r = await orSkip(t, async () => client.images.createVariation({ image: await file(input), n: 2, size: '64x64', seed: 9 }));
  if (!r) return;
  assert.equal(r.data.length, 2);
  for (const d of r.data) checkImage(b64image(d.b64_json), { format: 'png', width: 64, height: 64, alpha: false });
});

test('img2img: strength 0 gives the input back (prompt and seed do not matter), strength 1 is txt2img', async (t) => {
  const common = { ...tiny, steps: 4, sampler: 'euler', guidance_scale: 1 };
  const a = await orSkip(t, async () => client.images.edit({ image: await file(input), prompt: 'a', strength: 0, seed: 1, ...common }));
  if (!a) return;
  const b = await client.images.edit({ image: await file(input), prompt: 'b c d', strength: 0, seed: 2, ...common });
  assert.equal(a.data[0].b64_json, b.data[0].b64_json, 'strength 0: nothing is denoised');
  const inp = pixels(input), out = pixels(b64image(a.data[0].b64_json));
  let sum = 0;
  for (let i = 0; i < inp.pixels.length; i++) sum += Math.abs(inp.pixels[i] - out.pixels[i]);
  console.log(`strength 0: mean |output - input| ${(sum / inp.pixels.length).toFixed(2)} levels (the tiny VAE's round trip)`);
  const e1 = await client.images.edit({ image: await file(input), prompt: 'an otter', strength: 1, seed: 11, ...common });
  const g1 = await client.images.generate({ prompt: 'an otter', seed: 11, ...common });
  const x = pixels(b64image(e1.data[0].b64_json)), y = pixels(b64image(g1.data[0].b64_json));
  let mx = 0;
  for (let i = 0; i < x.pixels.length; i++) mx = Math.max(mx, Math.abs(x.pixels[i] - y.pixels[i]));
  console.log(`strength 1 vs txt2img, same seed: max diff ${mx} levels (tolerance 2)`);
  assert.ok(mx <= 2, `strength 1 equals txt2img (max diff ${mx})`);
});
