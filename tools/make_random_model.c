/* make_random_model.c — writes a full-size Stable Diffusion diffusers folder with random weights and
 * the real configs of stabilityai/sd-turbo (default), stabilityai/stable-diffusion-2-1,
 * stabilityai/stable-diffusion-xl-base-1.0 or stabilityai/sdxl-turbo (random_model_sdxl.h: same
 * weights, another sample size and scheduler), so the engine can be benchmarked at full size
 * without downloading 5 to 7 GB of checkpoints.
 *
 * Owns: the configs (written from the public ones, as facts), random values by each tensor's role,
 * and the "complete" marker. Leaves to others: which tensors there are (models/family.h: the
 * family's description, VAE encoder and quant_conv included, read here as the loaders read it),
 * the safetensors format (io/safetensors.c), checking the folder loads (models/sd.c: ig_sd_open
 * runs at the end as a self-test).
 *
 * The tokenizer files (vocab.json, merges.txt) are copied at run time from an asset folder given on
 * the command line (../shared/assets/clip); they are never part of the repository.
 *
 * Values: weights ~ N(0, 1/fan_in) (std 1/sqrt(fan_in): a linear or conv keeps unit-variance inputs
 * at unit variance, so activations stay finite through 23 text layers and the whole UNet), norm
 * scales 1, norm shifts and biases 0, embeddings std 0.02 (HF's initializer_range). The normal is
 * Irwin-Hall of 4 uniforms: bounded at 3.5 std, cheap, and exact enough for a benchmark.
 *
 * Build (the Makefile may add it as a target):
 *   gcc -std=c11 -O2 -fopenmp -D_GNU_SOURCE -Iinclude -Isrc tools/make_random_model.c build/libimagine.a \
 *       -ldnnl -ljansson -lpng -ljpeg -lwebp -lm -o build/make_random_model
 * Run:
 *   build/make_random_model [--variant sd-turbo|sd21|sdxl|sdxl-turbo] [--dtype f16|bf16|f32] [--out DIR] [--seed N]
 *                           [--force] ASSET_DIR
 *   prints the folder on stdout's last line.
 *   build/make_random_model --taesd OUT.safetensors [--seed N]
 *   writes a random-weight TAESD decoder (for imagine bench --decoder fast --fast-decoder OUT). */
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine.h"
#include "io/safetensors.h"
#include "models/family.h"
#include "models/sd.h"
#include "models/taesd.h"

#define MARKER ".imagine-random-complete"

/* ---- tensor list: the family's description (models/family.h), with values by role ---- */

typedef enum { K_NORMAL, K_ONE, K_ZERO } kind;

typedef struct {
    const char *name; /* the description's key */
    int n_dims;
    int64_t ne[4];
    kind k;
    float std;
} spec;

typedef struct {
    spec *v;
    int n;
    ig_fam_list fam; /* owns the names */
} list;

/* Every tensor of part p, in the description's order (which fixes each one's random stream). */
static ig_status part_specs(list *l, const ig_fam_arch *a, ig_fam_part p, ig_err *err) {
    if (ig_fam_tensors(a, p, &l->fam, err) != IG_OK) return err->status;
    if (!(l->v = calloc((size_t)l->fam.n, sizeof *l->v)))
        return ig__fail(err, IG_ERR_NOMEM, "out of memory for %d tensors", l->fam.n);
    for (int i = 0; i < l->fam.n; i++) {
        const ig_fam_tensor *t = &l->fam.v[i];
        spec *s = &l->v[l->n++];
        s->name = t->key, s->n_dims = t->n_dims;
        memcpy(s->ne, t->ne, sizeof s->ne);
        switch (t->role) {
        case IG_FAM_WEIGHT: /* std 1/sqrt(fan_in): unit-variance inputs stay at unit variance */
            s->k = K_NORMAL, s->std = 1.0f / sqrtf((float)(t->ne[1] * t->ne[2] * t->ne[3]));
            break;
        case IG_FAM_NORM_SCALE: s->k = K_ONE; break;
        case IG_FAM_TOKEN_EMBEDDING: s->k = K_NORMAL, s->std = 0.02f; break; /* HF's initializer_range */
        case IG_FAM_POSITION_EMBEDDING: s->k = K_NORMAL, s->std = 0.01f; break;
        default: s->k = K_ZERO; /* biases, norm shifts */
        }
    }
    return IG_OK;
}

