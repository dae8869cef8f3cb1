/* fuzz_config.c — libFuzzer harness for io/config.c and the diffusers config readers in models/sd.c.
 *
 * Each input is one config.json. It goes through
 *   1. ig_config_parse, then every typed getter (int, float, bool, string, the three lists with several
 *      max_n, int_or_list with several n) on every key the diffusers readers use plus a few others,
 *      checking the getter contract of config.h: *out is the value or the default, a missing or null
 *      key gives the default, a type error is IG_ERR_INVALID naming the key and leaves the default,
 *      lists never exceed max_n, and a sticky error makes a getter store the default and read nothing;
 *   2. ig_sd_unet_config, ig_sd_vae_config, ig_sd_clip_config and ig_sd_sched_config, which take a path:
 *      the input is written to a memfd once and read back through /proc/self/fd/N, so sd.c needs no
 *      from-memory entry point. What they accept must satisfy what the model builders rely on;
 *   3. for a scheduler config that parses, ig_sched_init for every sampler at two step counts, and the
 *      whole step loop over a few latents (config values reach float->int conversions there).
 * Violations abort(). Build and run: make fuzz / make fuzz-run (tests/fuzz/fuzz.mk).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io/config.h"
#include "models/sd.h"
#include "pipeline/sched.h"

#define REQUIRE(cond)                                                                           \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "fuzz_config: invariant failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

#define LABEL "fuzz/config.json"

/* Keys read by sd.c (unet, vae, text encoder, scheduler), model_index.json's, and a few odd ones. */
static const char *const keys[] = {
    "in_channels", "out_channels", "block_out_channels", "down_block_types", "up_block_types",
    "layers_per_block", "num_attention_heads", "attention_head_dim", "cross_attention_dim", "norm_num_groups",
    "norm_eps", "use_linear_projection", "flip_sin_to_cos", "freq_shift", "transformer_layers_per_block",
    "class_embed_type", "addition_embed_type", "time_cond_proj_dim", "encoder_hid_dim", "num_class_embeds",
    "time_embedding_dim", "mid_block_type", "resnet_time_scale_shift", "time_embedding_type", "act_fn",
    "center_input_sample", "dual_cross_attention", "conv_in_kernel", "conv_out_kernel", "sample_size",
    "latent_channels", "mid_block_add_attention", "use_post_quant_conv", "scaling_factor", "shift_factor",
    "vocab_size", "max_position_embeddings", "hidden_size", "intermediate_size", "num_hidden_layers",
    "layer_norm_eps", "hidden_act", "_class_name", "_diffusers_version", "num_train_timesteps", "beta_start",
    "beta_end", "beta_schedule", "prediction_type", "timestep_spacing", "steps_offset", "use_karras_sigmas",
    "sigma_min", "sigma_max", "final_sigmas_type", "solver_order", "solver_type", "lower_order_final",
    "euler_at_final", "set_alpha_to_one", "original_inference_steps", "timestep_scaling", "clip_sample",
    "clip_sample_range", "rescale_betas_zero_snr", "thresholding", "use_lu_lambdas", "trained_betas",
    "interpolation_type", "timestep_type", "lambda_min_clipped", "text_encoder", "tokenizer", "unet", "vae",
    "scheduler", "safety_checker", "feature_extractor", "requires_safety_checker", "", "a", "x",
};

static int memfd = -1;
static char memfd_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    memfd = memfd_create("fuzz_config", MFD_CLOEXEC);
    if (memfd < 0) {
        perror("memfd_create");
        abort();
    }
    snprintf(memfd_path, sizeof memfd_path, "/proc/self/fd/%d", memfd);
    return 0;
}

