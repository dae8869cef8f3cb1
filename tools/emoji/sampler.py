"""sampler.py — diffusers' EulerDiscreteScheduler (0.30) and the txt2img loop, in torch.

Owns: the noise schedule (betas, alphas_cumprod, sigmas) that training and sampling share, and the
Euler sampler with classifier-free guidance exactly as StableDiffusionPipeline runs it, so a torch
sample and `imagine generate` with the same seed can be compared number for number.
Leaves to sdnets.py the networks, to train.py the loss.
"""
import numpy as np
import torch


def alphas_cumprod(cfg):
    """scaled_linear / linear betas in float32 and their cumulative product (DDPM-style schedulers)."""
    n, b0, b1 = cfg["num_train_timesteps"], cfg["beta_start"], cfg["beta_end"]
    if cfg["beta_schedule"] == "scaled_linear":
        betas = torch.linspace(b0 ** 0.5, b1 ** 0.5, n, dtype=torch.float32) ** 2
    elif cfg["beta_schedule"] == "linear":
        betas = torch.linspace(b0, b1, n, dtype=torch.float32)
    else:
        raise ValueError("beta_schedule %s" % cfg["beta_schedule"])
    return torch.cumprod(1.0 - betas, dim=0)


def euler_schedule(cfg, n_steps):
    """(timesteps float32, sigmas float32 with a trailing 0, init_noise_sigma) as set_timesteps makes them."""
    n = cfg["num_train_timesteps"]
    spacing = cfg.get("timestep_spacing", "linspace")
    if spacing == "linspace":
        ts = np.linspace(0, n - 1, n_steps, dtype=np.float32)[::-1].copy()
    elif spacing == "leading":
        ratio = n // n_steps
        ts = (np.arange(0, n_steps) * ratio).round()[::-1].copy().astype(np.float32) + cfg.get("steps_offset", 0)
    elif spacing == "trailing":
        ts = (np.arange(n, 0, -n / n_steps)).round().copy().astype(np.float32) - 1
    else:
        raise ValueError(spacing)
    ac = alphas_cumprod(cfg)
    sig = np.array(((1 - ac) / ac) ** 0.5)
    sig = np.interp(ts, np.arange(0, len(sig)), sig)
    sig = np.concatenate([sig, [0.0]]).astype(np.float32)
    init = float(sig.max()) if spacing in ("linspace", "trailing") else float((sig.max() ** 2 + 1) ** 0.5)
    return torch.from_numpy(ts), torch.from_numpy(sig), init


def euler_step(cfg, eps, sample, sigma, sigma_next):
    """EulerDiscreteScheduler.step with s_churn 0: x0 from the prediction, then one Euler step in sigma."""
    if cfg.get("prediction_type", "epsilon") == "epsilon":
        x0 = sample - sigma * eps
    else:  # v_prediction
        x0 = eps * (-sigma / (sigma ** 2 + 1) ** 0.5) + sample / (sigma ** 2 + 1)
    d = (sample - x0) / sigma
    return sample + d * (sigma_next - sigma)


@torch.no_grad()
def txt2img_latents(unet, sched_cfg, cond, uncond, n_steps, guidance, seed, shape, init=None, on_step=None):
    """StableDiffusionPipeline with EulerDiscreteScheduler: final latents (not divided by the scaling factor).

    cond/uncond: text states (1, T, D); uncond only used when guidance > 1 (CFG batch = [uncond, cond]).
    The initial noise is torch.randn(shape, Generator('cpu').manual_seed(seed)), as the engine draws it."""
    ts, sig, init_sigma = euler_schedule(sched_cfg, n_steps)
    if init is None:
        init = torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed))
    x = init * init_sigma
    cfg_on = guidance > 1.0
    ctx = torch.cat([uncond, cond]) if cfg_on else cond
    for i, t in enumerate(ts):
        s = sig[i]
        inp = torch.cat([x, x]) if cfg_on else x
        inp = inp / ((s ** 2 + 1) ** 0.5)
        eps = unet(inp, t, ctx)
        if cfg_on:
            u, c = eps.chunk(2)
            eps = u + guidance * (c - u)
        x = euler_step(sched_cfg, eps, x, s, sig[i + 1])
        if on_step:
            on_step(i, x)
    return x
