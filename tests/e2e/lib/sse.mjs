// sse.mjs — server-sent events as an EventSource reads them (comments skipped, data lines joined).
// Reads an SSE body into [{event, data}] (data JSON-parsed), the way an EventSource would.
export function parseSse(text) {
  const events = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    if (!block.trim()) continue;
    let event = null;
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(':')) continue; // comment (keep-alive)
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (!data.length) continue;
    events.push({ event, data: JSON.parse(data.join('\n')) });
  }
  return events;
}