static bool same_double(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

/* A type error: IG_ERR_INVALID, naming the label and the key. */
static void check_type_error(const ig_err *e, ig_status st, const char *key) {
    REQUIRE(st == IG_ERR_INVALID && e->status == st);
    REQUIRE(strstr(e->msg, LABEL) && strstr(e->msg, key));
}

static void getters(const ig_config *c, const char *key) {
    bool has = ig_config_has(c, key);
    ig_err e;
    ig_status st;

    int iv = 12345;
    e = (ig_err){0};
    st = ig_config_int(c, key, -7, &iv, &e);
    if (st != IG_OK) {
        check_type_error(&e, st, key);
        REQUIRE(iv == -7);
    } else if (!has) REQUIRE(iv == -7);

    double dv = 1.5;
    e = (ig_err){0};
    st = ig_config_float(c, key, NAN, &dv, &e);
    if (st != IG_OK) {
        check_type_error(&e, st, key);
        REQUIRE(isnan(dv));
    } else if (!has) REQUIRE(isnan(dv));
    if (st == IG_OK && has && ig_config_int(c, key, 0, &iv, &(ig_err){0}) == IG_OK) REQUIRE(same_double(dv, iv));

    bool bv = true;
    e = (ig_err){0};
    st = ig_config_bool(c, key, false, &bv, &e);
    if (st != IG_OK) {
        check_type_error(&e, st, key);
        REQUIRE(bv == false);
    } else if (!has) REQUIRE(bv == false);

    const char *sv = "unset";
    static const char def[] = "default";
    e = (ig_err){0};
    st = ig_config_string(c, key, def, &sv, &e);
    if (st != IG_OK) {
        check_type_error(&e, st, key);
        REQUIRE(sv == def);
    } else if (!has) REQUIRE(sv == def);
    else REQUIRE(sv && strlen(sv) < (1u << 24));

    static const int max_ns[] = {0, 1, 4, 8};
    for (size_t m = 0; m < sizeof max_ns / sizeof *max_ns; m++) {
        int max_n = max_ns[m], n = -1;
        int il[9];
        double fl[9];
        const char *sl[9];
        il[max_n] = fl[max_n] = 0x7777; /* a canary past max_n */
        sl[max_n] = def;
        e = (ig_err){0};
        st = ig_config_int_list(c, key, il, max_n, &n, &e);
        REQUIRE(n >= 0 && n <= max_n && il[max_n] == 0x7777);
        if (st != IG_OK) check_type_error(&e, st, key);
        else if (!has) REQUIRE(n == 0);
        n = -1;
        e = (ig_err){0};
        st = ig_config_float_list(c, key, fl, max_n, &n, &e);
        REQUIRE(n >= 0 && n <= max_n && fl[max_n] == 0x7777);
        if (st != IG_OK) check_type_error(&e, st, key);
        else if (!has) REQUIRE(n == 0);
        for (int i = 0; st == IG_OK && i < n; i++) (void)isnan(fl[i]);
        n = -1;
        e = (ig_err){0};
        st = ig_config_string_list(c, key, sl, max_n, &n, &e);
        REQUIRE(n >= 0 && n <= max_n && sl[max_n] == def);
        if (st != IG_OK) check_type_error(&e, st, key);
        else if (!has) REQUIRE(n == 0);
        for (int i = 0; st == IG_OK && i < n; i++)
            if (sl[i]) REQUIRE(strlen(sl[i]) < (1u << 24));

        int ol[9];
        ol[max_n] = 0x7777;
        e = (ig_err){0};
        st = ig_config_int_or_list(c, key, 3, max_n, ol, &e);
        REQUIRE(ol[max_n] == 0x7777);
        if (st != IG_OK) {
            check_type_error(&e, st, key);
            for (int i = 0; i < max_n; i++) REQUIRE(ol[i] == 3);
        } else if (!has) {
            for (int i = 0; i < max_n; i++) REQUIRE(ol[i] == 3);
        }
    }

    /* Sticky: an earlier error makes every getter store its default and keep the first message. */
    e = (ig_err){.status = IG_ERR_IO, .msg = "first"};
    int n = -1, ol[4];
    REQUIRE(ig_config_int(c, key, 9, &iv, &e) == IG_ERR_IO && iv == 9);
    REQUIRE(ig_config_float(c, key, 2.5, &dv, &e) == IG_ERR_IO && dv == 2.5);
    REQUIRE(ig_config_bool(c, key, true, &bv, &e) == IG_ERR_IO && bv);
    REQUIRE(ig_config_string(c, key, def, &sv, &e) == IG_ERR_IO && sv == def);
    REQUIRE(ig_config_int_list(c, key, ol, 4, &n, &e) == IG_ERR_IO && n == 0);
    REQUIRE(ig_config_int_or_list(c, key, 5, 4, ol, &e) == IG_ERR_IO && ol[0] == 5 && ol[3] == 5);
    REQUIRE(!strcmp(e.msg, "first"));
}

static void check_unet(const ig_unet_config *u) {
    REQUIRE(u->n_blocks >= 1 && u->n_blocks <= IG_UNET_MAX_BLOCKS);
    REQUIRE(u->norm_groups != 0);
    for (int i = 0; i < u->n_blocks; i++)
        REQUIRE(u->heads[i] >= 1 && u->block_out[i] % u->heads[i] == 0 && u->block_out[i] % u->norm_groups == 0);
}

static void check_vae(const ig_vae_config *v) {
    REQUIRE(v->n_blocks >= 1 && v->n_blocks <= IG_VAE_MAX_BLOCKS);
    REQUIRE(v->norm_groups != 0);
    for (int i = 0; i < v->n_blocks; i++) REQUIRE(v->block_out[i] % v->norm_groups == 0);
}

static void run_sched(const ig_sched_config *cfg, int extra_steps) {
    static const ig_sampler samplers[] = {IG_SAMPLER_EULER, IG_SAMPLER_EULER_A, IG_SAMPLER_DPMPP_2M_KARRAS,
                                          IG_SAMPLER_LCM, IG_SAMPLER_TURBO};
    const int steps[2] = {1, extra_steps};
    enum { NL = 8 };
    for (size_t k = 0; k < sizeof samplers / sizeof *samplers; k++) {
        for (int j = 0; j < 2; j++) {
            ig_sched s;
            ig_err e = {0};
            if (ig_sched_init(&s, cfg, samplers[k], steps[j], NL, &e) != IG_OK) {
                REQUIRE(e.status != IG_OK && e.msg[0]);
                ig_sched_free(&s);
                continue;
            }
            REQUIRE(s.n_steps >= 1 && s.n_steps <= steps[j] + 1 && s.timesteps);
            float lat[NL], out[NL], x0[NL];
            ig_rng_torch g;
            ig_rng_torch_seed(&g, 1);
            ig_sched_init_latents(&s, &g, lat, NL);
            for (int i = 0; i < s.n_steps; i++) {
                for (int q = 0; q < NL; q++) out[q] = lat[q] * 0.5f;
                ig_sched_scale_model_input(&s, i, out, NL);
                ig_err se = {0};
                REQUIRE(ig_sched_step(&s, i, out, lat, NL, &g, x0, &se) == IG_OK);
            }
            ig_sched_free(&s);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* 1. the getters */
    char *json = malloc(size ? size : 1);
    if (!json) return 0;
    if (size) memcpy(json, data, size);
    ig_config *c = (ig_config *)(uintptr_t)1;
    ig_err err = {0};
    ig_status st = ig_config_parse(&c, json, size, LABEL, &err);
    free(json); /* the config keeps its own copy */
    if (st != IG_OK) {
        REQUIRE(c == NULL && err.status == st && err.msg[0]);
    } else {
        REQUIRE(c && !strcmp(ig_config_path(c), LABEL));
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) getters(c, keys[i]);
        ig_config_free(c);
    }

    /* 2. the diffusers readers, through the memfd */
    if (ftruncate(memfd, 0) != 0 || pwrite(memfd, data, size, 0) != (ssize_t)size) abort();
    ig_unet_config u;
    ig_vae_config v;
    ig_clip_config t;
    ig_sched_config s;
    char cls[64];
    ig_err e = {0};
    if (ig_sd_unet_config(memfd_path, &u, &e) == IG_OK) check_unet(&u);
    else REQUIRE(e.status != IG_OK && e.msg[0]);
    e = (ig_err){0};
    if (ig_sd_vae_config(memfd_path, &v, &e) == IG_OK) check_vae(&v);
    else REQUIRE(e.status != IG_OK && e.msg[0]);
    e = (ig_err){0};
    if (ig_sd_clip_config(memfd_path, &t, &e) == IG_OK)
        REQUIRE(t.act == IG_ACT_QUICK_GELU || t.act == IG_ACT_GELU_ERF);
    else REQUIRE(e.status != IG_OK && e.msg[0]);
    e = (ig_err){0};
    memset(cls, 'Z', sizeof cls);
    if (ig_sd_sched_config(memfd_path, &s, cls, sizeof cls, &e) == IG_OK) {
        REQUIRE(memchr(cls, 0, sizeof cls));
        /* 3. the samplers on it: 1 step and a count from the input (diffusers' usual range) */
        run_sched(&s, 2 + (int)(size % 60));
    } else {
        REQUIRE(e.status != IG_OK && e.msg[0]);
    }
    return 0;
}
