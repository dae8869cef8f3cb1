"""sdnets.py — the three Stable Diffusion networks in plain PyTorch, with diffusers' parameter names.

Owns: CLIPTextModel (transformers), UNet2DConditionModel and AutoencoderKL (diffusers 0.30), built from
their config.json dicts and restricted to what imagine's engine runs (src/models/sd.c accepts the same
subset); a tiny safetensors reader/writer; the CLIP BPE tokenizer (openai simple_tokenizer.py).
Leaves to others: training (train.py), the golden check (check_golden.py), data (data.py).

Every module's state_dict() key equals the checkpoint key diffusers/transformers use, so the export
loads in diffusers and in imagine unchanged. The forward passes follow the reference code order
(resnet.py, transformer_2d.py, attention_processor.py AttnProcessor, vae.py, modeling_clip.py);
check_golden.py holds them to diffusers' own numbers.
"""
import html
import json
import math
import re
import struct
import unicodedata

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------- safetensors

_DT = {"F32": (torch.float32, 4), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2),
       "I64": (torch.int64, 8), "I32": (torch.int32, 4)}


def load_safetensors(path):
    """{name: float32 tensor} of a .safetensors file (8-byte LE header size, JSON header, data)."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        dt, _ = _DT[meta["dtype"]]
        a, b = meta["data_offsets"]
        t = torch.frombuffer(bytearray(raw[base + a:base + b]), dtype=dt).reshape(meta["shape"])
        out[name] = t.float() if t.is_floating_point() else t
    return out


def save_safetensors(tensors, path, dtype=torch.float16):
    """Writes {name: tensor} as safetensors in `dtype`, names sorted, data 8-byte aligned."""
    names = sorted(tensors)
    header, blobs, off = {}, [], 0
    tag = {torch.float16: "F16", torch.float32: "F32"}[dtype]
    for k in names:
        a = tensors[k].detach().to("cpu", dtype).contiguous().numpy().tobytes()
        header[k] = {"dtype": tag, "shape": list(tensors[k].shape), "data_offsets": [off, off + len(a)]}
        blobs.append(a)
        off += len(a)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ---------------------------------------------------------------- CLIP tokenizer

def bytes_to_unicode():
    """simple_tokenizer.py: printable Latin-1 bytes stand for themselves, the rest map to 256+k."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


