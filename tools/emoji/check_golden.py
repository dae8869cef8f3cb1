#!/usr/bin/python3
"""check_golden.py — holds sdnets.py / sampler.py to diffusers' own numbers before anything is trained.

Loads each golden tiny model (../shared/golden/{sd1,sd2}-tiny/model, diffusers layout) into our torch
modules and compares tokens, text states, both UNet cases, the VAE decode and the Euler pipeline runs
with the stored outputs. Error = max|got - ref| / max(1, max|ref|) (the golden README's measure);
pass at 1e-4 per network and 1e-3 per 4-step pipeline. If this fails, what train.py exports would
not be what the engine runs.

    /usr/bin/python3 tools/emoji/check_golden.py [--golden /work/shared/golden]
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train.py: shared cores, no busy-wait

import argparse
import json
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sampler  # noqa: E402
import sdnets  # noqa: E402

TOL_NET, TOL_PIPE = 1e-4, 1e-3


def case(root, m, name):
    c = next(c for c in m["cases"] if c["name"] == name)
    a = np.fromfile(os.path.join(root, c["file"]), dtype=np.int32 if c["dtype"] == "int32" else np.float32)
    return torch.from_numpy(a.reshape(c["shape"]).copy()), c


def rel(got, ref):
    return float((got - ref).abs().max() / max(1.0, float(ref.abs().max())))


def load_model(mdir, cls, sub, wname):
    cfg = json.load(open(os.path.join(mdir, sub, "config.json")))
    net = cls(cfg)
    sd = sdnets.load_safetensors(os.path.join(mdir, sub, wname))
    missing, unexpected = net.load_state_dict(sd, strict=False)
    # The golden VAE carries the encoder too; every key we define must be there and vice versa.
    if missing or unexpected:
        raise SystemExit("%s: missing %s unexpected %s" % (sub, missing[:5], unexpected[:5]))
    return net.eval(), cfg


def check_set(root):
    m = json.load(open(os.path.join(root, "manifest.json")))
    mdir = os.path.join(root, "model")
    results = []
    tok = sdnets.ClipTokenizer(os.path.join(mdir, "tokenizer/vocab.json"), os.path.join(mdir, "tokenizer/merges.txt"))
    for name in ["tokens_empty", "tokens_astronaut", "tokens_punct", "tokens_numbers", "tokens_long", "tokens_unicode"]:
        ref, c = case(root, m, name)
        got = torch.tensor(tok.encode(c["prompt"]), dtype=torch.int32)
        results.append((name, 0.0 if torch.equal(got, ref) else 1.0, 0.0))
    text, _ = load_model(mdir, sdnets.ClipTextModel, "text_encoder", "model.safetensors")
    unet, _ = load_model(mdir, sdnets.UNet, "unet", "diffusion_pytorch_model.safetensors")
    vae, vcfg = load_model(mdir, sdnets.AutoencoderKL, "vae", "diffusion_pytorch_model.safetensors")
    with torch.no_grad():
        for name, tname in [("text_empty", "tokens_empty"), ("text_astronaut", "tokens_astronaut"),
                            ("text_long", "tokens_long")]:
            ids, _ = case(root, m, tname)
            ref, _ = case(root, m, name)
            results.append((name, rel(text(ids[None].long()), ref), TOL_NET))
        for ab in "ab":
            lat, _ = case(root, m, "unet_%s_in_latent" % ab)
            ctx, _ = case(root, m, "unet_%s_in_context" % ab)
            ref, c = case(root, m, "unet_%s_out" % ab)
            results.append(("unet_%s_out" % ab, rel(unet(lat, torch.tensor(float(c["timestep"])), ctx), ref), TOL_NET))
        lat, _ = case(root, m, "vae_in_latent")
        ref, _ = case(root, m, "vae_decode_out")
        results.append(("vae_decode_out", rel(vae.decode(lat), ref), TOL_NET))
        # the same seed must give the same noise as the engine's (torch CPU generator, bit exact)
        ref, c = case(root, m, "rng_s42_1x4x8x8")
        results.append(("rng_s42", rel(torch.randn(c["rng_shape"], generator=torch.Generator().manual_seed(42)), ref),
                        0.0))
        cond, _ = case(root, m, "text_astronaut")
        unc, _ = case(root, m, "text_empty")
        for c in m["cases"]:
            if not (c["name"].startswith("pipe_euler_") and c["name"].endswith("_init_latents")):
                continue
            if c["scheduler_class"] != "EulerDiscreteScheduler":
                continue
            run = c["run"] if "run" in c else c["name"][5:-len("_init_latents")]
            shape = c["shape"]
            lat = sampler.txt2img_latents(unet, c["scheduler_config"], cond, unc, c["num_inference_steps"],
                                          c["guidance_scale"], c["seed"], shape)
            ref, _ = case(root, m, "pipe_%s_final_latents" % run)
            results.append(("pipe_" + run, rel(lat, ref), TOL_PIPE))
            img = (vae.decode(lat / vcfg["scaling_factor"]) / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1)
            ref, _ = case(root, m, "pipe_%s_image" % run)
            results.append(("pipe_%s_image" % run, rel(img, ref), TOL_PIPE))
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--golden", default="/work/shared/golden")
    a = ap.parse_args()
    torch.set_num_threads(2)
    ok = True
    for s in ["sd1-tiny", "sd2-tiny"]:
        for name, err, tol in check_set(os.path.join(a.golden, s)):
            good = err <= tol
            ok &= good
            print("%-9s %-34s rel err %.3g (tol %.0e) %s" % (s, name, err, tol, "ok" if good else "FAIL"))
    print("golden check:", "PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
