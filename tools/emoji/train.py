#!/usr/bin/python3
"""train.py — trains imagine's built-in emoji model and exports it as a diffusers folder.

Owns: the model configs (diffusers config.json dicts the engine accepts, see src/models/sd.c), the
two training phases (1: AutoencoderKL on the 64x64 images; 2: CLIP text encoder + UNet jointly on
the VAE's latents, epsilon objective, min-SNR weighting, caption dropout for classifier-free
guidance, EMA weights), checkpoints with optimizer state (resume), warm start from an export, and
the export itself (f16 safetensors, atomic per folder). Leaves data/tokenizer to data.py, the nets
to sdnets.py, the scheduler to sampler.py.

    /usr/bin/python3 tools/emoji/data.py
    nohup nice -n 10 /usr/bin/python3 tools/emoji/train.py --hours 2 > ~/.cache/imagine/emoji-train/log.txt 2>&1 &

Why latent factor 8 (four VAE levels) with 8 latent channels: the engine derives the latent size as
width/8 (src/pipeline/txt2img.c:29, src/cli/generate.c:165), so a factor-4 VAE would not run there
unchanged; 8 channels at 8x8 keep 512 numbers per 64x64 image (24x compression) so the decoder
can still draw emoji detail, and the UNet works on 64 positions, which is cheap on a CPU.
"""
import os

# libgomp's default busy-wait makes every parallel region wait on a descheduled thread when the two
# cores are shared (measured here: VAE step 3.6 s with 2 threads busy-waiting, 0.57 s on 1 thread,
# 0.30 s with 2 passive threads). Must be set before torch loads libgomp.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import copy
import json
import math
import random
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sampler  # noqa: E402
import sdnets  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.expanduser("~/.cache/imagine/emoji-data")
WORK = os.path.expanduser("~/.cache/imagine/emoji-train")
EXPORT = os.path.join(REPO, "assets", "imagine-emoji")
DIFFUSERS_VERSION = "0.30.3"

MAX_LEN = 32  # token positions: emoji captions are short; the engine pads to max_position_embeddings


def text_config(vocab_size):
    return {"architectures": ["CLIPTextModel"], "model_type": "clip_text_model", "hidden_size": 128,
            "intermediate_size": 512, "num_attention_heads": 4, "num_hidden_layers": 3,
            "max_position_embeddings": MAX_LEN, "vocab_size": vocab_size, "hidden_act": "quick_gelu",
            "layer_norm_eps": 1e-5, "attention_dropout": 0.0, "dropout": 0.0, "initializer_factor": 1.0,
            "initializer_range": 0.02, "projection_dim": 128, "bos_token_id": vocab_size - 2,
            "eos_token_id": vocab_size - 1, "pad_token_id": vocab_size - 1, "torch_dtype": "float16"}


def unet_config():
    return {"_class_name": "UNet2DConditionModel", "_diffusers_version": DIFFUSERS_VERSION, "act_fn": "silu",
            "attention_head_dim": 4, "block_out_channels": [64, 128, 128], "center_input_sample": False,
            "cross_attention_dim": 128, "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                                             "DownBlock2D"],
            "downsample_padding": 1, "dual_cross_attention": False, "flip_sin_to_cos": True, "freq_shift": 0,
            "in_channels": 8, "layers_per_block": 2, "mid_block_scale_factor": 1,
            "mid_block_type": "UNetMidBlock2DCrossAttn", "norm_eps": 1e-5, "norm_num_groups": 16,
            "out_channels": 8, "sample_size": 8, "time_embedding_type": "positional",
            "transformer_layers_per_block": 1, "resnet_time_scale_shift": "default",
            "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
            "use_linear_projection": False, "upcast_attention": False, "only_cross_attention": False,
            "class_embed_type": None, "addition_embed_type": None, "time_cond_proj_dim": None,
            "encoder_hid_dim": None, "num_class_embeds": None, "time_embedding_dim": None,
            "conv_in_kernel": 3, "conv_out_kernel": 3}


def vae_config(scaling_factor=1.0):
    return {"_class_name": "AutoencoderKL", "_diffusers_version": DIFFUSERS_VERSION, "act_fn": "silu",
            "block_out_channels": [16, 32, 64, 128], "down_block_types": ["DownEncoderBlock2D"] * 4,
            "up_block_types": ["UpDecoderBlock2D"] * 4, "in_channels": 3, "out_channels": 3,
            "latent_channels": 8, "layers_per_block": 1, "norm_num_groups": 8, "sample_size": 64,
            "scaling_factor": scaling_factor, "mid_block_add_attention": True, "force_upcast": False,
            "use_quant_conv": True, "use_post_quant_conv": True, "shift_factor": None,
            "latents_mean": None, "latents_std": None}


