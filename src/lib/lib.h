/* lib.h — inside the public API (include/imagine.h): what an ig_model holds, for the library's own
 * programs (imagine generate, serve, bench) that need more than the public header gives, e.g. the
 * bench timing each stage. They open models with ig_model_open like any other program: there is no
 * second loading path.
 *
 * Owns: the ig_model object (its engine, the loaded network and fast decoder, the card, the preview fit) and the
 * public functions (model.c). Leaves to others: the stages of a generation (pipeline/run.h), the
 * networks (models/), the presets (card.h).
 */
#ifndef IG_LIB_LIB_H
#define IG_LIB_LIB_H

#include "engine/engine.h"
#include "lib/card.h"
#include "models/sd.h"
#include "pipeline/preview.h"

struct ig_model {
    ig_engine *e;      /* this model's own engine: its caches and scratch are nobody else's */
    ig_sd_model *sd;
    ig_model_card card;
    ig_preview preview; /* the latent -> RGB map, refined by every decode */
    ig_open_options opt;
    char path[4096];
    ig_model_info info;
    struct ig_run *run; /* the generation in progress (ig_progress_preview reaches its arena), else NULL */
};

/* The model's engine and network, for the bench and tests. */
static inline ig_engine *ig__model_engine(ig_model *m) { return m->e; }
static inline ig_sd_model *ig__model_sd(ig_model *m) { return m->sd; }

/* ig_generate, and the final latents (n, C, h, w) f32 NCHW before the VAE's scaling into latents_out
 * when not NULL (imagine generate --out-latent). */
ig_status ig__generate(ig_model *m, const ig_gen_params *p, ig_image **images, ig_gen_info *info, float *latents_out,
                       ig_err *err);

/* src cut to the aspect w:h (centred, never stretched) and resized to w x h (Lanczos-3 down,
 * Catmull-Rom up), channels kept; caller frees *out with ig_image_free. */
ig_status ig__fit_image(const ig_image *src, int w, int h, ig_image **out, ig_err *err);

/* The guard against weight files truncated under a running process (io/safetensors.h): a SIGBUS
 * handler for the whole process, so only a program that owns its signals (imagine serve) installs
 * it; afterwards a read of a vanished page reads zeros and ig__weights_changed says so. */
void ig__weights_guard_install(void);
bool ig__weights_changed(void);

/* Sets this thread's OpenMP team size to the model's n_threads (when set) and returns the previous
 * one for ig__threads_restore. */
int ig__threads_enter(const ig_model *m);
void ig__threads_restore(int prev);

#endif