static void list_free(list *l) {
    free(l->v);
    ig_fam_list_free(&l->fam);
}

/* ---- random values ---- */

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#define CHUNK ((int64_t)1 << 20)

static void store(void *dst, ig_dtype dt, int64_t i, float v) {
    if (dt == IG_F32) ((float *)dst)[i] = v;
    else if (dt == IG_BF16) ((uint16_t *)dst)[i] = ig_f32_to_bf16(v);
    else ((uint16_t *)dst)[i] = ig_f32_to_f16(v);
}

/* Fills chunk c of tensor t; each chunk has its own stream (seed, tensor, chunk), so the values do
 * not depend on the thread count. */
static void fill_chunk(const spec *s, int t, int64_t c, ig_dtype dt, void *data, uint64_t seed) {
    int64_t n = s->ne[0] * s->ne[1] * s->ne[2] * s->ne[3];
    int64_t i0 = c * CHUNK, i1 = IG_MIN(n, i0 + CHUNK);
    if (s->k != K_NORMAL) {
        for (int64_t i = i0; i < i1; i++) store(data, dt, i, s->k == K_ONE ? 1.0f : 0.0f);
        return;
    }
    uint64_t st = seed ^ ((uint64_t)t << 32) ^ (uint64_t)c * 0xd1b54a32d192ed03ull;
    /* Irwin-Hall(4) of 16-bit uniforms: mean 2, variance 1/3, so (sum - 2) * sqrt(3) is unit variance */
    const float k = s->std * sqrtf(3.0f) / 65536.0f;
    for (int64_t i = i0; i < i1; i++) {
        uint64_t r = splitmix(&st);
        uint32_t sum = (uint32_t)(r & 0xffff) + (uint32_t)((r >> 16) & 0xffff) + (uint32_t)((r >> 32) & 0xffff) +
                       (uint32_t)(r >> 48);
        store(data, dt, i, ((float)sum + 2.0f - 131072.0f) * k);
    }
}

static int64_t nelem(const spec *s) { return s->ne[0] * s->ne[1] * s->ne[2] * s->ne[3]; }

/* Writes one component: all its tensors in one allocation (the UNet at f16 is ~1.7 GB). */
static ig_status write_component(const char *path, const list *l, ig_dtype dt, uint64_t seed, size_t *bytes_out,
                                 ig_err *err) {
    const size_t es = ig_dtype_size(dt);
    size_t total = 0;
    ig_weights_entry *ent = calloc((size_t)l->n, sizeof *ent);
    size_t *off = calloc((size_t)l->n, sizeof *off);
    char *buf = NULL;
    int64_t n_jobs = 0;
    if (!ent || !off) {
        ig__fail(err, IG_ERR_NOMEM, "out of memory for %d tensors", l->n);
        goto fail;
    }
    for (int i = 0; i < l->n; i++) {
        off[i] = total;
        total += ((size_t)nelem(&l->v[i]) * es + 63) & ~(size_t)63;
        n_jobs += (nelem(&l->v[i]) + CHUNK - 1) / CHUNK;
    }
    buf = ig__alloc(total);
    if (!buf) {
        ig__fail(err, IG_ERR_NOMEM, "out of memory: %zu MiB for %s", total >> 20, path);
        goto fail;
    }
    /* (tensor, chunk) jobs flattened so big and small tensors spread over the threads alike */
    int64_t *job_t = malloc((size_t)n_jobs * sizeof *job_t), *job_c = malloc((size_t)n_jobs * sizeof *job_c);
    if (!job_t || !job_c) {
        free(job_t), free(job_c);
        ig__fail(err, IG_ERR_NOMEM, "out of memory");
        goto fail;
    }
    int64_t j = 0;
    for (int i = 0; i < l->n; i++)
        for (int64_t c = 0; c < (nelem(&l->v[i]) + CHUNK - 1) / CHUNK; c++) job_t[j] = i, job_c[j++] = c;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t q = 0; q < n_jobs; q++)
        fill_chunk(&l->v[job_t[q]], (int)job_t[q], job_c[q], dt, buf + off[job_t[q]], seed);
    free(job_t), free(job_c);
    for (int i = 0; i < l->n; i++) {
        ent[i].name = l->v[i].name;
        ent[i].t = ig_tensor_plain(dt, l->v[i].n_dims, l->v[i].ne, buf + off[i]);
    }
    static const char *const meta[] = {"format", "pt", "imagine.random_weights", "1", NULL};
    if (ig_weights_write(path, ent, l->n, meta, err) != IG_OK) goto fail;
    struct stat st;
    *bytes_out = stat(path, &st) == 0 ? (size_t)st.st_size : 0;