def sched_config():
    """SD's scaled_linear schedule; EulerDiscreteScheduler as the default sampler (engine-supported)."""
    return {"_class_name": "EulerDiscreteScheduler", "_diffusers_version": DIFFUSERS_VERSION,
            "num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
            "beta_schedule": "scaled_linear", "trained_betas": None, "prediction_type": "epsilon",
            "interpolation_type": "linear", "use_karras_sigmas": False, "timestep_spacing": "linspace",
            "steps_offset": 1, "timestep_type": "discrete", "final_sigmas_type": "zero",
            "rescale_betas_zero_snr": False}


MODEL_INDEX = {"_class_name": "StableDiffusionPipeline", "_diffusers_version": DIFFUSERS_VERSION,
               "feature_extractor": [None, None], "image_encoder": [None, None], "requires_safety_checker": False,
               "safety_checker": [None, None], "scheduler": ["diffusers", "EulerDiscreteScheduler"],
               "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
               "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]}


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


# ---------------------------------------------------------------- captions

class Captions:
    """Random caption of image i from its names/keywords and the training templates; "" for CFG."""

    def __init__(self, records, templates, drop=0.1):
        self.recs, self.templates, self.drop = records, templates, drop

    def __call__(self, i, rng):
        r = self.recs[i]
        if rng.random() < self.drop:
            return ""
        name = r["names"][0] if rng.random() < 0.5 or len(r["names"]) == 1 else rng.choice(r["names"][1:])
        t = rng.choice(self.templates)
        if t.count("{}") == 2:
            kws = r["keywords"] or r["names"][1:] or [name]
            extra = ", ".join(rng.sample(kws, min(len(kws), rng.randint(1, 3))))
            return t.format(name, extra)
        return t.format(name)


# ---------------------------------------------------------------- state

def init_weights(model, seed):
    torch.manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):
            torch.nn.init.xavier_uniform_(m.weight) if m.weight.dim() > 1 else None
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
        elif isinstance(m, torch.nn.Embedding):
            torch.nn.init.normal_(m.weight, std=0.02)


def zero_out_layers(unet):
    """Residual branches start as identity (conv2 of resnets, proj_out, conv_out at zero): the usual
    diffusion UNet init, which makes the first thousand steps far more stable."""
    for name, m in unet.named_modules():
        if name.endswith("conv2") or name.endswith("proj_out") or name == "conv_out":
            torch.nn.init.zeros_(m.weight)
            torch.nn.init.zeros_(m.bias)