# CLIP's pattern with \p{L} written as [^\W\d_] and \p{N} as \d (the stdlib re has no \p classes;
# identical on the ASCII captions and prompts this model sees).
CLIP_PAT = re.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|[^\s\w]+|_+""",
                      re.IGNORECASE)


def clean_text(text):
    """ftfy stand-in (NFC), HTML unescape twice, whitespace collapse, lower-case (simple_tokenizer)."""
    text = unicodedata.normalize("NFC", text)
    text = html.unescape(html.unescape(text)).strip()
    return re.sub(r"\s+", " ", text).strip().lower()


def pre_tokenize(text):
    """Words of a cleaned text as byte-unicode strings (before BPE)."""
    b2u = bytes_to_unicode()
    return ["".join(b2u[b] for b in w.encode("utf-8")) for w in CLIP_PAT.findall(clean_text(text))]


class ClipTokenizer:
    """openai/CLIP simple_tokenizer over a vocab.json + merges.txt pair; pads with <|endoftext|>."""

    def __init__(self, vocab_path, merges_path, max_len=77):
        self.vocab = json.load(open(vocab_path, encoding="utf-8"))
        lines = open(merges_path, encoding="utf-8").read().strip().split("\n")
        if lines and lines[0].startswith("#version"):
            lines = lines[1:]
        self.ranks = {tuple(l.split()): i for i, l in enumerate(lines) if l.strip()}
        self.bos, self.eos = self.vocab["<|startoftext|>"], self.vocab["<|endoftext|>"]
        self.max_len = max_len
        self.cache = {}

    def bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        sym = list(word[:-1]) + [word[-1] + "</w>"]
        while len(sym) > 1:
            pairs = {(sym[i], sym[i + 1]) for i in range(len(sym) - 1)}
            best = min(pairs, key=lambda p: self.ranks.get(p, 1 << 30))
            if best not in self.ranks:
                break
            out, i = [], 0
            while i < len(sym):  # merge every occurrence, left to right
                if i < len(sym) - 1 and (sym[i], sym[i + 1]) == best:
                    out.append(sym[i] + sym[i + 1])
                    i += 2
                else:
                    out.append(sym[i])
                    i += 1
            sym = out
        self.cache[word] = sym
        return sym

    def encode(self, text):
        """[bos] + ids[:max_len-2] + [eos], padded with eos to max_len (CLIPTokenizer, truncation on)."""
        ids = []
        for w in pre_tokenize(text):
            ids += [self.vocab[s] for s in self.bpe(w)]
        ids = [self.bos] + ids[:self.max_len - 2] + [self.eos]
        return ids + [self.eos] * (self.max_len - len(ids))


# ---------------------------------------------------------------- CLIP text encoder

class ClipAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x, mask):
        B, T, D = x.shape
        h = self.heads
        q = (self.q_proj(x) * (D // h) ** -0.5).view(B, T, h, -1).transpose(1, 2)
        k = self.k_proj(x).view(B, T, h, -1).transpose(1, 2)
        v = self.v_proj(x).view(B, T, h, -1).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-1, -2) + mask, dim=-1)
        return self.out_proj((a @ v).transpose(1, 2).reshape(B, T, D))


class ClipMLP(nn.Module):
    def __init__(self, d, f, act):
        super().__init__()
        self.fc1, self.fc2, self.act = nn.Linear(d, f), nn.Linear(f, d), act

    def forward(self, x):
        h = self.fc1(x)
        h = h * torch.sigmoid(1.702 * h) if self.act == "quick_gelu" else F.gelu(h)
        return self.fc2(h)


class ClipLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, eps = cfg["hidden_size"], cfg.get("layer_norm_eps", 1e-5)
        self.self_attn = ClipAttention(d, cfg["num_attention_heads"])
        self.layer_norm1 = nn.LayerNorm(d, eps=eps)
        self.mlp = ClipMLP(d, cfg["intermediate_size"], cfg.get("hidden_act", "quick_gelu"))
        self.layer_norm2 = nn.LayerNorm(d, eps=eps)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class _Embeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.token_embedding = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.position_embedding = nn.Embedding(cfg["max_position_embeddings"], cfg["hidden_size"])


class _Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layers = nn.ModuleList(ClipLayer(cfg) for _ in range(cfg["num_hidden_layers"]))


class _TextModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embeddings = _Embeddings(cfg)
        self.encoder = _Encoder(cfg)
        self.final_layer_norm = nn.LayerNorm(cfg["hidden_size"], eps=cfg.get("layer_norm_eps", 1e-5))


class ClipTextModel(nn.Module):
    """transformers CLIPTextModel: returns last_hidden_state (B, T, D) of token ids (B, T)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.text_model = _TextModel(cfg)

    def forward(self, ids):
        tm = self.text_model
        T = ids.shape[1]
        x = tm.embeddings.token_embedding(ids) + tm.embeddings.position_embedding.weight[:T]
        mask = torch.full((T, T), float("-inf"), device=ids.device).triu(1)  # causal
        for layer in tm.encoder.layers:
            x = layer(x, mask)
        return tm.final_layer_norm(x)


# ---------------------------------------------------------------- shared UNet / VAE blocks

def timestep_embedding(t, dim, flip_sin_to_cos=True, shift=0.0):
    """diffusers embeddings.get_timestep_embedding (max_period 10000)."""
    half = dim // 2
    exponent = -math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / (half - shift)
    emb = t[:, None].float() * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
    if flip_sin_to_cos:
        emb = torch.cat([emb[:, half:], emb[:, :half]], dim=-1)
    return emb


class Resnet(nn.Module):
    """ResnetBlock2D: GN-SiLU-conv, + time_emb_proj(silu(temb)), GN-SiLU-conv, + (1x1) shortcut."""

    def __init__(self, cin, cout, temb, groups, eps):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        if temb:
            self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.conv_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x, temb=None):
        h = self.conv1(F.silu(self.norm1(x)))
        if temb is not None:
            h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.conv_shortcut(x) if hasattr(self, "conv_shortcut") else x) + h