fail:
    ig__free(buf);
    free(off);
    free(ent);
    return err->status;
}

/* ---- configs (the public files of stabilityai/sd-turbo and stabilityai/stable-diffusion-2-1) ---- */

typedef struct {
    const char *name;
    int unet_sample_size, vae_sample_size;
    const char *upcast_attention; /* JSON literal */
    const char *scheduler;        /* whole scheduler_config.json */
    const char *sched_class;
    bool xl, turbo; /* SDXL: configs from random_model_sdxl.h, two text encoders and tokenizers */
} variant;

static const char SCHED_TURBO[] =
    "{\n"
    "  \"_class_name\": \"EulerDiscreteScheduler\",\n"
    "  \"_diffusers_version\": \"0.24.0.dev0\",\n"
    "  \"beta_end\": 0.012,\n"
    "  \"beta_schedule\": \"scaled_linear\",\n"
    "  \"beta_start\": 0.00085,\n"
    "  \"clip_sample\": false,\n"
    "  \"interpolation_type\": \"linear\",\n"
    "  \"num_train_timesteps\": 1000,\n"
    "  \"prediction_type\": \"epsilon\",\n"
    "  \"sample_max_value\": 1.0,\n"
    "  \"set_alpha_to_one\": false,\n"
    "  \"skip_prk_steps\": true,\n"
    "  \"steps_offset\": 1,\n"
    "  \"timestep_spacing\": \"trailing\",\n"
    "  \"timestep_type\": \"discrete\",\n"
    "  \"trained_betas\": null,\n"
    "  \"use_karras_sigmas\": false\n"
    "}\n";

static const char SCHED_SD21[] =
    "{\n"
    "  \"_class_name\": \"DDIMScheduler\",\n"
    "  \"_diffusers_version\": \"0.8.0\",\n"
    "  \"beta_end\": 0.012,\n"
    "  \"beta_schedule\": \"scaled_linear\",\n"
    "  \"beta_start\": 0.00085,\n"
    "  \"clip_sample\": false,\n"
    "  \"num_train_timesteps\": 1000,\n"
    "  \"prediction_type\": \"v_prediction\",\n"
    "  \"set_alpha_to_one\": false,\n"
    "  \"skip_prk_steps\": true,\n"
    "  \"steps_offset\": 1,\n"
    "  \"trained_betas\": null\n"
    "}\n";

static const variant VARIANTS[] = {
    {"sd-turbo", 64, 768, "null", SCHED_TURBO, "EulerDiscreteScheduler", false, false},
    {"sd21", 96, 768, "true", SCHED_SD21, "DDIMScheduler", false, false},
    {"sdxl", 128, 1024, "null", NULL, "EulerDiscreteScheduler", true, false},
    {"sdxl-turbo", 64, 512, "null", NULL, "EulerAncestralDiscreteScheduler", true, true},
};

