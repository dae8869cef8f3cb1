#!/usr/bin/python3
"""eval.py — measures the exported emoji model through the C engine, and checks torch == engine.

Owns: the held-out prompt list (concepts phrased unlike any training caption), generation with
`build/imagine generate`, nearest-training-image retrieval, the concept hit rate, a Fréchet
distance on simple image features with baselines for scale, and the report tools/emoji/EVAL.md.
Also `compare`: the same prompt and seed through our torch pipeline (sdnets + sampler) and the
engine, latents and pixels side by side. Leaves the nets to sdnets.py and training to train.py.

    /usr/bin/python3 tools/emoji/eval.py compare --prompt "a red apple" --seed 42
    /usr/bin/python3 tools/emoji/eval.py eval [--seeds 2]
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train.py: shared cores, no busy-wait

import argparse
import json
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sampler  # noqa: E402
import sdnets  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MODEL = os.path.join(REPO, "assets", "imagine-emoji")
BINARY = os.path.join(REPO, "build", "imagine")
DATA = os.path.expanduser("~/.cache/imagine/emoji-data/dataset.pt")

# Held-out prompts: (prompt, concept words of which one must appear in the nearest training image's
# names/keywords). Training captions are "{name}", "a {name}", "{name} emoji", "an emoji of {name}",
# "{name}, {keywords}"; these use other phrasings ("a picture of", "icon", adjectives, word order).
PROMPTS = [
    ("a shiny red apple", ["apple"]), ("a sleeping cat", ["cat"]), ("an otter", ["otter"]),
    ("a picture of a dog", ["dog"]), ("a cute panda", ["panda"]), ("pizza slice icon", ["pizza"]),
    ("a yellow banana", ["banana"]), ("a drawing of a rocket", ["rocket"]), ("a shiny red heart", ["heart"]),
    ("a happy smiling face", ["smiling", "smile", "grinning"]), ("a sad face with tears", ["crying", "cry", "tear"]),
    ("an airplane in the sky", ["airplane"]), ("a small blue car", ["car", "automobile"]), ("a green tree", ["tree"]),
    ("a slice of watermelon", ["watermelon"]), ("a bunch of grapes", ["grapes", "grape"]),
    ("a frog's face", ["frog"]), ("a little mouse", ["mouse"]), ("a picture of a penguin", ["penguin"]),
    ("an owl at night", ["owl"]), ("a whale spouting water", ["whale"]), ("a colourful tropical fish", ["fish"]),
    ("a sunflower icon", ["sunflower"]), ("a pink cherry blossom", ["blossom", "cherry"]),
    ("a bright sun", ["sun"]), ("the crescent moon at night", ["moon"]), ("a snowman in winter", ["snowman"]),
    ("a lightning bolt", ["lightning", "voltage", "high voltage"]), ("a fire flame", ["fire", "flame"]),
    ("a rainbow in the sky", ["rainbow"]), ("a cup of hot coffee", ["coffee", "hot beverage"]),
    ("a birthday cake with candles", ["cake"]), ("a glass of beer", ["beer"]), ("a hamburger icon", ["hamburger", "burger"]),
    ("a box of french fries", ["fries", "french"]), ("a black and white soccer ball", ["soccer", "football", "ball"]),
    ("an orange basketball", ["basketball"]), ("an acoustic guitar", ["guitar"]), ("a red umbrella", ["umbrella"]),
    ("an alarm clock", ["clock", "alarm"]), ("a light bulb idea", ["bulb", "light"]),
    ("a smartphone", ["phone", "mobile"]), ("a house with a garden", ["house"]),
    ("a red fire engine", ["fire engine", "fire"]), ("a red bicycle", ["bicycle", "bike"]),
    ("a sailing boat", ["sailboat", "boat"]), ("the flag of japan", ["japan"]),
    ("the flag of france", ["france"]), ("a spooky ghost", ["ghost"]), ("a white skull icon", ["skull"]),
    ("a smiling pile of poo", ["poo", "poop", "pile"]), ("an alien", ["alien"]), ("the face of a robot", ["robot"]),
    ("a unicorn head", ["unicorn"]), ("a green snake", ["snake"]), ("a slow turtle", ["turtle"]),
    ("an orange carrot", ["carrot"]), ("a ripe strawberry", ["strawberry"]), ("a sour yellow lemon", ["lemon"]),
    ("a buzzing honeybee", ["bee", "honeybee"]),
]


def engine_generate(prompt, seed, out_png, out_lat=None, steps=20, cfg=5.0, model=MODEL, precision="f32"):
    cmd = [BINARY, "generate", "--model", model, "--prompt", prompt, "--seed", str(seed), "--steps", str(steps),
           "--cfg", str(cfg), "--sampler", "euler", "--width", "64", "--height", "64", "--out", out_png,
           "--precision", precision]
    if out_lat:
        cmd += ["--out-latent", out_lat]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit("imagine generate failed (%d): %s" % (r.returncode, r.stderr.strip()[-2000:]))
    return np.asarray(Image.open(out_png).convert("RGB"))


def load_torch_model(model):
    j = lambda p: json.load(open(os.path.join(model, p)))
    tcfg, ucfg, vcfg = j("text_encoder/config.json"), j("unet/config.json"), j("vae/config.json")
    text, unet, vae = sdnets.ClipTextModel(tcfg), sdnets.UNet(ucfg), sdnets.AutoencoderKL(vcfg)
    text.load_state_dict(sdnets.load_safetensors(os.path.join(model, "text_encoder/model.safetensors")))
    unet.load_state_dict(sdnets.load_safetensors(os.path.join(model, "unet/diffusion_pytorch_model.safetensors")))
    vae.load_state_dict(sdnets.load_safetensors(os.path.join(model, "vae/diffusion_pytorch_model.safetensors")))
    tok = sdnets.ClipTokenizer(os.path.join(model, "tokenizer/vocab.json"), os.path.join(model, "tokenizer/merges.txt"),
                               tcfg["max_position_embeddings"])
    return tok, text.eval(), unet.eval(), vae.eval(), vcfg, j("scheduler/scheduler_config.json")


@torch.no_grad()
def torch_generate(m, prompt, seed, steps=20, cfg=5.0):
    """StableDiffusionPipeline + EulerDiscreteScheduler in torch: (latents, image uint8 HWC)."""
    tok, text, unet, vae, vcfg, scfg = m
    cond = text(torch.tensor([tok.encode(prompt)]))
    uncond = text(torch.tensor([tok.encode("")]))
    shape = (1, unet.cfg["in_channels"], 8, 8)  # the engine's latent: width / 8 (txt2img.c)
    lat = sampler.txt2img_latents(unet, scfg, cond, uncond, steps, cfg, seed, shape)
    img = (vae.decode(lat / vcfg["scaling_factor"]) / 2 + 0.5).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    return lat, img


def cmd_compare(a):
    m = load_torch_model(a.model)
    t0 = time.time()
    lat, img = torch_generate(m, a.prompt, a.seed, a.steps, a.cfg)
    t_torch = time.time() - t0
    with tempfile.TemporaryDirectory() as d:
        t0 = time.time()
        png = engine_generate(a.prompt, a.seed, os.path.join(d, "e.png"), os.path.join(d, "e.bin"), a.steps, a.cfg,
                              a.model)
        t_eng = time.time() - t0
        elat = torch.from_numpy(np.fromfile(os.path.join(d, "e.bin"), dtype=np.float32).reshape(lat.shape))
    rel = float((elat - lat).abs().max() / max(1.0, float(lat.abs().max())))
    px = np.abs(png.astype(np.int32) - np.round(img * 255).astype(np.int32)).max()
    print("prompt %r seed %d steps %d cfg %g latents %s" % (a.prompt, a.seed, a.steps, a.cfg, tuple(lat.shape)))
    print("final latents: max|engine - torch| / max(1, max|torch|) = %.3g (max|torch| %.3f)" %
          (rel, float(lat.abs().max())))
    print("image: max pixel difference %d / 255; torch %.2f s, engine %.2f s (process incl. load)" % (px, t_torch, t_eng))
    if a.out:
        Image.fromarray(np.concatenate([np.round(img * 255).astype(np.uint8), png], axis=1)).save(a.out)
    return rel, px


def frechet(f1, f2):
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2), square roots by eigh (no scipy here)."""
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)

    def sqrtm(s):
        w, v = np.linalg.eigh(s)
        return (v * np.sqrt(np.clip(w, 0, None))) @ v.T

    r1 = sqrtm(s1)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * sqrtm(r1 @ s2 @ r1)))


