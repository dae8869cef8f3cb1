// images.mjs — decode what the server returns, far enough to check it: format by magic bytes, exact
// width and height, and whether there is an alpha channel. PNG is decoded fully (inflate + unfilter,
// chunk CRCs checked) so the alpha values themselves can be counted; JPEG and WebP by their headers
// (SOFn; VP8 / VP8L / VP8X), which is where a decoder gets the size and the alpha flag from too.
import zlib from 'node:zlib';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf) {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function formatOf(buf) {
  if (buf.length >= 8 && buf.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])))
    return 'png';
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return 'jpeg';
  if (buf.length >= 12 && buf.toString('latin1', 0, 4) === 'RIFF' && buf.toString('latin1', 8, 12) === 'WEBP')
    return 'webp';
  return 'unknown';
}

// PNG: every chunk's CRC, IHDR, IDAT inflated and unfiltered (8-bit, non-interlaced, which is what an
// encoder writes by default). Returns {format, width, height, channels, hasAlpha, colorType, alpha}
// where alpha = {zero, full, partial} counts of the alpha samples (null without an alpha channel).
export function decodePng(buf) {
  if (formatOf(buf) !== 'png') throw new Error('not a PNG');
  let o = 8;
  let ihdr = null;
  let sawEnd = false;
  const idat = [];
  while (o + 12 <= buf.length) {
    const len = buf.readUInt32BE(o);
    const type = buf.toString('latin1', o + 4, o + 8);
    if (o + 12 + len > buf.length) throw new Error(`PNG chunk ${type} runs past the end`);
    const data = buf.subarray(o + 8, o + 8 + len);
    if (crc32(buf.subarray(o + 4, o + 8 + len)) !== buf.readUInt32BE(o + 8 + len))
      throw new Error(`PNG chunk ${type}: bad CRC`);
    if (type === 'IHDR') ihdr = data;
    else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') {
      sawEnd = true;
      break;
    }
    o += 12 + len;
  }
  if (!ihdr || !idat.length || !sawEnd) throw new Error('PNG without IHDR, IDAT or IEND');
  const width = ihdr.readUInt32BE(0), height = ihdr.readUInt32BE(4);
  const depth = ihdr[8], colorType = ihdr[9], interlace = ihdr[12];
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colorType];
  if (!channels) throw new Error(`PNG color type ${colorType}`);
  const hasAlpha = colorType === 4 || colorType === 6;
  const out = { format: 'png', width, height, channels, hasAlpha, colorType, alpha: null };
  if (depth !== 8 || interlace !== 0) return out; // not what imagine writes; header facts only
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const bpp = channels, stride = width * bpp;
  if (raw.length !== height * (stride + 1)) throw new Error(`PNG data is ${raw.length} bytes, want ${height * (stride + 1)}`);
  let prev = Buffer.alloc(stride);
  const rows = [];
  const alpha = hasAlpha ? { zero: 0, full: 0, partial: 0 } : null;
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = Buffer.from(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)));
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? line[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
      let p;
      switch (filter) {
        case 0: p = 0; break;
        case 1: p = a; break;
        case 2: p = b; break;
        case 3: p = (a + b) >> 1; break;
        case 4: {
          const pp = a + b - c, pa = Math.abs(pp - a), pb = Math.abs(pp - b), pc = Math.abs(pp - c);
          p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default: throw new Error(`PNG row ${y}: filter ${filter}`);
      }
      line[i] = (line[i] + p) & 0xff;
    }
    if (alpha)
      for (let x = bpp - 1; x < stride; x += bpp) {
        const v = line[x];
        if (v === 0) alpha.zero++;
        else if (v === 255) alpha.full++;
        else alpha.partial++;
      }
    prev = line;
    rows.push(line);
  }
  out.alpha = alpha;
  out.pixels = Buffer.concat(rows); // rows top to bottom, channels interleaved
  return out;
}