static ig_status write_text(const char *path, const char *text, ig_err *err) {
    FILE *f = fopen(path, "wb");
    if (!f) return ig__fail(err, IG_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    size_t n = strlen(text);
    bool ok = fwrite(text, 1, n, f) == n;
    if (fclose(f) || !ok) return ig__fail(err, IG_ERR_IO, "cannot write %s", path);
    return IG_OK;
}

/* dir/vae/config.json: the SD VAE's architecture (the same for SD 1.x/2.x and SDXL), with the
 * version, sample size and scaling factor of the checkpoint it mimics. */
static ig_status write_vae_config(const char *dir, const char *diffusers_version, int sample_size, double scaling,
                                  ig_err *err) {
    char path[1200], text[2048];
    snprintf(path, sizeof path, "%s/vae/config.json", dir);
    snprintf(text, sizeof text,
             "{\n"
             "  \"_class_name\": \"AutoencoderKL\",\n"
             "  \"_diffusers_version\": \"%s\",\n"
             "  \"act_fn\": \"silu\",\n"
             "  \"block_out_channels\": [128, 256, 512, 512],\n"
             "  \"down_block_types\": [\"DownEncoderBlock2D\", \"DownEncoderBlock2D\", \"DownEncoderBlock2D\", "
             "\"DownEncoderBlock2D\"],\n"
             "  \"force_upcast\": true,\n"
             "  \"in_channels\": 3,\n"
             "  \"latent_channels\": 4,\n"
             "  \"layers_per_block\": 2,\n"
             "  \"norm_num_groups\": 32,\n"
             "  \"out_channels\": 3,\n"
             "  \"sample_size\": %d,\n"
             "  \"scaling_factor\": %g,\n"
             "  \"up_block_types\": [\"UpDecoderBlock2D\", \"UpDecoderBlock2D\", \"UpDecoderBlock2D\", "
             "\"UpDecoderBlock2D\"]\n"
             "}\n",
             diffusers_version, sample_size, scaling);
    return write_text(path, text, err);
}

#include "random_model_sdxl.h"

static ig_status write_configs(const char *dir, const variant *v, ig_err *err) {
    char path[1200], text[8192];
    snprintf(path, sizeof path, "%s/model_index.json", dir);
    snprintf(text, sizeof text,
             "{\n"
             "  \"_class_name\": \"StableDiffusionPipeline\",\n"
             "  \"_diffusers_version\": \"0.24.0.dev0\",\n"
             "  \"feature_extractor\": [null, null],\n"
             "  \"image_encoder\": [null, null],\n"
             "  \"requires_safety_checker\": false,\n"
             "  \"safety_checker\": [null, null],\n"
             "  \"scheduler\": [\"diffusers\", \"%s\"],\n"
             "  \"text_encoder\": [\"transformers\", \"CLIPTextModel\"],\n"
             "  \"tokenizer\": [\"transformers\", \"CLIPTokenizer\"],\n"
             "  \"unet\": [\"diffusers\", \"UNet2DConditionModel\"],\n"
             "  \"vae\": [\"diffusers\", \"AutoencoderKL\"]\n"
             "}\n",
             v->sched_class);
    if (write_text(path, text, err)) return err->status;

    snprintf(path, sizeof path, "%s/unet/config.json", dir);
    snprintf(text, sizeof text,
             "{\n"
             "  \"_class_name\": \"UNet2DConditionModel\",\n"
             "  \"_diffusers_version\": \"0.24.0.dev0\",\n"
             "  \"act_fn\": \"silu\",\n"
             "  \"addition_embed_type\": null,\n"
             "  \"addition_embed_type_num_heads\": 64,\n"
             "  \"addition_time_embed_dim\": null,\n"
             "  \"attention_head_dim\": [5, 10, 20, 20],\n"
             "  \"attention_type\": \"default\",\n"
             "  \"block_out_channels\": [320, 640, 1280, 1280],\n"
             "  \"center_input_sample\": false,\n"
             "  \"class_embed_type\": null,\n"
             "  \"class_embeddings_concat\": false,\n"
             "  \"conv_in_kernel\": 3,\n"
             "  \"conv_out_kernel\": 3,\n"
             "  \"cross_attention_dim\": 1024,\n"
             "  \"cross_attention_norm\": null,\n"
             "  \"down_block_types\": [\"CrossAttnDownBlock2D\", \"CrossAttnDownBlock2D\", \"CrossAttnDownBlock2D\", "
             "\"DownBlock2D\"],\n"
             "  \"downsample_padding\": 1,\n"
             "  \"dropout\": 0.0,\n"
             "  \"dual_cross_attention\": false,\n"
             "  \"encoder_hid_dim\": null,\n"
             "  \"encoder_hid_dim_type\": null,\n"
             "  \"flip_sin_to_cos\": true,\n"
             "  \"freq_shift\": 0,\n"
             "  \"in_channels\": 4,\n"
             "  \"layers_per_block\": 2,\n"
             "  \"mid_block_only_cross_attention\": null,\n"
             "  \"mid_block_scale_factor\": 1,\n"
             "  \"mid_block_type\": \"UNetMidBlock2DCrossAttn\",\n"
             "  \"norm_eps\": 1e-05,\n"
             "  \"norm_num_groups\": 32,\n"
             "  \"num_attention_heads\": null,\n"
             "  \"num_class_embeds\": null,\n"
             "  \"only_cross_attention\": false,\n"
             "  \"out_channels\": 4,\n"
             "  \"projection_class_embeddings_input_dim\": null,\n"
             "  \"resnet_out_scale_factor\": 1.0,\n"
             "  \"resnet_skip_time_act\": false,\n"
             "  \"resnet_time_scale_shift\": \"default\",\n"
             "  \"reverse_transformer_layers_per_block\": null,\n"
             "  \"sample_size\": %d,\n"
             "  \"time_cond_proj_dim\": null,\n"
             "  \"time_embedding_act_fn\": null,\n"
             "  \"time_embedding_dim\": null,\n"
             "  \"time_embedding_type\": \"positional\",\n"
             "  \"timestep_post_act\": null,\n"
             "  \"transformer_layers_per_block\": 1,\n"
             "  \"up_block_types\": [\"UpBlock2D\", \"CrossAttnUpBlock2D\", \"CrossAttnUpBlock2D\", "
             "\"CrossAttnUpBlock2D\"],\n"
             "  \"upcast_attention\": %s,\n"
             "  \"use_linear_projection\": true\n"
             "}\n",
             v->unet_sample_size, v->upcast_attention);
    if (write_text(path, text, err)) return err->status;

    if (write_vae_config(dir, "0.24.0.dev0", v->vae_sample_size, 0.18215, err)) return err->status;

    snprintf(path, sizeof path, "%s/text_encoder/config.json", dir);
    if (write_text(path,
                   "{\n"
                   "  \"architectures\": [\"CLIPTextModel\"],\n"
                   "  \"attention_dropout\": 0.0,\n"
                   "  \"bos_token_id\": 0,\n"
                   "  \"dropout\": 0.0,\n"
                   "  \"eos_token_id\": 2,\n"
                   "  \"hidden_act\": \"gelu\",\n"
                   "  \"hidden_size\": 1024,\n"
                   "  \"initializer_factor\": 1.0,\n"
                   "  \"initializer_range\": 0.02,\n"
                   "  \"intermediate_size\": 4096,\n"
                   "  \"layer_norm_eps\": 1e-05,\n"
                   "  \"max_position_embeddings\": 77,\n"
                   "  \"model_type\": \"clip_text_model\",\n"
                   "  \"num_attention_heads\": 16,\n"
                   "  \"num_hidden_layers\": 23,\n"
                   "  \"pad_token_id\": 1,\n"
                   "  \"projection_dim\": 512,\n"
                   "  \"torch_dtype\": \"float16\",\n"
                   "  \"transformers_version\": \"4.35.0.dev0\",\n"
                   "  \"vocab_size\": 49408\n"
                   "}\n",
                   err))
        return err->status;

    snprintf(path, sizeof path, "%s/scheduler/scheduler_config.json", dir);
    if (write_text(path, v->scheduler, err)) return err->status;

    /* SD 2.x's OpenCLIP tokenizer pads with "!" (id 0), not with <|endoftext|> as SD 1.x does */
    snprintf(path, sizeof path, "%s/tokenizer/special_tokens_map.json", dir);
    if (write_text(path,
                   "{\n"
                   "  \"bos_token\": {\"content\": \"<|startoftext|>\", \"lstrip\": false, \"normalized\": true, "
                   "\"rstrip\": false, \"single_word\": false},\n"
                   "  \"eos_token\": {\"content\": \"<|endoftext|>\", \"lstrip\": false, \"normalized\": true, "
                   "\"rstrip\": false, \"single_word\": false},\n"
                   "  \"pad_token\": \"!\",\n"
                   "  \"unk_token\": {\"content\": \"<|endoftext|>\", \"lstrip\": false, \"normalized\": true, "
                   "\"rstrip\": false, \"single_word\": false}\n"
                   "}\n",
                   err))
        return err->status;
    snprintf(path, sizeof path, "%s/tokenizer/tokenizer_config.json", dir);
    if (write_text(path,
                   "{\n"
                   "  \"add_prefix_space\": false,\n"
                   "  \"bos_token\": {\"__type\": \"AddedToken\", \"content\": \"<|startoftext|>\", \"lstrip\": false, "
                   "\"normalized\": true, \"rstrip\": false, \"single_word\": false},\n"
                   "  \"do_lower_case\": true,\n"
                   "  \"eos_token\": {\"__type\": \"AddedToken\", \"content\": \"<|endoftext|>\", \"lstrip\": false, "
                   "\"normalized\": true, \"rstrip\": false, \"single_word\": false},\n"
                   "  \"errors\": \"replace\",\n"
                   "  \"model_max_length\": 77,\n"
                   "  \"pad_token\": \"!\",\n"
                   "  \"tokenizer_class\": \"CLIPTokenizer\",\n"
                   "  \"unk_token\": {\"__type\": \"AddedToken\", \"content\": \"<|endoftext|>\", \"lstrip\": false, "
                   "\"normalized\": true, \"rstrip\": false, \"single_word\": false}\n"
                   "}\n",
                   err))
        return err->status;
    return IG_OK;
}

/* ---- files ---- */

static ig_status mkdirs(const char *path, ig_err *err) {
    char p[1200];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0755) && errno != EEXIST) return ig__fail(err, IG_ERR_IO, "mkdir %s: %s", p, strerror(errno));
            *s = '/';
        }
    if (mkdir(p, 0755) && errno != EEXIST) return ig__fail(err, IG_ERR_IO, "mkdir %s: %s", p, strerror(errno));
    return IG_OK;
}

