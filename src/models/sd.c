/* sd.c — reading a diffusers folder into ig_sd_model: configs into the model structs (with the
 * defaults diffusers' classes apply), each part's weights checked against the family's
 * description, then read by checkpoint key (that last step, ig__sd_load_parts, single.c shares).
 * See sd.h. */
#include "sd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "family.h"
#include "single.h"
#include "io/config.h"

#define TRY(x)                                                                                     \
    do {                                                                                           \
        if ((x) != IG_OK) goto fail;                                                               \
    } while (0)

static bool file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static ig_status refuse(ig_err *err, const ig_config *c, const char *key, const char *why) {
    return ig__fail(err, IG_ERR_UNSUPPORTED, "%s: \"%s\" %s", ig_config_path(c), key, why);
}

/* A key that must be null/absent (or equal a given string) for imagine to serve the model. */
static ig_status must_be_null(const ig_config *c, const char *key, ig_err *err) {
    if (!ig_config_has(c, key)) return IG_OK;
    const char *s = NULL;
    int iv = 0;
    ig_err tmp = {0};
    if (ig_config_string(c, key, NULL, &s, &tmp) == IG_OK && s == NULL) return IG_OK;
    tmp = (ig_err){0};
    if (ig_config_int(c, key, 0, &iv, &tmp) == IG_OK && iv == 0) return IG_OK; /* e.g. num_class_embeds null/0 */
    return refuse(err, c, key, "is set: that variant of the UNet is not supported");
}

static ig_status must_equal(const ig_config *c, const char *key, const char *want, ig_err *err) {
    const char *s = NULL;
    if (ig_config_string(c, key, want, &s, err) != IG_OK) return err->status;
    if (s && strcmp(s, want)) {
        char why[160];
        snprintf(why, sizeof why, "is \"%s\": only \"%s\" is supported", s, want);
        return refuse(err, c, key, why);
    }
    return IG_OK;
}

