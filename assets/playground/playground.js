// playground.js — imagine's playground page (issue 18). It talks only to the server's public API, as any
// client would: GET /v1/models and /v1/models/{id}, POST /v1/images/generations (streaming with fetch and
// a ReadableStream SSE reader, since EventSource cannot POST; cancel aborts the fetch, which closes the
// stream, and the server cancels the job at its next step). The API key, when the server wants one, is
// typed here and kept in this browser's localStorage; the page itself is served without one.
'use strict';

const $ = (id) => document.getElementById(id);
const KEY_STORE = 'imagine.apiKey';
// Body fields beyond OpenAI's that a model may take (a later issue). /v1/models/{id} is assumed to list
// them in `parameters`, an object keyed by field name ({"seed": {...}, "negative_prompt": {...}}; an array
// of names is read too); an input shows, and its field is sent, only when its model names it.
const EXTENSIONS = [['seed', 'seed'], ['negative_prompt', 'negative']];

let running = null; // the AbortController of the generation under way
let modelParams = {}; // `parameters` of the selected model
let blobUrls = []; // object URLs of the shown images, revoked when replaced

function authHeaders(json) {
  const h = json ? { 'Content-Type': 'application/json' } : {};
  const key = $('key').value.trim();
  if (key) h.Authorization = 'Bearer ' + key;
  return h;
}

// An Error from a non-2xx answer: the server's message, its status and Retry-After.
async function apiError(res) {
  let message = `HTTP ${res.status} ${res.statusText}`.trim();
  try {
    const j = await res.json();
    if (j && j.error && j.error.message) message = j.error.message;
  } catch { /* not JSON: the status line says it */ }
  return Object.assign(new Error(message), { status: res.status, retryAfter: res.headers.get('Retry-After') });
}

function showError(e, from = '') {
  let text = e.message || String(e);
  if (e.status) text = `${e.status}: ${text}`;
  if (e.status === 401) {
    text += ' Enter this server\'s API key under "API key".';
    $('keybox').open = true;
  }
  if (e.status === 429 && e.retryAfter) text += ` Retry after ${e.retryAfter} s.`;
  $('error').textContent = text;
  $('error').hidden = false;
  $('error').dataset.from = from; // 'models': cleared once the models list
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

async function loadModels() {
  const sel = $('model');
  const want = sel.value;
  try {
    const res = await fetch('/v1/models', { headers: authHeaders(false) });
    if (!res.ok) throw await apiError(res);
    const list = ((await res.json()).data || []).map((m) => m.id);
    sel.replaceChildren(...list.map((id) => new Option(id, id)));
    if (!list.length) sel.append(new Option('(server default)', ''));
    if (list.includes(want)) sel.value = want;
    if ($('error').dataset.from === 'models') clearError();
  } catch (e) {
    showError(e, 'models');
  }
  await loadParams();
}

async function loadParams() {
  modelParams = {};
  const id = $('model').value;
  if (id) {
    try {
      const res = await fetch('/v1/models/' + encodeURIComponent(id), { headers: authHeaders(false) });
      const p = res.ok ? (await res.json()).parameters : null;
      if (Array.isArray(p)) p.forEach((k) => { modelParams[k] = {}; });
      else if (p && typeof p === 'object') modelParams = p;
    } catch { /* no parameters: the extension inputs stay hidden */ }
  }
  for (const [field, input] of EXTENSIONS) {
    const on = Object.prototype.hasOwnProperty.call(modelParams, field);
    $(input).closest('.ext').hidden = !on;
    $(input).disabled = !on;
  }
}

function requestBody() {
  const body = {
    prompt: $('prompt').value,
    size: $('size').value,
    quality: $('quality').value,
    n: $('n').value === '' ? 1 : Number($('n').value),
    output_format: $('format').value,
    background: $('background').value,
    response_format: 'b64_json', // dall-e-* names default to url
  };
  if ($('model').value) body.model = $('model').value;
  const previews = Number($('previews').value);
  if (previews > 0) Object.assign(body, { stream: true, partial_images: previews });
  const has = (f) => Object.prototype.hasOwnProperty.call(modelParams, f);
  if (has('seed') && $('seed').value !== '') body.seed = Number($('seed').value);
  if (has('negative_prompt') && $('negative').value.trim()) body.negative_prompt = $('negative').value;
  return body;
}

function imageUrl(b64, format) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const url = URL.createObjectURL(new Blob([bytes], { type: 'image/' + format }));
  blobUrls.push(url);
  return url;
}

function pixelate(img) {
  img.addEventListener('load', () => img.classList.toggle('px', img.naturalWidth < 256), { once: true });
}