static ig_status copy_file(const char *src, const char *dst, ig_err *err) {
    FILE *in = fopen(src, "rb"), *out = NULL;
    char buf[1 << 16];
    size_t n;
    if (!in) return ig__fail(err, IG_ERR_IO, "cannot read %s: %s", src, strerror(errno));
    if (!(out = fopen(dst, "wb"))) {
        fclose(in);
        return ig__fail(err, IG_ERR_IO, "cannot write %s: %s", dst, strerror(errno));
    }
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) break;
    bool ok = !ferror(in) && !ferror(out);
    fclose(in);
    if (fclose(out) || !ok) return ig__fail(err, IG_ERR_IO, "cannot copy %s to %s", src, dst);
    return IG_OK;
}

static bool marker_matches(const char *dir, const char *want) {
    char path[1200], got[512] = "";
    snprintf(path, sizeof path, "%s/" MARKER, dir);
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    size_t n = fread(got, 1, sizeof got - 1, f);
    fclose(f);
    got[n] = 0;
    return !strcmp(got, want);
}

static void usage(FILE *f) {
    fprintf(f, "usage: make_random_model [--variant sd-turbo|sd21|sdxl|sdxl-turbo] [--dtype f16|bf16|f32] [--out DIR] [--seed N]\n"
               "                         [--force] ASSET_DIR\n"
               "       make_random_model --taesd OUT.safetensors [--seed N]   (a random TAESD decoder)\n"
               "  ASSET_DIR holds the CLIP tokenizer's vocab.json and merges.txt (../shared/assets/clip).\n"
               "  DIR defaults to $XDG_CACHE_HOME/imagine/<variant>-random (~/.cache/imagine/...), with -<dtype>\n"
               "  appended unless f16. A folder that is already complete (marker " MARKER ") is kept.\n");
}