def attention(q, k, v, heads):
    """softmax(q k^T / sqrt(d)) v per head; q (B, T, C), k/v (B, S, C)."""
    B, T, C = q.shape
    S = k.shape[1]
    q = q.view(B, T, heads, -1).transpose(1, 2)
    k = k.view(B, S, heads, -1).transpose(1, 2)
    v = v.view(B, S, heads, -1).transpose(1, 2)
    a = torch.softmax((q @ k.transpose(-1, -2)) * (C // heads) ** -0.5, dim=-1)
    return (a @ v).transpose(1, 2).reshape(B, T, C)


class Attention(nn.Module):
    """diffusers Attention with AttnProcessor; q/k/v without bias in the UNet, with bias in the VAE."""

    def __init__(self, dim, ctx_dim, heads, bias=False):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=bias)
        self.to_k = nn.Linear(ctx_dim, dim, bias=bias)
        self.to_v = nn.Linear(ctx_dim, dim, bias=bias)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim)])

    def forward(self, x, ctx=None):
        ctx = x if ctx is None else ctx
        return self.to_out[0](attention(self.to_q(x), self.to_k(ctx), self.to_v(ctx), self.heads))


class GEGLU(nn.Module):
    def __init__(self, d, inner):
        super().__init__()
        self.proj = nn.Linear(d, 2 * inner)

    def forward(self, x):
        h, gate = self.proj(x).chunk(2, dim=-1)
        return h * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(d, 4 * d), nn.Dropout(0.0), nn.Linear(4 * d, d)])

    def forward(self, x):
        for m in self.net:
            x = m(x)
        return x


class BasicTransformerBlock(nn.Module):
    def __init__(self, d, ctx_dim, heads):
        super().__init__()
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d) for _ in range(3))
        self.attn1 = Attention(d, d, heads)
        self.attn2 = Attention(d, ctx_dim, heads)
        self.ff = FeedForward(d)

    def forward(self, x, ctx):
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), ctx) + x
        return self.ff(self.norm3(x)) + x


class Transformer2D(nn.Module):
    """Transformer2DModel (one BasicTransformerBlock): GN(eps 1e-6), proj_in, block, proj_out, + x."""

    def __init__(self, c, heads, ctx_dim, groups, linear_proj):
        super().__init__()
        self.linear_proj = linear_proj
        self.norm = nn.GroupNorm(groups, c, eps=1e-6)
        self.proj_in = nn.Linear(c, c) if linear_proj else nn.Conv2d(c, c, 1)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(c, ctx_dim, heads)])
        self.proj_out = nn.Linear(c, c) if linear_proj else nn.Conv2d(c, c, 1)

    def forward(self, x, ctx):
        B, C, H, W = x.shape
        h = self.norm(x)
        if not self.linear_proj:
            h = self.proj_in(h)
        h = h.permute(0, 2, 3, 1).reshape(B, H * W, C)
        if self.linear_proj:
            h = self.proj_in(h)
        h = self.transformer_blocks[0](h, ctx)
        if self.linear_proj:
            h = self.proj_out(h)
        h = h.reshape(B, H, W, C).permute(0, 3, 1, 2)
        if not self.linear_proj:
            h = self.proj_out(h)
        return h + x


class Conv(nn.Module):
    """Holder so that the key reads `downsamplers.0.conv.weight` / `upsamplers.0.conv.weight`."""

    def __init__(self, c, stride, pad):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=stride, padding=pad)


class Level(nn.Module):
    """One down/up block: resnets (+ attentions), optional down/up sampler."""

    def __init__(self):
        super().__init__()
        self.resnets = nn.ModuleList()
        self.attentions = nn.ModuleList()


# ---------------------------------------------------------------- UNet2DConditionModel