// JPEG: the first SOFn marker's size and component count. JPEG has no alpha.
export function decodeJpeg(buf) {
  if (formatOf(buf) !== 'jpeg') throw new Error('not a JPEG');
  let o = 2;
  while (o + 4 <= buf.length) {
    if (buf[o] !== 0xff) throw new Error(`JPEG: no marker at ${o}`);
    const m = buf[o + 1];
    if (m === 0xff) { o++; continue; }
    if (m === 0xd8 || (m >= 0xd0 && m <= 0xd7) || m === 0x01) { o += 2; continue; }
    const len = buf.readUInt16BE(o + 2);
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      const height = buf.readUInt16BE(o + 5), width = buf.readUInt16BE(o + 7), channels = buf[o + 9];
      if (buf[buf.length - 2] !== 0xff || buf[buf.length - 1] !== 0xd9) throw new Error('JPEG without EOI');
      return { format: 'jpeg', width, height, channels, hasAlpha: false, progressive: m === 0xc2 };
    }
    if (m === 0xda) break;
    o += 2 + len;
  }
  throw new Error('JPEG without a SOF marker');
}

// WebP: simple lossy (VP8), lossless (VP8L, with its alpha_is_used bit) or extended (VP8X, alpha flag;
// then the ALPH chunk must be there too).
export function decodeWebp(buf) {
  if (formatOf(buf) !== 'webp') throw new Error('not a WebP');
  if (buf.readUInt32LE(4) + 8 !== buf.length) throw new Error(`WebP RIFF size ${buf.readUInt32LE(4) + 8} != ${buf.length}`);
  const chunks = [];
  for (let o = 12; o + 8 <= buf.length; ) {
    const fourcc = buf.toString('latin1', o, o + 4), len = buf.readUInt32LE(o + 4);
    chunks.push({ fourcc, data: buf.subarray(o + 8, o + 8 + len) });
    o += 8 + len + (len & 1);
  }
  const first = chunks[0];
  if (!first) throw new Error('WebP without chunks');
  const vp8 = (d) => {
    if (d[3] !== 0x9d || d[4] !== 0x01 || d[5] !== 0x2a) throw new Error('VP8 start code missing');
    return { width: d.readUInt16LE(6) & 0x3fff, height: d.readUInt16LE(8) & 0x3fff };
  };
  const vp8l = (d) => {
    if (d[0] !== 0x2f) throw new Error('VP8L signature missing');
    const bits = d.readUInt32LE(1);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1, alpha: ((bits >>> 28) & 1) === 1 };
  };
  if (first.fourcc === 'VP8 ') return { format: 'webp', kind: 'lossy', ...vp8(first.data), hasAlpha: false };
  if (first.fourcc === 'VP8L') {
    const h = vp8l(first.data);
    return { format: 'webp', kind: 'lossless', width: h.width, height: h.height, hasAlpha: h.alpha };
  }
  if (first.fourcc === 'VP8X') {
    const d = first.data, flag = (d[0] & 0x10) !== 0;
    const width = (d[4] | (d[5] << 8) | (d[6] << 16)) + 1, height = (d[7] | (d[8] << 8) | (d[9] << 16)) + 1;
    const img = chunks.find((c) => c.fourcc === 'VP8 ' || c.fourcc === 'VP8L');
    if (!img) throw new Error('VP8X without image data');
    const inner = img.fourcc === 'VP8 ' ? vp8(img.data) : vp8l(img.data);
    if (inner.width !== width || inner.height !== height) throw new Error('VP8X canvas and bitstream sizes differ');
    const alphChunk = chunks.some((c) => c.fourcc === 'ALPH');
    if (flag && img.fourcc === 'VP8 ' && !alphChunk) throw new Error('VP8X says alpha but has no ALPH chunk');
    return {
      format: 'webp', kind: img.fourcc === 'VP8 ' ? 'lossy' : 'lossless', width, height,
      hasAlpha: flag && (alphChunk || (img.fourcc === 'VP8L' && inner.alpha)),
    };
  }
  throw new Error(`WebP first chunk ${first.fourcc}`);
}

export function decodeImage(buf) {
  const f = formatOf(buf);
  if (f === 'png') return decodePng(buf);
  if (f === 'jpeg') return decodeJpeg(buf);
  if (f === 'webp') return decodeWebp(buf);
  throw new Error(`unknown image format (first bytes ${buf.subarray(0, 12).toString('hex')})`);
}

// OpenAI's gpt-image-1 table: (W/g + 1) * (H/g) per image, g = 64, 32, 16 for low, medium, high; a
// started tile counts (sizes that g does not divide).
export function outputTokens(quality, width, height) {
  const g = { low: 64, medium: 32, high: 16 }[quality];
  return (Math.ceil(width / g) + 1) * Math.ceil(height / g);
}
