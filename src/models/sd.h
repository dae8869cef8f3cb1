/* sd.h — a Stable Diffusion 1.x / 2.x or SDXL model loaded from a diffusers folder (model_index.json,
 * tokenizer/, text_encoder/, unet/, vae/, scheduler/, each with its config.json and safetensors; SDXL
 * adds tokenizer_2/ and text_encoder_2/),
 * or from a single file (single.h) with the same options (ig_sd_open_opts). The architecture comes
 * from the configs, and each part's tensors are checked against the family's description
 * (family.h) before the networks read them; what imagine cannot serve (another block type, a class
 * embedding, an SDXL refiner, ...) is refused naming what was found. Weights stay mmapped (f32, f16 or bf16)
 * unless copy_weights asks for private copies. */
#ifndef IG_MODELS_SD_H
#define IG_MODELS_SD_H

#include "clip.h"
#include "models/bpe.h"
#include "models/sched_config.h"
#include "taesd.h"
#include "unet.h"
#include "vae.h"

typedef struct ig_sd_model {
    char dir[1024];
    ig_bpe *bpe;
    ig_weights w_text, w_unet, w_vae;
    ig_clip clip;
    ig_unet unet;
    ig_vae vae;
    ig_vae_encoder vae_enc; /* only after ig_sd_load_encoder (img2img); txt2img never loads it */
    bool has_vae_enc;
    /* SDXL (family IG_FAMILY_SDXL): the second tokenizer and text encoder (OpenCLIP bigG with its
     * projection), read beside the first; the UNet's context is both penultimate states side by side */
    ig_bpe *bpe2;
    ig_weights w_text2;
    ig_clip clip2;
    bool force_zeros_for_empty_prompt; /* model_index.json: no negative prompt -> zero negative conditioning */
    ig_sched_config sched; /* scheduler/scheduler_config.json */
    char sched_class[64];  /* its _class_name, e.g. "PNDMScheduler" */
    /* the family's facts, filled once by the loader */
    ig_family family;                /* from the text encoder: CLIP-L (quick_gelu) SD1, OpenCLIP (gelu) SD2 */
    int native_width, native_height; /* pixels it was trained at: unet sample_size x latent factor (folders
                                        without one, and single files: 512; SD 2.x v-prediction files: 768),
                                        rounded up to size_multiple */
    int size_multiple;               /* sides must be multiples of this: latent factor x 2^(UNet levels - 1) */
    ig_taesd *fast_dec; /* optional TAESD (taesd.h), set by whoever opened it (lib/); ig_sd_close closes it */
} ig_sd_model;

/* How to open a model, a folder and a single file alike (fields a folder's configs say are for
 * single files only). */
typedef struct ig_sd_open_opts {
    bool copy_weights;             /* read the weight files into memory instead of mapping them (imagine
                                      serve --copy-weights; ig_st_open's private_copy) */
    const char *vocab_dir;         /* single files: the tokenizer's folder (vocab.json, merges.txt, optional
                                      special_tokens_map.json / tokenizer_config.json); NULL: the one
                                      imagine ships (assets/clip). A folder uses its tokenizer/. */
    ig_prediction prediction_type; /* single files: IG_PREDICTION_UNSET: epsilon (see single.h) */
    /* single files, what the file cannot say (see single.h); 0: the SD default */
    int unet_heads;           /* > 0: this many heads in every UNet transformer */
    int unet_norm_groups;     /* 0: 32 */
    int text_heads;           /* 0: hidden / 64 */
    int text2_heads;          /* SDXL's second text encoder; 0: hidden / 64 */
    int unet_block_heads[IG_UNET_MAX_BLOCKS]; /* > 0: heads of the UNet's transformers per level (before unet_heads) */
    int vae_norm_groups;      /* 0: 32 */
    float vae_scaling_factor; /* 0: 0.18215 (SDXL: 0.13025) */
    int32_t pad_id;           /* < 0: by family (see single.h); >= 0: this id */
} ig_sd_open_opts;

#define IG_SD_OPEN_OPTS_INIT {.pad_id = -1}

/* Loads the diffusers folder dir; opts NULL: IG_SD_OPEN_OPTS_INIT. Caller frees with ig_sd_close. */
ig_status ig_sd_open(ig_sd_model **out, const char *dir, const ig_sd_open_opts *opts, ig_err *err);
/* A folder (ig_sd_open) or a single-file checkpoint (ig_sd_open_single, single.h), by what path is. */
ig_status ig_sd_open_path(ig_sd_model **out, const char *path, const ig_sd_open_opts *opts, ig_err *err);
void ig_sd_close(ig_engine *e, ig_sd_model *m); /* accepts NULL; e releases the backend caches */

/* Loads the VAE encoder (encoder.*, quant_conv.*) from the model's VAE weights, folder or single
 * file alike, once; later calls return IG_OK at once. On failure (a checkpoint without the encoder:
 * err names the missing tensor) the model stays as it was and usable for txt2img. Not thread-safe:
 * call it from the thread that owns the model. */
ig_status ig_sd_load_encoder(ig_sd_model *m, ig_err *err);

/* Pixels per latent along each side: 2^(VAE blocks - 1), 8 for SD 1.x/2.x, 4 for the built-in model. */
static inline int ig_sd_latent_factor(const ig_sd_model *m) { return 1 << (m->vae.cfg.n_blocks - 1); }

/* internal, for sd.c and single.c: checks each part's weights against the family's description of
 * arch (single: first maps the single file's keys through it), loads the networks and fills the
 * family fields; arch->unet.sample_size gives the native size (0: 512 pixels). */
struct ig_fam_arch;
ig_status ig__sd_load_parts(ig_sd_model *m, const struct ig_fam_arch *arch, bool single, ig_err *err);

/* Parsers, exposed for tests and the single-file loader. */
ig_status ig_sd_unet_config(const char *path, ig_unet_config *cfg, ig_err *err);
ig_status ig_sd_vae_config(const char *path, ig_vae_config *cfg, ig_err *err);
ig_status ig_sd_clip_config(const char *path, ig_clip_config *cfg, ig_err *err);
ig_status ig_sd_sched_config(const char *path, ig_sched_config *cfg, char *class_name, size_t class_len, ig_err *err);

#endif