/* --taesd OUT: a TAESD decoder with random weights (the tensors models/taesd.h lists, taesd.py's keys,
 * f32 ~ N(0, 1/fan_in), biases 0) for timing the fast decoder: its speed does not depend on them. */
static int write_taesd(const char *path, uint64_t seed) {
    ig_taesd_tensor t[IG_TAESD_MAX_TENSORS];
    ig_weights_entry e[IG_TAESD_MAX_TENSORS];
    const int n = ig_taesd_tensors(true, 4, t);
    ig_err err = {0};
    uint64_t st = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int i = 0; i < n; i++) {
        const int64_t cnt = t[i].ne[0] * t[i].ne[1] * t[i].ne[2] * t[i].ne[3];
        float *v = malloc((size_t)cnt * sizeof(float));
        if (!v) return 1;
        const double fan_in = (double)(t[i].ne[1] * t[i].ne[2] * t[i].ne[3]);
        for (int64_t k = 0; k < cnt; k++) {
            double u = 0; /* Irwin-Hall of 4 uniforms, as for the model's weights */
            for (int j = 0; j < 4; j++) {
                st ^= st << 13, st ^= st >> 7, st ^= st << 17;
                u += (double)(st >> 11) / 9007199254740992.0;
            }
            v[k] = t[i].n_dims == 1 ? 0.0f : (float)((u - 2.0) * sqrt(3.0) / sqrt(fan_in));
        }
        e[i] = (ig_weights_entry){t[i].name, ig_tensor_plain(IG_F32, t[i].n_dims, t[i].ne, v)};
    }
    const ig_status rc = ig_weights_write(path, e, n, NULL, &err);
    for (int i = 0; i < n; i++) free(e[i].t.data);
    if (rc) fprintf(stderr, "make_random_model: %s\n", err.msg);
    else printf("%s\n", path);
    return rc ? 1 : 0;
}

