/* single.c — reading one original SD 1.x / 2.x checkpoint file into ig_sd_model: the architecture
 * from tensor shapes (the rules and what they assume are in single.h), then the same loaders as a
 * diffusers folder, each component's ig_weights translating keys through the family's description
 * (family_sd.c). */
#include "single.h"

#include "family.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRY(x)                                                                                     \
    do {                                                                                           \
        if ((x) != IG_OK) goto fail;                                                               \
    } while (0)

/* Where each component lives in the file. */
#define P_UNET "model.diffusion_model."
#define P_VAE "first_stage_model."
#define P_CLIP "cond_stage_model.transformer."   /* SD 1.x: HF CLIPTextModel names */
#define P_OPENCLIP "cond_stage_model.model."     /* SD 2.x: OpenCLIP names */

#define MAX_SCAN 64 /* no SD file has more input blocks or text layers than this */

/* The stored shape of the float tensor named by the printf-style key; false when absent (or of a
 * dtype imagine does not compute in). */
__attribute__((format(printf, 4, 5))) static bool shape_of(const ig_st_file *f, int *n_dims, int64_t *ne,
                                                           const char *fmt, ...) {
    char key[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(key, sizeof key, fmt, ap);
    va_end(ap);
    ig_st_view t;
    if (!ig_st_dtype(f, key) || ig_st_get(f, key, &t, &(ig_err){0}) != IG_OK) return false;
    *n_dims = t.n_dims;
    for (int i = 0; i < IG_MAX_DIMS; i++) ne[i] = i < t.n_dims ? t.ne[i] : 1;
    return true;
}

__attribute__((format(printf, 2, 3))) static bool has(const ig_st_file *f, const char *fmt, ...) {
    char key[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(key, sizeof key, fmt, ap);
    va_end(ap);
    return ig_st_dtype(f, key) != NULL;
}

/* The shape of a tensor the inference cannot do without, which must have n_dims dims. */
__attribute__((format(printf, 5, 6))) static ig_status need(const ig_st_file *f, ig_err *err, int n_dims,
                                                            int64_t *ne, const char *fmt, ...) {
    char key[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(key, sizeof key, fmt, ap);
    va_end(ap);
    int nd = 0;
    if (!shape_of(f, &nd, ne, "%s", key))
        return ig__fail(err, IG_ERR_INVALID, "%s: no float tensor '%s': not a Stable Diffusion 1.x/2.x single-file checkpoint",
                        ig_st_path(f), key);
    if (nd != n_dims)
        return ig__fail(err, IG_ERR_INVALID, "%s: tensor '%s' has %d dims, %d expected", ig_st_path(f), key, nd, n_dims);
    return IG_OK;
}

/* Text encoder: OpenCLIP (SD 2.x) or HF CLIP (SD 1.x, *flat: without "text_model."); sets *openclip. */
/* p_hf / p_oc: where HF CLIP / OpenCLIP names would start (NULL: not looked for); xl: SDXL's encoders,
 * every layer kept (the pipeline takes the penultimate state itself) and OpenCLIP's text_projection read. */
static ig_status infer_text_at(const ig_st_file *f, const char *p_hf, const char *p_oc, bool xl, int heads,
                               ig_clip_config *c, bool *openclip, bool *flat, ig_err *err) {
    const char *path = ig_st_path(f);
    int64_t te[IG_MAX_DIMS], pe[IG_MAX_DIMS], fc[IG_MAX_DIMS], tp[IG_MAX_DIMS];
    int n = 0;
    *c = (ig_clip_config){.eps = 1e-5f};
    *openclip = p_oc && has(f, "%stoken_embedding.weight", p_oc);
    if (*openclip) {
        if (need(f, err, 2, te, "%stoken_embedding.weight", p_oc) || need(f, err, 2, pe, "%spositional_embedding", p_oc) ||
            need(f, err, 2, fc, "%stransformer.resblocks.0.mlp.c_fc.weight", p_oc))
            return err->status;
        while (n < MAX_SCAN && has(f, "%stransformer.resblocks.%d.ln_1.weight", p_oc, n)) n++;
        /* SD 2.x conditions on the penultimate layer: every resblock but the last, then ln_final */
        if (n < 2)
            return ig__fail(err, IG_ERR_INVALID, "%s: the OpenCLIP text encoder has %d resblocks; SD 2.x and SDXL take "
                            "the penultimate one's output, so it needs at least 2", path, n);
        c->layers = xl ? n : n - 1;
        c->act = IG_ACT_GELU_ERF;
        if (xl) { /* stored (hidden, projection): x @ text_projection */
            if (need(f, err, 2, tp, "%stext_projection", p_oc)) return err->status;
            c->projection_dim = (int)tp[1];
            if (tp[0] != te[1])
                return ig__fail(err, IG_ERR_INVALID, "%s: text_projection is %lldx%lld, the encoder %lld wide", path,
                                (long long)tp[0], (long long)tp[1], (long long)te[1]);
        }
    } else {
        const bool nested = p_hf && has(f, "%stext_model.embeddings.token_embedding.weight", p_hf);
        char base[128];
        snprintf(base, sizeof base, "%s%s", p_hf ? p_hf : "", nested ? "text_model." : "");
        if (!nested && !(p_hf && has(f, "%sembeddings.token_embedding.weight", p_hf)))
            return ig__fail(err, IG_ERR_INVALID, "%s: no text encoder (neither %stext_model.* nor %s*)", path,
                            p_hf ? p_hf : "-", p_oc ? p_oc : "-");
        if (need(f, err, 2, te, "%sembeddings.token_embedding.weight", base) ||
            need(f, err, 2, pe, "%sembeddings.position_embedding.weight", base) ||
            need(f, err, 2, fc, "%sencoder.layers.0.mlp.fc1.weight", base))
            return err->status;
        while (n < MAX_SCAN && has(f, "%sencoder.layers.%d.layer_norm1.weight", base, n)) n++;
        c->layers = n;
        c->act = IG_ACT_QUICK_GELU;
        *flat = !nested;
    }
    c->vocab_size = (int)te[0], c->hidden = (int)te[1], c->max_positions = (int)pe[0], c->intermediate = (int)fc[0];
    c->heads = heads > 0 ? heads : c->hidden / 64;
    if (pe[1] != te[1] || c->heads < 1 || c->hidden % c->heads)
        return ig__fail(err, IG_ERR_INVALID, "%s: text encoder of width %d (positions %lld wide) cannot have %d heads",
                        path, c->hidden, (long long)pe[1], c->heads);
    return IG_OK;
}

static ig_status infer_text(const ig_st_file *f, const ig_sd_open_opts *o, ig_clip_config *c, bool *openclip,
                            bool *flat, ig_err *err) {
    return infer_text_at(f, P_CLIP, P_OPENCLIP, false, o->text_heads, c, openclip, flat, err);
}

/* BasicTransformerBlocks in the transformer at `blk` ("input_blocks.4.1."), 1 when there is none. */
static int depth_at(const ig_st_file *f, const char *blk) {
    int d = 0;
    while (d < MAX_SCAN && has(f, P_UNET "%stransformer_blocks.%d.norm1.weight", blk, d)) d++;
    return d > 0 ? d : 1;
}

/* xl: SDXL's UNet (label_emb = the text_time add_embedding, transformer depth per level); text2_proj is
 * the pooled width its add_embedding takes beside the 6 time ids. */
static ig_status infer_unet(const ig_st_file *f, const ig_sd_open_opts *o, bool sd2, bool xl, int text2_proj,
                            ig_unet_config *u, ig_err *err) {
    const char *path = ig_st_path(f);
    int64_t ne[IG_MAX_DIMS];
    int nd = 0;
    *u = (ig_unet_config){.norm_eps = 1e-5f, .flip_sin_to_cos = true, .freq_shift = 0};
    if (need(f, err, 4, ne, P_UNET "input_blocks.0.0.weight")) return err->status;
    u->block_out[0] = (int)ne[0], u->in_channels = (int)ne[1];
    if (need(f, err, 4, ne, P_UNET "out.2.weight")) return err->status;
    u->out_channels = (int)ne[0];
    if (xl) {
        if (need(f, err, 2, ne, P_UNET "label_emb.0.0.weight")) return err->status;
        u->add_in_dim = (int)ne[1];
        if (u->add_in_dim <= text2_proj || (u->add_in_dim - text2_proj) % IG_UNET_TIME_IDS)
            return ig__fail(err, IG_ERR_INVALID, "%s: label_emb.0.0 takes %d inputs: not the %d pooled text values and "
                            "%d equal time embeddings", path, u->add_in_dim, text2_proj, IG_UNET_TIME_IDS);
        u->add_time_dim = (u->add_in_dim - text2_proj) / IG_UNET_TIME_IDS;
    } else if (has(f, P_UNET "label_emb.0.0.weight") || has(f, P_UNET "label_emb.weight"))
        return ig__fail(err, IG_ERR_UNSUPPORTED, "%s: the UNet has a class embedding (label_emb: unCLIP or the "
                        "upscaler), which is not supported", path);
    if (!xl && has(f, P_UNET "middle_block.1.transformer_blocks.1.norm1.weight"))
        return ig__fail(err, IG_ERR_UNSUPPORTED, "%s: transformers of depth > 1 without SDXL's text encoders are not "
                        "supported", path);

    /* input_blocks: 0 is conv_in, then per level L resnets (+ transformers) and, but for the last
     * level, a downsampler (…0.op); so the first op sits at L + 1 and there are nb * (L + 1). */
    int n_in = 1, n_out = 0, L = -1;
    while (n_in < MAX_SCAN && (has(f, P_UNET "input_blocks.%d.0.in_layers.0.weight", n_in) ||
                               has(f, P_UNET "input_blocks.%d.0.op.weight", n_in))) {
        if (L < 0 && has(f, P_UNET "input_blocks.%d.0.op.weight", n_in)) L = n_in - 1;
        n_in++;
    }
    while (n_out < MAX_SCAN && has(f, P_UNET "output_blocks.%d.0.in_layers.0.weight", n_out)) n_out++;
    if (L < 0) L = n_in - 1; /* one level, no downsampler */
    const int nb = L > 0 ? n_in / (L + 1) : 0;
    if (L < 1 || L + 1 > IG_UNET_MAX_LAYERS || nb < 1 || nb > IG_UNET_MAX_BLOCKS || n_in != nb * (L + 1) ||
        n_out != nb * (L + 1))
        return ig__fail(err, IG_ERR_UNSUPPORTED, "%s: %d input and %d output blocks (first downsampler at %d) is not "
                        "a UNet layout imagine supports (1-%d levels of 1-%d resnets)", path, n_in, n_out, L + 1,
                        IG_UNET_MAX_BLOCKS, IG_UNET_MAX_LAYERS - 1);
    u->n_blocks = nb, u->layers_per_block = L;
    for (int i = 0; i < nb; i++) {
        const int first = 1 + i * (L + 1);
        if (need(f, err, 4, ne, P_UNET "input_blocks.%d.0.out_layers.3.weight", first)) return err->status;
        u->block_out[i] = (int)ne[0];
        u->down_attn[i] = has(f, P_UNET "input_blocks.%d.1.proj_in.weight", first);
        u->up_attn[i] = has(f, P_UNET "output_blocks.%d.1.proj_in.weight", i * (L + 1));
        char blk[64];
        snprintf(blk, sizeof blk, "input_blocks.%d.1.", first);
        u->tdepth[i] = depth_at(f, blk);
        if (i < nb - 1 && !has(f, P_UNET "input_blocks.%d.0.op.weight", first + L))
            return ig__fail(err, IG_ERR_INVALID, "%s: no downsampler '" P_UNET "input_blocks.%d.0.op.weight'", path,
                            first + L);
    }
    /* proj_in: a linear (2-D weight) in SD 2.x, a 1x1 conv (4-D) in SD 1.x */
    if (!shape_of(f, &nd, ne, P_UNET "middle_block.1.proj_in.weight") || (nd != 2 && nd != 4))
        return ig__fail(err, IG_ERR_INVALID, "%s: no 2-D or 4-D '" P_UNET "middle_block.1.proj_in.weight'", path);
    u->use_linear_projection = nd == 2;
    if (depth_at(f, "middle_block.1.") != u->tdepth[nb - 1] && u->down_attn[nb - 1])
        return ig__fail(err, IG_ERR_UNSUPPORTED, "%s: the middle block's transformer depth differs from the last level's",
                        path);
    if (!u->down_attn[nb - 1]) u->tdepth[nb - 1] = depth_at(f, "middle_block.1.");
    if (need(f, err, 2, ne, P_UNET "middle_block.1.transformer_blocks.0.attn2.to_k.weight")) return err->status;
    u->cross_attention_dim = (int)ne[1];
    u->norm_groups = o->unet_norm_groups > 0 ? o->unet_norm_groups : 32;
    for (int i = 0; i < nb; i++) {
        /* SD 1.x: num_heads 8; SD 2.x: num_head_channels 64 */
        u->heads[i] = o->unet_block_heads[i] > 0 ? o->unet_block_heads[i]
                      : o->unet_heads > 0        ? o->unet_heads
                      : sd2 || xl                ? u->block_out[i] / 64 /* SDXL: num_head_channels 64 too */
                                                 : 8;
        if (u->heads[i] < 1 || u->block_out[i] % u->heads[i] || u->block_out[i] % u->norm_groups)
            return ig__fail(err, IG_ERR_INVALID, "%s: UNet level %d has %d channels, which do not split into %d heads "
                            "(%s) and %d groups (set the options for a model that differs from SD)", path, i,
                            u->block_out[i], u->heads[i],
                            o->unet_heads > 0 ? "as asked" : sd2 ? "SD 2.x: one per 64 channels" : "SD 1.x: 8",
                            u->norm_groups);
    }
    return IG_OK;
}

static ig_status infer_vae(const ig_st_file *f, const ig_sd_open_opts *o, ig_vae_config *v, ig_err *err) {
    const char *path = ig_st_path(f);
    int64_t ne[IG_MAX_DIMS];
    *v = (ig_vae_config){.scaling_factor = o->vae_scaling_factor > 0 ? o->vae_scaling_factor : 0.18215f};
    if (need(f, err, 4, ne, P_VAE "decoder.conv_in.weight")) return err->status;
    v->latent_channels = (int)ne[1];
    if (need(f, err, 4, ne, P_VAE "decoder.conv_out.weight")) return err->status;
    v->out_channels = (int)ne[0];
    int nb = 0, n_res = 0;
    while (nb < MAX_SCAN && has(f, P_VAE "decoder.up.%d.block.0.conv1.weight", nb)) nb++;
    while (n_res < MAX_SCAN && has(f, P_VAE "decoder.up.0.block.%d.conv1.weight", n_res)) n_res++;
    if (nb < 1 || nb > IG_VAE_MAX_BLOCKS || n_res < 2 || n_res > IG_VAE_MAX_LAYERS)
        return ig__fail(err, IG_ERR_UNSUPPORTED, "%s: a VAE decoder of %d levels of %d resnets is not supported", path,
                        nb, n_res);
    v->n_blocks = nb, v->layers_per_block = n_res - 1;
    v->norm_groups = o->vae_norm_groups > 0 ? o->vae_norm_groups : 32;
    for (int k = 0; k < nb; k++) {
        /* decoder.up.k works at diffusers' block_out_channels[k] */
        if (need(f, err, 4, ne, P_VAE "decoder.up.%d.block.0.conv2.weight", k)) return err->status;
        v->block_out[k] = (int)ne[0];
        if (v->block_out[k] % v->norm_groups)
            return ig__fail(err, IG_ERR_INVALID, "%s: VAE level %d has %d channels, not divisible by %d groups", path, k,
                            v->block_out[k], v->norm_groups);
    }
    v->mid_attention = has(f, P_VAE "decoder.mid.attn_1.q.weight");
    v->post_quant_conv = has(f, P_VAE "post_quant_conv.weight");
    /* the encoder's, read only by ig_sd_load_encoder: a file without it still opens (decoder only) */
    int nd = 0;
    v->in_channels = shape_of(f, &nd, ne, P_VAE "encoder.conv_in.weight") && nd == 4 ? (int)ne[1] : v->out_channels;
    v->quant_conv = has(f, P_VAE "quant_conv.weight");
    return IG_OK;
}

/* Whether some key of f begins with prefix (names are sorted: the first one not below prefix). */
static bool has_prefix(const ig_st_file *f, const char *prefix) {
    int lo = 0, hi = ig_st_count(f);
    while (lo < hi) {
        const int mid = lo + (hi - lo) / 2;
        if (strcmp(ig_st_name(f, mid), prefix) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo < ig_st_count(f) && !strncmp(ig_st_name(f, lo), prefix, strlen(prefix));
}

/* SDXL's two text encoders: CLIP-L with HF names under conditioner.embedders.0.transformer., OpenCLIP
 * bigG under conditioner.embedders.1.model.; the second is mapped once more as text_encoder_2. */
static ig_status open_xl(ig_sd_model *m, const char *file, const ig_sd_open_opts *o, ig_fam_arch *arch, ig_err *err) {
    const ig_st_file *f = m->w_unet.files[0];
    bool oc = false, flat = false;
    if (infer_text_at(f, "conditioner.embedders.0.transformer.", NULL, true, o->text_heads, &arch->text, &oc, &flat,
                      err) ||
        infer_text_at(f, NULL, "conditioner.embedders.1.model.", true, o->text2_heads, &arch->text2, &oc, &flat, err)) {
        char msg[sizeof err->msg + 64]; /* the first failure stands (sticky); say what kind of file it was */
        snprintf(msg, sizeof msg, "an SDXL checkpoint (both text encoders needed): %s", err->msg);
        snprintf(err->msg, sizeof err->msg, "%.*s", (int)sizeof err->msg - 1, msg);
        return err->status;
    }
    if (flat) return ig__fail(err, IG_ERR_UNSUPPORTED, "%s: SDXL's first text encoder without text_model.*", file);
    if (!oc || arch->text2.projection_dim < 1)
        return ig__fail(err, IG_ERR_INVALID, "%s: SDXL's second text encoder is not OpenCLIP with a text_projection", file);
    m->w_text2.label = "text_encoder_2";
    m->w_text2.private_copy = o->copy_weights;
    return ig_weights_add_file(&m->w_text2, file, err);
}

ig_status ig_sd_open_single(ig_sd_model **out, const char *file, const ig_sd_open_opts *opts, ig_err *err) {
    static const ig_sd_open_opts defaults = IG_SD_OPEN_OPTS_INIT;
    const ig_sd_open_opts *o = opts ? opts : &defaults;
    char vocab[1024];
    ig_fam_arch arch = {0};
    bool openclip = false;
    ig_sd_model *m = calloc(1, sizeof *m);
    *out = NULL;
    if (!m) return ig__fail(err, IG_ERR_NOMEM, "out of memory loading %s", file);
    snprintf(m->dir, sizeof m->dir, "%s", file);
    m->w_text.label = "text_encoder", m->w_unet.label = "unet", m->w_vae.label = "vae";
    m->w_text.private_copy = m->w_unet.private_copy = m->w_vae.private_copy = o->copy_weights;
    /* the file is mapped once per component: three views of the same page cache, no extra memory */
    TRY(ig_weights_add_file(&m->w_text, file, err));
    TRY(ig_weights_add_file(&m->w_unet, file, err));
    TRY(ig_weights_add_file(&m->w_vae, file, err));
    const ig_st_file *f = m->w_unet.files[0];
    const bool xl = has_prefix(f, "conditioner.embedders.");
    if (xl) TRY(open_xl(m, file, o, &arch, err));
    else TRY(infer_text(f, o, &arch.text, &openclip, &arch.ldm_flat_text, err));
    TRY(infer_unet(f, o, openclip, xl, arch.text2.projection_dim, &arch.unet, err));
    TRY(infer_vae(f, o, &arch.vae, err));
    if (xl && !(o->vae_scaling_factor > 0)) arch.vae.scaling_factor = 0.13025f; /* SDXL's VAE */
    arch.family = xl ? IG_FAMILY_SDXL : ig_fam_of_text(&arch.text);
    if (!xl && arch.unet.cross_attention_dim != arch.text.hidden) {
        ig__fail(err, IG_ERR_INVALID, "%s: the UNet's cross-attention width %d differs from the text encoder's %d", file,
                 arch.unet.cross_attention_dim, arch.text.hidden);
        goto fail;
    }
    if (o->vocab_dir) snprintf(vocab, sizeof vocab, "%s", o->vocab_dir);
    else ig__asset_path("clip", vocab, sizeof vocab);
    TRY(ig_bpe_load_dir(&m->bpe, vocab, err));
    if (o->pad_id >= 0 || openclip) TRY(ig_bpe_set_pad_id(m->bpe, o->pad_id >= 0 ? o->pad_id : 0, err));
    if (xl) { /* tokenizer_2 as SDXL repos configure it: pad "!" (0), and "!" an added special token */
        TRY(ig_bpe_load_dir(&m->bpe2, vocab, err));
        TRY(ig_bpe_set_pad_id(m->bpe2, 0, err));
        TRY(ig_bpe_set_split_char(m->bpe2, '!', err));
        m->force_zeros_for_empty_prompt = true; /* as stable-diffusion-xl-base-1.0 and sdxl-turbo ship */
    }

    /* the scheduler_config.json SD 1.x and 2.x folders ship (PNDM / DDIM; the samplers read the same fields) */
    m->sched = (ig_sched_config)IG_SCHED_CONFIG_INIT;
    m->sched.num_train_timesteps = 1000;
    m->sched.beta_start = 0.00085, m->sched.beta_end = 0.012;
    m->sched.beta_schedule = IG_BETA_SCALED_LINEAR;
    m->sched.steps_offset = 1;
    m->sched.set_alpha_to_one = 0, m->sched.clip_sample = 0;
    m->sched.prediction_type = o->prediction_type ? o->prediction_type : IG_PREDICTION_EPSILON;
    snprintf(m->sched_class, sizeof m->sched_class, "%s", openclip ? "DDIMScheduler" : "PNDMScheduler");
    if (xl) { /* SDXL base's scheduler_config.json: EulerDiscreteScheduler, leading spacing */
        m->sched.timestep_spacing = IG_SPACING_LEADING;
        snprintf(m->sched_class, sizeof m->sched_class, "EulerDiscreteScheduler");
    }

    /* no sample_size in the file: SDXL is 1024, SD 2.x v-prediction the 768 model (v2-x_768), the rest 512 */
    arch.unet.sample_size =
        (xl ? 1024 : arch.family == IG_FAMILY_SD2 && m->sched.prediction_type == IG_PREDICTION_V ? 768 : 512) /
        (1 << (arch.vae.n_blocks - 1));
    TRY(ig__sd_load_parts(m, &arch, true, err));
    *out = m;
    return IG_OK;
fail:
    ig_sd_close(NULL, m);
    return err->status ? err->status : IG_ERR_INVALID;
}