ig_status ig_sd_unet_config(const char *path, ig_unet_config *u, ig_err *err) {
    ig_config *c = NULL;
    *u = (ig_unet_config){0};
    TRY(ig_config_load(&c, path, err));
    const char *types[IG_UNET_MAX_BLOCKS + 1];
    int n = 0, n_down = 0, n_up = 0, tl[IG_UNET_MAX_BLOCKS];
    bool b;
    double eps, shift;
    TRY(ig_config_int(c, "in_channels", 4, &u->in_channels, err));
    TRY(ig_config_int(c, "out_channels", 4, &u->out_channels, err));
    TRY(ig_config_int_list(c, "block_out_channels", u->block_out, IG_UNET_MAX_BLOCKS, &n, err));
    if (n < 1) {
        ig__fail(err, IG_ERR_INVALID, "%s: \"block_out_channels\" must list 1 to %d sizes", path, IG_UNET_MAX_BLOCKS);
        goto fail;
    }
    u->n_blocks = n;
    TRY(ig_config_string_list(c, "down_block_types", types, IG_UNET_MAX_BLOCKS, &n_down, err));
    for (int i = 0; i < n_down; i++) {
        if (types[i] && !strcmp(types[i], "CrossAttnDownBlock2D")) u->down_attn[i] = true;
        else if (!types[i] || strcmp(types[i], "DownBlock2D")) {
            refuse(err, c, "down_block_types", "names a block other than CrossAttnDownBlock2D / DownBlock2D");
            goto fail;
        }
    }
    TRY(ig_config_string_list(c, "up_block_types", types, IG_UNET_MAX_BLOCKS, &n_up, err));
    for (int i = 0; i < n_up; i++) {
        if (types[i] && !strcmp(types[i], "CrossAttnUpBlock2D")) u->up_attn[i] = true;
        else if (!types[i] || strcmp(types[i], "UpBlock2D")) {
            refuse(err, c, "up_block_types", "names a block other than CrossAttnUpBlock2D / UpBlock2D");
            goto fail;
        }
    }
    if (n_down != n || n_up != n) {
        ig__fail(err, IG_ERR_INVALID, "%s: %d block_out_channels but %d down and %d up block types", path, n, n_down,
                 n_up);
        goto fail;
    }
    TRY(ig_config_int(c, "layers_per_block", 2, &u->layers_per_block, err));
    /* diffusers: num_attention_heads = num_attention_heads or attention_head_dim (the old configs
     * name the head count attention_head_dim); an int applies to every block. */
    if (ig_config_has(c, "num_attention_heads") && must_be_null(c, "num_attention_heads", &(ig_err){0}) != IG_OK)
        TRY(ig_config_int_or_list(c, "num_attention_heads", 8, n, u->heads, err));
    else TRY(ig_config_int_or_list(c, "attention_head_dim", 8, n, u->heads, err));
    TRY(ig_config_int(c, "cross_attention_dim", 1280, &u->cross_attention_dim, err));
    TRY(ig_config_int(c, "norm_num_groups", 32, &u->norm_groups, err));
    TRY(ig_config_float(c, "norm_eps", 1e-5, &eps, err));
    u->norm_eps = (float)eps;
    TRY(ig_config_bool(c, "use_linear_projection", false, &u->use_linear_projection, err));
    TRY(ig_config_bool(c, "flip_sin_to_cos", true, &u->flip_sin_to_cos, err));
    TRY(ig_config_float(c, "freq_shift", 0, &shift, err));
    u->freq_shift = (float)shift;
    /* an int in SD configs; anything else (null, a list) says nothing imagine uses: 0 */
    if (ig_config_has(c, "sample_size") && ig_config_int(c, "sample_size", 0, &u->sample_size, &(ig_err){0}) != IG_OK)
        u->sample_size = 0;
    /* an int for every block or a list (SDXL: [1, 2, 10]); diffusers' mid block takes the last entry,
     * the up blocks the list reversed (unet.h ig_unet_depth) */
    TRY(ig_config_int_or_list(c, "transformer_layers_per_block", 1, n, tl, err));
    for (int i = 0; i < n; i++) {
        if (tl[i] < 1 || tl[i] > IG_TRANSFORMER_MAX_DEPTH) {
            refuse(err, c, "transformer_layers_per_block", "is outside 1..10");
            goto fail;
        }
        u->tdepth[i] = tl[i];
    }
    /* SDXL: addition_embed_type "text_time" (get_aug_embed); anything else is refused below */
    if (ig_config_has(c, "addition_embed_type") && must_be_null(c, "addition_embed_type", &(ig_err){0}) != IG_OK) {
        TRY(must_equal(c, "addition_embed_type", "text_time", err));
        TRY(ig_config_int(c, "addition_time_embed_dim", 256, &u->add_time_dim, err));
        TRY(ig_config_int(c, "projection_class_embeddings_input_dim", 2816, &u->add_in_dim, err));
        if (u->add_time_dim < 2 || u->add_in_dim <= IG_UNET_TIME_IDS * u->add_time_dim) {
            ig__fail(err, IG_ERR_INVALID, "%s: \"projection_class_embeddings_input_dim\" %d must exceed %d time ids "
                     "of \"addition_time_embed_dim\" %d", path, u->add_in_dim, IG_UNET_TIME_IDS, u->add_time_dim);
            goto fail;
        }
    }
    static const char *const nulls[] = {"class_embed_type", "time_cond_proj_dim", "reverse_transformer_layers_per_block",
                                        "encoder_hid_dim", "num_class_embeds", "time_embedding_dim"};
    for (size_t i = 0; i < sizeof nulls / sizeof *nulls; i++) TRY(must_be_null(c, nulls[i], err));
    TRY(must_equal(c, "mid_block_type", "UNetMidBlock2DCrossAttn", err));
    TRY(must_equal(c, "resnet_time_scale_shift", "default", err));
    TRY(must_equal(c, "time_embedding_type", "positional", err));
    TRY(must_equal(c, "act_fn", "silu", err));
    TRY(ig_config_bool(c, "center_input_sample", false, &b, err));
    if (b) TRY(refuse(err, c, "center_input_sample", "is true: not supported"));
    TRY(ig_config_bool(c, "dual_cross_attention", false, &b, err));
    if (b) TRY(refuse(err, c, "dual_cross_attention", "is true: not supported"));
    int k;
    TRY(ig_config_int(c, "conv_in_kernel", 3, &k, err));
    if (k != 3) TRY(refuse(err, c, "conv_in_kernel", "is not 3"));
    TRY(ig_config_int(c, "conv_out_kernel", 3, &k, err));
    if (k != 3) TRY(refuse(err, c, "conv_out_kernel", "is not 3"));
    if (u->norm_groups < 1) { /* before the % below: 0 would divide by zero */
        ig__fail(err, IG_ERR_INVALID, "%s: \"norm_num_groups\" is %d, not a positive count", path, u->norm_groups);
        goto fail;
    }
    for (int i = 0; i < n; i++)
        if (u->heads[i] < 1 || u->block_out[i] % u->heads[i] || u->block_out[i] % u->norm_groups) {
            ig__fail(err, IG_ERR_INVALID, "%s: block %d has %d channels, not divisible by %d heads and %d groups", path,
                     i, u->block_out[i], u->heads[i], u->norm_groups);
            goto fail;
        }
fail:
    ig_config_free(c);
    return err->status;
}