class UNet(nn.Module):
    """UNet2DConditionModel for the SD 1.x / 2.x configs imagine accepts (see sd.c ig_sd_unet_config)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        bo, L, G = cfg["block_out_channels"], cfg["layers_per_block"], cfg["norm_num_groups"]
        eps, X = cfg.get("norm_eps", 1e-5), cfg["cross_attention_dim"]
        lin = cfg.get("use_linear_projection", False)
        n = len(bo)
        heads = cfg.get("num_attention_heads") or cfg["attention_head_dim"]  # diffusers' naming quirk
        heads = heads if isinstance(heads, list) else [heads] * n
        c0, temb = bo[0], 4 * bo[0]

        class TE(nn.Module):
            def __init__(s):
                super().__init__()
                s.linear_1, s.linear_2 = nn.Linear(c0, temb), nn.Linear(temb, temb)

        self.time_embedding = TE()
        self.conv_in = nn.Conv2d(cfg.get("in_channels", 4), c0, 3, padding=1)
        self.down_blocks = nn.ModuleList()
        out = c0
        for i, kind in enumerate(cfg["down_block_types"]):
            cin, out = out, bo[i]
            lv = Level()
            lv.attn = kind == "CrossAttnDownBlock2D"
            for j in range(L):
                lv.resnets.append(Resnet(cin if j == 0 else out, out, temb, G, eps))
                if lv.attn:
                    lv.attentions.append(Transformer2D(out, heads[i], X, G, lin))
            if i < n - 1:
                lv.downsamplers = nn.ModuleList([Conv(out, 2, 1)])
            self.down_blocks.append(lv)
        cm = bo[-1]

        class Mid(nn.Module):
            def __init__(s):
                super().__init__()
                s.attentions = nn.ModuleList([Transformer2D(cm, heads[-1], X, G, lin)])
                s.resnets = nn.ModuleList([Resnet(cm, cm, temb, G, eps), Resnet(cm, cm, temb, G, eps)])

        self.mid_block = Mid()
        self.up_blocks = nn.ModuleList()
        rbo, rh = bo[::-1], heads[::-1]
        prev = cm
        for i, kind in enumerate(cfg["up_block_types"]):
            out, cin = rbo[i], rbo[min(i + 1, n - 1)]
            lv = Level()
            lv.attn = kind == "CrossAttnUpBlock2D"
            for j in range(L + 1):
                skip = cin if j == L else out
                lv.resnets.append(Resnet((prev if j == 0 else out) + skip, out, temb, G, eps))
                if lv.attn:
                    lv.attentions.append(Transformer2D(out, rh[i], X, G, lin))
            if i < n - 1:
                lv.upsamplers = nn.ModuleList([Conv(out, 1, 1)])
            self.up_blocks.append(lv)
            prev = out
        self.conv_norm_out = nn.GroupNorm(G, c0, eps=eps)
        self.conv_out = nn.Conv2d(c0, cfg.get("out_channels", 4), 3, padding=1)

    def forward(self, x, t, ctx):
        cfg = self.cfg
        t = t.reshape(-1).expand(x.shape[0]) if torch.is_tensor(t) else torch.full((x.shape[0],), float(t))
        e = timestep_embedding(t.to(x.device), cfg["block_out_channels"][0], cfg.get("flip_sin_to_cos", True),
                               cfg.get("freq_shift", 0))
        temb = self.time_embedding.linear_2(F.silu(self.time_embedding.linear_1(e)))
        x = self.conv_in(x)
        skips = [x]
        for lv in self.down_blocks:
            for j, r in enumerate(lv.resnets):
                x = r(x, temb)
                if lv.attn:
                    x = lv.attentions[j](x, ctx)
                skips.append(x)
            if hasattr(lv, "downsamplers"):
                x = lv.downsamplers[0].conv(x)
                skips.append(x)
        m = self.mid_block
        x = m.resnets[1](m.attentions[0](m.resnets[0](x, temb), ctx), temb)
        for lv in self.up_blocks:
            for j, r in enumerate(lv.resnets):
                x = r(torch.cat([x, skips.pop()], dim=1), temb)
                if lv.attn:
                    x = lv.attentions[j](x, ctx)
            if hasattr(lv, "upsamplers"):
                x = lv.upsamplers[0].conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        return self.conv_out(F.silu(self.conv_norm_out(x)))


# ---------------------------------------------------------------- AutoencoderKL

class VaeAttention(nn.Module):
    """UNetMidBlock2D's Attention: group norm, one head over all channels, q/k/v with bias, + x."""

    def __init__(self, c, groups):
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, c, eps=1e-6)
        self.to_q, self.to_k, self.to_v = nn.Linear(c, c), nn.Linear(c, c), nn.Linear(c, c)
        self.to_out = nn.ModuleList([nn.Linear(c, c)])

    def forward(self, x):
        B, C, H, W = x.shape
        h = self.group_norm(x).reshape(B, C, H * W).transpose(1, 2)
        h = self.to_out[0](attention(self.to_q(h), self.to_k(h), self.to_v(h), 1))
        return h.transpose(1, 2).reshape(B, C, H, W) + x


