// check_bodies.mjs MANIFEST — run.sh's last look at every curl case's response: JSON bodies must parse,
// error bodies must have OpenAI's shape, event streams must be well-formed frames whose event: line
// matches the data's type. MANIFEST lines: "<file prefix>\t<status>\t<case name>\t<flags>"; <prefix>.head holds
// the headers, <prefix>.body the body. Prints one line per problem; exit status 1 when there was one.
import fs from 'node:fs';

import { parseSse } from './sse.mjs';

let checked = 0;
const problems = [];
for (const line of fs.readFileSync(process.argv[2], 'utf8').split('\n')) {
  if (!line) continue;
  const [prefix, status, name, flags = ''] = line.split('\t');
  if (flags.includes('head')) continue; // HEAD: no body to read
  let head = '';
  let body;
  try {
    head = fs.readFileSync(prefix + '.head', 'latin1');
    body = fs.readFileSync(prefix + '.body');
  } catch {
    continue; // curl got no answer: the case itself failed already
  }
  // the last header block (after any "100 Continue")
  const blocks = head.split(/\r?\n\r?\n/).filter((b) => b.trim());
  const last = blocks.at(-1) ?? '';
  const type = (last.match(/^content-type:\s*([^\r\n;]+)/im)?.[1] ?? '').toLowerCase();
  const code = Number(status);
  const fail = (why) => problems.push(`${name}: ${why}`);
  checked++;
  if (code >= 400 && type !== 'application/json') {
    fail(`a ${code} with Content-Type '${type}', not application/json`);
    continue;
  }
  if (type === 'application/json') {
    let j;
    try {
      j = JSON.parse(body.toString('utf8'));
    } catch (e) {
      if (body.length) fail(`the JSON body does not parse: ${e.message}`);
      continue;
    }
    if (code >= 400) {
      const e = j?.error;
      const keys = e && typeof e === 'object' ? Object.keys(e).sort().join(',') : '';
      if (keys !== 'code,message,param,type') fail(`error body keys are '${keys}'`);
      else if (typeof e.message !== 'string' || !e.message) fail('error.message is not a non-empty string');
      else if (typeof e.type !== 'string' || !e.type) fail('error.type is not a non-empty string');
      else if (e.param !== null && typeof e.param !== 'string') fail('error.param is neither null nor a string');
      else if (e.code !== null && typeof e.code !== 'string') fail('error.code is neither null nor a string');
    } else if (typeof j !== 'object' || j === null) fail('a JSON answer that is not an object');
  } else if (type === 'text/event-stream') {
    try {
      const events = parseSse(body.toString('utf8'));
      if (!events.length) fail('an event stream with no events');
      for (const ev of events) if (ev.event !== ev.data.type) fail(`event: ${ev.event} carries type ${ev.data.type}`);
      if (events.at(-1)?.data.type !== 'image_generation.completed') fail('the stream does not end with completed');
    } catch (e) {
      fail(`the event stream does not parse: ${e.message}`);
    }
  }
}
for (const p of problems) console.log(`FAIL body check: ${p}`);
console.log(`body checks: ${checked} responses read, ${problems.length} problems`);
process.exit(problems.length ? 1 : 0);