ig_status ig_sd_vae_config(const char *path, ig_vae_config *v, ig_err *err) {
    ig_config *c = NULL;
    *v = (ig_vae_config){0};
    double sf, sh;
    int n = 0;
    TRY(ig_config_load(&c, path, err));
    TRY(ig_config_int(c, "in_channels", 3, &v->in_channels, err));
    TRY(ig_config_int(c, "latent_channels", 4, &v->latent_channels, err));
    TRY(ig_config_int(c, "out_channels", 3, &v->out_channels, err));
    TRY(ig_config_int_list(c, "block_out_channels", v->block_out, IG_VAE_MAX_BLOCKS, &n, err));
    if (n < 1) {
        ig__fail(err, IG_ERR_INVALID, "%s: \"block_out_channels\" must list 1 to %d sizes", path, IG_VAE_MAX_BLOCKS);
        goto fail;
    }
    v->n_blocks = n;
    TRY(ig_config_int(c, "layers_per_block", 1, &v->layers_per_block, err));
    TRY(ig_config_int(c, "norm_num_groups", 32, &v->norm_groups, err));
    TRY(ig_config_bool(c, "mid_block_add_attention", true, &v->mid_attention, err));
    TRY(ig_config_bool(c, "use_quant_conv", true, &v->quant_conv, err));
    TRY(ig_config_bool(c, "use_post_quant_conv", true, &v->post_quant_conv, err));
    TRY(ig_config_float(c, "scaling_factor", 0.18215, &sf, err));
    TRY(ig_config_float(c, "shift_factor", 0, &sh, err));
    v->scaling_factor = (float)sf, v->shift_factor = (float)sh;
    TRY(must_equal(c, "act_fn", "silu", err));
    if (v->norm_groups < 1) { /* before the % below: 0 would divide by zero */
        ig__fail(err, IG_ERR_INVALID, "%s: \"norm_num_groups\" is %d, not a positive count", path, v->norm_groups);
        goto fail;
    }
    for (int i = 0; i < n; i++)
        if (v->block_out[i] % v->norm_groups) {
            ig__fail(err, IG_ERR_INVALID, "%s: %d channels not divisible by %d groups", path, v->block_out[i],
                     v->norm_groups);
            goto fail;
        }
fail:
    ig_config_free(c);
    return err->status;
}

