/* imagine.h — libimagine: Stable Diffusion text-to-image in C, on its own engine (oneDNN on CPUs).
 *
 * The only header a program needs: open a model (a diffusers folder or a single .safetensors file),
 * ask what it is, generate 8-bit RGB images with a progress callback that can preview and cancel,
 * free. Build with `pkg-config --cflags --libs imagine` (or link build/libimagine.a and its
 * dependencies: -ldnnl -lmicrohttpd -ljansson -lpng -ljpeg -lwebp -lm -fopenmp).
 *
 *     #include <stdio.h>
 *     #include <imagine.h>
 *
 *     static int on_step(void *user, const ig_progress *p) {
 *         (void)user;                                    // p.progress_user, for the caller's state
 *         fprintf(stderr, "step %d/%d\n", p->step, p->n_steps);
 *         return 0;                                      // non-zero cancels: IG_ERR_CANCELLED
 *     }
 *
 *     int main(void) {
 *         ig_err err = {0};
 *         ig_model *m = NULL;
 *         ig_image *img = NULL;
 *         ig_open_options o = IG_OPEN_OPTIONS_INIT;      // o.precision = IG_PRECISION_F32, ...
 *         if (ig_model_open(&m, "path/to/sd-turbo", &o, &err) != IG_OK) goto fail;
 *         ig_model_info info;
 *         ig_model_describe(m, &info);
 *         ig_gen_params p = IG_GEN_PARAMS_INIT;
 *         p.prompt = "a red apple on a wooden table";
 *         p.width = info.native_width, p.height = info.native_height;
 *         p.n_steps = info.default_steps, p.guidance = info.default_guidance, p.sampler = info.default_sampler;
 *         p.seed = 42;
 *         p.progress = on_step;
 *         if (ig_generate(m, &p, &img, NULL, &err) != IG_OK) goto fail;
 *         printf("%dx%d, first pixel %d %d %d\n", img->width, img->height, img->pixels[0], img->pixels[1],
 *                img->pixels[2]);
 *         ig_image_free(img);
 *         ig_model_close(m);
 *         return 0;
 *     fail:
 *         fprintf(stderr, "imagine: %s\n", err.msg);
 *         ig_model_close(m);
 *         return 1;
 *     }
 *
 * Rules of the house:
 *  - Every fallible function returns an ig_status (IG_OK is 0) and writes a message into the ig_err
 *    it was given; nothing aborts on bad input, and nothing is kept in globals: two models opened in
 *    one process are independent (each has its own engine, caches and scratch memory).
 *  - Structs that carry options (ig_open_options, ig_gen_params) start from their *_INIT macro, so
 *    that fields added in later versions take their defaults.
 *  - Whoever a function hands an object to frees it with the matching function: ig_model_close,
 *    ig_image_free. Both accept NULL.
 *  - A model is used by one thread at a time (generations on it run one after another); different
 *    models may run on different threads.
 *  - Same seed, same image: the initial noise is torch's CPU generator, so with IG_PRECISION_F32 a
 *    seed gives the image Hugging Face diffusers gives; the default bf16 path (where the CPU has
 *    native bf16) differs from it by a few per cent in the latents.
 */
#ifndef IMAGINE_H
#define IMAGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IG_VERSION_MAJOR 0
#define IG_VERSION_MINOR 3
#define IG_VERSION_PATCH 0
#define IG_VERSION "0.3.0"
/* The library's version as a number: MAJOR * 10000 + MINOR * 100 + PATCH. */
#define IG_VERSION_NUMBER (IG_VERSION_MAJOR * 10000 + IG_VERSION_MINOR * 100 + IG_VERSION_PATCH)

/* The version of the library actually linked ("0.3.0"), which may differ from IG_VERSION. */
const char *ig_version(void);

/* ---- errors ------------------------------------------------------------------------------- */

typedef enum ig_status {
    IG_OK = 0,
    IG_ERR_INVALID,     /* bad argument or input (shape mismatch, bad file contents) */
    IG_ERR_IO,          /* open/read/mmap/write failed */
    IG_ERR_NOMEM,       /* allocation failed */
    IG_ERR_UNSUPPORTED, /* valid but not implemented here (dtype, layout, backend, architecture) */
    IG_ERR_BACKEND,     /* the kernel library (oneDNN, cuDNN) refused */
    IG_ERR_NOT_FOUND,   /* a named thing (tensor, file, model) does not exist */
    IG_ERR_CANCELLED,   /* the caller's progress callback asked to stop */
} ig_status;

/* The first failure's status and message ("unet/config.json: ..."). Zero it before use. */
typedef struct ig_err {
    ig_status status;
    char msg[512];
} ig_err;

const char *ig_status_name(ig_status st); /* "IG_ERR_INVALID" */

/* ---- choices ------------------------------------------------------------------------------ */

typedef enum ig_precision {
    IG_PRECISION_AUTO = 0, /* $IMAGINE_PRECISION (f32|bf16|auto), else bf16 where the CPU has it natively */
    IG_PRECISION_F32,      /* diffusers' numbers */
    IG_PRECISION_BF16,
} ig_precision;