class VaeMid(nn.Module):
    def __init__(self, c, groups, attn):
        super().__init__()
        self.resnets = nn.ModuleList([Resnet(c, c, 0, groups, 1e-6), Resnet(c, c, 0, groups, 1e-6)])
        if attn:
            self.attentions = nn.ModuleList([VaeAttention(c, groups)])

    def forward(self, x):
        x = self.resnets[0](x)
        if hasattr(self, "attentions"):
            x = self.attentions[0](x)
        return self.resnets[1](x)


class VaeEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        bo, L, G = cfg["block_out_channels"], cfg["layers_per_block"], cfg["norm_num_groups"]
        self.conv_in = nn.Conv2d(cfg.get("in_channels", 3), bo[0], 3, padding=1)
        self.down_blocks = nn.ModuleList()
        out = bo[0]
        for i in range(len(bo)):
            cin, out = out, bo[i]
            lv = Level()
            for j in range(L):
                lv.resnets.append(Resnet(cin if j == 0 else out, out, 0, G, 1e-6))
            if i < len(bo) - 1:
                lv.downsamplers = nn.ModuleList([Conv(out, 2, 0)])
            self.down_blocks.append(lv)
        self.mid_block = VaeMid(bo[-1], G, cfg.get("mid_block_add_attention", True))
        self.conv_norm_out = nn.GroupNorm(G, bo[-1], eps=1e-6)
        self.conv_out = nn.Conv2d(bo[-1], 2 * cfg["latent_channels"], 3, padding=1)

    def forward(self, x):
        x = self.conv_in(x)
        for lv in self.down_blocks:
            for r in lv.resnets:
                x = r(x)
            if hasattr(lv, "downsamplers"):  # Downsample2D with padding 0: pad right/bottom by 1
                x = lv.downsamplers[0].conv(F.pad(x, (0, 1, 0, 1)))
        x = self.mid_block(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class VaeDecoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        bo, L, G = cfg["block_out_channels"], cfg["layers_per_block"], cfg["norm_num_groups"]
        rbo = bo[::-1]
        self.conv_in = nn.Conv2d(cfg["latent_channels"], rbo[0], 3, padding=1)
        self.mid_block = VaeMid(rbo[0], G, cfg.get("mid_block_add_attention", True))
        self.up_blocks = nn.ModuleList()
        prev = rbo[0]
        for i, out in enumerate(rbo):
            lv = Level()
            for j in range(L + 1):
                lv.resnets.append(Resnet(prev if j == 0 else out, out, 0, G, 1e-6))
            if i < len(bo) - 1:
                lv.upsamplers = nn.ModuleList([Conv(out, 1, 1)])
            self.up_blocks.append(lv)
            prev = out
        self.conv_norm_out = nn.GroupNorm(G, bo[0], eps=1e-6)
        self.conv_out = nn.Conv2d(bo[0], cfg.get("out_channels", 3), 3, padding=1)

    def forward(self, z):
        x = self.mid_block(self.conv_in(z))
        for lv in self.up_blocks:
            for r in lv.resnets:
                x = r(x)
            if hasattr(lv, "upsamplers"):
                x = lv.upsamplers[0].conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class AutoencoderKL(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        lc = cfg["latent_channels"]
        self.encoder = VaeEncoder(cfg)
        self.decoder = VaeDecoder(cfg)
        self.quant_conv = nn.Conv2d(2 * lc, 2 * lc, 1)
        self.post_quant_conv = nn.Conv2d(lc, lc, 1)

    def encode(self, x):
        """Posterior (mean, logvar) of images in [-1, 1]; logvar clamped as DiagonalGaussianDistribution."""
        mean, logvar = self.quant_conv(self.encoder(x)).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z):
        return self.decoder(self.post_quant_conv(z))