ig_status ig_sd_clip_config(const char *path, ig_clip_config *t, ig_err *err) {
    ig_config *c = NULL;
    *t = (ig_clip_config){0};
    const char *act = NULL;
    double eps;
    TRY(ig_config_load(&c, path, err));
    TRY(ig_config_int(c, "vocab_size", 49408, &t->vocab_size, err));
    TRY(ig_config_int(c, "max_position_embeddings", 77, &t->max_positions, err));
    TRY(ig_config_int(c, "hidden_size", 512, &t->hidden, err));
    TRY(ig_config_int(c, "intermediate_size", 2048, &t->intermediate, err));
    TRY(ig_config_int(c, "num_attention_heads", 8, &t->heads, err));
    TRY(ig_config_int(c, "num_hidden_layers", 12, &t->layers, err));
    TRY(ig_config_float(c, "layer_norm_eps", 1e-5, &eps, err));
    t->eps = (float)eps;
    TRY(ig_config_string(c, "hidden_act", "quick_gelu", &act, err));
    if (!strcmp(act, "quick_gelu")) t->act = IG_ACT_QUICK_GELU;
    else if (!strcmp(act, "gelu")) t->act = IG_ACT_GELU_ERF;
    else TRY(refuse(err, c, "hidden_act", "is neither quick_gelu nor gelu"));
fail:
    ig_config_free(c);
    return err->status;
}

static int enum_of(const char *s, const char *const *names, int n) {
    for (int i = 0; s && i < n; i++)
        if (!strcmp(s, names[i])) return i + 1;
    return 0;
}

ig_status ig_sd_sched_config(const char *path, ig_sched_config *s, char *class_name, size_t class_len, ig_err *err) {
    ig_config *c = NULL;
    ig_sched_config d = IG_SCHED_CONFIG_INIT;
    *s = d;
    const char *str = NULL;
    bool b;
    TRY(ig_config_load(&c, path, err));
    TRY(ig_config_string(c, "_class_name", "", &str, err));
    snprintf(class_name, class_len, "%s", str);
    /* Only keys present in the file are set: the rest stay unset and take each class's default. */
#define INT(key, field)                                                                            \
    if (ig_config_has(c, key)) TRY(ig_config_int(c, key, 0, &s->field, err))
#define BOOL(key, field)                                                                           \
    if (ig_config_has(c, key)) {                                                                   \
        TRY(ig_config_bool(c, key, false, &b, err));                                               \
        s->field = b;                                                                              \
    }
#define REAL(key, field)                                                                           \
    if (ig_config_has(c, key)) TRY(ig_config_float(c, key, NAN, &s->field, err))
#define ENUM(key, field, type, ...)                                                                \
    if (ig_config_has(c, key)) {                                                                   \
        static const char *const names_[] = {__VA_ARGS__};                                         \
        TRY(ig_config_string(c, key, NULL, &str, err));                                            \
        if (str) {                                                                                 \
            int v_ = enum_of(str, names_, (int)(sizeof names_ / sizeof *names_));                  \
            if (!v_) TRY(refuse(err, c, key, "has a value no sampler here implements"));           \
            s->field = (type)v_;                                                                   \
        }                                                                                          \
    }
    INT("num_train_timesteps", num_train_timesteps);
    REAL("beta_start", beta_start);
    REAL("beta_end", beta_end);
    ENUM("beta_schedule", beta_schedule, ig_beta_schedule, "linear", "scaled_linear", "squaredcos_cap_v2");
    ENUM("prediction_type", prediction_type, ig_prediction, "epsilon", "v_prediction", "sample");
    ENUM("timestep_spacing", timestep_spacing, ig_spacing, "linspace", "leading", "trailing");
    INT("steps_offset", steps_offset);
    BOOL("use_karras_sigmas", use_karras_sigmas);
    REAL("sigma_min", sigma_min);
    REAL("sigma_max", sigma_max);
    ENUM("final_sigmas_type", final_sigmas_type, ig_final_sigmas, "zero", "sigma_min");
    INT("solver_order", solver_order);
    ENUM("solver_type", solver_type, ig_solver_type, "midpoint", "heun");
    BOOL("lower_order_final", lower_order_final);
    BOOL("euler_at_final", euler_at_final);
    BOOL("set_alpha_to_one", set_alpha_to_one);
    INT("original_inference_steps", original_inference_steps);
    REAL("timestep_scaling", timestep_scaling);
    BOOL("clip_sample", clip_sample);
    REAL("clip_sample_range", clip_sample_range);
    BOOL("rescale_betas_zero_snr", rescale_betas_zero_snr);
    BOOL("thresholding", thresholding);
    BOOL("use_lu_lambdas", use_lu_lambdas);
#undef INT
#undef BOOL
#undef REAL
#undef ENUM
    if (ig_config_has(c, "trained_betas")) {
        ig_err tmp = {0};
        const char *tb = NULL;
        /* null is the only value that is not a list of betas */
        s->trained_betas = !(ig_config_string(c, "trained_betas", NULL, &tb, &tmp) == IG_OK && tb == NULL);
    }
    if (ig_config_has(c, "interpolation_type")) {
        TRY(ig_config_string(c, "interpolation_type", "linear", &str, err));
        s->interpolation_log_linear = str && !strcmp(str, "log_linear");
    }
    if (ig_config_has(c, "timestep_type")) {
        TRY(ig_config_string(c, "timestep_type", "discrete", &str, err));
        s->timestep_type_continuous = str && !strcmp(str, "continuous");
    }
fail:
    ig_config_free(c);
    return err->status;
}