def atomic_save(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


# How imagine serve drives this model (src/server/plan.h): Euler, guidance 3 (chosen by eye at step ~2100:
# 2-4 keep the colours and shapes, 7 adds nothing), no prompt revision (quality and style words are not
# in the emoji vocabulary), no negative prompt, and no background words: emoji already sit on white.
IMAGINE_CARD = {"preset": "standard", "sampler": "euler", "steps_low": 10, "steps_medium": 20, "steps_high": 30,
                "guidance": 3.0, "revise_prompt": False, "negative_prompt": "", "transparent_prompt": ""}


def export(out, tokenizer_dir, text, unet, vae, vcfg, tcfg, step, note):
    """Writes the diffusers folder: every file first under .export-tmp, then each moved into place
    (os.replace), so a reader sees old or new files and never a half-written one."""
    tmp = os.path.join(out, ".export-tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    files = {}

    def put(rel, writer):
        p = os.path.join(tmp, rel.replace("/", "__"))
        writer(p)
        files[rel] = p

    def js(obj):
        return lambda p: json.dump(obj, open(p, "w"), indent=2)

    os.makedirs(tmp)
    for f in ["vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json"]:
        put("tokenizer/" + f, lambda p, f=f: shutil.copyfile(os.path.join(tokenizer_dir, f), p))
    put("model_index.json", js(MODEL_INDEX))
    put("scheduler/scheduler_config.json", js(sched_config()))
    put("text_encoder/config.json", js(tcfg))
    put("unet/config.json", js(unet.cfg))
    put("vae/config.json", js(vcfg))
    put("text_encoder/model.safetensors", lambda p: sdnets.save_safetensors(text.state_dict(), p))
    put("unet/diffusion_pytorch_model.safetensors", lambda p: sdnets.save_safetensors(unet.state_dict(), p))
    put("vae/diffusion_pytorch_model.safetensors", lambda p: sdnets.save_safetensors(vae.state_dict(), p))
    put("imagine.json", js(IMAGINE_CARD))
    put("training_state.json", js({"step": step, "note": note, "time": time.strftime("%Y-%m-%d %H:%M:%S")}))
    for rel, p in files.items():
        os.makedirs(os.path.dirname(os.path.join(out, rel)), exist_ok=True)
        os.replace(p, os.path.join(out, rel))
    shutil.rmtree(tmp, ignore_errors=True)


def load_export(out, text, unet, vae):
    for net, rel in [(text, "text_encoder/model.safetensors"), (unet, "unet/diffusion_pytorch_model.safetensors"),
                     (vae, "vae/diffusion_pytorch_model.safetensors")]:
        net.load_state_dict(sdnets.load_safetensors(os.path.join(out, rel)))


# ---------------------------------------------------------------- phase 1: VAE

def vae_loss(vae, x, kl_weight):
    mean, logvar = vae.encode(x)
    z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
    rec = vae.decode(z)
    l_rec = (rec - x).abs().mean() + F.mse_loss(rec, x)
    kl = 0.5 * (mean ** 2 + logvar.exp() - 1 - logvar).mean()
    return l_rec + kl_weight * kl, l_rec, kl


@torch.no_grad()
def encode_all(vae, images, device, bs=128):
    means, stds = [], []
    for i in range(0, len(images), bs):
        x = to_pixels(images[i:i + bs], device)
        m, lv = vae.encode(x)
        means.append(m.cpu())
        stds.append(torch.exp(0.5 * lv).cpu())
    return torch.cat(means), torch.cat(stds)


def random_crop(x, size):
    """A size x size window at a multiple of 8 (the latent grid): the VAE is convolutional, so it
    learns from crops at a fraction of the cost and still runs on the full 64x64 image."""
    if size >= x.shape[-1]:
        return x
    oy, ox = (random.randrange(0, x.shape[-1] - size + 1, 8) for _ in range(2))
    return x[:, :, oy:oy + size, ox:ox + size]


def to_pixels(u8, device):
    """uint8 NHWC -> float NCHW in [-1, 1], the range SD's VAE works in."""
    return u8.to(device).permute(0, 3, 1, 2).float() / 127.5 - 1.0


# ---------------------------------------------------------------- main loop

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--hours", type=float, default=2.0, help="wall-clock budget of this run (both phases)")
    ap.add_argument("--vae-minutes", type=float, default=12.0)
    ap.add_argument("--vae-batch", type=int, default=16)
    ap.add_argument("--vae-crop", type=int, default=32, help="VAE training window (pixels)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--warmup", type=int, default=200, help="UNet steps of linear lr warm-up")
    ap.add_argument("--ckpt-minutes", type=float, default=5.0)
    ap.add_argument("--export-minutes", type=float, default=10.0)
    ap.add_argument("--work", default=WORK)
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--export", default=EXPORT)
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many UNet steps (0: time only)")
    ap.add_argument("--bench", type=int, default=0, help="time N steps of each phase and exit")
    a = ap.parse_args()
    if a.device == "cpu":
        torch.set_num_threads(2)
    os.makedirs(a.work, exist_ok=True)
    random.seed(a.seed)
    np.random.seed(a.seed)
    torch.manual_seed(a.seed)
    dev = torch.device(a.device)
    t_start = time.time()
    deadline = t_start + a.hours * 3600

    data = torch.load(os.path.join(a.data, "dataset.pt"))
    images, recs = data["images"], data["records"]
    ckpt_path = os.path.join(a.work, "ckpt.pt")
    tok_dir = os.path.join(a.work, "tokenizer")
    ckpt = torch.load(ckpt_path) if os.path.exists(ckpt_path) else None
    warm = ckpt is None and os.path.exists(os.path.join(a.export, "unet", "diffusion_pytorch_model.safetensors"))
    if ckpt is None:  # the tokenizer is fixed for the life of a model: from the export or from data.py
        src = os.path.join(a.export, "tokenizer") if warm else os.path.join(a.data, "tokenizer")
        shutil.rmtree(tok_dir, ignore_errors=True)
        shutil.copytree(src, tok_dir)
    tok = sdnets.ClipTokenizer(os.path.join(tok_dir, "vocab.json"), os.path.join(tok_dir, "merges.txt"), MAX_LEN)
    tcfg = text_config(len(tok.vocab))
    text, unet = sdnets.ClipTextModel(tcfg), sdnets.UNet(unet_config())
    vcfg = vae_config()
    vae = sdnets.AutoencoderKL(vcfg)
    init_weights(text, a.seed)
    init_weights(unet, a.seed + 1)
    zero_out_layers(unet)
    init_weights(vae, a.seed + 2)
    text.to(dev), unet.to(dev), vae.to(dev)
    n_params = {k: sum(p.numel() for p in m.parameters()) for k, m in [("text", text), ("unet", unet), ("vae", vae)]}
    log("params", n_params, "vae decoder", sum(p.numel() for p in vae.decoder.parameters()), "device", dev)

    state = {"phase": "vae", "vae_step": 0, "step": 0, "vae_seconds": 0.0}
    opt_vae = torch.optim.AdamW(vae.parameters(), lr=1e-3, weight_decay=0.0)
    params = list(text.parameters()) + list(unet.parameters())
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.01)
    ema_text, ema_unet = copy.deepcopy(text).eval(), copy.deepcopy(unet).eval()
    latents = None
    if ckpt is not None:
        state = ckpt["state"]
        vae.load_state_dict(ckpt["vae"])
        opt_vae.load_state_dict(ckpt["opt_vae"])
        try:
            text.load_state_dict(ckpt["text"])
            unet.load_state_dict(ckpt["unet"])
            ema_text.load_state_dict(ckpt["ema_text"])
            ema_unet.load_state_dict(ckpt["ema_unet"])
            opt.load_state_dict(ckpt["opt"])
        except (RuntimeError, ValueError) as e:  # the UNet/text config changed: keep the trained VAE
            log("text/unet in the checkpoint do not fit this config, phase 2 starts over:", str(e)[:200])
            state["step"] = 0
            ema_text.load_state_dict(text.state_dict())
            ema_unet.load_state_dict(unet.state_dict())
        vcfg["scaling_factor"] = state.get("scaling_factor", 1.0)
        latents = ckpt.get("latents")
        torch.set_rng_state(ckpt["rng_torch"])
        random.setstate(ckpt["rng_py"])
        log("resumed from", ckpt_path, "phase", state["phase"], "step", state["step"])
    elif warm:
        load_export(a.export, text, unet, vae)
        vcfg = json.load(open(os.path.join(a.export, "vae", "config.json")))
        state.update(phase="unet", scaling_factor=vcfg["scaling_factor"])
        ema_text.load_state_dict(text.state_dict())
        ema_unet.load_state_dict(unet.state_dict())
        log("warm start from the export", a.export)

    def checkpoint():
        state["scaling_factor"] = vcfg["scaling_factor"]
        atomic_save({"state": state, "vae": vae.state_dict(), "text": text.state_dict(), "unet": unet.state_dict(),
                     "ema_text": ema_text.state_dict(), "ema_unet": ema_unet.state_dict(),
                     "opt_vae": opt_vae.state_dict(), "opt": opt.state_dict(), "latents": latents,
                     "rng_torch": torch.get_rng_state(), "rng_py": random.getstate()}, ckpt_path)

    rng = random.Random(a.seed + state["step"])
    last_ckpt = time.time()

    # ---- phase 1: the autoencoder
    if state["phase"] == "vae":
        vae.train()
        kl_weight = 1e-4
        t0, t_mark = time.time() - state["vae_seconds"], time.time()
        while True:
            elapsed = time.time() - t0
            if elapsed > a.vae_minutes * 60 or (a.bench and state["vae_step"] >= a.bench):
                break
            lr = 1e-3 * min(1.0, (state["vae_step"] + 1) / 100) * (0.1 + 0.9 * max(0.0, 1 - elapsed / (a.vae_minutes * 60)))
            for g in opt_vae.param_groups:
                g["lr"] = lr
            idx = torch.randint(0, len(images), (a.vae_batch,))
            x = random_crop(to_pixels(images[idx], dev), a.vae_crop)
            loss, l_rec, kl = vae_loss(vae, x, kl_weight)
            opt_vae.zero_grad(set_to_none=True)
            loss.backward()
            opt_vae.step()
            state["vae_step"] += 1
            if state["vae_step"] % 25 == 0:
                dt = (time.time() - t_mark) / 25
                t_mark = time.time()
                log("vae step %d loss %.4f rec %.4f kl %.3f lr %.2e step %.3fs %.1f samples/s" %
                    (state["vae_step"], loss.item(), l_rec.item(), kl.item(), lr, dt, a.vae_batch / dt))
            state["vae_seconds"] = time.time() - t0
            if time.time() - last_ckpt > a.ckpt_minutes * 60:
                checkpoint()
                last_ckpt = time.time()
        vae.eval()
        means, stds = encode_all(vae, images, dev)
        # scaling_factor: 1 / std of the latents, as SD's 0.18215 was chosen, so noise and data match
        vcfg["scaling_factor"] = float(1.0 / means.std())
        latents = (means, stds)
        with torch.no_grad():
            rec = vae.decode(means[:256].to(dev))
            mse = F.mse_loss(rec, to_pixels(images[:256], dev)).item()
        log("vae done: %d steps, latent std %.4f -> scaling_factor %.5f, recon mse %.5f (psnr %.2f dB)" %
            (state["vae_step"], float(means.std()), vcfg["scaling_factor"], mse, 10 * math.log10(4 / mse)))
        state["phase"] = "unet"
        if not a.bench:
            checkpoint()
    if latents is None:  # warm start: the VAE is fixed, encode once
        latents = encode_all(vae, images, dev)
    vae.eval()
    for p in vae.parameters():
        p.requires_grad_(False)

    # ---- phase 2: text encoder + UNet
    caps = Captions(recs, data["templates"])
    ac = sampler.alphas_cumprod(sched_config()).to(dev)
    snr = ac / (1 - ac)
    weight = torch.clamp(snr, max=5.0) / snr  # min-SNR-5 for epsilon prediction
    means, stds = latents[0].to(dev), latents[1].to(dev)
    sf = vcfg["scaling_factor"]
    text.train(), unet.train()
    last_export = time.time() if state["step"] else 0.0
    t_mark, loss_avg, n_avg = time.time(), 0.0, 0
    ema_decay = 0.998
    t_phase2 = time.time()
    while True:
        done = time.time() > deadline or (a.max_steps and state["step"] >= a.max_steps) or \
            (a.bench and state["step"] >= a.bench)
        if done:
            break
        step = state["step"]
        # linear warm-up, then linear decay to 10% at the deadline (the run is time-boxed, not step-boxed)
        frac = min(1.0, max(0.0, (time.time() - t_phase2) / max(1.0, deadline - t_phase2)))
        lr = a.lr * min(1.0, (step + 1) / a.warmup) * (1.0 - 0.9 * frac)
        for g in opt.param_groups:
            g["lr"] = lr
        idx = torch.randint(0, len(means), (a.batch,))
        ids = torch.tensor([tok.encode(caps(int(i), rng)) for i in idx], device=dev)
        z = (means[idx] + stds[idx] * torch.randn_like(means[idx])) * sf
        noise = torch.randn_like(z)
        t = torch.randint(0, 1000, (a.batch,), device=dev)
        a_t = ac[t].view(-1, 1, 1, 1)
        x_t = a_t.sqrt() * z + (1 - a_t).sqrt() * noise
        pred = unet(x_t, t.float(), text(ids))
        loss = ((pred - noise) ** 2).mean(dim=(1, 2, 3))
        loss = (loss * weight[t]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        d = min(ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, m in [(ema_text, text), (ema_unet, unet)]:
                for pe, pm in zip(e.parameters(), m.parameters()):
                    pe.mul_(d).add_(pm.detach(), alpha=1 - d)
        state["step"] += 1
        loss_avg += loss.item()
        n_avg += 1
        if state["step"] % 20 == 0:
            dt = (time.time() - t_mark) / n_avg
            log("step %d loss %.4f lr %.2e step %.3fs %.1f samples/s" %
                (state["step"], loss_avg / n_avg, lr, dt, a.batch / dt))
            t_mark, loss_avg, n_avg = time.time(), 0.0, 0
        if not a.bench and time.time() - last_ckpt > a.ckpt_minutes * 60:
            checkpoint()
            last_ckpt = time.time()
        if not a.bench and time.time() - last_export > a.export_minutes * 60:
            export(a.export, tok_dir, ema_text, ema_unet, vae, vcfg, tcfg, state["step"], "periodic (EMA weights)")
            last_export = time.time()
            log("exported", a.export, "at step", state["step"])
    if not a.bench:
        checkpoint()
        export(a.export, tok_dir, ema_text, ema_unet, vae, vcfg, tcfg, state["step"], "end of run (EMA weights)")
        log("final export at step", state["step"], "after %.1f min" % ((time.time() - t_start) / 60))


if __name__ == "__main__":
    main()
