#!/usr/bin/python3
"""data.py — the emoji training set and its tokenizer, from packages only.

Owns: fetching the pinned npm package emoji-datasource-google (64x64 Noto emoji PNGs, Apache-2.0,
and emoji.json with names), joining English CLDR annotations from Debian's unicode-cldr-core by
emoji character, compositing RGBA onto white, the caption pool of every image, the train/eval
prompt split, and building a small CLIP-format byte-level BPE (vocab.json + merges.txt) from the
captions. Leaves training to train.py and evaluation to eval.py.

    /usr/bin/python3 tools/emoji/data.py [--cache ~/.cache/imagine/emoji-data]

writes CACHE/dataset.pt (images uint8 N x 64 x 64 x 3, per-image names/keywords) and
CACHE/tokenizer/{vocab.json,merges.txt}. Idempotent: the npm tarball is fetched once.
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sdnets  # noqa: E402

NPM_PACKAGE = "emoji-datasource-google"
NPM_VERSION = "16.0.0"  # pinned: its image set and emoji.json define the data
CLDR = ["/usr/share/unicode/cldr/common/annotations/en.xml",
        "/usr/share/unicode/cldr/common/annotationsDerived/en.xml"]
DEFAULT_CACHE = os.path.expanduser("~/.cache/imagine/emoji-data")
VOCAB_SIZE = 3072  # 512 byte symbols + merges + 2 special tokens

# Training captions are built from these templates only; eval.py phrases its prompts with others
# ("a picture of ...", "... icon", adjectives), so its prompts are held out from training.
TRAIN_TEMPLATES = ["{}", "{}", "{} emoji", "an emoji of {}", "a {}", "{} emoji, {}", "{}, {}"]


def fetch_package(cache):
    """npm pack the pinned tarball into the cache (outside the repo) and extract it once."""
    os.makedirs(cache, exist_ok=True)
    tgz = os.path.join(cache, "%s-%s.tgz" % (NPM_PACKAGE, NPM_VERSION))
    pkg = os.path.join(cache, "x", "package")
    if not os.path.exists(tgz):
        subprocess.run(["npm", "pack", "%s@%s" % (NPM_PACKAGE, NPM_VERSION)], cwd=cache, check=True)
    if not os.path.exists(os.path.join(pkg, "emoji.json")):
        with tarfile.open(tgz) as t:
            t.extractall(os.path.join(cache, "x"))
    return pkg


def load_cldr():
    """{emoji string: (tts name, [keywords])} from the English CLDR annotations (base + derived)."""
    names, keywords = {}, {}
    for path in CLDR:
        for a in ET.parse(path).getroot().iter("annotation"):
            cp, text = a.get("cp"), (a.text or "").strip()
            if a.get("type") == "tts":
                names[cp] = text
            else:
                keywords[cp] = [k.strip() for k in text.split("|") if k.strip()]
    return {cp: (names.get(cp), keywords.get(cp, [])) for cp in set(names) | set(keywords)}


def emoji_char(unified):
    return "".join(chr(int(h, 16)) for h in unified.split("-"))


def normalise(s):
    """Lower-case, ASCII-ish caption words: "flag: Egypt" -> "flag egypt", "flag-eg" -> "flag eg"."""
    s = s.lower().replace("_", " ").replace("-", " ").replace(":", " ").replace("’", "'").replace("“", "").replace("”", "")
    return re.sub(r"\s+", " ", s).strip()


def entries(pkg, cldr):
    """One record per emoji with a Google image: char, names (most specific first), keywords."""
    out = []
    for e in json.load(open(os.path.join(pkg, "emoji.json"), encoding="utf-8")):
        png = os.path.join(pkg, "img", "google", "64", e["image"])
        if not e.get("has_img_google") or not os.path.exists(png):
            continue
        ch = emoji_char(e["unified"])
        tts, kws = cldr.get(ch) or cldr.get(ch.replace("\ufe0f", "")) or (None, [])
        names = [tts, e.get("name")] + list(e.get("short_names") or [])
        names = list(dict.fromkeys(normalise(n) for n in names if n))
        kws = [normalise(k) for k in kws]
        kws = [k for k in dict.fromkeys(kws) if k and k not in names]
        out.append({"char": ch, "unified": e["unified"], "png": png, "names": names, "keywords": kws,
                    "category": e.get("category", "")})
    return out


def load_rgb_on_white(png):
    """RGBA composited onto white: the server keys the white out later for transparent backgrounds."""
    im = Image.open(png).convert("RGBA")
    if im.size != (64, 64):
        im = im.resize((64, 64), Image.LANCZOS)
    a = np.asarray(im).astype(np.float32) / 255.0
    rgb = a[..., :3] * a[..., 3:] + (1.0 - a[..., 3:])
    return (rgb * 255.0 + 0.5).astype(np.uint8)


def caption_corpus(recs):
    """Every caption word the tokenizer should know well: names, keywords, template words."""
    words = collections.Counter()
    for r in recs:
        for s in r["names"] + r["keywords"]:
            words.update(sdnets.pre_tokenize(s))
    for t in TRAIN_TEMPLATES:
        words.update(sdnets.pre_tokenize(t.replace("{}", " ")) * len(recs))
    return words


def build_bpe(words, vocab_size):
    """Byte-level BPE in CLIP's format: symbols are bytes_to_unicode chars, a word's last symbol
    carries "</w>"; merges are learnt greedily by pair frequency (ties: first seen)."""
    b2u = sdnets.bytes_to_unicode()
    base = list(b2u.values())
    seqs = [list(w[:-1]) + [w[-1] + "</w>"] for w in words]
    freq = list(words.values())
    pairs, where = collections.Counter(), collections.defaultdict(set)
    for i, s in enumerate(seqs):
        for p in zip(s, s[1:]):
            pairs[p] += freq[i]
            where[p].add(i)
    merges, vocab = [], base + [c + "</w>" for c in base]
    seen = set(vocab)
    n_merges = vocab_size - len(vocab) - 2
    while len(merges) < n_merges and pairs:
        best, n = max(pairs.items(), key=lambda kv: kv[1])
        if n < 2:
            break
        merges.append(best)
        tok = best[0] + best[1]
        if tok not in seen:
            seen.add(tok)
            vocab.append(tok)
        for i in list(where[best]):
            s, f = seqs[i], freq[i]
            for p in zip(s, s[1:]):  # remove the word's old pairs, merge, add its new pairs
                pairs[p] -= f
                if pairs[p] <= 0:
                    del pairs[p]
                where[p].discard(i)
            j, out = 0, []
            while j < len(s):
                if j < len(s) - 1 and (s[j], s[j + 1]) == best:
                    out.append(tok)
                    j += 2
                else:
                    out.append(s[j])
                    j += 1
            seqs[i] = out
            for p in zip(out, out[1:]):
                pairs[p] += f
                where[p].add(i)
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(vocab)}, merges


def write_tokenizer(vocab, merges, out_dir, max_len):
    """vocab.json + merges.txt (with the #version header) + the two JSON files real checkpoints ship."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(out_dir, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2 - built by tools/emoji/data.py from emoji captions\n")
        f.write("".join("%s %s\n" % m for m in merges))
    tok = lambda s: {"content": s, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False}
    special = {"bos_token": tok("<|startoftext|>"), "eos_token": tok("<|endoftext|>"),
               "pad_token": "<|endoftext|>", "unk_token": tok("<|endoftext|>")}
    json.dump(special, open(os.path.join(out_dir, "special_tokens_map.json"), "w"), indent=2)
    cfg = {"add_prefix_space": False, "do_lower_case": True, "errors": "replace", "model_max_length": max_len,
           "tokenizer_class": "CLIPTokenizer", "bos_token": tok("<|startoftext|>"), "eos_token": tok("<|endoftext|>"),
           "pad_token": "<|endoftext|>", "unk_token": tok("<|endoftext|>")}
    json.dump(cfg, open(os.path.join(out_dir, "tokenizer_config.json"), "w"), indent=2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", default=DEFAULT_CACHE)
    ap.add_argument("--max-len", type=int, default=32, help="token positions (text encoder max_position_embeddings)")
    a = ap.parse_args()
    pkg = fetch_package(a.cache)
    recs = entries(pkg, load_cldr())
    images = np.stack([load_rgb_on_white(r["png"]) for r in recs])
    vocab, merges = build_bpe(caption_corpus(recs), VOCAB_SIZE)
    write_tokenizer(vocab, merges, os.path.join(a.cache, "tokenizer"), a.max_len)
    for r in recs:
        del r["png"]
    torch.save({"images": torch.from_numpy(images), "records": recs, "templates": TRAIN_TEMPLATES,
                "source": "%s@%s" % (NPM_PACKAGE, NPM_VERSION)}, os.path.join(a.cache, "dataset.pt"))
    n_cldr = sum(1 for r in recs if r["keywords"])
    print("%d images (%d with CLDR keywords), vocab %d tokens, %d merges -> %s" %
          (len(recs), n_cldr, len(vocab), len(merges), a.cache))


if __name__ == "__main__":
    main()