/* First existing file of the candidates under dir/sub (diffusers' default name, then variants). */
static ig_status find_weights(const char *dir, const char *sub, const char *const *names, char *out, size_t len,
                              ig_err *err) {
    for (int i = 0; names[i]; i++) {
        snprintf(out, len, "%s/%s/%s", dir, sub, names[i]);
        if (file_exists(out)) return IG_OK;
    }
    return ig__fail(err, IG_ERR_NOT_FOUND, "%s/%s: no %s (sharded or .bin checkpoints are not supported)", dir, sub,
                    names[0]);
}

ig_status ig__sd_load_parts(ig_sd_model *m, const ig_fam_arch *arch, bool single, ig_err *err) {
    ig_weights *w[IG_FAM_N_PARTS_MAX] = {[IG_FAM_TEXT] = &m->w_text, [IG_FAM_UNET] = &m->w_unet,
                                         [IG_FAM_VAE] = &m->w_vae, [IG_FAM_TEXT2] = &m->w_text2};
    ig_fam_list l = {0};
    const bool xl = arch->family == IG_FAMILY_SDXL;
    if (xl != (arch->unet.add_time_dim > 0)) {
        ig__fail(err, IG_ERR_UNSUPPORTED, xl ? "an SDXL model whose UNet has no text_time added embedding"
                                             : "a UNet with SDXL's text_time embedding but one text encoder (an SDXL "
                                               "model needs text_encoder_2)");
        goto fail;
    }
    for (int p = 0; p < ig_fam_n_parts(arch->family); p++) {
        TRY(ig_fam_tensors(arch, (ig_fam_part)p, &l, err));
        if (single) TRY(ig_fam_map_ldm(w[p], &l, err));
        TRY(ig_fam_check(&l, w[p], err));
    }
    if (xl) {
        const int D = arch->text.hidden + arch->text2.hidden, P = arch->text2.projection_dim;
        if (arch->unet.cross_attention_dim != D || ig_unet_text_embeds_dim(&arch->unet) != P ||
            arch->text.max_positions != arch->text2.max_positions) {
            ig__fail(err, IG_ERR_INVALID, "SDXL: the UNet's cross_attention_dim %d and text embeds %d do not match the "
                     "text encoders' hidden sizes %d + %d and projection %d (or their positions %d, %d differ)",
                     arch->unet.cross_attention_dim, ig_unet_text_embeds_dim(&arch->unet), arch->text.hidden,
                     arch->text2.hidden, P, arch->text.max_positions, arch->text2.max_positions);
            goto fail;
        }
        if (arch->text.layers < 2 || arch->text2.layers < 2) {
            ig__fail(err, IG_ERR_UNSUPPORTED, "SDXL: text encoders of one layer have no penultimate state");
            goto fail;
        }
        TRY(ig_clip_load(&m->clip2, &arch->text2, &m->w_text2, err));
    }
    TRY(ig_clip_load(&m->clip, &arch->text, &m->w_text, err));
    TRY(ig_unet_load(&m->unet, &arch->unet, &m->w_unet, err));
    TRY(ig_vae_load(&m->vae, &arch->vae, &m->w_vae, err));
    m->family = arch->family;
    const int factor = ig_sd_latent_factor(m);
    m->size_multiple = factor << (arch->unet.n_blocks - 1);
    int native = arch->unet.sample_size > 0 ? arch->unet.sample_size * factor : 512;
    if (native % m->size_multiple) native += m->size_multiple - native % m->size_multiple;
    m->native_width = m->native_height = native;
fail:
    ig_fam_list_free(&l);
    return err->status;
}

