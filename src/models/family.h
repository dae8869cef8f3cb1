/* family.h — one description of each model family's architecture, read by everything that needs
 * to know which tensors a model has: the folder loader (sd.c checks a folder against it), the
 * single-file loader (single.c maps diffusers keys to the original checkpoint's through it) and
 * tools/make_random_model.c (writes exactly the tensors it lists).
 *
 * For a family and its configs (ig_fam_arch), ig_fam_tensors lists every weight tensor of one part
 * (text encoder, UNet, VAE) in the order the loaders read them: its diffusers key and shape, what
 * it is (a weight, a bias, a norm scale, an embedding: what a random model fills it with), and
 * where an original single-file (LDM / CompVis) checkpoint keeps it: under which key, stored with
 * which shape, and which rows of that stored tensor (OpenCLIP's fused q|k|v in_proj). A (C, C, 1, 1)
 * 1x1 conv read as a (C, C) linear is a tensor whose stored shape differs from its shape.
 *
 * Owns: the tensor lists, the family of a text encoder, lookups by key, checking an ig_weights
 * against a list, and the ig_weights_map_fn that turns diffusers keys into single-file ones.
 * Leaves to others: reading configs (sd.c), inferring them from a single file's shapes (single.c),
 * the networks that read the tensors by key (clip.c, unet.c, vae.c, blocks.c).
 *
 * SDXL (two text encoders, per-block transformer depth, the text_time embedding) is one more
 * enumerator (family_sdxl.c) over family_sd.c's walkers, a part for its second text encoder
 * (IG_FAM_TEXT2) and the config fields it needs; the loaders and the random-model tool read its
 * lists unchanged. */
#ifndef IG_MODELS_FAMILY_H
#define IG_MODELS_FAMILY_H

#include "clip.h"
#include "unet.h"
#include "vae.h"

typedef enum ig_fam_part {
    IG_FAM_TEXT,  /* text_encoder/ */
    IG_FAM_UNET,  /* unet/ */
    IG_FAM_VAE,   /* vae/ (the encoder's tensors are optional: only img2img reads them) */
    IG_FAM_N_PARTS, /* the parts every family has */
    IG_FAM_TEXT2 = IG_FAM_N_PARTS, /* text_encoder_2/: SDXL's second text encoder (OpenCLIP bigG with projection) */
    IG_FAM_N_PARTS_MAX
} ig_fam_part;

/* What a tensor is; tools/make_random_model.c picks its values by this. */
typedef enum ig_fam_role {
    IG_FAM_WEIGHT,     /* of a linear or conv: fan_in = the product of dims 1.. */
    IG_FAM_BIAS,
    IG_FAM_NORM_SCALE, /* group / layer norm weight */
    IG_FAM_NORM_SHIFT, /* group / layer norm bias */
    IG_FAM_TOKEN_EMBEDDING,
    IG_FAM_POSITION_EMBEDDING,
} ig_fam_role;

#define IG_FAM_KEY_LEN 128

typedef struct ig_fam_tensor {
    char key[IG_FAM_KEY_LEN]; /* diffusers key in the part's safetensors */
    int n_dims;
    int64_t ne[4];            /* unused dims 1 */
    ig_fam_role role;
    bool optional;            /* a checkpoint may lack it (the VAE encoder, quant_conv) */
    /* the original single-file checkpoint, under the part's ldm_prefix */
    char ldm_key[IG_FAM_KEY_LEN];
    int ldm_n_dims;
    int64_t ldm_ne[4];            /* the stored tensor's shape (all of a fused in_proj) */
    int64_t ldm_row0, ldm_n_rows; /* n_rows > 0: this tensor is rows [row0, row0 + n_rows) of it */
    bool ldm_transposed;          /* stored as the 2-D transpose (OpenCLIP's text_projection) */
} ig_fam_tensor;