int main(int argc, char **argv) {
    const char *variant_name = "sd-turbo", *dtype = "f16", *out = NULL, *assets = NULL;
    uint64_t seed = 42;
    bool force = false;
    const char *taesd = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return usage(stdout), 0;
        if (!strcmp(a, "--force")) force = true;
        else if (!strcmp(a, "--variant") && v) variant_name = v, i++;
        else if (!strcmp(a, "--dtype") && v) dtype = v, i++;
        else if (!strcmp(a, "--out") && v) out = v, i++;
        else if (!strcmp(a, "--seed") && v) seed = strtoull(v, NULL, 10), i++;
        else if (!strcmp(a, "--taesd") && v) taesd = v, i++;
        else if (a[0] != '-' && !assets) assets = a;
        else return usage(stderr), 2;
    }
    if (taesd) return write_taesd(taesd, seed);
    const variant *var = NULL;
    for (size_t i = 0; i < sizeof VARIANTS / sizeof *VARIANTS; i++)
        if (!strcmp(variant_name, VARIANTS[i].name)) var = &VARIANTS[i];
    ig_dtype dt = !strcmp(dtype, "f16") ? IG_F16 : !strcmp(dtype, "bf16") ? IG_BF16 : !strcmp(dtype, "f32") ? IG_F32 : -1;
    if (!var || (int)dt < 0 || !assets) return usage(stderr), 2;

    char dir[1024], path[1200], src[1200], want[512];
    if (out) snprintf(dir, sizeof dir, "%s", out);
    else {
        const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
        char base[900];
        if (xdg && *xdg) snprintf(base, sizeof base, "%s/imagine", xdg);
        else snprintf(base, sizeof base, "%s/.cache/imagine", home && *home ? home : "/tmp");
        snprintf(dir, sizeof dir, "%s/%s-random%s%s", base, var->name, dt == IG_F16 ? "" : "-", dt == IG_F16 ? "" : dtype);
    }
    snprintf(want, sizeof want, "variant=%s dtype=%s seed=%llu format=1\n", var->name, dtype, (unsigned long long)seed);
    if (!force && marker_matches(dir, want)) {
        fprintf(stderr, "make_random_model: %s is complete (%s), kept; --force rewrites it\n", dir, MARKER);
        printf("%s\n", dir);
        return 0;
    }

    ig_err err = {0};
    list lt = {0}, lu = {0}, lv = {0}, lt2 = {0};
    ig_fam_arch arch = {0};
    ig_engine *e = NULL;
    ig_sd_model *m = NULL;
    size_t b_text = 0, b_unet = 0, b_vae = 0, b_text2 = 0;
    int rc = 1;
    const double t0 = ig__now_s();

    /* the old marker goes first: a run that dies half way leaves a folder that is not "complete" */
    snprintf(path, sizeof path, "%s/" MARKER, dir);
    unlink(path);
    static const char *const subs[] = {"", "/unet", "/vae", "/text_encoder", "/tokenizer", "/scheduler",
                                       "/text_encoder_2", "/tokenizer_2"};
    for (size_t i = 0; i < (var->xl ? 8 : 6); i++) {
        snprintf(path, sizeof path, "%s%s", dir, subs[i]);
        if (mkdirs(path, &err)) goto done;
    }
    if (var->xl ? write_configs_xl(dir, var->turbo, &err) : write_configs(dir, var, &err)) goto done;
    static const char *const tok[] = {"vocab.json", "merges.txt"};
    for (int i = 0; i < (var->xl ? 4 : 2); i++) { /* SDXL: tokenizer_2 has the same vocabulary */
        snprintf(src, sizeof src, "%s/%s", assets, tok[i % 2]);
        snprintf(path, sizeof path, "%s/tokenizer%s/%s", dir, i < 2 ? "" : "_2", tok[i % 2]);
        if (copy_file(src, path, &err)) goto done;
    }

    /* the tensor lists come from the configs just written, parsed by the loader's own parsers */
    snprintf(path, sizeof path, "%s/unet/config.json", dir);
    if (ig_sd_unet_config(path, &arch.unet, &err)) goto done;
    snprintf(path, sizeof path, "%s/vae/config.json", dir);
    if (ig_sd_vae_config(path, &arch.vae, &err)) goto done;
    snprintf(path, sizeof path, "%s/text_encoder/config.json", dir);
    if (ig_sd_clip_config(path, &arch.text, &err)) goto done;
    arch.family = var->xl ? IG_FAMILY_SDXL : ig_fam_of_text(&arch.text);
    if (var->xl) {
        snprintf(path, sizeof path, "%s/text_encoder_2/config.json", dir);
        if (ig_sd_clip_config(path, &arch.text2, &err)) goto done;
        arch.text2.projection_dim = 1280; /* as written (sd.c reads it when it opens the folder) */
        if (part_specs(&lt2, &arch, IG_FAM_TEXT2, &err)) goto done;
    }
    if (part_specs(&lt, &arch, IG_FAM_TEXT, &err) || part_specs(&lu, &arch, IG_FAM_UNET, &err) ||
        part_specs(&lv, &arch, IG_FAM_VAE, &err))
        goto done;

    struct {
        const char *file;
        list *l;
        size_t *bytes;
    } comps[] = {{"text_encoder/model.safetensors", &lt, &b_text},
                 {"vae/diffusion_pytorch_model.safetensors", &lv, &b_vae},
                 {"unet/diffusion_pytorch_model.safetensors", &lu, &b_unet},
                 {"text_encoder_2/model.safetensors", &lt2, &b_text2}};
    for (size_t i = 0; i < (var->xl ? 4 : 3); i++) {
        double t1 = ig__now_s();
        int64_t params = 0;
        for (int k = 0; k < comps[i].l->n; k++) params += nelem(&comps[i].l->v[k]);
        snprintf(path, sizeof path, "%s/%s", dir, comps[i].file);
        if (write_component(path, comps[i].l, dt, seed + i, comps[i].bytes, &err)) goto done;
        fprintf(stderr, "make_random_model: %-42s %4d tensors %11lld params %8.1f MB  %.1f s\n", comps[i].file,
                comps[i].l->n, (long long)params, *comps[i].bytes / 1e6, ig__now_s() - t1);
    }

    /* self-test: the loader must find every tensor it asks for, with the shape it wants */
    if (ig_sd_open(&m, dir, NULL, &err)) goto done;

    snprintf(path, sizeof path, "%s/" MARKER ".tmp", dir);
    if (write_text(path, want, &err)) goto done;
    snprintf(src, sizeof src, "%s/" MARKER, dir);
    if (rename(path, src)) {
        ig__fail(&err, IG_ERR_IO, "rename %s: %s", path, strerror(errno));
        goto done;
    }
    fprintf(stderr, "make_random_model: %s (%s, %s) written and loaded in %.1f s: %.2f GB of weights\n", dir,
            var->name, dtype, ig__now_s() - t0, (b_text + b_unet + b_vae + b_text2) / 1e9);
    printf("%s\n", dir);
    rc = 0;
done:
    if (rc) fprintf(stderr, "make_random_model: %s\n", err.msg);
    ig_sd_close(e, m);
    list_free(&lt), list_free(&lu), list_free(&lv), list_free(&lt2);
    return rc;
}