/* model_index.json: which pipeline. SDXL (StableDiffusionXLPipeline, ...Img2Img/Inpaint) has
 * text_encoder_2/ and force_zeros_for_empty_prompt; a folder with text_encoder_2/ and no text_encoder/
 * (the refiner, conditioned on bigG alone with an aesthetic score) is refused. */
static ig_status model_index(ig_sd_model *m, const char *dir, ig_fam_arch *arch, ig_err *err) {
    char p[1200];
    ig_config *c = NULL;
    snprintf(p, sizeof p, "%s/text_encoder_2/config.json", dir);
    if (!file_exists(p)) return IG_OK;
    snprintf(p, sizeof p, "%s/text_encoder/config.json", dir);
    if (!file_exists(p))
        return ig__fail(err, IG_ERR_UNSUPPORTED, "%s: text_encoder_2/ without text_encoder/ (an SDXL refiner?): not "
                        "supported", dir);
    arch->family = IG_FAMILY_SDXL;
    snprintf(p, sizeof p, "%s/model_index.json", dir);
    TRY(ig_config_load(&c, p, err));
    /* diffusers' StableDiffusionXLPipeline registers it with default True */
    TRY(ig_config_bool(c, "force_zeros_for_empty_prompt", true, &m->force_zeros_for_empty_prompt, err));
fail:
    ig_config_free(c);
    return err->status;
}

/* CLIPTextModelWithProjection's projection_dim (CLIPTextConfig's default 512). */
static ig_status projection_dim(const char *path, ig_clip_config *t, ig_err *err) {
    ig_config *c = NULL;
    TRY(ig_config_load(&c, path, err));
    TRY(ig_config_int(c, "projection_dim", 512, &t->projection_dim, err));
    if (t->projection_dim < 1) ig__fail(err, IG_ERR_INVALID, "%s: \"projection_dim\" must be positive", path);
fail:
    ig_config_free(c);
    return err->status;
}

ig_status ig_sd_open_path(ig_sd_model **out, const char *path, const ig_sd_open_opts *opts, ig_err *err) {
    return file_exists(path) ? ig_sd_open_single(out, path, opts, err) : ig_sd_open(out, path, opts, err);
}