/* The samplers, as diffusers 0.30 computes them. */
typedef enum ig_sampler {
    IG_SAMPLER_EULER = 0,       /* EulerDiscreteScheduler */
    IG_SAMPLER_EULER_A,         /* EulerAncestralDiscreteScheduler */
    IG_SAMPLER_DPMPP_2M_KARRAS, /* DPMSolverMultistepScheduler, dpmsolver++, Karras sigmas, order 2 */
    IG_SAMPLER_LCM,             /* LCMScheduler */
    IG_SAMPLER_TURBO,           /* Euler a with trailing timesteps (SD-Turbo, SDXL-Turbo) */
} ig_sampler;
#define IG_SAMPLER_COUNT 5
/* "euler", "euler_a", "dpmpp_2m_karras", "lcm", "turbo"; NULL for another value. */
const char *ig_sampler_name(ig_sampler s);
/* The inverse: 0 and *out set, or -1 for another name. */
int ig_sampler_parse(const char *name, ig_sampler *out);

/* What the UNet predicts (scheduler_config.json's prediction_type). */
typedef enum ig_prediction {
    IG_PREDICTION_UNSET = 0,
    IG_PREDICTION_EPSILON,
    IG_PREDICTION_V,      /* "v_prediction" (SD 2.x at 768) */
    IG_PREDICTION_SAMPLE, /* recognised, refused */
} ig_prediction;

/* How inference timesteps are spread over the training ones (diffusers' timestep_spacing). */
typedef enum ig_spacing {
    IG_SPACING_UNSET = 0, /* the model's scheduler config, else the sampler's default */
    IG_SPACING_LINSPACE,
    IG_SPACING_LEADING,
    IG_SPACING_TRAILING,
} ig_spacing;

/* What turns the final latents into pixels. */
typedef enum ig_decoder {
    IG_DECODER_DEFAULT = 0, /* the model's default: its imagine.json "decoder", else FULL */
    IG_DECODER_FULL,        /* the model's own VAE */
    IG_DECODER_FAST,        /* TAESD (ig_open_options.fast_decoder): about a tenth of the VAE's work, softer
                               detail; IG_ERR_INVALID when the model has none */
} ig_decoder;

typedef enum ig_family {
    IG_FAMILY_UNKNOWN = 0,
    IG_FAMILY_SD1, /* Stable Diffusion 1.x: CLIP ViT-L/14 text encoder */
    IG_FAMILY_SD2, /* Stable Diffusion 2.x and SD-Turbo: OpenCLIP ViT-H/14 text encoder */
    IG_FAMILY_SDXL, /* SDXL and SDXL-Turbo: CLIP ViT-L/14 + OpenCLIP bigG, the text_time added embedding */
} ig_family;
const char *ig_family_name(ig_family f); /* "sd1", "sd2", "sdxl"; "unknown" */

/* ---- images ------------------------------------------------------------------------------- */

/* 8-bit sRGB pixels, rows top to bottom, channels interleaved (RGB, or RGBA with straight alpha). */
typedef struct ig_image {
    int width, height; /* > 0 */
    int channels;      /* 3 (RGB) or 4 (RGBA) */
    size_t stride;     /* bytes from one row to the next, >= width * channels */
    uint8_t *pixels;   /* row 0 first */
} ig_image;

/* Frees an image this library made (ig_generate, ig_progress_preview); accepts NULL. An ig_image a
 * caller fills in over its own memory is a valid argument everywhere else, but not here. */
void ig_image_free(ig_image *img);

/* ---- models ------------------------------------------------------------------------------- */

typedef struct ig_model ig_model;

typedef struct ig_open_options {
    ig_precision precision;
    int n_threads;            /* threads for this model's work; 0: OpenMP's default (every core) */
    const char *vocab_dir;    /* single files: the folder with CLIP's vocab.json and merges.txt
                                 (NULL: the one imagine ships, assets/clip) */
    ig_prediction prediction; /* single files: what the UNet predicts (UNSET: epsilon; SD 2.x-768 is V) */
    bool copy_weights;        /* read the weight files into memory instead of mapping them */
    const char *fast_decoder; /* TAESD / TAESDXL weights (a diffusers AutoencoderTiny folder, or a .safetensors
                                 converted by tools/taesd_convert.py): a fast decoder for previews and, when
                                 asked (ig_gen_params.decoder), final images. NULL: the model folder's
                                 imagine.json "fast_decoder" (relative to the folder), else none */
} ig_open_options;

#define IG_OPEN_OPTIONS_INIT {.precision = IG_PRECISION_AUTO, .n_threads = 0}

/* Opens a model: a diffusers folder (model_index.json, text_encoder/, tokenizer/, unet/, vae/,
 * scheduler/) or a single-file checkpoint (.safetensors, original LDM names); path NULL opens the
 * built-in model imagine ships (assets/imagine-emoji). opt NULL: IG_OPEN_OPTIONS_INIT. A checkpoint
 * imagine cannot run is refused naming what it found. Caller frees with ig_model_close. */
ig_status ig_model_open(ig_model **out, const char *path, const ig_open_options *opt, ig_err *err);
void ig_model_close(ig_model *m); /* accepts NULL */