def features(imgs):
    """Simple honest features of uint8 N x 64 x 64 x 3: 8x8 average-pooled RGB (192) in [0, 1]."""
    x = torch.from_numpy(imgs).float().permute(0, 3, 1, 2) / 255
    return torch.nn.functional.avg_pool2d(x, 8).reshape(len(imgs), -1).numpy().astype(np.float64)


def pooled(imgs):
    """16x16 average-pooled RGB: a neighbour search that does not punish a soft-edged sample."""
    x = torch.from_numpy(np.ascontiguousarray(imgs)).float().permute(0, 3, 1, 2) / 255
    return torch.nn.functional.avg_pool2d(x, 4).reshape(len(imgs), -1).numpy()


def caption_words(r):
    return " " + " ".join(r["names"] + r["keywords"]) + " "


def hit(r, concepts):
    text = caption_words(r)
    return any(" %s " % c in text or " %ss " % c in text for c in concepts)


def training_captions(recs, templates):
    """Every single-slot training caption (the two-slot ones add keywords after a comma)."""
    return {t.format(n) for r in recs for n in r["names"] for t in templates if t.count("{}") == 1}


def cmd_eval(a):
    data = torch.load(DATA)
    train_u8, recs = data["images"].numpy(), data["records"]
    seen = [p for p, _ in PROMPTS if sdnets.clean_text(p) in training_captions(recs, data["templates"])]
    if seen:
        raise SystemExit("eval prompts equal to training captions (not held out): %s" % seen)
    train = train_u8.reshape(len(train_u8), -1).astype(np.float32) / 255
    train_pool = pooled(train_u8)
    gens, rows = [], []
    t0 = time.time()
    with tempfile.TemporaryDirectory() as d:
        for pi, (prompt, concepts) in enumerate(PROMPTS):
            for s in range(a.seeds):
                g = engine_generate(prompt, 1000 + s, os.path.join(d, "g.png"), steps=a.steps, cfg=a.cfg,
                                    model=a.model)
                gens.append(g)
                dist = ((train - g.reshape(1, -1).astype(np.float32) / 255) ** 2).sum(1)
                nn5 = np.argsort(dist)[:5]
                pdist = ((train_pool - pooled(g[None])) ** 2).sum(1)
                pn5 = np.argsort(pdist)[:5]
                rows.append({"prompt": prompt, "seed": 1000 + s, "nn": recs[nn5[0]]["names"][0],
                             "hit1": hit(recs[nn5[0]], concepts), "hit5": any(hit(recs[i], concepts) for i in nn5),
                             "phit1": hit(recs[pn5[0]], concepts), "phit5": any(hit(recs[i], concepts) for i in pn5),
                             "chance": float(np.mean([hit(r, concepts) for r in recs]))})
    t_gen = time.time() - t0
    gens = np.stack(gens)
    n = len(rows)
    hit1 = sum(r["hit1"] for r in rows) / n
    hit5 = sum(r["hit5"] for r in rows) / n
    phit1 = sum(r["phit1"] for r in rows) / n
    phit5 = sum(r["phit5"] for r in rows) / n
    chance1 = float(np.mean([r["chance"] for r in rows]))
    chance5 = float(np.mean([1 - (1 - r["chance"]) ** 5 for r in rows]))
    rng = np.random.default_rng(0)
    ft = features(train_u8)
    baselines = {
        "generated (this model)": features(gens),
        "training images (random %d, reference floor)" % n: ft[rng.choice(len(ft), n, replace=False)],
        "uniform noise images": features(rng.integers(0, 256, gens.shape, dtype=np.uint8)),
        "blank white images + noise": features(np.clip(255 - np.abs(rng.normal(0, 20, gens.shape)), 0, 255)
                                               .astype(np.uint8)),
        "mean training image": features(np.repeat(train_u8.mean(0, keepdims=True), n, 0).round().astype(np.uint8)
                                        + rng.integers(0, 2, gens.shape, dtype=np.uint8)),
    }
    fd = {k: frechet(v, ft) for k, v in baselines.items()}
    step = "?"
    try:
        step = json.load(open(os.path.join(a.model, "training_state.json")))["step"]
    except OSError:
        pass
    sheet = os.path.join(HERE, "eval_samples.png")
    cols = 10
    grid = np.ones((((len(gens) + cols - 1) // cols) * 64, cols * 64, 3), np.uint8) * 255
    for i, g in enumerate(gens):
        grid[(i // cols) * 64:(i // cols + 1) * 64, (i % cols) * 64:(i % cols + 1) * 64] = g
    Image.fromarray(grid).save(sheet)
    lines = ["# imagine-emoji evaluation", "",
             "Model: `%s` (UNet step %s), generated by the C engine: `imagine generate --sampler euler --steps %d "
             "--cfg %g --width 64 --height 64 --precision f32`, seeds 1000..%d, %d held-out prompts x %d seeds = %d "
             "images in %.0f s (including process start per image). Written by `tools/emoji/eval.py eval` on %s." %
             (os.path.relpath(a.model, REPO), step, a.steps, a.cfg, 999 + a.seeds, len(PROMPTS), a.seeds, n, t_gen,
              time.strftime("%Y-%m-%d %H:%M")), "",
             "## Concept retrieval", "",
             "Each generated image's nearest training image by pixel L2 at 64x64; a hit when that image's names or "
             "CLDR keywords contain one of the prompt's concept words. Chance = the same rate for a uniformly random "
             "training image.", "",
             "| measure | model | chance |", "|---|---|---|",
             "| nearest neighbour shares the concept (top-1) | %.1f%% | %.1f%% |" % (100 * hit1, 100 * chance1),
             "| any of the 5 nearest shares the concept (top-5) | %.1f%% | %.1f%% |" % (100 * hit5, 100 * chance5),
             "| same, nearest by 16x16 pooled colour (blur-tolerant), top-1 | %.1f%% | %.1f%% |" % (100 * phit1,
                                                                                                 100 * chance1),
             "| same, nearest by 16x16 pooled colour, top-5 | %.1f%% | %.1f%% |" % (100 * phit5, 100 * chance5), "",
             "## Fréchet distance to the training set", "",
             "Features: 8x8 average-pooled RGB in [0, 1] (192 numbers per image); Fréchet distance of each set "
             "(%d images) against all %d training images. Lower is closer; the random training subset is the floor "
             "a perfect model would reach at this sample size." % (n, len(ft)), "",
             "| images | Fréchet distance |", "|---|---|"]
    lines += ["| %s | %.2f |" % (k, v) for k, v in fd.items()]
    lines += ["", "## Per prompt", "", "| prompt | seed | nearest training image | top-1 | top-5 |", "|---|---|---|---|---|"]
    lines += ["| %s | %d | %s | %s | %s |" % (r["prompt"], r["seed"], r["nn"], "yes" if r["hit1"] else "no",
                                             "yes" if r["hit5"] else "no") for r in rows]
    lines += ["", "Samples (row-major, prompts in the order above): `tools/emoji/eval_samples.png`.", ""]
    open(os.path.join(HERE, "EVAL.md"), "w").write("\n".join(lines))
    print("\n".join(lines[:24]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compare")
    c.add_argument("--prompt", default="a red apple")
    c.add_argument("--seed", type=int, default=42)
    c.add_argument("--out", default="")
    e = sub.add_parser("eval")
    e.add_argument("--seeds", type=int, default=2)
    for p in (c, e):
        p.add_argument("--model", default=MODEL)
        p.add_argument("--steps", type=int, default=20)
        p.add_argument("--cfg", type=float, default=None,
                       help="guidance; default: the model's imagine.json (what imagine serve uses), else 5")
    a = ap.parse_args()
    if a.cfg is None:
        try:
            a.cfg = float(json.load(open(os.path.join(a.model, "imagine.json")))["guidance"])
        except (OSError, KeyError, ValueError):
            a.cfg = 5.0
    torch.set_num_threads(1)
    cmd_compare(a) if a.cmd == "compare" else cmd_eval(a)


if __name__ == "__main__":
    main()