ig_status ig_sd_open(ig_sd_model **out, const char *dir, const ig_sd_open_opts *opts, ig_err *err) {
    static const char *const unet_names[] = {"diffusion_pytorch_model.safetensors",
                                             "diffusion_pytorch_model.fp16.safetensors", NULL};
    static const char *const text_names[] = {"model.safetensors", "model.fp16.safetensors", NULL};
    char p[1200];
    ig_fam_arch arch = {0};
    ig_sd_model *m = calloc(1, sizeof *m);
    *out = NULL;
    if (!m) return ig__fail(err, IG_ERR_NOMEM, "out of memory loading %s", dir);
    snprintf(m->dir, sizeof m->dir, "%s", dir);
    m->w_text.label = "text_encoder", m->w_unet.label = "unet", m->w_vae.label = "vae";
    m->w_text2.label = "text_encoder_2";
    m->w_text.private_copy = m->w_unet.private_copy = m->w_vae.private_copy = opts && opts->copy_weights;
    m->w_text2.private_copy = opts && opts->copy_weights;
    snprintf(p, sizeof p, "%s/model_index.json", dir);
    if (!file_exists(p)) {
        ig__fail(err, IG_ERR_NOT_FOUND, "%s: no model_index.json (not a diffusers model folder)", dir);
        goto fail;
    }
    TRY(model_index(m, dir, &arch, err));
    snprintf(p, sizeof p, "%s/tokenizer", dir);
    TRY(ig_bpe_load_dir(&m->bpe, p, err));
    snprintf(p, sizeof p, "%s/text_encoder/config.json", dir);
    TRY(ig_sd_clip_config(p, &arch.text, err));
    snprintf(p, sizeof p, "%s/unet/config.json", dir);
    TRY(ig_sd_unet_config(p, &arch.unet, err));
    snprintf(p, sizeof p, "%s/vae/config.json", dir);
    TRY(ig_sd_vae_config(p, &arch.vae, err));
    snprintf(p, sizeof p, "%s/scheduler/scheduler_config.json", dir);
    TRY(ig_sd_sched_config(p, &m->sched, m->sched_class, sizeof m->sched_class, err));
    if (arch.family != IG_FAMILY_SDXL) arch.family = ig_fam_of_text(&arch.text);
    else {
        snprintf(p, sizeof p, "%s/tokenizer_2", dir);
        TRY(ig_bpe_load_dir(&m->bpe2, p, err));
        snprintf(p, sizeof p, "%s/text_encoder_2/config.json", dir);
        TRY(ig_sd_clip_config(p, &arch.text2, err));
        TRY(projection_dim(p, &arch.text2, err));
        TRY(find_weights(dir, "text_encoder_2", text_names, p, sizeof p, err));
        TRY(ig_weights_add_file(&m->w_text2, p, err));
    }
    if (arch.family != IG_FAMILY_SDXL && arch.unet.cross_attention_dim != arch.text.hidden) {
        ig__fail(err, IG_ERR_INVALID, "%s: the UNet's cross_attention_dim %d differs from the text encoder's hidden_size %d",
                 dir, arch.unet.cross_attention_dim, arch.text.hidden);
        goto fail;
    }
    TRY(find_weights(dir, "text_encoder", text_names, p, sizeof p, err));
    TRY(ig_weights_add_file(&m->w_text, p, err));
    TRY(find_weights(dir, "unet", unet_names, p, sizeof p, err));
    TRY(ig_weights_add_file(&m->w_unet, p, err));
    TRY(find_weights(dir, "vae", unet_names, p, sizeof p, err));
    TRY(ig_weights_add_file(&m->w_vae, p, err));
    TRY(ig__sd_load_parts(m, &arch, false, err));
    *out = m;
    return IG_OK;
fail:
    ig_sd_close(NULL, m);
    return err->status ? err->status : IG_ERR_INVALID;
}

ig_status ig_sd_load_encoder(ig_sd_model *m, ig_err *err) {
    if (m->has_vae_enc) return IG_OK;
    if (ig_vae_encoder_load(&m->vae_enc, &m->vae.cfg, &m->w_vae, err) != IG_OK) return err->status;
    m->has_vae_enc = true;
    return IG_OK;
}

void ig_sd_close(ig_engine *e, ig_sd_model *m) {
    if (!m) return;
    if (e) {
        ig_clip_release(e, &m->clip);
        ig_clip_release(e, &m->clip2);
        ig_unet_release(e, &m->unet);
        ig_vae_release(e, &m->vae);
        ig_vae_encoder_release(e, &m->vae_enc);
    }
    ig_taesd_close(e, m->fast_dec);
    ig_weights_close(&m->w_text);
    ig_weights_close(&m->w_text2);
    ig_bpe_free(m->bpe2);
    ig_weights_close(&m->w_unet);
    ig_weights_close(&m->w_vae);
    ig_bpe_free(m->bpe);
    free(m);
}