typedef struct ig_model_info {
    ig_family family;
    const char *path;                     /* as opened (the built-in model's folder for NULL) */
    int native_width, native_height;      /* pixels the model was trained at */
    int size_multiple;                    /* width and height must be multiples of this */
    int latent_channels, latent_factor;   /* latents are (C, height / factor, width / factor) */
    int max_prompt_tokens;                /* the text encoder's context, BOS and EOS included */
    ig_prediction prediction;
    ig_precision precision;               /* what activations run in: F32 or BF16 */
    unsigned samplers;                    /* bit (1u << s) for every ig_sampler s the model takes */
    /* a good starting point: the model's imagine.json when it has one, else by family and name
     * (a "turbo" model: 1 step, no guidance, IG_SAMPLER_TURBO) */
    int default_steps;
    float default_guidance;
    ig_sampler default_sampler;
    bool fast_decoder;                    /* a fast decoder (TAESD) was loaded: IG_DECODER_FAST works */
    ig_decoder default_decoder;           /* imagine.json "decoder", else IG_DECODER_FULL */
} ig_model_info;

/* Fills info; the strings live as long as the model. */
void ig_model_describe(const ig_model *m, ig_model_info *info);

/* ---- generation --------------------------------------------------------------------------- */

typedef struct ig_progress {
    int step, n_steps;              /* step just done, 1..n_steps */
    int n_images;
    int latent_channels, latent_height, latent_width;
    const float *pred_x0;           /* (n_images, C, h, w) float: this step's estimate of the final latents */
    const ig_model *model;          /* for ig_progress_preview */
} ig_progress;

/* Called after every sampling step, on the thread that called ig_generate. Return non-zero to stop:
 * ig_generate then returns IG_ERR_CANCELLED, with everything freed. */
typedef int (*ig_progress_fn)(void *user, const ig_progress *p);

/* A quick picture of image `index` (0..n_images-1) at this step, from pred_x0: with a fast decoder
 * (ig_open_options.fast_decoder) TAESD's decode at full size; without one, a linear latent-to-RGB
 * map fitted to the model's own VAE (refined by every generation), RGB at the latents' resolution
 * (width / latent_factor). Only inside the callback. Free with ig_image_free. */
ig_status ig_progress_preview(const ig_progress *p, int index, ig_image **out, ig_err *err);

typedef struct ig_gen_params {
    const char *prompt;          /* NULL: "" */
    const char *negative_prompt; /* NULL: none given (diffusers' negative_prompt=None): SD 1.x/2.x encode "";
                                    SDXL models with force_zeros_for_empty_prompt (SDXL base, SDXL-Turbo) use
                                    zero negative conditioning. "" is encoded like any prompt. */
    int width, height;           /* pixels, multiples of the model's size_multiple */
    int n_images;                /* 1..16, drawn as one batch */
    int n_steps;                 /* >= 1 */
    float guidance;              /* classifier-free guidance scale; <= 1 turns it off */
    uint64_t seed;               /* torch.manual_seed(seed) */
    ig_sampler sampler;
    ig_spacing spacing;
    /* Image to image and inpainting (diffusers' StableDiffusionImg2ImgPipeline and, with a mask,
     * StableDiffusionInpaintPipeline on a regular checkpoint). The picture (any size) is cut to the
     * asked aspect and resized to width x height; the mask (the picture's size) the same way. */
    const ig_image *init_image; /* start from this picture instead of noise; NULL: text to image */
    const ig_image *mask;       /* with init_image: what to repaint where alpha is 0 (RGBA) or the pixel
                                   is black (RGB); the rest keeps the picture's pixels exactly, and the
                                   repainted region fades in from its edge over a few pixels */
    float strength;             /* 0..1: how far from the picture. n_steps * strength steps run; without
                                   a mask 1 ignores the picture (exactly text to image) and a strength
                                   that leaves no step returns decode(encode(picture)), seed aside */
    ig_progress_fn progress;    /* may be NULL */
    void *progress_user;
    ig_decoder decoder;         /* DEFAULT: the model's (ig_model_info.default_decoder) */
} ig_gen_params;

#define IG_GEN_PARAMS_INIT                                                                                      \
    {.prompt = "", .width = 512, .height = 512, .n_images = 1, .n_steps = 20, .guidance = 7.5f, .seed = 0,     \
     .sampler = IG_SAMPLER_EULER, .spacing = IG_SPACING_UNSET, .strength = 0.8f}

/* What a generation did, for logs and usage figures. */
typedef struct ig_gen_info {
    int n_prompt_tokens; /* the prompt's CLIP tokens, BOS and EOS included */
    int n_steps;         /* UNet steps run (a sampler may add one: diffusers' trailing spacing) */
    double seconds;
} ig_gen_info;

/* Draws p->n_images images into images[0..n_images) (RGB, p->width x p->height), each freed by the
 * caller with ig_image_free; on failure none is left. info may be NULL. */
ig_status ig_generate(ig_model *m, const ig_gen_params *p, ig_image **images, ig_gen_info *info, ig_err *err);

#ifdef __cplusplus
}
#endif

#endif