function addResult(item, meta, index, seconds) {
  const fig = document.createElement('figure');
  const img = document.createElement('img');
  img.className = 'result';
  img.alt = item.revised_prompt || $('prompt').value;
  pixelate(img);
  img.src = imageUrl(item.b64_json, meta.output_format);
  const cap = document.createElement('figcaption');
  if (item.revised_prompt) {
    const q = document.createElement('q');
    q.className = 'revised';
    q.textContent = item.revised_prompt;
    cap.append('Revised prompt: ', q, document.createElement('br'));
  }
  const u = meta.usage;
  const line = [meta.size, meta.quality, meta.output_format, `${seconds.toFixed(1)} s`];
  if (u) line.push(`${u.total_tokens} tokens (${u.input_tokens} in, ${u.output_tokens} out)`);
  const info = document.createElement('span');
  info.className = 'meta';
  info.textContent = line.join(' · ') + ' · ';
  const a = document.createElement('a');
  a.href = img.src;
  a.download = `imagine-${meta.created || meta.created_at || Date.now()}-${index}.${meta.output_format === 'jpeg' ? 'jpg' : meta.output_format}`;
  a.textContent = 'Download';
  cap.append(info, a);
  fig.append(img, cap);
  $('results').append(fig);
}

// Reads an SSE body, calling onEvent(name, data) per event (comments skipped, data lines joined).
async function readEvents(res, onEvent) {
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf = (buf + value).replace(/\r\n/g, '\n');
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let name = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const i = line.indexOf(':');
        const field = i < 0 ? line : line.slice(0, i);
        const v = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
        if (field === 'event') name = v;
        else if (field === 'data') data.push(v);
      }
      if (data.length) onEvent(name, JSON.parse(data.join('\n')));
    }
  }
}

function setBusy(on) {
  $('generate').disabled = on;
  $('cancel').disabled = !on;
  $('progress').hidden = !on;
  document.body.classList.toggle('busy', on);
}

async function generate(ev) {
  ev.preventDefault();
  if (running) return;
  clearError();
  for (const u of blobUrls) URL.revokeObjectURL(u);
  blobUrls = [];
  $('results').replaceChildren();
  $('live').hidden = true;
  const body = requestBody();
  const total = body.n * ((body.partial_images || 0) + 1); // events expected, for the progress bar
  let done = 0;
  let phase = 'Waiting for the server';
  const t0 = performance.now();
  const secs = () => (performance.now() - t0) / 1000;
  const progress = $('progress');
  progress.removeAttribute('value'); // indeterminate until the first event
  progress.max = Number.isFinite(total) && total > 0 ? total : 1;
  const tick = () => { $('status').textContent = `${phase} · ${secs().toFixed(1)} s`; };
  tick();
  const timer = setInterval(tick, 100);
  const step = (what) => {
    progress.value = ++done;
    phase = what;
    tick();
  };
  const ctrl = (running = new AbortController());
  setBusy(true);
  let images = 0;
  try {
    const res = await fetch('/v1/images/generations', {
      method: 'POST', headers: authHeaders(true), body: JSON.stringify(body), signal: ctrl.signal,
    });
    if (!res.ok) throw await apiError(res);
    if (body.stream) {
      let partials = 0;
      await readEvents(res, (name, d) => {
        if (name === 'image_generation.partial_image') {
          const img = $('partial');
          pixelate(img);
          img.src = imageUrl(d.b64_json, d.output_format);
          img.dataset.count = String(++partials);
          $('live').hidden = false;
          step(`Preview ${d.partial_image_index + 1} of ${body.partial_images}`);
        } else if (name === 'image_generation.completed') {
          addResult(d, d, images++, secs());
          step(`Image ${images} of ${body.n} done`);
        } else if (name === 'error') {
          const e = (d && d.error) || {};
          throw Object.assign(new Error(e.message || 'The server sent an error.'), { code: e.code });
        }
      });
      if (images < body.n) throw new Error(`The stream ended after ${images} of ${body.n} images.`);
    } else {
      const j = await res.json();
      (j.data || []).forEach((item, i) => addResult(item, j, i, secs()));
      images = (j.data || []).length;
    }
    $('live').hidden = true;
    phase = `Done: ${images} image${images === 1 ? '' : 's'} in ${secs().toFixed(1)} s`;
  } catch (e) {
    if (e.name === 'AbortError') phase = 'Cancelled';
    else {
      phase = 'Failed';
      showError(e.name === 'TypeError' && !e.status ? new Error('Could not reach the server: ' + e.message) : e);
    }
  } finally {
    ctrl.abort(); // a stream left open by an error event or a bad frame is closed too
    clearInterval(timer);
    $('status').textContent = phase;
    running = null;
    setBusy(false);
  }
}

function init() {
  const key = $('key');
  try { key.value = localStorage.getItem(KEY_STORE) || ''; } catch { /* storage off: type it each time */ }
  $('keybox').open = key.value !== ''; // a key in use is shown as such
  key.addEventListener('change', () => {
    try { localStorage.setItem(KEY_STORE, key.value.trim()); } catch { /* ignored */ }
    loadModels();
  });
  $('model').addEventListener('change', loadParams);
  $('form').addEventListener('submit', generate);
  $('cancel').addEventListener('click', () => running && running.abort());
  loadModels();
}

init();
