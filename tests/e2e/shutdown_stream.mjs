// shutdown_stream.mjs — run.sh's queued streaming request during SIGTERM (not a node --test file).
// The request waits in server B's queue behind a running job; run.sh then sends SIGTERM, and the
// server answers the queued job 503 server_shutting_down. The SSE response has already started (200,
// text/event-stream), so the refusal must come as `event: error` with an `error` object in its data,
// which openai 6.x throws as an APIError (spec/CLIENTS.md). Exit 0 when all of that held.
import assert from 'node:assert/strict';

import OpenAI from 'openai';

import { parseSse } from './lib/sse.mjs';

const [base, key] = [process.env.IMAGINE_E2E_AUTH_URL, process.env.IMAGINE_E2E_KEY];
// The whole response is read before the SDK sees it (the server ends it after the error event), so
// the frames can be checked byte for byte too; the SDK aborts its request when it throws, which
// would take a clone's unread bytes with it.
let raw = null;
const client = new OpenAI({
  apiKey: key, baseURL: base + '/v1', maxRetries: 0, timeout: 120_000,
  fetch: async (url, init) => {
    const res = await fetch(url, init);
    raw = { status: res.status, headers: res.headers, text: Buffer.from(await res.arrayBuffer()).toString('utf8') };
    return new Response(raw.text, { status: res.status, headers: res.headers });
  },
});

try {
  const stream = await client.images.generate({
    model: 'gpt-image-1', prompt: 'queued at shutdown', stream: true, partial_images: 1, size: '64x64', quality: 'low',
  });
  let thrown = null;
  const events = [];
  try {
    for await (const ev of stream) events.push(ev);
  } catch (e) {
    thrown = e;
  }
  assert.ok(thrown, `the SDK throws (events seen: ${JSON.stringify(events.map((e) => e.type))})`);
  assert.ok(thrown instanceof OpenAI.APIError, `an APIError, not ${thrown.constructor.name}`);
  assert.equal(thrown.code, 'server_shutting_down');
  assert.equal(thrown.type, 'server_error');
  assert.equal(events.length, 0, 'a job refused in the queue sends no image');
  assert.equal(raw.status, 200);
  assert.match(raw.headers.get('content-type'), /^text\/event-stream/);
  const frames = parseSse(raw.text);
  assert.equal(frames.length, 1);
  assert.equal(frames[0].event, 'error');
  assert.equal(frames[0].data.type, 'error');
  assert.deepEqual(Object.keys(frames[0].data.error).sort(), ['code', 'message', 'param', 'type']);
  console.log('shutdown stream: ok (event: error, code server_shutting_down, thrown as APIError)');
} catch (e) {
  console.log(`shutdown stream: FAIL ${e.message}`);
  process.exit(1);
}