typedef struct ig_fam_list {
    ig_fam_part part;
    char ldm_prefix[48]; /* "model.diffusion_model.", "first_stage_model.", "cond_stage_model.model." ... */
    ig_fam_tensor *v;
    int n, cap;
} ig_fam_list;

/* A family and the configs its lists are built from. */
typedef struct ig_fam_arch {
    ig_family family;
    ig_clip_config text;
    ig_unet_config unet;
    ig_vae_config vae;
    ig_clip_config text2; /* SDXL: text_encoder_2 (projection_dim > 0) */
    bool ldm_flat_text; /* SD 1.x single files of old transformers: no "text_model." level */
} ig_fam_arch;

/* The parts a family has: IG_FAM_N_PARTS, or IG_FAM_N_PARTS_MAX for SDXL. */
static inline int ig_fam_n_parts(ig_family f) { return f == IG_FAMILY_SDXL ? IG_FAM_N_PARTS_MAX : IG_FAM_N_PARTS; }

/* The family a text encoder belongs to: quick_gelu (OpenAI CLIP ViT-L/14, SD 1.x) or gelu
 * (OpenCLIP ViT-H/14, SD 2.x); the widths (768 / 1024 in the released models) are not looked at, so
 * the tiny golden models have families too. */
ig_family ig_fam_of_text(const ig_clip_config *text);
/* "text_encoder", "unet", "vae", "text_encoder_2": the part's folder and label. */
const char *ig_fam_part_name(ig_fam_part p);

/* Fills out (zeroed, or freed by ig_fam_list_free) with every tensor of part p, in the loaders'
 * order. Errors: IG_ERR_UNSUPPORTED for a family without a description, IG_ERR_NOMEM. */
ig_status ig_fam_tensors(const ig_fam_arch *a, ig_fam_part p, ig_fam_list *out, ig_err *err);
void ig_fam_list_free(ig_fam_list *l); /* accepts a zeroed list */

/* Checks that w holds every tensor of l that is not optional, with its shape, and that the optional
 * ones it holds have theirs; err names the part, the key (both keys through a single-file map) and
 * the shapes. */
ig_status ig_fam_check(const ig_fam_list *l, ig_weights *w, ig_err *err);

/* Makes w (holding a single-file checkpoint) answer diffusers keys with the tensors l places there:
 * sets w->prefix to l's ldm_prefix and w->map to a lookup over a copy of l (freed by
 * ig_weights_close). A key l does not list has no counterpart. */
ig_status ig_fam_map_ldm(ig_weights *w, const ig_fam_list *l, ig_err *err);

/* internal: family_sd.c's and family_sdxl.c's enumerators, for ig_fam_tensors */
ig_status ig__fam_sd_tensors(const ig_fam_arch *a, ig_fam_part p, ig_fam_list *out, ig_err *err);
ig_status ig__fam_sdxl_tensors(const ig_fam_arch *a, ig_fam_part p, ig_fam_list *out, ig_err *err);
/* internal: family_sd.c's walkers, which family_sdxl.c reuses with its own prefixes; each returns
 * false when out of memory. names: how the single file names a text encoder's tensors. */
typedef enum ig_fam_text_names {
    IG_FAM_NAMES_HF,       /* transformers' names under "text_model." */
    IG_FAM_NAMES_HF_FLAT,  /* the same without the "text_model." level (old SD 1.x files) */
    IG_FAM_NAMES_OPENCLIP, /* open_clip's (transformer.resblocks.N, fused in_proj, ln_final, text_projection) */
} ig_fam_text_names;
bool ig__fam_walk_text(ig_fam_list *l, const ig_clip_config *c, ig_fam_text_names names);
bool ig__fam_walk_unet(ig_fam_list *l, const ig_unet_config *u);
bool ig__fam_walk_vae(ig_fam_list *l, const ig_vae_config *v);
/* internal: appends one tensor (family_*.c); false when out of memory */
bool ig__fam_add(ig_fam_list *l, const ig_fam_tensor *t);

#endif
